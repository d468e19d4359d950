"""The weekly email digest: choose each subscriber's events, render them, send exactly once.

Per active subscriber and digest period the digest lists the events of the coming
`digest.days_ahead` days matching their regions/tags, grouped by day (calendar time
zone), plus what changed since *their* last digest: new events, rescheduled ones
(start moved), cancelled ones. "Since" is measured against the snapshot of published
events taken when that earlier period was sent (table digest_snapshots).

A period is named by the local date of its scheduled slot (digest.day at digest.time
in calendar.timezone), e.g. "2026-11-23".

Exactly once (docs/reliability.md C7). The ledger `deliveries` has one row per (subscriber,
period): `queued` -> `sending` (committed before the message is handed to SMTP) ->
`sent` (committed right after the 250), or `deferred` (4xx, disconnect, timeout: tried
again after a back-off, in this run and in later runs of the same period), `failed`
(5xx for this recipient: counted as a bounce, never retried; 3 bounces suspend the
address) or `skipped` (nothing matched and the subscriber did not ask for empty digests).

On restart a row still `sending` means the process died between marking it and
recording the server's answer. We send it again, with the same deterministic
Message-ID: the window in which the server already took the message (between its
250 and our commit, microseconds) is far smaller than the window in which it did
not (the whole DATA transfer), so resending loses nobody, and a receiver that
already has the message sees the same Message-ID (Gmail collapses such duplicates).
Only one process sends for a database at a time (the `digest` lease), so a `sending`
row found by the lease holder is always a dead process's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aggregator.report import CommandReport
from aggregator.mail import subscribers
from aggregator.mail.identity import (
    HEADER_POLICY,
    SMTP_POLICY,
    from_address,
    from_name,
    header_text,
    list_id,
    mail_host,
    unsubscribe_mailbox,
)
from aggregator.mail.subscribers import Subscriber
from aggregator.mail.tokens import CONFIRM, MANAGE, UNSUBSCRIBE, Tokens, secret_for
from aggregator.mail.transport import (
    PermanentDeliveryError,
    SmtpSetupError,
    TemporaryDeliveryError,
    Transport,
    make_transport,
)
from aggregator.model import Event, Status
from aggregator.resources import templates_dir
from aggregator.store import leases
from aggregator.store.job_problems import last_problems
from aggregator.config.settings import Config

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0)  # seconds between in-run rounds for 4xx/disconnects
MAX_ATTEMPTS = 8  # per subscriber and period, over all runs; then the row is `failed`
LEASE_NAME = "digest"
LEASE_TTL = 300.0

_env: Environment | None = None


def environment() -> Environment:
    """Jinja2 with autoescape on for HTML templates (and by default); off only for *.txt.j2."""
    global _env
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(str(templates_dir())),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                         disabled_extensions=("txt.j2", "txt"),
                                         default_for_string=True, default=True),
            undefined=StrictUndefined, trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True,
        )
    return _env


def calendar_zone(config: Config) -> ZoneInfo:
    return ZoneInfo(config.calendar.timezone)


def slot_time(config: Config) -> time:
    hour, minute = (int(x) for x in config.digest.time.split(":"))
    return time(hour, minute)


def period_slot(config: Config, now: datetime) -> datetime:
    """The latest scheduled digest moment at or before `now` (aware, calendar zone)."""
    zone = calendar_zone(config)
    local = now.astimezone(zone)
    weekday = WEEKDAYS.index(config.digest.day)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, slot_time(config), tzinfo=zone)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), slot_time(config), tzinfo=zone)
    # A wall time that does not exist (spring forward) is read with fold=0 by zoneinfo: fine.
    return slot


def period_of(config: Config, now: datetime) -> str:
    return period_slot(config, now).date().isoformat()


# -- choosing events --------------------------------------------------------------------

@dataclass
class Item:
    title: str
    time: str
    location: str | None
    url: str | None
    region: str | None
    badge: str | None = None  # new | rescheduled | updated
    was: str | None = None


@dataclass
class Changes:
    new: int = 0
    rescheduled: list[dict] = field(default_factory=list)
    cancelled: list[dict] = field(default_factory=list)
    updated: int = 0

    @property
    def any(self) -> bool:
        return bool(self.new or self.rescheduled or self.cancelled or self.updated)

    @property
    def summary(self) -> str:
        parts = []
        if self.new:
            parts.append(f"{self.new} new")
        if self.rescheduled:
            parts.append(f"{len(self.rescheduled)} rescheduled")
        if self.cancelled:
            parts.append(f"{len(self.cancelled)} cancelled")
        if self.updated:
            parts.append(f"{self.updated} updated")
        return ", ".join(parts) + "."


@dataclass
class DigestContent:
    subscriber: Subscriber
    period: str
    days: list[dict]
    changes: Changes
    count: int
    first_day: date
    last_day: date

    @property
    def empty(self) -> bool:
        return self.count == 0 and not self.changes.rescheduled and not self.changes.cancelled


def _start_utc(value: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.combine(value, time.min, tzinfo=zone).astimezone(timezone.utc)


def _end_utc(event: Event, zone: ZoneInfo) -> datetime:
    if event.end is not None:
        return _start_utc(event.end, zone)
    if event.all_day:
        return _start_utc(event.start + timedelta(days=1), zone)
    return _start_utc(event.start, zone)


def _stamp(event_start: datetime | date) -> str:
    if isinstance(event_start, datetime):
        return event_start.astimezone(timezone.utc).isoformat()
    return event_start.isoformat()


def _clock(t: datetime) -> str:
    hour = t.hour % 12 or 12
    return f"{hour}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def _day_label(d: date) -> str:
    return f"{d.strftime('%A')}, {d.strftime('%B')} {d.day}"


def when_text(event: Event | None, zone: ZoneInfo, *, start=None, all_day=None) -> str:
    """'Tue, Mar 3, 6:30 PM' in the calendar zone (with the zone named when the event's differs)."""
    start = event.start if start is None else start
    all_day = event.all_day if all_day is None else all_day
    if all_day or not isinstance(start, datetime):
        d = start if not isinstance(start, datetime) else start.date()
        return f"{d.strftime('%a')}, {d.strftime('%b')} {d.day} (all day)"
    local = start.astimezone(zone)
    return f"{local.strftime('%a')}, {local.strftime('%b')} {local.day}, {_clock(local)}"


def _event_zone(event: Event, fallback: ZoneInfo) -> ZoneInfo:
    """Times are shown in the event's own zone (named, e.g. "EST"), so a New York meeting reads as
    New York time; days are grouped in the calendar's zone."""
    try:
        return ZoneInfo(event.timezone) if event.timezone else fallback
    except (ValueError, KeyError, OSError):
        return fallback


def _time_text(event: Event, zone: ZoneInfo) -> str:
    if event.all_day or not isinstance(event.start, datetime):
        if isinstance(event.end, date) and not isinstance(event.end, datetime) \
                and (event.end - event.start).days > 1:
            last = event.end - timedelta(days=1)
            return f"All day, until {last.strftime('%a')}, {last.strftime('%b')} {last.day}"
        return "All day"
    local = event.start.astimezone(zone)
    text = _clock(local)
    if isinstance(event.end, datetime):
        end = event.end.astimezone(zone)
        text += f" – {_clock(end)}" if end.date() == local.date() else \
            f" – {end.strftime('%a')} {end.strftime('%b')} {end.day}, {_clock(end)}"
    text += f" {local.tzname()}"
    return text


def _safe_link(url: str | None) -> str | None:
    if not url:
        return None
    cleaned = re.sub(r"[\x00-\x20\x7f]+", "", url)
    parts = urlsplit(cleaned)
    return cleaned if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def select(events: Sequence[Event], sub: Subscriber, *, now: datetime, zone: ZoneInfo, days_ahead: int,
           period: str, snapshot: dict[str, tuple] | None) -> DigestContent:
    """The subscriber's digest: matching events from now to the end of the last day, and changes since
    the snapshot (uid -> (sequence, status, start, title)) of their last digest (None: first digest)."""
    first_day = now.astimezone(zone).date()
    last_day = first_day + timedelta(days=days_ahead - 1)
    window_end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone).astimezone(timezone.utc)
    now_utc = now.astimezone(timezone.utc)
    by_day: dict[date, list[tuple]] = {}
    changes = Changes()
    count = 0
    for event in events:
        if not sub.wants(event.region, event.tags):
            continue
        start = _start_utc(event.start, zone)
        ongoing = _end_utc(event, zone) > now_utc
        before = snapshot.get(event.uid) if snapshot is not None else None
        title = header_text(event.title, 300) or "(untitled event)"
        if event.status == Status.CANCELLED:
            if before is not None and before[1] != Status.CANCELLED.value and ongoing:
                changes.cancelled.append({"title": title, "when": when_text(event, zone)})
            continue
        moved = before is not None and before[2] != _stamp(event.start)
        was = None
        if moved:
            was_start = before[2]
            try:
                was_value: datetime | date = (datetime.fromisoformat(was_start) if "T" in was_start
                                              else date.fromisoformat(was_start))
                was = when_text(None, zone, start=was_value, all_day=not isinstance(was_value, datetime))
            except ValueError:
                was = was_start
        in_window = ongoing and start < window_end
        if moved and ongoing:
            changes.rescheduled.append({"title": title, "when": when_text(event, zone), "was": was})
        if not in_window:
            continue
        badge = None
        if snapshot is not None:
            if before is None:
                badge = "new"
                changes.new += 1
            elif moved:
                badge = "rescheduled"
            elif event.sequence > before[0]:
                badge = "updated"
                changes.updated += 1
        local_day = max(start.astimezone(zone).date(), first_day)
        item = Item(title=title, time=_time_text(event, _event_zone(event, zone)), location=header_text(event.location, 300) or None,
                    url=_safe_link(event.url), region=event.region, badge=badge, was=was if moved else None)
        by_day.setdefault(local_day, []).append((start, event.title.lower(), event.uid, item))
        count += 1
    days = [{"label": _day_label(d), "date": d.isoformat(),
             "events": [t[3] for t in sorted(items, key=lambda t: t[:3])]}
            for d, items in sorted(by_day.items())]
    return DigestContent(sub, period, days, changes, count, first_day, last_day)


