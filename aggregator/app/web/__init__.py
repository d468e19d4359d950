"""The web server: the published files, filtered feeds and the subscription endpoints."""
