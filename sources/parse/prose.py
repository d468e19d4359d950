"""Events read from the prose of mailing-list posts (rss, mbox, maildir and imap use it).

A post is an announcement when its subject and body name a date AND a time (or "all day")
for something after the post was sent:

    "Reminder: spring mixer next Tuesday at 6:30 at Cafe Lula, 2537 N Kedzie"

Dates: "March 10", "Tue, Mar. 10th", "10 March 2026", "3/10", "2026-03-10", "10.03.2026",
"today", "tonight", "tomorrow", "this Saturday", "next Tuesday", "on Friday". Relative
dates are resolved against the post's own date; a date without a year is the first such
day not before the post (a day of tolerance). Times: "6:30pm", "8.30 p.m.", "6:30-8:30 PM",
"6:30-8", "11–12:30", "from 6 to 8 pm", "between 8 and 10 pm", "18:30", "noon" (a day number
is never read as an hour: "February 3 - 6:30 pm"), with a zone when the post names one ("7pm ET",
"6:30 PM Pacific", "18:30 CET"; a word for the source's own region keeps the source's zone, so
"MST" on an Arizona list stays Phoenix time), else the source's zone. Place: "Location:/Where:/Venue:"
lines, "at Cafe Lula, 2537 N Kedzie", or a street-address line.

Not events (returned as a reason): chatter and replies that name no date and time, job
ads, things for sale, meeting minutes, dues/renewal deadlines ("due by March 1"), office
closures, and dates already past when the post was sent.

`records_from_posts` collapses replies, reminders and forwards of one announcement into
one record (threading by In-Reply-To/References and by subject + event date) whose details
come from the most complete post; a cancellation post marks it CANCELLED; an update that
moves the time ("Update: mixer now starts at 7") moves the record. Posts outside one reply
thread stay separate events when their subjects name different sessions ("Morning Session" /
"Afternoon Session", "Part 1" / "Part 2"), when their starts are an hour or more apart (half an
hour for two announcements under different subjects), or when their street addresses differ.

Pure functions, no I/O. Imports only the model and the zone helpers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from aggregator.model import RawEvent, Status
from aggregator.timezones import resolve_zone
from sources.base import Skipped
from sources.parse.dates import ZONE_ABBREVIATIONS

# An announcement states its date near the top; a huge post is scanned only this far (characters).
MAX_SCAN = 20_000
MAX_HTML = 1_000_000

# ---------------------------------------------------------------------------------------------
# Vocabulary

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH_RE = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
             r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WD_RE = (r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?"
          r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?)")
_WD_FULL_RE = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues|thurs)"

# Zones as posts name them. Summer/winter abbreviations both mean the region's local time:
# people write "7pm EST" in July and mean Eastern time.
ZONE_WORDS = {
    **ZONE_ABBREVIATIONS,  # the US zones event pages print too
    "alaska": "America/Anchorage", "hawaii": "Pacific/Honolulu",
    "cet": "Europe/Berlin", "cest": "Europe/Berlin", "met": "Europe/Berlin",
    "bst": "Europe/London", "uk": "Europe/London", "wet": "Europe/Lisbon", "z": "UTC",
    "aest": "Australia/Sydney", "aedt": "Australia/Sydney",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo",
}
_ZONE_RE = (r"(?P<tz>(?:[ECMP][SD]?T|AK[SD]T|HST|CES?T|MET|BST|WET|GMT|UTC|AE[SD]T|IST|JST)\b"
            r"|(?:eastern|central|mountain|pacific|alaska|hawaii)(?:\s+(?:standard|daylight))?"
            r"(?:\s+time)?\b)")

_AMPM = r"(?:a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])"
_HOUR = r"(?:[01]?\d|2[0-3])"
# A clock time as posts write it. Minutes may follow a colon or a dot ("6:30pm", "8.30 p.m.").
# A bare hour is a time only where its context says so: "from 6 to 8", "between 8 and 10 pm",
# "6-8pm", "11–12:30".
_CLOCK = (
    rf"(?:{_HOUR}(?:[:.][0-5]\d)?\s*{_AMPM}"
    rf"|{_HOUR}:[0-5]\d[ap](?![a-z])"
    rf"|(?<=from\s){_HOUR}(?=\s*(?:-|–|—|to|until|till)\s*{_HOUR}\b(?![:.]?\d))"
    rf"|(?<=between\s){_HOUR}(?=\s*and\s*{_HOUR}\b(?![:.]?\d))"
    rf"|{_HOUR}[:.][0-5]\d|noon|midnight"
    rf"|{_HOUR}(?=\s*(?:-|–|—|to|until|till|(?<=between\s\d)\s*and|(?<=between\s\d\d)\s*and)\s*\d{{1,2}}(?:[:.][0-5]\d)?\s*{_AMPM})"
    rf"|{_HOUR}(?=\s*(?:-|–|—|to)\s*{_HOUR}:[0-5]\d))"
)
_RANGE_SEP = r"\s*(?:-|–|—|to|until|till)\s*"
# An end written as a bare hour after a start with minutes: "6:30-8 at Cafe Lula", "11:30 to 1."
_BARE_END = (r"(?:(?<=\sto\s)|(?<=-)|(?<=–)|(?<=—)|(?<=\suntil\s)|(?<=\still\s))"
             rf"{_HOUR}(?![:.]?\d)(?=\s*(?:[.,;:)!(\n]|$)|\s+(?:at|@|in|on|for|with|and|or)\b)")

_TIME_RE = re.compile(
    rf"(?<![\w:/.])(?:from\s+|(?P<between>between\s+))?(?P<t1>{_CLOCK})"
    rf"(?:(?:{_RANGE_SEP}|(?(between)\s+and\s+|(?!)))(?P<t2>{_CLOCK}|{_BARE_END}))?"
    rf"(?:\s*\(?\s*{_ZONE_RE}\)?)?",
    re.I,
)
_ALL_DAY_RE = re.compile(r"\ball[- ]day\b", re.I)

_DATE_PATTERNS = [
    # Tuesday, March 10th, 2026 / Mar. 10 / March 10-11
    re.compile(rf"(?<![\w/])(?:{_WD_RE}\.?,?\s+)?(?:the\s+)?(?P<mon>{_MONTH_RE})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?"
               rf"(?![\d:])(?:,?\s+(?P<year>20\d\d))?(?!\d)", re.I),
    # Tuesday 10 March 2026 / 10th of March
    re.compile(rf"(?<![\w/])(?:{_WD_RE}\.?,?\s+)?(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_RE})\b\.?"
               rf"(?:,?\s+(?P<year>20\d\d))?", re.I),
    # 2026-03-10
    re.compile(r"(?<![\w/.-])(?P<year>20\d\d)-(?P<mnum>\d\d)-(?P<day>\d\d)(?![\d])"),
    # Tue 3/10 or 3/10/2026 or 3/10/26 (US order)
    re.compile(rf"(?<![\w/.])(?:{_WD_RE}\.?,?\s+)?(?P<mnum>1[0-2]|0?[1-9])/(?P<day>3[01]|[12]\d|0?[1-9])"
               r"(?:/(?P<year>(?:20)?\d\d))?(?![\d/])", re.I),
    # 10.03.2026 (European order; the year is required so "6.30" is never a date)
    re.compile(r"(?<![\w/.])(?P<day>3[01]|[12]\d|0?[1-9])\.(?P<mnum>1[0-2]|0?[1-9])\.(?P<year>20\d\d)(?!\d)"),
]
_WEEKDAY_THE_NTH = re.compile(rf"\b(?P<wd>{_WD_RE}),?\s+the\s+(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)\b", re.I)
_RELATIVE_RE = re.compile(
    rf"\b(?:(?P<word>today|tonight|tomorrow|this\s+(?:evening|afternoon|morning))"
    rf"|(?:(?P<rel>this\s+coming|this|next|coming|last|on|every)\s+)?(?P<wd>{_WD_FULL_RE}|{_WD_RE}(?=\.?\s*(?:,|at|@|\d|from|night|evening|morning|afternoon))))\b",
    re.I,
)

# A date in this context is a deadline, not the event's date.
_DEADLINE_BEFORE = re.compile(
    r"(?:\b(?:by|before|until|thru|through|deadline|due|expires?|expiring|closes?|closing|closed|no\s+later\s+than"
    r"|renew(?:al)?s?|rsvp|register|registration|submit|submissions?|applications?|apply|posted|sent|ends?)"
    r"\b[\s:,]*(?:(?:on|is|are|of|the|at|noon|midnight|\d{1,2}(?::\d\d)?\s*[ap]\.?m\.?|be|will|must|received)[\s,]+){0,3})$",
    re.I,
)
_PAST_BEFORE = re.compile(r"\b(?:last|past|previous|on|at|from)\s+(?:our\s+|the\s+)?(?:meeting|mixer|session|event)?\s*(?:of\s+|on\s+)?$", re.I)

_NOT_EVENT_SUBJECTS = [
    (re.compile(r"\bminutes\b", re.I), "meeting minutes, not an announcement"),
    (re.compile(r"\bfor\s+sale\b|\bselling\b|^\W*(?:fs|wts|wtb)\b|\bused\s+table\b", re.I), "something for sale, not an event"),
    (re.compile(r"\b(?:job|jobs|hiring|position|positions|opening|openings|employment|help\s+wanted|seeking\s+(?:a\s+)?(?:lmt|therapist|massage)|now\s+hiring|career)\b", re.I),
     "a job ad, not an event"),
    (re.compile(r"\b(?:dues|renewal|renew|membership\s+fees?)\b", re.I), "a renewal deadline, not an event"),
    (re.compile(r"\bfor\s+rent\b|\brental\b|\bsublet\b|\bsublease\b|\broom\s+(?:available|share)\b", re.I),
     "a room to rent, not an event"),
    (re.compile(r"\boffice\b.*\bclos|\bclos(?:ed|ure|ing)\b.*\b(?:holiday|office)|\bholiday\s+hours\b", re.I),
     "an office closure, not an event"),
]
_CANCEL_RE = re.compile(r"\b(?:cancel+ed|cancel+ing|cancel+ation|called\s+off)\b", re.I)
_CANCEL_SUBJECT_RE = re.compile(r"\b(?:cancel+ed|cancel+ation|called\s+off|postponed)\b", re.I)

# Prefixes that make a post a reply, reminder, forward or update of an announcement.
_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*|(?:re|aw|sv|fwd?|fw|tr|wg|reminder|friendly\s+reminder|last\s+call|update[d]?"
    r"|correction|change|new\s+date|cancel+ed|canceled|cancellation|postponed|save\s+the\s+date|announcing|announcement"
    r"|event|reminder\s*[-–]|tonight|tomorrow|this\s+week)\s*(?:\[\d+\])?\s*[:!–-]\s*)+",
    re.I,
)

_PLACE_LABEL_RE = re.compile(r"^\s*(?:location|where|venue|place|address|ort|lieu|adresse)\s*[:\-–]\s*(?P<place>.+?)\s*$", re.I | re.M)
_STREET_WORDS = (r"(?:st|street|ave|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|pl|place|ct|court|pkwy|parkway"
                 r"|hwy|highway|sq|square|ter|terrace|cir|circle|broadway)")
_ADDRESS_LINE_RE = re.compile(
    rf"^\s*(?P<addr>(?:[A-Z][\w'’&. -]{{1,60}},\s*)?\d{{1,6}}\s+(?:[NSEW]\.?\s+)?[A-Z0-9][\w.'-]*(?:\s+[\w.'-]+){{0,4}}\s+{_STREET_WORDS}\b\.?[^\n]*?)\s*$",
    re.I | re.M,
)
_VENUE_WORD = r"[A-Z][\w'’&.-]*"
_AT_PLACE_RE = re.compile(
    rf"(?:\b[Aa]t|@)\s+(?P<place>(?:the\s+)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&|on|de|la|\d+[A-Za-z]*))*"
    rf"(?:\s*,\s*(?:\d{{1,6}}\s+[^\n,;()]+?|Suite\s+\w+|[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+)*))*)"
    rf"(?=\s*(?:[.;!\n)(]|\s-\s|\s+on\s|\s+from\s|\s+at\s|\s+in\s|\s+this\s|\s+next\s|\s+to\s|\s+starting\s|\s+(?:is|will|has|was)\s|\s*,\s*(?:from|starting|on|at)\s|$))",
)
_ONLINE_RE = re.compile(r"\b(?:on\s+zoom|via\s+zoom|zoom\s+(?:meeting|call|link)|online\s+via|google\s+meet|webinar)\b", re.I)
_NOT_PLACES = re.compile(
    rf"^(?:the\s+)?(?:noon|midnight|{_WD_RE}|{_MONTH_RE}|least|all|this|that|our|your|my|it|which|which\s+time|home|work|"
    r"first|last|once|any|some|no|one|what|eastern|central|mountain|pacific|least\s+\w+)\b",
    re.I,
)
_ZONE_ONLY = re.compile(r"^(?:[ECMP][SD]?T|AK[SD]T|HST|CES?T|GMT|UTC|BST)$")
_IN_PLACE_RE = re.compile(
    rf"\bin\s+(?P<place>(?:the\s+)?(?:[a-z]+\s+of\s+(?:the\s+)?)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&))*"
    rf"\s*,\s*\d{{1,6}}\s+[^\n,;()]+?)(?=\s*(?:[.;!\n)(]|$))",
)


# ---------------------------------------------------------------------------------------------
# One post


@dataclass(frozen=True, slots=True)
class Post:
    """One list post as a feed, mbox or mailbox gave it."""

    id: str  # Message-ID or the feed entry's id/guid
    subject: str
    body: str  # plain text (HTML already turned into text)
    sent: datetime  # aware
    author: str = ""
    url: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """What one post says: an event (start set) or why it is not one (reason set)."""

    start: datetime | date | None = None
    end: datetime | date | None = None
    timezone: str | None = None
    location: str | None = None
    cancelled: bool = False
    reason: str | None = None
    score: int = 0  # how complete: used to pick the best post of a thread

    @property
    def is_event(self) -> bool:
        return self.start is not None


@dataclass
class _DateHit:
    pos: int
    end: int
    day: date
    in_subject: bool
    deadline: bool = False
    weak: bool = False  # a bare weekday ("Sunday"): used only when no explicit date is given


@dataclass
class _TimeHit:
    pos: int
    end: int
    start: time
    stop: time | None
    zone: str | None
    deadline: bool = False


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
_DATE_LABEL = re.compile(r"(?:^|\n)\s*(?:date|dates|when|datum)\s*:\s*(?:[^\n]{0,12})$", re.I)
_RANGE_START = re.compile(r"(?<![\d/.])(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|—|to|until|through|thru)\s*$", re.I)


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


def _year_for(month: int, day: int, sent_local: date, tolerance: int = 1) -> date | None:
    for year in (sent_local.year - 1, sent_local.year, sent_local.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= sent_local - timedelta(days=tolerance):
            return candidate
    return None


def _find_dates(text: str, subject_len: int, sent_local: date) -> list[_DateHit]:
    hits: list[_DateHit] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()):
                continue
            groups = m.groupdict()
            if groups.get("mon"):
                word = groups["mon"]
                if word.lower() == "may" and not word[0].isupper():
                    continue  # the verb, not the month
                month = _MONTHS[word[:3].lower()]
            else:
                month = int(groups["mnum"])
            day = int(groups["day"])
            year = groups.get("year")
            if year:
                y = int(year)
                y = y + 2000 if y < 100 else y
                if not sent_local.year - 1 <= y <= sent_local.year + 2:
                    continue  # "valid until 1.02.2048": not when anything happens
                try:
                    found = date(y, month, day)
                except ValueError:
                    continue
            else:
                found = _year_for(month, day, sent_local)
                if found is None:
                    continue
            taken.append((m.start(), m.end()))
            hits.append(_DateHit(m.start(), m.end(), found, m.start() < subject_len))
    for m in _WEEKDAY_THE_NTH.finditer(text):
        if not free(m.start(), m.end()):
            continue
        target, day = _WEEKDAYS[m.group("wd")[:3].lower()], int(m.group("day"))
        probe = date(sent_local.year, sent_local.month, 1)
        for _ in range(14):
            try:
                candidate = probe.replace(day=day)
            except ValueError:
                candidate = None
            if candidate and candidate >= sent_local and candidate.weekday() == target:
                taken.append((m.start(), m.end()))
                hits.append(_DateHit(m.start(), m.end(), candidate, m.start() < subject_len))
                break
            probe = (probe.replace(day=28) + timedelta(days=4)).replace(day=1)
    for m in _RELATIVE_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        word = (m.group("word") or "").lower()
        if word:
            offset = 1 if word == "tomorrow" else 0
            found = sent_local + timedelta(days=offset)
        else:
            rel = re.sub(r"\s+", " ", (m.group("rel") or "").lower())
            wd_text = m.group("wd")
            if not rel and not wd_text[0].isupper():
                continue  # "a saturday" in passing
            around = text[max(0, m.start() - 12):m.start()].lower() + "|" + text[m.end():m.end() + 14].lower()
            if re.search(r"(?:through|thru|to|-|–)\s*\|", around) or re.search(r"\|\s*(?:through|thru|to|-|–)\s*[a-z]", around):
                continue  # "Monday through Friday": opening hours, not a date
            if rel == "every":
                continue  # a standing schedule, not one date
            target = _WEEKDAYS[wd_text[:3].lower()]
            ahead = (target - sent_local.weekday()) % 7
            if rel == "last":
                found = sent_local - timedelta(days=(sent_local.weekday() - target) % 7 or 7)
            elif rel == "next":
                found = sent_local + timedelta(days=ahead or 7)
            else:  # this / coming / on / bare weekday: the upcoming one (today counts)
                found = sent_local + timedelta(days=ahead)
        taken.append((m.start(), m.end()))
        weak = not word and not (m.group("rel") or "").strip()
        hits.append(_DateHit(m.start(), m.end(), found, m.start() < subject_len, weak=weak))
    hits.sort(key=lambda h: h.pos)
    for hit in hits:
        before = text[max(0, hit.pos - 40):hit.pos]
        before = before.split("\n")[-1]
        if _DEADLINE_BEFORE.search(before):
            hit.deadline = True
    return hits


def _clock(text: str, ampm_hint: str | None = None) -> tuple[int, int, str | None] | None:
    t = text.strip().lower()
    if t == "noon":
        return 12, 0, "pm"
    if t == "midnight":
        return 0, 0, "am"
    m = re.match(r"(\d{1,2})(?:[:.](\d\d))?\s*(a|p)?", t)
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    ap = (m.group(3) + "m") if m.group(3) and (re.search(r"[ap]\.?\s?m", t) or re.fullmatch(r"\d{1,2}:\d\d[ap]", t)) \
        else None
    return hour, minute, ap


def _to_time(hour: int, minute: int, ap: str | None) -> time | None:
    if ap:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ap == "pm" else 0)
    elif hour > 23:
        return None
    elif 1 <= hour <= 6:
        hour += 12  # "at 6:30" with no am/pm: an evening event, as lists write them
    return time(hour, minute)


def _time_matches(text: str, dates: Iterable[tuple[int, int]] = ()) -> Iterator[re.Match]:
    """_TIME_RE's matches, except those starting inside a date: the 3 of "February 3 - 6:30 pm"
    is the day, not a start hour, so the search goes on after the date."""
    spans = sorted(dates)
    pos = 0
    while (m := _TIME_RE.search(text, pos)) is not None:
        inside = next((b for a, b in spans if a <= m.start("t1") < b), None)
        if inside is not None:
            pos = max(inside, m.start("t1") + 1)
            continue
        yield m
        pos = max(m.end(), m.start() + 1)


def _find_times(text: str, dates: Iterable[tuple[int, int]] = ()) -> list[_TimeHit]:
    hits = []
    for m in _time_matches(text, dates):
        first = _clock(m.group("t1"))
        second = _clock(m.group("t2")) if m.group("t2") else None
        if first is None:
            continue
        h1, m1, ap1 = first
        start_t = stop_t = None
        if second:
            h2, m2, ap2 = second
            if ap1 is None and ap2:
                # "6:30-8:30pm": the start shares the end's half of the day, unless that puts it after the end
                candidate = _to_time(h1, m1, ap2)
                end_candidate = _to_time(h2, m2, ap2)
                if candidate and end_candidate and candidate > end_candidate:
                    candidate = _to_time(h1, m1, "am")
                start_t, stop_t = candidate, end_candidate
            elif ap1 is None and ap2 is None and ":" not in m.group("t1") and m.group("t1").isdigit():
                # "from 9 to 5": a working day; "from 6 to 8": an evening
                start_t = time(h1, 0) if 7 <= h1 <= 11 else _to_time(h1, m1, None)
                stop_t = time(h2 + 12 if h2 < 12 and (h2 <= h1 or h1 >= 12 or h1 <= 6) else h2, m2) \
                    if h2 + 12 < 24 or h2 >= 12 else None
            else:
                start_t = _to_time(h1, m1, ap1) if ap1 or ":" in m.group("t1") or "." in m.group("t1") or m.group("t1").isalpha() \
                    else None
                stop_t = _to_time(h2, m2, ap2)
                if start_t and stop_t and stop_t < start_t and ap2 is None and h2 < 12:
                    stop_t = time(h2 + 12, m2) if h2 + 12 < 24 else stop_t
        else:
            raw = m.group("t1")
            if ap1 is None and not raw.isalpha() and ":" not in raw and "." not in raw:
                continue
            if ap1 is None and "." in raw and not re.search(r"\d\.\d\d", raw):
                continue
            start_t = _to_time(h1, m1, ap1)
        if start_t is None:
            continue
        zone = None
        if m.group("tz"):
            word = re.sub(r"\s+(?:standard|daylight|time)", "", m.group("tz").lower()).strip()
            zone = ZONE_WORDS.get(word)
        hits.append(_TimeHit(m.start(), m.end(), start_t, stop_t, zone))
    for hit in hits:
        before = text[max(0, hit.pos - 30):hit.pos].split("\n")[-1]
        if _DEADLINE_BEFORE.search(before):
            hit.deadline = True
    return hits


def _clean_place(place: str) -> str | None:
    place = re.sub(r"\s+", " ", place).strip(" .,;:-–")
    place = re.sub(r"^(?:the\s+)?(?:location|venue)\s+(?:is|will\s+be)\s+", "", place, flags=re.I)
    if not place or len(place) < 3 or _NOT_PLACES.match(place) or _ZONE_ONLY.match(place):
        return None
    if _TIME_RE.fullmatch(place):
        return None
    return place[:200]


def find_place(text: str) -> str | None:
    """The event's place as the post writes it, or None."""
    m = _PLACE_LABEL_RE.search(text)
    if m:
        place = _clean_place(m.group("place"))
        if place:
            # a label line followed by an address line: "Where: Cafe Lula\n2537 N Kedzie Ave"
            after = text[m.end():].lstrip("\n").split("\n", 1)[0]
            if _ADDRESS_LINE_RE.match(after) and not re.search(r"\d", place):
                place = f"{place}, {after.strip()}"
            return place
    for m in _AT_PLACE_RE.finditer(text):
        place = _clean_place(m.group("place"))
        if place:
            return place
    m = _IN_PLACE_RE.search(text)
    if m and _clean_place(m.group("place")):
        return _clean_place(m.group("place"))
    m = _ADDRESS_LINE_RE.search(text)
    if m:
        line_start = text.rfind("\n", 0, m.start("addr")) + 1
        previous = text[:max(0, line_start - 1)].rstrip("\n").split("\n")[-1].strip()
        addr = m.group("addr").strip()
        if previous and len(previous) < 60 and not re.search(r"[.:!?]$|\d", previous):
            return _clean_place(f"{previous}, {addr}")
        return _clean_place(addr)
    if _ONLINE_RE.search(text):
        return "Online"
    return None


