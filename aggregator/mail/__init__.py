"""Delivery by mail: subscribers, tokens, the weekly digest, the SMTP transport, alerts, bounces."""
