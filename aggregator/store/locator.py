"""Where the database is: a SQLite file path, or a PostgreSQL URL.

`--db` takes either. Anything that looks like a URL (a scheme of two letters or more before
a colon) is read as one: `postgresql://` and `postgres://` are PostgreSQL, `sqlite:///path`
is a file, and every other scheme is refused with the reason. It is never taken for a folder
named `mysql:`. (A one-letter "scheme" is a Windows drive, `C:\\data\\db.sqlite`: a path.)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aggregator.errors import LocationError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
POSTGRES_SCHEMES = ("postgresql", "postgres")


def url_scheme(text: str) -> str | None:
    """The URL scheme of `text` in lower case, or None for a plain path (a drive letter is a path)."""
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


@dataclass(frozen=True)
class Database:
    """A database location: exactly one of `path` (SQLite) and `url` (PostgreSQL)."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def exists(self) -> bool:
        """For SQLite, whether the file is there; a server database always "exists" (it is
        created by the first migration, and unreachability is reported when it is opened)."""
        return True if self.url is not None else self.path.exists()

    @property
    def local_dir(self) -> Path:
        """A folder for this database's local companions (the HTTP cache, a fallback outbox):
        beside the SQLite file, or a per-database folder under the user's cache for PostgreSQL."""
        if self.path is not None:
            return self.path.parent
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "massage-events"
        return base / ("pg-" + hashlib.sha256(redact(self.url).encode()).hexdigest()[:12])

    @property
    def cache_anchor(self) -> Path:
        """The path the HTTP cache file is named after (`<anchor>.http-cache.sqlite`)."""
        return self.path if self.path is not None else self.local_dir / "postgresql"

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else redact(self.url)


def as_database(value: "Database | str | os.PathLike[str]") -> Database:
    """Read a --db value. Raises LocationError for a URL of an unsupported scheme."""
    if isinstance(value, Database):
        return value
    if isinstance(value, os.PathLike):
        return Database(path=Path(value))
    text = str(value).strip()
    if not text:
        raise LocationError("--db is empty; give a SQLite file path or a postgresql://user:pass@host:port/dbname URL")
    scheme = url_scheme(text)
    if scheme is None:
        return Database(path=Path(text))
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(text)
        if not parts.netloc and "host=" not in parts.query:
            raise LocationError(f'--db {redact(text)}: a PostgreSQL URL needs a server, as in '
                                'postgresql://user:pass@host:5432/dbname (or ?host=/path/to/socket)')
        return Database(url=text)
    if scheme == "sqlite":
        path = urlsplit(text).path
        if not path:
            raise LocationError(f"--db {text}: a sqlite: URL needs a file, as in sqlite:///var/lib/massage-events.sqlite")
        return Database(path=Path(path))
    raise LocationError(f'--db {redact(text)}: "{scheme}:" is not a database massage-events can use; '
                        "give a SQLite file path or a postgresql://user:pass@host:port/dbname URL")
