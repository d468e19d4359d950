"""Type "rss": the RSS 0.9x/1.0/2.0 or Atom feed of a mailing-list archive.

    - id: list-feed
      type: rss
      url: https://example.org/list/feed.xml

Each entry is read as a list post (sources/parse/prose.py): its title and body (HTML turned into
text) are searched for the event's date, time and place, relative dates resolved against
the entry's published (else updated) date. Replies, reminders and forwards of one
announcement collapse into one record; entries that announce nothing are Skipped with the
reason.

Safety: feedparser only ever parses the BYTES the shared fetcher fetched (never a URL or
a path: it is handed a stream); a DOCTYPE's internal subset is removed first, so entity
bombs (billion laughs) and external entities (XXE, `SYSTEM "file:///etc/passwd"`) are never
expanded; only http(s) links reach RawEvent.url.
"""

from __future__ import annotations

import io
import logging
import re
import time
from calendar import timegm
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from aggregator.errors import ParseError
from aggregator.model import RawEvent, Window
from sources.base import AUTHORITY_FEED, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.mail import source_zone

if TYPE_CHECKING:
    from sources.parse.prose import Post

log = logging.getLogger(__name__)

ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1")

# <!DOCTYPE rss [ ... ]> : the internal subset is where entity bombs and XXE live.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\]\s*)?>", re.I | re.S)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)


def defuse(content: bytes) -> bytes:
    """The feed without its DOCTYPE declaration (and any stray <!ENTITY ...> declarations)."""
    head_end = content.find(b"<rss")
    for tag in (b"<feed", b"<rdf:RDF", b"<channel"):
        pos = content.find(tag)
        if pos != -1 and (head_end == -1 or pos < head_end):
            head_end = pos
    prolog = content if head_end == -1 else content[:head_end]
    if b"<!" in prolog:
        cleaned = _DOCTYPE.sub(b"", prolog)
        cleaned = re.sub(rb"<!ENTITY[^>]*>", b"", cleaned, flags=re.I)
        content = cleaned + (b"" if head_end == -1 else content[head_end:])
    if _ENTITY_DECL.search(content):
        content = re.sub(rb"<!ENTITY[^>]*>", b"", content, flags=re.I)
    return content


def _http(url) -> str | None:
    if isinstance(url, str) and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def _when(entry, *keys) -> datetime | None:
    for key in keys:
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            try:
                return datetime.fromtimestamp(timegm(parsed), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _body(entry) -> str:
    candidates = []
    for content in entry.get("content") or []:
        value = content.get("value") if isinstance(content, dict) else None
        if value:
            candidates.append(value)
    for key in ("summary", "description"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            candidates.append(value)
    if not candidates:
        return ""
    from sources.parse.prose import html_to_text

    return html_to_text(max(candidates, key=len))


def parse_feed(content: bytes, *, origin: str, source_id: str | None = None, content_type: str = ""):
    """feedparser's reading of feed bytes, or ParseError when they are not a feed."""
    import feedparser  # here, as the prose reader below: a run that reads no feed never loads them

    if not content.strip():
        raise ParseError(f"{origin} is empty; expected an RSS or Atom feed", source_id=source_id, reason="empty")
    headers = {"content-type": content_type} if content_type else {}
    began = time.monotonic()
    try:
        parsed = feedparser.parse(io.BytesIO(defuse(content)), response_headers=headers,
                                  resolve_relative_uris=False, sanitize_html=True)
    except ValueError as e:  # feedparser decodes by the declared name: encoding="UTF-\0\08" raises ValueError
        raise ParseError(f"{origin} cannot be decoded ({str(e)[:120]}); point the source at the list's RSS or "
                         "Atom feed", source_id=source_id, reason="not_a_feed") from e
    log.debug("%s: feedparser took %.3fs", origin, time.monotonic() - began)
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    if not version and not entries:
        head = content.lstrip()[:300].lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            what = "an HTML page"
        elif head.startswith((b"{", b"[")):
            what = "JSON (a JSON Feed is not read by the rss type)"
        else:
            what = "not a feed we can read"
        problem = parsed.get("bozo_exception")
        detail = f" ({str(problem)[:120]})" if problem and what == "not a feed we can read" else ""
        raise ParseError(f"{origin} is {what}{detail}; point the source at the list's RSS or Atom feed",
                         source_id=source_id, reason="not_a_feed")
    if parsed.get("bozo"):
        log.info("%s: %s is not well-formed (%s); read what could be read", source_id, origin,
                 parsed.get("bozo_exception"), extra={"source": source_id})
    return parsed


def posts_from_feed(parsed, *, fallback_sent: datetime) -> list[Post]:
    from sources.parse.prose import Post, html_to_text, post_id

    feed_date = _when(parsed.get("feed", {}), "updated", "published")
    posts = []
    for entry in parsed.get("entries") or []:
        title = re.sub(r"\s+", " ", html_to_text(entry.get("title") or "")).strip()
        body = _body(entry)
        if not title and not body:
            continue
        sent = _when(entry, "published", "updated", "created") or feed_date or fallback_sent
        link = _http(entry.get("link"))
        if link is None:
            for alternative in entry.get("links") or []:
                link = _http(alternative.get("href"))
                if link:
                    break
        ident = str(entry.get("id") or entry.get("guid") or "").strip() or link or post_id(title, body[:500])
        in_reply_to = None
        for relation in entry.get("links") or []:
            if relation.get("rel") == "in-reply-to":
                in_reply_to = relation.get("href")
        author = str(entry.get("author") or "")
        posts.append(Post(id=ident, subject=title, body=body, sent=sent, author=author, url=link,
                          in_reply_to=in_reply_to))
    return posts


class RssAdapter(SourceAdapter):
    """Reads a mailing-list archive's RSS/Atom feed; events come from each post's prose."""

    type_name = "rss"
    authority = AUTHORITY_FEED
    Options = SourceOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        fetched = fetcher.get(options.url, accept=ACCEPT)
        origin = fetched.url or options.url
        parsed = parse_feed(fetched.content, origin=origin, source_id=options.id, content_type=fetched.content_type)
        fallback = None
        if fetched.last_modified:
            try:
                fallback = parsedate_to_datetime(fetched.last_modified)
            except (TypeError, ValueError):
                fallback = None
        posts = posts_from_feed(parsed, fallback_sent=fallback or datetime.now(timezone.utc))
        from sources.parse.prose import records_from_posts

        yield from records_from_posts(posts, source_zone(options), source_id=options.id)
