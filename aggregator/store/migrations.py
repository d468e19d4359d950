"""The database schema, as a list of named migrations (the llm habit).

Each migration runs once, in file order, and is recorded by name in
`_migrations`, so features can add tables without renumbering anyone else's.
Append new migrations at the END; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(fn: Callable[[sqlite3.Connection], None]):
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m_core_records(db: sqlite3.Connection) -> None:
    # One row per source record as last read successfully: a failing source keeps its rows.
    db.execute("""
        CREATE TABLE records (
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            record_uid TEXT NOT NULL,
            data TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            PRIMARY KEY (source, external_id)
        )""")
    db.execute("CREATE INDEX records_uid ON records (record_uid)")


@migration
def m_core_events(db: sqlite3.Connection) -> None:
    # What is published: the merged events, with their revision bookkeeping.
    db.execute("""
        CREATE TABLE events (
            uid TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            sequence INTEGER NOT NULL DEFAULT 0,
            last_modified TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            first_published TEXT NOT NULL,
            status TEXT NOT NULL
        )""")
    # Which published event each record belongs to: the identity memory across runs.
    db.execute("""
        CREATE TABLE links (
            record_uid TEXT PRIMARY KEY,
            uid TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX links_uid ON links (uid)")


@migration
def m_core_source_health(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE source_health (
            source TEXT PRIMARY KEY,
            last_attempt TEXT,
            last_success TEXT,
            http_status INTEGER,
            error_class TEXT,
            error_reason TEXT,
            error_message TEXT,
            records_found INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0
        )""")


@migration
def m_core_runs(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started TEXT NOT NULL,
            finished TEXT,
            summary TEXT
        )""")


# -- digest, subscribers, alerts, scheduler (aggregator/mail/subscribers.py, digest.py, alerts.py, scheduler.py) --

@migration
def m_digest_subscribers(db: sqlite3.Connection) -> None:
    # People who asked for the weekly digest. status: pending | active | unsubscribed | suspended.
    db.execute("""
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,  -- one row per mailbox, however it is typed
            status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'suspended')),
            regions TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            send_empty INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'web',
            created TEXT NOT NULL,
            confirmed TEXT,
            unsubscribed TEXT,
            last_confirm_sent TEXT,
            bounces INTEGER NOT NULL DEFAULT 0,
            last_bounce TEXT
        )""")


@migration
def m_digest_deliveries(db: sqlite3.Connection) -> None:
    # The exactly-once ledger: one row per subscriber and digest period.
    # status: sending | sent | deferred (4xx, retried) | failed (5xx) | skipped (nothing to send)
    db.execute("""
        CREATE TABLE deliveries (
            subscriber INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
            period TEXT NOT NULL,
            status TEXT NOT NULL,
            message_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated TEXT NOT NULL,
            UNIQUE (subscriber, period)
        )""")
    db.execute("""
        CREATE TABLE digest_periods (
            period TEXT PRIMARY KEY,
            started TEXT NOT NULL,
            completed TEXT
        )""")
    # What was published when a period was sent: the next digest says what changed since.
    db.execute("""
        CREATE TABLE digest_snapshots (
            period TEXT NOT NULL,
            uid TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            status TEXT NOT NULL,
            start TEXT NOT NULL,
            title TEXT NOT NULL,
            PRIMARY KEY (period, uid)
        )""")


@migration
def m_digest_settings(db: sqlite3.Connection) -> None:
    # Small named values: the generated link-signing secret when no env var holds one.
    db.execute("CREATE TABLE app_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    # Subscribe/confirm attempts per IP and per address, for rate limiting that survives restarts.
    db.execute("CREATE TABLE rate_hits (key TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX rate_hits_key ON rate_hits (key, at)")
    # One scheduler (and one digest sender) per database.
    db.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL)")


@migration
def m_alerts_state(db: sqlite3.Connection) -> None:
    # Per source: is the curator currently told it is broken, since when, and why.
    db.execute("""
        CREATE TABLE alert_state (
            source TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            failing_since TEXT,
            reason TEXT,
            message TEXT,
            last_records INTEGER,
            alerted TEXT,
            alert_kind TEXT
        )""")


# -- source health: backoff, moves, gone (aggregator/store/health.py) --

@migration
def m_health_backoff(db: sqlite3.Connection) -> None:
    # state: ok | failing | gone | disabled. next_attempt: not fetched before then (backoff).
    # moved_to / moved_runs: a 301/308 target and on how many successive runs it was seen.
    # last_yield: records found the last time the source yielded any (the "suddenly zero" check).
    for column in ("state TEXT", "next_attempt TEXT", "first_failure TEXT", "warning TEXT",
                   "moved_to TEXT", "moved_runs INTEGER NOT NULL DEFAULT 0", "last_yield INTEGER",
                   "retry_after REAL"):
        db.execute(f"ALTER TABLE source_health ADD COLUMN {column}")


@migration
def m_health_fingerprint(db: sqlite3.Connection) -> None:
    # The body hash (aggregator.collect.fetch.body_fingerprint) of the source document whose records are
    # stored: a run may skip parsing only when the fetched body still has this hash. Written after
    # the records are committed, so a run killed between fetch and store re-parses next time.
    db.execute("ALTER TABLE source_health ADD COLUMN body_fingerprint TEXT")


@migration
def m_core_meta(db: sqlite3.Connection) -> None:
    # Small facts about the published state, e.g. what the last publish was made from.
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration
def m_publish_fragments(db: sqlite3.Connection) -> None:
    # Rendered pieces of single events (a VEVENT, an events.json entry, a page card), keyed by a
    # digest of what they were rendered from (aggregator/publish/fragments.py): a publish renders
    # only the events that changed. Pure cache: emptying the table costs one full render.
    db.execute("CREATE TABLE publish_fragments (key TEXT PRIMARY KEY, body TEXT NOT NULL)")


# -- returned mail: bounces read from a mailbox (aggregator/mail/bounces.py) --

@migration
def m_bounces_ledger(db: sqlite3.Connection) -> None:
    # One row per returned message read by `massage-events bounces`, keyed by its Message-ID (or
    # "sha256:" + a hash of the message when it has none), so reading a mailbox again counts nothing
    # twice. kind: hard | soft | none. recipients: JSON list of the addresses it named.
    db.execute("""
        CREATE TABLE bounce_messages (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'none')),
            recipients TEXT NOT NULL DEFAULT '[]',
            reason TEXT,
            processed TEXT NOT NULL
        )""")
