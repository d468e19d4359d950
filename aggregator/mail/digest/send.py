"""The send loop: every active subscriber's digest for a period, exactly once (see the package
docstring), under the `digest` lease so one process sends per database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator.config.settings import Config
from aggregator.mail import subscribers
from aggregator.mail.digest.compose import GroupRender, select
from aggregator.mail.digest.ledger import _open_period, _set, _snapshot, period_complete
from aggregator.mail.digest.period import calendar_zone, period_of, period_slot
from aggregator.mail.identity import from_address
from aggregator.mail.subscribers import Subscriber
from aggregator.mail.tokens import Tokens, secret_for
from aggregator.mail.transport import (
    NotStarted,
    PermanentDeliveryError,
    RateLimit,
    SmtpSetupError,
    TemporaryDeliveryError,
    Transport,
    TransportPool,
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


CHUNK = 50  # messages marked `sending` in one commit, and their outcomes recorded in one commit
LEASE_RENEW_SECONDS = 30.0


def send_period(config: Config, store, out_dir: Path, *, now: datetime | None = None, period: str | None = None,
                transport: Transport | None = None, stop: threading.Event | None = None,
                retry_delays: Sequence[float] = RETRY_DELAYS,
                clock: Callable[[], datetime] | None = None, connections: int | None = None,
                max_per_second: float | None = None) -> SendReport:
    """Send the period's digest to every active subscriber who has not had it. Safe to rerun.

    Each distinct preference set (regions, tags, and the period of the last digest received)
    is rendered once; subscribers who share it get that render with their own address and
    links. Messages go out over `smtp.connections` connections (one with a given `transport`)
    at most `smtp.max_per_second` a second. The ledger is written a chunk at a time: `sending`
    committed for a chunk before any of it is handed over, then each outcome."""
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
    if own_transport:
        count = (connections or config.smtp.connections) if config.smtp.host else 1
        first = make_transport(config, out_dir)
    else:
        count, first = 1, transport
    rate = RateLimit(config.smtp.max_per_second if max_per_second is None else max_per_second, stop)
    senders = TransportPool(lambda: make_transport(config, out_dir), count, rate, first)
    report.transport = first.description + (f", {count} connections" if count > 1 else "")
    relaxed = None
    try:
        events = store.published_events()
        _open_period(db, period, events, now)
        secret = secret_for(db, config.digest.secret_env)
        tokens = Tokens(secret)
        zone = calendar_zone(config)
        stamp = now.isoformat()
        with store.transaction():
            db.executemany("INSERT OR IGNORE INTO deliveries (subscriber, period, status, updated)"
                           " VALUES (?, ?, 'queued', ?)", [(sub.id, period, stamp) for sub in subscribers.active(db)])
        # Rows of people who left before we reached them.
        db.execute("UPDATE deliveries SET status = 'skipped', last_error = 'not active when sent', updated = ?"
                   " WHERE period = ? AND status IN ('queued', 'sending', 'deferred') AND subscriber NOT IN"
                   " (SELECT id FROM subscribers WHERE status = 'active')", (stamp, period))
        report.already = db.execute("SELECT count(*) FROM deliveries WHERE period = ? AND status = 'sent'",
                                    (period,)).fetchone()[0]
        state = _SendState(config, store, period, events, zone, tokens, secret, senders, report)
        delays = list(retry_delays)
        renewed = time.monotonic()
        # The ledger's commits during the send (two per message) skip SQLite's fsync: in WAL mode a
        # commit still survives any kill of this process; a power cut can lose the last ones, and
        # then those messages go once more with the same Message-ID, never not at all.
        relaxed = store.relaxed_sync()
        relaxed.__enter__()
        while True:
            todo = [r[0] for r in db.execute(
                "SELECT d.subscriber FROM deliveries d JOIN subscribers s ON s.id = d.subscriber"
                " WHERE d.period = ? AND d.status IN ('queued', 'sending', 'deferred') AND s.status = 'active'"
                " ORDER BY d.subscriber", (period,)).fetchall()]
            if not todo:
                break
            people = {sub.id: sub for sub in subscribers.active(db)}
            state.last_sent = _last_sent_periods(db, period)
            deferred = 0
            for start in range(0, len(todo), CHUNK):
                if stop.is_set():
                    report.stopped = True
                    break
                if time.monotonic() - renewed > LEASE_RENEW_SECONDS:
                    leases.acquire(db, LEASE_NAME, holder, LEASE_TTL)
                    renewed = time.monotonic()
                chunk = [people[i] for i in todo[start:start + CHUNK] if i in people]
                deferred += state.send_chunk(chunk, clock())
                if report.stopped:
                    break
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
        senders.close(transports=own_transport)
        if relaxed is not None:
            relaxed.__exit__(None, None, None)
        leases.release(db, LEASE_NAME, holder)
    return report


def _last_sent_periods(db, period: str) -> dict[int, str]:
    """subscriber -> the latest earlier period they were sent (one query for everyone)."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT subscriber, max(period) FROM deliveries WHERE status = 'sent' AND period < ? GROUP BY subscriber",
        (period,))}


