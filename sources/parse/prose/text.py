"""A post's own words: HTML as text, titles without list prefixes, quotes/attributions/forward headers removed."""

from __future__ import annotations

import functools
import re

from aggregator.text import CANCEL_WORDS, NOTICE_WORDS, REPLY_MARKERS
from aggregator.text import html_to_text  # noqa: F401  (re-exported: the one HTML reader)
from sources.parse.prose.when import _MONTH_RE, _WD_RE

# Prefixes that make a post a reply, reminder, forward or update of an announcement.
_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*|(?:" + REPLY_MARKERS + "|" + CANCEL_WORDS + "|" + NOTICE_WORDS
    + r"|reminder\s*[-–])\s*(?:\[\d+\])?\s*[:!–-]\s*)+",
    re.I,
)


_SPACES = re.compile(r"\s+")


# A subject is cleaned for the post's reading and again for every thread and title it is compared in:
# the last thousand are remembered.
@functools.lru_cache(maxsize=1024)
def clean_subject(subject: str) -> str:
    """The announcement's title: no Re:/Fwd:/Reminder:/[list] prefixes, single spaces."""
    text = _SPACES.sub(" ", subject or "").strip()
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX_RE.sub("", text).strip()
    return text.strip(" -–:") or (subject or "").strip()


# "X - CANCELLED", "X (cancelled)": a reply that cancels keeps its thread's subject under the marker
_CANCEL_SUFFIX_RE = re.compile(r"\s*(?:[-–—:]\s*|[(\[]\s*)(?:cancel+ed|postponed|called\s+off)\s*[)\]]?\W*$", re.I)


@functools.lru_cache(maxsize=1024)
def subject_key(subject: str) -> str:
    """The subject's words, lower case, without prefixes and cancel markers: threads and titles compare these."""
    words = re.findall(r"[a-z0-9]+", _CANCEL_SUFFIX_RE.sub("", clean_subject(subject)).lower())
    return " ".join(words)


_HEADER_DATE_LINE = re.compile(
    rf"^(?:date|sent)\s*:\s*(?:{_WD_RE},?\s+)?\d{{1,2}}\s+{_MONTH_RE}\s+\d{{4}}\s+\d\d:\d\d(?::\d\d)?\s*(?:[+-]\d{{4}}|[A-Z]{{2,5}})?",
    re.I)

_FOOTER_RULE = re.compile(r"^_{10,}$")
_FORWARD_RULE = re.compile(r"^-{3,}\s*(?:original message|forwarded message)\b.*?-*$", re.I)
_ORIGINAL_RULE = re.compile(r"^-{3,}\s*original message\b", re.I)
_FORWARD_BEGIN = re.compile(r"^begin forwarded message:?$", re.I)
_FORWARD_HEADER = re.compile(r"^(?:from|date|sent|subject|to|cc|reply-to)\s*:", re.I)
# "On Tue, Feb 21, 2017 at 9:54 AM, X wrote:" and its kin in the languages list mail comes in; the line
# introduces quoted text, and its date is when the quoted mail was sent, never an event's date.
_SAID = r"(?:wrote|writes|escribi[óo]|a\s+[ée]crit|schrieb|skrev|scrisse|schreef|napisa[łl]|escreveu|kirjoitti)"
_WROTE = re.compile(rf"^(?i:(?:on|le|am|el|il|op|em|den)\b.{{0,200}}\b{_SAID}\b[^:\n]{{0,80}}:?)$|^.{{0,120}}\b{_SAID}:$", re.I)
# Every attribution holds a word for "wrote": a line without one is no attribution, and this search is far
# cheaper than _WROTE's backtracking over every line of a post
_SAID_WORD = re.compile(rf"\b{_SAID}", re.I)
_ATTRIBUTION_START = re.compile(r"^(?:on|le|am|el|il|op|em|den)\s.*\d", re.I)
_ATTRIBUTION_END = re.compile(rf"\b{_SAID}\b[^:\n]{{0,80}}:\s*$", re.I)
# The start of an Outlook header block quoting the original ("From: X / Sent: ... / To: / Subject:").
_OUTLOOK_FROM = re.compile(r"^from\s*:\s*\S", re.I)
_OUTLOOK_NEXT = re.compile(r"^(?:sent|date)\s*:", re.I)
# A reply's subject: "Re:", "RE:", "AW:", "SV:", "Antw:", after any [list] tag.
_REPLY_SUBJECT = re.compile(r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:re|aw|sv|antw|r)\s*(?:\[\d+\])?\s*:", re.I)


