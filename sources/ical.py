"""type "ical": an iCalendar feed (RFC 5545) -> one RawEvent per occurrence.

Parsed from bytes with icalendar, recurrences expanded with recurring-ical-events
inside the window. Real-world breakage is repaired in the open (khal's habit): a
VEVENT that cannot be read is skipped with a reason and a warning naming the
source, the UID and the assumption; the rest of the calendar is still read. A
body that is not iCalendar at all (HTML, empty, garbage) raises ParseError.

What is emitted (RawEvent):

- timed events: aware datetimes. A TZID (backed by a VTIMEZONE or not, IANA or
  Windows name) is honoured; UTC and floating times are read in X-WR-TIMEZONE
  when the calendar has one (Google), else floating times are read in
  `options.timezone` (the source's or else the calendar's zone). UTC times, and
  times in a zone with no IANA name, are converted to that display zone (same
  instant). `RawEvent.timezone` is the IANA zone the event is shown in.
- all-day events (VALUE=DATE): `date`s, with the exclusive end date as the
  source states it (DTEND, or DTSTART + DURATION); a DATE start with neither
  lasts one day (end = start + 1 day, RFC 5545 3.6.1).
- a DATE-TIME start with neither DTEND nor DURATION has no length: end is None.
- a single event: external_id = UID. An occurrence of a recurring series
  (RRULE, RDATE, or RECURRENCE-ID overrides): external_id =
  "UID/<recurrence id>", the recurrence id as ISO 8601, in UTC when timed
  ("uid/2026-03-03T00:30:00+00:00") and as a date when all-day
  ("uid/2026-03-03"). Overridden occurrences carry their override's fields.
- STATUS:CANCELLED, or METHOD:CANCEL on the calendar, -> Status.CANCELLED;
  STATUS:TENTATIVE -> Status.TENTATIVE.
- DESCRIPTION (else X-ALT-DESC as HTML), URL (else X-ORIGINAL-URL), LOCATION,
  CATEGORIES -> tags.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone import tzp

from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Status, Window
from aggregator.timezones import equivalent_zone, resolve_zone, zone_name
from sources.base import AUTHORITY_CALENDAR, Fetcher, Skipped, SourceAdapter, SourceOptions

log = logging.getLogger(__name__)
# icalendar guesses '/mozilla.org/.../Europe/Berlin' means Europe/Berlin, as we do; not worth a warning.
_GUESSED = getattr(getattr(icalendar, "error", None), "GloballyUniqueTZIDGuessed", None)  # icalendar 7
if _GUESSED is not None:
    warnings.filterwarnings("ignore", category=_GUESSED)

ACCEPT = "text/calendar, application/ics;q=0.9, text/plain;q=0.5, */*;q=0.1"
MAX_OCCURRENCES_PER_SERIES = 1000  # a runaway FREQ=HOURLY never floods the feed
# Steps a rule may take from its DTSTART to the window's end; beyond it (FREQ=SECONDLY since
# 2020) expanding would stall the run, so the event is kept as written instead.
MAX_RULE_STEPS = 200_000
_FREQ_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
                 "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
UTC = ZoneInfo("UTC")

# Properties without which a VEVENT cannot be placed in time.
_TIME_PROPS = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")
_RULE_PROPS = ("RRULE", "RDATE", "EXDATE")
# Private markers copied onto every occurrence by recurring-ical-events.
_HAS_END = "X-MASSAGE-EVENTS-HAS-END"
_TZID = "X-MASSAGE-EVENTS-TZID"
_RRULE_DROPPED = "X-MASSAGE-EVENTS-RRULE-DROPPED"
_MOVED_BY = "X-MASSAGE-EVENTS-MOVED-BY"


class ICalAdapter(SourceAdapter):
    """Reads an iCalendar feed (a chapter's Google, Outlook, Apple or WordPress calendar)."""

    type_name = "ical"
    authority = AUTHORITY_CALENDAR
    Options = SourceOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        fetched = fetcher.get(options.url, accept=ACCEPT)
        yield from read_ical_bytes(fetched.content, options, window, origin=fetched.url or options.url,
                                   max_events=getattr(fetcher, "max_records", None))


def read_ical_bytes(content: bytes, options: SourceOptions, window: Window, *,
                    origin: str, max_events: int | None = None) -> Iterator[RawEvent | Skipped]:
    """The events of an iCalendar body (a feed, or a text/calendar part of an email).

    Raises ParseError at once (not lazily) when `content` is not iCalendar, or when it holds
    more than `max_events` VEVENTs (counted in the bytes, before any parsing: icalendar builds
    the whole tree in memory, about 1.5 ms and 15 KB a VEVENT);
    returns an iterator of RawEvent (and Skipped, for VEVENTs passed over and why).
    `origin` names where the bytes came from, for messages (a URL, "message <id>").
    """
    # A body with no more lines than the cap cannot hold more BEGIN:VEVENT lines: not searched.
    if max_events is not None and content.count(b"\n") + 1 > max_events:
        count = len(_VEVENT_BYTES.findall(content))
        if count > max_events:
            raise ParseError(f"{origin} holds {count:,} events (VEVENTs), more than the {max_events:,} one "
                             "source may hold (fetch.max_records); it was not read, and its last good events "
                             "stay. Raise fetch.max_records if the calendar is genuine, or ask for a feed of "
                             "upcoming events only", source_id=options.id, reason="too_many_records")
    calendars, text = _parse(content, source_id=options.id, origin=origin)
    return _guarded(_read_calendars(calendars, options, window, text.splitlines()), options.id, origin)


def _guarded(items: Iterator[RawEvent | Skipped], source_id: str, origin: str) -> Iterator[RawEvent | Skipped]:
    """The last line of defence: an unforeseen failure is a ParseError naming the file, not a traceback."""
    try:
        yield from items
    except SourceError:
        raise
    except Exception as e:
        log.warning("%s: reading %s failed unexpectedly", source_id, origin, exc_info=True,
                    extra={"source": source_id})
        raise ParseError(f"{origin} could not be read as iCalendar ({type(e).__name__}: {_short(e)}); "
                         "please report it with the file attached", source_id=source_id,
                         reason="unreadable") from None


# --------------------------------------------------------------------------- parsing

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_HTML = re.compile(r"^\s*(<!doctype|<html|<head|<body|<\?xml|<!--|<[a-z]+[\s>])", re.I)
_BEGIN = re.compile(r"^BEGIN:VCALENDAR\s*$", re.I | re.M)
_VEVENT_BYTES = re.compile(rb"^BEGIN:VEVENT\s*$", re.I | re.M)


def _decode(content: bytes, source_id: str | None, origin: str) -> str:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s: %s is not UTF-8 as RFC 5545 requires; read as Windows-1252", source_id, origin,
                    extra={"source": source_id})
        return content.decode("windows-1252", errors="replace")


