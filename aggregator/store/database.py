"""The database: source records, published events, identities, health.

Two backends behind one `Store`: an embedded SQLite file (the default, for a chapter and
`make demo`) or a PostgreSQL server (`--db postgresql://...`, for several replicas). The
schema is the same named migrations on both (aggregator/store/migrations.py); the feature
modules (health, subscribers, digest...) own their tables and talk to `store.db`, a
connection with sqlite3's surface on either backend (aggregator/store/pg.py).

SQLite: WAL journal, synchronous=FULL (the delivery ledger needs durability; a run relaxes it
to NORMAL while it stores what it fetched, see `relaxed_sync`), busy_timeout 5 s.
A run writes in transactions so a kill -9 at any moment leaves it consistent.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sqlite3
import time as _time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, time, timezone
from pathlib import Path

from aggregator.codec import event_from_dict, event_to_dict, record_text
from aggregator.errors import (DatabaseDamaged, DatabaseFull, DatabaseNotWritable, DatabaseUnreachable,
                               RunInProgress, StoreError)
from aggregator.store.locator import Database, as_database
from aggregator.merge.normalize import record_uid
from aggregator.model import Event
from aggregator.store.migrations import MIGRATIONS
from aggregator.timezones import resolve_zone


def recovery_hint(path: Path) -> str:
    return (f"restore it from a backup, or rescue what is readable with "
            f"`sqlite3 {path} .recover | sqlite3 {path.with_name(path.stem + '-recovered.sqlite')}` "
            f"and run with --db {path.with_name(path.stem + '-recovered.sqlite')}")


def classify_sqlite_error(path: Path, error: BaseException) -> StoreError:
    """Tell a full disk and a permission problem apart from a damaged file, by SQLite's
    (or the OS's) error code rather than the message text."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    os_errno = getattr(error, "errno", None)
    text = str(error)
    # SQLite reports some writes that hit a full disk as a plain I/O error (the -shm file, a WAL
    # append): the free space on the file's filesystem tells those apart from a failing disk.
    full = primary == sqlite3.SQLITE_FULL or os_errno in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text
    if not full and primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN):
        full = _nearly_full(path)
    if full:
        return DatabaseFull(f"the disk holding {path} is full ({text}); free some space and run again "
                            "(the database itself is not damaged)")
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH) \
            or os_errno in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in text:
        return DatabaseNotWritable(f"cannot write {path} or its folder {path.parent} ({text}); "
                                   "check the owner and permissions (the database itself is not damaged), "
                                   "or pass another --db path")
    if primary == sqlite3.SQLITE_CANTOPEN:
        folder = path.parent
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            return DatabaseNotWritable(f"cannot create files in {folder} ({text}); check its owner and permissions "
                                       "(the database itself is not damaged), or pass another --db path")
        return StoreError(f"cannot open the database {path} ({text}); check the --db path")
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        if path.exists() and path.stat().st_size > 0 and primary == sqlite3.SQLITE_NOTADB:
            return DatabaseDamaged(f"{path} is not a massage-events database, or its header is damaged ({text}); "
                                   "if it is yours, " + recovery_hint(path) + "; otherwise pass another --db path "
                                   "or move the file away")
        return DatabaseDamaged(f"{path} is damaged ({text}); " + recovery_hint(path))
    if primary == sqlite3.SQLITE_IOERR:
        return StoreError(f"the disk failed while reading or writing {path} ({text}); check the disk, then "
                          + recovery_hint(path) + " if `massage-events status` reports damage")
    return StoreError(f"cannot use the database {path} ({text})")


def _nearly_full(path: Path) -> bool:
    """Less than 1 MiB free (for unprivileged users) on the filesystem holding `path`."""
    folder = path if path.is_dir() else path.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024


# PostgreSQL databases this process has already brought up to date.
_MIGRATED: set[str] = set()


