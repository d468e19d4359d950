"""Plain HTML event listings are read without hand-written selectors: the repeated blocks that
each hold a date are found, mapped to the html adapter's selectors, and read as the page states.

The layouts in tests/fixtures/listings/ are modelled on real chapter and studio pages (cards from
a site builder, an association's table, a studio's day headings, a date badge apart from the
text, a definition list, The Events Calendar's list view without its structured data, and runs
of siblings without a wrapper); each fixture's comment says what it is.
"""

from __future__ import annotations

import csv
import time
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import ParseError
from aggregator.model import RawEvent
from sources.base import Skipped
from sources.html import HtmlAdapter, HtmlOptions
from sources.parse.dates import parse_when
from sources.parse.listing import infer_listing
from sources.parse.places import zone_from_addresses
from tests.adapter_contract import DEFAULT_WINDOW
from tests.conftest import SHARED_CORPUS, corpus_files
from tests.servers import Doc

NOW = datetime(2027, 2, 1, 12, tzinfo=timezone.utc)
FIXTURES = "tests/fixtures"


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def read(http, path: str, selectors="auto", zone: str = "America/Chicago") -> list[RawEvent | Skipped]:
    options = HtmlOptions(id="listing", type="html", url=http.url(path), timezone=zone, selectors=selectors)
    return list(HtmlAdapter().read(options, HttpFetcher(), DEFAULT_WINDOW))


def events(items) -> list[RawEvent]:
    return [i for i in items if isinstance(i, RawEvent)]