def parse_calendars(content: bytes, *, source_id: str | None, origin: str) -> list[icalendar.Calendar]:
    """Bytes -> the VCALENDARs they hold, or ParseError with a sentence saying what they are instead."""
    return _parse(content, source_id=source_id, origin=origin)[0]


def _parse(content: bytes, *, source_id: str | None, origin: str) -> tuple[list[icalendar.Calendar], str]:

    def refuse(message: str, reason: str = "not_a_calendar") -> ParseError:
        return ParseError(message, source_id=source_id, reason=reason)

    if not content or not content.strip():
        raise refuse(f"{origin} is empty (an empty body, not an iCalendar file); "
                     "check the URL in sources.yaml or try again later", "empty")
    text = _decode(content, source_id, origin)
    if "\x00" in text:
        raise refuse(f"{origin} is binary data, not an iCalendar file; check the URL in sources.yaml")
    if not _BEGIN.search(text):
        if _HTML.match(text):
            raise refuse(f"{origin} is a web page (HTML), not an iCalendar file; the URL may point at "
                         "the calendar's page or a login/error page: use the .ics (iCal export) link instead")
        raise refuse(f"{origin} is not an iCalendar file (no BEGIN:VCALENDAR); "
                     "check that the URL is the calendar's .ics (iCal export) link")
    text = _zone_rule_intervals(text, source_id, origin)
    calendars, first_error = None, None
    for repair, candidate in _repairs(text):
        try:
            calendars = [c for c in _from_ical(candidate)
                         if isinstance(c, icalendar.Component) and c.name == "VCALENDAR"]
            if not calendars:
                raise ValueError("no complete VCALENDAR component")
        except Exception as e:  # icalendar raises ValueError, but also KeyError/IndexError on odd input
            first_error, calendars = first_error or e, None
            continue
        if repair:
            log.warning("%s: %s could not be read as written (%s); read %s", source_id, origin,
                        _short(first_error), repair, extra={"source": source_id})
        break
    if calendars is None:
        raise refuse(f"{origin} is not a well-formed iCalendar file ({_short(first_error)}); "
                     "ask the calendar's owner to fix its export or use another feed URL", "malformed")
    return calendars, text


_TZID_LINE = re.compile(r"^TZID(?:;[^:\r\n]*)?:([^\r\n]*?)\r?$", re.I | re.M)
_ZONE_CACHE_LOCK = threading.Lock()


def _from_ical(text: str) -> list:
    """icalendar's parse, each calendar reading its own VTIMEZONEs. icalendar keeps the first
    VTIMEZONE it sees under a TZID for the whole process, so a second feed with its own
    "Eastern" would be read with the first feed's rules: those TZIDs are forgotten first
    (under a lock, as threads parse at once)."""
    text = _without_known_zones(text)
    zones = {m.strip() for block in _VTIMEZONE.finditer(text) for m in _TZID_LINE.findall(block.group(0))}
    cache = getattr(tzp, "_TZP__tz_cache", None)  # private: where icalendar keeps them (7.x)
    if not zones or not isinstance(cache, dict):
        return icalendar.Calendar.from_ical(text, multiple=True)
    with _ZONE_CACHE_LOCK:
        for tzid in zones:
            cache.pop(tzid, None)
            cache.pop(tzp.clean_timezone_id(tzid), None)
        return icalendar.Calendar.from_ical(text, multiple=True)


_FOLD = re.compile(r"\r?\n[ \t]")
_COMPONENT_EDGE = re.compile(r"^(?:BEGIN|END):([A-Z-]*)", re.I | re.M)
_ZONE_PARTS = frozenset(("VTIMEZONE", "STANDARD", "DAYLIGHT"))


