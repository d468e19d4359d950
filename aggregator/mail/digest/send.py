"""The send loop: every active subscriber's digest for a period, exactly once (see the package
docstring), under the `digest` lease so one process sends per database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator.config.settings import Config
from aggregator.mail import subscribers
from aggregator.mail.digest.compose import build_message, select
from aggregator.mail.digest.ledger import _last_sent_period, _open_period, _set, _snapshot, period_complete
from aggregator.mail.digest.period import calendar_zone, period_of, period_slot
from aggregator.mail.identity import from_address
from aggregator.mail.subscribers import Subscriber
from aggregator.mail.tokens import Tokens, secret_for
from aggregator.mail.transport import (
    PermanentDeliveryError,
    SmtpSetupError,
    TemporaryDeliveryError,
    Transport,
    make_transport,
)
from aggregator.store import leases

log = logging.getLogger("aggregator.mail.digest")

RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0)  # seconds between in-run rounds for 4xx/disconnects
MAX_ATTEMPTS = 8  # per subscriber and period, over all runs; then the row is `failed`
LEASE_NAME = "digest"
LEASE_TTL = 300.0


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
