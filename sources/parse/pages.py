"""Shared helpers of the page adapters (jsonld, html): is it a page, links, identities.

Pure functions over fetched bytes and text; no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from aggregator.errors import ParseError
from aggregator.model import RawEvent
from sources.base import Fetched, Skipped

_TAG = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|div|span|p|a|section|article|main|script|ul|li|table"
                  rb"|h[1-6]|time|meta|title)\b", re.I)


def what_else(content: bytes) -> str | None:
    """A short name of what the body is when it is something other than a web page, else None."""
    head = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"begin:vcalendar"):
        return "an iCalendar feed (use type: ical)"
    if head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed") or head.startswith(b"<rdf"):
        if re.search(rb"<(rss|feed|rdf:rdf)\b", content[:4096], re.I):
            return "an RSS/Atom feed (use type: rss)"
    if head.startswith(b"%pdf"):
        return "a PDF document"
    return None


def check_page(page: Fetched, source_id: str | None = None) -> None:
    """Raise ParseError unless the body is an HTML page (possibly one without events)."""
    content = page.content
    if not content or not content.strip():
        raise ParseError(f"{page.url} returned an empty page; check the URL", source_id=source_id,
                         reason="empty")
    other = what_else(content)
    if other:
        raise ParseError(f"{page.url} is {other}, not a web page", source_id=source_id, reason="not_a_page")
    sample = content[:65536]
    if b"\x00" in sample and not page.text.lstrip().startswith("<"):
        raise ParseError(f"{page.url} is binary data, not a web page", source_id=source_id, reason="not_a_page")
    if not _TAG.search(content[:262144]) and not _TAG.search(page.text[:262144].encode("utf-8", "ignore")):
        raise ParseError(f"{page.url} is not an HTML page (no HTML markup found); check the URL",
                         source_id=source_id, reason="not_a_page")


# An absolute http(s) URL that urljoin() gives back as it is: a plain ASCII host, no path parameters
# (";"), no empty query or fragment, nothing urlsplit() removes or checks (whitespace, brackets).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-_~!$&'()*+,=%:@]+(?:/[^\s?#;\[\]]*)?(?:\?[^\s#;\[\]]+)?"
                        r"(?:#[^\s;\[\]]+)?")


def absolute(url: str | None, base: str) -> str | None:
    """`url` made absolute against the page's URL; None for empty or non-web links."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if base and url.isascii() and _PLAIN_URL.fullmatch(url) and _PLAIN_URL.fullmatch(base):
        return url  # the common link, already absolute: urljoin would give it back unchanged
    if not url or url.startswith("#") and not base:
        return None
    joined = urljoin(base, url) if base and urlsplit(base).scheme in ("http", "https") else url
    scheme = urlsplit(joined).scheme.lower()
    if scheme not in ("http", "https", ""):
        return None
    return joined


def text_hash(*parts: object) -> str:
    """A stable identity from an event's own words when it has no URL or @id."""
    joined = "\x00".join(str(p) for p in parts)
    return "sha256:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


def page_date(page: Fetched) -> date:
    """The page's own date, for year-less dates: its Last-Modified header, else today."""
    if page.last_modified:
        try:
            when = parsedate_to_datetime(page.last_modified)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.date()
    return datetime.now(timezone.utc).date()


def unique_ids(keys: list[str], starts: list[object]) -> list[str]:
    """Make external ids unique: an id shared by several events gets the start appended to each."""
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    out, seen = [], set()
    for key, start in zip(keys, starts, strict=True):
        value = f"{key}#{start}" if counts[key] > 1 else key
        n = 2
        candidate = value
        while candidate in seen:
            candidate = f"{value}~{n}"
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def start_key(value: date | datetime) -> str:
    """The start as a compact, zone-independent key (UTC for aware times)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def settle_ids(items: list[RawEvent | Skipped]) -> list[RawEvent | Skipped]:
    """One record per event of a page, each with its own external id.

    The same event stated twice (JSON-LD and microdata, or a "featured" box and the list:
    the same id and start) is kept once; events sharing an id with different starts (one
    URL for every date of a series) each get the start appended to it.
    """
    seen: set[tuple[str, str]] = set()
    kept: list[RawEvent | Skipped] = []
    starts: list[str] = []  # start_key of each event kept, in order
    for item in items:
        if isinstance(item, RawEvent):
            start = start_key(item.start)
            key = (item.external_id, start)
            if key in seen:
                continue
            seen.add(key)
            starts.append(start)
        kept.append(item)
    events = [i for i in kept if isinstance(i, RawEvent)]
    ids = iter(unique_ids([e.external_id for e in events], starts))
    out: list[RawEvent | Skipped] = []
    for item in kept:
        if isinstance(item, RawEvent):
            new_id = next(ids)
            if new_id != item.external_id:
                item = replace(item, external_id=new_id)
        out.append(item)
    return out
