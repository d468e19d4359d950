"""massage-events: networking events for massage therapists, gathered from many sources."""

__version__ = "0.1.0"
