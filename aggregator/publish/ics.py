"""events -> calendar.ics that Google, Apple, Outlook and Thunderbird accept.

What real clients demand (docs/reliability.md B), and how this module meets it:

- CRLF line ends, lines folded at <= 75 octets and never inside a UTF-8
  character or a backslash escape (`fold_line`);
- TEXT escaped per RFC 5545 3.3.11 (our own escaping: icalendar turns a literal
  "\\N" of a title into a line break), control characters dropped, so no source
  text can inject a property or a component;
- VERSION, PRODID, NAME/X-WR-CALNAME, DESCRIPTION/X-WR-CALDESC, REFRESH-INTERVAL
  and X-PUBLISHED-TTL at the same value; no METHOD (a subscribed feed is not an
  iTIP message);
- DTSTAMP and LAST-MODIFIED are the stored revision time, and events are sorted,
  so two runs with no change write the same bytes (and the server the same ETag);
- times carry a TZID backed by a VTIMEZONE, or are UTC; never floating, no UTC
  VTIMEZONE; all-day events are VALUE=DATE with an exclusive DTEND;
- URL only for http(s) links.

The calendar's header and VTIMEZONEs are built with icalendar; the VEVENTs, thousands of
them, are written as lines directly (in icalendar's property order), five times faster.

Also: one event as its own calendar (the page's ".ics" download), and the
extraction of a sub-calendar from published calendar.ics bytes, which lets the
web server filter the feed without re-rendering it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from icalendar import Calendar, Timezone, vDuration, vText

from aggregator import __version__
from aggregator.config.settings import CalendarSettings, Config
from aggregator.merge.normalize import safe_url
from aggregator.model import Event, Status
from aggregator.publish.feeds import compact_stamp, event_ics_path, feed_filter, feed_title
from aggregator.publish.fragments import Fragments, cached, salt
from aggregator.timezones import resolve_zone

PRODID = f"-//massage-events//massage-events {__version__}//EN"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n (\r is made \n first)
_FALLBACK_STAMP = datetime(2000, 1, 1, tzinfo=timezone.utc)  # only for events never stored


def clean_text(text: str | None) -> str:
    """Text as a calendar may carry it: line ends as \\n, no other control characters."""
    if not text:
        return ""
    text = str(text)
    if text.isprintable():  # no control character at all (most titles and places): nothing to do
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def escape_text(text: str) -> str:
    """RFC 5545 3.3.11 TEXT escaping of already cleaned text."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


class _Text(vText):
    """A TEXT value escaped exactly (icalendar's escaping rewrites a literal \\N)."""

    def to_ical(self) -> bytes:
        return escape_text(clean_text(str(self))).encode("utf-8")


def fold_line(line: str, limit: int = 75) -> str:
    """One content line folded at <= `limit` octets (continuation lines count their leading
    space), never inside a UTF-8 character nor between a backslash and the character it escapes."""
    if len(line) <= limit and (line.isascii() or len(line.encode("utf-8")) <= limit):
        return line
    if line.isascii():
        return _fold_ascii(line, limit)
    return _fold_utf8(line.encode("utf-8"), limit)


def _fold_utf8(data: bytes, limit: int) -> str:
    """fold_line for a line with non-ASCII characters, as its UTF-8 octets: cut every `limit`
    octets, earlier where the cut would fall inside a character (before the character) or part an
    escape from its backslash (before the backslash). The same cuts as walking the line a character
    at a time, at a fraction of the cost for a long description in French or Japanese."""
    out = []
    start, room = 0, limit
    while len(data) - start > room:
        cut = start + room
        while data[cut] & 0xC0 == 0x80:  # a continuation octet: the cut is inside a character
            cut -= 1
        run = 0  # backslashes (one octet, never part of another character) just before the cut
        while cut - run - 1 >= start and data[cut - run - 1] == 0x5C:
            run += 1
        if run % 2:
            cut -= 1
        if cut <= start:  # a limit narrower than one character or escape: it goes alone
            cut = start + 2 if data[start] == 0x5C else start + 1
            while cut < len(data) and data[cut] & 0xC0 == 0x80:
                cut += 1
        out.append(data[start:cut].decode("utf-8"))
        start, room = cut, limit - 1
    if start < len(data):  # (a character alone may have ended the line)
        out.append(data[start:].decode("utf-8"))
    return "\r\n ".join(out)