@dataclass
class _SendState:
    config: Config
    store: object
    period: str
    events: list
    zone: object
    tokens: Tokens
    secret: str
    senders: TransportPool
    report: SendReport
    last_sent: dict[int, str] = field(default_factory=dict)
    snapshots: dict[str, dict] = field(default_factory=dict)
    groups: dict[tuple, tuple] = field(default_factory=dict)

    def _group(self, sub: Subscriber, now: datetime):
        """(content, render) for the subscriber's preference set: computed once per set and day."""
        last = self.last_sent.get(sub.id)
        key = (sub.regions, sub.tags, last, now.astimezone(self.zone).date())
        found = self.groups.get(key)
        if found is None:
            if last is not None and last not in self.snapshots:
                self.snapshots[last] = _snapshot(self.store.db, last)
            content = select(self.events, sub, now=now, zone=self.zone, days_ahead=self.config.digest.days_ahead,
                             period=self.period, snapshot=self.snapshots.get(last) if last else None)
            found = self.groups[key] = [content, None]
        return found

    def send_chunk(self, chunk: list[Subscriber], now: datetime) -> int:
        """Send one chunk; the number of messages to retry later."""
        config, db, period, report = self.config, self.store.db, self.period, self.report
        stamp = now.isoformat()
        skipped, jobs, people = [], [], []
        for sub in chunk:
            group = self._group(sub, now)
            content = group[0]
            if content.empty and not (sub.send_empty or config.digest.send_empty):
                skipped.append((stamp, sub.id, period))
                continue
            if group[1] is None:
                group[1] = GroupRender.of(config, content)
            msg = group[1].message(config, sub, self.tokens, self.secret, period, now)
            jobs.append((msg, from_address(config), sub.email))
            people.append(sub)
        with self.store.transaction():
            db.executemany("UPDATE deliveries SET status = 'skipped', updated = ? WHERE subscriber = ? AND period = ?",
                           skipped)
            db.executemany("UPDATE deliveries SET status = 'sending', updated = ?, message_id = ?,"
                           " attempts = attempts + 1 WHERE subscriber = ? AND period = ?",
                           [(stamp, str(msg["Message-ID"]), sub.id, period) for (msg, _, _), sub in zip(jobs, people)])
        report.skipped += len(skipped)
        retry, fatal = 0, None
        # Each outcome is committed as soon as the server has answered: a kill loses at most the
        # answers not yet written (those messages go again, with the same Message-ID).
        for i, error in self.senders.send_all(jobs):
            sub = people[i]
            with self.store.transaction():
                if error is None:
                    db.execute("UPDATE deliveries SET status = 'sent', updated = ?, last_error = NULL"
                               " WHERE subscriber = ? AND period = ?", (stamp, sub.id, period))
                    report.sent += 1
                elif isinstance(error, TemporaryDeliveryError):
                    retry += _deferred(db, sub, period, now, error, report)
                elif isinstance(error, PermanentDeliveryError):
                    _set(db, sub.id, period, "failed", now, error=str(error))
                    suspended = subscribers.record_bounce(db, sub.id, now) is subscribers.Bounce.SUSPENDED
                    report.failed += 1
                    report.problems.append(f"{sub.email}: refused ({error})"
                                           + ("; suspended after 3 bounces" if suspended else ""))
                elif isinstance(error, NotStarted):
                    _set(db, sub.id, period, "queued", now)
                    report.stopped = True
                elif isinstance(error, SmtpSetupError):
                    _set(db, sub.id, period, "queued", now)
                    fatal = fatal or error
                else:  # unexpected: left `sending` (resent on the next run); the boundary reports it
                    fatal = fatal or error
        if fatal is not None:
            raise fatal
        return retry


def _deferred(db, sub: Subscriber, period: str, now: datetime, error: BaseException, report: SendReport) -> int:
    attempts = db.execute("SELECT attempts FROM deliveries WHERE subscriber = ? AND period = ?",
                          (sub.id, period)).fetchone()[0]
    if attempts >= MAX_ATTEMPTS:
        _set(db, sub.id, period, "failed", now, error=f"gave up after {attempts} tries: {error}")
        report.failed += 1
        report.problems.append(f"{sub.email}: gave up after {attempts} temporary failures ({error})")
        return 0
    _set(db, sub.id, period, "deferred", now, error=str(error))
    log.warning("digest to %s deferred: %s", sub.email, error)
    return 1


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
