"""Dates and times as web pages write them, read into datetimes.

Pure functions, no I/O. `parse_when(text)` reads what an event listing says
about *when*:

    "Tue, March 3 · 6:30 PM"          one start time, year missing
    "3/3/2026 18:30"                  US numeric date (day first with dayfirst=True)
    "March 3rd, 6:30pm-8pm"           ordinals, a time range sharing one date
    "March 3 6:30 – 8:00 pm"          the meridiem written once for both ends
    "2026-03-03T18:30"                ISO 8601, with or without an offset
    "March 3 - 5, 2026"               a date range: all-day, several days
    "Mar 3, 2026 10pm - 2am"          an end past midnight is the next day
    "6:30 PM CST"                     US zone abbreviations read as IANA zones

A year missing from the text is read as the nearest such day to `reference`
(the page's own date: its Last-Modified, else today); a weekday written beside
the date picks the year it matches. Datetimes come back naive unless the text
names an offset or a zone; dates (no time given) mean all day. Multi-day date
ranges come back with an exclusive end (the day after the last day), as
iCalendar's DTEND.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil import parser as _dateutil

__all__ = ["When", "parse_when", "parse_iso", "nearest_year", "ZONE_ABBREVIATIONS"]


@dataclass(frozen=True, slots=True)
class When:
    start: datetime | date
    end: datetime | date | None = None

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


# US abbreviations event pages print after a time; mapped to the zone they stand for.
ZONE_ABBREVIATIONS = {
    "et": "America/New_York", "est": "America/New_York", "edt": "America/New_York",
    "eastern": "America/New_York",
    "ct": "America/Chicago", "cst": "America/Chicago", "cdt": "America/Chicago",
    "central": "America/Chicago",
    "mt": "America/Denver", "mst": "America/Denver", "mdt": "America/Denver",
    "mountain": "America/Denver",
    "pt": "America/Los_Angeles", "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles",
    "pacific": "America/Los_Angeles",
    "akst": "America/Anchorage", "akdt": "America/Anchorage", "alaska": "America/Anchorage",
    "hst": "Pacific/Honolulu", "hawaii": "Pacific/Honolulu",
    "arizona": "America/Phoenix",  # Arizona keeps standard time all year: never Denver's summer time
    "utc": "UTC", "gmt": "UTC",
}

_ISO = re.compile(
    r"(?<![\d/.])(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?(?![\d])"
)
_ISO_BASIC = re.compile(r"\d{8}(?:T\d{4}(?:\d{2})?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?", re.I)
_DASHES = re.compile(r"\s*(?:[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]|--?|\bto\b|\btill\b|\buntil\b|\bthru\b|\bthrough\b|\bends?\b:?)\s*",
                     re.I)
_MERIDIEM = re.compile(r"\b([ap])\.?\s?m\b\.?", re.I)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_TIME = r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?"
_TIME_RANGE = re.compile(r"(?<![\d/:.])" + _TIME + r"\s*-\s*" + _TIME + r"(?![\d/:])", re.I)
_ONE_TIME = re.compile(r"(?<![\d/:.])(\d{1,2})(?:([:.h])(\d{2}))?\s*(am|pm)?(?![\d/:]|\.\d)", re.I)
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WEEKDAY = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\b", re.I)
_ZONE_WORD = re.compile(r"(?<![\w/])(" + "|".join(sorted(ZONE_ABBREVIATIONS, key=len, reverse=True))
                        + r")(?:\s+time)?(?![\w/])", re.I)
_RELATIVE = re.compile(r"\b(today|tonight|tomorrow)\b", re.I)
_MONTH_WORD = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?", re.I)
_FILLER = re.compile(r"\b(at|from|on|starting|starts|begins|doors|when|date|time|and)\b[:]?", re.I)


def parse_iso(text: str) -> datetime | date | None:
    """An ISO 8601 date or date-time (offset optional, 'Z' or +hhmm) or None."""
    text = (text or "").strip()
    if not text:
        return None
    m = _ISO.fullmatch(text) or _ISO.fullmatch(text.replace(" ", "T", 1))
    if not m:
        try:
            value = _dateutil.isoparse(text)
        except (ValueError, OverflowError):
            return None
        return value
    return _iso_from_match(m)


def _iso_from_match(m: re.Match) -> datetime | date | None:
    y, mo, d, hh, mm, ss, off = m.groups()
    try:
        if hh is None:
            return date(int(y), int(mo), int(d))
        value = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0))
    except ValueError:
        return None
    if off:
        zone = _offset(off)
        return value.replace(tzinfo=zone) if zone is not None else None
    return value


@lru_cache(maxsize=256)  # a page, a feed write one or two offsets, on every date
def _offset(off: str) -> tzinfo | None:
    """The fixed zone "Z", "+05:30", "-0800" or "+05" names; None past a day."""
    if off == "Z":
        return timezone.utc
    sign = 1 if off[0] == "+" else -1
    digits = off[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours * 60 + minutes >= 24 * 60:  # "+48:00" places the time nowhere (timezone() refuses it)
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def nearest_year(month: int, day: int, reference: date, weekday: int | None = None) -> date | None:
    """The date with this month and day nearest to `reference` (one matching `weekday` if given)."""
    candidates = []
    years = (reference.year - 1, reference.year, reference.year + 1)
    if month == 2 and day == 29:  # only leap years have it
        years = tuple(range(reference.year - 4, reference.year + 5))
    for year in years:
        try:
            candidates.append(date(year, month, day))
        except ValueError:  # 29 February in a common year
            continue
    if weekday is not None:
        matching = [c for c in candidates if c.weekday() == weekday]
        if not matching:  # a weekday further away still names the year; look a few years out
            for year in range(reference.year - 6, reference.year + 7):
                try:
                    c = date(year, month, day)
                except ValueError:
                    continue
                if c.weekday() == weekday:
                    matching.append(c)
        candidates = matching or candidates
    if not candidates:
        return None
    return min(candidates, key=lambda c: (abs((c - reference).days), c < reference))


# Compiled once: re.sub(pattern, ...) looks each pattern up again on every call, for every date.
_SEPARATORS = re.compile(r"[\u00b7\u2022|@\u2219\u22c5\u2027\u2981]")  # · • | @
_NOON = re.compile(r"\bnoon\b", re.I)
_MIDNIGHT = re.compile(r"\bmidnight\b", re.I)
_SPACES = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


def _clean(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    text = _SEPARATORS.sub(" ", text)
    text = _ORDINAL.sub(r"\1", text)
    text = _MERIDIEM.sub(lambda m: m.group(1).lower() + "m", text)
    text = _NOON.sub("12:00pm", text)
    text = _MIDNIGHT.sub("12:00am", text)
    text = _DASHES.sub(" - ", text)
    return _SPACES.sub(" ", text).strip(" ,;")


def _hm(hour: str, minute: str | None, meridiem: str | None) -> time | None:
    h, m = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = (h % 12) + (12 if meridiem.lower() == "pm" else 0)
    if h > 23 or m > 59:
        return None
    return time(h, m)


def _find_times(text: str) -> tuple[time | None, time | None, str]:
    """(start time, end time, the text without them)."""
    for m in _TIME_RANGE.finditer(text):
        h1, m1, ap1, h2, m2, ap2 = m.groups()
        if not (m1 or ap1 or m2 or ap2):
            continue  # "3-5": a day range, not times
        if not (m1 or ap1) and not ap2:
            continue
        ap_start = ap1 or ap2
        start = _hm(h1, m1, ap_start)
        end = _hm(h2, m2, ap2 or ap1)
        if start is None or end is None:
            continue
        if not ap1 and ap2 and start > end:  # "11:30 - 1:00 pm": the start is before noon
            alt = _hm(h1, m1, "am" if ap2.lower() == "pm" else "pm")
            if alt is not None and alt < end:
                start = alt
        return start, end, (text[:m.start()] + " " + text[m.end():]).strip()
    for m in _ONE_TIME.finditer(text):
        hour, sep, minute, ap = m.groups()
        if not (minute or ap):
            continue
        if sep == "." and not ap and int(hour) < 13:  # "3.3" is a date; "19.30" is a time
            continue
        t = _hm(hour, minute, ap)
        if t is None:
            continue
        rest = (text[:m.start()] + " " + text[m.end():]).strip()
        return t, None, rest
    return None, None, text


class _NoDate(ValueError):
    pass


_PARSER = _dateutil.DEFAULTPARSER
# The two plainest ways listings write a day, read without dateutil's tokenizer (most of the cost
# of reading a listing): "3/4/2026" and "March 4, 2026" / "Mar 4 2026" / "March 4".
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/([1-9]\d{3})")
_WORDED = re.compile(r"([A-Za-z]{3,9}) (\d{1,2})(?:,? ([1-9]\d{3}))?")


def _plain(text: str, dayfirst: bool, defaults: tuple[datetime, ...]) -> list[datetime] | None:
    """_with_defaults() of a plain date as dateutil resolves it (parser.resolve_ymd), or None for any
    other text. A day that does not exist raises ValueError, as dateutil's does."""
    m = _SLASHED.fullmatch(text)
    if m:
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a > 31 or b > 31:
            return None
        # dateutil: "13/4/2026" or, day first, "3/4/2026" is day/month; else month/day
        day, month = (a, b) if a > 12 or (dayfirst and b <= 12) else (b, a)
        return [d.replace(year=year, month=month, day=day) for d in defaults]
    m = _WORDED.fullmatch(text)
    if m:
        month = _PARSER.info.month(m.group(1))
        day = int(m.group(2))
        if month is None or day > 31:
            return None
        if m.group(3):
            return [d.replace(year=int(m.group(3)), month=month, day=day) for d in defaults]
        return [d.replace(month=month, day=day) for d in defaults]
    return None


