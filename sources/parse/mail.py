"""Email messages read into list posts (mbox, maildir and imap use it).

Each message gives its Subject, Date, From, Message-ID, In-Reply-To and References, and a
plain-text body: quoted-printable, base64 and charsets decoded; in a multipart message the
text/plain part is preferred, else the HTML part is turned into text. A text/calendar part
(an invitation, or an .ics attachment) is read exactly like an iCalendar source through
`sources.ical.read_ical_bytes`, so METHOD:CANCEL cancels the event; such a message is not
read as prose as well.

`read_messages(raw_messages, options, window, origin)` is the whole path from message
bytes to RawEvent / Skipped, shared by the three mail adapters.
"""

from __future__ import annotations

import email
import email.utils
import logging
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.message import Message
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Window
from aggregator.timezones import resolve_zone
from sources.base import Skipped, SourceOptions

if TYPE_CHECKING:
    from sources.parse.prose import Post

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # one message larger than this is skipped, not read
MAX_DECOMPRESSED = 64 * 1024 * 1024  # a gzipped archive may not inflate past this
CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar", "application/x-ics")
_HEADER_LINE = re.compile(
    rb"^(?:return-path|received|from|to|subject|date|message-id|mime-version|delivered-to|reply-to|"
    rb"content-type|x-[\w-]+|in-reply-to|references|sender|list-id|cc|dkim-signature|arc-[\w-]+|"
    rb"authentication-results|thread-\w+|user-agent|x-mailer):[ \t]?", re.I)


@dataclass(frozen=True, slots=True)
class Calendar:
    """A text/calendar part of a message."""

    content: bytes
    origin: str


def decompress_if_gzipped(content: bytes, origin: str, source_id: str | None = None) -> bytes:
    """A list archive's monthly `.txt.gz` inflated, with a cap against gzip bombs."""
    if not content.startswith(b"\x1f\x8b"):
        return content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(content, MAX_DECOMPRESSED + 1)
    except zlib.error as e:
        raise ParseError(f"{origin} is gzip-compressed but damaged ({e}); download it again",
                         source_id=source_id, reason="bad_gzip") from None
    if len(data) > MAX_DECOMPRESSED or inflater.unconsumed_tail:
        raise ParseError(f"{origin} inflates to more than {MAX_DECOMPRESSED // (1024 * 1024)} MiB; refused",
                         source_id=source_id, reason="too_large")
    return data


def looks_like_message(content: bytes) -> bool:
    """Whether bytes start like an RFC 5322 message (an .eml file)."""
    head = content.lstrip(b"\r\n\t ")[:8192]
    lines = head.splitlines()[:40]
    headers = sum(1 for line in lines if _HEADER_LINE.match(line))
    return bool(lines) and _HEADER_LINE.match(lines[0]) is not None and headers >= 2


def split_mbox(content: bytes) -> list[bytes]:
    """The messages of an mbox (mboxo/mboxrd; Pipermail archives included), in file order."""
    content = content.replace(b"\r\n", b"\n")
    messages = []
    positions = [m.start(1) for m in re.finditer(rb"(?:\A|\n)(From [^\n]*\n)", content)]
    for i, pos in enumerate(positions):
        end = positions[i + 1] if i + 1 < len(positions) else len(content)
        chunk = content[pos:end]
        chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
        chunk = re.sub(rb"(?m)^>(>*From )", rb"\1", chunk)  # mboxrd unescaping
        if chunk.strip():
            messages.append(chunk)
    return messages


def is_mbox(content: bytes) -> bool:
    return content.lstrip(b"\r\n")[:5] == b"From " and b"\n" in content[:4096]


def _header(msg: Message, name: str) -> str:
    wanted = name.lower()
    return _decoded_header(next((value for key, value in msg.raw_items() if key.lower() == wanted), None))


def _first_headers(msg: Message) -> dict[str, str]:
    """Each header's first value by its lower-case name: one pass over the headers for all we read."""
    first: dict[str, str] = {}
    for key, value in msg.raw_items():
        first.setdefault(key.lower(), value)
    return first


