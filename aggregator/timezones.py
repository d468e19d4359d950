"""Time zone names as sources write them, resolved to IANA zones.

Pure functions, no I/O: adapters, config and normalize all use them. Outlook
and Exchange write Windows names ("Central Standard Time"); icalendar ships the
CLDR mapping from those to IANA names, so we use it rather than our own table.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

_ALIASES = {"utc": "UTC", "z": "UTC", "gmt": "UTC", "etc/utc": "UTC", "etc/gmt": "UTC"}


@lru_cache(maxsize=512)
def resolve_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name` means, or None when it names no zone we know.

    Accepts IANA names, Windows names, and the quoted or prefixed forms
    seen in the wild ('"America/Chicago"', '/mozilla.org/20050126_1/Europe/Berlin').
    """
    if not name:
        return None
    cleaned = name.strip().strip('"').strip()
    if not cleaned:
        return None
    if cleaned.lower() in _ALIASES:
        return ZoneInfo("UTC")
    candidates = [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
    if "/" in cleaned:
        # '/mozilla.org/20050126_1/America/New_York' or '/America/New_York'
        parts = cleaned.strip("/").split("/")
        candidates += ["/".join(parts[-2:]), "/".join(parts[-3:])]
    for candidate in candidates:
        if not candidate or candidate.startswith("/") or ".." in candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            continue
    return None


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


def localize(value: datetime | date, zone: ZoneInfo) -> datetime | date:
    """Attach `zone` to a floating (naive) datetime; dates and aware datetimes pass through."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value
