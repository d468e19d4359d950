"""sources.parse.dates: the human date and time text event pages print, read into the right moments."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sources.parse.dates import nearest_year, parse_iso, parse_when

REF = date(2027, 2, 15)  # the page's own date in these tests


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Wed, March 3 · 6:30 PM", datetime(2027, 3, 3, 18, 30), None),
        ("3/3/2027 18:30", datetime(2027, 3, 3, 18, 30), None),
        ("March 3rd, 6:30pm-8pm", datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 3, 20, 0)),
        ("2027-03-03T18:30", datetime(2027, 3, 3, 18, 30), None),
        ("March 3 6:30 – 8:00 pm", datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 3, 20, 0)),
        ("March 3, 2027, 6:30 p.m. to 8 p.m.", datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 3, 20, 0)),
        ("Saturday, 6 March 2027 at 11:30 - 1:00 pm", datetime(2027, 3, 6, 11, 30), datetime(2027, 3, 6, 13, 0)),
        ("Mar 3, 2027 10pm - 2am", datetime(2027, 3, 3, 22, 0), datetime(2027, 3, 4, 2, 0)),
        ("3/3/2027 6:30 PM - 3/4/2027 1:00 AM", datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 4, 1, 0)),
        ("noon, March 4", datetime(2027, 3, 4, 12, 0), None),
        ("March 12 @ 7:00 pm", datetime(2027, 3, 12, 19, 0), None),
        ("2009-06-26 19:00:00", datetime(2009, 6, 26, 19, 0), None),
        ("Tuesday, March 3, 2026 - 6:30pm to 8:00pm", datetime(2026, 3, 3, 18, 30), datetime(2026, 3, 3, 20, 0)),
        ("6:30 PM, Wednesday, March 3, 2027", datetime(2027, 3, 3, 18, 30), None),
        ("Sat. Mar. 6th 2027, 10 a.m.", datetime(2027, 3, 6, 10, 0), None),
        ("6pm-9pm Saturday March 6 2027", datetime(2027, 3, 6, 18, 0), datetime(2027, 3, 6, 21, 0)),
        ("2027-03-03 18:30 - 20:00", datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 3, 20, 0)),
        ("Starts: March 3, 2027 6:30 pm Ends: March 3, 2027 8:30 pm", datetime(2027, 3, 3, 18, 30),
         datetime(2027, 3, 3, 20, 30)),
    ],
)
def test_real_page_formats_give_the_stated_local_time(text, start, end):
    when = parse_when(text, reference=REF)
    assert when is not None, f"{text!r} was not read"
    assert (when.start, when.end) == (start, end)
    assert not when.all_day


def test_date_in_one_element_and_time_range_in_another():
    when = parse_when("March 3", "6:30 – 8:00 pm", reference=REF)
    assert (when.start, when.end) == (datetime(2027, 3, 3, 18, 30), datetime(2027, 3, 3, 20, 0))


def test_end_element_with_only_a_time_ends_on_the_start_day():
    when = parse_when("Wed Mar 3, 6:30pm", "8:30pm", reference=REF)
    assert when.end == datetime(2027, 3, 3, 20, 30)


def test_date_without_time_is_all_day_and_a_range_ends_the_day_after():
    assert parse_when("March 24, 2027", reference=REF).start == date(2027, 3, 24)
    span = parse_when("April 9 - 11, 2027", reference=REF)
    assert span.all_day and (span.start, span.end) == (date(2027, 4, 9), date(2027, 4, 12))
    span = parse_when("March 30 - April 2", reference=REF)
    assert (span.start, span.end) == (date(2027, 3, 30), date(2027, 4, 3))


@pytest.mark.parametrize(("reference", "expected"), [
    (date(2027, 2, 15), date(2027, 3, 3)),   # a few weeks ahead
    (date(2026, 12, 20), date(2027, 3, 3)),  # a page from December lists next March
    (date(2027, 8, 1), date(2027, 3, 3)),    # a summer page: the March just gone is nearer
    (date(2027, 11, 30), date(2028, 3, 3)),  # a late-autumn page: next March is nearer
])
def test_missing_year_is_the_nearest_such_day_to_the_page_date(reference, expected):
    assert parse_when("March 3, 6:30 PM", reference=reference).start.date() == expected


def test_weekday_beside_a_yearless_date_picks_the_year_it_matches():
    # 3 March is a Tuesday in 2026 and a Wednesday in 2027.
    assert parse_when("Tue, March 3 · 6:30 PM", reference=REF).start.date() == date(2026, 3, 3)
    assert parse_when("Wed, March 3 · 6:30 PM", reference=REF).start.date() == date(2027, 3, 3)


def test_us_zone_abbreviation_makes_an_aware_time():
    when = parse_when("March 3, 2027 6:30 PM CST", reference=REF)
    assert when.start == datetime(2027, 3, 3, 18, 30, tzinfo=ZoneInfo("America/Chicago"))


@pytest.mark.parametrize(("text", "zone"), [
    ("July 14, 2027 6:00 PM Arizona time", "America/Phoenix"),
    ("July 14, 2027 6:00 PM MST (Arizona)", "America/Phoenix"),  # not Denver, which is an hour ahead in July
    ("July 14, 2027 6:00 PM MST", "America/Denver"),
    ("July 14, 2027 6:00 PM HST", "Pacific/Honolulu"),
    ("July 14, 2027 6:00 PM Hawaii time", "Pacific/Honolulu"),
    ("July 14, 2027 6:00 PM AKST", "America/Anchorage"),  # written in summer, meant as Alaska's time
    ("July 14, 2027 6:00 PM Alaska time", "America/Anchorage"),
    ("July 14, 2027 6:00 PM Pacific", "America/Los_Angeles"),
])
def test_zone_words_of_every_us_region_make_an_aware_time_in_that_region(text, zone):
    when = parse_when(text, reference=REF)
    assert when.start == datetime(2027, 7, 14, 18, 0, tzinfo=ZoneInfo(zone)), f"{text!r} read as {when.start}"


def test_dayfirst_reads_european_numeric_dates_and_dotted_times():
    assert parse_when("Wed 3 Mar 2027 19.30", reference=REF, dayfirst=True).start == datetime(2027, 3, 3, 19, 30)
    assert parse_when("03.03.2027 18:30", reference=REF, dayfirst=True).start == datetime(2027, 3, 3, 18, 30)
    assert parse_when("4.3.2027", reference=REF, dayfirst=True).start == date(2027, 3, 4)
    assert parse_when("4/3/2027 18:30", reference=REF, dayfirst=True).start == datetime(2027, 3, 4, 18, 30)
    assert parse_when("4/3/2027 18:30", reference=REF).start == datetime(2027, 4, 3, 18, 30)


@pytest.mark.parametrize("text", ["TBA", "To be announced", "Room 204", "March", "2027", "", "   ", "6:30 pm"])
def test_text_without_a_full_date_is_none(text):
    assert parse_when(text, reference=REF) is None


def test_iso_offsets_with_and_without_colon_keep_the_instant():
    a = parse_iso("2017-06-10T19:30:00-0400")
    b = parse_iso("2017-06-10T19:30:00-04:00")
    assert a == b == datetime(2017, 6, 10, 23, 30, tzinfo=timezone.utc)
    assert parse_iso("2027-03-03T18:30:00Z").utcoffset() == timedelta(0)
    assert parse_iso("2027-03-03") == date(2027, 3, 3)
    assert parse_when("20100618T180000").start == datetime(2010, 6, 18, 18, 0)


def test_machine_date_then_times_in_words():
    when = parse_when("2027-03-13 March 13 @ 10:00 am - 1:00 pm")
    assert (when.start, when.end) == (datetime(2027, 3, 13, 10), datetime(2027, 3, 13, 13))


def test_leap_day_without_year_goes_to_a_leap_year():
    assert nearest_year(2, 29, date(2027, 2, 15)) == date(2028, 2, 29)


def test_date_range_across_new_year():
    span = parse_when("Monday, December 28, 2026 – Saturday, January 2, 2027", reference=REF)
    assert (span.start, span.end) == (date(2026, 12, 28), date(2027, 1, 3))


def test_any_text_gives_a_when_or_none_never_an_exception():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("0123456789 :/-.,apmAPMonTueMarchDec–·@") + ["noon", "to", "CST", "2027"])

    @settings(max_examples=150, deadline=1000)
    @given(st.lists(alphabet, max_size=25).map("".join), st.one_of(st.none(), st.text(max_size=20)))
    def check(text, end_text):
        result = parse_when(text, end_text, reference=REF)
        assert result is None or result.start is not None

    check()


def test_today_tonight_tomorrow_count_from_the_page_date():
    assert parse_when("Tomorrow · 6:30 PM", reference=REF).start == datetime(2027, 2, 16, 18, 30)
    tonight = parse_when("Tonight 7pm - 9pm", reference=REF)
    assert (tonight.start, tonight.end) == (datetime(2027, 2, 15, 19), datetime(2027, 2, 15, 21))
    assert parse_when("Today", reference=REF).start == date(2027, 2, 15)


def test_gmt_offsets_written_beside_the_time_keep_the_instant():
    when = parse_when("March 3, 2027 6:30 PM (GMT-06:00)", reference=REF)
    assert when.start == datetime(2027, 3, 4, 0, 30, tzinfo=timezone.utc)
    assert parse_when("(UTC+01:00) 3 March 2027 19:00").start == datetime(2027, 3, 3, 18, tzinfo=timezone.utc)
