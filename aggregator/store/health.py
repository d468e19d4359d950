"""Source health: what happened to each source, when to try it next, and `status`.

One row per source in `source_health` (migrations m_core_source_health + m_health_backoff).
The pipeline asks `should_fetch()` before reading a source and calls `record_outcome()`
after, inside or outside its own transaction (it opens one of its own if none is open).

Rules (what Miniflux, tt-rss and FreshRSS do, docs/reliability.md A5, A6, A12):
- a source failing repeatedly is backed off geometrically: next attempt = now + interval x
  consecutive failures, capped at 7 days; a 429 (or any Retry-After) waits at least what the
  server asked, and at least 1 h after a 429;
- a 410 marks the source `gone`: its events are kept, it is re-checked weekly;
- a source failing for 30 days is shown `disabled` and re-checked weekly only;
- a 301/308 to the same place on two successive runs is reported as a move (sources.yaml is
  the curator's: we never rewrite it);
- a source that used to yield events and now yields none gets a warning (a page layout changed,
  a feed now serves an error page with 200) until it yields again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.report import CommandReport
from aggregator.errors import SourceError

if TYPE_CHECKING:
    from aggregator.config.settings import Config
    from aggregator.store.database import Store

DEFAULT_INTERVAL = timedelta(hours=6)
MAX_BACKOFF = timedelta(days=7)
MIN_WAIT_AFTER_429 = timedelta(hours=1)
DISABLE_AFTER = timedelta(days=30)
MOVE_CONFIRMATIONS = 2  # runs that must see the same permanent redirect


def should_fetch(store: "Store", source_id: str, now: datetime) -> bool:
    """False while the source is backing off (its next attempt is still in the future)."""
    row = _row(store.db, source_id)
    if row is None or not row["next_attempt"]:
        return True
    return _aware(now) >= _parse(row["next_attempt"])


def next_attempt(store: "Store", source_id: str) -> datetime | None:
    row = _row(store.db, source_id)
    return _parse(row["next_attempt"]) if row is not None and row["next_attempt"] else None


def stored_fingerprint(store: "Store", source_id: str) -> str | None:
    """The body fingerprint of the document the source's stored records were parsed from.

    The pipeline skips parsing a source only when fetch.body_fingerprint(fetched.content) of its
    own URL equals this: a 304 alone is not enough, because a run killed after the fetch (the
    HTTP cache already holds the new body) but before the records were stored would otherwise
    keep the old records until the source changed again."""
    row = _row(store.db, source_id)
    return row["body_fingerprint"] if row is not None else None


def is_sudden_zero(store: "Store", source_id: str, records: int) -> bool:
    """True when a source that yielded events before now yields none: the pipeline should keep
    its stored records this run (an error page served with 200, a changed page layout) and call
    record_outcome(ok=True, records=0, ...) so the warning is shown."""
    if records:
        return False
    row = _row(store.db, source_id)
    return bool(row is not None and (row["last_yield"] or row["records_found"]))


def record_outcome(store: "Store", source_id: str, *, ok: bool, records: int, error: SourceError | None,
                   http_status: int | None, now: datetime, interval: timedelta | None = None,
                   moved_to: str | None = None, fingerprint: str | None = None) -> list[str]:
    """Store how reading the source went; return the warnings to show in the run summary.

    ok/records: the source was read (or found unchanged) and now holds `records` records.
    error: the SourceError when it failed. http_status: the last status seen.
    interval: how often the source is refreshed (its refresh_minutes, else the run's cadence).
    moved_to: SourceFetcher.moved_to, the target of a 301/308 from the source's URL.
    fingerprint: fetch.body_fingerprint() of the source document whose records are now stored
    (pass it only after those records are committed); None forgets it, so the next run parses.
    """
    now = _aware(now)
    interval = interval or DEFAULT_INTERVAL
    stamp = now.isoformat()
    warnings: list[str] = []
    db = store.db
    own_transaction = not db.in_transaction
    if own_transaction:
        db.execute("BEGIN IMMEDIATE")
    try:
        row = _row(db, source_id)
        previous = dict(row) if row is not None else {}
        db.execute("INSERT OR IGNORE INTO source_health (source, consecutive_failures) VALUES (?, 0)",
                   (source_id,))

        moved_runs = 0
        if moved_to:
            moved_runs = previous.get("moved_runs", 0) + 1 if previous.get("moved_to") == moved_to else 1
            if moved_runs >= MOVE_CONFIRMATIONS:
                warnings.append(f"moved permanently to {moved_to} (seen on {moved_runs} runs); "
                                "update its url in sources.yaml")

        if ok:
            last_yield = previous.get("last_yield")
            warning = None
            if records == 0 and (last_yield or previous.get("records_found")):
                before = last_yield or previous.get("records_found")
                warning = (f"yielded no events, after {before} before; has the page or feed changed? "
                           "Its earlier events are kept until they end")
                warnings.append(warning)
            db.execute(
                """UPDATE source_health SET last_attempt = ?, last_success = ?, http_status = ?,
                       error_class = NULL, error_reason = NULL, error_message = NULL, records_found = ?,
                       consecutive_failures = 0, state = 'ok', next_attempt = NULL, first_failure = NULL,
                       warning = ?, moved_to = ?, moved_runs = ?, last_yield = ?, retry_after = NULL,
                       body_fingerprint = ?
                   WHERE source = ?""",
                (stamp, stamp, http_status, records, warning, moved_to, moved_runs,
                 records if records else last_yield, fingerprint, source_id))
        else:
            failures = (previous.get("consecutive_failures") or 0) + 1
            first_failure = previous.get("first_failure") or stamp
            reason = getattr(error, "reason", None) or "error"
            status = http_status if http_status is not None else getattr(error, "http_status", None)
            retry_after = getattr(error, "retry_after", None)
            delay = min(interval * failures, MAX_BACKOFF)
            if status == 429 or reason == "http_429":
                delay = max(delay, MIN_WAIT_AFTER_429)
            if retry_after:
                delay = max(delay, min(timedelta(seconds=retry_after), MAX_BACKOFF))
            state = "failing"
            if status == 410 or reason == "gone":
                state, delay = "gone", MAX_BACKOFF
                warnings.append("answers 410 Gone; its events are kept until they end. Remove it from "
                                "sources.yaml or give it a new url")
            elif now - _parse(first_failure) >= DISABLE_AFTER:
                state, delay = "disabled", MAX_BACKOFF
                warnings.append(f"has failed for {(now - _parse(first_failure)).days} days; it is now "
                                "tried once a week. Fix or remove it in sources.yaml")
            db.execute(
                """UPDATE source_health SET last_attempt = ?, http_status = ?, error_class = ?,
                       error_reason = ?, error_message = ?, consecutive_failures = ?, state = ?,
                       next_attempt = ?, first_failure = ?, moved_to = ?, moved_runs = ?, retry_after = ?
                   WHERE source = ?""",
                (stamp, status, type(error).__name__ if error else "SourceError", reason,
                 getattr(error, "message", None) or (str(error) if error else None), failures, state,
                 (now + delay).isoformat(), first_failure, moved_to or previous.get("moved_to"),
                 moved_runs or previous.get("moved_runs", 0), retry_after, source_id))
        if own_transaction:
            db.execute("COMMIT")
    except BaseException:
        if own_transaction:
            db.execute("ROLLBACK")
        raise
    return warnings


def health_rows(store: "Store") -> dict[str, sqlite3.Row]:
    return {row["source"]: row for row in store.db.execute("SELECT * FROM source_health")}


# --------------------------------------------------------------------------- status

COLUMNS = ("source", "state", "last success", "failures", "next attempt", "reason / message", "warning")


def status_rows(config: "Config", store: "Store", now: datetime | None = None) -> list[dict[str, str]]:
    """One dict per source (config order, then sources only the database knows)."""
    now = _aware(now or datetime.now(timezone.utc))
    rows = health_rows(store)
    out = []
    ids = [s.id for s in config.sources] + sorted(set(rows) - {s.id for s in config.sources})
    enabled = {s.id: s.enabled for s in config.sources}
    for sid in ids:
        row = rows.get(sid)
        if not enabled.get(sid, True):
            state = "off"
        elif row is None or not row["last_attempt"]:
            state = "new"
        elif sid not in enabled:
            state = "removed"
        else:
            state = row["state"] or ("ok" if not row["consecutive_failures"] else "failing")
            if state == "failing" and row["next_attempt"] and _parse(row["next_attempt"]) > now:
                state = "backing off"
        reason = ""
        if row is not None and row["error_reason"]:
            status = f" {row['http_status']}" if row["http_status"] and row["error_reason"] != \
                f"http_{row['http_status']}" else ""
            message = re.sub(r"^[a-z]+://\S+?:?\s", "", row["error_message"] or "")  # the URL is known
            reason = f"{row['error_reason']}{status}: {message}".strip()
        warning = ""
        if row is not None:
            notes = [row["warning"]] if row["warning"] else []
            if row["moved_to"] and row["moved_runs"] >= MOVE_CONFIRMATIONS:
                notes.append(f"moved to {row['moved_to']}")
            warning = "; ".join(notes)
        out.append({
            "source": sid,
            "state": state,
            "last success": _show(row["last_success"]) if row is not None else "",
            "failures": str(row["consecutive_failures"]) if row is not None and row["consecutive_failures"] else "0",
            "next attempt": _show(row["next_attempt"]) if row is not None and row["next_attempt"]
            and _parse(row["next_attempt"]) > now else ("now" if state not in ("off", "removed") else ""),
            "reason / message": reason,
            "warning": warning,
            "records": str(row["records_found"]) if row is not None and row["records_found"] is not None else "",
        })
    return out


def render_table(rows: list[dict[str, str]], columns: Iterable[str] = COLUMNS, width: int = 80) -> str:
    columns = list(columns)
    cells = [[_clip(r.get(c, ""), width) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def status_report(config: "Config", db_path: Path) -> CommandReport:
    """`massage-events status`: a table of every source's health. Exit 0 when every enabled
    source is fine, 1 when any is failing, backing off, gone or warned about."""
    from aggregator.store.database import Store, classify_sqlite_error, recovery_hint
    from aggregator.store.locator import as_database

    report = CommandReport()
    db_path = as_database(db_path)
    if not db_path.exists():
        report.say(f"No database at {db_path} yet; run `massage-events run` first.")
        return report.done(0)
    with Store(db_path) as store:
        # The integrity check first: a damaged file must not read as "every source ok".
        damage = store.integrity_problems()
        if damage:
            report.say(f"The database {db_path} is damaged (quick_check: {'; '.join(damage[:3])}).\n"
                       f"To recover: {recovery_hint(store.path)}.")
            return report.done(2)
        try:
            rows = status_rows(config, store)
        except sqlite3.DatabaseError as e:
            raise classify_sqlite_error(store.path, e) from None
    if not rows:
        report.say("No sources in the configuration.")
        return report.done(0)
    report.say(render_table(rows))
    troubled = [r for r in rows if r["state"] in ("failing", "backing off", "gone", "disabled") or r["warning"]]
    report.say(f"\n{len(rows)} sources, {len(troubled)} needing attention.")
    return report.done(1 if troubled else 0)


# --------------------------------------------------------------------------- helpers

def _row(db: sqlite3.Connection, source_id: str) -> sqlite3.Row | None:
    db_row = db.execute("SELECT * FROM source_health WHERE source = ?", (source_id,)).fetchone()
    if db_row is None or hasattr(db_row, "keys"):
        return db_row
    cols = [d[0] for d in db.execute("SELECT * FROM source_health LIMIT 0").description]
    return dict(zip(cols, db_row))  # type: ignore[return-value]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parse(text: str) -> datetime:
    return _aware(datetime.fromisoformat(text))


def _show(text: str | None) -> str:
    if not text:
        return ""
    return _parse(text).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"