def _without_known_zones(text: str) -> str:
    """The text without the VTIMEZONEs icalendar sets aside unread: one under a TZID its zone
    provider knows (America/Denver) never defines that zone (cache_timezone_component skips it;
    we read such wall times in the IANA zone too), yet parsing its decades of RDATEs (Outlook,
    Apple) was a third of a calendar's parse. A block holding any other component (a VEVENT
    whose END was lost inside it) is left as written."""
    knows = getattr(getattr(tzp, "_TZP__provider", None), "knows_timezone_id", None)  # private (7.x)
    if knows is None or "BEGIN:VTIMEZONE" not in text.upper():
        return text

    def keep_or_drop(m: re.Match) -> str:
        return "" if _known_zone_block(m.group(0), knows) else m.group(0)

    return _VTIMEZONE.sub(keep_or_drop, text)


@lru_cache(maxsize=256)
def _known_zone_block(block: str, knows) -> bool:
    """Whether a VTIMEZONE block (as written) defines only a zone the provider knows by its TZID.
    Remembered: feeds repeat the same blocks (every Outlook or Google "America/Denver" is one
    text), and unfolding and searching a block of decades of RDATEs is most of this pre-pass."""
    block = _FOLD.sub("", block)
    if any(edge.upper() not in _ZONE_PARTS for edge in _COMPONENT_EDGE.findall(block)):
        return False
    tzids = _TZID_LINE.findall(block)
    if len(tzids) != 1:
        return False
    tzid = tzids[0]
    return bool(knows(tzid) or knows(tzp.clean_timezone_id(tzid)))


_ZERO_INTERVAL = re.compile(r"(?<=[:;])INTERVAL=0+(?=[;\r\n]|$)", re.I | re.M)


def _zone_rule_intervals(text: str, source_id: str | None, origin: str) -> str:
    """A VTIMEZONE rule with INTERVAL=0 never advances, and dateutil then loops for ever looking
    for the zone's offset (icalendar builds the zone while parsing): read it as INTERVAL=1."""
    if "INTERVAL=0" not in text.upper():
        return text
    fixed = _VTIMEZONE.sub(lambda m: _ZERO_INTERVAL.sub("INTERVAL=1", m.group(0)), text)
    if fixed != text:
        log.warning("%s: %s has a VTIMEZONE rule with INTERVAL=0; read as INTERVAL=1", source_id, origin,
                    extra={"source": source_id})
    return fixed


_VALARM = re.compile(r"^BEGIN:VALARM\s*$.*?^END:VALARM\s*$\n?", re.I | re.M | re.S)
_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\s*$.*?^END:VTIMEZONE\s*$\n?", re.I | re.M | re.S)


def _repairs(text: str) -> Iterator[tuple[str | None, str]]:
    """The text as written, then the repairs real feeds need, most faithful first."""
    yield None, text
    if not re.search(r"^END:VCALENDAR\s*$", text, re.I | re.M):
        text = text.rstrip() + "\r\nEND:VCALENDAR\r\n"
        yield "as if it ended with END:VCALENDAR (a truncated download?)", text
    # Reminders are not events: a broken TRIGGER ("PT-2H") must not lose the calendar.
    no_alarms = _VALARM.sub("", text)
    if no_alarms != text:
        yield "without its VALARM reminders", no_alarms
    # A broken VTIMEZONE ("TZOFFSETFROM:+5328"): read the zones from their TZID names instead.
    no_zones = _VTIMEZONE.sub("", no_alarms)
    if no_zones != no_alarms:
        yield "without its VTIMEZONE definitions, zones taken from their TZID names", no_zones


def _short(error: BaseException | None) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:160]


# --------------------------------------------------------------------------- reading

def _read_calendars(calendars: list[icalendar.Calendar], options: SourceOptions, window: Window,
                    lines: list[str] = ()) -> Iterator[RawEvent | Skipped]:
    seen: set[str] = set()
    for calendar in calendars:
        for item in _read_calendar(calendar, options, window, lines):
            if isinstance(item, RawEvent):
                if item.external_id in seen:
                    yield Skipped(f"VEVENT {item.external_id}",
                                  "another VEVENT has the same UID and recurrence id; the first one is kept")
                    continue
                seen.add(item.external_id)
            yield item


