"""Time zone names as sources write them, resolved to IANA zones.

Pure functions, no I/O: adapters, config and normalize all use them. Outlook
and Exchange write Windows names ("Central Standard Time"); icalendar ships the
CLDR mapping from those to IANA names, so we use it rather than our own table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


_ALIASES = {"utc": "UTC", "z": "UTC", "gmt": "UTC", "etc/utc": "UTC", "etc/gmt": "UTC"}

# Outlook also writes a zone's Windows *display name*, often after its offset:
# "(UTC-06:00) Central Time (US & Canada)", "(GMT-06.00) Central Time (US & Canada)".
# CLDR maps Windows ids, not display names; these are the ones our users' calendars use.
_WINDOWS_DISPLAY = {
    "eastern time (us & canada)": "America/New_York",
    "central time (us & canada)": "America/Chicago",
    "mountain time (us & canada)": "America/Denver",
    "pacific time (us & canada)": "America/Los_Angeles",
    "arizona": "America/Phoenix",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "indiana (east)": "America/Indiana/Indianapolis",
    "atlantic time (canada)": "America/Halifax",
    "newfoundland": "America/St_Johns",
    "saskatchewan": "America/Regina",
    "dublin, edinburgh, lisbon, london": "Europe/London",
    "amsterdam, berlin, bern, rome, stockholm, vienna": "Europe/Berlin",
    "brussels, copenhagen, madrid, paris": "Europe/Paris",
    "canberra, melbourne, sydney": "Australia/Sydney",
    "auckland, wellington": "Pacific/Auckland",
    "coordinated universal time": "UTC",
}
_DISPLAY_PREFIX = re.compile(r"^\((?:utc|gmt)\s*(?:[+-]\s*\d{1,2}(?:[:.]\d{2})?)?\)\s*", re.I)


def _display_name_zone(name: str) -> str:
    text = _DISPLAY_PREFIX.sub("", name).strip()
    if " : " in text:  # "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London"
        text = text.rsplit(" : ", 1)[1]
    return _WINDOWS_DISPLAY.get(" ".join(text.lower().split()), "")


@lru_cache(maxsize=512)
def resolve_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name` means, or None when it names no zone we know.

    Accepts IANA names, Windows names ("Central Standard Time"), common Windows
    display names ("(UTC-06:00) Central Time (US & Canada)"), and the quoted or
    prefixed forms seen in the wild ('"America/Chicago"', '/mozilla.org/20050126_1/Europe/Berlin').
    """
    if not name:
        return None
    cleaned = name.strip().strip('"').strip()
    if not cleaned:
        return None
    if cleaned.lower() in _ALIASES:
        return ZoneInfo("UTC")
    for candidate in _candidates(cleaned):
        if not candidate or candidate.startswith("/") or ".." in candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            continue
    return None


def _candidates(cleaned: str) -> Iterator[str]:
    """The names `cleaned` may stand for, most likely first (lazily: the Windows table is
    looked up only for a name that is not itself an IANA zone)."""
    yield cleaned
    yield _windows_zones().get(cleaned, "")
    yield _display_name_zone(cleaned)
    if "/" in cleaned:
        # '/mozilla.org/20050126_1/America/New_York' or '/America/New_York'
        parts = cleaned.strip("/").split("/")
        yield "/".join(parts[-2:])
        yield "/".join(parts[-3:])


@lru_cache(maxsize=1)
def _windows_zones() -> dict[str, str]:
    """CLDR's Windows zone names to IANA ones, from icalendar's table: imported when first
    needed, so a run that reads no calendar and meets no Windows name never loads icalendar."""
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    return WINDOWS_TO_OLSON


def is_valid_zone(name: str) -> bool:
    return resolve_zone(name) is not None


def zone_name(tz) -> str | None:
    """The IANA name of a tzinfo, when it has one."""
    if tz is None:
        return None
    if tz is timezone.utc:
        return "UTC"
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return str(key)
    resolved = resolve_zone(str(tz))
    return resolved.key if resolved else None


