"""The HTTP cache: per URL, what revalidation and the "unchanged?" decision need, in SQLite.

For each URL last downloaded in full (HTTP 200) it keeps the validators (ETag, Last-Modified),
the body's fingerprint (decode.body_fingerprint), the body itself (a 304 hands it to the adapter
when the reading changed, e.g. on a new day) and two clocks: when the body was last downloaded
(a fetch is unconditional at least every 12 h) and when the URL was last checked (robots.txt is
trusted for 24 h). A row is written once per change: a 304 writes nothing, a 200 with the same
fingerprint only restarts the clocks.

The cache is disposable: a file SQLite cannot read is moved aside (with a warning naming it)
and a new one started, so a damaged cache costs one run of full downloads; a write that fails
(disk full, a locked file) costs only that entry.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """CREATE TABLE IF NOT EXISTS documents (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    content_type TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body BLOB NOT NULL,
    downloaded REAL NOT NULL,  -- unix time of the last full download (200)
    checked REAL NOT NULL      -- unix time of the last answer (200 or 304)
)"""
# What requests-cache kept in this file before (serialised responses): dropped on first open.
_OLD_TABLES = ("responses", "redirects")


@dataclass(frozen=True, slots=True)
class Stored:
    """One URL's last full download."""

    etag: str | None
    last_modified: str | None
    content_type: str
    fingerprint: str
    content: bytes
    downloaded: float
    checked: float

    def age(self, now: float | None = None) -> float:
        """Seconds since the body was last downloaded in full."""
        return (time.time() if now is None else now) - self.downloaded


class HttpCache:
    """The SQLite file at `path` (shared by a run's worker processes), one connection per
    instance, used by one thread at a time: a read beside a write on one connection fails."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        problem = _unreadable(self.path)
        if problem is not None:
            _move_aside(self.path, problem)
        try:
            self._db = _open(self.path)
        except sqlite3.DatabaseError as error:  # damaged in a way the first look did not catch
            _move_aside(self.path, str(error))
            self._db = _open(self.path)
        self._lock = threading.Lock()

    def get(self, url: str) -> Stored | None:
        """The stored download of url, or None (an unreadable entry is a miss)."""
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT etag, last_modified, content_type, fingerprint, body, downloaded, checked "
                    "FROM documents WHERE url = ?", (url,)).fetchone()
        except sqlite3.Error:
            log.debug("unreadable cache entry %s", url, exc_info=True)
            return None
        return None if row is None else Stored(*row[:4], bytes(row[4]), *row[5:])

    def __contains__(self, url: str) -> bool:
        return self.get(url) is not None

    def urls(self) -> list[str]:
        with self._lock:
            return [url for (url,) in self._db.execute("SELECT url FROM documents")]

    def put(self, url: str, *, etag: str | None, last_modified: str | None, content_type: str,
            fingerprint: str, content: bytes) -> None:
        """Keep a full download (its body changed, or it is new)."""
        now = time.time()
        self._write(url, "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (url, etag, last_modified, content_type, fingerprint, content, now, now))

    def downloaded_again(self, url: str, *, etag: str | None, last_modified: str | None) -> None:
        """A full download whose body is the one stored: new validators, both clocks restart."""
        now = time.time()
        self._write(url, "UPDATE documents SET etag = ?, last_modified = ?, downloaded = ?, checked = ? "
                         "WHERE url = ?", (etag, last_modified, now, now, url))

    def checked_again(self, url: str) -> None:
        """A 304 for an entry whose freshness counts (robots.txt): its check clock restarts."""
        self._write(url, "UPDATE documents SET checked = ? WHERE url = ?", (time.time(), url))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, url: str, sql: str, args: tuple) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
        except sqlite3.Error as error:
            log.warning("the HTTP cache could not keep %s (%s: %s); it is fetched in full next time",
                        url, type(error).__name__, error)


def _open(path: Path) -> sqlite3.Connection:
    # Autocommit: each write is its own short transaction, so the other worker processes
    # writing the same file wait for milliseconds, not for a whole run. synchronous=NORMAL in
    # WAL mode syncs only at checkpoints: a crash may lose the last entries, which costs
    # nothing but their full download next run.
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "documents" not in tables:
        db.execute(_SCHEMA)
    for old in _OLD_TABLES:
        if old in tables:
            db.execute(f"DROP TABLE IF EXISTS {old}")
    return db


def _unreadable(path: Path) -> str | None:
    """Why SQLite cannot read the cache file at `path` ("file is not a database"), or None."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as error:
        return str(error)
    try:
        db.execute("SELECT name FROM sqlite_master").fetchall()
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            db.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # walks every page of the table
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            return None  # another run is writing it: readable, just busy
        return str(error)
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        db.close()
    return None


def _move_aside(path: Path, problem: str) -> None:
    """Rename the cache (and its -wal/-shm files) to `<name>.broken-<time>`; keep it for a look."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = path.with_name(path.name + suffix)
        try:
            part.replace(aside.with_name(aside.name + suffix))
        except FileNotFoundError:
            pass
        except OSError:
            part.unlink(missing_ok=True)  # cannot rename it: the cache is disposable anyway
    log.warning("the HTTP cache %s cannot be read (%s); it was moved to %s and a new one is started "
                "(every source is downloaded in full this run)", path, problem, aside.name)