def _standard_offset(zone: ZoneInfo, year: int) -> timedelta:
    """The zone's standard-time offset that year (the smaller of its January and July offsets)."""
    return min(datetime(year, month, 15, 12, tzinfo=zone).utcoffset() for month in (1, 7))


def _named_zone(word_zone: str, source_zone: ZoneInfo, day: date) -> ZoneInfo:
    """The zone a post's zone word means. A word for the source's own region means the source's
    zone: "9 AM MST" on an Arizona list is Phoenix time (no DST), not Denver's; "CST" in
    Saskatchewan is Regina's."""
    named = resolve_zone(word_zone)
    if named is None:
        return source_zone
    if named.key != source_zone.key and \
            _standard_offset(named, day.year) == _standard_offset(source_zone, day.year):
        return source_zone
    return named


def read_post(subject: str, body: str, sent: datetime, zone: ZoneInfo) -> Reading:
    """Read one post: the event it announces, or the reason it is not an announcement."""
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=zone)
    sent_local = sent.astimezone(zone)
    title = clean_subject(subject)
    for pattern, reason in _NOT_EVENT_SUBJECTS:
        if pattern.search(title):
            return Reading(reason=reason)

    own = strip_quotes((body or "")[:MAX_SCAN * 10])[:MAX_SCAN]
    head = f"{subject.strip()[:500]}\n"
    text = head + own
    cancelled = bool(_CANCEL_SUBJECT_RE.search(subject)) or bool(
        re.search(r"\b(?:is|has\s+been|have\s+been|been|are|was|will\s+be)\s+(?:cancel+ed|called\s+off|postponed)\b",
                  own, re.I))

    dates = _find_dates(text, len(head), sent_local.date())
    times = _find_times(text, [(d.pos, d.end) for d in dates])
    upcoming = [d for d in dates if not d.deadline and d.day >= sent_local.date()]
    upcoming.sort(key=lambda d: (d.weak, d.pos))  # explicit dates before bare weekdays
    if not upcoming:
        if any(d.deadline for d in dates):
            return Reading(reason="names only a deadline, not an event", cancelled=cancelled)
        if dates:
            return Reading(reason="names only dates already past when it was sent", cancelled=cancelled)
        return Reading(reason="names no date and time for an event", cancelled=cancelled)

    usable_times = [t for t in times if not t.deadline]
    all_day = bool(_ALL_DAY_RE.search(text))
    chosen: tuple[_DateHit, _TimeHit | None] | None = None
    for d in upcoming:
        # the time closest to this date: first one after it in the same paragraph, else the nearest before
        after = [t for t in usable_times if t.pos >= d.end and "\n\n" not in text[d.end:t.pos]]
        before = [t for t in usable_times if t.end <= d.pos and "\n\n" not in text[t.end:d.pos]]
        near = after[0] if after else (before[-1] if before else None)
        if near is None and usable_times and len(upcoming) == 1:
            near = usable_times[0]
        if near is not None or all_day:
            chosen = (d, near)
            break
    if chosen is None:
        # "Date: 10–16 June 2025" on a labelled line: an all-day (maybe multi-day) event
        for d in upcoming:
            if d.weak or not _DATE_LABEL.search(text[max(0, d.pos - 40):d.pos]):
                continue
            line_times = [t for t in times if text.rfind("\n", 0, t.pos) == text.rfind("\n", 0, d.pos)]
            if line_times:
                continue
            start_day, end_day = d.day, None
            before = _RANGE_START.search(text[max(0, d.pos - 12):d.pos])
            after = re.match(r"\s*(?:-|–|—|to|until|through|thru)\s*(\d{1,2})(?!\d|:)", text[d.end:d.end + 12])
            try:
                if before:
                    start_day, end_day = d.day.replace(day=int(before.group(1))), d.day
                elif after:
                    end_day = d.day.replace(day=int(after.group(1)))
            except ValueError:
                start_day, end_day = d.day, None
            if end_day is not None and end_day < start_day:
                start_day, end_day = d.day, None
            place = find_place(own) or find_place(subject)
            return Reading(start=start_day, end=(end_day + timedelta(days=1)) if end_day else None,
                           timezone=zone.key, location=place, cancelled=cancelled, score=2 + (2 if place else 0))
        if cancelled:
            d = upcoming[0]
            return Reading(start=d.day, cancelled=True, location=find_place(own or subject), score=1,
                           timezone=zone.key)
        return Reading(reason="names a date but no time for an event", cancelled=cancelled)

    day_hit, time_hit = chosen
    if time_hit is None:
        return Reading(start=day_hit.day, end=None, timezone=zone.key, location=find_place(text),
                       cancelled=cancelled, score=2)
    event_zone = _named_zone(time_hit.zone, zone, day_hit.day) if time_hit.zone else zone
    start = datetime.combine(day_hit.day, time_hit.start, tzinfo=event_zone)
    if start < sent - timedelta(hours=1):
        return Reading(reason="names only dates already past when it was sent", cancelled=cancelled)
    end = None
    if time_hit.stop is not None:
        end = datetime.combine(day_hit.day, time_hit.stop, tzinfo=event_zone)
        if end <= start:
            end += timedelta(days=1)
    location = find_place(own) or find_place(subject)
    score = 3 + (2 if location else 0) + (1 if location and re.search(r"\d", location) else 0) \
        + (1 if end else 0) + min(len(own) // 200, 3)
    return Reading(start=start, end=end, timezone=event_zone.key, location=location,
                   cancelled=cancelled, score=score)


# ---------------------------------------------------------------------------------------------
# Many posts: threads collapse into one record


@dataclass
class _Thread:
    posts: list[tuple[Post, Reading]] = field(default_factory=list)


def _significant(subject: str) -> set[str]:
    stop = {"the", "and", "for", "with", "our", "your", "this", "next", "event", "meeting", "reminder",
            "join", "monthly", "night", "evening", "from", "about", "update", "updated", "cancelled",
            "canceled", "tonight", "tomorrow", "week", "massage", "therapists", "therapist", "chapter"}
    return {w for w in re.findall(r"[a-z]{4,}", clean_subject(subject).lower()) if w not in stop}


_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                 "i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "first": "1", "second": "2",
                 "third": "3"}
