"""What a digest says and how it looks: each subscriber's events and changes (select), the
RFC 5322 message (build_message), and the confirmation mail. Rendering is the costly part of a
send; aggregator/mail/digest/send.py renders once per distinct preference set (render_group)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aggregator.config.settings import Config
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
from aggregator.mail.tokens import CONFIRM, MANAGE, UNSUBSCRIBE, Tokens
from aggregator.model import Event, Status
from aggregator.resources import templates_dir

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
    links = subscriber_links(config, tokens, sub.email)
    subject, text, html = render_bodies(config, content, email=sub.email, **links)
    return assemble(config, sub.email, subject, text, html, message_id(config, secret, sub, content.period),
                    links["unsubscribe_url"], now)


def subscriber_links(config: Config, tokens: Tokens, email: str) -> dict[str, str]:
    base = config.calendar.base_url
    return {"unsubscribe_url": f"{base}/u/{tokens.make(UNSUBSCRIBE, email)}",
            "preferences_url": f"{base}/prefs/{tokens.make(MANAGE, email)}"}


def render_bodies(config: Config, content: DigestContent, *, email: str, unsubscribe_url: str,
                  preferences_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of a digest: the Jinja templates, then CSS inlined into the HTML."""
    sub = content.subscriber
    base = config.calendar.base_url
    subject = subject_for(config, content)
    n = content.count
    lede = (f"{n} event{'s' if n != 1 else ''} from {_day_label(content.first_day)} to "
            f"{_day_label(content.last_day)}." if n else
            f"Nothing on the calendar for you from {_day_label(content.first_day)} to {_day_label(content.last_day)}.")
    values = {
        "subject": subject, "calendar_name": header_text(config.calendar.name), "lede": lede,
        "days": content.days, "changes": content.changes, "days_ahead": config.digest.days_ahead,
        "email": email, "preferences": _preferences(sub), "site_url": f"{base}/",
        "calendar_url": f"{base}/calendar.ics", "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }
    env = environment()
    text = env.get_template("digest.txt.j2").render(values)
    html = css_inline.inline(env.get_template("digest.html.j2").render(values))
    return subject, text, html


def assemble(config: Config, email: str, subject: str, text: str, html: str, mid: str, unsubscribe_url: str,
             now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["From"] = formataddr((from_name(config), from_address(config)))
    msg["To"] = email
    msg["Subject"] = subject
    msg["Message-ID"] = mid
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


# Stand-ins for what differs between subscribers who share a preference set: letters and digits
# only, so autoescaping and CSS inlining leave them as they are.
_MARKS = {"email": "zqxEMAILxqz", "unsubscribe_url": "zqxUNSUBxqz", "preferences_url": "zqxPREFSxqz"}


def _as_inlined(value: str, *, attribute: bool) -> str:
    """`value` escaped as css_inline's HTML serializer writes it (the address in text, the links in
    href attributes), so a filled-in group render equals a render for the subscriber alone."""
    value = value.replace("&", "&amp;").replace("\xa0", "&nbsp;")
    if attribute:
        return value.replace('"', "&quot;")
    return value.replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class GroupRender:
    """A digest rendered once for everyone with the same regions, tags and last digest: the
    templates ran with stand-ins, and `message()` fills in one subscriber.

    The whole message is generated once too: the email package's header objects and generator
    cost more than the templates. Each subscriber's message is that wire text with their address,
    Message-ID, links and bodies (quoted-printable, as the generator writes them) put in; an
    address that is not plain ASCII takes the full path through the email package."""

    subject: str
    text: str
    html: str
    _wire: bytes | None = None
    _date: bytes = b""

    @classmethod
    def of(cls, config: Config, content: DigestContent) -> "GroupRender":
        return cls(*render_bodies(config, content, **_MARKS))

    def _fill(self, values: dict[str, str]) -> tuple[str, str]:
        text, page = self.text, self.html
        for key, mark in _MARKS.items():
            text = text.replace(mark, values[key])
            page = page.replace(mark, _as_inlined(values[key], attribute=key != "email"))
        return text, page

    def message(self, config: Config, sub: Subscriber, tokens: Tokens, secret: str, period: str,
                now: datetime) -> "EmailMessage | WireMessage":
        values = {"email": sub.email, **subscriber_links(config, tokens, sub.email)}
        text, page = self._fill(values)
        mid = message_id(config, secret, sub, period)
        if not sub.email.isascii():
            return assemble(config, sub.email, self.subject, text, page, mid, values["unsubscribe_url"], now)
        if self._wire is None:
            shell = assemble(config, _WIRE["to"], self.subject, _WIRE["text"], _WIRE["html"], _WIRE["mid"],
                             _WIRE["unsub"], now)
            self._date = str(shell["Date"]).encode()
            self._wire = shell.as_bytes()
        wire = (self._wire.replace(self._date, format_datetime(now.astimezone(timezone.utc)).encode(), 1)
                .replace(_WIRE["to"].encode(), sub.email.encode(), 1)
                .replace(_WIRE["mid"].encode(), mid.encode(), 1)
                .replace(_WIRE["unsub"].encode(), values["unsubscribe_url"].encode(), 1)
                .replace(_WIRE["text"].encode() + b"\r\n", _qp(text), 1)
                .replace(_WIRE["html"].encode() + b"\r\n", _qp(page), 1))
        return WireMessage(wire, {"To": sub.email, "Message-ID": mid, "Subject": self.subject})


# Stand-ins in the generated shell of a group's message (ASCII letters: no encoding touches them).
_WIRE = {"to": "zqxto@zqx.invalid", "mid": "<zqxMIDxqz@zqx.invalid>", "unsub": "https://zqx.invalid/zqxUNSUBxqz",
         "text": "zqxTEXTBODYxqz", "html": "zqxHTMLBODYxqz"}


def _qp(body: str) -> bytes:
    """A text part's body as the email generator writes it: UTF-8, quoted-printable, CRLF lines."""
    import binascii

    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


class WireMessage:
    """A message already in its wire form; reads like an EmailMessage where transports look."""

    __slots__ = ("_wire", "_headers")

    def __init__(self, wire: bytes, headers: dict[str, str]) -> None:
        self._wire = wire
        self._headers = headers

    def as_bytes(self, *args, **kwargs) -> bytes:
        return self._wire

    def __getitem__(self, name: str) -> str | None:
        return self._headers.get(name)

    def get(self, name: str, default=None):
        return self._headers.get(name, default)


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