# -- rendering --------------------------------------------------------------------------

def message_id(config: Config, secret: str, sub: Subscriber, period: str) -> str:
    """Deterministic per subscriber and period; reveals nothing about the address."""
    digest = hmac.new(secret.encode(), f"{sub.id}:{sub.email}:{period}".encode(), hashlib.sha256).hexdigest()[:24]
    domain = from_address(config).rpartition("@")[2] or mail_host(config)
    return f"<digest.{period}.{digest}@{domain}>"


def _preferences(sub: Subscriber) -> str:
    parts = []
    if sub.regions:
        parts.append("regions: " + ", ".join(sub.regions))
    if sub.tags:
        parts.append("topics: " + ", ".join(sub.tags))
    return "; ".join(parts)


def subject_for(config: Config, content: DigestContent) -> str:
    n = content.count
    head = f"{n} event{'s' if n != 1 else ''}" if n else "No new events"
    span = f"{content.first_day.strftime('%b')} {content.first_day.day}–" \
           f"{content.last_day.strftime('%b')} {content.last_day.day}"
    return header_text(f"{config.calendar.name}: {head}, {span}", 180)


def build_message(config: Config, content: DigestContent, tokens: Tokens, secret: str, now: datetime) -> EmailMessage:
    """The complete RFC 5322 message: multipart/alternative, text then HTML (CSS inlined)."""
    sub = content.subscriber
    base = config.calendar.base_url
    unsubscribe_url = f"{base}/u/{tokens.make(UNSUBSCRIBE, sub.email)}"
    subject = subject_for(config, content)
    n = content.count
    lede = (f"{n} event{'s' if n != 1 else ''} from {_day_label(content.first_day)} to "
            f"{_day_label(content.last_day)}." if n else
            f"Nothing on the calendar for you from {_day_label(content.first_day)} to {_day_label(content.last_day)}.")
    values = {
        "subject": subject, "calendar_name": header_text(config.calendar.name), "lede": lede,
        "days": content.days, "changes": content.changes, "days_ahead": config.digest.days_ahead,
        "email": sub.email, "preferences": _preferences(sub), "site_url": f"{base}/",
        "calendar_url": f"{base}/calendar.ics", "unsubscribe_url": unsubscribe_url,
        "preferences_url": f"{base}/prefs/{tokens.make(MANAGE, sub.email)}",
    }
    env = environment()
    text = env.get_template("digest.txt.j2").render(values)
    html = css_inline.inline(env.get_template("digest.html.j2").render(values))

    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["From"] = formataddr((from_name(config), from_address(config)))
    msg["To"] = sub.email
    msg["Subject"] = subject
    msg["Message-ID"] = message_id(config, secret, sub, content.period)
    msg["Reply-To"] = unsubscribe_mailbox(config)
    msg["List-Id"] = f"{header_text(config.calendar.name, 100)} <{list_id(config)}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{unsubscribe_mailbox(config)}?subject=unsubscribe>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg.policy = HEADER_POLICY
    return msg