def _fold_ascii(line: str, limit: int) -> str:
    """fold_line for an ASCII line (one octet per character): cut every `limit` characters,
    one earlier where the cut would part an escape ("\\n") from its backslash."""
    out = []
    start, room = 0, limit
    while len(line) - start > room:
        cut = start + room
        run = 0  # backslashes just before the cut: an odd run means the last one opens an escape
        while cut - run - 1 >= start and line[cut - run - 1] == "\\":
            run += 1
        if run % 2:
            cut -= 1
        out.append(line[start:cut])
        start, room = cut, limit - 1
    out.append(line[start:])
    return "\r\n ".join(out)


def serialize(cal: Calendar) -> bytes:
    """The calendar's text, every content line folded once by `fold_line`."""
    return "".join(fold_line(line) + "\r\n" for line in cal.content_lines(sorted=True) if line).encode("utf-8")


# --- the calendar ---------------------------------------------------------------------------

def _duration(hours: int) -> timedelta:
    return timedelta(hours=hours)


def _new_calendar(calendar: CalendarSettings, name: str | None, *, subscription: bool = True) -> Calendar:
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", PRODID)
    cal.add("CALSCALE", "GREGORIAN")
    if subscription:
        title = name or calendar.name
        cal.add("NAME", _Text(title))
        cal.add("X-WR-CALNAME", _Text(title))
        if calendar.description:
            cal.add("DESCRIPTION", _Text(calendar.description))
            cal.add("X-WR-CALDESC", _Text(calendar.description))
        ttl = _duration(calendar.refresh_hours)
        cal.add("REFRESH-INTERVAL", ttl, parameters={"VALUE": "DURATION"})
        cal.add("X-PUBLISHED-TTL", vDuration(ttl))
    return cal


def _zone_of(event: Event):
    """The ZoneInfo the event's times are written in, or None for UTC."""
    zone = resolve_zone(event.timezone)
    if zone is None or zone.key in ("UTC", "Etc/UTC"):
        return None
    return zone


def _zone_of_name(name: str):
    zone = resolve_zone(name)
    return None if zone is None or zone.key in ("UTC", "Etc/UTC") else zone


def _instant(value: datetime, zone) -> datetime:
    if value.tzinfo is None:  # never expected after normalize; treat as UTC rather than floating
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(zone) if zone is not None else value.astimezone(timezone.utc)


def _twice(local: datetime) -> bool:
    """True when the wall time of `local` (an instant in its zone, fold set to which of the two
    it is) occurs twice: the fall-back hour."""
    return local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset()


def _sort_key(event: Event):
    if isinstance(event.start, datetime):
        start = _instant(event.start, None)
    else:
        zone = resolve_zone(event.timezone) or timezone.utc
        start = datetime.combine(event.start, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)
    return (start, event.uid)


def _stamp(event: Event) -> datetime:
    stamp = event.last_modified or _FALLBACK_STAMP
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).replace(microsecond=0)


def _also_listed(event: Event, source_names: Mapping[str, str] | None) -> str:
    if len(event.sources) < 2:
        return ""
    items = []
    for ref in event.sources:
        label = (source_names or {}).get(ref.source, ref.source)
        url = safe_url(ref.url)
        items.append(f"{label} ({url})" if url else label)
    return "Also listed on: " + "; ".join(dict.fromkeys(items))


def _zone_span(events: Sequence[Event]) -> tuple[date, date]:
    """VTIMEZONE validity: whole years around the events, so the block rarely changes."""
    years = [(_sort_key(e)[0]).year for e in events]
    return date(min(years) - 1, 1, 1), date(max(years) + 3, 1, 1)


_EMPTY_SPAN = (date(2020, 1, 1), date(2040, 1, 1))


def _vevent_piece(event: Event, source_names) -> str:
    """A VEVENT as a cacheable piece: its TZID (or nothing), a newline, its folded lines."""
    tzid, lines = vevent_lines(event, source_names=source_names)
    return (tzid or "") + "\n" + "\r\n".join(map(fold_line, lines)) + "\r\n"


