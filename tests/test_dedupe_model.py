"""De-duplication as a weighed model: each class of copy and near-miss that unseen sources produce.

Decorated titles, venues and addresses written differently, online events with one title hours
apart, the start taken from the most precise record, and a cancelled copy that must not cancel a
different event. Every case runs on the records in order and reversed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from aggregator.merge import dedupe
from aggregator.merge.dedupe import merge, merge_detailed
from aggregator.model import Status
from tests.builders import CHICAGO, NEW_YORK, TYPES, rec

TOPICS = ["Cupping Basics", "Hot Stone Refresher", "Chair Massage Clinic", "Prenatal Massage Q&A",
          "Business Bookkeeping Night", "Ethics Roundtable", "Reflexology Practice Lab", "Thai Massage Jam",
          "Sports Massage Demo"]


@pytest.fixture(params=["in order", "reversed"])
def order(request):
    return (lambda xs: list(xs)) if request.param == "in order" else (lambda xs: list(reversed(xs)))


def _day(n: int, hour: int = 18) -> datetime:
    return datetime(2026, 5, 1, hour, 30, tzinfo=CHICAGO) + timedelta(days=n)


# -- decorated titles ------------------------------------------------------------------------


def test_a_list_name_a_source_puts_on_every_title_is_learned_and_ignored(order):
    # One list prefixes all its posts with its own name (no colon rule or word list knows it); the
    # chapter calendar lists the same events plainly. Each event is published once.
    plain = [rec("amta-il", f"c{n}", t, _day(n), location=None) for n, t in enumerate(TOPICS)]
    listed = [rec("list-mail", f"<m{n}@x>", f"Windy City Bodywork Circle - {t}", _day(n), location=None)
              for n, t in enumerate(TOPICS)]
    decorations = dedupe.learn_decorations(plain + listed)
    assert "windy city bodywork circle" in decorations["list-mail"].segments
    assert "amta-il" not in decorations  # a calendar with plain titles has nothing to strip
    events = merge(order(plain + listed), {}, source_types=TYPES)
    assert len(events) == len(TOPICS)
    assert all(len(e.sources) == 2 for e in events)


@pytest.mark.parametrize("decorated", [
    "Spring Social @ Lakeview Healing Arts",
    "Spring Social!!",
    "Spring Social (members free)",
    "Spring Social - May 2",
    "[IL] Spring Social",
])
def test_decorated_titles_match_the_plain_title(decorated, order):
    start = _day(1)
    a = rec("amta-il", "1", "Spring Social", start)
    b = rec("chi-meetup", "2", decorated, start)
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    assert pair.match, pair.reason
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1


def test_a_decoration_never_joins_two_different_events_of_one_evening(order):
    start = _day(2)
    a = rec("amta-il", "1", "Cupping Basics (members free)", start, location="Oak Street Clinic, 12 Oak St")
    b = rec("chi-meetup", "2", "Hot Stone Refresher (members free)", start, location="Oak Street Clinic, 12 Oak St")
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 2


# -- venues and addresses written differently ----------------------------------------------------


@pytest.mark.parametrize("other", [
    "Drake Hotel, 140 East Walton Place, Chicago",       # without "The", spelled out
    "The Drake Hotel (140 E. Walton Pl.)",               # address in parentheses, abbreviated
    "140 E Walton Pl, Chicago, IL 60611",                # the address alone
])
def test_one_venue_written_differently_is_the_same_place(other, order):
    start = _day(3)
    a = rec("amta-il", "1", "Spring Networking Social", start, location="The Drake Hotel, 140 E Walton Pl, Chicago, IL")
    b = rec("chi-meetup", "2", "Spring Networking Social", start + timedelta(hours=1), location=other)
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    # An hour apart (a zone slip) counts only at the same place: the parsed address shows it is.
    assert pair.time == "hours" and pair.match, pair.reason
    assert {c.field: c.level for c in pair.comparisons}["address"] == "same"
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1


def test_two_addresses_on_one_street_are_two_places(order):
    start = _day(4)
    a = rec("amta-il", "1", "Chair Massage Clinic", start, location="Lakeview Healing Arts, 1200 W Belmont Ave")
    b = rec("chi-meetup", "2", "Chair Massage Clinic", start, location="Lakeview Wellness, 1800 W Belmont Ave")
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    assert {c.field: c.level for c in pair.comparisons}["address"] == "different"
    assert not pair.match
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 2


# -- online events ---------------------------------------------------------------------------


@pytest.mark.parametrize("second_link", ["https://zoom.us/j/222", "https://zoom.us/j/111"],
                         ids=["own meeting rooms", "the host's one meeting room"])
def test_online_events_with_one_title_hours_apart_on_one_day_are_not_merged(second_link, order):
    # A webinar run twice in one day for two coasts: the same title, both online, three hours apart,
    # whether or not the host uses one personal meeting room for both.
    morning = rec("amta-il", "1", "Ethics for Massage Therapists Webinar", _day(5, 10), location="Online (Zoom)",
                  url="https://zoom.us/j/111")
    afternoon = rec("chi-meetup", "2", "Ethics for Massage Therapists Webinar", _day(5, 13), location="Online (Zoom)",
                    url=second_link)
    pair = dedupe.score_pair(morning, afternoon, source_types=TYPES)
    assert not pair.match and pair.time == "hours"
    assert "nothing shows the place or the link is the same" in pair.reason
    assert len(merge(order([morning, afternoon]), {}, source_types=TYPES)) == 2


def test_one_online_event_listed_twice_is_merged(order):
    # At one start with its meeting link; or an hour apart (a zone slip) linking the event's own page.
    a = rec("amta-il", "1", "Ethics for Massage Therapists Webinar", _day(5, 10), location="Online",
            url="https://zoom.us/j/111")
    b = rec("chi-meetup", "2", "Ethics Webinar for Massage Therapists", _day(5, 10), location="Zoom",
            url="https://zoom.us/j/111?utm_source=meetup")
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1
    c = rec("amta-il", "3", "Pathology Review Webinar", _day(6, 10), location="Online",
            url="https://amta-il.org/events/pathology-review")
    d = rec("chi-meetup", "4", "Pathology Review Webinar", _day(6, 11), location="Online event",
            url="https://amta-il.org/events/pathology-review")
    assert len(merge(order([c, d]), {}, source_types=TYPES)) == 1


# -- the start from the most precise record ---------------------------------------------------


def test_the_start_comes_from_the_record_that_wrote_an_explicit_offset(order):
    # The list post said "7 PM" and was read in the list's default zone (New York): an hour off.
    # The Meetup page wrote 19:00-05:00. Same venue, so one event, published at the page's time.
    page_start = datetime(2026, 5, 7, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
    page = rec("chi-meetup", "https://meetup.example/e/1", "Spring Social", page_start)
    mail = rec("list-mail", "<s@x>", "Spring Social", datetime(2026, 5, 7, 19, 0, tzinfo=NEW_YORK))
    events = merge(order([mail, page]), {}, source_types=TYPES,
                   source_zones={"list-mail": "America/New_York", "chi-meetup": "America/Chicago"})
    assert len(events) == 1
    assert events[0].start == page_start and events[0].start.utcoffset() == timedelta(hours=-5)


def test_a_zone_the_post_names_beats_the_zone_a_source_assumes(order):
    # Two list posts: one says "7 PM CT" (a zone word), one says "7 PM" read in the list's default
    # zone. At the same venue an hour apart they are one event, at the time the post named.
    named = rec("list-feed", "<a@x>", "Spring Social", datetime(2026, 5, 7, 19, 0, tzinfo=CHICAGO))
    assumed = rec("list-mail", "<b@x>", "Spring Social", datetime(2026, 5, 7, 19, 0, tzinfo=NEW_YORK))
    zones = {"list-feed": "America/New_York", "list-mail": "America/New_York"}
    events = merge(order([assumed, named]), {}, source_types=TYPES, source_zones=zones)
    assert len(events) == 1 and events[0].start == named.start


# -- cancellation decided per real-world event -------------------------------------------------


def test_a_cancelled_copy_does_not_cancel_a_different_event(order):
    # The morning session was cancelled; the afternoon session goes ahead. Titles alike, same
    # place, three hours apart: a loose match could join them, and must not cancel the afternoon.
    place = "Lakeview Healing Arts, 1200 W Belmont Ave"
    afternoon = rec("amta-il", "pm", "Cupping Workshop", _day(6, 14), location=place)
    morning = rec("list-mail", "<c@x>", "CANCELLED: Cupping Workshop", _day(6, 11), location=place,
                  status=Status.CANCELLED)
    result = merge_detailed(order([afternoon, morning]), {}, source_types=TYPES)
    by_source = {e.sources[0].source: e for e in result.events if len(e.sources) == 1}
    assert len(result.events) == 2
    assert by_source["amta-il"].status == Status.CONFIRMED
    assert by_source["list-mail"].status == Status.CANCELLED


def test_a_cancelled_copy_strongly_matched_cancels_its_event(order):
    place = "Lakeview Healing Arts, 1200 W Belmont Ave"
    listed = rec("amta-il", "1", "Cupping Workshop", _day(6, 14), location=place)
    cancelled = rec("list-mail", "<c@x>", "CANCELLED: Cupping Workshop", _day(6, 14), location=place,
                    status=Status.CANCELLED)
    events = merge(order([listed, cancelled]), {}, source_types=TYPES)
    assert len(events) == 1 and events[0].status == Status.CANCELLED


def test_a_cancelled_mail_copy_without_venue_or_link_still_cancels_its_event(order):
    # The usual cancellation: a short post, no place, no link, the same title and start.
    place = "Lakeview Healing Arts, 1200 W Belmont Ave"
    confirmed = rec("amta-il", "1", "Hot Stone Refresher Workshop", _day(7), location=place,
                    url="https://amta-il.org/events/hot-stone")
    meetup = rec("chi-meetup", "2", "Hot Stone Refresher Workshop", _day(7), location=place,
                 url="https://amta-il.org/events/hot-stone")
    post = rec("list-mail", "<v@x>", "CANCELLED: Hot Stone Refresher Workshop", _day(7), location=None,
               status=Status.CANCELLED)
    events = merge(order([confirmed, meetup, post]), {}, source_types=TYPES)
    assert [(len(e.sources), e.status) for e in events] == [(3, Status.CANCELLED)]


def test_a_cancelled_copy_read_in_the_other_zone_of_its_family_cancels_its_event(order):
    # "2 PM MST" in May, cancelled by a national list that read the word as Denver's summer time
    from zoneinfo import ZoneInfo
    denver, phoenix = ZoneInfo("America/Denver"), ZoneInfo("America/Phoenix")
    chapter = rec("list-feed", "1", "Save the date: Advanced Chair Massage", datetime(2026, 5, 24, 14, tzinfo=phoenix),
                  location="Online", region="AZ")
    national = rec("list-mail", "<n@x>", "advanced chair massage - sun, may 24!!", datetime(2026, 5, 24, 14, tzinfo=denver),
                   location="Online", region=None, status=Status.CANCELLED)
    events = merge(order([chapter, national]), {}, source_types=TYPES)
    assert [(len(e.sources), e.status) for e in events] == [(2, Status.CANCELLED)]


@pytest.mark.parametrize("a_title, b_title", [
    ("New event: Scar Tissue Work Intensive", "Scar Tissue Work Intensive via Zoom (bring a friend)!!"),
    ("Lunch & Learn: Trigger Point Therapy [Virtual]", "Lunch & Learn: Trigger Point Therapy - Online"),
    ("ANNOUNCE: Intro to Business Building", "Intro to Business Building at Evergreen Chiropractic"),
])
def test_announcement_words_online_markers_and_an_at_venue_suffix_are_decorations(a_title, b_title, order):
    start = _day(8, 10)
    a = rec("amta-il", "1", a_title, start, location="Evergreen Chiropractic, 2600 Grand Ave")
    b = rec("list-mail", "<d@x>", b_title, start, location="Evergreen Chiropractic")
    assert dedupe.score_pair(a, b, source_types=TYPES).match
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1


def test_a_venue_named_by_one_source_and_addressed_by_another_is_no_conflict(order):
    start = _day(9)
    a = rec("amta-il", "1", "AMTA Networking Night", start, location="Harmony Massage School")
    b = rec("chi-meetup", "2", "AMTA Networking Night", start, location="2432 Oak St, Atlanta, Georgia")
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    assert {c.field: c.level for c in pair.comparisons}["venue"] == "unknown" and pair.match
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1



@pytest.mark.parametrize("title, location, other_location", [
    # the title spells out what the place abbreviates ("Street" / "St")
    ("Massage Therapy Foundation Info Session at Oak Street Clinic", "Oak Street Clinic, Atlanta",
     "Oak Street Clinic, 2335 Oak Drive, Atlanta, Georgia 16272"),
    # the place is a street address only: the title's "at <Name>" is the venue it leaves out
    ("Massage Therapy Foundation Info Session at Holiday Inn Express Honolulu", "3312 Clark Dr., Honolulu",
     "Holiday Inn Express Honolulu, 3312 Clark Dr, Honolulu 32591"),
    # a title written all in lower case, its venue said twice and an aside: no capital to go by
    ("massage therapy foundation info session at holiday inn express honolulu at holiday inn express honolulu"
     " (members free)", "3312 Clark Dr., Honolulu", "Holiday Inn Express Honolulu, 3312 Clark Dr, Honolulu 32591"),
])
def test_an_at_venue_suffix_is_a_decoration_when_the_place_abbreviates_or_omits_the_venue(title, location,
                                                                                          other_location, order):
    from aggregator.merge.dedupe.keys import norm_venue, title_core
    assert title_core(title, venue=norm_venue(location)) == "massage therapy foundation info session"
    start = _day(10)
    a = rec("chi-meetup", "2", "AMTA-US - Massage Therapy Foundation Info Session!!", start, location=other_location)
    b = rec("amta-il", "1", title, start, location=location)
    assert dedupe.score_pair(a, b, source_types=TYPES).match
    assert len(merge(order([a, b]), {}, source_types=TYPES)) == 1


def test_one_title_on_one_day_at_a_named_venue_and_at_another_named_venue_with_its_address_is_two_events(order):
    # "AZ Massage Therapy Conference" at the Bodywork Institute in Tucson, and another at the Phoenix library:
    # a name before the address is a venue to compare, not an address-only place
    day = datetime(2026, 5, 6).date()
    tucson = rec("amta-il", "1", "AZ Massage Therapy Conference", day, location="Bodywork Institute, Tucson",
                 region="AZ")
    phoenix = rec("list-mail", "<m@x>", "AZ Massage Therapy Conference!", day, region="AZ",
                  location="Phoenix Public Library, Meeting Room B - 4748 Elm Blvd, #100, Phoenix, Arizona")
    tucson_post = rec("list-feed", "<t@x>", "AZ MASSAGE THERAPY CONFERENCE", day, region="AZ",
                      location="The Bodywork Institute, Tucson")
    assert not dedupe.score_pair(tucson, phoenix, source_types=TYPES).match
    events = merge(order([tucson, phoenix, tucson_post]), {}, source_types=TYPES)
    assert sorted(len(e.sources) for e in events) == [1, 2]
    assert next(e for e in events if len(e.sources) == 1).location.startswith("Phoenix Public Library")


def test_a_place_a_post_reads_from_the_titles_words_is_no_conflict_with_the_venue_a_calendar_names(order):
    start = datetime(2026, 3, 6, 9, tzinfo=CHICAGO)
    listed = rec("amta-il", "1", "Volunteer Day: Chair Massage at the Denver Marathon", start,
                 location="Northside Yoga Studio, 2767 Jefferson St., Denver, Colorado")
    reminder = rec("list-mail", "<r@x>", "Volunteer Day: Chair Massage at the Denver Marathon", start,
                   location="Denver Marathon")
    assert len(merge(order([listed, reminder]), {}, source_types=TYPES)) == 1


def test_a_group_name_a_source_puts_on_only_some_titles_is_learned_when_no_other_source_leads_with_it(order):
    # "Rochester LMT Network - ..." on 4 of a page's 10 titles: too few for a share, but no other source's
    # title starts so; "Continuing Education: ..." starts titles everywhere and stays part of them
    plain = [rec("amta-il", f"c{n}", t, _day(n), location=None) for n, t in enumerate(TOPICS)]
    page = [rec("chapter-page", f"p{n}", f"Rochester LMT Network - {t}" if n % 2 else t, _day(n), location=None)
            for n, t in enumerate(TOPICS)]
    ce = [rec(src, f"{src}-ce{n}", f"Continuing Education: {t}", _day(n + 20), location=None)
          for src in ("amta-il", "chapter-page", "list-mail") for n, t in enumerate(TOPICS[:3])]
    decorations = dedupe.learn_decorations(plain + page + ce)
    assert "rochester lmt network" in decorations["chapter-page"].segments
    assert not any("continuing education" in d.segments for d in decorations.values())
    events = merge(order(plain + page), {}, source_types=TYPES)
    assert len(events) == len(TOPICS)


def test_one_clock_time_read_in_two_zones_of_one_family_is_one_online_event(order):
    # "1 PM MST" in July: a national page read it as Denver's (MDT), the Arizona chapter as Phoenix's
    from zoneinfo import ZoneInfo
    denver, phoenix = ZoneInfo("America/Denver"), ZoneInfo("America/Phoenix")
    chapter = rec("chapter-page", "1", "Advanced Insurance Billing", datetime(2026, 7, 28, 13, tzinfo=phoenix),
                  location="https://us03web.zoom.us/j/8695188919", region="AZ")
    national = rec("chi-meetup", "2", "Advanced Insurance Billing Via Zoom (3 CEs)",
                   datetime(2026, 7, 28, 13, tzinfo=denver), location="Virtual - Zoom link sent after RSVP", region=None)
    events = merge(order([chapter, national]), {}, source_types=TYPES)
    assert len(events) == 1
    assert events[0].start == datetime(2026, 7, 28, 13, tzinfo=phoenix)  # the chapter knows its own zone
    # ... even when its list read the word in its own default zone (a zone word counted as no zone)
    post = rec("list-mail", "<p@x>", "Advanced Insurance Billing!!", datetime(2026, 7, 28, 13, tzinfo=phoenix),
               location=None, region="AZ", zone="America/Phoenix")
    with_post = merge(order([national, post]), {}, source_types=TYPES, source_zones={"list-mail": "America/Phoenix"})
    assert [e.start for e in with_post] == [datetime(2026, 7, 28, 13, tzinfo=phoenix)]
    # an hour apart on one clock in two families (Eastern, Central) is two sessions
    central = rec("chapter-page", "3", "Advanced Insurance Billing", datetime(2026, 7, 28, 13, tzinfo=CHICAGO),
                  location="Online", region=None)
    eastern = rec("chi-meetup", "4", "Advanced Insurance Billing", datetime(2026, 7, 28, 13, tzinfo=NEW_YORK),
                  location="Online", region=None)
    assert len(merge(order([central, eastern]), {}, source_types=TYPES)) == 2