_SESSION_RE = re.compile(
    r"\b(?:(?P<half>morning|afternoon|evening|night|am|pm|a\.m\.|p\.m\.|daytime|weekday|weekend)"
    r"\s+(?:session|class|section|group|workshop|shift|cohort|edition)s?\b"
    r"|(?P<label>session|part|day|week|module|level|section|group|cohort|unit)\s*(?:#\s*)?"
    r"(?P<n>\d{1,2}|[ivx]{1,4}|one|two|three|four|five|six|first|second|third|[a-d])(?![\w'’])"
    r"|[(\-–:]\s*(?P<bare>morning|afternoon|evening)\s*\)?\s*$)",
    re.I,
)
_UPDATE_SUBJECT_RE = re.compile(r"^\W*(?:\[[^\]]{1,40}\]\s*)?(?:re\s*:\s*)?(?:update[ds]?|correction|corrected|change[ds]?|"
                                r"time\s+change|new\s+time|rescheduled|moved|revised)\b", re.I)
_UPDATE_BODY_RE = re.compile(r"\b(?:now\s+(?:starts?|begins?|at|from)|(?:moved|changed|pushed|bumped)\s+(?:back\s+|up\s+)?to"
                             r"|new\s+(?:start\s+)?time|rescheduled|correction|instead\s+of)\b", re.I)
