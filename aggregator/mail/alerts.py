"""Tell the curator when a source breaks, once, and once more when it recovers.

The pipeline calls `notify_curator(config, store, report, now)` after each run. `report`
is anything with `.sources`, an iterable of per-source results having

    .source_id: str, .ok: bool, .error_reason: str | None, .error_message: str | None,
    .records: int (events the source yielded this run), and optionally .deferred: bool
    (not fetched this run because it is backing off: it tells us nothing).

aggregator.report.RunReport / SourceResult have exactly these.

A source is *broken* when it failed `alerts.after_failures` runs in a row (default 3), or
when it succeeds but suddenly yields no events after having had some (`alerts.on_empty`).
The curator (calendar.curator_email) then gets ONE email naming the source, since when
and why; no more while it stays broken; and one more when it yields events again. State
lives in the table alert_state, so restarts neither repeat nor lose an alert. When an
alert cannot be delivered it is tried again after the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.errors import DeliveryError
from aggregator.config.settings import Config

log = logging.getLogger(__name__)


@dataclass
class _State:
    source: str
    failures: int = 0
    failing_since: str | None = None
    reason: str | None = None
    message: str | None = None
    last_records: int | None = None
    alerted: str | None = None
    alert_kind: str | None = None


def _load(db, source: str) -> _State:
    row = db.execute("SELECT * FROM alert_state WHERE source = ?", (source,)).fetchone()
    if row is None:
        return _State(source)
    return _State(source, row["failures"], row["failing_since"], row["reason"], row["message"],
                  row["last_records"], row["alerted"], row["alert_kind"])


def _save(db, s: _State) -> None:
    db.execute(
        "INSERT INTO alert_state (source, failures, failing_since, reason, message, last_records, alerted, alert_kind)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET failures = excluded.failures,"
        " failing_since = excluded.failing_since, reason = excluded.reason, message = excluded.message,"
        " last_records = excluded.last_records, alerted = excluded.alerted, alert_kind = excluded.alert_kind",
        (s.source, s.failures, s.failing_since, s.reason, s.message, s.last_records, s.alerted, s.alert_kind))


def _local(config: Config, stamp: str | None) -> str:
    if not stamp:
        return "unknown"
    t = datetime.fromisoformat(stamp).astimezone(ZoneInfo(config.calendar.timezone))
    return t.strftime("%a %b %d %Y, %H:%M %Z").replace(" 0", " ")


def _last_success(db, source: str) -> str | None:
    try:
        row = db.execute("SELECT last_success FROM source_health WHERE source = ?", (source,)).fetchone()
    except Exception:  # noqa: BLE001 - the health table is optional here
        return None
    return row[0] if row else None


def _message(config: Config, source_name: str, source_id: str, subject: str, body: str, kind: str, stamp: str,
             now: datetime, to: str | None = None) -> EmailMessage:
    from aggregator.mail.identity import (
        SMTP_POLICY,
        from_address,
        from_name,
        header_text,
    )

    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["From"] = formataddr((from_name(config), from_address(config)))
    msg["To"] = to or from_address(config)
    msg["Subject"] = header_text(subject, 180)
    key = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{source_id}.{kind}.{stamp}")
    msg["Message-ID"] = f"<alert.{key}@{from_address(config).rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return msg


def _broken_text(config: Config, name: str, sid: str, s: _State, kind: str, last_success: str | None) -> tuple[str, str]:
    if kind == "empty":
        subject = f"{name}: the source suddenly has no events"
        why = (f"It answered, but yielded no events this time (it had {s.last_records} before). "
               "The page or feed may have moved, changed its layout, or now shows an error page.")
    else:
        subject = f"{name}: the source is failing"
        why = f"It failed {s.failures} runs in a row. Last error [{s.reason or 'unknown'}]: {s.message or 'no message'}"
    lines = [
        f"The source \"{name}\" (id {sid}) in sources.yaml is not working.",
        "",
        f"Since: {_local(config, s.failing_since)}",
        f"Last worked: {_local(config, last_success)}" if last_success else None,
        f"Why: {why}",
        "",
        "Its earlier events stay published meanwhile.",
        f"To see what it returns now, run:  massage-events sources check {sid}",
        "Fix its url in sources.yaml, or set  enabled: false  to stop fetching it.",
        "",
        "You will get one more email when it works again; none in between.",
    ]
    return subject, "\n".join(x for x in lines if x is not None) + "\n"


def _recovered_text(config: Config, name: str, sid: str, s: _State, now: datetime, records: int) -> tuple[str, str]:
    subject = f"{name}: the source works again"
    body = (f"The source \"{name}\" (id {sid}) works again: {records} events this run "
            f"({_local(config, now.isoformat())}).\n"
            f"It was broken since {_local(config, s.failing_since)}.\n")
    return subject, body


def notify_curator(config: Config, store, report, now: datetime | None = None, *, out_dir: Path | None = None,
                   transport=None) -> int:
    """Update the alert state from one run's report and email the curator; returns messages sent.

    `out_dir` is where the outbox is when no SMTP is configured (default: the database's folder)."""
    now = now or datetime.now(timezone.utc)
    db = store.db
    settings = config.alerts
    names = {s.id: (s.name or s.id) for s in config.sources}
    curator = config.calendar.curator_email
    if curator:
        from aggregator.mail.subscribers import InvalidAddress, normalize_address

        try:
            curator = normalize_address(curator)
        except InvalidAddress as e:
            log.warning("calendar.curator_email: %s", e)
            curator = None
    pending: list[tuple[_State, EmailMessage, _State]] = []
    stamp = now.isoformat()
    for result in getattr(report, "sources", ()):
        if getattr(result, "deferred", False):
            continue
        sid = result.source_id
        name = names.get(sid, sid)
        s = _load(db, sid)
        after = _State(**vars(s))
        records = int(getattr(result, "records", 0) or 0)
        if not result.ok:
            after.failures += 1
            after.failing_since = after.failing_since or stamp
            after.reason, after.message = result.error_reason, result.error_message
            if after.alerted is None and after.failures >= settings.after_failures:
                kind = "failing"
                subject, body = _broken_text(config, name, sid, after, kind, _last_success(db, sid))
                after.alerted, after.alert_kind = stamp, kind
                pending.append((s, _message(config, name, sid, subject, body, kind, after.failing_since, now, curator), after))
        elif settings.on_empty and records == 0 and (s.last_records or 0) > 0:
            after.failing_since = after.failing_since or stamp
            after.reason, after.message = "empty", "the source yielded no events"
            if after.alerted is None:
                kind = "empty"
                subject, body = _broken_text(config, name, sid, after, kind, _last_success(db, sid))
                after.alerted, after.alert_kind = stamp, kind
                pending.append((s, _message(config, name, sid, subject, body, kind, after.failing_since, now, curator), after))
        else:
            if s.alerted is not None:
                subject, body = _recovered_text(config, name, sid, s, now, records)
                fresh = _State(sid, last_records=records)
                pending.append((s, _message(config, name, sid, subject, body, "recovered", s.failing_since or stamp,
                                            now, curator), fresh))
                continue
            after = _State(sid, last_records=records)
        _save(db, after)

    if not pending:
        return 0
    if not curator:
        log.warning("%d source alert(s) not sent: set calendar.curator_email in sources.yaml", len(pending))
        for _, _, after in pending:
            if after.alert_kind:
                after.alerted = after.alert_kind = None
            _save(db, after)
        return 0
    # Here, not at the top: most runs have nothing to tell and never load the mail transport.
    from aggregator.mail.identity import from_address
    from aggregator.mail.transport import make_transport

    own = transport is None
    transport = transport or make_transport(config, Path(out_dir) if out_dir else Path(store.path).parent)
    sent = 0
    try:
        for before, msg, after in pending:
            try:
                transport.send(msg, envelope_from=from_address(config), to=curator)
            except DeliveryError as e:
                log.warning("alert to the curator about %s not sent (%s); will retry after the next run",
                            before.source, e)
                # Keep the counts, but not the "alerted" mark: the next run tries again.
                retry = _State(**vars(after)) if after.alert_kind else _State(**vars(before))
                if after.alert_kind:
                    retry.alerted, retry.alert_kind = None, None
                _save(db, retry)
                continue
            _save(db, after)
            sent += 1
    finally:
        if own:
            transport.close()
    return sent


def send_curator_note(config: Config, key: str, subject: str, body: str, now: datetime | None = None, *,
                      out_dir: Path | None = None, transport=None) -> bool:
    """One email to calendar.curator_email about something other than a source (e.g. the daily cap
    of confirmation emails reached). `key` names the matter; the Message-ID is the same for one
    key on one day, so a repeat that day is recognisably the same note. True when handed over."""
    from aggregator.mail.identity import from_address
    from aggregator.mail.subscribers import InvalidAddress, normalize_address
    from aggregator.mail.transport import make_transport

    now = now or datetime.now(timezone.utc)
    try:
        curator = normalize_address(config.calendar.curator_email)
    except InvalidAddress as e:
        log.warning("not telling the curator (%s): calendar.curator_email: %s", subject, e)
        return False
    msg = _message(config, key, key, subject, body, "note", now.date().isoformat(), now, curator)
    own = transport is None
    transport = transport or make_transport(config, Path(out_dir) if out_dir else Path("."))
    try:
        transport.send(msg, envelope_from=from_address(config), to=curator)
        return True
    except DeliveryError as e:
        log.warning("note to the curator (%s) not sent: %s", subject, e)
        return False
    finally:
        if own:
            transport.close()
