"""`massage-events digest --preview/--send` and the digest lines of `status`."""

from __future__ import annotations

import re
import signal
import threading
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from aggregator.config.settings import Config
from aggregator.mail import subscribers
from aggregator.mail.digest.compose import build_message, select
from aggregator.mail.digest.ledger import _last_sent_period, _snapshot
from aggregator.mail.digest.period import calendar_zone, period_of
from aggregator.mail.digest.send import send_period
from aggregator.mail.subscribers import Subscriber
from aggregator.mail.tokens import Tokens, secret_for
from aggregator.report import CommandReport
from aggregator.store.job_problems import last_problems

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
