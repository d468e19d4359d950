"""The delivery ledger in SQL: one row per (subscriber, period) in `deliveries`, the period's
start and completion in `digest_periods`, and the snapshot of what was published when a period
was sent (`digest_snapshots`), against which the next digest says what changed. Plain SQL that
runs on SQLite and PostgreSQL alike (aggregator/store/pg.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator.mail.digest.compose import _stamp
from aggregator.model import Event

def _snapshot(db, period: str) -> dict[str, tuple]:
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in db.execute(
        "SELECT uid, sequence, status, start, title FROM digest_snapshots WHERE period = ?", (period,))}


def _last_sent_period(db, subscriber_id: int, period: str) -> str | None:
    row = db.execute("SELECT period FROM deliveries WHERE subscriber = ? AND status = 'sent' AND period < ?"
                     " ORDER BY period DESC LIMIT 1", (subscriber_id, period)).fetchone()
    return row[0] if row else None


def _open_period(db, period: str, events: Sequence[Event], now: datetime) -> None:
    """Record the period as started and snapshot what is published (once per period)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        cur = db.execute("INSERT OR IGNORE INTO digest_periods (period, started) VALUES (?, ?)",
                         (period, now.isoformat()))
        if cur.rowcount == 1:
            db.executemany(
                "INSERT OR IGNORE INTO digest_snapshots (period, uid, sequence, status, start, title)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(period, e.uid, e.sequence, str(e.status), _stamp(e.start), e.title) for e in events])
            # Keep the snapshots of the last 12 periods only.
            db.execute("DELETE FROM digest_snapshots WHERE period NOT IN "
                       "(SELECT period FROM digest_periods ORDER BY period DESC LIMIT 12)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def period_complete(db, period: str) -> bool:
    row = db.execute("SELECT completed FROM digest_periods WHERE period = ?", (period,)).fetchone()
    return bool(row and row[0])


def _set(db, sub_id: int, period: str, status: str, now: datetime, *, error: str | None = None,
         message_id: str | None = None, attempt: bool = False) -> None:
    db.execute(
        "UPDATE deliveries SET status = ?, updated = ?, last_error = coalesce(?, last_error),"
        " message_id = coalesce(?, message_id), attempts = attempts + ? WHERE subscriber = ? AND period = ?",
        (status, now.isoformat(), error, message_id, 1 if attempt else 0, sub_id, period))
