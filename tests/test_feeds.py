"""Filtered feeds: an event's region (its source's, or the US state of its address), tag and source;
feeds declared in sources.yaml; the links a page offers."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
from icalendar import Calendar

from aggregator.config.settings import load_config
from aggregator.errors import ConfigError
from aggregator.publish.feeds import (
    FeedFilter,
    event_ics_path,
    event_region,
    google_add_link,
    quote_plus_all,
    region_from_address,
    subscribe_links,
)
from aggregator.publish.ics import static_feeds
from tests.calendar_cases import CHI, ev
from tests.site_fixture import CONFIG, site_events


@pytest.mark.parametrize("address, region", [
    ("2021 W Fulton St, Chicago, IL 60612", "IL"),
    ("Evanston, IL", "IL"),
    ("123 Broadway, New York, NY 10006-1234, USA", "NY"),
    ("State St, Madison, Wisconsin", "WI"),
    ("Suite 4, 10 Main St, Austin, TX 78701, United States", "TX"),
    ("Online (Zoom)", None),
    ("Paris, France", None),
    ("Room IN the back", None),
])
def test_region_is_read_from_a_us_address(address, region):
    assert region_from_address(address) == region


def test_source_region_wins_over_the_address():
    e = ev("x@x", "t", datetime(2026, 3, 1, 18, tzinfo=CHI), location="Madison, WI 53703", region="il")
    assert event_region(e) == "IL"


def test_filter_from_query_accepts_repeats_commas_and_any_case():
    f = FeedFilter.from_query({"region": ["il", "WI,ny"], "tag": "CE"})
    assert f.regions == ("IL", "WI", "NY") and f.tags == ("ce",)
    assert f.query() == "region=IL&region=WI&region=NY&tag=ce"
    assert FeedFilter.from_query({}).empty


def test_declared_feeds_are_rendered_for_the_static_host(make_config):
    config = load_config(make_config(CONFIG))
    files = dict(static_feeds(config, site_events()))
    assert set(files) == {"feeds/il.ics", "feeds/ce.ics"}
    il = Calendar.from_ical(files["feeds/il.ics"])
    assert str(il["X-WR-CALNAME"]) == "Massage Therapist Networking Events — Illinois"
    assert "ny-ce@massage-events" not in {str(e["UID"]) for e in il.walk("VEVENT")}


def test_feeds_section_errors_name_line_and_fix(make_config):
    path = make_config(CONFIG + "  - name: Broken\n    path: /etc/x.ics\n  - name: Ghost\n    path: feeds/g.ics\n"
                                "    source: [amta-li]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "must be a relative path ending in .ics" in text
    assert 'no source with id "amta-li"; did you mean "amta-il"?' in text
    assert "sources.yaml:" in text


def test_google_add_link_carries_title_times_and_place():
    e = ev("x@x", "CE day, Chicago", datetime(2026, 3, 7, 9, tzinfo=CHI), datetime(2026, 3, 7, 17, tzinfo=CHI),
           location="Evanston, IL", description="Six hours")
    q = parse_qs(urlsplit(google_add_link(e)).query)
    assert q["action"] == ["TEMPLATE"] and q["text"] == ["CE day, Chicago"]
    assert q["dates"] == ["20260307T150000Z/20260307T230000Z"] and q["location"] == ["Evanston, IL"]
    all_day = ev("d@x", "Conference", date(2026, 9, 10), date(2026, 9, 13))
    assert parse_qs(urlsplit(google_add_link(all_day)).query)["dates"] == ["20260910/20260913"]


def test_subscribe_links_share_host_and_path():
    links = subscribe_links("https://events.example.org", "calendar.ics", "region=IL")
    assert links.https == "https://events.example.org/calendar.ics?region=IL"
    assert links.webcal == "webcal://events.example.org/calendar.ics?region=IL"
    assert parse_qs(urlsplit(links.google).query)["cid"] == [links.webcal]



HOSTILE_TEXT = ["Café & Spa: 50% off!", "a+b=c?d#e/f", "tab\there\nnewline", "emoji 💆 massage", "~_.-",
                "quote \" apostrophe ' <tag>", "\x7f\u2028 line separator", "%20 already escaped %"]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_page_links_quote_text_exactly_as_urllib_does(text):
    """Calendar apps and maps read these links: every value is quoted as urllib's quote quotes it."""
    e = ev("x@x", text, datetime(2026, 3, 7, 9, tzinfo=CHI), datetime(2026, 3, 7, 17, tzinfo=CHI),
           location=text, description=text)
    query = urlsplit(google_add_link(e)).query
    pairs = [pair.split("=", 1) for pair in query.split("&")]
    assert {key: unquote(value) for key, value in pairs}["location"] == text
    assert query == "&".join(f"{key}={quote(unquote(value), safe='')}" for key, value in pairs)
    assert quote_plus_all(text) == urlencode({"q": text})[2:]


@pytest.mark.parametrize("uid", [*HOSTILE_TEXT, "a/b@c", "50%@x", "../x@y"])
def test_an_events_download_path_is_its_uid_quoted_as_urllib_does(uid):
    """The page links event/<uid>.ics and a static host serves that file: the uid stays in one
    path segment ('/' escaped), '@' kept, everything else quoted as urllib's quote quotes it."""
    assert event_ics_path(uid) == "event/" + quote(uid, safe="@") + ".ics"
    assert "/" not in event_ics_path(uid)[len("event/"):]
