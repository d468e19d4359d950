"""RawEvent -> Event: times made aware, text made plain, links made safe, the horizon applied.

A record that cannot be made sense of raises RecordRejected with a reason the
curator sees in `sources check` (no title, no start, end before start, outside
the window, filtered by a keyword rule).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date, datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo


from aggregator.config.settings import CalendarSettings
from aggregator.errors import RecordRejected
from aggregator.model import Event, RawEvent, SourceRef, Status, Window
from aggregator.text import html_to_text
from aggregator.timezones import resolve_zone, zone_name
from sources.base import SourceOptions

log = logging.getLogger(__name__)

_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Control characters, and the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069): an override makes "gpj.exe" read as "exe.jpg" and can reorder a title or
# a place in a calendar app. Right-to-left text itself needs none of them (the LRM/RLM marks stay).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# What may stand unescaped in a URL's path, query and fragment (RFC 3986 reserved and unreserved
# characters, and % of existing escapes); anything else, a " or < > \ ^ ` { | } or a non-ASCII
# letter, is percent-encoded, so no URL can close an attribute or a quoted string it is put in.
_URL_SAFE = "/:@!$&'()*+,;=%~?#[]"


def record_uid(source_id: str, external_id: str) -> str:
    """A provisional identity for one source record (dedupe assigns the published uid)."""
    digest = hashlib.sha256(f"{source_id}\x00{external_id}".encode()).hexdigest()[:20]
    return f"{digest}@massage-events"


def clean_line(text: str | None) -> str:
    """One line of plain text: no markup, no control characters, single spaces."""
    if not text:
        return ""
    if "<" in text and ">" in text:
        from bs4 import BeautifulSoup  # here: a run that reads nothing new never loads it

        text = BeautifulSoup(text, "html.parser").get_text(" ")
    text = _CONTROL.sub("", text).replace("\r", " ").replace("\n", " ")
    return _SPACE.sub(" ", text).strip()


def plain_text(text: str | None) -> str:
    """A description as plain text: HTML turned into lines, control characters dropped, whitespace tidied."""
    if not text:
        return ""
    text = html_to_text(text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# An http(s) URL that the cleaning below gives back unchanged: lowercase scheme, a plain ASCII host
# (a numeric port at most; credentials take the long way), and only characters quote() keeps as
# they are (no quote marks, angle brackets, spaces, controls or non-ASCII letters).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-_~!$&'()*+,;=%]+(?::\d{1,5})?"
                        r"(?:[/?#][A-Za-z0-9.\-_~!$&'()*+,;=:@%/?#\[\]]*)?")


def safe_url(url: str | None) -> str | None:
    """An absolute http(s) URL, or None: javascript:, data:, file: and friends never get through."""
    if not url:
        return None
    if _PLAIN_URL.fullmatch(url) and not url.endswith(("?", "#")) and "?#" not in url:
        return url  # the common case, called thousands of times per publish: nothing to clean
    url = re.sub(r"[\x00-\x20\x7f\u202a-\u202e\u2066-\u2069]", "", url.strip())
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # a port that is not a number raises ValueError
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = parts.netloc
    if not netloc.isascii() or any(c in netloc for c in "\"<>\\^`{|}"):
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        if any(c in ascii_host for c in "\"<>\\^`{|}"):
            return None
        netloc = ascii_host if port is None else f"{ascii_host}:{port}"  # credentials dropped with it
    return urlunsplit((parts.scheme.lower(), netloc, quote(parts.path, safe=_URL_SAFE),
                       quote(parts.query, safe=_URL_SAFE), quote(parts.fragment, safe=_URL_SAFE)))


def _to_time(value, zone: ZoneInfo, what: str, raw: RawEvent, source_id: str) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        from dateutil import parser as dateparser  # here: few records carry their times as text

        try:
            value = dateparser.parse(value, fuzzy=True)
        except (ValueError, OverflowError):
            raise RecordRejected(f'{source_id}: "{raw.title}" has a {what} we cannot read: "{value}"',
                                 source_id=source_id, external_id=raw.external_id,
                                 reason=f"unreadable_{what}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=zone)
        return value
    if isinstance(value, date):
        return value
    raise RecordRejected(f"{source_id}: {what} of {raw.external_id} is not a time", source_id=source_id,
                         external_id=raw.external_id, reason=f"unreadable_{what}")


def _matches(words: tuple[str, ...], text: str) -> str | None:
    lowered = text.lower()
    for word in words:
        if re.search(r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)", lowered):
            return word
    return None


def normalize(raw: RawEvent, source: SourceOptions, calendar: CalendarSettings, window: Window) -> Event:
    """Make one source record canonical, or raise RecordRejected saying why not."""
    sid = source.id

    def reject(message: str, reason: str) -> RecordRejected:
        return RecordRejected(f"{sid}: {message}", source_id=sid, external_id=raw.external_id, reason=reason)

    title = clean_line(raw.title)
    if not title:
        raise reject(f"record {raw.external_id} has no title", "no_title")
    if not raw.external_id:
        raise reject(f'"{title}" has no identity in its source', "no_id")

    named = resolve_zone(raw.timezone) if raw.timezone else None
    if raw.timezone and named is None:
        log.warning("%s: %s names unknown zone %r; read in the source's zone", sid, raw.external_id,
                    raw.timezone, extra={"source": sid})
    zone = named or resolve_zone(source.timezone) or resolve_zone(calendar.timezone) or ZoneInfo("UTC")

    start = _to_time(raw.start, zone, "start", raw, sid)
    if start is None:
        raise reject(f'"{title}" has no start date', "no_start")
    end = _to_time(raw.end, zone, "end", raw, sid)
    all_day = not isinstance(start, datetime)
    if all_day and isinstance(end, datetime):
        end = end.date()
    if not all_day and end is not None and not isinstance(end, datetime):
        end = datetime.combine(end, start.timetz())
    if end is not None and end < start:
        raise reject(f'"{title}" ends before it starts ({end} < {start})', "end_before_start")
    if end is not None and end == start and all_day:
        end = None

    # The horizon: past events (ended before the window) and those too far ahead are not kept.
    start_utc = _as_utc(start, zone)
    end_utc = _as_utc(end, zone) if end is not None else start_utc + (timedelta(days=1) if all_day else timedelta(0))
    if end_utc < window.start:
        raise reject(f'"{title}" ended before {window.start.date()}', "past")
    if start_utc > window.end:
        raise reject(f'"{title}" starts after the horizon ({window.end.date()})', "beyond_horizon")

    description = plain_text(raw.description)
    haystack = f"{title}\n{description}\n{raw.location or ''}"
    if source.include and not _matches(source.include, haystack):
        raise reject(f'"{title}" mentions none of the include words', "filtered_include")
    hit = _matches(source.exclude, haystack) if source.exclude else None
    if hit:
        raise reject(f'"{title}" mentions the excluded word "{hit}"', "filtered_exclude")

    if isinstance(start, datetime):
        shown_zone = zone_name(start.tzinfo) or zone.key
    else:
        shown_zone = zone.key
    tags = tuple(dict.fromkeys(t.strip().lower() for t in (*source.tags, *raw.tags) if t and t.strip()))
    url = safe_url(raw.url)
    return Event(
        uid=record_uid(sid, raw.external_id),
        title=title,
        start=start,
        end=end,
        all_day=all_day,
        timezone=shown_zone,
        location=clean_line(raw.location) or None,
        url=url,
        description=description,
        status=Status(raw.status),
        region=source.region,
        tags=tags,
        sources=(SourceRef(source=sid, external_id=raw.external_id, url=url),),
    )


def _as_utc(value: datetime | date, zone: ZoneInfo) -> datetime:
    from datetime import timezone as _tz

    if isinstance(value, datetime):
        return value.astimezone(_tz.utc)
    return datetime.combine(value, datetime.min.time(), tzinfo=zone).astimezone(_tz.utc)
