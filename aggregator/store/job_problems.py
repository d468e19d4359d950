"""Missed and failed scheduled jobs, kept in the database so `status` can show them later."""

from __future__ import annotations

import json
from datetime import datetime, timezone

KEPT = 50  # the newest problems kept; older ones are dropped


def last_problems(db, limit: int = 10) -> list[dict]:
    """Recent missed or failed jobs, newest first: [{"job", "kind", "at", "message"}]."""
    row = db.execute("SELECT value FROM app_settings WHERE name = 'scheduler.problems'").fetchone()
    return json.loads(row[0])[:limit] if row else []


def record_problem(db, job: str, kind: str, message: str) -> None:
    problems = last_problems(db, KEPT)
    problems.insert(0, {"job": job, "kind": kind, "message": message, "at": datetime.now(timezone.utc).isoformat()})
    db.execute("INSERT INTO app_settings (name, value) VALUES ('scheduler.problems', ?)"
               " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (json.dumps(problems[:KEPT]),))