class _Context:
    """What one calendar says about reading its times."""

    def __init__(self, calendar: icalendar.Calendar, options: SourceOptions, lines: list[str],
                 window: Window) -> None:
        self.source = options.id
        self.lines = lines  # the file as written, to say on which line a broken property is
        self.window_end = window.end
        self.method = str(calendar.get("METHOD", "")).strip().upper()
        self.x_wr: ZoneInfo | None = None
        x_wr = calendar.get("X-WR-TIMEZONE")
        if x_wr is not None and str(x_wr).strip():
            self.x_wr = resolve_zone(str(x_wr))
            if self.x_wr is None:
                log.warning("%s: X-WR-TIMEZONE %r is not a zone we know; floating times read in %s",
                            self.source, str(x_wr), options.timezone or "UTC", extra={"source": self.source})
        # The zone floating times are read in and events are shown in when nothing better is said.
        self.display: ZoneInfo = self.x_wr or resolve_zone(options.timezone) or UTC
        self.warned_tzids: set[str] = set()
        self._equivalents: dict[str, ZoneInfo] = {}

    def equivalent(self, tz: tzinfo, tzid: str, year: int) -> ZoneInfo:
        """The IANA zone shown for a zone the calendar defines under a private TZID
        (matched once per TZID, in the year of its first event)."""
        key = tzid
        if key not in self._equivalents:
            zone = equivalent_zone(tz, around=date(year, 7, 1), prefer=(self.display.key,))
            if zone is None:
                self.warn("TZID %r names no zone we know and keeps no known zone's clock; "
                          "its events are shown in %s", tzid, self.display.key)
            self._equivalents[key] = zone or self.display
        return self._equivalents[key]

    def line_of(self, uid: str, name: str) -> str:
        """" (line N)" where the VEVENT with `uid` writes property `name`, or "" when not found."""
        needle = uid[:40].upper()
        for i, line in enumerate(self.lines):
            if line.upper().startswith("UID") and needle in line.upper():
                begin = next((j for j in range(i, -1, -1) if self.lines[j].strip().upper() == "BEGIN:VEVENT"), i)
                for j in range(begin, len(self.lines)):
                    text = self.lines[j].upper()
                    if text.startswith(name + ":") or text.startswith(name + ";"):
                        return f" (line {j + 1})"
                    if text.strip() == "END:VEVENT":
                        break
        return ""

    def warn(self, message: str, *args) -> None:
        log.warning("%s: " + message, self.source, *args, extra={"source": self.source})


def _read_calendar(calendar: icalendar.Calendar, options: SourceOptions, window: Window,
                   lines: list[str] = ()) -> Iterator[RawEvent | Skipped]:
    ctx = _Context(calendar, options, lines, window)
    skipped = list(_repair(calendar, ctx))
    yield from skipped
    if ctx.x_wr is not None and _x_wr_walk_changes(calendar):
        try:
            calendar = x_wr_timezone.to_standard(calendar, timezone=ctx.x_wr)
        except Exception as e:  # a value the walker cannot convert: keep times as written
            ctx.warn("could not apply X-WR-TIMEZONE (%s); times read as written", _short(e))
    series_uids = _series_uids(calendar)
    # Floating times are compared with the window as wall-clock times; widen it by a day
    # and filter exactly once each occurrence is placed in its zone.
    lo, hi = window.start - timedelta(days=1), window.end + timedelta(days=1)
    for occurrence in _expand(calendar, lo, hi, ctx):
        try:
            item = _to_raw(occurrence, ctx, series_uids)
            if isinstance(item, RawEvent) and not _overlaps(item, window):
                continue
        except Exception as e:  # one odd VEVENT never loses the feed
            ctx.warn("%s skipped: %s", _describe(occurrence.comp), _short(e))
            item = Skipped(_describe(occurrence.comp), f"it cannot be read ({_short(e)})")
        yield item


def _uid(comp: icalendar.Component) -> str:
    uid = str(comp.get("UID", "") or "").strip()
    if uid:
        return uid
    # No UID (RFC 5545 requires one): derive a stable one from what the event says.
    seed = "|".join(str(comp.get(k, "")) for k in ("SUMMARY", "DTSTART", "LOCATION"))
    try:
        seed += "|" + comp["DTSTART"].to_ical().decode()
    except Exception:
        pass
    return "nouid-" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:16]


def _describe(comp: icalendar.Component) -> str:
    title = " ".join(str(comp.get("SUMMARY", "") or "").split())
    return f'VEVENT {_uid(comp)}' + (f' "{title[:60]}"' if title else "")


def _repair(calendar: icalendar.Calendar, ctx: _Context) -> Iterator[Skipped]:
    """Drop the VEVENTs that cannot be placed in time (Skipped), fix the ones that can.

    Also writes the private markers each occurrence carries: whether the source gave
    an end, and the TZID it named.
    """
    kept = []
    for comp in _flatten(calendar):
        if comp.name != "VEVENT":
            kept.append(comp)
            continue
        _single_values(comp, ctx)
        if "UID" not in comp or not str(comp.get("UID") or "").strip():
            uid = _uid(comp)
            ctx.warn("VEVENT %r has no UID; identified as %s from its title and start",
                     str(comp.get("SUMMARY", "")), uid)
            comp["UID"] = uid
        reason = _unreadable(comp, ctx)
        if reason:
            ctx.warn("%s skipped: %s", _describe(comp), reason)
            yield Skipped(_describe(comp), reason)
            continue
        comp[_HAS_END] = "1" if ("DTEND" in comp or "DURATION" in comp) else "0"
        _mark_this_and_future(comp)
        tzid = _tzid(comp.get("DTSTART"))
        if tzid:
            comp[_TZID] = tzid
        kept.append(comp)
    calendar.subcomponents[:] = kept


def _mark_this_and_future(comp: icalendar.Component) -> None:
    """An override with RANGE=THISANDFUTURE moves every later occurrence by the same amount;
    remember by how much, so each moved occurrence keeps its own recurrence id."""
    rid = comp.get("RECURRENCE-ID")
    if rid is None or str(rid.params.get("RANGE", "")).upper() != "THISANDFUTURE":
        return
    try:
        comp[_MOVED_BY] = str(int((comp["DTSTART"].dt - rid.dt).total_seconds()))
    except Exception:  # a DATE against a DATE-TIME: treat it as a single override
        pass


