"""Digest subscribers: who gets the weekly email, with which regions and tags.

Status lifecycle:

    (web form) -> pending --confirm--> active --unsubscribe--> unsubscribed
    (curator CLI) ---------------------> active
    active --3 hard bounces, on 3 days, none over 15 days after the one before--> suspended

Only `active` subscribers get digests. A `pending` one gets nothing but the
confirmation email, at most once an hour. Addresses are validated (syntax) and
their domain is lower-cased (and IDNA-encoded); the local part is kept as typed, but
the list compares addresses without regard to case (one row per mailbox).
The tables are created by the m_digest_* migrations in aggregator/store/migrations.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

from aggregator.report import CommandReport
from aggregator.errors import InvalidAddress
from aggregator.timezones import localize
from aggregator.config.settings import Config

CONFIRM_RESEND_AFTER = timedelta(hours=1)
BOUNCES_TO_SUSPEND = 3
# A bounce this long after the previous one starts a new count (as Mailman's
# bounce_info_stale_after): two weekly digests went through in between, the mailbox works.
BOUNCE_STALE_AFTER = timedelta(days=15)
# Bounces within a day of the counted one are the same incident (one digest bouncing twice:
# a forwarder and the final server both report it), as Mailman counts at most one a day.
BOUNCE_SAME_INCIDENT = timedelta(days=1)


class Bounce(Enum):
    COUNTED = "counted"
    SAME_INCIDENT = "same incident"  # within a day of the bounce counted last: not counted again
    SUSPENDED = "suspended"  # this one was the third

# The local part: RFC 5322 dot-atoms, with any letter beyond ASCII (RFC 6531: josé@, 用户@), which a
# relay offering SMTPUTF8 delivers (aggregator/mail/transport.py refuses it clearly where it cannot).
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a1-\U0010ffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a1-\U0010ffff-]+)*$")
# Unicode categories no address may contain: controls, format characters (bidi overrides), spaces.
_NOT_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    status: str
    regions: tuple[str, ...]
    tags: tuple[str, ...]
    send_empty: bool
    created: str
    confirmed: str | None
    last_confirm_sent: str | None
    bounces: int

    def wants(self, region: str | None, tags: Iterable[str]) -> bool:
        """Whether an event with this region and these tags matches the subscriber's preferences.

        No regions chosen = every region (events without a region included); with regions
        chosen, an event must be in one of them. Tags likewise: none chosen = all events,
        else at least one tag in common. Comparison ignores case.
        """
        if self.regions:
            if not region or region.casefold() not in {r.casefold() for r in self.regions}:
                return False
        if self.tags:
            if not {t.casefold() for t in tags} & {t.casefold() for t in self.tags}:
                return False
        return True


def normalize_address(text: str | None) -> str:
    """The address ready to store and send to, or InvalidAddress naming what is wrong."""
    if text is None or not str(text).strip():
        raise InvalidAddress("Please enter an email address.")
    value = unicodedata.normalize("NFC", str(text).strip())  # RFC 6532: one spelling of each letter
    if any(ord(c) < 32 or c in " <>,;\"()[]\\" or (ord(c) > 127 and unicodedata.category(c) in _NOT_TEXT)
           for c in value) or len(value.encode("utf-8")) > 254:
        raise InvalidAddress(f"{_show(value)} is not an email address; write it like name@example.org.")
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or len(local.encode("utf-8")) > 64 or not _LOCAL.match(local):
        raise InvalidAddress(f"{_show(value)} is not an email address; write it like name@example.org.")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(f"{_show(value)} has a domain we cannot read; check the part after @.") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidAddress(f"{_show(value)} has no valid domain; check the part after @ (e.g. example.org).")
    return f"{local}@{domain}"


def _show(value: str) -> str:
    return repr(value[:80])


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _clean_list(values: Iterable[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        for part in str(v).split(","):
            part = part.strip()
            if part and len(part) <= 64 and part not in out:
                out.append(part)
    return tuple(out[:50])


def _row(row: sqlite3.Row | None) -> Subscriber | None:
    if row is None:
        return None
    return Subscriber(id=row["id"], email=row["email"], status=row["status"],
                      regions=tuple(json.loads(row["regions"])), tags=tuple(json.loads(row["tags"])),
                      send_empty=bool(row["send_empty"]), created=row["created"], confirmed=row["confirmed"],
                      last_confirm_sent=row["last_confirm_sent"], bounces=row["bounces"])


def get(db: sqlite3.Connection, email: str) -> Subscriber | None:
    return _row(db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone())


def get_by_id(db: sqlite3.Connection, subscriber_id: int) -> Subscriber | None:
    return _row(db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone())


def all_subscribers(db: sqlite3.Connection) -> list[Subscriber]:
    return [_row(r) for r in db.execute("SELECT * FROM subscribers ORDER BY email")]


def active(db: sqlite3.Connection) -> list[Subscriber]:
    return [_row(r) for r in db.execute("SELECT * FROM subscribers WHERE status = 'active' ORDER BY id")]


def add_active(db: sqlite3.Connection, email: str, regions: Iterable[str] = (), tags: Iterable[str] = (),
               *, now: datetime | None = None, send_empty: bool = False) -> tuple[Subscriber, bool]:
    """The curator adds someone: active at once. Returns (subscriber, newly_added)."""
    email = normalize_address(email)
    stamp = _now(now).isoformat()
    cur = db.execute(
        "INSERT INTO subscribers (email, status, regions, tags, send_empty, source, created, confirmed)"
        " VALUES (?, 'active', ?, ?, ?, 'curator', ?, ?) ON CONFLICT (email) DO NOTHING",
        (email, json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), int(send_empty), stamp, stamp))
    created = cur.rowcount == 1
    if not created:
        db.execute("UPDATE subscribers SET status = 'active', regions = ?, tags = ?, send_empty = ?,"
                   " confirmed = coalesce(confirmed, ?), bounces = 0 WHERE email = ?",
                   (json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), int(send_empty), stamp, email))
    return get(db, email), created


def request_subscription(db: sqlite3.Connection, email: str, regions: Iterable[str] = (),
                         tags: Iterable[str] = (), *, now: datetime | None = None) -> tuple[Subscriber, bool]:
    """A web sign-up. Returns (subscriber, send_confirmation).

    New and unsubscribed addresses become `pending`; a confirmation is due when none was sent
    in the last hour. Active and suspended addresses are left as they are and get no email
    (the web answer is the same either way, so nobody learns who is subscribed).
    """
    email = normalize_address(email)
    now = _now(now)
    db.execute(
        "INSERT INTO subscribers (email, status, regions, tags, source, created) VALUES (?, 'pending', ?, ?, 'web', ?)"
        " ON CONFLICT (email) DO NOTHING",
        (email, json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), now.isoformat()))
    sub = get(db, email)
    if sub.status == "unsubscribed":
        db.execute("UPDATE subscribers SET status = 'pending', regions = ?, tags = ? WHERE id = ?",
                   (json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), sub.id))
        sub = get(db, email)
    elif sub.status == "pending":
        db.execute("UPDATE subscribers SET regions = ?, tags = ? WHERE id = ?",
                   (json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), sub.id))
        sub = get(db, email)
    if sub.status != "pending":
        return sub, False
    if sub.last_confirm_sent and now - datetime.fromisoformat(sub.last_confirm_sent) < CONFIRM_RESEND_AFTER:
        return sub, False
    return sub, True


def update_preferences(db: sqlite3.Connection, email: str, regions: Iterable[str], tags: Iterable[str],
                       send_empty: bool) -> Subscriber | None:
    """A subscriber changes what they get (from the link in their digest). None when unknown or gone."""
    cur = db.execute("UPDATE subscribers SET regions = ?, tags = ?, send_empty = ? WHERE email = ?"
                     " AND status IN ('pending', 'active')",
                     (json.dumps(_clean_list(regions)), json.dumps(_clean_list(tags)), int(send_empty), email))
    return get(db, email) if cur.rowcount == 1 else None


def mark_confirm_sent(db: sqlite3.Connection, subscriber_id: int, now: datetime | None = None) -> None:
    db.execute("UPDATE subscribers SET last_confirm_sent = ? WHERE id = ?", (_now(now).isoformat(), subscriber_id))


def confirm(db: sqlite3.Connection, email: str, now: datetime | None = None) -> Subscriber | None:
    """pending -> active. Active stays active. Unsubscribed/suspended/unknown: None (the link is stale)."""
    sub = get(db, email)
    if sub is None or sub.status not in ("pending", "active"):
        return None
    if sub.status == "pending":
        db.execute("UPDATE subscribers SET status = 'active', confirmed = ? WHERE id = ? AND status = 'pending'",
                   (_now(now).isoformat(), sub.id))
    return get(db, email)


def unsubscribe(db: sqlite3.Connection, email: str, now: datetime | None = None) -> bool:
    """Stop all mail to the address. Idempotent; True when the address is known."""
    cur = db.execute("UPDATE subscribers SET status = 'unsubscribed', unsubscribed = coalesce(unsubscribed, ?)"
                     " WHERE email = ? AND status != 'unsubscribed'", (_now(now).isoformat(), email))
    return cur.rowcount == 1 or get(db, email) is not None


def remove(db: sqlite3.Connection, email: str) -> bool:
    """Forget the address entirely (the curator's `subscribers remove`)."""
    return db.execute("DELETE FROM subscribers WHERE email = ?", (email,)).rowcount == 1


def record_bounce(db: sqlite3.Connection, subscriber_id: int, now: datetime | None = None) -> Bounce:
    """Count one hard bounce (a 5xx at send time, or a returned message bounced at `now`);
    the third suspends the subscriber.

    A digest the relay accepts does not clear the count: most bounces arrive later as mail,
    after that 250. The count starts again instead when a bounce comes more than
    BOUNCE_STALE_AFTER after the previous one; one within BOUNCE_SAME_INCIDENT of it is not
    counted again."""
    now = localize(_now(now), timezone.utc)
    row = db.execute("SELECT bounces, last_bounce FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    if row is None:
        return Bounce.COUNTED
    last = localize(datetime.fromisoformat(row["last_bounce"]), timezone.utc) if row["last_bounce"] else None
    if last is not None and row["bounces"] and abs(now - last) < BOUNCE_SAME_INCIDENT:
        return Bounce.SAME_INCIDENT
    stale = last is None or now - last > BOUNCE_STALE_AFTER
    # Bounce mail may be read out of order: the latest bounce is the one to measure from.
    latest = now if last is None or now > last else last
    db.execute("UPDATE subscribers SET bounces = ?, last_bounce = ? WHERE id = ?",
               (1 if stale else row["bounces"] + 1, latest.isoformat(), subscriber_id))
    cur = db.execute("UPDATE subscribers SET status = 'suspended' WHERE id = ? AND bounces >= ? AND status = 'active'",
                     (subscriber_id, BOUNCES_TO_SUSPEND))
    return Bounce.SUSPENDED if cur.rowcount == 1 else Bounce.COUNTED


def subscribers_report(config: Config, db_path: Path, action: str, email: str | None,
                        regions: list[str], tags: list[str]) -> CommandReport:
    """`massage-events subscribers add|list|remove`: the curator's view of the list. Exit code."""
    report = CommandReport()
    from aggregator.store.database import Store

    with Store(db_path) as store:
        db = store.db
        if action == "list":
            subs = all_subscribers(db)
            if not subs:
                report.say("No subscribers yet. Add one with: massage-events subscribers add EMAIL")
                return report.done(0)
            for s in subs:
                prefs = []
                if s.regions:
                    prefs.append("regions " + ",".join(s.regions))
                if s.tags:
                    prefs.append("tags " + ",".join(s.tags))
                extra = f" ({s.bounces} bounces)" if s.bounces else ""
                report.say(f"{s.email}\t{s.status}\t{'; '.join(prefs) or 'all events'}{extra}")
            counts: dict[str, int] = {}
            for s in subs:
                counts[s.status] = counts.get(s.status, 0) + 1
            report.say(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
            return report.done(0)
        if action not in ("add", "remove"):
            report.say(f'unknown action "{action}"; use add, list or remove')
            return report.done(2)
        if not email:
            report.say(f"subscribers {action} needs an email address, e.g. massage-events subscribers {action} "
                       "name@example.org")
            return report.done(2)
        try:
            address = normalize_address(email)
        except InvalidAddress as e:
            report.say(str(e))
            return report.done(2)
        if action == "add":
            sub, created = add_active(db, address, regions, tags)
            prefs = ", ".join(sub.regions + sub.tags) or "all events"
            report.say(f"{'Added' if created else 'Updated'} {sub.email} (active; {prefs}).")
            return report.done(0)
        if remove(db, address):
            report.say(f"Removed {address}; they get no more digests.")
            return report.done(0)
        report.say(f"{address} is not on the list; see massage-events subscribers list")
        return report.done(1)
