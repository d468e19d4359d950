"""type jsonld: schema.org Events in pages (JSON-LD, microdata, h-event) become records at the right instants."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Status
from sources.base import Skipped
from sources.jsonld import JsonLdAdapter, JsonLdOptions
from tests.adapter_contract import DEFAULT_WINDOW, AdapterContract, RecordingFetcher

CHICAGO = ZoneInfo("America/Chicago")


class TestJsonLdContract(AdapterContract):
    adapter = JsonLdAdapter
    good_fixture = "jsonld/graph_itemlist_subtypes.html"
    html_is_foreign = False
    min_records = 4


def read(http, fixture: str, zone: str = "America/Chicago", fetcher=None, **extra) -> list[RawEvent | Skipped]:
    options = JsonLdOptions(id="page", type="jsonld", url=http.url(f"/files/jsonld/{fixture}"), timezone=zone,
                            **extra)
    return list(JsonLdAdapter().read(options, fetcher or HttpFetcher(), DEFAULT_WINDOW))


def events(items) -> dict[str, RawEvent]:
    return {i.title: i for i in items if isinstance(i, RawEvent)}


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def test_single_education_event_keeps_every_field(http):
    [event] = read(http, "single_event_offset_place.html")
    assert event.title == "Myofascial Release Workshop & Practice"
    assert utc(event.start) == datetime(2027, 3 , 4, 0, 30, tzinfo=timezone.utc)
    assert utc(event.end) == datetime(2027, 3, 4, 2, 30, tzinfo=timezone.utc)
    assert event.start.tzinfo.key == "America/Chicago"  # the offset agrees with the source's zone
    assert event.location == "Lakeview Wellness Center, 3100 N Broadway, Chicago, IL 60657"
    assert event.url == http.url("/events/myofascial-2027")
    assert event.external_id == event.url
    assert "Organizer: AMTA Illinois Chapter" in event.description
    assert "Price: $25.00" in event.description
    assert event.extra["image"] == http.url("/img/mfr.jpg")
    assert event.status is Status.CONFIRMED


def test_graph_itemlist_arrays_and_nested_events_are_all_found(http):
    found = events(read(http, "graph_itemlist_subtypes.html"))
    assert set(found) == {"Therapist Coffee Social", "Building a Private Practice", "Table Massage Exchange",
                          "Nested Open House"}
    coffee = found["Therapist Coffee Social"]
    assert coffee.external_id == "https://meetup.example/chicago-bodywork/events/301/"
    assert coffee.location == "Metric Coffee, 2021 W Fulton St, Chicago, IL"
    assert found["Building a Private Practice"].extra["type"] == "BusinessEvent"
    assert utc(found["Building a Private Practice"].start) == datetime(2027, 3, 17, 23, 0, tzinfo=timezone.utc)


def test_times_without_offset_are_read_in_the_source_zone(http):
    found = events(read(http, "no_offset_status_online.html", zone="America/New_York"))
    clinic = found["Spring Sports Massage Clinic"]
    assert clinic.start == datetime(2027, 3, 14, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    assert utc(clinic.start) == datetime(2027, 3, 14, 14, 0, tzinfo=timezone.utc)  # after the DST change
    assert clinic.location == "Hudson Yards Gym, 500 W 33rd St, New York, NY"


def test_date_only_is_all_day_with_an_exclusive_end(http):
    convention = events(read(http, "no_offset_status_online.html"))["State Convention"]
    assert (convention.start, convention.end) == (date(2027, 4, 9), date(2027, 4, 12))
    assert convention.location == "Albany Convention Center, Albany, NY"


def test_event_status_and_online_attendance(http):
    found = events(read(http, "no_offset_status_online.html"))
    assert found["Cancelled: Cupping Demo"].status is Status.CANCELLED
    postponed = found["Reflexology Intro"]
    assert postponed.status is Status.TENTATIVE and postponed.description.startswith("Postponed")
    moved = found["Board Meeting"]
    assert moved.status is Status.TENTATIVE and "Rescheduled" in moved.description
    webinar = found["Ethics CE Webinar"]
    assert webinar.location == "https://zoom.example/j/123456"
    assert "Price: Free" in webinar.description


def test_event_without_url_gets_a_stable_hash_id_and_one_without_date_is_skipped(http):
    items = read(http, "no_offset_status_online.html")
    potluck = events(items)["Potluck Without A Link"]
    assert potluck.external_id.startswith("sha256:")
    assert potluck.external_id == events(read(http, "no_offset_status_online.html"))["Potluck Without A Link"].external_id
    assert Skipped(item="Date To Be Announced", reason="no date found") in items


def test_microdata_event(http):
    [event] = read(http, "microdata_event.html")
    assert event.title == "Texas Chapter Quarterly Meeting"
    assert utc(event.start) == datetime(2027, 3, 12, 1, 0, tzinfo=timezone.utc)
    assert event.url == http.url("/meetings/q1-2027")
    assert event.location == "Austin Community College, 1212 Rio Grande St, Austin, TX"
    assert "Organizer: AMTA Texas" in event.description


def test_h_event_and_old_hcalendar(http):
    found = events(read(http, "hevent_microformats.html"))
    group = found["Trigger Point Study Group"]
    assert utc(group.start) == datetime(2027, 3, 9, 2, 0, tzinfo=timezone.utc)
    assert group.location == "Southeast Community Center, Portland, OR"
    assert group.url == http.url("/e/pdx-trigger-point")
    assert found["Old-style hCalendar Potluck"].start == date(2027, 3, 20)


def test_page_without_events_yields_none(http):
    assert read(http, "no_events_organization.html") == []


def test_one_broken_json_ld_block_does_not_hide_the_others(http):
    assert list(events(read(http, "broken_jsonld_block.html"))) == ["Good Block Event"]


def test_event_in_another_zone_keeps_its_instant(http):
    [event] = read(http, "other_zone_tokyo.html", zone="America/Chicago")
    assert utc(event.start) == datetime(2027, 3, 10, 10, 0, tzinfo=timezone.utc)
    assert utc(event.end) == datetime(2027, 3, 10, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("fixture", "says"), [
    ("empty_body.html", "empty page"),
    ("garbage_bytes.bin", "not"),
    ("feed_not_page.xml", "type: rss"),
    ("calendar_not_page.ics", "type: ical"),
])
def test_what_is_not_a_page_is_a_parse_error_naming_the_fix(http, fixture, says):
    with pytest.raises(ParseError) as caught:
        read(http, fixture)
    assert says in str(caught.value)


def test_follow_reads_linked_event_pages_once_each_and_skips_failures(http):
    fetcher = RecordingFetcher(HttpFetcher())
    items = read(http, "index_follow.html", fetcher=fetcher, follow="a.event-link")
    found = events(items)
    assert set(found) == {"Stretching Workshop", "Hot Stone Demo"}  # the event page replaced the summary
    assert found["Stretching Workshop"].location == "Studio 5, 5 Main St, Evanston, IL"
    paths = [r.path for r in http.log]
    assert paths.count("/files/jsonld/event_b.html") == 1, "a page linked twice is fetched once"
    assert "/files/jsonld/event_c.html" not in paths, "only links the selector picks are followed"
    missing = [i for i in items if isinstance(i, Skipped) and "missing_event" in i.item]
    assert missing and "not read" in missing[0].reason


def test_follow_limit_caps_the_pages_fetched(http):
    items = read(http, "index_follow.html", follow="a.event-link", follow_limit=1)
    paths = [r.path for r in http.log if r.path != "/robots.txt"]
    assert paths == ["/files/jsonld/index_follow.html", "/files/jsonld/event_a.html"]
    assert any(isinstance(i, Skipped) and "follow_limit is 1" in i.reason for i in items)


def test_follow_must_be_a_valid_selector():
    with pytest.raises(ValueError, match="not a valid CSS selector"):
        JsonLdOptions(id="x", type="jsonld", url="https://example.org/", follow="a[[")


def test_any_bytes_give_records_or_a_source_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sources.base import Fetched
    from sources.jsonld import read_page

    @settings(max_examples=60, deadline=2000)
    @given(st.binary(max_size=600) | st.text(max_size=600).map(str.encode))
    def check(body):
        page = Fetched(url="https://example.org/p", status=200, content=body,
                       text=body.decode("utf-8", "replace"), content_type="text/html")
        try:
            read_page(page, "America/Chicago")
        except SourceError:
            pass

    check()


def test_bare_json_ld_document_is_read(http):
    options = JsonLdOptions(id="doc", type="jsonld", url=http.url("/files/jsonld/bare_document.jsonld?type=application/ld%2Bjson"))
    [event] = JsonLdAdapter().read(options, HttpFetcher(), DEFAULT_WINDOW)
    assert event.title == "Served As JSON-LD" and event.external_id == "https://json.example/e/1"


def test_event_stated_twice_is_one_record_and_a_series_url_gets_one_id_per_date(http):
    records = [i for i in read(http, "same_event_twice_and_series_url.html") if isinstance(i, RawEvent)]
    assert [r.title for r in records].count("Guild Picnic") == 1, "JSON-LD and microdata of one event: one record"
    practice = sorted(r.external_id for r in records if r.title == "Open Practice Night")
    assert practice == ["https://guild.example/open-practice#20270303T000000Z",
                        "https://guild.example/open-practice#20270310T000000Z"]


def test_event_schedule_is_expanded_into_occurrences_at_local_time_across_dst(http):
    items = [i for i in read(http, "event_schedule_weekly.html") if isinstance(i, RawEvent)]
    tuesdays = [i for i in items if i.title == "Tuesday Table Practice"]
    starts = [t.start for t in tuesdays]
    assert len(tuesdays) == 8, "weekly from 2 March to 27 April 2027, 30 March excepted"
    assert datetime(2027, 3, 30, 18, 30, tzinfo=CHICAGO) not in starts
    assert all((s.hour, s.minute, s.weekday()) == (18, 30, 1) for s in starts)  # 18:30 local before and after DST
    assert utc(starts[0]) == datetime(2027, 3, 3, 0, 30, tzinfo=timezone.utc)
    assert utc(starts[2]) == datetime(2027, 3, 16, 23, 30, tzinfo=timezone.utc)
    assert all(t.end - t.start == timedelta(minutes=90) for t in tuesdays)
    assert len({t.external_id for t in tuesdays}) == 8
    saturdays = [i.start.date() for i in items if i.title == "First Saturday Clinic"]
    assert saturdays == [date(2027, 3, 6), date(2027, 4, 3), date(2027, 5, 1)]


@pytest.mark.parametrize(("offers", "shown"), [
    ({"@type": "Offer", "price": "25.00", "priceCurrency": "USD"}, "$25.00"),
    ({"@type": "Offer", "price": 0, "priceCurrency": "USD"}, "Free"),
    ({"@type": "AggregateOffer", "lowPrice": "0", "highPrice": "0", "priceCurrency": "USD"}, "Free"),
    ([{"@type": "Offer", "price": "40", "priceCurrency": "USD"}, {"@type": "Offer", "price": "25",
                                                                  "priceCurrency": "USD"}], "$25–$40"),
    ({"@type": "Offer", "price": "15", "priceCurrency": "EUR"}, "EUR 15"),
    ({"@type": "Offer", "price": "Donation"}, "Donation"),
])
def test_offers_become_a_readable_price(offers, shown):
    from sources.jsonld import to_raw_event

    event = to_raw_event({"@type": "Event", "name": "X", "startDate": "2027-03-03T18:00:00-06:00",
                          "offers": offers}, "https://e.example/", "America/Chicago", date(2027, 1, 1))
    assert f"Price: {shown}" in event.description and event.extra["price"] == shown