def _decoded_header(text: str | None) -> str:
    if text is None:
        return ""
    if not text.isascii():  # raw 8-bit bytes, kept as surrogates: most are UTF-8, the rest Latin-1
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:
            pass
    return re.sub(r"\s+", " ", text).strip()


_ASK = object()


def _part_text(part: Message, charset=_ASK) -> str:
    payload = part.get_payload(decode=True) or b""  # quoted-printable and base64 undone
    charset = (part.get_content_charset() if charset is _ASK else charset) or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


def _part_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    text = part.get_payload()
    return text.encode("utf-8", "replace") if isinstance(text, str) else b""


# A Content-Type that is a bare type with at most a charset (what most list mail sends): read here as
# get_content_type() and get_content_charset() read it, rather than parsing its parameters three times
# (the type, the charset, the absent name of a file); any other is left to the email package.
_BARE_CONTENT_TYPE = re.compile(r"([a-z0-9.+-]+/[a-z0-9.+-]+)(?:;[ \t]*charset=(?:\"([a-z0-9_.-]+)\"|([a-z0-9_.-]+)))?", re.I)


def _bare_part(part: Message) -> tuple[str, str | None] | None:
    """(content type, charset) of a part with a bare Content-Type and no Content-Disposition, else None."""
    value = part.get("Content-Type")
    if not isinstance(value, str) or part.get("Content-Disposition") is not None:
        return None
    m = _BARE_CONTENT_TYPE.fullmatch(value.strip())
    if m is None:
        return None
    charset = m.group(2) or m.group(3)
    return m.group(1).lower(), charset.lower() if charset else None


def message_parts(msg: Message) -> tuple[str, list[bytes]]:
    """The body as plain text (text/plain preferred, else HTML as text) and any calendar parts."""
    plain, html, calendars = [], [], []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        bare = _bare_part(part)
        if bare is not None:
            (ctype, charset), filename, disposition = bare, "", ""
        else:
            ctype, charset = part.get_content_type().lower(), _ASK
            filename = (part.get_filename() or "").lower() if hasattr(part, "get_filename") else ""
            disposition = (part.get("Content-Disposition") or "").lower()
        if ctype in CALENDAR_TYPES or filename.endswith((".ics", ".vcs")):
            calendars.append(_part_bytes(part))
            continue
        if disposition.startswith("attachment"):
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part, charset))
        elif ctype == "text/html":
            html.append(_part_text(part, charset))
        elif ctype == "message/rfc822":
            continue
    if plain and any(p.strip() for p in plain):
        body = "\n\n".join(plain)
    elif html:
        from sources.parse.prose import html_to_text

        body = "\n\n".join(html_to_text(h) for h in html)
    else:
        body = ""
    return body.replace("\r\n", "\n"), calendars


def parse_message(raw: bytes) -> Message:
    # compat32, not policy.default: its header objects cost most of a mailbox's reading time,
    # and _header decodes what we read (encoded words, raw 8-bit) itself.
    return email.message_from_bytes(raw)


def message_date(msg: Message) -> datetime | None:
    """The message's Date header as an aware datetime, or None when it has none we can read."""
    return _date_of(_header(msg, "Date"))


def _date_of(date_text: str) -> datetime | None:
    try:
        sent = email.utils.parsedate_to_datetime(date_text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=timezone.utc)  # RFC 5322 "-0000": the zone is unknown
    return sent


def post_from_message(msg: Message, *, fallback_sent: datetime | None = None) -> tuple[Post, list[bytes]]:
    from sources.parse.prose import Post, post_id

    headers = _first_headers(msg)
    subject = _decoded_header(headers.get("subject"))
    sender = _decoded_header(headers.get("from"))
    date_text = _decoded_header(headers.get("date"))
    sent = _date_of(date_text) or fallback_sent or datetime.now(timezone.utc)
    message_id = _decoded_header(headers.get("message-id")).strip()
    if not message_id:
        message_id = post_id(subject, date_text, sender)
    body, calendars = message_parts(msg)
    in_reply_to = _decoded_header(headers.get("in-reply-to")) or None
    if in_reply_to:
        in_reply_to = (re.findall(r"<[^>]+>", in_reply_to) or [in_reply_to])[0]
    references = tuple(re.findall(r"<[^>]+>", _decoded_header(headers.get("references"))))
    archived = _decoded_header(headers.get("archived-at"))
    url = archived.strip("<>") if archived.strip("<>").lower().startswith(("http://", "https://")) else None
    post = Post(id=message_id, subject=subject, body=body, sent=sent, author=sender, url=url,
                in_reply_to=in_reply_to, references=references)
    return post, calendars


