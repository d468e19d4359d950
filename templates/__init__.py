"""The jinja2 templates of the page and the digest, and the page's static files.

Installed as the package aggregator.templates (see pyproject.toml); read through
aggregator.resources, never by a path of its own."""
