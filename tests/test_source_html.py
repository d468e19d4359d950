"""type html: plain listings mapped by CSS selectors, with the date formats real pages print."""

from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import parse_config
from aggregator.config.yamlfile import loads_yaml
from aggregator.errors import ConfigError
from aggregator.model import RawEvent
from sources.base import Skipped
from sources.html import HtmlAdapter, HtmlOptions, split_selector
from tests.adapter_contract import DEFAULT_WINDOW, AdapterContract

CHICAGO = ZoneInfo("America/Chicago")
CHAPTER = {"event": "div.event", "title": "h3", "start": ".when", "location": ".where", "link": "a@href",
           "description": ".desc"}
LAST_MODIFIED = "Mon, 15 Feb 2027 10:00:00 GMT"


class TestHtmlContract(AdapterContract):
    adapter = HtmlAdapter
    good_fixture = "html/chapter_listing_formats.html"
    options_extra = {"selectors": CHAPTER}
    html_is_foreign = False
    min_records = 5


def read(http, fixture: str, selectors: dict, *, last_modified: str | None = LAST_MODIFIED, **extra):
    url = http.url(f"/files/html/{fixture}")
    if last_modified:
        url += "?last_modified=" + quote(last_modified)
    options = HtmlOptions(id="chapter", type="html", url=url, timezone="America/Chicago", selectors=selectors,
                          **extra)
    return list(HtmlAdapter().read(options, HttpFetcher(), DEFAULT_WINDOW))


def by_title(items) -> dict[str, RawEvent]:
    return {i.title: i for i in items if isinstance(i, RawEvent)}


def test_listing_formats_give_the_right_local_times(http):
    found = by_title(read(http, "chapter_listing_formats.html", CHAPTER))
    # "Wed, March 3 · 6:30 PM": no year; the page's Last-Modified (Feb 2027) and the weekday say 2027
    assert found["Evening Networking"].start == datetime(2027, 3, 3, 18, 30, tzinfo=CHICAGO)
    assert found["Business Basics Class"].start == datetime(2027, 3, 10, 18, 30, tzinfo=CHICAGO)  # 3/10/2027 18:30
    talk = found["Prenatal Massage Talk"]  # "March 17th, 6:30pm-8pm"
    assert (talk.start, talk.end) == (datetime(2027, 3, 17, 18, 30, tzinfo=CHICAGO),
                                      datetime(2027, 3, 17, 20, 0, tzinfo=CHICAGO))
    assert found["Board Meeting"].start == datetime(2027, 3, 24, 18, 30, tzinfo=CHICAGO)  # <time datetime>
    conference = found["Spring Conference"]
    assert (conference.start, conference.end) == (date(2027, 4, 9), date(2027, 4, 12))


def test_fields_and_relative_links_made_absolute(http):
    found = by_title(read(http, "chapter_listing_formats.html", CHAPTER))
    networking = found["Evening Networking"]
    assert networking.url == http.url("/chapter/events/networking-march")
    assert networking.external_id == networking.url
    assert networking.location == "Kinship Cafe, 1 W Lake St, Chicago"
    assert "Meet fellow therapists." in networking.description
    assert found["Business Basics Class"].url == http.url("/files/html/business-basics.html")
    assert found["Prenatal Massage Talk"].url == "https://other.example/prenatal"


def test_block_without_a_date_is_skipped_with_the_reason(http):
    items = read(http, "chapter_listing_formats.html", CHAPTER)
    [skipped] = [i for i in items if isinstance(i, Skipped)]
    assert skipped.item == "Summer Retreat"
    assert skipped.reason.startswith("no date found")


def test_year_missing_without_last_modified_is_read_from_today(http):
    with time_machine.travel(datetime(2027, 2, 1, 12, tzinfo=timezone.utc), tick=False):
        found = by_title(read(http, "chapter_listing_formats.html", CHAPTER, last_modified=None))
    assert found["Evening Networking"].start.date() == date(2027, 3, 3)


