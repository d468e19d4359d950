"""Zone names as sources write them, resolved to IANA zones (aggregator/timezones.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest

from aggregator.timezones import (
    equivalent_zone,
    first_zone,
    is_valid_zone,
    localize,
    resolve_zone,
    zone_name,
)


@pytest.mark.parametrize("written, expected", [
    ("America/Chicago", "America/Chicago"),
    ('"America/Chicago"', "America/Chicago"),
    ("  Europe/Berlin ", "Europe/Berlin"),
    ("Central Standard Time", "America/Chicago"),          # Outlook / Exchange
    ("Eastern Standard Time", "America/New_York"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("/mozilla.org/20050126_1/America/New_York", "America/New_York"),  # old Thunderbird
    ("/America/Denver", "America/Denver"),
    ("UTC", "UTC"), ("Z", "UTC"), ("GMT", "UTC"), ("Etc/UTC", "UTC"),
    ("(UTC-06:00) Central Time (US & Canada)", "America/Chicago"),   # Outlook display names
    ("(GMT-05.00) Eastern Time (US & Canada)", "America/New_York"),
    ("Pacific Time (US & Canada)", "America/Los_Angeles"),
    ("(UTC-07:00) Arizona", "America/Phoenix"),
    ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("Canberra, Melbourne, Sydney", "Australia/Sydney"),
])
def test_names_sources_write_resolve_to_iana_zones(written, expected):
    assert resolve_zone(written).key == expected
    assert is_valid_zone(written)


@pytest.mark.parametrize("written", [None, "", '""', "Chapter Local Time", "Mars/Olympus_Mons",
                                     "../../etc/passwd", "/etc/passwd", "America/../../etc"])
def test_names_that_are_no_zone_resolve_to_none(written):
    assert resolve_zone(written) is None


def test_first_zone_takes_the_source_zone_then_the_calendar_zone():
    assert first_zone(None, "Nowhere", "America/Denver", "America/Chicago").key == "America/Denver"
    assert first_zone(None, "") is None


def test_zone_name_and_localize():
    chicago = ZoneInfo("America/Chicago")
    assert zone_name(chicago) == "America/Chicago"
    assert zone_name(timezone.utc) == "UTC"
    assert zone_name(None) is None
    floating = datetime(2026, 11, 3, 18, 30)
    assert localize(floating, chicago).utcoffset().total_seconds() == -6 * 3600
    assert localize(date(2026, 11, 3), chicago) == date(2026, 11, 3)
    aware = datetime(2026, 11, 3, 18, 30, tzinfo=timezone.utc)
    assert localize(aware, chicago) is aware


def _vtimezone_tz(text: str):
    """The tzinfo icalendar builds from a VTIMEZONE under a private TZID (unique: icalendar caches by TZID)."""
    tzid = f"Private {hash(text)}"
    calendar = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\n" + text.replace("\n", "\r\n").replace("TZID:Private", f"TZID:{tzid}") +
        f"BEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID={tzid}:20260701T120000\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n")
    start = next(iter(calendar.walk("VEVENT")))["DTSTART"].dt
    assert start.tzinfo is not None and getattr(start.tzinfo, "key", None) is None, "a custom zone"
    return start.tzinfo


EASTERN = """BEGIN:VTIMEZONE
TZID:Private
BEGIN:STANDARD
DTSTART:19671029T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19870405T020000
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
END:DAYLIGHT
END:VTIMEZONE
"""

INDIA = """BEGIN:VTIMEZONE
TZID:Private
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
"""

ODD = """BEGIN:VTIMEZONE
TZID:Private
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0517
TZOFFSETTO:+0517
END:STANDARD
END:VTIMEZONE
"""


def test_a_private_vtimezone_is_shown_in_the_iana_zone_that_keeps_its_clock():
    eastern = _vtimezone_tz(EASTERN)
    assert equivalent_zone(eastern, around=date(2026, 7, 1)).key == "America/New_York"
    assert equivalent_zone(_vtimezone_tz(INDIA), around=date(2026, 7, 1)).key == "Asia/Calcutta"  # CLDR's name


def test_the_calendars_own_zone_wins_when_it_keeps_the_same_clock():
    eastern = _vtimezone_tz(EASTERN)
    assert equivalent_zone(eastern, around=date(2026, 7, 1), prefer=("America/Detroit",)).key == "America/Detroit"
    # A preferred zone with another clock is passed over.
    assert equivalent_zone(eastern, around=date(2026, 7, 1), prefer=("America/Chicago",)).key == "America/New_York"


def test_a_clock_no_zone_keeps_has_no_equivalent():
    assert equivalent_zone(_vtimezone_tz(ODD), around=date(2026, 7, 1)) is None


def test_zones_of_one_standard_time_are_one_family_whatever_their_daylight_saving():
    from aggregator.timezones import same_family

    assert same_family(ZoneInfo("America/Denver"), ZoneInfo("America/Phoenix"), 2026)
    assert same_family(ZoneInfo("America/New_York"), ZoneInfo("America/Indiana/Indianapolis"), 2026)
    assert not same_family(ZoneInfo("America/Denver"), ZoneInfo("America/Chicago"), 2026)
