"""The ical adapter on fixture files written for what they exercise (tests/fixtures/ical/).

Times are asserted as exact UTC instants plus the zone the event is shown in. Where the
reader's own zone could leak in (floating times, the process TZ), the tests run under two
zones.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Status, Window
from sources.base import Skipped, SourceOptions
import sources.ical as ical
from sources.ical import ICalAdapter, read_ical_bytes
from tests.adapter_contract import AdapterContract
from tests.conftest import SHARED_CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "ical"
UTC = timezone.utc
WIDE = Window(datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
# icalendar warns when it reads '/mozilla.org/.../America/Phoenix' as America/Phoenix; so do we, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Timezone .* is a globally unique TZID")


class TestICalContract(AdapterContract):
    adapter = ICalAdapter
    good_fixture = "ical/rrule_exdate_recurid.ics"


def options(tz: str | None = "America/Chicago", **extra) -> SourceOptions:
    return SourceOptions(id="amta-il", type="ical", url="http://127.0.0.1/unused.ics", timezone=tz, **extra)


def read(name: str, *, tz: str | None = "America/Chicago", window: Window = WIDE) -> list[RawEvent | Skipped]:
    content = (FIXTURES / name).read_bytes()
    return list(read_ical_bytes(content, options(tz), window, origin=name))


def records(name: str, **kw) -> list[RawEvent]:
    return [r for r in read(name, **kw) if isinstance(r, RawEvent)]


def by_id(name: str, **kw) -> dict[str, RawEvent]:
    return {r.external_id: r for r in records(name, **kw)}


def utc(value: datetime) -> datetime:
    assert isinstance(value, datetime) and value.tzinfo is not None, f"{value!r} is not an aware datetime"
    return value.astimezone(UTC)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(params=["UTC", "Australia/Sydney"])
def process_tz(request, monkeypatch):
    """Run under two process time zones: nothing may depend on the machine's zone."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# ----------------------------------------------------------------------------- through HTTP


def test_adapter_reads_the_feed_through_the_fetcher_and_asks_for_text_calendar(http):
    url = http.url("/files/ical/rrule_exdate_recurid.ics")
    source = SourceOptions(id="amta-il", type="ical", url=url, timezone="America/Chicago")
    items = list(ICalAdapter().read(source, HttpFetcher(), WIDE))
    assert len([i for i in items if isinstance(i, RawEvent)]) == 12
    assert [r.path for r in http.log] == ["/files/ical/rrule_exdate_recurid.ics"]
    assert "text/calendar" in http.log[0].headers.get("Accept", "")


def test_a_web_page_instead_of_the_feed_is_refused_with_a_sentence_naming_the_fix(http):
    url = http.url("/files/ical/not_a_calendar.html")
    with pytest.raises(ParseError) as caught:
        list(ICalAdapter().read(SourceOptions(id="amta-il", type="ical", url=url), HttpFetcher(), WIDE))
    message = str(caught.value)
    assert message.startswith("amta-il: ")
    assert "web page (HTML), not an iCalendar file" in message
    assert ".ics" in message
    assert caught.value.reason == "not_a_calendar"


def test_a_404_is_a_source_error_not_a_crash(http):
    with pytest.raises(SourceError):
        list(ICalAdapter().read(SourceOptions(id="amta-il", type="ical", url=http.url("/status/404")),
                                HttpFetcher(), WIDE))


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("body, words", [
    (b"", "empty body"),
    (b"   \r\n  ", "empty body"),
    (b"\x00\x01\x02BEGIN:VCALENDAR\x00", "binary data"),
    (b"<html><body>Log in to see the calendar</body></html>", "web page (HTML)"),
    (b'{"events": []}', "no BEGIN:VCALENDAR"),
])
def test_bodies_that_are_not_calendars_raise_parse_error_at_once(body, words):
    with pytest.raises(ParseError) as caught:
        read_ical_bytes(body, options(), WIDE, origin="https://example.org/feed.ics")  # not iterated
    assert words in str(caught.value)
    assert "https://example.org/feed.ics" in str(caught.value)


def test_a_calendar_with_no_events_is_read_as_empty_not_refused():
    body = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n"
    assert list(read_ical_bytes(body, options(), WIDE, origin="x")) == []


