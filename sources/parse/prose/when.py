"""Dates and times as list posts write them: the hits a post's text holds, and the zone a word names.

"March 10", "Tue, Mar. 10th", "10 March 2026", "3/10", "2026-03-10", "10.03.2026", "today",
"tomorrow", "this Saturday", "next Tuesday"; "6:30pm", "8.30 p.m.", "6:30-8:30 PM", "from 6 to 8 pm",
"noon", with a zone when one is named ("7pm ET", "6:30 PM Pacific", "18:30 CET").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aggregator.timezones import resolve_zone
from sources.parse.dates import ZONE_ABBREVIATIONS


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
_FRENCH_MONTHS = {"jan": 1, "fév": 2, "fev": 2, "mar": 3, "avr": 4, "mai": 5, "jui": 7, "aoû": 8, "aou": 8, "sep": 9,
                  "oct": 10, "nov": 11, "déc": 12, "dec": 12}

# A case-blind pattern whose match may start with many words is tried in full at every position of a post
# (the engine skips no position for an alternative that begins with a letter, under re.I). A lookahead
# naming the characters its matches can start with lets it pass over the others at once; it matches
# nothing more and nothing less. The sets: weekdays (fmstw), "the" (t), months (adfjmnos), digits.
_STARTS_WEEKDAY_MONTH = "(?=[adfjmnostw])"
_STARTS_WEEKDAY_DIGIT = r"(?=[\dfmstw])"
_STARTS_DIGIT = r"(?=\d)"

# Zones as posts name them. Summer/winter abbreviations both mean the region's local time:
# people write "7pm EST" in July and mean Eastern time.
ZONE_WORDS = {
    **ZONE_ABBREVIATIONS,  # the US zones event pages print too
    "alaska": "America/Anchorage", "hawaii": "Pacific/Honolulu",
    "arizona": "America/Phoenix",  # Arizona keeps standard time all year: never Denver's summer time
    "cet": "Europe/Berlin", "cest": "Europe/Berlin", "met": "Europe/Berlin",
    "bst": "Europe/London", "uk": "Europe/London", "wet": "Europe/Lisbon", "z": "UTC",
    "aest": "Australia/Sydney", "aedt": "Australia/Sydney",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo",
    # "4pm Phoenix time", "noon New York time": a city's time is its zone's
    "new york": "America/New_York", "chicago": "America/Chicago", "denver": "America/Denver",
    "phoenix": "America/Phoenix", "los angeles": "America/Los_Angeles",
    "anchorage": "America/Anchorage", "honolulu": "Pacific/Honolulu", "az": "America/Phoenix",
}
# A calendar card's Windows display name, "(UTC-05:00) Eastern Time (US & Canada)": the offset is the
# zone's standard one all year, so the name, not the offset, says what the time is (and never UTC).
_WINDOWS_DISPLAY_RE = (r"(?:UTC|GMT)\s*[+\-−]\s*\d{1,2}(?:[:.]\d\d)?\)\s*"
                       r"(?:(?:eastern|central|mountain|pacific)\s+time\s*\(US\s*&(?:amp;)?\s*Canada\)"
                       r"|arizona|alaska|hawaii)")
_ZONE_RE = (rf"(?P<tz>{_WINDOWS_DISPLAY_RE}"
            r"|(?:[ECMP][SD]?T|AK[SD]T|HST|CES?T|MET|BST|WET|GMT|UTC|AE[SD]T|IST|JST)\b"
            r"|(?:eastern|central|mountain|pacific|alaska|hawaii|arizona)(?:\s+(?:standard|daylight))?"
            r"(?:\s+time)?\b"
            r"|(?:new\s+york|chicago|denver|phoenix|los\s+angeles|anchorage|honolulu|AZ)\s+time\b)")

_AMPM = r"(?:a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])"
_HOUR = r"(?:[01]?\d|2[0-3])"
# A clock time as posts write it. Minutes may follow a colon or a dot ("6:30pm", "8.30 p.m.").
# A bare hour is a time only where its context says so: "from 6 to 8", "between 8 and 10 pm",
# "6-8pm", "11–12:30".
_CLOCK = (
    rf"(?:{_HOUR}(?:[:.][0-5]\d)?\s*{_AMPM}"
    rf"|{_HOUR}:[0-5]\d[ap](?![a-z])"
    # "6p", "9a-noon": a one-letter half of the day, but not a unit or suite number ("Suite 4a", "#2b")
    rf"|(?<!suite\s)(?<!unit\s)(?<!apt\s)(?<!room\s)(?<!ste\s)(?<!level\s)(?<!#){_HOUR}[ap](?![a-z0-9])"
    rf"|(?<=from\s){_HOUR}(?=\s*(?:-|–|—|to|until|till)\s*{_HOUR}\b(?![:.]?\d))"
    rf"|(?<=between\s){_HOUR}(?=\s*and\s*{_HOUR}\b(?![:.]?\d))"
    rf"|{_HOUR}[:.][0-5]\d|noon|midnight"
    rf"|{_HOUR}(?=\s*(?:-|–|—|to|until|till|(?<=between\s\d)\s*and|(?<=between\s\d\d)\s*and)\s*\d{{1,2}}(?:[:.][0-5]\d)?\s*(?:{_AMPM}|[ap](?![a-z0-9])))"
    rf"|{_HOUR}(?=\s*(?:-|–|—|to)\s*{_HOUR}:[0-5]\d)"
    rf"|{_HOUR}(?=\s*(?:-|–|—|to|until|till)\s*(?:noon|midnight)\b)"
    # "9-5 both days", "10-4 daily": a range of bare hours said to repeat over days is a time
    rf"|{_HOUR}(?=\s*(?:-|–|—|to)\s*{_HOUR}\s+(?:both\s+days|each\s+day|every\s+day|daily)\b)"
    # "12-1 PT", "6-8 Eastern": a range of bare hours that a zone word follows is a time
    rf"|{_HOUR}(?=\s*(?:-|–|—|to)\s*{_HOUR}\s*\(?\s*(?:[ECMP][SD]?T|AK[SD]T|HST|eastern|central|mountain|pacific)\b)"
    # "tomorrow at 7", "the picnic is at 1 at Montrose Harbor", "Thurs 3/5 @ 7": a bare hour right after "at"
    rf"|(?:(?<=\bat\s)|(?<=@\s)|(?<=@)){_HOUR}(?![:.]?\d)(?=\s*(?:$|[,.;:!)\n—–]|\s-\s|\s+(?:at|in|on|with|for|sharp|and|o['’]?clock"
    rf"|tonight|tomorrow|today|we|we'll)\b"
    # "this Sunday at 5 HST", "tomorrow at 7 Eastern time": a zone word after it
    rf"|\s+\(?(?:[ECMP][SD]?T|AK[SD]T|HST)\b|\s+(?:eastern|central|mountain|pacific)(?:\s+(?:standard|daylight))?\s+time\b"
    rf"|\s+(?:eastern|central|mountain|pacific)(?=\s*(?:$|[,.;:!)\n])|\s+(?:at|on|in|for|with)\b)))"
    # French: "à 19h", "à 19h30"
    rf"|(?<=à\s)(?:[01]?\d|2[0-3])h(?:[0-5]\d)?(?![a-z]))"
)
_RANGE_SEP = r"\s*(?:-|–|—|to|until|till)\s*"
# An end written as a bare hour after a start with minutes: "6:30-8 at Cafe Lula", "11:30 to 1."
_BARE_END = (r"(?:(?<=\sto\s)|(?<=-)|(?<=–)|(?<=—)|(?<=\suntil\s)|(?<=\still\s))"
             rf"{_HOUR}(?![:.]?\d)(?=\s*(?:[.,;:)!(\n]|$)|\s+(?:at|@|in|on|for|with|and|or|both|each|daily)\b"
             r"|\s*\(?\s*(?:[ECMP][SD]?T|AK[SD]T|HST|eastern|central|mountain|pacific)\b)")

_TIME_RE = re.compile(
    # it starts with "from", "between", a digit, "noon" or "midnight"
    rf"(?=[\dbfmn])(?<![\w:/.])(?:from\s+|(?P<between>between\s+))?(?P<t1>{_CLOCK})"
    rf"(?:(?:{_RANGE_SEP}|(?(between)\s+and\s+|(?!)))(?P<t2>{_CLOCK}|{_BARE_END}))?"
    # "12:00 Noon Central": the clock said twice, then the zone
    r"(?:(?<=12:00)\s+noon\b)?"
    rf"(?:\s*\(?\s*{_ZONE_RE}\)?)?",
    re.I,
)
_EVENING_RE = re.compile(r"\b(?:tonight|evening|night|dinner)\b", re.I)
_MORNING_RE = re.compile(r"\b(?:morning|breakfast)\b", re.I)
_ALL_DAY_RE = re.compile(r"\ball[- ]day\b", re.I)
_NOT_A_NAME = re.compile(rf"^(?:{_WD_RE}|today|tomorrow|this|every|on)\W*$", re.I)


def _evening_cue(before: str) -> bool:
    """Whether the words before a time say evening ("tonight", "Thursday night"). A capitalised "Night"
    after another capitalised word is part of a name ("Demo and Practice Night", "Networking Night"):
    it says nothing of the hour ("... Practice Night: March 5 @ 11:00")."""
    for m in _EVENING_RE.finditer(before):
        word, previous = m.group(0), before[:m.start()].split()[-1:]
        if word.lower() != "tonight" and word[0].isupper() and previous and previous[0][0].isupper() \
                and previous[0].isalpha() and not _NOT_A_NAME.match(previous[0]):
            continue
        return True
    return False

# Pieces every match of a date pattern holds (and of spans.py's): a post that holds none (most posts) is
# not scanned with the pattern. Each search starts only at a digit (or at "20"), far cheaper than the scan.
# A day written before its month: "10 March", "the 3rd of May", "14-15 June"
DAY_FIRST_RE = re.compile(rf"\d(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}", re.I)
_FRENCH_DAY_RE = re.compile(r"\d(?:er)?\s+(?:janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre"
                            r"|novembre|d[ée]cembre)\b", re.I)
ISO_DATE_RE = re.compile(r"20\d\d-\d\d-\d\d")  # "2026-03-10"
US_DATE_RE = re.compile(r"\d/\d")  # "3/10" (URLs hold slashes, seldom between digits)


def holds(piece: re.Pattern, text: str, seen: dict | None = None) -> bool:
    """Whether the text holds the piece; `seen` remembers the answers for one text (dates and spans ask)."""
    if seen is None:
        return piece.search(text) is not None
    if piece not in seen:
        seen[piece] = piece.search(text) is not None
    return seen[piece]


# Each with the strings every match of it holds (a substring test), or a piece above every match holds.
_DATE_PATTERNS = [
    # Tuesday, March 10th, 2026 / Mar. 10 / March 10-11
    (re.compile(rf"{_STARTS_WEEKDAY_MONTH}(?<![\w/])(?:{_WD_RE}\.?,?\s+)?(?:the\s+)?(?P<mon>{_MONTH_RE})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?"
                rf"(?![\d:])(?:,?\s+(?P<year>20\d\d))?(?!\d)", re.I), ()),
    # Tuesday 10 March 2026 / 10th of March
    (re.compile(rf"{_STARTS_WEEKDAY_DIGIT}(?<![\w/])(?:{_WD_RE}\.?,?\s+)?(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_RE})\b\.?"
                rf"(?:,?\s+(?P<year>20\d\d))?", re.I), DAY_FIRST_RE),
    # 2026-03-10
    (re.compile(r"(?<![\w/.-])(?P<year>20\d\d)-(?P<mnum>\d\d)-(?P<day>\d\d)(?![\d])"), ISO_DATE_RE),
    # Tue 3/10 or 3/10/2026 or 3/10/26 (US order)
    (re.compile(rf"{_STARTS_WEEKDAY_DIGIT}(?<![\w/.])(?:{_WD_RE}\.?,?\s+)?(?P<mnum>1[0-2]|0?[1-9])/(?P<day>3[01]|[12]\d|0?[1-9])"
                r"(?:/(?P<year>(?:20)?\d\d))?(?![\d/])", re.I), US_DATE_RE),
    # le 12 mai 2026 (French: the month names are not English words, so no guessing)
    (re.compile(_STARTS_DIGIT + r"(?<![\w/])(?P<day>3[01]|[12]\d|0?[1-9])(?:er)?\s+(?P<mon_fr>janvier|f[ée]vrier|mars|avril|mai|juin|juillet"
                r"|ao[uû]t|septembre|octobre|novembre|d[ée]cembre)\b(?:\s+(?P<year>20\d\d))?", re.I), _FRENCH_DAY_RE),
    # 10.03.2026 (European order; the year is required so "6.30" is never a date)
    (re.compile(r"(?<![\w/.])(?P<day>3[01]|[12]\d|0?[1-9])\.(?P<mnum>1[0-2]|0?[1-9])\.(?P<year>20\d\d)(?!\d)"), (".20",)),
]
_WEEKDAY_THE_NTH = re.compile(rf"\b(?P<wd>{_WD_RE}),?\s+the\s+(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)\b"
                              rf"|\bthe\s+(?P<day2>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)\s*[(,]\s*(?P<wd2>{_WD_RE})\b\)?", re.I)
_ORDINAL = re.compile(r"\d(?:st|nd|rd|th)", re.I)
# "on the 7th", "is on the 21st at 7pm": a day of the month with no month, the next such day from the post's date.
# Not "on the 3rd floor", "on the 2nd Tuesday", "on the 10th anniversary".
_ON_THE_NTH = re.compile(
    r"\bon\s+the\s+(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)\b"
    rf"(?!\s*(?:-|–)?\s*(?:floors?|annual|anniversary|century|grade|row|place|street|st\b|ave(?:nue)?|of\b|week|month|day\s+of"
    rf"|time|try|attempt|page|edition|round|level|birthday|{_WD_RE}\b))",
    re.I,
)
_RELATIVE_RE = re.compile(
    # it starts with a weekday or today/tonight/tomorrow/tmrw/this, a week from/coming/next/last/on/every
    rf"(?=[aceflmnostw])\b(?:(?P<word>today|tonight|tomorrow|tmrw|tmw|tomorow|this\s+(?:evening|afternoon|morning))"
    rf"|(?:(?P<rel>a\s+week\s+from|this\s+coming|this|next|coming|last|on|every)\s+)?(?P<wd>{_WD_FULL_RE}|{_WD_RE}(?=\.?\s*(?:,|at|@|\d|from|night|evening|morning|afternoon))"
    # "this Thu.", "next Sat": after this/next/coming a short name is a day whatever follows
    rf"|(?:(?<=this\s)|(?<=next\s)|(?<=coming\s)){_WD_RE}(?=\.|\b)))\b"
    rf"(?:\s+(?P<nextweek>(?:of\s+)?next\s+week)\b)?",
    re.I,
)

# "every Monday and ", "every Tue/": the weekdays that follow share the "every"
_EVERY_BEFORE = re.compile(rf"\bevery\s+(?:{_WD_RE}\.?\s*(?:,|and|&|/|or)\s*)+$", re.I)


def _is_deadline(before: str) -> bool:
    """Whether the words before a date make it a deadline ("register by", "until", "due")."""
    if not _DEADLINE_BEFORE.search(before):
        return False
    # "Friday through Sunday, October 2-4", "Saturday to Monday", "Friday 6pm through Sunday 2pm":
    # a run of days, not a deadline
    return not _RUN_OF_DAYS_BEFORE.search(before)


_RUN_OF_DAYS_BEFORE = re.compile(rf"\b{_WD_RE}\.?[^\n]{{0,20}}?\s(?:through|thru|to|until|till|-|–)\s*"
                                 rf"(?:{_WD_RE}\.?,?\s*(?:\d{{1,2}}(?::\d\d)?\s*[ap]\.?m\.?,?\s*)?)?$"
                                 rf"|\b{_WD_RE}\.?\s*(?:through|thru|to|until|till|-|–)\s*$", re.I)


# A date in this context is a deadline, not the event's date.
_DEADLINE_BEFORE = re.compile(
    r"(?:\b(?:by|before|until|thru|through|deadline|due|expires?|expiring|closes?|closing|closed|no\s+later\s+than"
    r"|renew(?:al)?s?|rsvp|register|registration|submit|submissions?|applications?|apply|posted|sent|ends?)"
    r"\b[\s:,]*(?:(?:on|is|are|of|the|at|noon|midnight|\d{1,2}(?::\d\d)?\s*[ap]\.?m\.?|be|will|must|received"
    r"|this|next|coming|" + _WD_RE + r"\.?)[\s,]+){0,3})$",
    re.I,
)


@dataclass
class _DateHit:
    pos: int
    end: int
    day: date
    in_subject: bool
    deadline: bool = False
    weak: bool = False  # a bare weekday ("Sunday"): used only when no explicit date is given
    relative: bool = False  # "this Saturday", "tomorrow": counted from the post's date


@dataclass
class _TimeHit:
    pos: int
    end: int
    start: time
    stop: time | None
    zone: str | None
    deadline: bool = False
    # "1:30 PM MST / 12:30 PM PT": the same moment on another zone's clock, which says which member
    # of an ambiguous zone word's family is meant
    also: tuple[time, str] | None = None


_DATE_LABEL = re.compile(r"(?:^|\n)\s*(?:date|dates|when|datum)\s*:\s*(?:[^\n]{0,12})$", re.I)
_RANGE_START = re.compile(r"(?<![\d/.])(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|—|to|until|through|thru)\s*$", re.I)


def _year_for(month: int, day: int, sent_local: date, tolerance: int = 1) -> date | None:
    """The year of a date written without one: the first such day not before the post (a day of
    tolerance), except that a day up to RECENT_PAST days before the post is that past day ("photos
    from the social (Feb 28)" sent March 2), not the same day next year."""
    for year in (sent_local.year - 1, sent_local.year, sent_local.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= sent_local - timedelta(days=tolerance):
            return candidate
        if (sent_local - candidate).days <= RECENT_PAST:
            return candidate
    return None


def _next_day_of_month(day: int, sent_local: date) -> date | None:
    """The first date with this day of the month on or after the post's own day ("on the 7th" sent
    March 2 is March 7; sent March 9 it is April 7), or None when no month soon has that day."""
    year, month = sent_local.year, sent_local.month
    for _ in range(3):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= sent_local:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


# A year-less date this many days before the post is read as past, not as next year's.
RECENT_PAST = 60
# An announcement names a handful of dates and times; past this many of one kind the rest of a post
# (a calendar dump, a pasted spreadsheet, garbage) is not searched, so reading stays linear.
MAX_HITS = 150


def _find_dates(text: str, subject_len: int, sent_local: date, seen: dict | None = None) -> list[_DateHit]:
    """The dates the text names. `seen`: what holds() found in this text so far (see there)."""
    hits: list[_DateHit] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    for pattern, needs in _DATE_PATTERNS:
        if isinstance(needs, re.Pattern):
            if not holds(needs, text, seen):
                continue
        elif not all(part in text for part in needs):
            continue
        for m in pattern.finditer(text):
            if len(hits) >= MAX_HITS:
                break
            if not free(m.start(), m.end()):
                continue
            groups = m.groupdict()
            if groups.get("mon"):
                word = groups["mon"]
                if word.lower() == "may" and not word[0].isupper():
                    continue  # the verb, not the month
                month = _MONTHS[word[:3].lower()]
            elif groups.get("mon_fr"):
                word = groups["mon_fr"].lower()
                month = 6 if word == "juin" else _FRENCH_MONTHS[word[:3]]
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
    # both patterns below read an ordinal ("the 7th"): most posts hold none, and a search for one is cheap
    ordinal = _ORDINAL.search(text) is not None
    for m in _WEEKDAY_THE_NTH.finditer(text) if ordinal else ():
        if len(hits) >= MAX_HITS:
            break
        if not free(m.start(), m.end()):
            continue
        target = _WEEKDAYS[(m.group("wd") or m.group("wd2"))[:3].lower()]
        day = int(m.group("day") or m.group("day2"))
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
    for m in _ON_THE_NTH.finditer(text) if ordinal else ():
        if len(hits) >= MAX_HITS:
            break
        if not free(m.start(), m.end()):
            continue
        found = _next_day_of_month(int(m.group("day")), sent_local)
        if found is None:
            continue
        taken.append((m.start(), m.end()))
        # like a bare weekday, it gives way to a date the post spells out
        hits.append(_DateHit(m.start(), m.end(), found, m.start() < subject_len, weak=True, relative=True))
    for m in _RELATIVE_RE.finditer(text):
        if len(hits) >= MAX_HITS:
            break
        if not free(m.start(), m.end()):
            continue
        word = (m.group("word") or "").lower()
        if word:
            offset = 1 if word in ("tomorrow", "tmrw", "tmw", "tomorow") else 0
            found = sent_local + timedelta(days=offset)
        else:
            rel = re.sub(r"\s+", " ", (m.group("rel") or "").lower())
            wd_text = m.group("wd")
            if not rel and not wd_text[0].isupper():
                continue  # "a saturday" in passing
            if rel and not wd_text[0].isupper() and not re.fullmatch(_WD_FULL_RE, wd_text, re.I) \
                    and not re.match(r"\.?\s*(?:,|at|@|\d|from|night|evening|morning|afternoon)", text[m.end("wd"):], re.I):
                continue  # "this sun", "next wed" in lower case with nothing after it that says a day
            if not rel and text[m.end():m.end() + 2] in ("'s", "’s"):
                continue  # "Saturday's expo", "Tuesday's webinar": a day already named, mostly past
            around = text[max(0, m.start() - 12):m.start()].lower() + "|" + text[m.end():m.end() + 14].lower()
            if re.search(r"(?:through|thru|to|-|–)\s*\|", around) or re.search(r"\|\s*(?:through|thru|to|-|–)\s*[a-z]", around):
                continue  # "Monday through Friday": opening hours, not a date
            if rel == "every" or _EVERY_BEFORE.search(text[max(0, m.start() - 40):m.start()]):
                continue  # a standing schedule ("every Monday and Wednesday"), not one date
            target = _WEEKDAYS[wd_text[:3].lower()]
            ahead = (target - sent_local.weekday()) % 7
            if rel == "last":
                found = sent_local - timedelta(days=(sent_local.weekday() - target) % 7 or 7)
            elif m.group("nextweek"):
                # "Wednesday next week": the weekday in the coming Sunday-to-Saturday week
                next_sunday = sent_local + timedelta(days=7 - (sent_local.weekday() + 1) % 7)
                found = next_sunday + timedelta(days=(target + 1) % 7)
            elif rel == "next":
                found = sent_local + timedelta(days=ahead or 7)
            elif rel == "a week from":
                found = sent_local + timedelta(days=ahead + 7)  # "a week from Thursday": the Thursday after this one
            else:  # this / coming / on / bare weekday: the upcoming one (today counts)
                found = sent_local + timedelta(days=ahead)
        taken.append((m.start(), m.end()))
        # a bare weekday, or "on Tuesday", gives way to an explicit date elsewhere in the post
        weak = not word and (m.group("rel") or "").strip().lower() in ("", "on") and not m.group("nextweek")
        hits.append(_DateHit(m.start(), m.end(), found, m.start() < subject_len, weak=weak, relative=True))
    hits.sort(key=lambda h: h.pos)
    for hit, following in zip(hits, hits[1:]):
        # "Next Saturday (Oct 10)", "This Wednesday, Aug 12": the date the writer spelled out wins
        if hit.relative and not following.relative and following.pos - hit.end <= 4 \
                and re.fullmatch(r"[\s,(]*", text[hit.end:following.pos]):
            hit.weak = True
    for hit in hits:
        before = text[max(0, hit.pos - 40):hit.pos]
        before = before.split("\n")[-1]
        if _is_deadline(before):
            hit.deadline = True
    return hits


_CLOCK_PARTS = re.compile(r"(\d{1,2})(?:[:.h](\d\d))?\s*(a|p)?")
_MERIDIEM = re.compile(r"[ap]\.?\s?m")
_CLOCK_ONE_LETTER = re.compile(r"\d{1,2}(?::\d\d)?[ap]")


def _clock(text: str, ampm_hint: str | None = None) -> tuple[int, int, str | None] | None:
    t = text.strip().lower()
    if t == "noon":
        return 12, 0, "pm"
    if t == "midnight":
        return 0, 0, "am"
    m = _CLOCK_PARTS.match(t)
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    ap = (m.group(3) + "m") if m.group(3) and (_MERIDIEM.search(t) or _CLOCK_ONE_LETTER.fullmatch(t)) \
        else None
    return hour, minute, ap


def _to_time(hour: int, minute: int, ap: str | None, hint: str | None = None) -> time | None:
    """A clock time; with no am/pm, `hint` ("pm" after "tonight", "evening") or the list habit decides."""
    if ap is None and hint and 1 <= hour <= 11:
        ap = hint
    if ap:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ap == "pm" else 0)
    elif hour > 23:
        return None
    elif 1 <= hour <= 7:
        hour += 12  # "at 6:30", "tomorrow at 7" with no am/pm: an evening event, as lists write them
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


# "this Sat 10-2", "Saturday 1-4 at the park": a range of bare hours right after a weekday is a time
_DAY_THEN_HOURS = re.compile(rf"(?=[fmstw])\b{_WD_RE}\.?,?\s+(?P<h1>{_HOUR})\s*(?:-|–|—|to)\s*(?P<h2>{_HOUR})\b"
                             r"(?![:./]?\d|\s*[ap]\.?m|\s*\(?\s*(?:[ECMP][SD]?T|AK[SD]T|HST|eastern|central|mountain|pacific)\b)",
                             re.I)


_HOUR_RANGE = re.compile(r"\d\s*(?:-|–|—|to)\s*\d", re.I)


def _find_times(text: str, dates: Iterable[tuple[int, int]] = ()) -> list[_TimeHit]:
    hits = []
    # a range of bare hours after a weekday holds two digits around a dash or "to": most posts hold none
    hour_range = _HOUR_RANGE.search(text) is not None
    for m in _DAY_THEN_HOURS.finditer(text) if hour_range else ():
        if len(hits) >= MAX_HITS:
            break
        if re.search(r"(?:through|thru|to|until|-|–)\s*$", text[max(0, m.start() - 12):m.start()], re.I):
            continue  # "open Monday through Friday, 9 to 5": opening hours
        h1, h2 = int(m.group("h1")), int(m.group("h2"))
        start_h = h1 if 7 <= h1 <= 11 else (h1 + 12 if 1 <= h1 <= 6 else h1)
        end_h = h2 + 12 if h2 < 12 and (h2 <= h1 or start_h >= 12) else h2
        if 0 < start_h < end_h < 24:
            hits.append(_TimeHit(m.start("h1"), m.end(), time(start_h, 0), time(end_h, 0), None))
    for m in _time_matches(text, dates):
        if len(hits) >= MAX_HITS:
            break
        if any(h.pos <= m.start("t1") < h.end for h in hits):
            continue  # already read as "Sat 10-2"
        first = _clock(m.group("t1"))
        second = _clock(m.group("t2")) if m.group("t2") else None
        if first is None:
            continue
        h1, m1, ap1 = first
        start_t = stop_t = None
        before = text[max(0, m.start() - 50):m.start()].split("\n")[-1]
        hint = "pm" if _evening_cue(before) else ("am" if _MORNING_RE.search(before) else None)
        if second:
            h2, m2, ap2 = second
            if ap1 is None and ap2:
                # "6:30-8:30pm": the start shares the end's half of the day, unless that puts it after the end
                candidate = _to_time(h1, m1, ap2)
                end_candidate = _to_time(h2, m2, ap2)
                if candidate and end_candidate and candidate > end_candidate:
                    candidate = _to_time(h1, m1, "am")
                start_t, stop_t = candidate, end_candidate
            elif ap1 is None and ap2 is None and hint == "pm" and h1 <= 11 and h2 <= 11 and h2 * 60 + m2 > h1 * 60 + m1:
                start_t, stop_t = time(h1 + 12, m1), time(h2 + 12, m2)  # "Thursday night 7-8:30"
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
            after_at = bool(re.search(r"(?:\bat\s|@\s?)$", text[max(0, m.start("t1") - 3):m.start("t1")], re.I))
            if ap1 is None and not raw.isalpha() and ":" not in raw and "." not in raw and "h" not in raw.lower() \
                    and not after_at:
                continue
            if ap1 is None and "." in raw and not re.search(r"\d\.\d\d", raw):
                continue
            if raw.startswith("0") or raw.isalpha():
                hint = None  # "07:30" is a 24-hour time
            start_t = _to_time(h1, m1, ap1, hint)
        if start_t is None:
            continue
        zone = None
        if m.group("tz"):
            word = re.sub(r"\s+", " ", re.sub(r"\s+(?:standard|daylight|time)", "", m.group("tz").lower())).strip()
            zone = ZONE_WORDS.get(word)
            if re.match(_WINDOWS_DISPLAY_RE, m.group("tz"), re.I):
                named = resolve_zone("(" + m.group("tz").replace("&amp;", "&").replace("−", "-"))
                zone = named.key if named else None
            if re.match(r"\s*\(?\s*arizona\b", text[m.end():m.end() + 14], re.I):
                zone = ZONE_WORDS["arizona"]  # "6pm MST (Arizona)"
        hits.append(_TimeHit(m.start(), m.end(), start_t, stop_t, zone))
    for hit in hits:
        before = text[max(0, hit.pos - 30):hit.pos].split("\n")[-1]
        if _is_deadline(before):
            hit.deadline = True
    for hit, other in zip(hits, hits[1:]):
        if hit.zone and other.zone and other.zone != hit.zone and re.fullmatch(r"\s*/\s*", text[hit.end:other.pos]):
            hit.also = (other.start, other.zone)
    return hits



def _standard_offset(zone: ZoneInfo, year: int) -> timedelta:
    """The zone's standard-time offset that year (the smaller of its January and July offsets)."""
    return min(datetime(year, month, 15, 12, tzinfo=zone).utcoffset() for month in (1, 7))


# Zones that share a standard time with a better-known one but keep no daylight saving.
_FAMILY_MEMBERS = ("America/Phoenix", "America/Denver")


def _named_zone(word_zone: str, source_zone: ZoneInfo, day: date, clock: time | None = None,
                also: tuple[time, str] | None = None) -> ZoneInfo:
    """The zone a post's zone word means. A word for the source's own region means the source's
    zone: "9 AM MST" on an Arizona list is Phoenix time (no DST), not Denver's; "CST" in
    Saskatchewan is Regina's."""
    named = resolve_zone(word_zone)
    if named is None:
        return source_zone
    if also is not None and clock is not None:
        # the other zone's clock pins the moment: of the family ("MST": Denver or Phoenix), the member
        # whose reading is that moment ("1:30 PM MST / 12:30 PM PT" in June is Arizona's time)
        other = resolve_zone(also[1])
        if other is not None:
            moment = datetime.combine(day, also[0], tzinfo=other)
            for member in (source_zone, named, *(ZoneInfo(k) for k in _FAMILY_MEMBERS)):
                if _standard_offset(member, day.year) == _standard_offset(named, day.year) and \
                        (datetime.combine(day, clock, tzinfo=member) - moment).total_seconds() % 86400 == 0:
                    return member
    if named.key == "America/Phoenix":
        return named  # "Arizona time", "MST (Arizona)": said on purpose, even on a Denver list
    if named.key != source_zone.key and \
            _standard_offset(named, day.year) == _standard_offset(source_zone, day.year):
        return source_zone
    return named


