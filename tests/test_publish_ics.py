"""calendar.ics as real clients demand it (docs/reliability.md B): line format, escaping, feed properties,
deterministic bytes, time zones, all-day dates, links."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from aggregator.config.settings import CalendarSettings
from aggregator.publish.feeds import compact_stamp, event_ics_path
from aggregator.publish.ics import (
    event_files,
    fold_line,
    render_calendar,
    render_event,
    select_from_calendar,
)
from tests.calendar_cases import (
    CHI,
    CJK,
    EMOJI,
    INJECTION,
    PUNCTUATION,
    ev,
    generated_events,
    hard_cases,
)

SETTINGS = CalendarSettings(name="Massage Therapist Networking Events", timezone="America/Chicago", refresh_hours=6)


def raw_problems(data: bytes) -> list[str]:
    """Lines over 75 octets, bare LF or CR, continuation lines starting inside a UTF-8 character."""
    problems = []
    if not data.endswith(b"\r\n"):
        problems.append("does not end with CRLF")
    for n, line in enumerate(data.split(b"\r\n")[:-1], 1):
        if b"\n" in line or b"\r" in line:
            problems.append(f"line {n}: bare LF or CR")
        if len(line) > 75:
            problems.append(f"line {n}: {len(line)} octets")
        if line and 0x80 <= line[0] <= 0xBF or line.startswith(b" ") and len(line) > 1 and 0x80 <= line[1] <= 0xBF:
            problems.append(f"line {n}: starts with a UTF-8 continuation byte")
        line.decode("utf-8")  # every physical line is valid UTF-8 on its own
    return problems


def test_every_line_is_crlf_and_folded_within_75_octets_on_character_boundaries():
    data = render_calendar(generated_events(1000), SETTINGS)
    assert raw_problems(data) == []


def test_folding_never_splits_a_backslash_escape():
    line = "SUMMARY:" + "x" * 65 + "\\\\N\\,\\;" * 10
    for physical in fold_line(line).split("\r\n"):
        body = physical[1:] if physical.startswith(" ") else physical
        run = len(body) - len(body.rstrip("\\"))
        assert run % 2 == 0, f"a line ends inside an escape: {physical!r}"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=st.sampled_from("ab,;\\N"), min_size=60, max_size=400),  # ASCII: the fast path
                 st.text(alphabet=st.sampled_from("ab,;:\\Né€"), min_size=30, max_size=400)))
def test_folding_unfolds_to_the_line_within_75_octets_and_never_inside_an_escape(text):
    line = "DESCRIPTION:" + text
    physical = fold_line(line).split("\r\n")
    assert "".join(p[1:] if i else p for i, p in enumerate(physical)) == line
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    cuts, at = set(), 0  # where the physical lines part, as offsets into the line
    for i, p in enumerate(physical[:-1]):
        at += len(p) - (1 if i else 0)
        cuts.add(at)
    i = 0  # walk the escapes ("\\x" is one token) and check no cut falls inside one
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            assert i + 1 not in cuts, f"cut between a backslash and what it escapes at {i}"
            i += 2
        else:
            i += 1


def test_text_round_trips_exactly_with_punctuation_cjk_emoji_and_an_injection():
    events = [ev("p@x", "A, B; C\\D \\N", datetime(2026, 5, 6, 18, tzinfo=CHI), description=PUNCTUATION,
                 location="Room 1; Floor 2, Suite \\3"),
              ev("c@x", CJK + EMOJI, datetime(2026, 5, 7, 18, tzinfo=CHI), description=INJECTION)]
    cal = Calendar.from_ical(render_calendar(events, SETTINGS))
    got = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(got) == {"p@x", "c@x"}, "the injection must not create an event"
    assert str(got["p@x"]["SUMMARY"]) == "A, B; C\\D \\N"
    assert str(got["p@x"]["LOCATION"]) == "Room 1; Floor 2, Suite \\3"
    assert str(got["p@x"]["DESCRIPTION"]).startswith(PUNCTUATION)
    assert str(got["c@x"]["SUMMARY"]) == CJK + EMOJI
    assert str(got["c@x"]["DESCRIPTION"]).startswith(INJECTION.replace("\r\n", "\n"))


def test_feed_properties_and_no_method():
    data = render_calendar(hard_cases(), SETTINGS)
    cal = Calendar.from_ical(data)
    cal.validate()
    assert str(cal["VERSION"]) == "2.0" and "massage-events" in str(cal["PRODID"])
    assert str(cal["NAME"]) == str(cal["X-WR-CALNAME"]) == SETTINGS.name
    assert str(cal["DESCRIPTION"]) == SETTINGS.description
    unfolded = data.replace(b"\r\n ", b"")
    assert b"X-WR-CALDESC:Networking events for massage therapists\\, gathered from many sources.\r\n" in unfolded
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H\r\n" in data and b"X-PUBLISHED-TTL:PT6H\r\n" in data
    assert "METHOD" not in cal


def test_refresh_interval_follows_the_setting():
    data = render_calendar(hard_cases(), SETTINGS.model_copy(update={"refresh_hours": 24}))
    assert b"REFRESH-INTERVAL;VALUE=DURATION:P1D\r\n" in data and b"X-PUBLISHED-TTL:P1D\r\n" in data


def test_two_renders_with_no_change_are_byte_identical_whatever_the_order():
    events = generated_events(300)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed order, not a secret
    assert render_calendar(events, SETTINGS) == render_calendar(shuffled, SETTINGS)


def test_dtstamp_and_last_modified_are_the_stored_revision_time():
    event = replace(hard_cases()[5], last_modified=datetime(2026, 2, 3, 4, 5, 6, 789, tzinfo=timezone.utc))
    ve = Calendar.from_ical(render_calendar([event], SETTINGS)).walk("VEVENT")[0]
    assert ve["DTSTAMP"].dt == ve["LAST-MODIFIED"].dt == datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def test_every_tzid_has_a_vtimezone_and_nothing_floats():
    cal = Calendar.from_ical(render_calendar(generated_events(400), SETTINGS))
    assert not cal.get_missing_tzids()
    assert "UTC" not in {str(z["TZID"]) for z in cal.walk("VTIMEZONE")}, "no UTC VTIMEZONE"
    for ve in cal.walk("VEVENT"):
        for key in ("DTSTART", "DTEND"):
            if key in ve and isinstance(ve[key].dt, datetime):
                assert ve[key].dt.tzinfo is not None, f"{ve['UID']} {key} floats"


def test_vtimezones_use_yearly_rules():
    data = render_calendar(hard_cases(), SETTINGS)
    assert b"RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in data  # US: second Sunday of March
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in data  # EU: last Sunday of October


def test_ambiguous_fall_back_hour_is_written_in_utc():
    data = render_calendar(hard_cases(), SETTINGS)
    block = select_from_calendar(data, {"case-us-fallback-0130-second@massage-events"})
    assert b"DTSTART:20261101T073000Z" in block


def test_all_day_events_use_dates_with_exclusive_end():
    single = ev("d@x", "Open house", date(2026, 4, 18))
    conf = ev("m@x", "Conference", date(2026, 9, 10), date(2026, 9, 13))
    data = render_calendar([single, conf], SETTINGS)
    assert b"DTSTART;VALUE=DATE:20260418\r\nDTEND;VALUE=DATE:20260419\r\n" in data
    assert b"DTSTART;VALUE=DATE:20260910\r\nDTEND;VALUE=DATE:20260913\r\n" in data


def test_cancelled_event_keeps_status_sequence_and_prefix():
    cancelled = [e for e in hard_cases() if e.uid.startswith("case-cancelled")][0]
    ve = Calendar.from_ical(render_calendar([cancelled], SETTINGS)).walk("VEVENT")[0]
    assert str(ve["STATUS"]) == "CANCELLED" and int(ve["SEQUENCE"]) == 1
    assert str(ve["SUMMARY"]).startswith("Cancelled: ")


def test_only_http_links_become_url_and_sources_are_listed():
    evil = [e for e in hard_cases() if e.uid.startswith("case-bad-url")][0]
    merged = [e for e in hard_cases() if e.uid.startswith("case-merged")][0]
    assert "URL" not in Calendar.from_ical(render_calendar([evil], SETTINGS)).walk("VEVENT")[0]
    data = render_calendar([evil, merged], SETTINGS, source_names={"chi-meetup": "Chicago Bodywork Meetup"})
    assert b"javascript" not in data.lower()
    ve = {str(e["UID"]): e for e in Calendar.from_ical(data).walk("VEVENT")}[merged.uid]
    assert "URL" not in ve, "the merged event has no link of its own"
    assert "Also listed on: amta-il (https://example.org/a1); Chicago Bodywork Meetup" in str(ve["DESCRIPTION"])


def test_event_download_is_one_event_without_feed_properties():
    event = hard_cases()[0]
    data = render_event(event, SETTINGS)
    cal = Calendar.from_ical(data)
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [event.uid]
    assert "REFRESH-INTERVAL" not in cal and "X-WR-CALNAME" not in cal
    files = event_files([event], SETTINGS)
    assert files == [(event_ics_path(event.uid), data)]


def test_sub_calendar_keeps_only_chosen_events_and_their_zones():
    data = render_calendar(hard_cases(), SETTINGS)
    tokyo = "case-tokyo@massage-events"
    part = select_from_calendar(data, {tokyo}, name="Tokyo; only")
    cal = Calendar.from_ical(part)
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [tokyo]
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Asia/Tokyo"]
    assert b"\r\nNAME:Tokyo\\; only\r\n" in part and b"X-WR-CALNAME:Tokyo\\; only\r\n" in part
    assert raw_problems(part) == []
    assert select_from_calendar(data, None) == data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200),
       description=st.text(st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_text_round_trips_exactly_and_folds_cleanly(title, description):
    from aggregator.publish.ics import clean_text

    e = ev("h@x", title, datetime(2026, 5, 6, 18, tzinfo=CHI), description=description)
    data = render_calendar([e], SETTINGS)
    assert raw_problems(data) == []
    events = Calendar.from_ical(data).walk("VEVENT")
    assert len(events) == 1, "text must never create or break a component"
    assert str(events[0]["SUMMARY"]) == clean_text(title).strip()
    want = clean_text(description).strip()
    assert str(events[0].get("DESCRIPTION", "")).startswith(want)


def test_an_empty_feed_is_still_a_valid_calendar():
    empty = Calendar.from_ical(render_calendar([], SETTINGS))
    empty.validate()
    assert [str(z["TZID"]) for z in empty.walk("VTIMEZONE")] == ["America/Chicago"] and not empty.walk("VEVENT")
    part = Calendar.from_ical(select_from_calendar(render_calendar(hard_cases(), SETTINGS), set()))
    part.validate()
    assert not part.walk("VEVENT")


@pytest.mark.parametrize("moment", [datetime(2026, 3, 8, 2, 30, 5), datetime(1999, 12, 31, 23, 59, 59),
                                    datetime(999, 1, 2, 3, 4, 5), datetime(5, 6, 7), datetime(9999, 12, 31, 0, 0, 1)])
def test_calendar_times_are_written_as_strftime_writes_them_in_any_year(moment):
    """DTSTART, DTEND, DTSTAMP and the Google link's dates: compact stamps with the bytes strftime
    gives (a year below 1000 unpadded, as it writes it)."""
    assert compact_stamp(moment) == moment.strftime("%Y%m%dT%H%M%S")
    assert compact_stamp(moment.date()) == moment.date().strftime("%Y%m%d")


def test_blocks_are_cut_out_where_a_byte_by_byte_search_cuts_them():
    """split_calendar finds each block a line at a time; on any bytes, CRs and bare LFs included,
    it cuts exactly what `.*?^END:` (MULTILINE, DOTALL) cuts."""
    import re

    from aggregator.publish.ics import _BLOCK

    bytewise = re.compile(rb"^BEGIN:(VEVENT|VTIMEZONE)\r\n.*?^END:\1\r\n", re.S | re.M)
    rng = random.Random(3)
    parts = [b"BEGIN:VEVENT", b"BEGIN:VTIMEZONE", b"END:VEVENT", b"END:VTIMEZONE", b"\r\n", b"\n", b"\r", b"x",
             b" ", b"END:", b"BEGIN:", b"\r\n "]
    samples = [render_calendar(generated_events(60), SETTINGS)]
    samples += [b"".join(rng.choice(parts) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for data in samples:
        assert [(m.span(), m.group(1)) for m in _BLOCK.finditer(data)] == \
            [(m.span(), m.group(1)) for m in bytewise.finditer(data)], data


def _fold_by_tokens(line: str, limit: int = 75) -> str:
    """Folding as fold_line first did it, a character (or an escape) at a time: the reference."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    i = 0
    while i < len(line):
        token = line[i:i + 2] if line[i] == "\\" and i + 1 < len(line) else line[i]
        width = len(token.encode("utf-8"))
        room = limit - (1 if out else 0)
        if current and size + width > room:
            out.append("".join(current))
            current, size = [], 0
        current.append(token)
        size += width
        i += len(token)
    out.append("".join(current))
    return "\r\n ".join(out)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab ,;\\Né€💆東\u0301"), min_size=0, max_size=500),
       st.sampled_from([75, 74, 10, 6, 5, 3, 2]))
def test_a_line_is_folded_where_walking_it_a_character_at_a_time_folds_it(text, limit):
    """fold_line cuts a non-ASCII line by its octets; the cuts must be the ones a walk over its
    characters and escapes makes, whatever the mix of widths and backslashes."""
    for line in ("DESCRIPTION:" + text, text):
        if limit >= 6 or not line.isascii():  # (ASCII lines are cut as before, for a limit that fits an escape)
            assert fold_line(line, limit) == _fold_by_tokens(line, limit)