def test_a_byte_order_mark_and_lf_line_endings_are_accepted():
    text = (FIXTURES / "cancelled_event.ics").read_bytes().replace(b"\r\n", b"\n")
    items = list(read_ical_bytes(b"\xef\xbb\xbf" + text, options(), WIDE, origin="x"))
    assert len(items) == 3


def test_latin1_text_is_read_with_a_warning_not_refused(caplog):
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:cafe@x\r\nDTSTART:20261201T180000Z\r\n"
            "SUMMARY:Massage th\u00e9rapeutique au caf\u00e9\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode("latin-1")
    with caplog.at_level(logging.WARNING):
        (event,) = read_ical_bytes(body, options(), WIDE, origin="x")
    assert event.title == "Massage th\u00e9rapeutique au caf\u00e9"
    assert "not UTF-8" in caplog.text


# ----------------------------------------------------------------------------- time zones


def test_weekly_meeting_keeps_its_local_hour_across_the_november_and_march_dst_changes(process_tz):
    events = by_id("dst_crossing_chicago.ics")
    peer = sorted((r for r in events.values() if r.external_id.startswith("weekly-peer")), key=lambda r: utc(r.start))
    assert len(peer) == 8
    assert [utc(r.start) for r in peer[2:4]] == [at(2026, 10, 27, 23, 30), at(2026, 11, 4, 0, 30)]
    assert {(r.start.hour, r.start.minute) for r in peer} == {(18, 30)}
    assert {r.timezone for r in peer} == {"America/Chicago"}
    study = sorted((r for r in events.values() if r.external_id.startswith("spring-study")), key=lambda r: utc(r.start))
    assert [utc(r.start) for r in study] == [at(2027, 3, 3, 0, 30), at(2027, 3, 10, 0, 30),
                                              at(2027, 3, 16, 23, 30), at(2027, 3, 23, 23, 30)]
    assert utc(study[2].end) == at(2027, 3, 17, 0, 30)


def test_google_x_wr_timezone_shows_utc_times_in_the_calendar_zone_and_repeats_at_local_time(process_tz):
    events = by_id("x_wr_timezone_google.ics", tz="America/New_York")  # X-WR-TIMEZONE wins
    mixer = events["0a1b2c3d4e5f6g7h8i9j@google.com"]
    assert utc(mixer.start) == at(2026, 12, 5, 2, 0)
    assert (mixer.start.hour, mixer.timezone) == (18, "America/Los_Angeles")
    circle = sorted((r for r in events.values() if r.external_id.startswith("7k8l")), key=lambda r: utc(r.start))
    # Google means "Wednesdays 6 pm Pacific": the hour holds across the 1 November change.
    assert [utc(r.start) for r in circle] == [at(2026, 10, 22, 1), at(2026, 10, 29, 1),
                                               at(2026, 11, 5, 2), at(2026, 11, 12, 2)]
    assert {r.start.hour for r in circle} == {18}
    assert circle[2].external_id == "7k8l9m0n1o2p3q4r5s6t@google.com/2026-11-05T02:00:00+00:00"
    workshop = events["floating-in-google@google.com"]  # floating: read in X-WR-TIMEZONE
    assert utc(workshop.start) == at(2026, 12, 15, 17, 0)
    assert workshop.timezone == "America/Los_Angeles"


@pytest.mark.parametrize("source_zone, expected_utc", [
    ("America/Chicago", at(2026, 12, 5, 16, 0)),
    ("America/New_York", at(2026, 12, 5, 15, 0)),
])
def test_floating_times_are_read_in_the_source_zone(process_tz, source_zone, expected_utc):
    events = by_id("floating_time_source_zone.ics", tz=source_zone)
    workshop = events["floating-ce-workshop@chapter.example.org"]
    assert utc(workshop.start) == expected_utc
    assert utc(workshop.end) == expected_utc + timedelta(hours=6, minutes=30)
    assert workshop.timezone == source_zone
    clinic = sorted(k for k in events if k.startswith("floating-weekly-clinic"))
    assert len(clinic) == 2, "the EXDATE on 3 November (floating) removes one of three"


def test_floating_times_with_no_zone_configured_are_read_as_utc():
    (workshop, *_) = records("floating_time_source_zone.ics", tz=None)
    assert utc(workshop.start) == at(2026, 12, 5, 10, 0)
    assert workshop.timezone == "UTC"