def source_zone(options: SourceOptions) -> ZoneInfo:
    return resolve_zone(options.timezone) or ZoneInfo("UTC")


def read_messages(raw_messages: Iterable[bytes], options: SourceOptions, window: Window, *,
                  origin: str) -> Iterator[RawEvent | Skipped]:
    """Every message of a mailbox: invitations read as iCalendar, the rest read as list posts."""
    from sources.ical import read_ical_bytes  # the ical adapter's engine, shared
    # Here, not at the top: the prose reader's patterns cost a run that reads no mail to build.
    from sources.parse.prose import records_from_posts

    posts: list[Post] = []
    # An invitation and its later update or cancellation share a UID: the latest message wins.
    invited: dict[str, tuple[tuple, RawEvent, str]] = {}
    for index, raw in enumerate(raw_messages):
        if len(raw) > MAX_MESSAGE_BYTES:
            yield Skipped(item=f"message #{index + 1} in {origin}",
                          reason=f"larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB; not read")
            continue
        try:
            msg = parse_message(raw)
            post, calendars = post_from_message(msg)
        except SourceError:
            raise
        except Exception as e:  # one broken message never stops the mailbox
            log.warning("%s: message #%d in %s cannot be read: %s", options.id, index + 1, origin, e,
                        extra={"source": options.id})
            yield Skipped(item=f"message #{index + 1} in {origin}", reason=f"not a readable email message ({e})")
            continue
        if calendars:
            for number, content in enumerate(calendars, 1):
                where = f"message {post.id}" + (f" part {number}" if len(calendars) > 1 else "")
                try:
                    for item in read_ical_bytes(content, options, window, origin=where):
                        if not isinstance(item, RawEvent):
                            yield item
                            continue
                        rank = (post.sent, item.status == "cancelled", index)
                        held = invited.get(item.external_id)
                        if held is None or rank >= held[0]:
                            if held is not None:
                                yield Skipped(item=f"{held[2]}", reason=f"superseded by the later message {post.id}")
                            invited[item.external_id] = (rank, item, f"{item.title} in message {post.id}")
                        else:
                            yield Skipped(item=f"{item.title} in message {post.id}",
                                          reason=f"superseded by a later message about {item.external_id}")
                except SourceError as e:
                    yield Skipped(item=f"{post.subject[:120]} <{post.id}>",
                                  reason=f"its calendar invitation cannot be read: {e.message}")
            continue
        posts.append(post)
    for _, event, _ in invited.values():
        yield event
    yield from records_from_posts(posts, source_zone(options), source_id=options.id)


def read_mailbox_bytes(content: bytes, options: SourceOptions, window: Window, *,
                       origin: str) -> Iterator[RawEvent | Skipped]:
    """An mbox archive (plain or gzipped) or a single .eml message; ParseError for anything else."""
    if not content.strip():
        raise ParseError(f"{origin} is empty; expected an mbox archive or an email message",
                         source_id=options.id, reason="empty")
    content = decompress_if_gzipped(content, origin, options.id)
    if is_mbox(content):
        messages = split_mbox(content)
        if not messages:
            raise ParseError(f"{origin} holds no messages", source_id=options.id, reason="not_a_mailbox")
    elif looks_like_message(content):
        messages = [content]
    else:
        head = content[:200].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html", b"<")) else "neither"
        raise ParseError(f"{origin} is {what}, not an mbox archive (lines starting \"From \") or an email "
                         "message; point the source at the archive's .mbox or .txt file",
                         source_id=options.id, reason="not_a_mailbox")
    return read_messages(messages, options, window, origin=origin)


__all__ = ["read_messages", "read_mailbox_bytes", "post_from_message", "message_date", "message_parts", "parse_message",
           "split_mbox", "looks_like_message", "is_mbox", "decompress_if_gzipped"]
