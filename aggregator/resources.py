"""Where the packaged data lives: the jinja templates and the page's static files, in one place.

templates/ sits at the top of the repository and installs as the package aggregator.templates
(pyproject.toml maps it), so importlib.resources finds it in a clone, an editable install and a
wheel alike. jinja2's PackageLoader is not used: it cannot follow a package that an editable
install maps to another folder.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path


@lru_cache(maxsize=1)
def templates_dir() -> Path:
    return Path(str(files("aggregator.templates")))


def static_dir() -> Path:
    return templates_dir() / "static"