_STREET_NUMBER_RE = re.compile(r"(?<![\w#])(\d{1,6})\s+(?:[NSEW]\.?\s+)?[A-Za-z]")
# Starts this far apart on one day are two events, not one event restated (a reminder that names
# the doors-open time half an hour early is still the same event) ...
CLEARLY_DIFFERENT = timedelta(hours=1)
# ... or half an hour apart when both posts are announcements (no Reminder:/Re:/Fwd:) under
# different subjects: "Atlanta Bodywork Exchange" at 7 and "Savannah Bodywork Exchange" at 6:30.
DIFFERENT_ANNOUNCEMENTS = timedelta(minutes=30)
_FOLLOWUP_RE = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:re|aw|sv|fwd?|fw|tr|wg|reminder|friendly\s+reminder|last\s+call|update[ds]?"
    r"|correction|change|new\s+date|tonight|tomorrow|this\s+week|reminder\s*[-–])\s*(?:\[\d+\])?\s*[:!–-]", re.I)


def _session(subject: str) -> str | None:
    """The session a subject names ("Morning Session", "Part 2", "Day 1", "Session B"), canonical, or None."""
    m = _SESSION_RE.search(clean_subject(subject))
    if not m:
        return None
    if m.group("half") or m.group("bare"):
        half = (m.group("half") or m.group("bare")).lower().replace(".", "")
        return {"am": "morning", "pm": "afternoon", "daytime": "morning"}.get(half, half)
    n = m.group("n").lower()
    if len(n) == 1 and n.isalpha() and n not in "iv" and not m.group("n").isupper():
        return None  # "group a", lowercase: a word, not a section letter
    return f"{m.group('label').lower()} {_NUMBER_WORDS.get(n, n)}"