def test_outlook_windows_zone_names_are_mapped_to_iana_zones(process_tz):
    events = records("windows_tzid_outlook.ics")
    meeting = next(r for r in events if r.title == "Quarterly Membership Meeting")
    assert utc(meeting.start) == at(2026, 11, 11, 0, 30)
    assert meeting.timezone == "America/Chicago"
    webinar = next(r for r in events if r.title.startswith("Webinar"))  # "Pacific Standard Time", no VTIMEZONE
    assert utc(webinar.start) == at(2026, 11, 18, 20, 0)
    assert webinar.timezone == "America/Los_Angeles"


def test_tzid_without_vtimezone_is_resolved_by_name_and_an_unknown_one_falls_back_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="sources.ical"):
        events = by_id("tzid_without_vtimezone.ics")
    breakfast = events["ny-networking-breakfast@chapter.example.org"]
    assert (utc(breakfast.start), breakfast.timezone) == (at(2026, 12, 8, 13, 0), "America/New_York")
    phoenix = events["phoenix-mozilla-tzid@chapter.example.org"]
    assert (utc(phoenix.start), phoenix.timezone) == (at(2026, 12, 10, 1, 0), "America/Phoenix")
    board = events["unknown-tzid@chapter.example.org"]
    assert (utc(board.start), board.timezone) == (at(2026, 12, 11, 1, 0), "America/Chicago")
    assert "amta-il: TZID 'Chapter Local Time' has no VTIMEZONE and names no zone we know; " \
           "its times are read in America/Chicago" in caplog.text


def test_utc_times_are_shown_in_the_source_zone_at_the_same_instant():
    event = by_id("cancelled_event.ics", tz="America/Denver")["cancelled-hot-stone@chapter.example.org"]
    assert utc(event.start) == at(2026, 12, 12, 15, 0)
    assert (event.start.hour, event.timezone) == (8, "America/Denver")


# ----------------------------------------------------------------------------- lengths


def test_all_day_events_are_dates_with_the_exclusive_end_the_source_gives():
    events = by_id("all_day_and_multi_day.ics")
    single = events["massage-therapy-awareness-day@midwest.example.org"]
    assert (single.start, single.end) == (date(2026, 12, 12), date(2026, 12, 13))  # no DTEND: one day
    conference = events["midwest-massage-conference-2027@midwest.example.org"]
    assert (conference.start, conference.end) == (date(2027, 3, 12), date(2027, 3, 15))  # Fri-Sun
    assert not isinstance(conference.start, datetime)
    retreat = events["two-day-retreat@midwest.example.org"]
    assert (retreat.start, retreat.end) == (date(2027, 2, 6), date(2027, 2, 8))  # DURATION:P2D
    assert conference.timezone == "America/Chicago"


def test_duration_gives_the_end_and_a_timed_start_alone_has_no_length():
    events = by_id("duration_no_dtend.ics")
    qa = events["duration-90-minutes@chapter.example.org"]
    assert utc(qa.end) - utc(qa.start) == timedelta(minutes=90)
    lunch = events["no-end-timed@chapter.example.org"]
    assert (utc(lunch.start), lunch.end) == (at(2026, 12, 4, 18, 0), None)
    deadline = events["no-end-date@chapter.example.org"]
    assert (deadline.start, deadline.end) == (date(2026, 12, 6), date(2026, 12, 7))


# ----------------------------------------------------------------------------- recurrence


def test_monthly_meeting_expands_with_its_exdate_removed_and_its_moved_occurrence_overridden():
    events = by_id("rrule_exdate_recurid.ics")
    meetings = sorted((r for r in events.values() if r.external_id.startswith("monthly-chapter")),
                      key=lambda r: utc(r.start))
    assert len(meetings) == 11, "12 second-Tuesdays less the December EXDATE"
    assert "monthly-chapter-meeting@amta-il.example.org/2026-12-09T00:30:00+00:00" not in events
    moved = events["monthly-chapter-meeting@amta-il.example.org/2027-01-13T00:30:00+00:00"]
    assert utc(moved.start) == at(2027, 1, 15, 1, 0)  # Thursday 14 January, 7 pm Chicago
    assert moved.title == "Monthly Chapter Meeting (moved to Thursday)"
    assert moved.location.startswith("Harold Washington Library")
    september = meetings[0]
    assert september.external_id == "monthly-chapter-meeting@amta-il.example.org/2026-09-08T23:30:00+00:00"
    assert september.url == "https://amta-il.example.org/meetings"
    assert september.tags == ("networking", "chapter meeting")
    assert september.description == "Networking, chapter news and a short CE talk."
    single = events["ce-workshop-prenatal@amta-il.example.org"]  # a single event keeps its plain UID
    assert utc(single.start) == at(2026, 10, 17, 14, 0)


