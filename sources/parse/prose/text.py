"""A post's own words: HTML as text, titles without list prefixes, quotes/attributions/forward headers removed."""

from __future__ import annotations

import re

from sources.parse.prose.when import _MONTH_RE, _WD_RE

MAX_HTML = 1_000_000

# Prefixes that make a post a reply, reminder, forward or update of an announcement.
_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*|(?:re|aw|sv|fwd?|fw|tr|wg|reminder|friendly\s+reminder|last\s+call|update[d]?"
    r"|correction|change|new\s+date|cancel+ed|canceled|cancellation|postponed|save\s+the\s+date|announcing|announcement"
    r"|event|reminder\s*[-–]|tonight|tomorrow|this\s+week)\s*(?:\[\d+\])?\s*[:!–-]\s*)+",
    re.I,
)


def html_to_text(html: str) -> str:
    """HTML as the lines a reader sees: blocks and <br> become line breaks, scripts dropped."""
    if not html or not re.search(r"<[a-zA-Z/!][^>]*>", html):
        return html or ""
    from bs4 import BeautifulSoup  # here: most posts are plain text

    soup = BeautifulSoup(html[:MAX_HTML], "html.parser")
    for bad in soup.find_all(["script", "style", "head", "title"]):
        bad.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "h1", "h2", "h3", "h4", "h5", "tr", "table", "blockquote"]):
        block.insert_after("\n")
    for quote in soup.find_all("blockquote"):
        quote.insert_before("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_subject(subject: str) -> str:
    """The announcement's title: no Re:/Fwd:/Reminder:/[list] prefixes, single spaces."""
    text = re.sub(r"\s+", " ", subject or "").strip()
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX_RE.sub("", text).strip()
    return text.strip(" -–:") or (subject or "").strip()


def subject_key(subject: str) -> str:
    words = re.findall(r"[a-z0-9]+", clean_subject(subject).lower())
    return " ".join(words)


_HEADER_DATE_LINE = re.compile(
    rf"^(?:date|sent)\s*:\s*(?:{_WD_RE},?\s+)?\d{{1,2}}\s+{_MONTH_RE}\s+\d{{4}}\s+\d\d:\d\d(?::\d\d)?\s*(?:[+-]\d{{4}}|[A-Z]{{2,5}})?",
    re.I)

_FOOTER_RULE = re.compile(r"^_{10,}$")
_FORWARD_RULE = re.compile(r"^-{3,}\s*(?:original message|forwarded message)\b.*?-*$", re.I)
_FORWARD_BEGIN = re.compile(r"^begin forwarded message:?$", re.I)
_FORWARD_HEADER = re.compile(r"^(?:from|date|sent|subject|to|cc|reply-to)\s*:", re.I)
_WROTE = re.compile(r"^(?i:on\b.{0,160}\bwrote:?)$|^.{0,80}\bwrote:$")


def strip_quotes(body: str) -> str:
    """The post's own words: quoted replies, "On .. wrote:" lines, signatures and list footers removed.

    A forwarded message's body is kept (it is the announcement), minus its header lines.
    """
    lines = []
    in_forward_headers = False
    for line in (body or "").replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped in ("-- ", "--") or _FOOTER_RULE.match(stripped):
            break  # signature or list footer
        if _FORWARD_RULE.match(stripped) or \
                _FORWARD_BEGIN.match(stripped):
            in_forward_headers = True
            seen_header = False
            continue
        if in_forward_headers:
            if _FORWARD_HEADER.match(stripped):
                seen_header = True
                continue
            if not stripped:
                if seen_header:
                    in_forward_headers = False
                continue
            in_forward_headers = False
        if _HEADER_DATE_LINE.match(stripped):
            continue  # "Date: Thu, 06 Mar 2025 22:15:50 +0100": a quoted header, not the event
        if stripped.startswith(">"):
            continue
        if _WROTE.match(stripped):
            continue
        lines.append(line)
    return "\n".join(lines).strip()