def _finish(cal: Calendar, events: Sequence[Event], source_names, zone_name: str | None = None,
            fragments: Fragments | None = None) -> bytes:
    ordered = sorted(events, key=_sort_key)
    if not ordered:
        # RFC 5545 wants at least one component: an empty (filtered) feed carries the calendar's zone
        component = vtimezone(zone_name, *_EMPTY_SPAN) if zone_name and _zone_of_name(zone_name) else None
        if component is not None:
            cal.add_component(component)
        return serialize(cal)
    piece_salt = salt("vevent", dict(source_names or {})) if fragments is not None else ""
    pieces = [cached(fragments, "vevent", event, piece_salt, lambda event=event: _vevent_piece(event, source_names))
              for event in ordered]
    vevents = [piece.partition("\n")[::2] for piece in pieces]
    first, last = _zone_span(ordered)
    for tzid in sorted({tzid for tzid, _ in vevents if tzid}):
        component = vtimezone(tzid, first, last)
        if component is None:  # a zone vtimezone() cannot write: icalendar's own rules
            try:
                component = Timezone.from_tzid(tzid, first_date=first, last_date=last)
            except ValueError:
                continue
        cal.add_component(component)
    _order_timezones(cal)
    head = serialize(cal)
    assert head.endswith(b"END:VCALENDAR\r\n")
    body = "".join(text for _, text in vevents)
    return head[:-len(b"END:VCALENDAR\r\n")] + body.encode("utf-8") + b"END:VCALENDAR\r\n"


# The property order icalendar writes (its canonical order, then by name): kept so the bytes
# of the feed do not change with how they are made.
_FIRST = ("SUMMARY", "DTSTART", "DTEND", "DURATION", "DTSTAMP", "UID", "RECURRENCE-ID", "SEQUENCE")
_STATUS = {Status.CANCELLED: "CANCELLED", Status.TENTATIVE: "TENTATIVE"}