def test_only_occurrences_inside_the_window_are_emitted_with_stable_ids():
    window = Window(at(2026, 11, 1), at(2027, 2, 1))
    ids = sorted(r.external_id for r in records("rrule_exdate_recurid.ics", window=window))
    assert ids == ["monthly-chapter-meeting@amta-il.example.org/2026-11-11T00:30:00+00:00",
                   "monthly-chapter-meeting@amta-il.example.org/2027-01-13T00:30:00+00:00"]
    assert ids == sorted(r.external_id for r in records("rrule_exdate_recurid.ics", window=window))


def test_rdate_adds_the_listed_dates():
    starts = sorted(utc(r.start) for r in records("rdate.ics"))
    assert starts == [at(2026, 11, 7, 16), at(2026, 11, 21, 16), at(2026, 12, 5, 16), at(2027, 1, 9, 16)]


def test_a_bad_rrule_keeps_the_event_as_written_and_loses_no_other_event(caplog):
    body = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
BEGIN:VEVENT\r
UID:bad-rule@x\r
DTSTART;TZID=America/Chicago:20261201T180000\r
RRULE:FREQ=WEEKLY;UNTL=20270101\r
SUMMARY:Weekly Stretching Class\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:fine@x\r
DTSTART;TZID=America/Chicago:20261202T180000\r
RRULE:FREQ=WEEKLY;COUNT=3\r
SUMMARY:Reiki Share\r
END:VEVENT\r
END:VCALENDAR\r
"""
    with caplog.at_level(logging.WARNING):
        items = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    titles = sorted(r.title for r in items if isinstance(r, RawEvent))
    assert titles == ["Reiki Share"] * 3 + ["Weekly Stretching Class"]
    assert "bad-rule@x" in caplog.text and "only the event as written is kept" in caplog.text


def test_a_runaway_series_is_capped():
    body = b"""BEGIN:VCALENDAR\r
BEGIN:VEVENT\r
UID:hourly@x\r
DTSTART:20260101T000000Z\r
RRULE:FREQ=HOURLY\r
SUMMARY:Spam\r
END:VEVENT\r
END:VCALENDAR\r
"""
    started = time.perf_counter()
    items = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    assert len(items) == 1000
    assert time.perf_counter() - started < 5


def test_one_cancelled_occurrence_of_a_series_is_cancelled_and_the_others_are_not():
    body = b"""BEGIN:VCALENDAR\r
BEGIN:VEVENT\r
UID:yoga-for-lmts@google.com\r
DTSTART;TZID=America/Chicago:20261201T180000\r
DTEND;TZID=America/Chicago:20261201T190000\r
RRULE:FREQ=WEEKLY;COUNT=3\r
SUMMARY:Yoga for Massage Therapists\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:yoga-for-lmts@google.com\r
RECURRENCE-ID;TZID=America/Chicago:20261208T180000\r
DTSTART;TZID=America/Chicago:20261208T180000\r
DTEND;TZID=America/Chicago:20261208T190000\r
STATUS:CANCELLED\r
SUMMARY:Yoga for Massage Therapists\r
END:VEVENT\r
END:VCALENDAR\r
"""
    events = {r.external_id: r.status for r in read_ical_bytes(body, options(), WIDE, origin="x")}
    assert events == {
        "yoga-for-lmts@google.com/2026-12-02T00:00:00+00:00": Status.CONFIRMED,
        "yoga-for-lmts@google.com/2026-12-09T00:00:00+00:00": Status.CANCELLED,
        "yoga-for-lmts@google.com/2026-12-16T00:00:00+00:00": Status.CONFIRMED,
    }


def test_an_invitation_for_one_occurrence_without_its_series_is_identified_by_uid_and_recurrence_id():
    body = b"""BEGIN:VCALENDAR\r