def _with_defaults(text: str, dayfirst: bool, defaults: tuple[datetime, ...]) -> list[datetime]:
    """What dateutil.parser.parse(text, default=d, fuzzy=True, dayfirst=dayfirst, ignoretz=True)
    returns for each default d, the text read once (reading it is the cost; the default only
    fills what the text leaves out). Raises what parse raises."""
    plain = _plain(text, dayfirst, defaults)
    if plain is not None:
        return plain
    if not (hasattr(_PARSER, "_parse") and hasattr(_PARSER, "_build_naive")):  # private in dateutil 2.x
        return [_dateutil.parse(text, default=d, fuzzy=True, dayfirst=dayfirst, ignoretz=True) for d in defaults]
    res, _skipped = _PARSER._parse(text, fuzzy=True, dayfirst=dayfirst)
    if res is None or len(res) == 0:
        raise _dateutil.ParserError("no date in %s", text)
    return [_PARSER._build_naive(res, d) for d in defaults]


def _parse_date(text: str, reference: date, dayfirst: bool) -> tuple[date, bool]:
    """A calendar date from text; (date, year_was_given). Raise _NoDate when none is there."""
    text = _FILLER.sub(" ", text)
    text = _SPACES.sub(" ", text).strip(" ,;-")
    relative = _RELATIVE.search(text)
    if relative and not _DIGIT.search(_RELATIVE.sub(" ", _WEEKDAY.sub(" ", text))):
        # "Today", "Tonight", "Tomorrow" (Meetup-style listings) count from the page's own date
        return reference + timedelta(days=1 if relative.group(1).lower() == "tomorrow" else 0), True
    if not _DIGIT.search(text):
        raise _NoDate(text)
    weekday_m = _WEEKDAY.search(text)
    weekday = _WEEKDAYS[weekday_m.group(1).lower()] if weekday_m else None
    core = _WEEKDAY.sub(" ", text).strip(" ,")
    try:
        a, b = _with_defaults(core, dayfirst, (datetime(1904, 1, 1), datetime(1908, 2, 2)))
    except (ValueError, OverflowError, TypeError):
        raise _NoDate(text) from None
    if a.month != b.month or a.day != b.day:
        raise _NoDate(text)  # a month or a day is missing: "2026", "March"
    if a.year == b.year:
        return a.date(), True
    found = nearest_year(a.month, a.day, reference, weekday)
    if found is None:
        raise _NoDate(text)
    return found, False