@lru_cache(maxsize=64)
def _in_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` in that order, worked out once per set of properties (a calendar has a few kinds)."""
    return tuple(n for n in _FIRST if n in names) + tuple(sorted(n for n in names if n not in _FIRST))


def _utc_stamp(value: datetime) -> str:
    return compact_stamp(value) + "Z"


def _date_time(name: str, value: datetime | date) -> tuple[str, str | None]:
    """A DTSTART/DTEND line, and the TZID it names."""
    if not isinstance(value, datetime):
        return f"{name};VALUE=DATE:{compact_stamp(value)}", None
    key = getattr(value.tzinfo, "key", None)
    if key is None:  # UTC (a zone icalendar would name is always a ZoneInfo here)
        return f"{name}:{_utc_stamp(value.astimezone(timezone.utc))}", None
    return f"{name};TZID={key}:{compact_stamp(value)}", key


def vevent_lines(event: Event, *, source_names: Mapping[str, str] | None = None) -> tuple[str | None, list[str]]:
    """One Event as the unfolded content lines of a VEVENT, and the TZID its times name."""
    props: dict[str, str] = {}
    tzid = None
    props["UID"] = "UID:" + escape_text(clean_text(event.uid))
    stamp = _utc_stamp(_stamp(event))
    props["DTSTAMP"] = "DTSTAMP:" + stamp
    props["LAST-MODIFIED"] = "LAST-MODIFIED:" + stamp
    props["SEQUENCE"] = f"SEQUENCE:{int(event.sequence or 0)}"
    props["STATUS"] = "STATUS:" + _STATUS.get(event.status, "CONFIRMED")
    # Cleaned text stays clean when stripped: one clean_text is enough.
    props["SUMMARY"] = "SUMMARY:" + escape_text(clean_text(event.title).strip())  # libical drops edge spaces
    if event.all_day or not isinstance(event.start, datetime):
        start = event.start.date() if isinstance(event.start, datetime) else event.start
        end = event.end.date() if isinstance(event.end, datetime) else event.end
        if end is None or end <= start:
            end = start + timedelta(days=1)
        props["DTSTART"] = _date_time("DTSTART", start)[0]
        props["DTEND"] = _date_time("DTEND", end)[0]
        props["TRANSP"] = "TRANSP:TRANSPARENT"
    else:
        zone = _zone_of(event)
        start = _instant(event.start, zone)
        end = _instant(event.end, zone) if isinstance(event.end, datetime) else None
        if zone is not None and (_twice(start) or (end is not None and _twice(end))):
            zone = None  # a wall time that occurs twice: clients disagree on which; UTC is exact
            start = _instant(event.start, None)
            end = _instant(event.end, None) if end is not None else None
        props["DTSTART"], tzid = _date_time("DTSTART", start)
        if end is not None and event.end > event.start:
            props["DTEND"] = _date_time("DTEND", end)[0]
        props["TRANSP"] = "TRANSP:OPAQUE"
    location = clean_text(event.location).strip()
    if location:
        props["LOCATION"] = "LOCATION:" + escape_text(location)
    description = clean_text(event.description).strip()
    also = _also_listed(event, source_names)
    if also:
        description = f"{description}\n\n{also}" if description else also
    url = safe_url(event.url)
    if url:
        props["URL"] = "URL:" + url
        if url not in description:
            description = f"{description}\n\n{url}" if description else url
    if description:
        props["DESCRIPTION"] = "DESCRIPTION:" + escape_text(clean_text(description))
    tags = [t for t in (clean_text(t).strip() for t in event.tags) if t]
    if tags:
        props["CATEGORIES"] = "CATEGORIES:" + ",".join(escape_text(t) for t in tags)
    lines = [props[n] for n in _in_order(tuple(props))]
    return tzid, ["BEGIN:VEVENT", *lines, "END:VEVENT"]


# --- VTIMEZONE with yearly rules ------------------------------------------------------------------

def _transitions(zone, first: date, last: date) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of every offset change in [first, last)."""
    found = []
    t = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    end = datetime(last.year, last.month, last.day, tzinfo=timezone.utc)
    before = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + timedelta(days=1)
        after = nxt.astimezone(zone).utcoffset()
        if after != before:
            lo, hi = 0, 24 * 60  # minutes: offset at lo is `before`, at hi is `after`
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if (t + timedelta(minutes=mid)).astimezone(zone).utcoffset() == before:
                    lo = mid
                else:
                    hi = mid
            found.append((t + timedelta(minutes=hi), before, after))
            before = after
        t = nxt
    return found


def _byday_candidates(day: date) -> set[str]:
    """The RRULE BYDAY values that name this day in its month, e.g. {"2SU"} or {"4SU", "-1SU"}."""
    weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
    out = {f"{(day.day - 1) // 7 + 1}{weekday}"}
    next_month = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    if (next_month - day).days <= 7:
        out.add(f"-1{weekday}")
    return out


@lru_cache(maxsize=256)
def vtimezone(tzid: str, first: date, last: date) -> Timezone | None:
    """A VTIMEZONE written with yearly RRULEs, as Outlook and Thunderbird write them (vobject and older
    clients misread RDATE lists), valid from `first` to `last`: one STANDARD/DAYLIGHT per era of
    unchanged rules (RRULE with UNTIL where the rule changed later), a lone change as itself."""
    from icalendar import TimezoneDaylight, TimezoneStandard

    zone = resolve_zone(tzid)
    if zone is None:
        return None
    changes = _transitions(zone, first, last)
    tz = Timezone()
    tz.add("TZID", tzid)
    if not changes:
        at = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).astimezone(zone)
        std = TimezoneStandard()
        std.add("DTSTART", datetime(first.year, first.month, first.day))
        std.add("TZOFFSETFROM", at.utcoffset())
        std.add("TZOFFSETTO", at.utcoffset())
        std.add("TZNAME", at.tzname() or tzid)
        tz.add_component(std)
        return tz
    # Each change: (is_dst, wall clock just before it, offset before, offset after, name, UTC instant)
    items = []
    for instant, before, after in changes:
        local = instant.astimezone(zone)
        items.append((bool(local.dst()), (instant + before).replace(tzinfo=None), before, after,
                      local.tzname() or tzid, instant))
    runs: list[list] = []  # consecutive yearly changes of one kind with one rule
    open_run: dict[bool, list | None] = {True: None, False: None}
    for item in items:
        is_dst, wall, before, after, name, _ = item
        run = open_run[is_dst]
        if run is not None:
            prev = run[-1]
            same = (prev[1].year + 1 == wall.year and (prev[1].month, prev[1].time(), prev[2], prev[3], prev[4])
                    == (wall.month, wall.time(), before, after, name))
            byday = set.intersection(*(_byday_candidates(i[1].date()) for i in (*run, item)))
            if same and byday:
                run.append(item)
                continue
        run = [item]
        runs.append(run)
        open_run[is_dst] = run
    for run in runs:
        is_dst, wall, before, after, name, _ = run[0]
        sub = TimezoneDaylight() if is_dst else TimezoneStandard()
        sub.add("DTSTART", wall)
        sub.add("TZOFFSETFROM", before)
        sub.add("TZOFFSETTO", after)
        sub.add("TZNAME", name)
        if len(run) > 1:
            rule = {"FREQ": "YEARLY", "BYMONTH": wall.month,
                    "BYDAY": sorted(set.intersection(*(_byday_candidates(i[1].date()) for i in run)))[0]}
            if run is not open_run[is_dst] or _ends_before(zone, run, last):
                # a day past the last change: clients that compare UNTIL with the local DTSTART
                # (vobject/dateutil) and those that compare in UTC then keep the same occurrences
                rule["UNTIL"] = run[-1][5].astimezone(timezone.utc) + timedelta(days=1)
            sub.add("RRULE", rule)
        tz.add_component(sub)
    return tz


def _ends_before(zone, run, last: date) -> bool:
    """True when the run's yearly rule stops before the span ends (the zone dropped that change)."""
    return run[-1][1].year < last.year - 1


def _order_timezones(cal: Calendar) -> None:
    """VTIMEZONEs first and sorted by TZID: the same events give the same bytes."""
    zones = sorted((c for c in cal.subcomponents if isinstance(c, Timezone)), key=lambda z: str(z["TZID"]))
    others = [c for c in cal.subcomponents if not isinstance(c, Timezone)]
    cal.subcomponents[:] = zones + others


def render_calendar(events: Sequence[Event], calendar: CalendarSettings, *, name: str | None = None,
                    source_names: Mapping[str, str] | None = None, fragments: Fragments | None = None) -> bytes:
    """The subscribable feed: every event, sorted by start then uid; byte-identical for the same input.
    `fragments`: VEVENTs kept from an earlier publish (aggregator/publish/fragments.py)."""
    return _finish(_new_calendar(calendar, name), events, source_names, calendar.timezone, fragments)


def render_event(event: Event, calendar: CalendarSettings, *,
                 source_names: Mapping[str, str] | None = None) -> bytes:
    """One event as a calendar to import (the page's ".ics" download): no feed properties."""
    return _finish(_new_calendar(calendar, None, subscription=False), [event], source_names)


def event_files(events: Iterable[Event], calendar: CalendarSettings, *,
                source_names: Mapping[str, str] | None = None) -> list[tuple[str, bytes]]:
    """Per-event downloads for a static host: ("event/<uid>.ics", bytes), the paths the page links."""
    return [(event_ics_path(e.uid), render_event(e, calendar, source_names=source_names)) for e in events]


# --- sub-calendars of published bytes ---------------------------------------------------------

# A block runs from its BEGIN line to the first END line of its kind. The lines between are
# skipped a line at a time (the same matches as `.*?^END:` in MULTILINE, which tries every byte of
# a megabyte calendar: a fifth of the cost).
_BLOCK = re.compile(rb"^BEGIN:(VEVENT|VTIMEZONE)\r\n(?:[^\n]*\n)*?END:\1\r\n", re.M)
_TZID_PARAM = re.compile(rb";TZID=(\"[^\"]*\"|[^;:]*)")


def _unfold(block: bytes) -> bytes:
    return block.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")


@lru_cache(maxsize=16)
def _prop_pattern(name: bytes) -> re.Pattern:
    return re.compile(rb"^" + name + rb"(?:;[^:\r\n]*)?:(.*)$", re.M)


def _prop(unfolded: bytes, name: bytes) -> bytes | None:
    m = _prop_pattern(name).search(unfolded)
    return m.group(1).rstrip(b"\r") if m else None


def split_calendar(data: bytes) -> tuple[bytes, dict[bytes, bytes], list[tuple[bytes, bytes]]]:
    """A published calendar as (header lines, {TZID: VTIMEZONE block}, [(UID, VEVENT block)]).

    Works on this module's own output: text values are escaped, so no line of a
    value can start with BEGIN: or END:.
    """
    header, zones, events = _split(data)
    return header, zones, [(uid, block) for uid, block, _ in events]


def _split(data: bytes) -> tuple[bytes, dict[bytes, bytes], list[tuple[bytes, bytes, bytes]]]:
    """split_calendar(), each VEVENT with its unfolded text too (read again for its TZIDs)."""
    blocks = list(_BLOCK.finditer(data))
    head_end = blocks[0].start() if blocks else data.rfind(b"END:VCALENDAR")
    header = data[:head_end]
    zones: dict[bytes, bytes] = {}
    events: list[tuple[bytes, bytes, bytes]] = []
    for m in blocks:
        block = m.group(0)
        unfolded = _unfold(block)
        if m.group(1) == b"VTIMEZONE":
            zones[_prop(unfolded, b"TZID") or b""] = block
        else:
            events.append((_prop(unfolded, b"UID") or b"", block, unfolded))
    return header, zones, events


def _retitle(header: bytes, name: str | None, subscription: bool) -> bytes:
    lines = _unfold(header).split(b"\r\n")
    out = []
    for line in lines:
        key = line.split(b":", 1)[0].split(b";", 1)[0].upper()
        if key in (b"NAME", b"X-WR-CALNAME") and name is not None:
            line = key + b":" + escape_text(clean_text(name)).encode("utf-8")
        if not subscription and key in (b"NAME", b"X-WR-CALNAME", b"DESCRIPTION", b"X-WR-CALDESC",
                                        b"REFRESH-INTERVAL", b"X-PUBLISHED-TTL"):
            continue
        if line:
            out.append(fold_line(line.decode("utf-8")).encode("utf-8"))
    return b"".join(line + b"\r\n" for line in out)


def event_files_from(data: bytes) -> list[tuple[str, bytes]]:
    """Per-event downloads cut out of the published calendar `data` (cheap: no re-rendering):
    ("event/<uid>.ics", a calendar to import holding that event and the VTIMEZONEs it uses)."""
    header, zones, events = _split(data)
    head = _retitle(header, None, subscription=False)
    files = []
    for uid, block, unfolded in events:
        used = {m.group(1).strip(b'"') for m in _TZID_PARAM.finditer(unfolded)}
        parts = [head, *(zones[tzid] for tzid in sorted(zones) if tzid in used), block, b"END:VCALENDAR\r\n"]
        files.append((event_ics_path(uid.decode("utf-8")), b"".join(parts)))
    return files


def select_from_calendar(data: bytes, uids: set[str] | None, *, name: str | None = None,
                         subscription: bool = True) -> bytes:
    """The published calendar `data` keeping only the events whose UID is in `uids` (all when None)
    and the VTIMEZONEs they use; retitled `name` when given. Deterministic like its input."""
    header, zones, events = _split(data)
    wanted = None if uids is None else {u.encode("utf-8") for u in uids}
    kept = [(block, unfolded) for uid, block, unfolded in events if wanted is None or uid in wanted]
    used: set[bytes] = set()
    for _, unfolded in kept:
        used.update(m.group(1).strip(b'"') for m in _TZID_PARAM.finditer(unfolded))
    parts = [_retitle(header, name, subscription)]
    if not kept and zones:
        used = {sorted(zones)[0]}  # RFC 5545 wants at least one component in a calendar
    parts += [zones[tzid] for tzid in sorted(zones) if tzid in used]
    parts += [block for block, _ in kept]
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


def static_feeds(config: Config, events: Sequence[Event], *,
                 fragments: Fragments | None = None) -> list[tuple[str, bytes]]:
    """Every filtered feed declared under `feeds:` in sources.yaml: (path relative to the
    output folder, calendar bytes). `outputs.publish` writes them."""
    names = {s.id: (s.name or s.id) for s in config.sources}
    files = []
    for spec in config.feeds:
        chosen = feed_filter(spec).select(events)
        files.append((spec.path, render_calendar(chosen, config.calendar,
                                                 name=feed_title(config.calendar.name, spec.name),
                                                 source_names=names, fragments=fragments)))
    return files
