"""A lease row in SQLite: at most one holder of a named duty per database at a time.

Used so that two `serve` processes (or `serve` plus a cron `digest --send`) never both
run the scheduler's jobs or both send the digest. A lease expires unless renewed, so a
killed holder frees it after `ttl` seconds (at once when it was a process on this host that
no longer exists).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: sqlite3.Connection, name: str, holder: str, ttl: float, now: float | None = None) -> bool:
    """Take or renew the lease; False when another holder's lease has not expired."""
    t = time.time() if now is None else now
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT holder, expires FROM leases WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] != holder and row[1] > t and _alive(row[0]):
            db.execute("COMMIT")
            return False
        db.execute("INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)"
                   " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires",
                   (name, holder, t + ttl))
        db.execute("COMMIT")
        return True
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _alive(holder: str) -> bool:
    """False only when the holder is a process on this host that no longer exists (killed)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def release(db: sqlite3.Connection, name: str, holder: str) -> None:
    db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def holder_of(db: sqlite3.Connection, name: str, now: float | None = None) -> str | None:
    t = time.time() if now is None else now
    row = db.execute("SELECT holder, expires FROM leases WHERE name = ?", (name,)).fetchone()
    return row[0] if row is not None and row[1] > t else None
