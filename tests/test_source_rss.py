"""The rss adapter: list-archive feeds (RSS 0.91/1.0/2.0, Atom) read through the loopback server."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import CalendarSettings
from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Status, Window
from aggregator.pipeline import read_source
from sources.base import Skipped
from sources.rss import RssAdapter
from tests.adapter_contract import AdapterContract

CHICAGO = ZoneInfo("America/Chicago")
WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))


class TestRssContract(AdapterContract):
    adapter = RssAdapter
    good_fixture = "rss/list_archive_rss20.xml"
    content_type = "application/rss+xml"


def read(http, fixture: str, zone: str = "America/Chicago", content_type: str | None = None, **extra):
    url = http.url(f"/files/rss/{fixture}" + (f"?type={content_type}" if content_type else ""))
    options = RssAdapter.Options(id="list", type="rss", url=url, timezone=zone, **extra)
    return list(RssAdapter().read(options, HttpFetcher(), WINDOW))


def events(items):
    return [i for i in items if isinstance(i, RawEvent)]


def test_rss20_list_archive_gives_the_announcements_and_skips_the_chatter(http):
    items = read(http, "list_archive_rss20.xml")
    got = {e.title: e for e in events(items)}
    assert set(got) == {"Spring Networking Mixer - Tuesday, March 10", "Free webinar: Marketing your practice"}
    mixer = got["Spring Networking Mixer - Tuesday, March 10"]
    assert mixer.start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
    assert mixer.end == datetime(2026, 3, 10, 20, 30, tzinfo=CHICAGO)
    assert mixer.location == "Cafe Lula, 2537 N Kedzie Blvd, Chicago"
    assert mixer.external_id == "msg-000101@lists.example.org"
    assert mixer.url == "https://lists.example.org/lmt-chicago/2026-March/000101.html"
    webinar = got["Free webinar: Marketing your practice"]
    assert webinar.start == datetime(2026, 3, 12, 19, 0, tzinfo=ZoneInfo("America/New_York"))
    reasons = {s.item.split(" <")[0]: s.reason for s in items if isinstance(s, Skipped)}
    assert reasons["FOR SALE: Earthlite Harmony table, $250"] == "something for sale, not an event"
    assert reasons["Membership dues due by March 31"] == "a renewal deadline, not an event"
    assert reasons["Re: table recommendations?"] == "a reply that names no date and time for an event"
    assert "collapsed" in reasons["Reminder: spring mixer next Tuesday"]


def test_atom_feed_with_a_cancellation_post_gives_a_cancelled_event(http):
    items = read(http, "list_archive_atom.xml", zone="America/Denver")
    got = {e.title: e for e in events(items)}
    greet = got["Meet and greet in Highland"]
    assert greet.status == Status.CANCELLED
    assert greet.start == datetime(2026, 3, 25, 18, 0, tzinfo=ZoneInfo("America/Denver"))
    assert greet.location == "Linger, 2030 W 30th Ave, Denver"


def test_rss10_rdf_feed_is_read(http):
    (event,) = events(read(http, "list_archive_rss10_rdf.xml", zone="America/New_York"))
    assert event.start == datetime(2026, 4, 9, 18, 30, tzinfo=ZoneInfo("America/New_York"))
    assert event.location == "Bluestone Lane, 30 Broad St"


def test_rss091_with_netscape_doctype_and_latin1_entities_is_read(http):
    (event,) = events(read(http, "list_archive_rss091_latin1.xml"))
    assert event.title == "Soirée réseautage - Thursday, April 16"
    assert event.start == datetime(2026, 4, 16, 19, 0, tzinfo=CHICAGO)  # year from the channel's lastBuildDate


def test_latin1_bytes_give_exact_titles(http):
    (event,) = events(read(http, "latin1_encoded_title.xml"))
    assert event.title == "Café social Friday, May 8, 7:00 PM"
    assert event.location == "Café Lula, 2537 N Kedzie Blvd"


def test_a_bozo_but_readable_feed_is_read(http):
    (event,) = events(read(http, "bozo_unclosed_but_readable.xml"))
    assert event.title == "Ethics CE night & pizza"
    assert event.start == datetime(2026, 4, 8, 19, 0, tzinfo=CHICAGO)


def test_only_http_links_reach_the_record_and_the_published_event(http):
    items = read(http, "list_archive_atom.xml", zone="America/Denver")
    meetup = next(e for e in events(items) if e.title == "Rocky Mountain regional meetup")
    assert meetup.url is None
    outcome = read_source(RssAdapter.Options(id="list", type="rss", url=http.url("/files/rss/list_archive_atom.xml"),
                                             timezone="America/Denver"),
                          CalendarSettings(timezone="America/Chicago"), HttpFetcher(), WINDOW)
    assert outcome.error is None
    assert all("file:" not in (r.url or "") for r in outcome.records)
    assert all("file:" not in (ref.url or "") for r in outcome.records for ref in r.sources)


def _everything(items) -> str:
    return repr(items)


@pytest.mark.parametrize("fixture", ["billion_laughs.xml", "xxe_file_entity.xml"])
def test_entity_attacks_finish_fast_and_expand_nothing(http, fixture):
    began = time.monotonic()
    try:
        items = read(http, fixture)
        text = _everything(items)
    except SourceError as e:
        text = str(e)
    assert time.monotonic() - began < 1.0
    assert "lollollol" not in text
    for secret in ("/etc/hostname", "/etc/passwd"):
        path = Path(secret)
        if path.exists():
            content = path.read_text(errors="replace").strip()
            first_line = content.splitlines()[0] if content else ""
            assert not first_line or first_line not in text, f"{secret} leaked into the output"
    assert "root:x:0:0" not in text and "file:///etc/passwd" not in text


def test_the_xxe_feed_still_yields_its_event_without_the_entity(http):
    (event,) = events(read(http, "xxe_file_entity.xml"))
    assert event.start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
    assert event.url is None


@pytest.mark.parametrize("fixture,labelled", [("contract/html_error_page.html", "text/html"),
                                              ("contract/garbage_bytes.bin", "application/rss+xml"),
                                              ("contract/empty_body.txt", "application/rss+xml")])
def test_what_is_not_a_feed_is_a_parse_error_naming_the_fix(http, fixture, labelled):
    url = http.url(f"/files/{fixture}?type={labelled}")
    options = RssAdapter.Options(id="list", type="rss", url=url, timezone="America/Chicago")
    with pytest.raises(ParseError) as caught:
        list(RssAdapter().read(options, HttpFetcher(), WINDOW))
    assert "feed" in str(caught.value)


def test_an_excluded_word_keeps_a_post_out_of_read_source(http):
    options = RssAdapter.Options(id="list", type="rss", url=http.url("/files/rss/list_archive_rss20.xml"),
                                 timezone="America/Chicago", exclude=("webinar",))
    outcome = read_source(options, CalendarSettings(timezone="America/Chicago"), HttpFetcher(), WINDOW)
    assert outcome.error is None
    titles = [r.title for r in outcome.records]
    assert titles == ["Spring Networking Mixer - Tuesday, March 10"]
    assert any("webinar" in s.reason for s in outcome.skipped)


def test_the_demo_list_feed_gives_its_events_and_collapses_its_threads():
    from datetime import date, timedelta

    from aggregator.app.demo import DemoServer

    today = date(2026, 3, 2)
    window = Window(datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2027, 3, 1, tzinfo=timezone.utc))
    with DemoServer(today=today) as demo:
        options = RssAdapter.Options(id="lmt-chicago-list", type="rss", url=f"{demo.base_url}/lmt-chicago-list.xml")
        outcome = read_source(options, CalendarSettings(timezone="America/Chicago"), HttpFetcher(), window)
    assert outcome.error is None
    got = {r.title: r for r in outcome.records}
    mixer = next(r for t, r in got.items() if t.startswith("Therapists' mixer at Cafe Lula"))
    assert mixer.status == Status.CANCELLED
    assert mixer.start == datetime.combine(today + timedelta(days=16), datetime.min.time().replace(hour=18),
                                           tzinfo=CHICAGO)
    assert len(outcome.records) == 3
    reasons = " | ".join(s.reason for s in outcome.skipped)
    assert "a job ad" in reasons and "for sale" in reasons and "a reply in the thread of" in reasons
