"""The embedded SQLite database: source records, published events, identities, health.

One file, WAL journal, synchronous=FULL (the delivery ledger needs durability;
a run relaxes it to NORMAL while it stores what it fetched, see `relaxed_sync`),
busy_timeout 5 s. The schema is the named migrations in aggregator/store/migrations.py.
A run writes in transactions so a kill -9 at any moment leaves it consistent.
Feature modules (health, subscribers, digest...) own their tables and use
`store.db` directly.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, time, timezone
from pathlib import Path

from aggregator.codec import event_from_dict, event_to_dict
from aggregator.errors import StoreError
from aggregator.merge.normalize import record_uid
from aggregator.model import Event
from aggregator.store.migrations import MIGRATIONS
from aggregator.timezones import resolve_zone


def content_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the database {self.path} ({e}); check the --db path") from None
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a massage-events database ({e}); "
                             "pass another --db path or move the file away") from None

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
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def migrate(self) -> list[str]:
        self.db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        done = {row["name"] for row in self.db.execute("SELECT name FROM _migrations")}
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as db:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", (name,))
            applied.append(name)
        return applied

    # -- source records ---------------------------------------------------------------

    def replace_records(self, source_id: str, records: Iterable[Event], now: datetime) -> bool:
        """Make `records` the source's current records (its last good read); True if anything changed."""
        stamp = now.isoformat()
        with self.transaction() as db:
            before = {r["external_id"]: r["content_hash"] for r in db.execute(
                "SELECT external_id, content_hash FROM records WHERE source = ?", (source_id,))}
            after = {}
            for event in records:
                ref = event.sources[0]
                data = event_to_dict(event, revision=False)
                digest = content_hash(data)
                after[ref.external_id] = digest
                if before.get(ref.external_id) == digest:
                    continue
                db.execute(
                    """INSERT INTO records (source, external_id, record_uid, data, content_hash, first_seen, last_seen)
                       VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (source, external_id) DO UPDATE SET
                         data = excluded.data, content_hash = excluded.content_hash,
                         record_uid = excluded.record_uid, last_seen = excluded.last_seen""",
                    (source_id, ref.external_id, record_uid(source_id, ref.external_id),
                     json.dumps(data, ensure_ascii=False), digest, stamp, stamp),
                )
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

    def save_events(self, events: Iterable[Event], links: Mapping[str, str], now: datetime) -> None:
        """Make `events` what is published, and remember which records each one holds."""
        stamp = now.isoformat()
        with self.transaction() as db:
            firsts = {r["uid"]: r["first_published"] for r in db.execute("SELECT uid, first_published FROM events")}
            db.execute("DELETE FROM events")
            for event in events:
                data = event_to_dict(event)
                db.execute(
                    "INSERT INTO events (uid, data, sequence, last_modified, content_hash, first_published, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (event.uid, json.dumps(data, ensure_ascii=False), event.sequence,
                     (event.last_modified or now).isoformat(), content_hash(data),
                     firsts.get(event.uid, stamp), str(event.status)),
                )
            # Links are memory: a record keeps pointing at its uid even after it leaves,
            # so an event that comes back gets its old identity.
            db.executemany(
                "INSERT INTO links (record_uid, uid) VALUES (?, ?)"
                " ON CONFLICT (record_uid) DO UPDATE SET uid = excluded.uid",
                list(links.items()),
            )

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
            return db.execute("INSERT INTO runs (started) VALUES (?)", (now.isoformat(),)).lastrowid

    def finish_run(self, run_id: int, now: datetime, summary: dict) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                       (now.isoformat(), json.dumps(summary), run_id))

    def last_run(self) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM runs WHERE finished IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()


def sort_key(event: Event):
    """Chronological, then by title and uid: a stable order for every publisher."""
    start = event.start
    if not isinstance(start, datetime):
        start = datetime.combine(start, time.min, tzinfo=resolve_zone(event.timezone) or timezone.utc)
    return (start.astimezone(timezone.utc), event.title.lower(), event.uid)