def _date_range(text: str, reference: date, dayfirst: bool) -> tuple[date, date | None]:
    """Read "March 3", "March 3 - 5, 2026", "March 30 - April 2", "3/3/2026 - 3/5/2026"."""
    parts = [p.strip(" ,") for p in text.split(" - ") if p.strip(" ,")]
    if len(parts) == 2:
        left, right = parts
        try:
            right_date, right_year = _parse_date(right, reference, dayfirst)
        except _NoDate:
            right_date = None
        if right_date is not None:
            # "3 - 5, 2026" or "March 3 - 5": the left side borrows month and year.
            if re.fullmatch(r"(?:\w+\.?,?\s+)?\d{1,2}", left) and not _MONTH_WORD.search(left):
                try:
                    start = right_date.replace(day=int(re.search(r"\d{1,2}", left).group()))
                except ValueError:
                    raise _NoDate(text) from None
                return start, right_date
            try:
                left_date, left_year = _parse_date(left, right_date, dayfirst)
            except _NoDate:
                left_date = None
            if left_date is not None:
                if not left_year and right_year:
                    left_date = nearest_year(left_date.month, left_date.day, right_date) or left_date
                    if left_date > right_date:
                        left_date = left_date.replace(year=right_date.year - 1)
                if left_date <= right_date:
                    return left_date, right_date
    m = re.match(r"^(.*?\b)(\d{1,2})\s*-\s*(\d{1,2})(\b.*)$", text)
    if m and _MONTH_WORD.search(text):  # "March 3-5, 2026"
        first, _ = _parse_date(m.group(1) + m.group(2) + m.group(4), reference, dayfirst)
        try:
            return first, first.replace(day=int(m.group(3)))
        except ValueError:
            raise _NoDate(text) from None
    day, _ = _parse_date(text, reference, dayfirst)
    return day, None