METHOD:REQUEST\r
BEGIN:VEVENT\r
UID:board@chapter.example.org\r
RECURRENCE-ID;VALUE=DATE:20261210\r
DTSTART;VALUE=DATE:20261211\r
SUMMARY:Board Retreat (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""
    (event,) = read_ical_bytes(body, options(), WIDE, origin="message <abc@x>")
    assert event.external_id == "board@chapter.example.org/2026-12-10"
    assert (event.start, event.end) == (date(2026, 12, 11), date(2026, 12, 12))


@pytest.mark.parametrize("rule, start", [("FREQ=SECONDLY", "20261001T000000Z"),
                                         ("FREQ=MINUTELY;INTERVAL=1", "20250101T000000Z"),
                                         ("FREQ=DAILY", "00010101T000000Z")])
def test_a_rule_that_would_stall_the_run_is_kept_as_written_and_finishes_at_once(rule, start, caplog):
    body = (f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:stall@x\r\nDTSTART:{start}\r\nRRULE:{rule}\r\n"
            "SUMMARY:Reminder\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:fine@x\r\nDTSTART:20261201T180000Z\r\n"
            "SUMMARY:Stretching Workshop\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    started = time.process_time()
    with caplog.at_level(logging.WARNING):
        items = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    assert time.process_time() - started < 1.0
    assert "Stretching Workshop" in [i.title for i in items if isinstance(i, RawEvent)]
    assert len(items) <= 2
    assert "only the event as written is kept" in caplog.text


def test_a_this_and_future_change_moves_later_occurrences_and_keeps_their_ids():
    body = b"""BEGIN:VCALENDAR\r
BEGIN:VEVENT\r
UID:series@x\r
DTSTART;TZID=America/Chicago:20261201T180000\r
DTEND;TZID=America/Chicago:20261201T190000\r
RRULE:FREQ=WEEKLY;COUNT=4\r
SUMMARY:Tuesday Trade\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series@x\r
RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=America/Chicago:20261215T180000\r
DTSTART;TZID=America/Chicago:20261215T190000\r
DTEND;TZID=America/Chicago:20261215T200000\r
SUMMARY:Tuesday Trade (new time)\r
END:VEVENT\r
END:VCALENDAR\r
"""
    items = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    assert all(isinstance(i, RawEvent) for i in items), [i for i in items if isinstance(i, Skipped)]
    starts = {i.external_id.split("/")[1]: i.start.hour for i in items}
    assert starts == {"2026-12-02T00:00:00+00:00": 18, "2026-12-09T00:00:00+00:00": 18,
                      "2026-12-16T00:00:00+00:00": 19, "2026-12-23T00:00:00+00:00": 19}


# ----------------------------------------------------------------------------- status and fields


def test_cancelled_and_tentative_are_kept_as_such():
    events = by_id("cancelled_event.ics")
    assert events["cancelled-hot-stone@chapter.example.org"].status is Status.CANCELLED
    assert events["tentative-mixer@chapter.example.org"].status is Status.TENTATIVE
    assert events["confirmed-meeting@chapter.example.org"].status is Status.CONFIRMED


def test_an_invitation_with_method_cancel_is_a_cancellation():
    (event,) = records("cancelled_invitation_method_cancel.ics")
    assert event.status is Status.CANCELLED
    assert event.external_id == "invite-sports-massage-clinic@chapter.example.org"


def test_html_description_url_fallback_and_categories():
    events = by_id("fields_description_url_categories.ics")
    demo = events["fields-html-desc@chapter.example.org"]
    assert demo.description == "<p>Hands-on <b>cupping</b> demo.</p>"  # normalize makes it plain text
    assert demo.url == "https://chapter.example.org/events/cupping"
    assert demo.tags == ("Workshop", "CE", "Hands-on")
    fundraiser = events["fields-plain@chapter.example.org"]
    assert fundraiser.description == "Plain text wins over HTML."
    assert fundraiser.url == "https://chapter.example.org/events/fundraiser"
    assert fundraiser.location == "Union Station"


# ----------------------------------------------------------------------------- broken input


def test_one_broken_dtstart_is_skipped_with_a_reason_and_a_warning_and_the_others_are_read(caplog):
    with caplog.at_level(logging.WARNING, logger="sources.ical"):
        items = read("broken_dtstart_one_event.ics")
    assert sorted(r.title for r in items if isinstance(r, RawEvent)) == ["Reflexology Meetup",
                                                                          "Thai Massage Practice Night"]
    (skipped,) = [s for s in items if isinstance(s, Skipped)]
    assert skipped.item == 'VEVENT broken-start@chapter.example.org "Event With A Mangled Start"'
    assert skipped.reason.startswith("its DTSTART (line 13) cannot be read"), "the line helps the curator find it"
    assert "amta-il: VEVENT broken-start@chapter.example.org" in caplog.text


def test_events_without_a_title_or_start_are_skipped_and_a_repeated_uid_gives_one_record():
    body = b"""BEGIN:VCALENDAR\r
BEGIN:VEVENT\r
UID:no-title@x\r
DTSTART:20261201T180000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:no-start@x\r
SUMMARY:Somewhere\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:twice@x\r
DTSTART:20261203T180000Z\r
SUMMARY:First copy\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:twice@x\r
DTSTART:20261203T180000Z\r
SUMMARY:Second copy\r
END:VEVENT\r
END:VCALENDAR\r
"""
    items = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    reasons = sorted(s.reason for s in items if isinstance(s, Skipped))
    assert [r.title for r in items if isinstance(r, RawEvent)] == ["First copy"]
    assert any("no SUMMARY" in r for r in reasons)
    assert any("no DTSTART" in r for r in reasons)


def test_the_same_event_in_two_vcalendars_of_one_body_is_emitted_once():
    one = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:dup@x\r\nDTSTART:20261201T180000Z\r\nSUMMARY:Open House\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    items = list(read_ical_bytes(one + one, options(), WIDE, origin="x"))
    assert [type(i).__name__ for i in items] == ["RawEvent", "Skipped"]
    assert "same UID" in items[1].reason


def test_an_event_without_uid_gets_a_stable_derived_id():
    body = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261201T180000Z\r\nSUMMARY:Open House\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    first = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    second = list(read_ical_bytes(body, options(), WIDE, origin="x"))
    assert first[0].external_id.startswith("nouid-")
    assert first[0].external_id == second[0].external_id


def test_a_broken_valarm_or_vtimezone_does_not_lose_the_calendar(caplog):
    body = b"""BEGIN:VCALENDAR\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:18930401T000000\r
TZOFFSETFROM:+5328\r
TZOFFSETTO:+0100\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:berlin@x\r
DTSTART;TZID=Europe/Berlin:20261201T190000\r
SUMMARY:Massage Stammtisch\r
BEGIN:VALARM\r
TRIGGER;RELATED=START:PT-2H\r
ACTION:DISPLAY\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""
    with caplog.at_level(logging.WARNING):
        (event,) = read_ical_bytes(body, options(), WIDE, origin="x")
    assert (utc(event.start), event.timezone) == (at(2026, 12, 1, 18, 0), "Europe/Berlin")
    assert "could not be read as written" in caplog.text


def test_a_truncated_download_is_read_up_to_where_it_stops():
    text = (FIXTURES / "cancelled_event.ics").read_bytes()
    truncated = text[: text.index(b"END:VCALENDAR")]
    assert len(list(read_ical_bytes(truncated, options(), WIDE, origin="x"))) == 3


# ----------------------------------------------------------------------------- speed


PERF_FILE = SHARED_CORPUS / "ics" / "rie__issue_173_only_modifications_error.ics"


@pytest.mark.skipif(not PERF_FILE.is_file(), reason="../shared/corpus is absent")
def test_the_677_event_corpus_file_is_read_in_well_under_two_seconds():
    content = PERF_FILE.read_bytes()
    window = Window(at(2023, 12, 1), at(2025, 1, 1))
    started = time.process_time()  # CPU time: the work we do, not how busy the CI machine is
    items = list(read_ical_bytes(content, options(tz="Europe/Paris"), window, origin=PERF_FILE.name))
    elapsed = time.process_time() - started
    assert len([i for i in items if isinstance(i, RawEvent)]) > 600
    assert elapsed < 2.0, f"took {elapsed:.2f} s of CPU"


# ----------------------------------------------------------------------------- fuzzing


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FUZZ_SOURCES = [(FIXTURES / n).read_bytes().split(b"\r\n") for n in (
    "rrule_exdate_recurid.ics", "x_wr_timezone_google.ics", "windows_tzid_outlook.ics", "all_day_and_multi_day.ics")]


@st.composite
def damaged_calendars(draw) -> bytes:
    """A real fixture with lines dropped, repeated, swapped or cut short: what broken exports look like."""
    lines = list(draw(st.sampled_from(_FUZZ_SOURCES)))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "cut", "swap", "garble"]))
        if action == "drop":
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i] + draw(st.binary(max_size=8))
        if not lines:
            break
    return b"\r\n".join(lines)


@settings(max_examples=150, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_calendars())
def test_a_damaged_calendar_gives_records_or_a_source_error_never_a_crash(body):
    try:
        items = list(read_ical_bytes(body, options(), WIDE, origin="fuzz"))
    except SourceError as refused:
        assert refused.reason != "unreadable", f"an unforeseen failure: {refused}"
        return
    for item in items:
        assert isinstance(item, (RawEvent, Skipped))
        if isinstance(item, RawEvent):
            assert item.title and item.external_id and item.start is not None


# ----------------------------------------------------------------------------- expect files


EXPECT_FILES = sorted(FIXTURES.glob("*.expect.json"))


def _when(value) -> str | None:
    if value is None:
        return None
    return value.isoformat()


def reading(fixture: Path, source_zone: str | None, window: Window) -> dict:
    """What the adapter makes of a fixture, as plain data: the records, the skipped items, or the error."""
    try:
        items = list(read_ical_bytes(fixture.read_bytes(), options(source_zone), window, origin=fixture.name))
    except SourceError as refused:
        return {"error": f"{type(refused).__name__}: {refused.message}", "records": [], "skipped": []}
    records = [{"external_id": r.external_id, "title": r.title, "start": _when(r.start), "end": _when(r.end),
                "start_utc": _when(r.start.astimezone(UTC)) if isinstance(r.start, datetime) else None,
                "timezone": r.timezone, "status": str(r.status), "location": r.location, "url": r.url,
                "tags": list(r.tags)} for r in items if isinstance(r, RawEvent)]
    skipped = [{"item": s.item, "reason": s.reason} for s in items if isinstance(s, Skipped)]
    return {"error": None, "records": sorted(records, key=lambda r: r["external_id"]), "skipped": skipped}


@pytest.mark.parametrize("expect_path", EXPECT_FILES, ids=lambda p: p.name.removesuffix(".expect.json"))
def test_fixture_reads_as_its_expect_file_says(expect_path):
    """Each fixture carries a sidecar <name>.expect.json: what it exercises and exactly what is read.

    FORCE_GOLDEN=1 rewrites the sidecars from the current reading (review the diff before committing).
    """
    expected = json.loads(expect_path.read_text(encoding="utf-8"))
    window = Window(datetime.fromisoformat(expected["window"][0]), datetime.fromisoformat(expected["window"][1]))
    actual = reading(FIXTURES / expected["fixture"], expected["source_timezone"], window)
    if os.environ.get("FORCE_GOLDEN"):
        expected.update(actual)
        expect_path.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.skip("expect file rewritten")
    assert expected["description"].strip(), "say what the fixture exercises"
    wanted = {k: expected[k] for k in ("error", "records", "skipped")}
    if actual != wanted:
        diff = difflib.unified_diff(json.dumps(wanted, indent=1).splitlines(), json.dumps(actual, indent=1).splitlines(),
                                    "expected", "read", lineterm="")
        pytest.fail(f"{expected['fixture']} no longer reads as {expect_path.name} says:\n" + "\n".join(diff))


def _private_zone_calendar(offset: str, uid: str) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Chapter Time\r\n"
            f"BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\n"
            f"END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID=Chapter Time:20260305T183000\r\nSUMMARY:Mixer\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def test_two_feeds_with_the_same_private_tzid_each_use_their_own_definition():
    # icalendar caches a VTIMEZONE by TZID for the whole process: the second feed's
    # "Chapter Time" must not be read with the first feed's offset.
    options = SourceOptions(id="x", type="ical", url="https://example.org/x.ics", timezone="UTC")
    starts = []
    for offset, uid in (("-0500", "east@x"), ("+0100", "paris@x"), ("-0500", "east-again@x")):
        (event,) = [i for i in read_ical_bytes(_private_zone_calendar(offset, uid), options, WIDE, origin=uid)
                    if isinstance(i, RawEvent)]
        starts.append(event.start.astimezone(timezone.utc))
    assert starts == [datetime(2026, 3, 5, 23, 30, tzinfo=timezone.utc),
                      datetime(2026, 3, 5, 17, 30, tzinfo=timezone.utc),
                      datetime(2026, 3, 5, 23, 30, tzinfo=timezone.utc)]


def test_a_vtimezone_under_an_iana_name_is_read_by_its_name_and_a_private_one_by_its_rules_beside_it():
    # Outlook writes decades of RDATEs into each VTIMEZONE; under an IANA name the wall time is
    # read in that zone whatever the definition says (here a wrong +0300), a private TZID by its rules.
    def zone(tzid: str, offset: str) -> str:
        dates = ",".join(f"{year}0308T020000" for year in range(1971, 2038))
        return (f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
                f"RDATE:{dates}\r\nTZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\n"
                "END:VTIMEZONE\r\n")

    def event(uid: str, tzid: str) -> str:
        return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:20260305T183000\r\n"
                "SUMMARY:Mixer\r\nEND:VEVENT\r\n")

    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\n" + zone("America/Denver", "+0300")
            + zone("Chapter Time", "-0500") + event("denver@x", "America/Denver") + event("chapter@x", "Chapter Time")
            + "END:VCALENDAR\r\n").encode()
    options = SourceOptions(id="x", type="ical", url="https://example.org/x.ics", timezone="UTC")
    events = {e.external_id: e for e in read_ical_bytes(body, options, WIDE, origin="x") if isinstance(e, RawEvent)}
    assert events["denver@x"].start == datetime(2026, 3, 5, 18, 30, tzinfo=ZoneInfo("America/Denver"))
    assert events["denver@x"].timezone == "America/Denver"
    assert events["chapter@x"].start.astimezone(UTC) == datetime(2026, 3, 5, 23, 30, tzinfo=UTC)



# Events with no SUMMARY are Skipped wherever the window lets them through (the exact window
# filter comes after): what is skipped shows which events recurring-ical-events' window let in.
UNTITLED_EDGES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//massage-events tests//edges//EN\r
BEGIN:VEVENT\r
UID:zero-length@test\r
DTSTART;TZID=America/Chicago:20260307T100000\r
DTEND;TZID=America/Chicago:20260307T100000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:two-zones-over-dst@test\r
DTSTART;TZID=America/Los_Angeles:20260307T220000\r
DTEND;TZID=America/New_York:20260308T090000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:negative-duration@test\r
DTSTART:20260310T180000Z\r
DURATION:-PT2H\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:all-day-same-day-end@test\r
DTSTART;VALUE=DATE:20260312\r
DTEND;VALUE=DATE:20260312\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:all-day-two-days@test\r
DTSTART;VALUE=DATE:20260314\r
DURATION:P2D\r
END:VEVENT\r
END:VCALENDAR\r
"""
# Their starts and ends in UTC (all-day ones at midnight UTC, as the window compares them).
UNTITLED_EDGE_INSTANTS = [datetime(2026, 3, 7, 16, tzinfo=UTC), datetime(2026, 3, 8, 6, tzinfo=UTC),
                          datetime(2026, 3, 8, 13, tzinfo=UTC), datetime(2026, 3, 10, 16, tzinfo=UTC),
                          datetime(2026, 3, 10, 18, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC),
                          datetime(2026, 3, 14, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)]


def test_a_calendar_where_nothing_recurs_reads_as_recurring_ical_events_reads_it(monkeypatch):
    # Such calendars skip recurring-ical-events (sources.ical._single_events computes what it
    # would yield); held here to recurring-ical-events itself. The window is widened by a day
    # before expanding, so windows a day off each edge put the expansion's bounds on it.
    day, hour = timedelta(days=1), timedelta(hours=1)
    windows = [w for t in UNTITLED_EDGE_INSTANTS for h in (-hour, timedelta(0), hour)
               for w in (Window(t + day + h, t + 3 * day + h), Window(t - 3 * day + h, t - day + h))]
    cases = [(UNTITLED_EDGES.encode(), windows)] + [((FIXTURES / name).read_bytes(), [WIDE]) for name in (
        "all_day_and_multi_day.ics", "duration_no_dtend.ics", "windows_tzid_outlook.ics")]
    real, fast_used = ical._single_events, []

    def spy(*args):
        result = real(*args)
        fast_used.append(result is not None)
        return result

    for body, body_windows in cases:
        for window in body_windows:
            monkeypatch.setattr(ical, "_single_events", spy)
            fast = [repr(i) for i in read_ical_bytes(body, options(), window, origin="t")]
            monkeypatch.setattr(ical, "_single_events", lambda *args: None)
            slow = [repr(i) for i in read_ical_bytes(body, options(), window, origin="t")]
            assert fast == slow, (window, body[:200])
    assert all(fast_used), "these calendars were meant to take the fast path"