def test_date_in_one_element_and_time_range_in_another(http):
    selectors = {"event": "li.item", "title": ".title", "start": ".date, .time", "location": ".venue",
                 "link": "a.more@href"}
    found = by_title(read(http, "date_and_time_apart.html", selectors))
    ce = found["CE Day: Lymphatic Drainage"]
    assert (ce.start, ce.end) == (datetime(2027, 3, 6, 18, 30, tzinfo=CHICAGO),
                                  datetime(2027, 3, 6, 20, 0, tzinfo=CHICAGO))
    assert ce.url == http.url("/files/html/date_and_time_apart.html?event=lymph")
    breakfast = found["Members' Breakfast"]
    assert (breakfast.start.hour, breakfast.end.hour, breakfast.end.minute) == (9, 10, 30)
    assert found["Legislative Update Call"].start == datetime(2027, 3, 20, 12, 0, tzinfo=CHICAGO)


def test_separate_end_selector_and_wordpress_time_elements(http):
    selectors = {"event": "article", "title": "h3", "start": "time", "location": "address", "link": "h3 a@href"}
    found = by_title(read(http, "wordpress_events_list.html", selectors))
    clinic = found["Sports Massage Clinic"]
    assert (clinic.start, clinic.end) == (datetime(2027, 3, 13, 10, tzinfo=CHICAGO),
                                          datetime(2027, 3, 13, 13, tzinfo=CHICAGO))
    assert clinic.location == "Kezar Pavilion, San Francisco"
    selectors = {"event": "article", "title": "h3", "start": ".tribe-event-date-start",
                 "end": ".tribe-event-time"}
    party = by_title(read(http, "wordpress_events_list.html", selectors))["Guild Holiday Party"]
    assert (party.start, party.end) == (datetime(2026, 12, 12, 18, tzinfo=CHICAGO),
                                        datetime(2026, 12, 12, 21, tzinfo=CHICAGO))


def test_selector_attribute_syntax():
    assert split_selector("a@href") == ("a", "href")
    assert split_selector("time@datetime") == ("time", "datetime")
    assert split_selector("@data-start") == ("", "data-start")
    assert split_selector("h3") == ("h3", None)


def _config(selectors: str) -> str:
    return ("calendar: {timezone: America/Chicago}\nsources:\n  - id: chapter\n    type: html\n"
            "    url: https://example.org/events\n" + selectors)