def confirmation_message(config: Config, email: str, tokens: Tokens, now: datetime) -> EmailMessage:
    """The one email a pending subscriber gets: a link to confirm (valid 7 days)."""
    base = config.calendar.base_url
    values = {"calendar_name": header_text(config.calendar.name), "email": email, "site_url": f"{base}/",
              "confirm_url": f"{base}/confirm/{tokens.make(CONFIRM, email)}"}
    env = environment()
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["From"] = formataddr((from_name(config), from_address(config)))
    msg["To"] = email
    msg["Subject"] = header_text(f"Confirm your subscription to {config.calendar.name}")
    token_hash = hashlib.sha256(values["confirm_url"].encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<confirm.{token_hash}@{from_address(config).rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(env.get_template("confirm.txt.j2").render(values), subtype="plain", charset="utf-8",
                    cte="quoted-printable")
    msg.add_alternative(css_inline.inline(env.get_template("confirm.html.j2").render(values)),
                        subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


# -- the ledger -------------------------------------------------------------------------

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


@dataclass
class SendReport:
    period: str
    transport: str = ""
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    already: int = 0
    busy: bool = False
    stopped: bool = False
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.busy:
            return (f"digest {self.period}: another process is sending it right now; nothing sent "
                    "(run again later if it was killed: its lease expires in 5 minutes)")
        line = (f"digest {self.period}: {self.sent} sent, {self.skipped} skipped (nothing matched), "
                f"{self.failed} failed, {self.deferred} to retry, {self.already} sent earlier")
        if self.transport:
            line += f" via {self.transport}"
        if self.stopped:
            line += "; stopped early (SIGTERM): run again to send the rest"
        elif self.deferred:
            line += "; run `massage-events digest --send` again later to retry"
        return "\n".join([line] + [f"  {p}" for p in self.problems])


def send_period(config: Config, store, out_dir: Path, *, now: datetime | None = None, period: str | None = None,
                transport: Transport | None = None, stop: threading.Event | None = None,
                retry_delays: Sequence[float] = RETRY_DELAYS,
                clock: Callable[[], datetime] | None = None) -> SendReport:
    """Send the period's digest to every active subscriber who has not had it. Safe to rerun."""
    if clock is None:
        fixed = now
        clock = (lambda: fixed) if fixed is not None else (lambda: datetime.now(timezone.utc))
    now = now or clock()
    period = period or period_of(config, now)
    stop = stop or threading.Event()
    db = store.db
    report = SendReport(period)
    holder = leases.new_holder()
    if not leases.acquire(db, LEASE_NAME, holder, LEASE_TTL):
        report.busy = True
        return report
    own_transport = transport is None
    transport = transport or make_transport(config, out_dir)
    report.transport = transport.description
    try:
        events = store.published_events()
        _open_period(db, period, events, now)
        secret = secret_for(db, config.digest.secret_env)
        tokens = Tokens(secret)
        zone = calendar_zone(config)
        stamp = now.isoformat()
        for sub in subscribers.active(db):
            db.execute("INSERT OR IGNORE INTO deliveries (subscriber, period, status, updated)"
                       " VALUES (?, ?, 'queued', ?)", (sub.id, period, stamp))
        # Rows of people who left before we reached them.
        db.execute("UPDATE deliveries SET status = 'skipped', last_error = 'not active when sent', updated = ?"
                   " WHERE period = ? AND status IN ('queued', 'sending', 'deferred') AND subscriber NOT IN"
                   " (SELECT id FROM subscribers WHERE status = 'active')", (stamp, period))
        report.already = db.execute("SELECT count(*) FROM deliveries WHERE period = ? AND status = 'sent'",
                                    (period,)).fetchone()[0]
        snapshots: dict[str, dict] = {}
        delays = list(retry_delays)
        while True:
            todo = db.execute(
                "SELECT d.subscriber FROM deliveries d JOIN subscribers s ON s.id = d.subscriber"
                " WHERE d.period = ? AND d.status IN ('queued', 'sending', 'deferred') AND s.status = 'active'"
                " ORDER BY d.subscriber", (period,)).fetchall()
            if not todo:
                break
            deferred = 0
            for (sub_id,) in todo:
                if stop.is_set():
                    report.stopped = True
                    break
                leases.acquire(db, LEASE_NAME, holder, LEASE_TTL)
                sub = subscribers.get_by_id(db, sub_id)
                if sub is None or sub.status != "active":
                    continue
                deferred += _deliver(config, db, sub, period, events, zone, tokens, secret, transport,
                                     clock(), snapshots, report)
            if report.stopped or not deferred or not delays:
                break
            if stop.wait(delays.pop(0)):
                report.stopped = True
                break
        report.deferred = db.execute(
            "SELECT count(*) FROM deliveries WHERE period = ? AND status IN ('queued', 'sending', 'deferred')",
            (period,)).fetchone()[0]
        if report.deferred == 0:
            db.execute("UPDATE digest_periods SET completed = coalesce(completed, ?) WHERE period = ?",
                       (clock().isoformat(), period))
            report.complete = True
    finally:
        if own_transport:
            transport.close()
        leases.release(db, LEASE_NAME, holder)
    return report


def _deliver(config: Config, db, sub: Subscriber, period: str, events, zone, tokens: Tokens, secret: str,
             transport: Transport, now: datetime, snapshots: dict, report: SendReport) -> int:
    """Send one subscriber's digest; 1 when it must be retried later, else 0."""
    last = _last_sent_period(db, sub.id, period)
    if last is not None and last not in snapshots:
        snapshots[last] = _snapshot(db, last)
    content = select(events, sub, now=now, zone=zone, days_ahead=config.digest.days_ahead, period=period,
                     snapshot=snapshots.get(last) if last else None)
    if content.empty and not (sub.send_empty or config.digest.send_empty):
        _set(db, sub.id, period, "skipped", now)
        report.skipped += 1
        return 0
    msg = build_message(config, content, tokens, secret, now)
    _set(db, sub.id, period, "sending", now, message_id=str(msg["Message-ID"]), attempt=True)  # committed
    try:
        transport.send(msg, envelope_from=from_address(config), to=sub.email)
    except TemporaryDeliveryError as e:
        attempts = db.execute("SELECT attempts FROM deliveries WHERE subscriber = ? AND period = ?",
                              (sub.id, period)).fetchone()[0]
        if attempts >= MAX_ATTEMPTS:
            _set(db, sub.id, period, "failed", now, error=f"gave up after {attempts} tries: {e}")
            report.failed += 1
            report.problems.append(f"{sub.email}: gave up after {attempts} temporary failures ({e})")
            return 0
        _set(db, sub.id, period, "deferred", now, error=str(e))
        log.warning("digest to %s deferred: %s", sub.email, e)
        return 1
    except PermanentDeliveryError as e:
        _set(db, sub.id, period, "failed", now, error=str(e))
        suspended = subscribers.record_bounce(db, sub.id, now) is subscribers.Bounce.SUSPENDED
        report.failed += 1
        report.problems.append(f"{sub.email}: refused ({e})" + ("; suspended after 3 bounces" if suspended else ""))
        return 0
    except SmtpSetupError:
        _set(db, sub.id, period, "queued", now)
        raise
    except BaseException:
        # Anything unexpected: leave it `sending` (resent on the next run) and let the boundary report it.
        raise
    _set(db, sub.id, period, "sent", now, error=None)  # committed right after the 250
    report.sent += 1
    return 0


def send_due(config: Config, db_path: Path, out_dir: Path, *, now: datetime | None = None,
             stop: threading.Event | None = None, retry_delays: Sequence[float] = RETRY_DELAYS,
             transport: Transport | None = None) -> SendReport | None:
    """The scheduler's digest job (and its catch-up): send the latest period when it is due —
    its slot has passed by less than digest.grace_hours and `deliveries` does not show it
    complete. Returns None when nothing is due. Idempotent: call it as often as you like."""
    from aggregator.store.database import Store

    now = now or datetime.now(timezone.utc)
    slot = period_slot(config, now)
    if now - slot > timedelta(hours=config.digest.grace_hours):
        return None
    period = slot.date().isoformat()
    with Store(db_path) as store:
        if period_complete(store.db, period):
            return None
        return send_period(config, store, out_dir, now=now, period=period, stop=stop,
                           retry_delays=retry_delays, transport=transport)


# -- preview and the command ------------------------------------------------------------

SAMPLE_ADDRESS = "subscriber@example.org"


def render_preview(config: Config, store, email: str | None, now: datetime) -> tuple[EmailMessage, Subscriber]:
    """One subscriber's digest as it would be sent now (a sample subscriber when none matches)."""
    db = store.db
    sub = None
    if email:
        try:
            sub = subscribers.get(db, subscribers.normalize_address(email))
        except subscribers.InvalidAddress:
            sub = None
    if sub is None:
        address = email if email and "@" in email else SAMPLE_ADDRESS
        try:
            address = subscribers.normalize_address(address)
        except subscribers.InvalidAddress:
            address = SAMPLE_ADDRESS
        sub = Subscriber(id=0, email=address, status="active", regions=(), tags=(), send_empty=True,
                         created=now.isoformat(), confirmed=now.isoformat(), last_confirm_sent=None, bounces=0)
    period = period_of(config, now)
    secret = secret_for(db, config.digest.secret_env)
    last = _last_sent_period(db, sub.id, period) if sub.id else None
    content = select(store.published_events(), sub, now=now, zone=calendar_zone(config),
                     days_ahead=config.digest.days_ahead, period=period,
                     snapshot=_snapshot(db, last) if last else None)
    return build_message(config, content, Tokens(secret), secret, now), sub


def write_preview(config: Config, db_path: Path, out_dir: Path, email: str | None = None, to_file: Path | None = None,
                  now: datetime | None = None) -> Path:
    """Write one digest as an .eml file; returns its path. `make demo` uses this with email=None."""
    from aggregator.publish.outputs import write_atomic
    from aggregator.store.database import Store

    now = now or datetime.now(timezone.utc)
    with Store(db_path) as store:
        msg, sub = render_preview(config, store, email, now)
    if to_file is None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", sub.email)
        to_file = Path(out_dir) / "outbox" / f"preview-{period_of(config, now)}-{name}.eml"
    to_file = Path(to_file)
    to_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(to_file, msg.as_bytes())
    return to_file


def digest_report(config: Config, db_path: Path, out_dir: Path, *, preview: str | None, to_file: Path | None,
                   send: bool) -> CommandReport:
    """`massage-events digest --preview [EMAIL] [--to FILE]` or `digest --send`. Returns the exit code:
    0 done; 1 some digests still to retry, or another process is sending; 2 nothing asked."""
    report = CommandReport()
    if preview is not None:
        path = write_preview(config, db_path, out_dir, preview or None, to_file)
        report.say(f"wrote the digest{' for ' + preview if preview else ' (sample)'} to {path}")
        if not send:
            return report.done(0)
    if not send:
        report.say("say what to do: --preview [EMAIL] writes one digest to a file; --send sends this week's")
        return report.done(2)
    from aggregator.store.database import Store

    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        with Store(db_path) as store:
            sent = send_period(config, store, out_dir, stop=stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    report.say(sent.summary())
    return report.done(0 if sent.complete else 1)


def status_lines(db) -> list[str]:
    """Lines for `massage-events status`: subscribers by status, the last digest period's deliveries,
    and recent scheduler misses/failures."""
    lines = []
    counts = dict(db.execute("SELECT status, count(*) FROM subscribers GROUP BY status").fetchall())
    if counts:
        lines.append("subscribers: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    else:
        lines.append("subscribers: none yet (massage-events subscribers add EMAIL, or the form at /subscribe)")
    row = db.execute("SELECT period, completed FROM digest_periods ORDER BY period DESC LIMIT 1").fetchone()
    if row is None:
        lines.append("digest: never sent")
    else:
        by_status = dict(db.execute("SELECT status, count(*) FROM deliveries WHERE period = ? GROUP BY status",
                                    (row[0],)).fetchall())
        state = "complete" if row[1] else "NOT complete (will be retried within digest.grace_hours)"
        detail = ", ".join(f"{n} {k}" for k, n in sorted(by_status.items())) or "no deliveries"
        lines.append(f"digest {row[0]}: {state}; {detail}")
        for failed in db.execute("SELECT s.email, d.last_error FROM deliveries d JOIN subscribers s ON s.id ="
                                 " d.subscriber WHERE d.period = ? AND d.status IN ('failed', 'deferred')"
                                 " ORDER BY s.email LIMIT 10", (row[0],)):
            lines.append(f"  {failed[0]}: {failed[1]}")
    for p in last_problems(db, 5):
        lines.append(f"scheduler: job {p['job']} {p['kind']} at {p['at']}: {p['message']}")
    return lines
