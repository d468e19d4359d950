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

import feedparser
from lxml import etree

from aggregator.errors import ParseError
from aggregator.model import RawEvent, Window
from aggregator.text import looks_like_html
from sources.base import AUTHORITY_FEED, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.mail import source_zone
from sources.parse.prose import Post, html_to_text, post_id, records_from_posts

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
    return html_to_text(max(candidates, key=len))


def parse_feed(content: bytes, *, origin: str, source_id: str | None = None, content_type: str = ""):
    """feedparser's reading of feed bytes, or ParseError when they are not a feed."""
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


# The plain RSS 2.0 feed a list archive writes (items of title, link, guid, pubDate, description) is read
# with lxml in a fraction of feedparser's time, to the very same posts: the feed is taken this way only
# when nothing in it is something feedparser would read differently (a namespace, a DOCTYPE, another
# charset, a date not in RFC 822 form with a numeric zone, markup beyond a few harmless tags, an entity
# its sanitiser would rewrite). Anything else returns None and feedparser reads the feed.
_QUICK_FIELDS = frozenset(("title", "link", "guid", "pubDate", "description", "author", "category", "comments"))
_XML_ENCODING = re.compile(rb"""\A<\?xml[^>]*?encoding=["']([\w.:-]+)["']""")
# "Mon, 07 Dec 2026 11:00:00 +0000": the RFC 822 date feedparser reads with its first parser able to
# (a weekday it knows, or none; a real month; a numeric zone); anything else is feedparser's to read
_MONTH_NUMBERS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_RFC822 = re.compile(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"((?:19|20)\d\d) (\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)(\d\d)")


def _rfc822_instant(text: str) -> datetime | None:
    """The UTC instant of an RFC 822 date as feedparser reads it; None when feedparser would not
    read it so (a day the month lacks, a 25th hour)."""
    m = _RFC822.fullmatch(text)
    if m is None:
        return None
    day, month, year, hour, minute, second = int(m[1]), _MONTH_NUMBERS[m[2]], int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0)
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    offset = (int(m[8]) * 3600 + int(m[9]) * 60) * (-1 if m[7] == "-" else 1)
    return datetime.fromtimestamp(timegm((year, month, day, hour, minute, second, 0, 1, -1)) - offset, tz=timezone.utc)
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9][^\s<>\"]*")
# Markup whose text html_to_text reads the same before and after feedparser's sanitiser: these tags
# (attributes and all), a bare "&" before a space, and the entities the sanitiser writes back unchanged.
# (Not "</br>": the sanitiser drops it, and text left with no tag is not read as HTML.)
_HARMLESS_TAG = re.compile(r"<(?:br|/?(?:p|div|span|a|b|i|em|strong|u|ul|ol|li|blockquote|h[1-6]))(?:\s[^<>]*)?/?>", re.I)
# (Character references 128-159 and 0 are left out: both parsers map them, each its own way; names and
# hexadecimal digits in lower case only: the sanitiser writes them in lower case.)
_HARMLESS_AMP = re.compile(r"&(?:amp|lt|gt|quot|nbsp|#(?:[1-9]\d{0,4}|x[0-9a-f]{1,4})(?<!#12[89])(?<!#1[3-5]\d)"
                           r"(?<!#x[89][0-9a-f]));|&(?=\s)")


def _harmless(value: str) -> bool:
    if "\r" in value:
        return False
    if "<" in value and "<" in _HARMLESS_TAG.sub("", value):
        return False
    if "&" not in value:
        return True
    if "&" in _HARMLESS_AMP.sub("", value):
        return False
    # The sanitiser writes &#39; and &#34; as the characters: html_to_text decodes them too, but only in
    # text with a tag (text without one it returns as it is)
    return looks_like_html(value) or ("&#39;" not in value and "&#34;" not in value)


def _as_feedparser_text(value: str) -> str:
    """What feedparser keeps of an element's text in a UTF-8 feed: stripped, and UTF-8 that was decoded
    as Latin-1 mended (feedparser's own repair, applied to every element)."""
    value = value.strip()
    if not value.isascii():
        try:
            value = value.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return value


def quick_posts(content: bytes, content_type: str = "") -> list[Post] | None:
    """The posts of a plain RSS 2.0 feed read with lxml, exactly as posts_from_feed reads feedparser's
    result; None when the feed is anything else (feedparser then reads it)."""
    head = content[:200]
    declared = _XML_ENCODING.match(head)
    if content.startswith(b"\xef\xbb\xbf") or (declared and declared.group(1).lower() not in (b"utf-8", b"utf8")):
        return None
    kind, _, params = content_type.partition(";")
    charset = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", params, re.I)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        return None
    if not charset and kind.strip().lower().startswith("text/") and not content.isascii():
        return None  # feedparser reads text/* without a charset as US-ASCII (RFC 3023)
    if b"<!DOCTYPE" in content.upper() or b"<!ENTITY" in content.upper() or b"xml:base" in content:
        return None
    try:
        root = etree.fromstring(content, etree.XMLParser(  # a parser per call: one is not for two threads
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, strip_cdata=True, recover=False))
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag != "rss" or root.get("version") != "2.0" or root.nsmap or len(root) != 1 or root[0].tag != "channel":
        return None
    posts = []
    for item in root[0].iterchildren("item"):
        fields: dict[str, str] = {}
        for child in item:
            if not isinstance(child.tag, str) or child.tag not in _QUICK_FIELDS or child.tag in fields \
                    or len(child) or child.attrib and child.tag != "guid":
                return None
            fields[child.tag] = _as_feedparser_text(child.text or "")
        guid_node = item.find("guid")
        link, guid, sent = fields.get("link", ""), fields.get("guid", ""), fields.get("pubDate", "")
        title, description = fields.get("title", ""), fields.get("description", "")
        if guid_node is None or guid_node.get("isPermaLink", "true") != "true" or set(guid_node.attrib) - {"isPermaLink"} \
                or not _PLAIN_URL.fullmatch(link) or link != guid \
                or not title or not description or not _harmless(title) or not _harmless(description):
            return None
        when = _rfc822_instant(sent)
        if when is None:
            return None
        subject, body = re.sub(r"\s+", " ", html_to_text(title)).strip(), html_to_text(description)
        if not subject and not body:
            continue  # as posts_from_feed: nothing to read
        posts.append(Post(id=guid, subject=subject, body=body, sent=when, author=fields.get("author", ""),
                          url=link, in_reply_to=None))
    return posts


class RssAdapter(SourceAdapter):
    """Reads a mailing-list archive's RSS/Atom feed; events come from each post's prose."""

    type_name = "rss"
    authority = AUTHORITY_FEED
    Options = SourceOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        fetched = fetcher.get(options.url, accept=ACCEPT)
        origin = fetched.url or options.url
        quick = quick_posts(fetched.content, fetched.content_type) if fetched.content.strip() else None
        if quick is not None:
            yield from records_from_posts(quick, source_zone(options), source_id=options.id)
            return
        parsed = parse_feed(fetched.content, origin=origin, source_id=options.id, content_type=fetched.content_type)
        fallback = None
        if fetched.last_modified:
            try:
                fallback = parsedate_to_datetime(fetched.last_modified)
            except (TypeError, ValueError):
                fallback = None
        posts = posts_from_feed(parsed, fallback_sent=fallback or datetime.now(timezone.utc))
        yield from records_from_posts(posts, source_zone(options), source_id=options.id)