def _is_update(post: Post) -> bool:
    """A post announcing that the event's time changed ("Update: mixer now starts at 7")."""
    return bool(_UPDATE_SUBJECT_RE.search(post.subject) or _UPDATE_BODY_RE.search(strip_quotes(post.body)[:2000]))


def _street_numbers(place: str | None) -> set[str]:
    return set(_STREET_NUMBER_RE.findall(place or ""))


def _same_event(post: Post, reading: Reading, cluster: list[tuple[Post, Reading]]) -> bool:
    """Whether a post with a similar subject on the cluster's day restates the cluster's event.

    Not when the subjects name different sessions ("Morning Session" / "Afternoon Session",
    "Part 1" / "Part 2"), when both give starts clearly apart (unless the post announces a time
    change), or when both give street addresses that differ (one title, two cities, one evening).
    Posts of one reply thread are not asked: the caller joins them whatever they say.
    """
    mine = _session(post.subject)
    if mine and any((theirs := _session(p.subject)) and theirs != mine for p, _ in cluster):
        return False
    timed = [(p, r) for p, r in cluster if isinstance(r.start, datetime)]
    if isinstance(reading.start, datetime) and timed and not _is_update(post):
        def apart(p: Post, r: Reading) -> bool:
            both_announcements = not _FOLLOWUP_RE.match(post.subject) and not _FOLLOWUP_RE.match(p.subject) \
                and subject_key(post.subject) != subject_key(p.subject)
            return abs(r.start - reading.start) >= (DIFFERENT_ANNOUNCEMENTS if both_announcements else CLEARLY_DIFFERENT)
        if all(apart(p, r) for p, r in timed):
            return False
    numbers = _street_numbers(reading.location)
    known = [_street_numbers(r.location) for _, r in cluster if _street_numbers(r.location)]
    if numbers and known and all(not (numbers & theirs) for theirs in known):
        return False
    return True