def localize(value: datetime | date, zone: tzinfo) -> datetime | date:
    """Attach `zone` to a floating (naive) datetime; dates and aware datetimes pass through."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def standard_offset(zone: tzinfo, year: int) -> timedelta | None:
    """The zone's standard-time offset that year (the smaller of its January and July offsets)."""
    offsets = [datetime(year, month, 15, 12, tzinfo=zone).utcoffset() for month in (1, 7)]
    return None if None in offsets else min(offsets)


def same_family(a: tzinfo, b: tzinfo, year: int) -> bool:
    """Whether two zones keep one standard time ("Mountain": Denver and Phoenix; "Eastern": New York
    and Indianapolis), so one zone word ("MST", "ET") names either; daylight saving may differ."""
    return standard_offset(a, year) == standard_offset(b, year)


def first_zone(*names: str | None) -> ZoneInfo | None:
    """The first of `names` that resolves to a zone (e.g. the source's zone, then the calendar's)."""
    for name in names:
        zone = resolve_zone(name)
        if zone is not None:
            return zone
    return None


@lru_cache(maxsize=1)
def _golden() -> tuple[str, ...]:
    """The zones CLDR maps Windows names to: one well-known city per region ("golden" zones)."""
    return tuple(dict.fromkeys(z for z in _windows_zones().values() if "/" in z))


def _offsets(tz, instants: tuple[datetime, ...]) -> tuple | None:
    try:
        return tuple(t.astimezone(tz).utcoffset() for t in instants)
    except Exception:  # a malformed custom zone
        return None


@lru_cache(maxsize=64)
def _monthly(year: int) -> tuple[datetime, ...]:
    return tuple(datetime(year, month, 15, 12, tzinfo=timezone.utc) for month in range(1, 13))


@lru_cache(maxsize=8192)
def _zone_monthly(key: str, year: int) -> tuple | None:
    return _offsets(ZoneInfo(key), _monthly(year))


@lru_cache(maxsize=2048)
def _zone_changes(key: str, year: int) -> tuple[tuple[datetime, object], ...]:
    """(instant, offset) on both sides of each offset change of zone `key` in `year`, to the hour."""
    zone, start = ZoneInfo(key), datetime(year, 1, 1, tzinfo=timezone.utc)
    points, previous = [], None
    for hour in range(0, 366 * 24):
        instant = start + timedelta(hours=hour)
        offset = instant.astimezone(zone).utcoffset()
        if previous is not None and offset != previous[1]:
            points += [previous, (instant, offset)]
        previous = (instant, offset)
    return tuple(points)


def equivalent_zone(tz, *, around: datetime | date | None = None,
                    prefer: tuple[str | None, ...] = ()) -> ZoneInfo | None:
    """The IANA zone that keeps the same clock as `tz` through the year of `around`.

    For zones a calendar defines itself under a private name (a VTIMEZONE called
    "Eastern" or "Canberra, Melbourne, Sydney"): events keep their instant but are
    shown in a real zone. Zones named in `prefer` (the source's or the calendar's zone)
    win when they match, then CLDR's well-known city per region, then any IANA zone.
    None when no zone keeps that clock. Compared mid-month through that year and on
    both sides of each of the candidate's changes, to the hour, which tells apart
    zones that change on the same day at different hours (New York, Havana).
    """
    year = (around or datetime.now(timezone.utc)).year
    monthly = _offsets(tz, _monthly(year))
    if monthly is None:
        return None
    preferred = [z.key for z in (resolve_zone(p) for p in prefer) if z is not None]
    for group in (preferred, _golden(), sorted(_all_zone_keys())):
        for key in group:
            if _zone_monthly(key, year) != monthly:
                continue
            changes = _zone_changes(key, year)
            if _offsets(tz, tuple(t for t, _ in changes)) == tuple(o for _, o in changes):
                return ZoneInfo(key)
    return None


@lru_cache(maxsize=1)
def _all_zone_keys() -> frozenset[str]:
    from zoneinfo import available_timezones

    # Canonical "Area/City" names only; no "posix/", "right/" or legacy aliases like "US/Central".
    areas = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/",
             "Indian/", "Pacific/")
    return frozenset(k for k in available_timezones() if k.startswith(areas))