def local(value, zone: str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


# title, start as the page states it (local), end or None, a word of the location or None
LAYOUTS = {
    "listings/cards.html": ("America/Chicago", [
        ("Austin Therapist Social", "2027-03-09 18:30", "2027-03-09 20:30", "Manor Rd"),
        ("Myofascial Release CE (6 hours)", "2027-03-20 09:00", "2027-03-20 16:00", "Richmond Ave"),
        ("Chapter Board Meeting", "2027-04-01 19:00", None, "Zoom"),
        ("Spring Self-Care Retreat", "2027-04-18 10:00", "2027-04-18 15:00", "Barton Springs"),
    ]),
    "listings/table.html": ("America/New_York", [
        ("Ethics for Massage Therapists (3 CE)", "2027-03-06 09:00", "2027-03-06 12:00", "Columbus"),
        ("Cleveland District Meeting", "2027-03-18 18:30", None, "Cleveland"),
        ("Sports Massage at the Marathon Expo", "2027-04-03 10:00", "2027-04-03 15:00", "Cincinnati"),
        ("Webinar: Marketing Your Practice", "2027-04-22 19:00", None, "Online"),
        ("Annual Convention", "2027-05-15 08:00", "2027-05-15 17:00", "Akron"),
    ]),
    "listings/day_headings.html": ("America/Denver", [
        ("Massage Trade Morning", "2027-03-06 09:00", None, None),
        ("Intro to Cupping (3 CE)", "2027-03-06 13:00", "2027-03-06 16:00", None),
        ("Business Circle for Therapists", "2027-03-09 18:30", None, None),
        ("Assisted Stretch Practice", "2027-03-13 08:00", None, None),
        ("Body Mechanics Clinic", "2027-03-13 11:00", "2027-03-13 12:30", None),
        ("Community Potluck", "2027-03-13 19:00", None, None),
    ]),
    "listings/date_badge_list.html": ("America/New_York", [
        ("Atlanta Networking Night", "2027-03-11 18:00", "2027-03-11 20:00", "Ponce"),
        ("Prenatal Massage Workshop", "2027-03-27 09:30", "2027-03-27 16:30", "Savannah"),
        ("Lunch & Learn: Insurance Billing", "2027-04-08 12:00", None, "Peachtree"),
        ("Volunteer Chair Massage Day", "2027-04-24 10:00", "2027-04-24 14:00", "Piedmont"),
    ]),
    "listings/definition_list.html": ("America/Los_Angeles", [
        ("Portland Members Mixer", "2027-03-12 19:00", None, None),
        ("Thai Massage Fundamentals", "2027-03-27 09:00", "2027-03-27 17:00", None),
        ("Chapter Annual Meeting", "2027-04-14 18:00", None, None),
        ("Licensing Board Open House", "2027-05-01", None, None),
    ]),
    "listings/tribe_list.html": ("America/Los_Angeles", [
        ("Sports Massage Clinic", "2027-03-13 10:00", "2027-03-13 13:00", "Kezar"),
        ("Oakland Practitioner Social", "2027-03-25 18:30", "2027-03-25 20:30", "Bellevue Ave"),
        ("Manual Lymphatic Drainage, Level 1", "2027-04-10 09:00", "2027-04-10 17:00", "Market St"),
        ("Webinar: Boundaries and Ethics", "2027-04-29 19:00", "2027-04-29 20:00", None),
    ]),
    "listings/few_events_with_news.html": ("America/Chicago", [
        ("Wichita Meet & Greet", "2027-03-11 18:00", None, None),
        ("Topeka CE: Pathology Review", "2027-04-17 09:00", "2027-04-17 15:00", None),
    ]),
    "listings/plain_list.html": ("America/New_York", [
        ("Monthly Guild Meeting, Burlington Library, Burlington, VT", "2027-03-04 19:00", None, None),
        ("Monthly Guild Meeting, Burlington Library, Burlington, VT", "2027-04-01 19:00", None, None),
        ("Reiki Level 1 Workshop, Montpelier, VT", "2027-04-17", None, None),
        ("Spring Potluck at Jan's studio", "2027-05-06 18:30", None, None),
    ]),
    "listings/mixed_date_habits.html": ("America/Los_Angeles", [
        ("Advanced Deep Tissue Techniques – Sat, Mar 13", "2027-03-13 11:30", "2027-03-13 12:30", "Zoom"),
        ("Foundation Info Session", "2027-03-17 18:30", "2027-03-17 20:30", "Pine St"),
        ("Intro to Pediatric Massage", "2027-03-26 15:00", "2027-03-26 17:30", "Lincoln St"),
        ("Clinic Volunteers Meetup – Wed 4/7", "2027-04-07 13:30", None, "Northside"),
    ]),
    "html/headings_without_wrappers.html": ("America/Chicago", [
        ("Spring Mixer", "2027-03-05 17:30", "2027-03-05 19:30", "Surly"),
        ("Stretch & Self-Care Workshop", "2027-03-20 10:00", None, None),
        ("Annual Meeting", "2027-04-10", None, "St. Paul"),
    ]),
}


@pytest.mark.parametrize("path", list(LAYOUTS), ids=[p.split("/")[-1] for p in LAYOUTS])
def test_each_layout_is_read_without_hand_written_selectors(http, path):
    zone, expected = LAYOUTS[path]
    found = events(read(http, f"/files/{path}", zone=zone))
    got = [(e.title, local(e.start, zone), local(e.end, zone) if e.end is not None else None) for e in found]
    assert got == [(title, start, end) for title, start, end, _ in expected]
    for event, (_, _, _, place) in zip(found, expected):
        if place is not None:
            assert event.location and place in event.location, (event.title, event.location)


@pytest.mark.parametrize("path", [p for p in LAYOUTS if p.startswith("listings/")],
                         ids=[p.split("/")[-1] for p in LAYOUTS if p.startswith("listings/")])
def test_inferred_links_lead_to_each_events_own_page(http, path):
    found = events(read(http, f"/files/{path}", zone=LAYOUTS[path][0]))
    with_links = [e.url for e in found if e.url]
    if any(name in path for name in ("definition_list", "few_events", "plain_list")):
        assert len(with_links) <= 1  # these pages link (almost) none of their events
        return
    assert len(with_links) == len(found) and len(set(with_links)) == len(found)
    assert all(url.startswith("http") for url in with_links)


def test_the_inferred_mapping_is_plain_css_a_curator_can_adjust():
    page = open(f"{FIXTURES}/listings/cards.html", encoding="utf-8").read()
    found = infer_listing(page, reference=date(2027, 2, 1))
    assert found.selectors == {
        "event": "div.event-card", "title": "h3.event-card__title",
        "start": "span.event-card__date, span.event-card__time", "location": "p.event-card__venue",
        "link": ":scope > h3.event-card__title > a@href", "description": "p.event-card__excerpt"}
    # the choice is explained: how many blocks held a date, and what came next
    assert "4 with a date" in found.explanation[0] and found.explanation[1].startswith("next best")


def test_a_title_that_repeats_its_day_is_not_taken_for_the_date():
    page = open(f"{FIXTURES}/listings/mixed_date_habits.html", encoding="utf-8").read()
    found = infer_listing(page, reference=date(2027, 2, 1))
    assert found.selectors["title"] == "h4" and found.selectors["start"] == "span.date, span.time"


def test_day_headings_become_a_day_selector():
    page = open(f"{FIXTURES}/listings/day_headings.html", encoding="utf-8").read()
    found = infer_listing(page, reference=date(2027, 2, 1))
    assert found.selectors["day"] == "h2.day" and found.selectors["start"] == "span.time"


def test_a_table_header_row_is_not_an_event(http):
    items = read(http, "/files/listings/table.html", zone="America/New_York")
    assert not [i for i in items if isinstance(i, Skipped)], "the header row is left out by the selector"


@pytest.mark.parametrize("fixture", ["listings/product_page.html", "listings/article.html",
                                     "jsonld/no_events_organization.html"])
def test_pages_without_a_dated_listing_are_refused(http, fixture):
    page = open(f"{FIXTURES}/{fixture}", encoding="utf-8").read()
    assert infer_listing(page, reference=date(2027, 2, 1)) is None
    with pytest.raises(ParseError, match="found no event listing"):
        read(http, f"/files/{fixture}")


TWEAKED = {  # change -> (the page changed so, whether hand-written selectors still read it)
    "a wrapper div": (lambda html: html.replace('<section class="event-grid">',
                                                '<div class="wp-site-blocks"><section class="event-grid">')
                      .replace("</section>", "</section></div>"), True),
    "a class renamed": (lambda html: html.replace("event-card", "evt-tile"), False),
}


@pytest.mark.parametrize("change", list(TWEAKED))
def test_selectors_auto_keeps_reading_after_a_layout_tweak(http, make_config, tmp_path, change):
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    tweak, hand_survives = TWEAKED[change]
    original = open(f"{FIXTURES}/listings/cards.html", encoding="utf-8").read()
    http.documents["chapter"] = Doc(original.encode(), "text/html; charset=utf-8")
    url = http.url("/doc/chapter")
    hand = {"event": "div.event-card", "title": "h3", "start": ".event-card__date, .event-card__time"}
    config = load_config(make_config(f"""
        calendar: {{timezone: America/Chicago}}
        sources:
          - id: auto-page
            type: html
            url: {url}
            selectors: auto
    """))
    store = Store(tmp_path / "events.db")
    run(config, store, tmp_path / "out", now=NOW)
    before = sorted((e.title, e.start) for e in store.published_events())
    assert len(before) == 4

    http.documents["chapter"] = Doc(tweak(original).encode(), "text/html; charset=utf-8")
    assert bool(events(read(http, "/doc/chapter", selectors=hand))) is hand_survives
    # ...while selectors: auto reads them all again, nothing cancelled
    run(config, store, tmp_path / "out", now=NOW)
    after = sorted((e.title, e.start) for e in store.published_events() if e.status == "confirmed")
    assert after == before


def test_addresses_propose_a_zone_and_say_where_a_state_is_split():
    guess = zone_from_addresses(["Thunderbird Coffee, 2200 Manor Rd, Austin, TX 78722", "Online (Zoom)",
                                 "5600 Richmond Ave, Houston, TX 77057"])
    assert guess.zone == "America/Chicago" and "all 2 addresses are in TX" in guess.note
    assert "El Paso" in guess.note  # Texas is not all on Central time
    mixed = zone_from_addresses(["Portland, OR", "Eugene, OR", "Boise, ID"])
    assert mixed.zone == "America/Los_Angeles" and "others are in ID" in mixed.note
    assert not mixed.confident  # a list across zones: sources add proposes no zone for it
    assert zone_from_addresses(["Studio A", "Online"]) is None
    assert zone_from_addresses(["Chicago"]).zone == "America/Chicago"
    assert zone_from_addresses(["Hilo Wellness Center, 1296 Oak Ave., Hilo 98111"]).zone == "Pacific/Honolulu"


# --------------------------------------------------------------------------- real pages


def _expected() -> dict[str, dict[str, str]]:
    path = SHARED_CORPUS / "EXPECTED.tsv"
    facts: dict[str, dict[str, str]] = {}
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                facts.setdefault(row["file"], {}).setdefault(row["fact"], row["value"])
    return facts


FACTS = _expected()
CORPUS = corpus_files("html")


@pytest.mark.skipif(not CORPUS, reason="../shared/corpus/html is absent")
@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_real_pages_give_a_listing_as_large_as_their_events_or_nothing(path):
    facts = FACTS.get(f"html/{path.name}", {})
    count = max(int(facts.get("schemaorg_event_count_all_nesting_levels", 0) or 0),
                int(facts.get("hevent_count_toplevel_mf2", 0) or 0))
    stated = facts.get("first_schemaorg_event_startDate") or facts.get("first_hevent_start")
    when = parse_when(stated) if stated and stated != "<none>" else None
    reference = when.start if when is not None else None  # the page's own time, not today
    began = time.perf_counter()
    found = infer_listing(path.read_text(encoding="utf-8", errors="replace"), reference=reference)
    assert time.perf_counter() - began < 5, "inference stays quick on a large real page"
    if count >= 2:
        # a page whose structured data lists several events shows them as dated blocks too
        assert found is not None and found.dated >= count
    elif found is not None:
        assert found.dated >= 2 and found.selectors["event"]


@pytest.mark.parametrize(("text", "head", "rest"), [
    ("March 3 - 5, 2027 – Spring Conference, Chicago", "March 3 - 5, 2027", "Spring Conference, Chicago"),
    ("April 17, 2027 – Reiki Level 1 Workshop", "April 17, 2027", "Reiki Level 1 Workshop"),
    ("Tue March 9 | 6:30 pm | Social", "Tue March 9 | 6:30 pm", "Social"),
])
def test_a_date_written_before_a_dash_is_cut_from_the_title(text, head, rest):
    from sources.parse.listing import date_head

    found = date_head(text, reference=date(2027, 2, 1))
    assert (found[0], found[2]) == (head, rest)


def test_a_title_with_a_dash_but_no_date_is_not_cut():
    from sources.parse.listing import date_head

    assert date_head("Board Meeting – Room 5", reference=date(2027, 2, 1)) is None