_OFFSET_WORD = re.compile(r"\(?\b(?:GMT|UTC)\s*([+-\u2212])\s*(\d{1,2})(?::?(\d{2}))?\b\)?", re.I)


def _zone_in(text: str) -> tuple[tzinfo | None, str]:
    m = _OFFSET_WORD.search(text)
    if m:  # "(GMT-06:00)", "UTC+1"
        sign = -1 if m.group(1) in "-\u2212" else 1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours <= 14 and minutes < 60:
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
            return zone, (text[:m.start()] + " " + text[m.end():]).strip()
    m = _ZONE_WORD.search(text)
    if not m or not re.search(r"\d\s*(?:am|pm)?\s*\(?$", text[:m.start()].rstrip(" (")[-12:] or "", re.I):
        return None, text
    name = ZONE_ABBREVIATIONS[m.group(1).lower()]
    arizona = re.match(r"\s*\(?\s*arizona\s*\)?", text[m.end():], re.I)
    if arizona:  # "6:30 PM MST (Arizona)"
        return ZoneInfo("America/Phoenix"), (text[:m.start()] + text[m.end() + arizona.end():]).strip()
    return ZoneInfo(name), (text[:m.start()] + text[m.end():]).strip()


def parse_when(text: str | None, end_text: str | None = None, *, reference: date | datetime | None = None,
               dayfirst: bool = False) -> When | None:
    """When an event listing says an event happens, or None when the text holds no date.

    `end_text` is a separate element for the end: a time ("8:00 pm") is read on the start's
    day, a full date or date-time as itself. `reference` (default today) resolves a missing
    year to the nearest such day.
    """
    if not text or not text.strip():
        return None
    if reference is None:
        reference = date.today()
    elif isinstance(reference, datetime):
        reference = reference.date()

    raw = text.strip()
    if _ISO_BASIC.fullmatch(raw):  # 20100618T180000, as hCalendar pages write it
        try:
            value = _dateutil.isoparse(raw)
        except (ValueError, OverflowError):
            return None
        result = When(value.date() if "T" not in raw.upper() else value)
        return _with_end(result, end_text, dayfirst) if end_text and end_text.strip() else result
    iso = list(_ISO.finditer(raw))
    if iso:
        start = _iso_from_match(iso[0])
        if start is None:
            return None
        end = _iso_from_match(iso[1]) if len(iso) > 1 else None
        if end is None and not isinstance(start, datetime):
            # "2027-03-13 March 13 @ 10:00 am - 1:00 pm": a machine date, then the times in words
            t1, t2, _ = _find_times(_clean(raw[iso[0].end():]))
            if t1 is not None:
                start = datetime.combine(start, t1)
                if t2 is not None:
                    end = datetime.combine(start.date(), t2)
                    if end <= start:
                        end += timedelta(days=1)
        elif end is None and isinstance(start, datetime):
            rest = _clean(raw[iso[0].end():])
            t1, t2, _ = _find_times(rest)
            later = t2 or (t1 if rest.lstrip().startswith("-") else None)
            if later is not None:
                end = datetime.combine(start.date(), later, start.tzinfo)
                if end <= start:
                    end += timedelta(days=1)
        result = When(start, end)
    else:
        cleaned = _clean(raw)
        zone, cleaned = _zone_in(cleaned)
        both = _two_datetimes(cleaned, reference, dayfirst, zone)
        if both is not None:
            return both
        t_start, t_end, date_text = _find_times(cleaned)
        try:
            first, last = _date_range(date_text, reference, dayfirst)
        except _NoDate:
            return None
        if t_start is None:
            result = When(first, (last + timedelta(days=1)) if last and last > first else None)
        else:
            start = datetime.combine(first, t_start, zone)
            end = None
            if t_end is not None:
                end = datetime.combine(last or first, t_end, zone)
                if end <= start:
                    end += timedelta(days=1)
            elif last and last > first:
                end = datetime.combine(last, t_start, zone)
            result = When(start, end)

    if end_text and end_text.strip() and result.end is None:
        result = _with_end(result, end_text, dayfirst)
    return result