@pytest.mark.parametrize(("selectors", "message"), [
    ('    selectors: {event: "div.event", title: "h3"}\n',
     'sources.yaml:6: source "chapter": "selectors": selectors must name "start" (event, title and start are '
     'required), e.g. {event: "div.event", title: "h3", start: ".when"}'),
    ('    selectors: {event: "div.event", title: "h3", start: ".when", lcoation: ".where"}\n',
     'sources.yaml:6: source "chapter": "selectors": unknown selector "lcoation" (did you mean "location"?); '
     "the selectors are: event, title, start, end, location, link, description"),
    ('    selectors: {event: "div[[", title: "h3", start: ".when"}\n',
     'selector "event": "div[[" is not a valid CSS selector'),
])
def test_config_refuses_bad_selectors_with_line_and_fix(selectors, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(loads_yaml(_config(selectors), "sources.yaml"), "sources.yaml")
    assert message in str(caught.value)


def test_config_refuses_html_source_without_selectors():
    with pytest.raises(ConfigError) as caught:
        parse_config(loads_yaml(_config(""), "sources.yaml"), "sources.yaml")
    assert 'missing key "selectors"' in str(caught.value)


def test_config_accepts_a_complete_mapping():
    config = parse_config(loads_yaml(_config('    selectors: {event: "div.event", title: "h3", start: ".when", '
                                             'link: "a@href"}\n'), "sources.yaml"), "sources.yaml")
    assert config.sources[0].selectors.link == "a@href"


@pytest.mark.parametrize(("fixture", "says"), [
    ("jsonld/empty_body.html", "empty page"),
    ("jsonld/feed_not_page.xml", "type: rss"),
    ("jsonld/calendar_not_page.ics", "type: ical"),
])
def test_what_is_not_a_page_is_a_parse_error(http, fixture, says):
    from aggregator.errors import ParseError

    options = HtmlOptions(id="chapter", type="html", url=http.url(f"/files/{fixture}"), selectors=CHAPTER)
    with pytest.raises(ParseError) as caught:
        list(HtmlAdapter().read(options, HttpFetcher(), DEFAULT_WINDOW))
    assert says in str(caught.value)


def test_a_page_whose_blocks_are_gone_yields_nothing(http):
    assert read(http, "chapter_listing_formats.html", {**CHAPTER, "event": "div.no-such-block"}) == []


def test_any_bytes_give_records_or_a_source_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from aggregator.errors import SourceError
    from sources.base import Fetched
    from sources.html import read_listing

    options = HtmlOptions(id="x", type="html", url="https://example.org/", selectors=CHAPTER)
    pieces = st.sampled_from(['<div class="event">', "</div>", "<h3>", "</h3>", '<p class="when">', "</p>",
                              "March 3", "6:30 pm", "-", "2027", '<a href="', "javascript:x", '">', "</a>",
                              "\x00", "é", "<", ">"])

    @settings(max_examples=60, deadline=2000)
    @given(st.lists(pieces, max_size=40).map("".join) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
    def check(body):
        page = Fetched(url="https://example.org/", status=200, content=body.encode("utf-8"), text=body,
                       content_type="text/html")
        try:
            for item in read_listing(page, options):
                if isinstance(item, RawEvent):
                    assert item.title and item.start is not None
                    assert item.url is None or item.url.startswith(("http://", "https://"))
        except SourceError:
            pass

    check()


def test_events_written_as_runs_of_siblings_without_a_wrapper(http):
    selectors = {"event": ".entry-content h3", "title": ":scope", "start": "~ p.date", "location": "~ p.place",
                 "link": "~ p a@href"}
    items = read(http, "headings_without_wrappers.html", selectors)
    found = by_title(items)
    assert list(found) == ["Spring Mixer", "Stretch & Self-Care Workshop", "Annual Meeting"]
    mixer = found["Spring Mixer"]
    assert (mixer.start, mixer.end) == (datetime(2027, 3, 5, 17, 30, tzinfo=CHICAGO),
                                        datetime(2027, 3, 5, 19, 30, tzinfo=CHICAGO))
    assert mixer.location == "Surly Brewing, Minneapolis" and mixer.url == http.url("/mn/spring-mixer")
    workshop = found["Stretch & Self-Care Workshop"]
    assert workshop.location is None, "a field is never taken from the next event"
    assert workshop.url == http.url("/mn/self-care")
    assert found["Annual Meeting"].start == date(2027, 4, 10)
    assert found["Annual Meeting"].url is None


def test_event_selector_may_not_be_a_sibling_selector():
    with pytest.raises(ValueError, match="not siblings"):
        HtmlOptions(id="x", type="html", url="https://example.org/", selectors={"event": "+ p", "title": "h3",
                                                                                "start": ".when"})


def test_config_accepts_selectors_auto_and_refuses_a_near_miss():
    config = parse_config(loads_yaml(_config("    selectors: auto\n"), "sources.yaml"), "sources.yaml")
    assert config.sources[0].selectors == "auto"
    with pytest.raises(ConfigError) as caught:
        parse_config(loads_yaml(_config("    selectors: automatic\n"), "sources.yaml"), "sources.yaml")
    assert 'sources.yaml:6: source "chapter": "selectors": selectors must be "auto"' in str(caught.value)


def test_a_hand_written_day_selector_dates_the_events_under_each_heading(http):
    url = http.url("/files/listings/day_headings.html") + "?last_modified=" + quote(LAST_MODIFIED)
    options = HtmlOptions(id="studio", type="html", url=url, timezone="America/Denver",
                          selectors={"event": "div.schedule li", "title": "a", "start": ".time", "day": "h2"})
    found = [i for i in HtmlAdapter().read(options, HttpFetcher(), DEFAULT_WINDOW) if isinstance(i, RawEvent)]
    assert [(e.title, e.start.strftime("%a %b %d %H:%M")) for e in found][:3] == [
        ("Massage Trade Morning", "Sat Mar 06 09:00"), ("Intro to Cupping (3 CE)", "Sat Mar 06 13:00"),
        ("Business Circle for Therapists", "Tue Mar 09 18:30")]
    assert found[1].end.strftime("%H:%M") == "16:00"  # "1:00 pm - 4:00 pm" under its day


def test_a_zone_word_names_a_family_and_the_venues_state_picks_its_member():
    from sources.base import Fetched
    from sources.html import read_listing

    def block(title, when, where):
        return f'<div class="event"><h3>{title}</h3><p class="when">{when}</p><p class="where">{where}</p></div>'

    body = "<html><body>" + "".join([
        block("Phoenix Mixer", "July 1, 2027 6:30 PM MST", "4437 Park Road, Phoenix, AZ"),
        block("Denver Mixer", "July 1, 2027 6:30 PM MST", "1 Main St, Denver, CO"),
        block("Tucson Social", "July 2, 2027 6:30 PM", "Evergreen Chiropractic, Tucson"),  # the Denver default
        block("Chicago Social", "July 2, 2027 6:30 PM MT", "12 Oak St, Chicago, IL"),  # another family: said so
        block("Offset Social", "July 3, 2027 6:30 PM GMT-6", "4437 Park Road, Phoenix, AZ"),  # explicit: kept
    ]) + "</body></html>"
    page = Fetched(url="https://example.org/events", status=200, content=body.encode(), text=body,
                   content_type="text/html")
    options = HtmlOptions(id="national", type="html", url=page.url, timezone="America/Denver", selectors=CHAPTER)
    found = {e.title: e.start for e in read_listing(page, options) if isinstance(e, RawEvent)}
    utc = timezone.utc
    assert found["Phoenix Mixer"].astimezone(utc) == datetime(2027, 7, 2, 1, 30, tzinfo=utc)  # Arizona: UTC-7
    assert found["Denver Mixer"].astimezone(utc) == datetime(2027, 7, 2, 0, 30, tzinfo=utc)  # Denver's MDT
    assert found["Tucson Social"].astimezone(utc) == datetime(2027, 7, 3, 1, 30, tzinfo=utc)
    assert found["Chicago Social"].astimezone(utc) == datetime(2027, 7, 3, 0, 30, tzinfo=utc)
    assert found["Offset Social"].astimezone(utc) == datetime(2027, 7, 4, 0, 30, tzinfo=utc)


def test_a_zone_word_for_the_pages_own_region_means_the_pages_zone():
    from sources.base import Fetched
    from sources.html import read_listing

    body = ('<html><body><div class="event"><h3>Study Group (online)</h3><p class="when">July 24, 2027 3:00 PM MST'
            '</p><p class="where">Online</p></div></body></html>')
    page = Fetched(url="https://example.org/az", status=200, content=body.encode(), text=body, content_type="text/html")
    options = HtmlOptions(id="az", type="html", url=page.url, timezone="America/Phoenix", selectors=CHAPTER)
    [event] = [e for e in read_listing(page, options) if isinstance(e, RawEvent)]
    assert event.start.astimezone(timezone.utc) == datetime(2027, 7, 24, 22, 0, tzinfo=timezone.utc)  # not Denver's MDT
