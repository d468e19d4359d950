"""Cross-source de-duplication: normalisation, matching, merge rules, identity, overrides, order."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest

from aggregator.merge import dedupe
from aggregator.merge.dedupe import (
    merge,
    merge_detailed,
    norm_title,
    norm_url,
    norm_venue,
)
from aggregator.model import Status
from tests.builders import (
    CHICAGO,
    NEW_YORK,
    TYPES,
    UTC,
    chapter_meeting_copies,
    groups,
    keys,
    rec,
)

# -- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [
    ("AMTA-IL: Spring Social", "Spring Social"),
    ("Reminder: Spring Social", "spring social"),
    ("Re: Fwd: Spring Social", "SPRING SOCIAL!"),
    ("CANCELLED: Spring Social", "Spring Social"),
    ("[Canceled] Spring Social", "Spring Social"),
    ("Spring Social - Cancelled", "Spring Social"),
    ("[IL Chapter] Spring Social", "Spring Social"),
    ("Cupping: Continuing Education Class", "Cupping: CE Class"),
    ("Cupping (3 CEUs)", "Cupping CE"),
    ("Lunch & Learn: Cupping", "Lunch and Learn - Cupping"),
    ("Intro to Thai Massage", "Introduction to Thai Massage"),
    ("Board Mtg", "Board Meeting"),
    ("Chapter Meeting \u2013 March 2026", "Chapter Meeting"),
    ("Caf\u00e9 Meetup", "cafe meet-up"),
])
def test_title_normalisation_makes_copies_equal(a, b):
    assert norm_title(a) == norm_title(b)


def test_title_normalisation_keeps_words_that_tell_events_apart():
    assert norm_title("Hot Stone Massage: Morning Session") != norm_title("Hot Stone Massage: Afternoon Session")
    assert norm_title("Workshop: Cupping") == "workshop cupping"  # "Workshop" is not an organiser label


def test_display_title_loses_reply_and_reminder_prefixes_but_keeps_the_chapter_label():
    assert dedupe.strip_prefixes("Re: Fwd: Reminder: Spring Social") == "Spring Social"
    assert dedupe.strip_prefixes("AMTA-IL: Spring Social") == "AMTA-IL: Spring Social"


@pytest.mark.parametrize("title", ["CANCELLED: Board Meeting", "[Canceled] Board Meeting",
                                   "Board Meeting - Cancelled", "Re: CANCELED - Board Meeting",
                                   "(Postponed) Board Meeting"])
def test_titles_that_announce_a_cancellation_are_recognised(title):
    assert dedupe.title_says_cancelled(title)


def test_a_title_merely_mentioning_cancellation_policy_is_not_a_cancellation():
    assert not dedupe.title_says_cancelled("Cancellation Policies for Your Practice")


@pytest.mark.parametrize("a, b", [
    ("720 South Michigan Avenue, Suite 200, Chicago", "720 S. Michigan Ave, Chicago"),
    ("Oak Street Clinic, 12 Oak Street", "oak st clinic, 12 oak st."),
    ("Riverside Community Center, 45 Elm Road, Ste 310", "Riverside Community Ctr, 45 Elm Rd"),
    ("Harmony School, 9 N. Clark Blvd #4", "Harmony School, 9 North Clark Boulevard"),
])
def test_venue_normalisation_unifies_street_words_and_drops_suites(a, b):
    assert norm_venue(a) == norm_venue(b)


@pytest.mark.parametrize("empty", [None, "", "TBA", "tbd", "To be announced", "Online", "Zoom", "Location TBA"])
def test_a_venue_that_says_nothing_counts_as_none(empty):
    assert norm_venue(empty) is None


def test_different_street_numbers_are_different_places():
    assert dedupe.venue_similarity(norm_venue("Lakeview Arts, 12 Main St, Chicago, IL"),
                                   norm_venue("Harmony School, 480 Oak St, Chicago, IL")) < dedupe.VENUE_CONFLICT


def test_url_normalisation_drops_tracking_scheme_and_www_and_ignores_home_pages():
    assert norm_url("https://www.meetup.com/g/events/301/?utm_source=x#top") == \
        norm_url("http://meetup.com/g/events/301")
    assert norm_url("https://amta-il.org/") is None


def test_start_instants_are_compared_in_utc():
    a = rec("amta-il", "1", "Spring Social", datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO))
    b = rec("chi-meetup", "2", "Spring Social", datetime(2026, 3, 4, 0, 30, tzinfo=UTC))
    assert dedupe.score_pair(a, b).time == "exact"


def test_descriptions_are_cleaned_of_html_with_nh3():
    text = dedupe.clean_description('<p>Bring <b>water</b> &amp; towels</p><script>alert(1)</script><p>Free</p>')
    assert text == "Bring water & towels\nFree"


# -- matching ------------------------------------------------------------------------------


def test_one_meeting_listed_by_three_sources_is_published_once():
    events = merge(chapter_meeting_copies(), {}, source_types=TYPES)
    assert len(events) == 1
    assert {s.source for s in events[0].sources} == {"amta-il", "chi-meetup", "list-mail"}
    assert len(events[0].sources) == 4


def test_a_time_written_an_hour_off_matches_at_the_same_place():
    # A zone slip in a mail copy: the same title at the same address, an hour later.
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Cupping for Athletes CE Workshop", start)
    b = rec("list-feed", "2", "Reminder: Cupping for Athletes Continuing Education Workshop",
            start + timedelta(hours=1), location="Lakeview Healing Arts (1200 West Belmont Avenue)")
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    assert pair.match and pair.time == "hours"
    assert len(merge([a, b], {}, source_types=TYPES)) == 1


def test_a_time_an_hour_off_with_no_place_or_link_in_common_is_another_event():
    # Nothing but the title says it is the same event: an hour apart, it may be a second session.
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Cupping for Athletes CE Workshop", start)
    b = rec("list-feed", "2", "Reminder: Cupping for Athletes Continuing Education Workshop",
            start + timedelta(hours=1), location="TBA")
    pair = dedupe.score_pair(a, b, source_types=TYPES)
    assert not pair.match and "nothing shows the place or the link is the same" in pair.reason
    assert len(merge([a, b], {}, source_types=TYPES)) == 2


def test_a_date_only_record_matches_the_timed_one_on_that_day():
    a = rec("amta-il", "1", "Spring Networking Social", datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO))
    b = rec("chapter-page", "2", "Spring Networking Social", date(2026, 4, 9))
    merged = merge([a, b], {}, source_types=TYPES)
    assert len(merged) == 1 and not merged[0].all_day


def test_two_different_events_at_one_venue_on_one_day_stay_separate():
    day = datetime(2026, 5, 2, 10, 0, tzinfo=CHICAGO)
    records = [
        rec("amta-il", "am", "Hot Stone Massage: Morning Session", day),
        rec("amta-il", "pm", "Hot Stone Massage: Afternoon Session", day + timedelta(hours=4)),
        rec("chi-meetup", "x-am", "Hot Stone Massage - Morning Session", day),
        rec("chi-meetup", "x-pm", "HOT STONE MASSAGE: AFTERNOON SESSION", day + timedelta(hours=4)),
        rec("chapter-page", "cup", "Cupping Workshop", day),
        rec("list-feed", "stone", "Hot Stone Workshop", day),
    ]
    assert groups(merge(records, {}, source_types=TYPES)) == {
        frozenset({("amta-il", "am"), ("chi-meetup", "x-am")}),
        frozenset({("amta-il", "pm"), ("chi-meetup", "x-pm")}),
        frozenset({("chapter-page", "cup")}), frozenset({("list-feed", "stone")}),
    }


def test_monthly_occurrences_of_a_series_stay_separate():
    first = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    occurrences = [rec("amta-il", f"series-1@amta/{m}", "Chapter Monthly Meeting", first + timedelta(days=28 * m))
                   for m in range(4)]
    copies = [rec("chi-meetup", f"m{m}", "Chapter Monthly Meeting", first + timedelta(days=28 * m),
                  url="https://meetup.com/g/events/series") for m in range(4)]
    merged = merge(occurrences + copies, {}, source_types=TYPES)
    assert len(merged) == 4
    assert all(len(e.sources) == 2 for e in merged)


def test_two_records_of_one_source_are_not_merged_even_when_alike():
    start = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Chair Massage Volunteers", start)
    b = rec("amta-il", "2", "Chair Massage Volunteers (Team B)", start)
    assert len(merge([a, b], {}, source_types=TYPES)) == 2


def test_one_source_announcing_the_same_event_twice_is_one_event():
    start = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    a = rec("list-mail", "<1@x>", "Spring Social", start, location=None)
    b = rec("list-mail", "<2@x>", "Reminder: Spring Social", start, location=None)
    assert len(merge([a, b], {}, source_types=TYPES)) == 1


def test_a_vague_record_does_not_chain_two_different_events_together():
    start = datetime(2026, 3, 3, 18, 0, tzinfo=CHICAGO)
    records = [
        rec("amta-il", "a", "Cupping Workshop for Athletes", start),
        rec("chi-meetup", "b", "Hot Stone Workshop for Athletes", start),
        rec("list-feed", "c", "Workshop for Athletes", start, location=None),
    ]
    merged = merge(records, {}, source_types=TYPES)
    assert not any({("amta-il", "a"), ("chi-meetup", "b")} <= keys(e) for e in merged)


def test_the_same_title_in_two_regions_on_one_evening_stays_separate():
    a = rec("amta-il", "1", "AMTA Networking Night", datetime(2026, 5, 12, 18, 30, tzinfo=CHICAGO), region="IL")
    b = rec("other-cal", "2", "AMTA Networking Night", datetime(2026, 5, 12, 18, 30, tzinfo=NEW_YORK),
            region="NY", location="TBA")
    assert len(merge([a, b], {}, source_types=TYPES)) == 2


def test_same_title_same_time_at_two_venues_stays_separate():
    start = datetime(2026, 5, 12, 18, 30, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "LMT Coffee Meetup", start, location="Oak Street Clinic, 12 Oak St, Evanston, IL")
    b = rec("chi-meetup", "2", "LMT Coffee Meetup", start, location="Harmony School, 480 Clark St, Chicago, IL")
    assert len(merge([a, b], {}, source_types=TYPES)) == 2


def test_a_shared_event_link_supports_a_weaker_title_match():
    start = datetime(2026, 5, 12, 18, 30, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Spring Mixer", start, url="https://amta-il.org/events/77")
    b = rec("list-feed", "2", "Members Mixer at Lakeview", start, url="https://amta-il.org/events/77/")
    assert len(merge([a, b], {}, source_types=TYPES)) == 1


# -- merge rules ---------------------------------------------------------------------------


def test_merge_rules_pick_the_best_value_of_each_field():
    event = merge(chapter_meeting_copies(), {}, source_types=TYPES)[0]
    assert event.title == "AMTA-IL: Monthly Chapter Meeting"  # the chapter calendar's, no "Reminder:"
    assert event.url == "https://amta-il.org/events/march-meeting"  # ical over jsonld over mail
    assert event.location == "Lakeview Healing Arts, 1200 W Belmont Ave, Chicago, IL"  # a real venue
    assert event.description.startswith("Our monthly meeting, with snacks")  # the longest, cleaned
    assert "<" not in event.description
    assert event.end == datetime(2026, 3, 3, 20, 30, tzinfo=CHICAGO)
    assert event.timezone == "America/Chicago"
    assert event.tags == ("chapter-meeting",)
    assert [s.source for s in event.sources] == sorted(s.source for s in event.sources)


def test_the_most_precise_time_wins_a_datetime_over_a_date():
    a = rec("amta-il", "1", "Spring Networking Social", date(2026, 4, 9))
    b = rec("list-feed", "2", "Spring Networking Social", datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO))
    event = merge([a, b], {}, source_types=TYPES)[0]
    assert event.start == datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO) and not event.all_day


def test_on_a_zone_slip_the_calendar_time_wins_over_the_mailing_list_guess():
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("list-mail", "<1@x>", "Spring Networking Social", start + timedelta(hours=1))
    b = rec("amta-il", "2", "Spring Networking Social", start)
    assert merge([a, b], {}, source_types=TYPES)[0].start == start


@pytest.mark.parametrize("title, calendar_place, list_place, published", [
    pytest.param("Spring Social", "TBA", "Oak Street Clinic, 12 Oak St", "Oak Street Clinic, 12 Oak St",
                 id="a real venue wins over TBA whatever the authority"),
    pytest.param("Spring Social", "2923 Park Drive, Minneapolis, MN",
                 "Holiday Inn Express, 2923 Park Dr., Minneapolis, MN",
                 "Holiday Inn Express, 2923 Park Dr., Minneapolis, MN",
                 id="the most complete venue wins among agreeing ones"),
    # the calendar says Zoom; a list post's reader took "in Practice CE" from the title as a place
    pytest.param("Aromatherapy in Practice CE Workshop", "Online (Zoom)", "Practice CE", "Online (Zoom)",
                 id="an online event stays online when prose misreads a venue"),
    pytest.param("Spring Social", "Oak Street Clinic, 12 Oak St", "Zoom", "Oak Street Clinic, 12 Oak St",
                 id="a venue the calendar names still wins over an online hint"),
])
def test_the_published_place_is_the_best_the_copies_give(title, calendar_place, list_place, published):
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("amta-il", "1", title, start, location=calendar_place)
    b = rec("list-mail", "<2@x>", title, start, location=list_place)
    assert merge([a, b], {}, source_types=TYPES)[0].location == published


def test_cancelled_if_any_source_says_so_by_status_or_title():
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    by_status = [rec("amta-il", "1", "Spring Social", start, status=Status.CANCELLED),
                 rec("chi-meetup", "2", "Spring Social", start)]
    by_title = [rec("amta-il", "1", "Spring Social", start),
                rec("list-mail", "<2@x>", "CANCELLED: Spring Social", start)]
    for records in (by_status, by_title):
        event = merge(records, {}, source_types=TYPES)[0]
        assert event.status == Status.CANCELLED
        assert event.title == "Spring Social"  # the prefix is lifecycle's, once


def test_tags_are_the_union_of_every_source():
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Spring Social", start, tags=("networking",))
    b = rec("chi-meetup", "2", "Spring Social", start, tags=("ce", "networking"))
    assert merge([a, b], {}, source_types=TYPES)[0].tags == ("ce", "networking")


# -- order independence --------------------------------------------------------------------


def _world() -> list:
    records = list(chapter_meeting_copies())
    base = datetime(2026, 5, 2, 10, 0, tzinfo=CHICAGO)
    for i, (src, title) in enumerate([("amta-il", "Hot Stone Massage: Morning Session"),
                                      ("chi-meetup", "Hot Stone Massage - Morning Session"),
                                      ("chapter-page", "Cupping Workshop"),
                                      ("list-feed", "Reminder: Cupping Workshop"),
                                      ("amta-il", "Thai Massage Study Group"),
                                      ("list-mail", "Thai massage study group")]):
        records.append(rec(src, f"w{i}", title, base + timedelta(days=i // 2)))
    return records


@pytest.mark.parametrize("order", ["in_order", "reversed", "shuffled"])
def test_merge_does_not_depend_on_record_order(order):
    records = _world()
    expected = merge(records, {}, source_types=TYPES)
    if order == "reversed":
        records = records[::-1]
    elif order == "shuffled":
        random.Random(4).shuffle(records)
    assert merge(records, {}, source_types=TYPES) == expected


# -- identity ------------------------------------------------------------------------------


def _links(events) -> dict[str, str]:
    from aggregator.merge.normalize import record_uid
    return {record_uid(s.source, s.external_id): e.uid for e in events for s in e.sources}


def test_a_new_event_gets_a_deterministic_uid_from_its_first_record():
    records = chapter_meeting_copies()
    first = merge(records, {}, source_types=TYPES)[0].uid
    assert first == records[0].uid  # amta-il sorts first
    assert merge(records[::-1], {}, source_types=TYPES)[0].uid == first


def test_uid_is_kept_while_records_join_and_leave():
    copies = chapter_meeting_copies()
    run1 = merge(copies[2:], {}, source_types=TYPES)  # the mailing list only
    uid = run1[0].uid
    run2 = merge(copies, _links(run1), source_types=TYPES)  # the calendar and Meetup join
    assert [e.uid for e in run2] == [uid]
    run3 = merge(copies[:2], _links(run1) | _links(run2), source_types=TYPES)  # the mail ones leave
    assert [e.uid for e in run3] == [uid]


def test_when_two_published_events_merge_the_oldest_uid_wins():
    copies = chapter_meeting_copies()
    run_a = merge(copies[:1], {}, source_types=TYPES)
    run_b = merge(copies[1:2], {}, source_types=TYPES)
    known = _links(run_a) | _links(run_b)
    first = {run_a[0].uid: "2026-03-01T00:00:00+00:00", run_b[0].uid: "2026-02-01T00:00:00+00:00"}
    merged = merge(copies[:2], known, first_published=first, source_types=TYPES)
    assert [e.uid for e in merged] == [run_b[0].uid]


def test_a_split_leaves_the_uid_with_the_group_holding_most_of_its_records():
    start = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Spring Social", start)
    b = rec("chi-meetup", "2", "Spring Social", start)
    c = rec("list-feed", "3", "Spring Social", start)
    run1 = merge([a, b, c], {}, source_types=TYPES)
    uid = run1[0].uid
    moved = rec("list-feed", "3", "Spring Social", start + timedelta(days=7))  # corrected date
    run2 = merge([a, b, moved], _links(run1), source_types=TYPES)
    by_keys = {frozenset(keys(e)): e.uid for e in run2}
    assert by_keys[frozenset({("amta-il", "1"), ("chi-meetup", "2")})] == uid
    assert by_keys[frozenset({("list-feed", "3")})] != uid


def test_records_whose_uid_churns_every_fetch_keep_the_published_uid():
    start = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    run1 = merge([rec("amta-il", "AAMkAGI2-first", "Spring Social", start)], {}, source_types=TYPES)
    previous = {e.uid: e for e in run1}
    churned = rec("amta-il", "AAMkAGI2-second", "Spring Social", start)
    run2 = merge([churned], _links(run1), previous=previous, source_types=TYPES)
    assert [e.uid for e in run2] == [run1[0].uid]


def test_an_unrelated_event_does_not_change_other_uids():
    records = _world()
    before = {frozenset(keys(e)): e.uid for e in merge(records, {}, source_types=TYPES)}
    extra = rec("other-cal", "zzz", "Oncology Massage Intensive", datetime(2026, 6, 1, 9, tzinfo=CHICAGO))
    after = {frozenset(keys(e)): e.uid for e in merge(records + [extra], {}, source_types=TYPES)}
    assert all(after[k] == v for k, v in before.items())


# -- curator overrides ---------------------------------------------------------------------


def test_curator_same_joins_records_the_scores_keep_apart():
    a = rec("amta-il", "1", "Spring Mixer", datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO))
    b = rec("list-feed", "2", "Drinks after the board meeting", datetime(2026, 3, 3, 19, 0, tzinfo=CHICAGO))
    assert len(merge([a, b], {}, source_types=TYPES)) == 2
    overrides = SimpleNamespace(same=[["amta-il:1", "list-feed:2"]], never=[], hide=[])
    assert len(merge([a, b], {}, overrides, source_types=TYPES)) == 1


def test_curator_never_keeps_matching_records_apart():
    copies = chapter_meeting_copies()
    overrides = {"same": [], "never": [["amta-il:mtg-2026-03@amta-il.org",
                                        "chi-meetup:https://www.meetup.com/chi-lmt/events/301/"]], "hide": []}
    merged = merge(copies, {}, overrides, source_types=TYPES)
    assert not any({"amta-il", "chi-meetup"} <= {s.source for s in e.sources} for e in merged)


def test_curator_hide_by_record_or_by_uid_drops_the_event():
    copies = chapter_meeting_copies()
    uid = merge(copies, {}, source_types=TYPES)[0].uid
    for ref in (uid, "list-mail:<a1@list.example.org>"):
        result = merge_detailed(copies, {}, SimpleNamespace(same=(), never=(), hide=(ref,)), source_types=TYPES)
        assert result.events == [] and result.hidden == [uid]


def test_curator_same_by_published_uid():
    a = rec("amta-il", "1", "Spring Mixer", datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO))
    b = rec("list-feed", "2", "Drinks after the board meeting", datetime(2026, 3, 3, 19, 0, tzinfo=CHICAGO))
    run1 = merge([a, b], {}, source_types=TYPES)
    uids = [e.uid for e in run1]
    merged = merge([a, b], _links(run1), {"same": [uids], "never": [], "hide": []}, source_types=TYPES)
    assert len(merged) == 1 and merged[0].uid in uids


# -- measurement helpers -------------------------------------------------------------------


def test_pairwise_quality_counts_pairs():
    q = dedupe.pairwise_quality([["a", "b"], ["c"]], [["a", "b", "c"]])
    assert q["precision"] == 1.0 and q["recall"] == pytest.approx(1 / 3)


def test_benchmark_merge_reports_time_and_groups():
    out = dedupe.benchmark_merge(chapter_meeting_copies(), source_types=TYPES)
    assert out["events"] == 1 and out["records"] == 4 and out["seconds"] >= 0
    assert len(out["groups"]) == 1


def test_an_override_naming_nothing_is_reported_for_the_curator(caplog):
    overrides = {"same": [["amta-il:mtg-2026-03@amta-il.org", "amta-il:typo"]], "never": [], "hide": []}
    result = merge_detailed(chapter_meeting_copies(), {}, overrides, source_types=TYPES)
    assert result.unresolved == ["amta-il:typo"]
    assert 'merge: "amta-il:typo" names no current record or published event' in caplog.text


def test_a_mail_signature_or_list_footer_is_not_part_of_the_description():
    start = datetime(2026, 4, 9, 19, 0, tzinfo=CHICAGO)
    a = rec("amta-il", "1", "Spring Social", start, description="Members and guests welcome; light snacks.")
    b = rec("list-mail", "<2@x>", "Spring Social", start,
            description="See you there!\n\n-- \nJane Doe, LMT\nChapter secretary, AMTA Illinois\n"
                        "_______________________________________________\nList mailing list\nhttps://lists.example.org")
    assert merge([a, b], {}, source_types=TYPES)[0].description == "Members and guests welcome; light snacks."
    assert dedupe.clean_description(b.description) == "See you there!"
