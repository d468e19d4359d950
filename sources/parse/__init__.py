"""Parsing helpers the adapters share: human dates, list-post prose, mail messages, pages."""
