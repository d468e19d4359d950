"""Bytes to text (charset sniffing as browsers and feed readers do) and body fingerprints."""

from __future__ import annotations

import codecs
import hashlib
import re

_XML_DECL = re.compile(rb'^<\?xml[^>]*encoding=["\']([A-Za-z0-9._-]+)["\']')
_META_CHARSET = re.compile(rb'<meta[^>]+charset=["\']?([A-Za-z0-9._-]+)', re.I)
_HTTP_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_SNIFF_BYTES = 8192
# Labels that browsers (WHATWG Encoding) read as windows-1252, and that servers often send for UTF-8.
_LATIN1_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii",
                  "windows-1252", "cp1252", "iso_8859-1", "8859-1", "cp819", "ibm819"}


def decode(content: bytes, content_type: str = "") -> str:
    """Bytes to text: BOM, then XML declaration or <meta>, then HTTP charset, then UTF-8.

    Latin-1 labels are read as windows-1252 (as browsers do: smart quotes survive), and a
    body labelled Latin-1 that is valid UTF-8 is read as UTF-8 (the most common mislabel).
    """
    for bom, encoding in _BOMS:  # UTF-32-LE before UTF-16-LE: its BOM starts with UTF-16-LE's
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, errors="replace")
    candidates = []
    head = content[:_SNIFF_BYTES]
    m = _XML_DECL.match(head.lstrip()) or _META_CHARSET.search(head)
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    m = _HTTP_CHARSET.search(content_type or "")
    if m:
        candidates.append(m.group(1))
    candidates.append("utf-8")
    for encoding in candidates:
        label = encoding.strip().lower()
        if label in _LATIN1_LABELS:
            if not content.isascii():
                try:
                    return content.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return content.decode("windows-1252", errors="replace")
        try:
            codecs.lookup(label)
        except LookupError:
            continue
        try:
            return content.decode(label)
        except UnicodeDecodeError:
            continue
    return content.decode("windows-1252", errors="replace")


# Lines that change on every request without the events changing (Google and Meetup rewrite
# DTSTAMP on each download; feeds restamp lastBuildDate). Removed before hashing a body.
_VOLATILE = re.compile(
    rb"^(?:DTSTAMP|X-PUBLISHED-TTL-STAMP)[;:][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n?"
    rb"|<lastBuildDate>[^<]*</lastBuildDate>",
    re.M | re.I)


def body_fingerprint(content: bytes) -> str:
    """A hash of a body with volatile lines (DTSTAMP, lastBuildDate) removed."""
    return hashlib.sha256(_VOLATILE.sub(b"", content)).hexdigest()