def _flatten(calendar: icalendar.Calendar) -> list[icalendar.Component]:
    """The calendar's components with VEVENTs nested inside others (a lost END:VEVENT) lifted out."""
    out = []
    for comp in calendar.subcomponents:
        nested = _lift_vevents(comp)
        out.append(comp)
        out += nested
    return out


def _lift_vevents(comp: icalendar.Component) -> list[icalendar.Component]:
    """Remove the VEVENTs nested at any depth inside comp and return them."""
    lifted, keep = [], []
    for sub in comp.subcomponents:
        inner = _lift_vevents(sub)
        (lifted if sub.name == "VEVENT" else keep).append(sub)
        lifted += inner
    comp.subcomponents[:] = keep
    return lifted


# Properties a VEVENT has at most once (RFC 5545 3.6.1); a repeated one keeps its first value.
_SINGLE = ("UID", "SUMMARY", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "LOCATION", "DESCRIPTION",
           "URL", "STATUS", "RRULE", "X-ALT-DESC", "X-ORIGINAL-URL")


_SINGLE_NAMES = frozenset(_SINGLE)


def _single_values(comp: icalendar.Component, ctx: _Context) -> None:
    # One pass over the stored properties (keys are kept upper-case) rather than 13 lookups.
    if not any(isinstance(value, list) and key in _SINGLE_NAMES for key, value in comp.items()):
        return
    for name in _SINGLE:
        value = comp.get(name)
        if isinstance(value, list):
            del comp[name]
            if value:
                comp[name] = value[0]
            ctx.warn("VEVENT %s has %d %s properties; the first is kept", _uid(comp), len(value), name)


_KINDS = {"DTSTART": (date,), "DTEND": (date,), "RECURRENCE-ID": (date,), "DURATION": (timedelta,)}


def _unreadable(comp: icalendar.Component, ctx: _Context) -> str | None:
    """Why this VEVENT cannot be read (None when it can, perhaps after a logged repair)."""
    if "DTSTART" not in comp:
        return "it has no DTSTART (start)"
    for name in _TIME_PROPS:
        if name not in comp:
            continue
        try:
            value = comp[name].dt
            if not isinstance(value, _KINDS[name]):
                raise ValueError(f"a {type(value).__name__} is not a valid {name}")
            if isinstance(value, datetime) and not 1 <= value.year <= 9998:
                raise ValueError(f"year {value.year} is out of range")
        except Exception as e:
            message = next((m for n, m in comp.errors if (n or "").upper() == name), None) or str(e) or "unreadable value"
            if name in ("DTEND", "DURATION"):
                ctx.warn("%s: its %s cannot be read (%s); read as if it had none", _describe(comp), name,
                         _short(message))
                del comp[name]
                continue
            return f"its {name}{ctx.line_of(_uid(comp), name)} cannot be read ({_short(message)})"
    if "DTEND" in comp and "DURATION" in comp:
        del comp["DURATION"]  # RFC 5545 allows only one; DTEND is the one clients show
    steps = _rule_steps(comp, ctx.window_end)
    if steps > MAX_RULE_STEPS:
        ctx.warn("%s: its RRULE would take %d steps to reach the end of the window; only the event as "
                 "written is kept", _describe(comp), steps)
        del comp["RRULE"]
        comp[_RRULE_DROPPED] = "1"
    for name in _RULE_PROPS:
        if name not in comp:
            continue
        values = comp[name]
        values = values if isinstance(values, list) else [values]
        good = [v for v in values if _rule_readable(v, name)]
        if len(good) == len(values):
            continue
        del comp[name]
        if good:
            comp[name] = good if len(good) > 1 else good[0]
        if name == "RRULE":
            comp[_RRULE_DROPPED] = "1"
            ctx.warn("%s has an empty or unreadable RRULE; read as a single event", _describe(comp))
        else:
            ctx.warn("%s has an unreadable %s; that value is ignored", _describe(comp), name)
    return None