def _two_datetimes(text: str, reference: date, dayfirst: bool, zone: tzinfo | None) -> When | None:
    """ "3/3/2026 6:30 PM - 3/4/2026 1:00 AM": a full date and time on each side of the dash."""
    parts = text.split(" - ")
    if len(parts) != 2:
        return None
    sides = []
    for part in parts:
        t, t2, rest = _find_times(part)
        if t is None or t2 is not None or not re.search(r"\d", rest):
            return None
        try:
            day, _ = _parse_date(rest, sides[0].date() if sides else reference, dayfirst)
        except _NoDate:
            return None
        sides.append(datetime.combine(day, t, zone))
    start, end = sides
    return When(start, end) if end > start else None


def _with_end(result: When, end_text: str, dayfirst: bool) -> When:
    """Combine a start with a separate end element's text."""
    start = result.start
    iso = parse_iso(end_text.strip())
    if iso is not None:
        if isinstance(start, datetime) and not isinstance(iso, datetime):
            return When(start, datetime.combine(iso, start.timetz()) if iso > start.date() else None)
        if not isinstance(start, datetime) and isinstance(iso, datetime):
            iso = iso.date()
            return When(start, iso + timedelta(days=1) if iso > start else None)
        return When(start, iso)
    cleaned = _clean(end_text)
    zone, cleaned = _zone_in(cleaned)
    base = start.date() if isinstance(start, datetime) else start
    t_start, t_end, date_text = _find_times(cleaned)
    day = base
    if re.search(r"\d", date_text):
        try:
            day, _ = _date_range(date_text, base, dayfirst)[0], True
        except _NoDate:
            day = base
    if not isinstance(start, datetime):
        if t_start is not None and t_end is not None:
            # the date in one element, the time range in the other: "March 3" + "6:30 - 8:00 pm"
            new_start = datetime.combine(start, t_start, zone)
            end = datetime.combine(day, t_end, zone)
            return When(new_start, end if end > new_start else end + timedelta(days=1))
        if t_start is not None:
            return When(datetime.combine(start, t_start, zone))  # "March 3" + "6:30 pm"
        return When(start, day + timedelta(days=1) if day > start else None)
    later = t_end or t_start
    if later is None:
        return When(start, datetime.combine(day, start.timetz()) if day > base else None)
    end = datetime.combine(day, later, zone or start.tzinfo)
    if end <= start:
        end += timedelta(days=1)
    return When(start, end)