def records_from_posts(posts: Iterable[Post], zone: ZoneInfo, *, source_id: str = "",
                       ) -> Iterator[RawEvent | Skipped]:
    """One RawEvent per announced event (replies, reminders, forwards collapsed), Skipped for the rest."""
    posts = sorted(posts, key=lambda p: (p.sent, p.id))
    readings = [(p, read_post(p.subject, p.body, p.sent, zone)) for p in posts]

    # Threads by Message-ID references.
    root_of: dict[str, str] = {}
    by_subject: dict[str, str] = {}  # feeds carry no In-Reply-To: "Re: X" joins the thread of "X"
    for post, _ in readings:
        parent = None
        for ref in (post.in_reply_to, *post.references):
            if ref and ref in root_of:
                parent = root_of[ref]
                break
        key = subject_key(post.subject)
        if parent is None and key and re.match(r"^\s*(?:re|aw|sv|fwd?|fw)\s*:", post.subject, re.I):
            parent = by_subject.get(key)
        root_of[post.id] = parent or post.id
        if key:
            by_subject.setdefault(key, root_of[post.id])

    # Event clusters: same thread or similar subject, and the same event day.
    clusters: list[list[tuple[Post, Reading]]] = []
    for post, reading in readings:
        if not reading.is_event:
            continue
        day = reading.start if isinstance(reading.start, date) and not isinstance(reading.start, datetime) \
            else reading.start.date()
        home = None
        for cluster in clusters:
            first_post, first = cluster[0]
            first_day = first.start if not isinstance(first.start, datetime) else first.start.date()
            if first_day != day:
                continue
            same_thread = root_of.get(post.id) == root_of.get(first_post.id)
            similar = bool(_significant(post.subject) & _significant(first_post.subject)) or \
                subject_key(post.subject) == subject_key(first_post.subject)
            if same_thread or (similar and _same_event(post, reading, cluster)):
                home = cluster
                break
        if home is None:
            clusters.append([(post, reading)])
        else:
            home.append((post, reading))

    # A cancellation that names no date cancels the thread's upcoming event.
    clustered = {p.id for cluster in clusters for p, _ in cluster}
    for post, reading in readings:
        if post.id in clustered:
            continue
        if reading.cancelled and not reading.reason or (reading.cancelled and reading.reason and
                                                        "no date" in reading.reason):
            for cluster in clusters:
                session = _session(post.subject)
                if session and any(_session(p.subject) not in (None, session) for p, _ in cluster):
                    continue  # "Cancelled: afternoon session" leaves the morning session alone
                if any(root_of.get(p.id) == root_of.get(post.id) or
                       (_significant(p.subject) & _significant(post.subject)) for p, _ in cluster):
                    cluster.append((post, replace(reading, start=None)))
                    clustered.add(post.id)
                    break
        if post.id not in clustered:
            reason = reading.reason or "not an event"
            thread_event = next((c[0][0].id for c in clusters
                                 if any(root_of.get(p.id) == root_of.get(post.id) for p, _ in c)), None)
            if thread_event and root_of.get(post.id) != post.id and not reading.cancelled and \
                    reading.reason not in [r for _, r in _NOT_EVENT_SUBJECTS]:
                yield Skipped(item=_item(post), reason=f"a reply in the thread of {thread_event}; "
                                                       "it names no event of its own")
                continue
            if root_of.get(post.id) != post.id or re.match(r"^\s*(?:re|aw|sv)\s*:", post.subject, re.I):
                if reason == "names no date and time for an event":
                    reason = "a reply that names no date and time for an event"
            yield Skipped(item=_item(post), reason=reason)

    for cluster in clusters:
        events = [(p, r) for p, r in cluster if r.is_event]
        best_post, best = max(events, key=lambda pr: (pr[1].score, pr[0].sent))
        # a time change announced after the announcement: its time wins, the rest stays the best post's
        updates = [(p, r) for p, r in events[1:] if isinstance(r.start, datetime) and _is_update(p)
                   and isinstance(best.start, datetime) and r.start != best.start]
        if updates:
            _, latest = max(updates, key=lambda pr: pr[0].sent)
            best = replace(best, start=latest.start, end=latest.end, timezone=latest.timezone)
        root_post = cluster[0][0]
        cancelled = any(r.cancelled for _, r in cluster)
        location = best.location or next((r.location for _, r in events if r.location), None)
        body_post = max((p for p, r in events if not r.cancelled), key=lambda p: len(p.body), default=best_post)
        title_post = next((p for p, r in events if not re.match(r"^\s*(?:re|aw|sv|fwd?|fw)\s*:", p.subject, re.I)),
                          root_post)
        title = clean_subject(title_post.subject)
        title = re.sub(r"^\s*(?:cancel+ed|canceled|postponed)\s*[:!-]?\s*", "", title, flags=re.I) or title
        urls = [p.url for p, _ in cluster if p.url]
        yield RawEvent(
            external_id=root_post.id,
            title=title,
            start=best.start,
            end=best.end,
            timezone=best.timezone,
            location=location,
            url=urls[0] if urls else None,
            description=strip_quotes(body_post.body)[:4000],
            status=Status.CANCELLED if cancelled else Status.CONFIRMED,
            extra={"posts": ", ".join(p.id for p, _ in cluster)},
        )
        for post, _ in cluster:
            if post is not root_post:
                yield Skipped(item=_item(post), reason=f"the same announcement as {root_post.id}; collapsed into it")


def _item(post: Post) -> str:
    ident = post.id if post.id.startswith("<") else f"<{post.id}>"
    return f"{post.subject.strip()[:120] or '(no subject)'} {ident}"


def post_id(*parts: str) -> str:
    """A stable id for a post that has none of its own."""
    return "post-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


__all__ = ["Post", "html_to_text", "Reading", "read_post", "records_from_posts", "clean_subject", "strip_quotes",
           "find_place", "post_id", "ZONE_WORDS"]

_UTC = timezone.utc
