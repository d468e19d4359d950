"""Stage 2: reading the sources: the one HTTP fetcher and the worker processes."""