def _text_hash(text: str) -> str:
    """The content_hash column of a row stored as `text` (JSON in event_to_dict's fixed key order)."""
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    def __init__(self, location: "Database | Path | str") -> None:
        self.location = as_database(location)
        # A local path for the database's companions (the HTTP cache is named after it).
        self.path = self.location.cache_anchor
        if self.location.is_postgres:
            self._open_postgres()
        else:
            self._open_sqlite()

    @property
    def backend(self) -> str:
        return "postgresql" if self.location.is_postgres else "sqlite"

    def _open_sqlite(self) -> None:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as e:
            raise classify_sqlite_error(path, e) from None
        self.db.row_factory = sqlite3.Row
        self.Error, self.IntegrityError = sqlite3.Error, sqlite3.IntegrityError
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise classify_sqlite_error(path, e) from None

    def _open_postgres(self) -> None:
        try:
            from aggregator.store import pg
        except ImportError as e:  # pragma: no cover - psycopg is a dependency
            raise StoreError(f"--db {self.location}: PostgreSQL needs psycopg ({e}); pip install 'psycopg[binary]'") from None
        try:
            self.db = pg.PgConnection(self.location.url)
        except pg.Error as e:
            reason = " ".join(str(e).split()) or type(e).__name__
            raise DatabaseUnreachable(
                f"cannot reach the PostgreSQL database {self.location} ({reason}); check the URL, that the server "
                "is running and accepts this user (pg_hba.conf), and that the database exists (createdb)") from None
        self.Error, self.IntegrityError = pg.Error, pg.IntegrityError
        if self.location.url in _MIGRATED:  # serve opens a store per request: check the schema once
            return
        try:
            self.db.raw.execute("SELECT pg_advisory_lock(%s)", (pg.MIGRATE_LOCK,))
            try:
                self.db.execute("CREATE EXTENSION IF NOT EXISTS citext")
                self.migrate()
            finally:
                self.db.raw.execute("SELECT pg_advisory_unlock(%s)", (pg.MIGRATE_LOCK,))
        except pg.Error as e:
            self.db.close()
            raise StoreError(f"cannot prepare the PostgreSQL database {self.location} ({' '.join(str(e).split())}); "
                             "the user needs the right to create tables (and the citext extension) in it") from None
        _MIGRATED.add(self.location.url)

    # -- integrity ------------------------------------------------------------------------

    def integrity_problems(self, limit: int = 5) -> list[str]:
        """SQLite's quick_check (a few seconds even for a large file): [] when the file is whole.
        A PostgreSQL server checks its own pages; there the answer is always []."""
        if self.location.is_postgres:
            return []
        try:
            rows = [r[0] for r in self.db.execute(f"PRAGMA quick_check({int(limit)})")]
        except sqlite3.DatabaseError as e:
            return [str(e)]
        return [] if rows == ["ok"] else rows

    def check_integrity(self) -> None:
        """Raise DatabaseDamaged, naming the file and the recovery, when quick_check finds damage."""
        problems = self.integrity_problems()
        if problems:
            raise DatabaseDamaged(f"{self.path} is damaged (quick_check: {'; '.join(problems[:3])}); "
                                  + recovery_hint(self.path))

    # -- one run at a time ----------------------------------------------------------------

    @contextmanager
    def run_lock(self, wait: float = 0.0, poll: float = 0.5) -> Iterator[None]:
        """Hold this database's run lock for the duration; wait up to `wait` seconds for another
        holder, then raise RunInProgress naming it. The lock dies with its process (a kill -9 frees
        it): an flock on `<db>.run.lock` for SQLite, a session advisory lock on PostgreSQL."""
        deadline = _time.monotonic() + max(wait, 0.0)
        release = self._try_run_lock()
        while release is None:
            if _time.monotonic() >= deadline:
                holder = self.get_meta("run.holder") or "another process"
                raise RunInProgress(
                    f"another run is using {self.location} ({holder}); this one "
                    + (f"waited {wait:.0f} s and gives up" if wait > 0 else "stops")
                    + ": try again when it has finished (or pass --wait SECONDS to wait for it)")
            _time.sleep(poll)
            release = self._try_run_lock()
        try:
            self.set_meta("run.holder", f"pid {os.getpid()} on {socket.gethostname()}, "
                                        f"since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
            yield
        finally:
            release()

    def _try_run_lock(self):
        if self.location.is_postgres:
            from aggregator.store import pg

            with self.db._lock:
                got = self.db.raw.execute("SELECT pg_try_advisory_lock(%s)", (pg.RUN_LOCK,)).fetchone()[0]
            if not got:
                return None
            return lambda: self.db.raw.execute("SELECT pg_advisory_unlock(%s)", (pg.RUN_LOCK,))
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".run.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise classify_sqlite_error(lock_path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None

        def release() -> None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

        return release

    @contextmanager
    def relaxed_sync(self) -> Iterator[None]:
        """synchronous=NORMAL for the duration (a run's source records): in WAL mode the database
        stays consistent through any crash, and a power cut can only lose the last commits,
        which the next run fetches again. The delivery ledger keeps FULL: it is outside this."""
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error). A SQLite failure that is not the
        caller's (a full disk, a read-only file, damage) comes out as the StoreError naming it.
        Inside a transaction already open, the block is part of it: the outer one commits it, or
        rolls it back with everything else (a run stores a source's records and health as one)."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:  # SQLite already rolled back (e.g. after SQLITE_FULL)
                    pass
                raise
            else:
                self.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorcode", None) is None or (e.sqlite_errorcode & 0xFF) in (
                    sqlite3.SQLITE_ERROR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CONSTRAINT):
                raise  # a bug in a statement, or contention: not a fact about the file
            raise classify_sqlite_error(self.path, e) from None

    def migrate(self) -> list[str]:
        self.db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        done = {row["name"] for row in self.db.execute("SELECT name FROM _migrations")}
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as db:
                # Another process may have applied it since we looked (two replicas starting).
                if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                    continue
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)",
                           (name, datetime.now(timezone.utc).isoformat(timespec="seconds")))
            applied.append(name)
        return applied

    # -- source records ---------------------------------------------------------------

    def replace_records(self, source_id: str, records: Iterable[Event], now: datetime) -> bool:
        """Make `records` the source's current records (its last good read); True if anything changed."""
        return self.replace_record_texts(source_id, ((e.sources[0].external_id, record_text(e)) for e in records),
                                         now)

    def replace_record_texts(self, source_id: str, records: Iterable[tuple[str, str]], now: datetime) -> bool:
        """replace_records with each record given as (external id, codec.record_text of it): a
        worker process encodes its records itself, and hands the run these texts to store."""
        stamp = now.isoformat()
        with self.transaction() as db:
            # A record is unchanged when its JSON text is: event_to_dict writes keys in a fixed order,
            # so the text is as good as a digest, and costs one json.dumps rather than two.
            before = {r["external_id"]: r["data"] for r in db.execute(
                "SELECT external_id, data FROM records WHERE source = ?", (source_id,))}
            after: dict[str, str] = {}
            rows = {}  # one statement for all of them: a run stores thousands of records
            for external_id, text in records:
                after[external_id] = text
                if before.get(external_id) == text:
                    rows.pop(external_id, None)  # listed twice: the last one stands
                    continue
                rows[external_id] = (source_id, external_id, record_uid(source_id, external_id),
                                     text, _text_hash(text), stamp, stamp)
            db.executemany(
                """INSERT INTO records (source, external_id, record_uid, data, content_hash, first_seen, last_seen)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (source, external_id) DO UPDATE SET
                     data = excluded.data, content_hash = excluded.content_hash,
                     record_uid = excluded.record_uid, last_seen = excluded.last_seen""",
                list(rows.values()))
            gone = [(source_id, x) for x in before if x not in after]
            db.executemany("DELETE FROM records WHERE source = ? AND external_id = ?", gone)
        return before != after

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def drop_sources_except(self, source_ids: Iterable[str]) -> dict[str, int]:
        """Forget the records of sources no longer in sources.yaml (or disabled): source -> records."""
        ids = list(source_ids)
        marks = ",".join("?" * len(ids)) or "''"
        with self.transaction() as db:
            gone = {r["source"]: r["n"] for r in db.execute(
                f"SELECT source, count(*) AS n FROM records WHERE source NOT IN ({marks}) GROUP BY source", ids)}  # noqa: S608
            db.execute(f"DELETE FROM records WHERE source NOT IN ({marks})", ids)  # noqa: S608
            return gone

    def records(self, source_id: str | None = None) -> list[Event]:
        if source_id is None:
            rows = self.db.execute("SELECT data FROM records ORDER BY source, external_id")
        else:
            rows = self.db.execute("SELECT data FROM records WHERE source = ? ORDER BY external_id", (source_id,))
        return [event_from_dict(json.loads(r["data"])) for r in rows]

    def record_count(self, source_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM records WHERE source = ?", (source_id,)).fetchone()[0]

    # -- identities and published events ----------------------------------------------

    def known_links(self) -> dict[str, str]:
        """record_uid -> the published uid it belonged to last run."""
        return {r["record_uid"]: r["uid"] for r in self.db.execute("SELECT record_uid, uid FROM links")}

    def first_published(self) -> dict[str, str]:
        return {r["uid"]: r["first_published"] for r in self.db.execute("SELECT uid, first_published FROM events")}

    def previous_events(self) -> dict[str, Event]:
        return {r["uid"]: event_from_dict(json.loads(r["data"]))
                for r in self.db.execute("SELECT uid, data FROM events")}

    def save_events(self, events: Iterable[Event], links: Mapping[str, str], now: datetime) -> list[Event]:
        """Make `events` what is published, and remember which records each one holds. Returns what
        published_events() now returns, decoded from what was written rather than read back."""
        stamp = now.isoformat()
        with self.transaction() as db:
            firsts = {r["uid"]: r["first_published"] for r in db.execute("SELECT uid, first_published FROM events")}
            db.execute("DELETE FROM events")
            rows, stored = [], []
            for event in events:
                data = event_to_dict(event)
                text = json.dumps(data, ensure_ascii=False)
                rows.append((event.uid, text, event.sequence, (event.last_modified or now).isoformat(),
                             _text_hash(text), firsts.get(event.uid, stamp), str(event.status)))
                stored.append(event_from_dict(data))  # json.loads(text) is `data` again: JSON types only
            db.executemany(
                "INSERT INTO events (uid, data, sequence, last_modified, content_hash, first_published, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            # Links are memory: a record keeps pointing at its uid even after it leaves,
            # so an event that comes back gets its old identity.
            db.executemany(
                "INSERT INTO links (record_uid, uid) VALUES (?, ?)"
                " ON CONFLICT (record_uid) DO UPDATE SET uid = excluded.uid",
                list(links.items()),
            )
        return sorted(stored, key=sort_key)

    def published_count(self) -> int:
        """How many events are published (what published_events() would return), without decoding them."""
        return self.db.execute("SELECT count(*) FROM events").fetchone()[0]

    def publish_fragments(self) -> dict[str, str]:
        """Pieces of events rendered by the last publish (aggregator/publish/fragments.py)."""
        return {r["key"]: r["body"] for r in self.db.execute("SELECT key, body FROM publish_fragments")}

    def save_publish_fragments(self, pieces: Mapping[str, str]) -> None:
        """Keep exactly `pieces` for the next publish (what this one used)."""
        with self.transaction() as db:
            have = {r["key"] for r in db.execute("SELECT key FROM publish_fragments")}
            db.executemany("DELETE FROM publish_fragments WHERE key = ?", [(k,) for k in have - pieces.keys()])
            db.executemany("INSERT INTO publish_fragments (key, body) VALUES (?, ?)",
                           [(k, v) for k, v in pieces.items() if k not in have])

    def published_events(self) -> list[Event]:
        events = [event_from_dict(json.loads(r["data"])) for r in self.db.execute("SELECT data FROM events")]
        return sorted(events, key=sort_key)

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, now: datetime) -> int:
        with self.transaction() as db:
            return db.execute("INSERT INTO runs (started) VALUES (?) RETURNING id", (now.isoformat(),)).fetchall()[0][0]

    def finish_run(self, run_id: int, now: datetime, summary: dict) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                       (now.isoformat(), json.dumps(summary), run_id))

    def last_run(self):
        return self.db.execute("SELECT * FROM runs WHERE finished IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()


def sort_key(event: Event):
    """Chronological, then by title and uid: a stable order for every publisher."""
    start = event.start
    if not isinstance(start, datetime):
        start = datetime.combine(start, time.min, tzinfo=resolve_zone(event.timezone) or timezone.utc)
    return (start.astimezone(timezone.utc), event.title.lower(), event.uid)