def _rule_steps(comp: icalendar.Component, until: datetime) -> int:
    """About how many steps the rule takes from DTSTART to `until` (or to its own UNTIL/COUNT)."""
    rule = comp.get("RRULE")
    if rule is None or isinstance(rule, list):
        return 0
    try:
        seconds = _FREQ_SECONDS[str(rule["FREQ"][0]).upper()] * max(1, int(rule.get("INTERVAL", [1])[0]))
        start = _as_utc_instant(comp["DTSTART"].dt)
        if rule.get("UNTIL"):
            until = min(until, _as_utc_instant(rule["UNTIL"][0]))
        steps = max(0, int((until - start).total_seconds() // seconds))
        if rule.get("COUNT"):
            steps = min(steps, int(rule["COUNT"][0]))
        return steps
    except Exception:  # recurring-ical-events judges what we cannot
        return 0


def _as_utc_instant(value) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _rule_readable(value, name: str) -> bool:
    try:
        if name == "RRULE":
            # INTERVAL=0 never advances: expanding it would loop for ever
            return (isinstance(value, icalendar.vRecur) and bool(value.get("FREQ"))
                    and all(int(i) >= 1 for i in value.get("INTERVAL", [1])))
        for v in value.dts:
            v.dt
        return True
    except Exception:
        return False


def _tzid(prop) -> str | None:
    try:
        tzid = prop.params.get("TZID") if prop is not None else None
    except AttributeError:
        return None
    return str(tzid) if tzid else None


def _series_uids(calendar: icalendar.Calendar) -> set[str]:
    uids = set()
    for comp in calendar.walk("VEVENT"):
        if "RRULE" in comp or "RDATE" in comp or "RECURRENCE-ID" in comp or _RRULE_DROPPED in comp:
            uids.add(str(comp.get("UID")))
    return uids


class _Occurrence(NamedTuple):
    """One occurrence: the VEVENT as written (shared by its series' occurrences) and its times.
    `start` None: the component is read as it stands (an event kept as written)."""
    comp: icalendar.Component
    start: datetime | date | None = None
    end: datetime | date | None = None


def _occurrence(occurrence) -> _Occurrence:
    """What as_component(False) would say, without copying the component and building three
    property values per occurrence (most of what expanding cost): the copy only replaces DTSTART
    and DTEND by the occurrence's times (and adds a RECURRENCE-ID equal to DTSTART)."""
    comp = getattr(getattr(occurrence, "_adapter", None), "_component", None)  # private (3.x)
    if not isinstance(comp, icalendar.Component):
        return _Occurrence(occurrence.as_component(False))  # the public path
    return _Occurrence(comp, occurrence.start, occurrence.end)


def _expand(calendar: icalendar.Calendar, lo: datetime, hi: datetime, ctx: _Context) -> Iterator[_Occurrence]:
    """Occurrences between lo and hi, series by series, each capped and isolated, so one bad
    RRULE never loses the other events and a runaway FREQ=HOURLY costs little."""
    singles = _single_events(calendar, lo, hi)
    if singles is not None:
        yield from singles
        return
    try:
        query = recurring_ical_events.of(calendar)
    except Exception as e:
        ctx.warn("the calendar could not be expanded as a whole (%s); reading each series on its own", _short(e))
        for single in _split_by_uid(calendar):
            try:
                query = recurring_ical_events.of(single)
            except Exception as e:
                yield from _as_written(single, ctx, e)
                continue
            yield from _expand_series(query, single, lo, hi, ctx)
        return
    yield from _expand_series(query, calendar, lo, hi, ctx)


_RECURRING = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")


def _single_events(calendar: icalendar.Calendar, lo: datetime, hi: datetime) -> list[_Occurrence] | None:
    """What recurring-ical-events (3.x) yields between lo and hi for a calendar where nothing
    recurs (no RRULE, RDATE, EXDATE or RECURRENCE-ID, each UID once), computed as it computes
    it: for one event it builds a series and a dateutil rule set (a third of reading such a
    calendar) to yield the event's own span, kept when it starts within [lo - length, hi] and
    overlaps [lo, hi) by its time_span_contains_event. None when the calendar is not that
    simple (a time with no zone, a date against a time, pytz): recurring-ical-events reads it."""
    if calendar.get("CALSCALE", "GREGORIAN") != "GREGORIAN":
        return None  # of() refuses it
    try:
        events = calendar.walk("VEVENT")
        if any(name in comp for comp in events for name in _RECURRING):
            return None
        # of() applies X-WR-TIMEZONE once more (x_wr_timezone.to_standard): when it would change
        # a time (one still in UTC or floating) or fail, recurring-ical-events reads the calendar.
        x_wr = calendar.get("X-WR-TIMEZONE")
        if x_wr is not None:
            ZoneInfo(str(x_wr))
            if any(_x_wr_would_change(comp.get(name)) for comp in events for name in ("DTSTART", "DTEND")):
                return None
        out, uids = [], set()
        naive_lo, naive_hi = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
        for comp in events:
            adapter = recurring_ical_events.EventAdapter(comp)
            if adapter.uid in uids:
                return None  # recurring-ical-events keeps the one with the highest SEQUENCE
            uids.add(adapter.uid)
            start, end = adapter.start, adapter.end  # its span: DTEND, DURATION or the default
            length = end - start
            if isinstance(start, datetime) and isinstance(end, datetime):
                if start.tzinfo is None or end.tzinfo is None or hasattr(start.tzinfo, "localize"):
                    return None
                if not lo - length <= start <= hi:  # the rule set's between(inc=True)
                    continue
                first = start + timedelta(0)
                last = first + length  # in the start's zone, as a series computes it
                span_first, span_last = first, last
            elif not isinstance(start, datetime) and not isinstance(end, datetime):
                midnight = datetime(start.year, start.month, start.day)  # all-day: compared as naive
                if not naive_lo - length <= midnight <= naive_hi:
                    continue
                moved = midnight + timedelta(0)
                first = date(moved.year, moved.month, moved.day)
                moved_end = moved + length
                last = date(moved_end.year, moved_end.month, moved_end.day)
                span_first = datetime(first.year, first.month, first.day, tzinfo=lo.tzinfo)
                span_last = datetime(last.year, last.month, last.day, tzinfo=lo.tzinfo)
            else:
                return None
            if span_first == span_last:  # time_span_contains_event
                inside = span_first == lo if lo == hi else lo <= span_first < hi
            elif lo == hi:
                inside = span_first <= lo < span_last
            else:
                inside = span_first < hi and lo < span_last
            if inside:
                out.append(_Occurrence(comp, first, last))
        return out
    except Exception:  # whatever it is, recurring-ical-events says what becomes of it
        return None


_WALKED = tuple(getattr(x_wr_timezone.CalendarWalker, "VALUE_ATTRIBUTES",
                        ("DTSTART", "DTEND", "RDATE", "RECURRENCE-ID", "EXDATE")))


def _x_wr_would_change(value) -> bool:
    """Whether x_wr_timezone's walk (2.x, CalendarWalker.walk_value) would replace this property
    value: it replaces times in UTC or floating, inside lists and date lists too, by type name."""
    kind = type(value).__name__
    if kind == "datetime":
        name = value.tzname()
        return name is None or name.upper() == "UTC"
    if kind == "vDDDTypes":
        return _x_wr_would_change(value.dt)
    if kind == "vDDDLists":
        return any(_x_wr_would_change(ddd.dt) for ddd in value.dts)
    if kind == "list":
        return any(_x_wr_would_change(v) for v in value)
    return False


def _x_wr_walk_changes(calendar: icalendar.Calendar) -> bool:
    """Whether x_wr_timezone.to_standard would change anything in the calendar: when it would
    not, it returns the calendar itself after walking and comparing every VEVENT (Google writes
    UTC times, so it often does; a farm-like feed with TZIDs never does). True when unsure."""
    try:
        return any(_x_wr_would_change(comp.get(name)) for comp in calendar.subcomponents
                   if isinstance(comp, icalendar.cal.Event) for name in _WALKED)
    except Exception:  # let the walker meet it (and say what it cannot convert)
        return True


def _expand_series(query, calendar: icalendar.Calendar, lo: datetime, hi: datetime,
                   ctx: _Context) -> Iterator[_Occurrence]:
    for series in query.series:
        try:
            occurrences = list(itertools.islice(series.between(lo, hi), MAX_OCCURRENCES_PER_SERIES + 1))
            components = [_occurrence(o) for o in occurrences[:MAX_OCCURRENCES_PER_SERIES]]
        except Exception as e:
            uid = str(getattr(series, "uid", ""))
            comps = [c for c in calendar.walk("VEVENT") if str(c.get("UID")) == uid]
            single = icalendar.Calendar()
            for comp in comps:
                single.add_component(comp)
            yield from _as_written(single, ctx, e)
            continue
        if len(occurrences) > MAX_OCCURRENCES_PER_SERIES:
            ctx.warn("VEVENT %s recurs more than %d times in the window; later occurrences are left out",
                     getattr(series, "uid", "?"), MAX_OCCURRENCES_PER_SERIES)
        yield from components


def _split_by_uid(calendar: icalendar.Calendar) -> Iterator[icalendar.Calendar]:
    groups: dict[str, list[icalendar.Component]] = {}
    others = []
    for comp in calendar.subcomponents:
        if comp.name == "VEVENT":
            groups.setdefault(str(comp.get("UID")), []).append(comp)
        else:
            others.append(comp)
    for comps in groups.values():
        single = icalendar.Calendar()
        for key, value in calendar.items():
            single[key] = value
        for comp in (*others, *comps):
            single.add_component(comp)
        yield single


def _as_written(calendar: icalendar.Calendar, ctx: _Context, error: Exception) -> Iterator[_Occurrence]:
    """A series whose recurrence cannot be expanded: its main event alone, as written."""
    for comp in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" in comp:
            continue
        ctx.warn("VEVENT %s: its recurrence cannot be expanded (%s); only the event as written is kept",
                 comp.get("UID"), _short(error))
        comp = comp.copy()
        for name in _RULE_PROPS:
            comp.pop(name, None)
        if "DTEND" not in comp and "DURATION" not in comp:
            start = comp["DTSTART"].dt
            if not isinstance(start, datetime):
                comp.add("DTEND", start + timedelta(days=1))
        yield _Occurrence(comp)


def _place(value, tzid: str | None, ctx: _Context) -> datetime | date:
    """A DTSTART/DTEND value as an aware datetime (or a date), in the zone it is shown in."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:  # floating, or a TZID icalendar could not resolve
        zone = None
        if tzid:
            zone = resolve_zone(tzid)
            if zone is None and tzid not in ctx.warned_tzids:
                ctx.warned_tzids.add(tzid)
                ctx.warn("TZID %r has no VTIMEZONE and names no zone we know; its times are read in %s",
                         tzid, ctx.display.key)
        return value.replace(tzinfo=zone or ctx.display)
    key = getattr(value.tzinfo, "key", None)
    if key and key != "UTC" and resolve_zone(key) is not None:
        return value  # an IANA zone
    if not tzid:
        return value.astimezone(ctx.display)  # UTC ("Z"): same instant, shown in the calendar's zone
    zone = resolve_zone(tzid)
    if zone is not None:
        # A VTIMEZONE under a Windows or IANA name: the wall time is read in the IANA zone
        # (as Outlook, Google and khal do); vendors' VTIMEZONEs are often stale or wrong.
        return value.replace(tzinfo=zone)
    # A private TZID ("Eastern") defined by its VTIMEZONE: keep the instant, show it in the
    # IANA zone that keeps the same clock (the calendar's own zone when it does).
    return value.astimezone(ctx.equivalent(value.tzinfo, tzid, value.year))


def _recurrence_key(value) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("floating recurrence id")
        return value.astimezone(timezone.utc).isoformat()
    return value.isoformat()


def _text(comp: icalendar.Component, name: str) -> str | None:
    value = comp.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else ""
    text = str(value).strip()
    return text or None


def _categories(comp: icalendar.Component) -> tuple[str, ...]:
    tags: list[str] = []
    values = comp.get("CATEGORIES")
    if values is None:
        return ()
    for value in values if isinstance(values, list) else [values]:
        cats = getattr(value, "cats", None)
        if cats is None:
            cats = str(value).split(",")
        tags += [str(c).strip() for c in cats if str(c).strip()]
    return tuple(dict.fromkeys(tags))


def _status(comp: icalendar.Component, ctx: _Context) -> Status:
    if ctx.method == "CANCEL":
        return Status.CANCELLED
    status = str(comp.get("STATUS", "") or "").strip().upper()
    if status == "CANCELLED":
        return Status.CANCELLED
    if status == "TENTATIVE":
        return Status.TENTATIVE
    return Status.CONFIRMED


def _written_tzid(value) -> str | None:
    """The TZID icalendar writes for a time (as on a DTEND it builds from it): none for UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return _tzid(icalendar.vDDDTypes(value))


def _is_iana(value) -> bool:
    """Whether _place keeps this time as it is, whatever TZID it was written with."""
    key = getattr(value.tzinfo, "key", None) if isinstance(value, datetime) else None
    return bool(key) and key != "UTC" and resolve_zone(key) is not None


def _to_raw(occurrence: _Occurrence, ctx: _Context, series_uids: set[str]) -> RawEvent | Skipped:
    comp = occurrence.comp
    uid = str(comp.get("UID"))
    tzid = str(comp.get(_TZID)) if comp.get(_TZID) is not None else None
    try:
        # An occurrence of a series: its own times, the rest from its VEVENT (see _occurrence).
        # An event as written: the times and their TZIDs as its VEVENT states them.
        as_written = occurrence.start is None
        start_value = comp["DTSTART"].dt if as_written else occurrence.start
        start = _place(start_value, tzid, ctx)
        end = None
        if str(comp.get(_HAS_END, "1")) == "1" or not isinstance(start, datetime):
            if as_written:
                end_prop = comp.get("DTEND")
                end_value = end_prop.dt if end_prop is not None else None
                end_tzid = (_tzid(end_prop) or tzid) if end_prop is not None else None
            else:
                end_value = occurrence.end
                end_tzid = None if _is_iana(end_value) else (_written_tzid(end_value) or tzid)
            end = _place(end_value, end_tzid, ctx) if end_value is not None else None
            if end is None and not isinstance(start, datetime):
                end = start + timedelta(days=1)
        if isinstance(start, datetime) and isinstance(end, date) and not isinstance(end, datetime):
            end = None  # DTSTART timed, DTEND a date: not a length we can trust
        external_id = uid
        if uid in series_uids:
            rid_prop = comp.get("RECURRENCE-ID")
            if rid_prop is not None and comp.get(_MOVED_BY) is not None:  # THISANDFUTURE
                rid = start_value - timedelta(seconds=int(str(comp[_MOVED_BY])))
                rid_tzid = None
            elif rid_prop is not None:
                rid, rid_tzid = rid_prop.dt, _tzid(rid_prop)
            else:  # the occurrence's start (as_component's RECURRENCE-ID)
                rid, rid_tzid = start_value, (None if as_written else _written_tzid(start_value))
            if isinstance(rid, datetime) and rid.tzinfo is None:
                rid = _place(rid, rid_tzid or tzid, ctx)
            external_id = f"{uid}/{_recurrence_key(rid)}"
    except Exception as e:
        return Skipped(_describe(comp), f"its times cannot be read ({_short(e)})")

    if isinstance(start, datetime):
        shown = zone_name(start.tzinfo) or ctx.display.key
    else:
        shown = ctx.display.key
    title = _text(comp, "SUMMARY")
    if not title:
        return Skipped(_describe(comp), "it has no SUMMARY (title)")
    description = _text(comp, "DESCRIPTION") or _text(comp, "X-ALT-DESC")
    url = _text(comp, "URL") or _text(comp, "X-ORIGINAL-URL")
    return RawEvent(
        external_id=external_id,
        title=title,
        start=start,
        end=end,
        timezone=shown,
        location=_text(comp, "LOCATION"),
        url=url,
        description=description,
        status=_status(comp, ctx),
        tags=_categories(comp),
    )


def _overlaps(event: RawEvent, window: Window) -> bool:
    start = _utc(event.start, event.timezone)
    end = _utc(event.end, event.timezone) if event.end is not None else None
    if end is None:
        end = start + (timedelta(days=1) if not isinstance(event.start, datetime) else timedelta(0))
    return end >= window.start and start <= window.end


def _utc(value: datetime | date, zone: str | None) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    tz: tzinfo = resolve_zone(zone) or UTC
    return datetime.combine(value, datetime.min.time(), tzinfo=tz).astimezone(timezone.utc)