def is_reply(subject: str) -> bool:
    """Whether a subject marks a reply ("Re: ..."), as opposed to an announcement or a forward."""
    return bool(_REPLY_SUBJECT.match(subject or ""))


def _attribution_at(lines: list[str], i: int) -> int:
    """How many lines from i form an attribution ("On <date>, X wrote:"), possibly wrapped; 0 if none."""
    first = lines[i].strip()
    if _SAID_WORD.search(first) and _WROTE.match(first):
        return 1
    if _ATTRIBUTION_START.match(first) and len(first) < 200:
        for k in (1, 2):
            if i + k < len(lines) and _ATTRIBUTION_END.search(lines[i + k].strip()):
                joined = " ".join(line.strip() for line in lines[i:i + k + 1])
                if len(joined) < 300:
                    return k + 1
    return 0


def _outlook_block_at(lines: list[str], i: int) -> bool:
    """ "From: X" followed by "Sent:"/"Date:" and "Subject:" lines: the header of a quoted original."""
    if not _OUTLOOK_FROM.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1:i + 6] if line.strip()]
    return bool(following) and _OUTLOOK_NEXT.match(following[0]) is not None and \
        any(re.match(r"^subject\s*:", line, re.I) for line in following[:4])


def strip_quotes(body: str, *, reply: bool = False) -> str:
    """The post's own words: quoted replies, "On .. wrote:" lines, signatures and list footers removed.

    After an attribution line the quoted text goes too, prefixed with ">" or not (Yahoo and Outlook
    quote without it); answers written between ">" lines are kept. A forwarded message's body is kept
    (it is the announcement), minus its header lines; in a reply (`reply=True`) an "Original Message"
    or an Outlook header block starts the quoted original, which is dropped.
    """
    lines = (body or "").replace("\r\n", "\n").split("\n")
    # One search of the whole post spares the line-by-line one in the many posts without such a word.
    said = _SAID_WORD.search(body or "") is not None
    kept = []
    in_forward_headers = False
    seen_header = False
    quoted = False  # inside quoted text that follows an attribution line
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        i += 1
        if _FOOTER_RULE.match(stripped):
            # Outlook rules off a quoted or forwarded original with a line of underscores before its
            # "From:/Sent:" header; under a list's footer rule comes the list's name, not a header
            following = next((j for j in range(i, min(i + 3, len(lines))) if lines[j].strip()), None)
            if following is not None and _outlook_block_at(lines, following):
                continue
            break
        if stripped in ("-- ", "--"):
            break  # signature
        if reply and (_ORIGINAL_RULE.match(stripped) or _outlook_block_at(lines, i - 1)):
            break  # the original under a reply: not the replier's words
        if _FORWARD_RULE.match(stripped) or _FORWARD_BEGIN.match(stripped):
            in_forward_headers = True
            seen_header = False
            continue
        if not in_forward_headers and _outlook_block_at(lines, i - 1):
            in_forward_headers, seen_header = True, False
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
            quoted = False  # prefixed quoting: an unprefixed line after it is an answer
            continue
        attribution = _attribution_at(lines, i - 1) if said else 0
        if attribution:
            i += attribution - 1
            following = next((x.strip() for x in lines[i:i + 50] if x.strip()), "")
            # an unprefixed quote runs to the end; a ">" quote ends where the answer starts
            quoted = bool(following) and not following.startswith(">")
            continue
        if quoted:
            continue
        kept.append(line)
    return "\n".join(kept).strip()
