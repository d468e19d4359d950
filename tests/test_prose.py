"""sources/parse/prose.py against the labelled list posts in tests/fixtures/posts/labelled_posts.yaml.

Every post is asserted: event or not, and for events the start instant, the place and the
status. Posts the reader gets wrong are marked xfail in the YAML with the reason; their
expectation is never weakened.

Precision and recall, printed:  .venv/bin/python -m tests.test_prose
"""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from aggregator.model import RawEvent, Status
from sources.base import Skipped
from sources.parse.prose import (
    Post,
    Reading,
    clean_subject,
    html_to_text,
    read_post,
    records_from_posts,
    strip_quotes,
)
from sources.parse.prose.places import find_place

POSTS_DIR = Path(__file__).parent / "fixtures" / "posts"
POSTS_FILE = POSTS_DIR / "labelled_posts.yaml"  # the development set (the reader was tuned on it)
HELDOUT_FILE = POSTS_DIR / "heldout_posts.yaml"  # written and labelled after tuning: the honest estimate
DEFAULT_ZONE = "America/Chicago"


def load_posts(path: Path = POSTS_FILE) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["posts"]


def reading_of(post: dict) -> Reading:
    body = html_to_text(post["body"]) if post.get("html") else post["body"]
    zone = ZoneInfo(post.get("zone", DEFAULT_ZONE))
    return read_post(post["subject"], body, datetime.fromisoformat(post["sent"]), zone)


def _place_key(place: str | None) -> str | None:
    if not place:
        return None
    words = re.findall(r"\w+", place.lower())
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words)


def _expected_start(value) -> datetime | date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value)
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


def mismatches(post: dict, got: Reading) -> list[str]:
    """What the reader got wrong on this post (empty: all right)."""
    want = post["expect"]
    problems = []
    if want["event"] != got.is_event:
        problems.append(f"event: expected {want['event']}, read {got.is_event} ({got.reason or got.start})")
        return problems
    if not want["event"]:
        return problems
    start = _expected_start(want["start"])
    if isinstance(start, datetime):
        if not isinstance(got.start, datetime) or got.start != start:
            problems.append(f"start: expected {start.isoformat()}, read {got.start}")
    elif isinstance(got.start, datetime) or got.start != start:
        problems.append(f"start: expected the day {start}, read {got.start}")
    if _place_key(want.get("place")) != _place_key(got.location):
        problems.append(f"place: expected {want.get('place')!r}, read {got.location!r}")
    want_cancelled = want.get("status") == "cancelled"
    if want_cancelled != got.cancelled:
        problems.append(f"status: expected {'cancelled' if want_cancelled else 'confirmed'}, "
                        f"read {'cancelled' if got.cancelled else 'confirmed'}")
    return problems


def _params():
    for post in load_posts() + load_posts(HELDOUT_FILE):
        marks = [pytest.mark.xfail(reason=post["xfail"], strict=True)] if post.get("xfail") else []
        yield pytest.param(post, id=post["id"], marks=marks)


def test_the_labelled_set_has_at_least_60_posts_of_every_kind():
    posts = load_posts()
    ids = [p["id"] for p in posts + load_posts(HELDOUT_FILE)]
    assert len(posts) >= 60
    assert len(set(ids)) == len(ids), "post ids must be unique"
    events = [p for p in posts if p["expect"]["event"]]
    assert len(events) >= 30 and len(posts) - len(events) >= 20
    assert any(p.get("zone") for p in posts), "posts in other zones"
    assert any(p["expect"].get("status") == "cancelled" for p in posts)
    assert any(p["subject"].lower().startswith(("re:", "fwd:", "reminder")) for p in posts)


@pytest.mark.parametrize("post", list(_params()))
def test_labelled_post_is_read_as_a_human_reads_it(post):
    got = reading_of(post)
    problems = mismatches(post, got)
    assert not problems, f"{post['id']} ({post['subject']}): " + "; ".join(problems)


def measure(posts: list[dict] | None = None) -> dict:
    """Detection precision/recall, and how many detected events have the right start and place."""
    posts = posts if posts is not None else load_posts()
    tp = fp = fn = tn = exact = 0
    wrong: list[str] = []
    for post in posts:
        got = reading_of(post)
        labelled = post["expect"]["event"]
        if got.is_event and labelled:
            tp += 1
            if not mismatches(post, got):
                exact += 1
        elif got.is_event:
            fp += 1
        elif labelled:
            fn += 1
        else:
            tn += 1
        problems = mismatches(post, got)
        if problems:
            wrong.append(f"{post['id']}: " + "; ".join(problems))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    # strict: an event counts only when start, place and status are all right
    strict_precision = exact / (tp + fp) if tp + fp else 1.0
    strict_recall = exact / (tp + fn) if tp + fn else 1.0
    return {"posts": len(posts), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "exact": exact,
            "precision": precision, "recall": recall,
            "strict_precision": strict_precision, "strict_recall": strict_recall, "wrong": wrong}


def report(m: dict) -> str:
    lines = [
        f"labelled posts: {m['posts']}  (events read right in every field: {m['exact']})",
        f"event detection: precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
        f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']}, tn {m['tn']})",
        f"strict (start instant + place + status right): precision {m['strict_precision']:.3f}  "
        f"recall {m['strict_recall']:.3f}",
    ]
    lines += [f"  wrong: {w}" for w in m["wrong"]]
    return "\n".join(lines)


def test_precision_and_recall_on_the_labelled_set(capsys):
    m = measure()
    held = measure(load_posts(HELDOUT_FILE))
    with capsys.disabled():
        print("\ndevelopment set (tuned on):\n" + report(m))
        print("held-out set:\n" + report(held))
    # Floors that catch regressions; the real numbers are printed above.
    assert m["precision"] >= 0.95 and held["precision"] >= 0.9
    assert m["recall"] >= 0.9 and held["recall"] >= 0.85
    assert m["strict_recall"] >= 0.85 and held["strict_recall"] >= 0.75


# ---------------------------------------------------------------------------------------------
# Behaviours a reader of list mail expects, one test each


Z = ZoneInfo(DEFAULT_ZONE)


def _post(pid, subject, body, sent, **kw) -> Post:
    return Post(id=pid, subject=subject, body=body, sent=datetime.fromisoformat(sent), **kw)


def _statuses(posts, zone) -> dict[str, Status]:
    """Each record's status by the post it was read from."""
    return {e.external_id: e.status for e in records_from_posts(posts, zone) if isinstance(e, RawEvent)}


def test_replies_reminders_and_forwards_collapse_into_one_record_with_the_most_complete_details():
    posts = [
        _post("<a@list>", "Spring Networking Mixer - Tuesday, March 10",
              "Join us on Tuesday, March 10 from 6:30 to 8:30 pm at Cafe Lula, 2537 N Kedzie Blvd, Chicago.\n"
              "Appetizers provided, cash bar, raffle for a free CE class. Bring business cards and a friend.",
              "2026-03-02T10:15:00-06:00"),
        _post("<b@list>", "Re: Spring Networking Mixer - Tuesday, March 10", "Count me in!\n> Join us on Tuesday",
              "2026-03-02T12:30:00-06:00", in_reply_to="<a@list>"),
        _post("<c@list>", "Reminder: spring mixer next Tuesday", "Spring mixer next Tuesday at 6:30 at Cafe Lula.",
              "2026-03-05T08:00:00-06:00"),
        _post("<d@list>", "Fwd: Spring Networking Mixer - Tuesday, March 10",
              "---------- Forwarded message ---------\nFrom: Jane\nDate: Mon, Mar 2, 2026 at 10:15 AM\n\n"
              "Join us on Tuesday, March 10 from 6:30 to 8:30 pm at Cafe Lula.", "2026-03-06T08:00:00-06:00"),
    ]
    out = list(records_from_posts(posts, Z, source_id="list"))
    events = [r for r in out if isinstance(r, RawEvent)]
    assert len(events) == 1, out
    event = events[0]
    assert event.external_id == "<a@list>"
    assert event.title == "Spring Networking Mixer - Tuesday, March 10"
    assert event.start == datetime(2026, 3, 10, 18, 30, tzinfo=ZoneInfo("America/Chicago"))
    assert event.end == datetime(2026, 3, 10, 20, 30, tzinfo=ZoneInfo("America/Chicago"))
    assert event.location == "Cafe Lula, 2537 N Kedzie Blvd, Chicago"
    assert event.status == Status.CONFIRMED
    skipped = {s.item.split("<")[-1].rstrip(">"): s.reason for s in out if isinstance(s, Skipped)}
    assert set(skipped) == {"b@list", "c@list", "d@list"}
    assert "collapsed" in skipped["c@list"]


def test_a_cancellation_post_cancels_the_announced_event():
    posts = [
        _post("<a@list>", "Spring Networking Mixer - Tuesday, March 10",
              "Tuesday, March 10, 6:30-8:30pm at Cafe Lula, 2537 N Kedzie Blvd.", "2026-03-02T10:15:00-06:00"),
        _post("<x@list>", "CANCELLED: Spring Networking Mixer",
              "Due to the storm, the mixer on Tuesday, March 10 is cancelled.", "2026-03-09T07:00:00-05:00"),
    ]
    events = [r for r in records_from_posts(posts, Z) if isinstance(r, RawEvent)]
    assert len(events) == 1
    assert events[0].status == Status.CANCELLED
    assert events[0].title == "Spring Networking Mixer - Tuesday, March 10"
    assert events[0].start == datetime(2026, 3, 10, 18, 30, tzinfo=Z)  # the details of the announcement
    assert events[0].location == "Cafe Lula, 2537 N Kedzie Blvd"


def test_a_reply_that_cancels_without_a_date_cancels_its_thread():
    posts = [
        _post("<a@list>", "Happy hour Friday 3/20", "Happy hour Friday 3/20, 5-7pm @ The Whistler.",
              "2026-03-16T13:00:00-05:00"),
        _post("<b@list>", "Re: Happy hour Friday 3/20", "Sorry all, this has been cancelled.",
              "2026-03-18T12:00:00-05:00", in_reply_to="<a@list>"),
    ]
    events = [r for r in records_from_posts(posts, Z) if isinstance(r, RawEvent)]
    assert [e.status for e in events] == [Status.CANCELLED]


def test_a_dateless_cancellation_reply_cancels_the_event_it_replies_to_not_an_earlier_one_sharing_a_word():
    posts = [
        _post("<n@list>", "AMTA networking night", "Saturday, March 28, 6:30-8:30pm at Muse Coworking, Tucson.",
              "2026-02-10T10:00:00-07:00"),
        _post("<t@list>", "Tucson massage therapist networking night",
              "Friday, July 24, 3:30-4:30pm at Oak Street Clinic, Tucson.", "2026-02-23T02:57:00-07:00"),
        _post("<c@list>", "Tucson Massage Therapist Networking Night has been cancelled",
              "Sorry everyone, Tucson Massage Therapist Networking Night is cancelled this time.",
              "2026-03-01T21:00:00-07:00", in_reply_to="<t@list>", references=("<t@list>",)),
    ]
    events = {r.external_id: r.status for r in records_from_posts(posts, ZoneInfo("America/Phoenix"))
              if isinstance(r, RawEvent)}
    assert events == {"<n@list>": Status.CONFIRMED, "<t@list>": Status.CANCELLED}


def test_a_cancellation_reply_naming_the_day_in_its_writers_zone_cancels_the_event_it_replies_to():
    # Saturday 00:00 Eastern is Friday evening out west: the reply's "Friday, May 29" is that event's day
    posts = [
        _post("<a@list>", "Advanced SOAP Notes and Documentation",
              "Date: Saturday, May 30\nTime: 00:00 EDT / 21:00 PDT\nLocation: Zoom: https://us04web.zoom.us/j/1168564752",
              "2026-02-23T22:39:00-05:00"),
        _post("<c@list>", "Advanced SOAP Notes and Documentation has been cancelled",
              "Unfortunately we have to cancel Advanced SOAP Notes and Documentation on Friday, May 29. "
              "We hope to reschedule soon.", "2026-03-02T00:00:00-05:00",
              in_reply_to="<a@list>", references=("<a@list>",)),
    ]
    events = [r for r in records_from_posts(posts, ZoneInfo("America/New_York")) if isinstance(r, RawEvent)]
    assert [(e.external_id, e.status) for e in events] == [("<a@list>", Status.CANCELLED)]
    assert events[0].start == datetime(2026, 5, 30, 0, 0, tzinfo=ZoneInfo("America/New_York"))


def test_a_cancellation_restating_the_event_leaves_the_announcements_place_and_time():
    posts = [
        _post("<a@list>", "VOLUNTEER DAY: CHAIR MASSAGE AT THE CHICAGO MARATHON – TUE, JUN 9",
              "Please join us for Volunteer Day: Chair Massage at the Chicago Marathon on Tue. June 9th, all day at "
              "Evergreen Chiropractic, Chicago. A great chance to meet colleagues in the area.",
              "2026-02-19T23:05:00-06:00"),
        _post("<c@list>", "Volunteer Day: Chair Massage at the Chicago Marathon has been cancelled",
              "Unfortunately we have to cancel Volunteer Day: Chair Massage at the Chicago Marathon on Tuesday, "
              "June 9. We hope to reschedule soon.", "2026-03-01T14:00:00-06:00"),
    ]
    events = _events(posts)
    assert [(e.external_id, e.status, e.start) for e in events] == [("<a@list>", Status.CANCELLED, date(2026, 6, 9))]
    assert "on Tuesday" not in (events[0].location or "")
    assert (events[0].location or "").startswith("Evergreen Chiropractic")


def test_a_place_ends_where_a_date_after_on_begins():
    assert find_place("We have to cancel the clinic at the Chicago Marathon on Tuesday, June 9.") == "Chicago Marathon"
    assert find_place("Open house at Green Bay Wellness Center on April 10. All welcome.") == "Green Bay Wellness Center"


def test_a_dateless_cancellation_of_common_words_cancels_the_event_of_that_very_name():
    # "NY Chapter Meeting": every word is too common to count as shared, but the name is the event's
    posts = [
        _post("<a@list>", "ANNOUNCE: ny chapter meeting",
              "We're getting together at 3pm to 4:30pm ET on Sun 5/10/2026 at 2466 Park St, Buffalo, NY.",
              "2026-02-25T04:14:00-05:00"),
        _post("<b@list>", "amta networking night – sun 6/28!", "Sunday 6/28/2026, 6-8pm ET at 2466 Park St, Buffalo, NY.",
              "2026-02-26T04:14:00-05:00"),
        _post("<c@list>", "CANCELLED: NY Chapter Meeting",
              "Sorry everyone, NY Chapter Meeting is cancelled this time. Refunds will be issued.",
              "2026-03-01T21:00:00-05:00"),
    ]
    events = {e.external_id: e.status for e in _events(posts, ZoneInfo("America/New_York"))}
    assert events == {"<a@list>": Status.CANCELLED, "<b@list>": Status.CONFIRMED}


def test_a_cancellation_joins_the_announcement_whose_subject_adds_a_venue_and_a_day():
    posts = [
        _post("<a@list>", "[AMTA-NY] ANNOUNCE: NY Chapter Meeting @ Brooklyn Wellness Center – June 21",
              "NY Chapter Meeting: Sunday, June 21, 2026 @ 11.00 a.m. to 12.00 p.m., Brooklyn Wellness Center, "
              "1621 Park Ave, Ste 410, Brooklyn, NY", "2026-02-21T05:43:00-05:00"),
        _post("<c@list>", "[AMTA-NY] CANCELLED: NY Chapter Meeting",
              "Due to low registration, NY Chapter Meeting (Jun 21) has been called off.", "2026-03-01T11:00:00-05:00"),
    ]
    events = _events(posts, ZoneInfo("America/New_York"))
    assert [(e.external_id, e.status) for e in events] == [("<a@list>", Status.CANCELLED)]
    assert events[0].start == datetime(2026, 6, 21, 11, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize("announced, cancelled", [
    # the subject says the cancellation in words after the name
    ("[mn-bodywork] New event: MN CHAPTER MEETING (RSVP REQUIRED)", "[mn-bodywork] MN Chapter Meeting has been cancelled"),
    # the announcement's subject adds the place it is held at
    ("New event: MN Chapter Meeting at Riverside Community Center (3 CEs)", "CANCELLED: MN Chapter Meeting"),
])
def test_a_dated_cancellation_joins_the_announcement_of_its_name_and_day(announced, cancelled):
    posts = [
        _post("<a@list>", announced, "MN Chapter Meeting\nThursday the 2nd of July · 2:00 PM Central\n"
              "4480 Main Rd., Rochester, Minnesota", "2026-02-20T23:58:00-06:00"),
        _post("<m@list>", "MN Chapter Meeting - Thu 5/14!", "MN Chapter Meeting: Thursday the 14th of May @ 9:30 AM "
              "Central Time, 3115 Clark Ave., Minneapolis, Minnesota", "2026-02-23T01:39:00-06:00"),
        _post("<c@list>", cancelled, "Unfortunately we have to cancel MN Chapter Meeting on Thursday, July 2. "
              "We hope to reschedule soon.", "2026-03-01T19:00:00-06:00"),
    ]
    events = {e.external_id: (e.status, e.start) for e in _events(posts)}
    assert events == {"<m@list>": (Status.CONFIRMED, datetime(2026, 5, 14, 9, 30, tzinfo=Z)),
                      "<a@list>": (Status.CANCELLED, datetime(2026, 7, 2, 14, 0, tzinfo=Z))}


def test_two_events_that_day_sharing_one_word_of_their_names_stay_two():
    posts = [
        _post("<c@list>", "ANNOUNCE: WI Massage Therapy Conference",
              "Please join us for WI Massage Therapy Conference on April 25–26, 2026 at Saint Luke's Parish Hall, "
              "Madison.", "2026-02-18T21:03:00-06:00"),
        _post("<t@list>", "Intro to Craniosacral Therapy",
              "Please join us for Intro to Craniosacral Therapy on Saturday, April 25 from 2.00 p.m. - 4.30 p.m. at "
              "Saint Luke's Parish Hall, Milwaukee.", "2026-02-27T23:38:00-06:00"),
    ]
    events = {e.external_id: (e.start, e.end) for e in _events(posts)}
    assert events == {"<c@list>": (date(2026, 4, 25), date(2026, 4, 27)),  # an all-day end is the day after
                      "<t@list>": (datetime(2026, 4, 25, 14, tzinfo=Z), datetime(2026, 4, 25, 16, 30, tzinfo=Z))}


def test_a_dateless_cancellation_cancels_the_announced_event_whose_subject_it_quotes():
    # of two "Community Massage Clinic Day"s, the one announced before the cancellation under its subject;
    # the other is only reminded of afterwards
    posts = [
        _post("<a@list>", "New event: community massage clinic day",
              "Please join us for Community Massage Clinic Day on Sun 3/15/2026, (all day) at Tucson Wellness "
              "Center, Tucson.", "2026-02-24T00:56:00-07:00"),
        _post("<c@list>", "CANCELLED: Community Massage Clinic Day",
              "Sorry everyone, Community Massage Clinic Day is cancelled this time.", "2026-03-01T16:00:00-07:00"),
        _post("<r@list>", "REMINDER - community massage clinic day!!!",
              "Don't forget - Community Massage Clinic Day this Friday. Bring a friend.", "2026-03-02T04:25:00-07:00"),
    ]
    events = {e.external_id: e.status for e in _events(posts, ZoneInfo("America/Phoenix"))}
    assert events == {"<a@list>": Status.CANCELLED, "<r@list>": Status.CONFIRMED}


def test_a_monthly_subject_reused_for_different_dates_gives_one_record_per_date():
    posts = [
        _post("<m1@list>", "Monthly meetup", "Thursday, April 2 at 6pm at Cafe Lula.", "2026-03-25T10:00:00-05:00"),
        _post("<m2@list>", "Monthly meetup", "Thursday, May 7 at 6pm at Cafe Lula.", "2026-04-28T10:00:00-05:00"),
    ]
    events = [r for r in records_from_posts(posts, Z) if isinstance(r, RawEvent)]
    assert sorted(e.start.date().isoformat() for e in events) == ["2026-04-02", "2026-05-07"]
    assert len({e.external_id for e in events}) == 2


def test_non_events_are_skipped_with_a_reason_a_curator_understands():
    posts = [
        _post("<j@list>", "Job: LMT wanted", "Interviews Tuesday at 10am.", "2026-03-04T09:00:00-06:00"),
        _post("<q@list>", "Re: table recommendations?", "Earthlite!", "2026-03-04T09:00:00-06:00"),
        _post("<d@list>", "Dues due by March 31", "Pay by March 31.", "2026-03-04T09:00:00-06:00"),
    ]
    out = list(records_from_posts(posts, Z))
    assert all(isinstance(o, Skipped) for o in out)
    reasons = {o.item.split("<")[-1].rstrip(">"): o.reason for o in out}
    assert reasons["j@list"] == "a job ad, not an event"
    assert reasons["q@list"] == "a reply that names no date and time for an event"
    assert reasons["d@list"] == "a renewal deadline, not an event"


@pytest.mark.parametrize("sent_zone", ["UTC", "America/Chicago", "Asia/Tokyo"])
def test_relative_dates_are_resolved_in_the_sources_zone_whatever_zone_the_post_was_sent_in(sent_zone):
    # Thursday 2026-03-19, 21:30 in Chicago, written down in three zones
    sent = datetime(2026, 3, 20, 2, 30, tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(sent_zone))
    got = read_post("Candlelight social", "Tomorrow at 7:30pm at Sip & Savor.", sent, Z)
    assert got.start == datetime(2026, 3, 20, 19, 30, tzinfo=Z)


def test_a_date_without_a_year_is_the_nearest_such_day_not_before_the_post():
    sent = datetime(2026, 12, 10, 10, 0, tzinfo=Z)
    assert read_post("Social", "January 9 at 4pm at The Hideout.", sent, Z).start.year == 2027
    assert read_post("Social", "December 12 at 4pm at The Hideout.", sent, Z).start.year == 2026


def test_quoted_text_signatures_and_forward_headers_are_not_read_as_the_posts_own_words():
    body = ("See below.\n\n---------- Forwarded message ---------\nFrom: A\nDate: Tue, Mar 17, 2026 at 2:14 PM\n"
            "Subject: x\n\nLobby day April 1 at 9:30 AM.\n\n> quoted March 3 at 5pm\n-- \nJane, LMT | 555-1234")
    text = strip_quotes(body)
    assert "Lobby day April 1" in text
    assert "Mar 17" not in text and "quoted" not in text and "555-1234" not in text


def test_list_prefixes_are_removed_from_the_title():
    assert clean_subject("Re: Fwd: [IL-LMT] Reminder: Spring mixer") == "Spring mixer"
    assert clean_subject("CANCELLED: Spring mixer") == "Spring mixer"




def test_a_huge_post_is_read_quickly_from_its_top():
    import time

    body = "Join us Tuesday, March 10 at 6:30pm at Cafe Lula, 2537 N Kedzie Blvd.\n" + "Lorem ipsum at Noon 6:30 " * 400_000
    began = time.monotonic()
    got = read_post("Mixer", body, datetime(2026, 3, 2, 10, 0, tzinfo=Z), Z)
    assert time.monotonic() - began < 2.0
    assert got.start == datetime(2026, 3, 10, 18, 30, tzinfo=Z)


# ---------------------------------------------------------------------------------------------
# Sessions and look-alike events of one source stay apart (benchmark: the afternoon session was
# collapsed into the morning's record and published at the morning's time)

PHX = ZoneInfo("America/Phoenix")


def _events(posts, zone=Z) -> list[RawEvent]:
    events = [r for r in records_from_posts(posts, zone, source_id="list") if isinstance(r, RawEvent)]
    return sorted(events, key=lambda e: e.start.isoformat())


@pytest.mark.parametrize("order", ["as sent", "reversed"])
def test_morning_and_afternoon_sessions_stay_two_events(order):
    posts = [
        _post("<am@list>", "AMTA-AZ: Reflexology - Morning Session",
              "When: Monday, February 8, 2027 at 10:00 AM to 12:30 PM\n"
              "Where: Desert Bloom Wellness Center, 4410 E Camelback Rd, Phoenix, AZ\n\n"
              "Hands-on reflexology refresher, 2.5 CE hours.", "2027-01-20T09:00:00-07:00"),
        _post("<pm@list>", "AMTA-AZ: Reflexology - Afternoon Session",
              "When: Monday, February 8, 2027 at 2:00 PM to 4:30 PM\n"
              "Where: Desert Bloom Wellness Center, 4410 E Camelback Rd, Phoenix, AZ\n\n"
              "The same class repeated for those who work mornings.", "2027-01-20T09:05:00-07:00"),
    ]
    if order == "reversed":
        posts.reverse()
    events = _events(posts, PHX)
    assert [(e.title, e.start) for e in events] == [
        ("AMTA-AZ: Reflexology - Morning Session", datetime(2027, 2, 8, 10, 0, tzinfo=PHX)),
        ("AMTA-AZ: Reflexology - Afternoon Session", datetime(2027, 2, 8, 14, 0, tzinfo=PHX)),
    ], "two sessions of one class on one day were collapsed into one record"


def test_part_1_and_part_2_stay_two_events_even_when_one_post_gives_no_time():
    posts = [
        _post("<p1@list>", "Myofascial Release Workshop, Part 1",
              "Saturday, March 6 from 9am to noon at Lakeview Healing Arts, 2103 Highland Ave.",
              "2027-02-20T10:00:00-06:00"),
        _post("<p2@list>", "Myofascial Release Workshop, Part 2",
              "Part 2 follows on Saturday, March 6, all day, same room.", "2027-02-20T10:10:00-06:00"),
    ]
    events = _events(posts)
    assert sorted(e.title for e in events) == ["Myofascial Release Workshop, Part 1",
                                              "Myofascial Release Workshop, Part 2"]


def test_a_reminder_of_the_morning_session_collapses_into_the_morning_not_the_afternoon():
    posts = [
        _post("<am@list>", "Shiatsu Basics: Morning Session",
              "When: Wednesday, May 12, 2027 at 9:00 AM to 11:30 AM\nWhere: Savannah Wellness Center, "
              "2319 Park Blvd, Suite 420, Savannah, GA", "2027-04-30T08:00:00-04:00"),
        _post("<pm@list>", "Shiatsu Basics: Afternoon Session",
              "When: Wednesday, May 12, 2027 at 1:00 PM to 3:30 PM\nWhere: Savannah Wellness Center, "
              "2319 Park Blvd, Suite 420, Savannah, GA", "2027-04-30T08:01:00-04:00"),
        _post("<r@list>", "Reminder: Shiatsu Basics - Morning Session",
              "Just a reminder: the morning session is Wednesday, May 12 at 9:00 AM, Savannah Wellness Center.",
              "2027-05-10T08:00:00-04:00"),
    ]
    ny = ZoneInfo("America/New_York")
    events = _events(posts, ny)
    assert [(e.external_id, e.start) for e in events] == [
        ("<am@list>", datetime(2027, 5, 12, 9, 0, tzinfo=ny)),
        ("<pm@list>", datetime(2027, 5, 12, 13, 0, tzinfo=ny)),
    ]
    assert "<r@list>" in events[0].extra["posts"]


def test_same_title_on_one_day_at_clearly_different_times_stays_two_events():
    # a chapter runs its volunteer clinic twice on one Saturday; the reminder names the morning one
    posts = [
        _post("<v1@list>", "Reminder: community massage clinic volunteers",
              "When: Saturday, June 5, 2027 at 11:00 AM to 2:00 PM\n"
              "Where: Unity Fitness Club, 3781 Church Road, Ste 200, Colorado Springs, CO", "2027-05-28T09:00:00-06:00"),
        _post("<v2@list>", "Community Massage Clinic Volunteers!",
              "When: Saturday, June 5, 2027 at 7:00 PM\nWhere: Boulder Wellness Center, 4363 Park Road, Boulder, CO",
              "2027-05-28T12:00:00-06:00"),
    ]
    den = ZoneInfo("America/Denver")
    events = _events(posts, den)
    assert [e.start for e in events] == [datetime(2027, 6, 5, 11, 0, tzinfo=den), datetime(2027, 6, 5, 19, 0, tzinfo=den)]


def test_one_title_in_two_cities_at_the_same_hour_stays_two_events():
    posts = [
        _post("<e@list>", "AMTA Networking Night",
              "When: Thursday, February 4, 2027 at 6:30 PM\nWhere: Evergreen Chiropractic, 4633 Oak Drive, Evanston, IL",
              "2027-01-15T09:00:00-06:00"),
        _post("<g@list>", "AMTA Networking Night (Green Bay)",
              "When: Thursday, February 4, 2027 at 6:30 PM\n"
              "Where: Holiday Inn Express Green Bay, 586 Lincoln Drive, Green Bay, WI", "2027-01-15T09:30:00-06:00"),
    ]
    events = _events(posts)
    assert sorted(e.location.split(",")[0] for e in events) == ["Evergreen Chiropractic", "Holiday Inn Express Green Bay"]


def test_two_announcements_named_for_two_cities_half_an_hour_apart_stay_two_events():
    posts = [
        _post("<atl@list>", "Atlanta Bodywork Exchange",
              "When: Friday, February 5, 2027 at 7:00 PM to 9:00 PM\n"
              "Where: Evergreen Chiropractic, 2817 Lincoln Ave., Suite 200, Atlanta, GA", "2027-01-20T09:00:00-05:00"),
        _post("<sav@list>", "Savannah Bodywork Exchange",
              "When: Friday, February 5, 2027 at 6:30 PM\nWhere: TBA", "2027-01-21T09:00:00-05:00"),
    ]
    ny = ZoneInfo("America/New_York")
    assert [e.external_id for e in _events(posts, ny)] == ["<sav@list>", "<atl@list>"]


def test_a_reminder_naming_the_doors_open_time_half_an_hour_early_still_collapses():
    posts = [
        _post("<a@list>", "Winter Social at Cafe Lula",
              "Thursday, January 21, 6:30-8:30 pm at Cafe Lula, 2537 N Kedzie Blvd. Members and guests welcome.",
              "2027-01-05T10:00:00-06:00"),
        _post("<b@list>", "Reminder: winter social Thursday",
              "Doors open Thursday, January 21 at 6:00 pm, Cafe Lula. See you there!", "2027-01-19T10:00:00-06:00"),
    ]
    events = _events(posts)
    assert len(events) == 1 and events[0].start == datetime(2027, 1, 21, 18, 30, tzinfo=Z)


def test_a_cancelled_afternoon_session_leaves_the_morning_session_confirmed():
    posts = [
        _post("<am@list>", "Chair Massage: Morning Session",
              "When: Friday, January 8, 2027 at 8:00 AM to 10:30 AM\nWhere: Unity Fitness Club, 3005 Oak Drive, Chicago, IL",
              "2026-12-20T09:00:00-06:00"),
        _post("<pm@list>", "Chair Massage: Afternoon Session",
              "When: Friday, January 8, 2027 at 1:00 PM to 3:30 PM\nWhere: Unity Fitness Club, 3005 Oak Drive, Chicago, IL",
              "2026-12-20T09:05:00-06:00"),
        _post("<x@list>", "CANCELLED: Chair Massage - Afternoon Session",
              "Sorry, not enough sign-ups; the afternoon session has been cancelled. Mornings go ahead.",
              "2027-01-04T09:00:00-06:00"),
    ]
    events = _events(posts)
    assert [(e.external_id, e.status) for e in events] == [("<am@list>", Status.CONFIRMED),
                                                          ("<pm@list>", Status.CANCELLED)]


def test_a_reminder_giving_the_same_instant_in_another_zone_still_collapses():
    posts = [
        _post("<a@list>", "Ethics for Massage Therapists (3 CE)",
              "Tuesday, April 13 from 6:00 to 9:00 pm at Harmony Massage School, 582 Park Street, Chicago.",
              "2027-03-30T10:00:00-05:00"),
        _post("<b@list>", "Reminder: Ethics for Massage Therapists",
              "For our Indiana members: that is 7:00 PM Eastern, Tuesday, April 13, at Harmony Massage School.",
              "2027-04-08T10:00:00-05:00"),
    ]
    events = _events(posts)
    assert len(events) == 1 and events[0].start == datetime(2027, 4, 13, 18, 0, tzinfo=Z)


def test_a_time_change_announced_as_an_update_moves_the_event_instead_of_adding_one():
    posts = [
        _post("<a@list>", "Spring Networking Mixer",
              "Thursday, April 15 at 6:00 pm at Cafe Lula, 2537 N Kedzie Blvd.", "2027-03-30T10:00:00-05:00"),
        _post("<b@list>", "Update: Spring Networking Mixer now starts at 7",
              "The mixer on Thursday, April 15 now starts at 7:00 pm (the room is booked until 7). Same place.",
              "2027-04-05T10:00:00-05:00"),
    ]
    events = _events(posts)
    assert [e.start for e in events] == [datetime(2027, 4, 15, 19, 0, tzinfo=Z)]
    assert events[0].external_id == "<a@list>"


# ---------------------------------------------------------------------------------------------
# Times: minutes and halves of the day kept in every phrasing

SENT = datetime(2027, 1, 10, 9, 0, tzinfo=Z)


@pytest.mark.parametrize("when, start, end", [
    ("Wednesday, February 3, 2027 at 11:30 AM to 12:30 PM", (11, 30), (12, 30)),  # the farm's wording
    ("Wednesday, February 3 at 8.30 p.m.", (20, 30), None),
    ("Wednesday, February 3 at 8.30pm to 10pm", (20, 30), (22, 0)),
    ("Wednesday, February 3 between 8:30 and 10 pm", (20, 30), (22, 0)),
    ("Wednesday, February 3, 11–12:30", (11, 0), (12, 30)),
    ("Wednesday, February 3, 11:30-1", (11, 30), (13, 0)),
    ("Wednesday, February 3, 6:30-8 at Cafe Lula", (18, 30), (20, 0)),
    ("Wednesday, February 3 - 6:30 pm", (18, 30), None),
    ("Wednesday, February 3 – 11:30 AM to 1:00 PM", (11, 30), (13, 0)),
    ("Wed., Feb. 3 - 5:30-7:30 PM", (17, 30), (19, 30)),
    ("Wednesday, February 3 at 11:30\u202fAM to 12:30\u202fPM", (11, 30), (12, 30)),
])
def test_the_start_keeps_its_minutes_and_its_half_of_the_day(when, start, end):
    got = read_post("CE class", f"{when}\nWhere: Cafe Lula, 2537 N Kedzie Blvd", SENT, Z)
    assert got.start == datetime(2027, 2, 3, *start, tzinfo=Z), f"{when!r} read as {got.start}"
    assert got.end == (datetime(2027, 2, 3, *end, tzinfo=Z) if end else None), f"{when!r} ends {got.end}"


def test_a_zone_word_for_the_sources_own_region_keeps_the_sources_zone():
    # Arizona keeps standard time all year: "MST" in June there is UTC-7, not Denver's UTC-6
    got = read_post("Chair massage day", "Saturday, June 12, 2027 at 9:00 AM MST at Tempe Beach Park, 80 W Rio Salado Pkwy",
                    datetime(2027, 6, 1, 9, 0, tzinfo=PHX), PHX)
    assert got.start == datetime(2027, 6, 12, 9, 0, tzinfo=PHX)
    assert got.start.utcoffset().total_seconds() == -7 * 3600


def test_a_zone_word_for_another_region_is_still_honoured():
    got = read_post("Webinar", "Saturday, June 12, 2027 at 9:00 AM Pacific on Zoom.", datetime(2027, 6, 1, 9, 0, tzinfo=PHX), PHX)
    assert got.start == datetime(2027, 6, 12, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


if __name__ == "__main__":  # .venv/bin/python -m tests.test_prose
    print("development set (tuned on):\n" + report(measure()))
    print("held-out set (first look recorded in heldout_posts.yaml):\n" + report(measure(load_posts(HELDOUT_FILE))))
    sys.exit(0)


# ---------------------------------------------------------------------------------------------
# Mail prose as a person reads it: relative dates, zone words, spans of days, replies and quotes

PHX_LIST, DEN = ZoneInfo("America/Phoenix"), ZoneInfo("America/Denver")
NY, LA = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize("sent, text, start", [
    ("2026-04-15T09:12:00-05:00", "Bodywork exchange this Saturday from 10 to 1 at Still Point Studio.", (2026, 4, 18, 10, 0)),
    ("2026-05-20T16:40:00-05:00", "Chapter social tomorrow at 7 at The Hopleaf, 5148 N Clark St.", (2026, 5, 21, 19, 0)),
    ("2026-03-17T09:00:00-05:00", "Tonight at 7:30: St. Patrick's social at Galway Arms.", (2026, 3, 17, 19, 30)),
    ("2026-11-19T20:00:00-06:00", "Bodywork jam tomorrow night at 8 at Elastic Arts.", (2026, 11, 20, 20, 0)),
    ("2026-05-07T10:00:00-05:00", "Next Tuesday, 6:30 pm: peer supervision circle at Heartwood Collective.", (2026, 5, 12, 18, 30)),
    ("2026-06-01T10:00:00-05:00", "We'll meet Wednesday next week at 7pm at Bodyworks Lab.", (2026, 6, 10, 19, 0)),
    ("2026-03-21T11:00:00-05:00", "Our meeting is this coming Thursday, 7 pm, at the library.", (2026, 3, 26, 19, 0)),
    ("2026-11-02T12:00:00-06:00", "Potluck is Saturday the 14th at 5pm at Maria's place.", (2026, 11, 14, 17, 0)),
    ("2026-05-18T10:00:00-05:00", "Garden day this Saturday the 23rd, 9 to noon, at Peterson Garden.", (2026, 5, 23, 9, 0)),
    ("2026-07-24T09:00:00-05:00", "The picnic is tomorrow at 1 at Montrose Harbor, shelter 3!", (2026, 7, 25, 13, 0)),
    ("2026-03-18T09:00:00-05:00", "Swap this Sat 10-2 at Still Point Studio.", (2026, 3, 21, 10, 0)),
    ("2026-04-13T18:00:00-05:00", "reminder: study group tmrw at 6:30 at Cafe Lula", (2026, 4, 14, 18, 30)),
    ("2026-05-04T09:00:00-05:00", "Our May meeting is on the 21st (Thursday) at 7pm.", (2026, 5, 21, 19, 0)),
    ("2026-10-13T09:00:00-05:00", "Thursday night 7-8:30 we're doing a stretch & chat.", (2026, 10, 15, 19, 0)),
    ("2026-09-30T09:00:00-05:00", "Next Saturday (Oct 10) 9am–1pm we're at the market.", (2026, 10, 10, 9, 0)),
])
def test_relative_dates_are_anchored_at_the_posts_own_date(sent, text, start):
    got = read_post("Announcement", text, datetime.fromisoformat(sent), Z)
    assert got.start == datetime(*start, tzinfo=Z), f"{text!r} sent {sent} read as {got.start} ({got.reason})"


@pytest.mark.parametrize("sent, text, start", [
    ("2026-03-02T05:43:00-05:00", "Just a reminder that the study group is on the 6th at 3pm at Cafe Lula.", (2026, 3, 6, 15, 0)),
    ("2026-03-02T05:43:00-05:00", "Friendly reminder: we meet on the 2nd at 7:00 PM at the library.", (2026, 3, 2, 19, 0)),
    ("2026-03-24T09:00:00-05:00", "Don't forget - the mixer on the 3rd at 6:30pm at Cafe Lula.", (2026, 4, 3, 18, 30)),
    ("2026-02-20T09:00:00-06:00", "Our social is on the 31st at 6pm at The Hopleaf.", (2026, 3, 31, 18, 0)),
])
def test_a_day_of_the_month_alone_is_the_next_such_day_from_the_posts_date(sent, text, start):
    got = read_post("Reminder", text, datetime.fromisoformat(sent), Z)
    assert got.start == datetime(*start, tzinfo=Z), f"{text!r} sent {sent} read as {got.start} ({got.reason})"


def test_an_ordinal_that_is_not_a_day_of_the_month_names_no_date():
    for text in ("The class meets on the 3rd floor at 7pm.", "We celebrate on the 10th anniversary of the clinic at 7pm."):
        got = read_post("Reminder", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
        assert got.start is None, (text, got)


def test_a_spelled_out_date_wins_over_a_day_of_the_month_alone():
    got = read_post("Spring social", "Spring social on the 6th: that's Friday, March 13 at 6pm at Cafe Lula.",
                    datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 3, 13, 18, 0, tzinfo=Z)


@pytest.mark.parametrize("text, start", [
    ("Don't forget - Community Massage Clinic Day this Thu.. Bring a friend.", date(2026, 3, 5)),
    ("Reminder: the swap meet is next Sat. at 10am at Still Point Studio.", datetime(2026, 3, 7, 10, 0, tzinfo=Z)),
    ("Our open house is this coming Wed! Doors at 6:30 pm.", datetime(2026, 3, 4, 18, 30, tzinfo=Z)),
])
def test_a_short_weekday_name_after_this_or_next_is_a_day(text, start):
    got = read_post("Reminder: open house and clinic day", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start == start, f"{text!r} read as {got.start} ({got.reason})"


@pytest.mark.parametrize("sent, text, start", [
    ((2026, 3, 3, 11, 0), "Our spring mixer is a week from Thursday, 6 to 8pm, at Twisted Hippo.", (2026, 3, 12, 18, 0)),
    ((2026, 3, 5, 11, 0), "Our spring mixer is a week from Thursday at 6pm at Twisted Hippo.", (2026, 3, 12, 18, 0)),
])
def test_a_week_from_a_weekday_is_the_one_after_the_coming_one(sent, text, start):
    got = read_post("Save the date: spring mixer", text, datetime(*sent, tzinfo=Z), Z)
    assert got.start == datetime(*start, tzinfo=Z), f"{text!r} read as {got.start} ({got.reason})"


def test_a_lower_case_short_weekday_after_this_with_nothing_after_it_is_not_a_day():
    got = read_post("Chatter", "Enjoy this sun while it lasts, everyone.", datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start is None, got


@pytest.mark.parametrize("text, start, zone", [
    ("Don't forget - Chair Massage this Sunday at 5 HST. Bring a friend.", (2026, 3, 8, 17, 0), "Pacific/Honolulu"),
    ("Reminder: study group tomorrow at 7 ET on Zoom.", (2026, 3, 3, 19, 0), "America/New_York"),
    ("Webinar this Thursday at 6 Pacific time, link below.", (2026, 3, 5, 18, 0), "America/Los_Angeles"),
])
def test_a_bare_hour_after_at_with_a_zone_word_is_a_time_in_that_zone(text, start, zone):
    got = read_post("Reminder", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start == datetime(*start, tzinfo=ZoneInfo(zone)), f"{text!r} read as {got.start} ({got.reason})"


def test_a_bare_hour_before_a_street_named_for_a_region_is_not_a_time():
    got = read_post("Reminder", "Meet this Saturday at 5 Central Ave.", datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert not isinstance(got.start, datetime), got


@pytest.mark.parametrize("text", [
    "Hands for Hope chair massage day is Sunday, April 26 at the Galter Pavilion, 201 E Huron St.",
    "Our community service day will be Sunday, April 26, at the Galter Pavilion.",
])
def test_a_day_named_for_what_happens_on_it_is_an_all_day_event(text):
    got = read_post("Hands for Hope", text, datetime(2026, 4, 1, 9, 0, tzinfo=Z), Z)
    assert got.start == date(2026, 4, 26), (got.start, got.reason)


def test_a_day_named_for_a_deadline_is_not_an_event():
    got = read_post("Reminder", "Tax day is Wednesday, April 15. Get your receipts in.",
                    datetime(2026, 4, 1, 9, 0, tzinfo=Z), Z)
    assert not got.is_event, got.start


@pytest.mark.parametrize("subject, text, day", [
    ("Reminder: Volunteer Day at the Marathon", "Friendly reminder: we meet Sunday at Lakeview Healing Arts, "
     "3273 Church Street, Brooklyn for Volunteer Day.", date(2026, 3, 8)),
    ("Awareness Day is on the 6th!", "Don't forget - Massage Therapy Awareness Day on the 6th. Bring a friend.",
     date(2026, 3, 6)),
    ("REMINDER - Volunteer Day at the Madison Marathon", "Just a reminder that Volunteer Day is this Wednesday at "
     "Madison Wellness Center. See you there!", date(2026, 3, 4)),
])
def test_a_reminder_of_a_day_with_no_time_is_an_all_day_event_on_that_day(subject, text, day):
    got = read_post(subject, text, datetime(2026, 3, 2, 5, 40, tzinfo=Z), Z)
    assert got.start == day, f"{text!r} read as {got.start} ({got.reason})"


@pytest.mark.parametrize("subject, text", [
    ("Thanks for a great swap!", "Thanks to all who came Saturday! We'll announce the next swap soon."),
    ("Interest in an exchange?", "Would anyone come to an exchange some Saturday? Thinking afternoons."),
    ("Re: Volunteer Day", "Don't forget I'm away Sunday, so no rides from me."),
])
def test_a_weekday_alone_without_a_reminder_of_it_is_not_an_all_day_event(subject, text):
    got = read_post(subject, text, datetime(2026, 3, 2, 5, 40, tzinfo=Z), Z)
    assert got.start is None, (text, got)


def test_a_date_already_over_gives_way_to_the_next_one_the_post_announces():
    sent = datetime(2026, 11, 5, 21, 10, tzinfo=Z)
    got = read_post("Re-cap + next session", "Great turnout tonight, thank you! Next session is in two weeks, on "
                    "the 19th, same time (6:30pm), same place (Bodhi Wellness, 1802 W Division St).", sent, Z)
    assert got.start == datetime(2026, 11, 19, 18, 30, tzinfo=Z), (got.start, got.reason)
    # the past date's own time is not lent to a later day named only in passing
    thanks = read_post("Thanks!", "Thanks for coming tonight at 7! Photos go up on the 19th.", sent, Z)
    assert not thanks.is_event, thanks.start


def test_an_explicit_date_wins_over_a_weekday_mentioned_in_passing():
    got = read_post("Thanks + next mixer", "Thanks for coming on Tuesday! Our next mixer is Tuesday, April 14 at "
                    "6:30pm at Cafe Lula.", datetime(2026, 3, 12, 10, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 4, 14, 18, 30, tzinfo=Z)


@pytest.mark.parametrize("source_zone, text, start, zone", [
    (Z, "Thursday, March 12 at 7pm ET on Zoom.", (2026, 3, 12, 19, 0), NY),
    (Z, "Monday, April 13 at 8 PM Eastern / 7 PM Central.", (2026, 4, 13, 20, 0), NY),
    (Z, "Thursday, October 8, 9:30 AM Pacific Time.", (2026, 10, 8, 9, 30), LA),
    (Z, "Wednesday April 8, 11am PST, via Zoom.", (2026, 4, 8, 11, 0), LA),  # PST in summer: Pacific time
    (NY, "Tuesday, May 12 at 2 p.m. Central.", (2026, 5, 12, 14, 0), Z),
    (Z, "Saturday, June 13 from 7:30 to 11 AM HST at the market.", (2026, 6, 13, 7, 30), ZoneInfo("Pacific/Honolulu")),
    (Z, "Friday, June 5, 6-9 PM AKST at the Dimond Center Hotel.", (2026, 6, 5, 18, 0), ZoneInfo("America/Anchorage")),
    (Z, "Tuesday, November 10 at 5pm Alaska time.", (2026, 11, 10, 17, 0), ZoneInfo("America/Anchorage")),
    (Z, "Tuesday, July 14 at 6:00 PM Arizona time (MST) via Zoom.", (2026, 7, 14, 18, 0), PHX_LIST),
    (Z, "Thursday, October 15, 6pm MST (Arizona).", (2026, 10, 15, 18, 0), PHX_LIST),
    (DEN, "Thursday, October 15, 6pm MST (Arizona).", (2026, 10, 15, 18, 0), PHX_LIST),
    (DEN, "Saturday Nov 7th, 8 a.m. to noon MT, Boulder Reservoir.", (2026, 11, 7, 8, 0), DEN),
    (NY, "Thursday, July 30, 7pm EST, at Sunny's Bar.", (2026, 7, 30, 19, 0), NY),  # EST in July: Eastern time
    (PHX_LIST, "Wednesday, August 12, 6:30 PM MST, Four Peaks Brewing.", (2026, 8, 12, 18, 30), PHX_LIST),
    (Z, "Tucson meetup Saturday, September 19, 4-6pm Phoenix time.", (2026, 9, 19, 16, 0), PHX_LIST),
    (DEN, "Town hall Tuesday, May 12 at noon New York time.", (2026, 5, 12, 12, 0), NY),
    (Z, "Call Saturday, March 14 at 4pm AZ time.", (2026, 3, 14, 16, 0), PHX_LIST),
    (NY, "Webinar Wednesday, September 16,\n12:00 Noon Central. Register online.", (2026, 9, 16, 12, 0), Z),
])
def test_zone_words_and_us_abbreviations_name_the_zone_of_the_time(source_zone, text, start, zone):
    got = read_post("Call", text, datetime(2026, 3, 2, 10, 0, tzinfo=source_zone), source_zone)
    assert got.start == datetime(*start, tzinfo=zone), f"{text!r} read as {got.start}"
    assert got.timezone == zone.key, f"{text!r} shown in {got.timezone}"


@pytest.mark.parametrize("label, start, zone", [
    ("04:30 PM to 05:30 PM\n(UTC-05:00) Eastern Time (US & Canada)", (2026, 6, 9, 16, 30), NY),  # -04:00 in June
    ("04:30 PM to 05:30 PM\n(UTC-06:00) Central Time (US & Canada)", (2026, 6, 9, 16, 30), Z),
    ("04:30 PM (UTC-07:00) Arizona", (2026, 6, 9, 16, 30), PHX_LIST),
])
def test_a_calendar_cards_windows_zone_label_names_the_zone_and_is_never_read_as_utc(label, start, zone):
    card = f'"Ethics study group" has been scheduled\n\nWhen\nTuesday, 09 June 2026\n{label}\n\nWhere\nRoom 2'
    got = read_post("Ethics study group", card, datetime(2026, 5, 28, 16, 0, tzinfo=Z), Z)
    assert got.start == datetime(*start, tzinfo=zone), f"{label!r} read as {got.start}"
    assert got.timezone == zone.key


@pytest.mark.parametrize("text", [
    "When\nTuesday, 14 July 2026\n09:00 AM to 10:00 AM\n\nWhere\nMicrosoft Teams Meeting\n\nMessage\nCase 3.",
    "Date: Monday, July 14, 2026\nTime: 9:00-10:00 AM\nLocation: Zoom (link below)\n\nLink to follow.",
])
def test_a_meeting_service_named_as_the_place_on_a_label_line_is_online(text):
    got = read_post("Study group", text, datetime(2026, 7, 8, 8, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 7, 14, 9, 0, tzinfo=Z)
    assert got.location == "Online", got.location


@pytest.mark.parametrize("sent, subject, text, first, last", [
    ("2025-02-03T10:00:00-06:00", "Community Meeting 2025",
     "The Community Meeting will be held from May 30 to June 1, 2025 at the Hyatt Regency.", date(2025, 5, 30), date(2025, 6, 1)),
    ("2026-02-10T10:00:00-06:00", "Save the date", "The national convention runs October 14-17, 2026 in Louisville, KY.",
     date(2026, 10, 14), date(2026, 10, 17)),
    ("2025-03-06T10:00:00+01:00", "Summer camp", "Date: 10–16 June 2025 (7 days)\nVenue: Sundhausen",
     date(2025, 6, 10), date(2025, 6, 16)),
    ("2026-07-01T10:00:00-05:00", "Fall retreat at Camp Tamarack", "Sat–Sun, Sept 12–13, at Camp Tamarack.",
     date(2026, 9, 12), date(2026, 9, 13)),
    ("2026-01-15T10:00:00-06:00", "Spring retreat", "Retreat: March 30 - April 2 at Starved Rock Lodge.",
     date(2026, 3, 30), date(2026, 4, 2)),
    ("2026-08-20T10:00:00-05:00", "Weekend intensive", "From Friday, Oct 9 through Sunday, Oct 11 at the temple hall.",
     date(2026, 10, 9), date(2026, 10, 11)),
    ("2026-03-01T10:00:00-06:00", "Summit", "When: 2026-06-12 to 2026-06-14\nWhere: Madison Marriott West",
     date(2026, 6, 12), date(2026, 6, 14)),
    ("2026-11-01T10:00:00-06:00", "Winter retreat", "Our winter retreat runs December 30 - January 2 at the lodge.",
     date(2026, 12, 30), date(2027, 1, 2)),
    ("2026-02-10T10:00:00-06:00", "Prenatal massage course", "Course 3/14-3/15 at Bodyworks Lab. 14 CE hours.",
     date(2026, 3, 14), date(2026, 3, 15)),
    ("2026-02-10T10:00:00-06:00", "Prenatal massage course", "Course Sat 3/14 - Sun 3/15 at Bodyworks Lab.",
     date(2026, 3, 14), date(2026, 3, 15)),
    ("2026-02-20T10:00:00-06:00", "Lymphatic drainage", "Two-day lymphatic drainage certification April 24th & 25th "
     "at Soma Institute.", date(2026, 4, 24), date(2026, 4, 25)),
    ("2026-07-14T13:00:00-05:00", "Great Lakes Massage Summit", "The summit runs from Friday, September 25 to Sunday "
     "the 27th at the Kalahari Resort in Sandusky, OH.", date(2026, 9, 25), date(2026, 9, 27)),
])
def test_multi_day_spans_are_all_day_events_ending_the_day_after_the_last(sent, subject, text, first, last):
    got = read_post(subject, text, datetime.fromisoformat(sent), Z)
    assert (got.start, got.end) == (first, last + timedelta(days=1)), f"{text!r} read as {got.start}..{got.end} ({got.reason})"


@pytest.mark.parametrize("text, start, end", [
    ("Saturday and Sunday, April 11-12, 9am-5pm both days, at Northwestern Health Sciences.",
     (2026, 4, 11, 9, 0), (2026, 4, 12, 17, 0)),
    ("Friday 6pm through Sunday 2pm, June 5-7, at Pilgrim Park Camp.", (2026, 6, 5, 18, 0), (2026, 6, 7, 14, 0)),
    ("The cupping intensive is Sat & Sun, April 11-12, 9-5 both days.", (2026, 4, 11, 9, 0), (2026, 4, 12, 17, 0)),
    # the coming weekend named by its days, sent on Monday March 16
    ("Trigger point intensive this weekend — Sat + Sun, 9-5, at Hands On Institute.", (2026, 3, 21, 9, 0),
     (2026, 3, 22, 17, 0)),
])
def test_a_multi_day_span_with_hours_runs_from_the_first_start_to_the_last_end(text, start, end):
    got = read_post("Weekend class", text, datetime(2026, 3, 16, 10, 0, tzinfo=Z), Z)
    assert (got.start, got.end) == (datetime(*start, tzinfo=Z), datetime(*end, tzinfo=Z))


@pytest.mark.parametrize("text, start, end", [
    ("Practice night tonight 6p at Stone & Oil Studio.", (2026, 3, 2, 18, 0), None),
    ("Chair massage tent next Sat, 9a-noon, at the farmers market.", (2026, 3, 7, 9, 0), (2026, 3, 7, 12, 0)),
    ("Sports massage workshop Sat 3/14, 9a-1p.", (2026, 3, 14, 9, 0), (2026, 3, 14, 13, 0)),
    ("Study group tomorrow 6-8p at Cafe Lula.", (2026, 3, 3, 18, 0), (2026, 3, 3, 20, 0)),
    ("Meetup Thurs 3/5 @ 7 at Cafe Lula.", (2026, 3, 5, 19, 0), None),
])
def test_a_time_written_with_one_letter_for_am_or_pm_or_after_an_at_sign_is_read(text, start, end):
    got = read_post("Workshop", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert (got.start, got.end) == (datetime(*start, tzinfo=Z), datetime(*end, tzinfo=Z) if end else None), got


def test_a_suite_or_unit_number_ending_in_a_letter_is_not_a_time():
    got = read_post("Swap", "Bodywork swap Saturday, March 14 at 10am in Suite 4a, 1550 N Milwaukee Ave.",
                    datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert (got.start, got.end) == (datetime(2026, 3, 14, 10, 0, tzinfo=Z), None), got


@pytest.mark.parametrize("subject, text", [
    ("Ethics class?", "Does anyone know if the March 12 ethics class at 6pm counts toward the renewal?"),
    ("Next study group", "Which works better: Tuesday the 10th or Wednesday the 11th, 6:30pm? Reply by Friday."),
    ("Carpool to Galena?", "Anyone driving to the retreat on Friday March 13? I could leave around 2pm."),
])
def test_a_question_about_a_date_is_not_an_announcement(subject, text):
    got = read_post(subject, text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert not got.is_event, f"{text!r} read as an event on {got.start}"


def test_a_question_that_invites_to_a_dated_event_is_an_announcement():
    got = read_post("Cupping", "Want to learn cupping on Saturday, March 14 at 10am? Join us at Still Point Studio.",
                    datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 3, 14, 10, 0, tzinfo=Z), got


@pytest.mark.parametrize("text", [
    "Lunch & learn tomorrow noon-1 on charting. Zoom:\nhttps://us02web.zoom.us/j/84512345678",
    "The town hall is Tuesday, March 3 at 7 p.m. Eastern, online.",
    "Year-end board call, March 3, 12:00-13:00, Teams.",
    "Case study night Tuesday, March 3, 7pm: https://meet.google.com/abc-defg-hij",
])
def test_an_event_held_on_a_meeting_service_is_online(text):
    got = read_post("Call", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.is_event and got.location == "Online", got


def test_registering_online_does_not_make_an_event_online():
    got = read_post("Workshop", "Workshop Saturday, March 14 at 10am. Register online.",
                    datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.is_event and got.location is None, got


@pytest.mark.parametrize("text, place", [
    ("Talk on Tuesday, March 3, 6:30-8:30pm, at Gilda's Club (537 N Wells St).", "Gilda's Club, 537 N Wells St"),
    ("The board meets Tuesday, March 3 at 6:00 PM at the chapter office, 180 N Michigan Ave, Suite 1200.",
     "chapter office, 180 N Michigan Ave, Suite 1200"),
    ("Trail run Tuesday, March 3 at 7am from the Chautauqua trailhead, 900 Baseline Rd, Boulder; massage after.",
     "Chautauqua trailhead, 900 Baseline Rd, Boulder"),
    ("Workshop with Coach Dee. Harmony Massage School, 582 Park Street. Tuesday, March 3 at 6pm.",
     "Harmony Massage School, 582 Park Street"),
    ("Massage swap at Heartwood\nTuesday, March 3, 2026\n6:30 PM to 8:30 PM CST\n\nHeartwood Collective\n"
     "2023 W Chicago Ave", "Heartwood Collective, 2023 W Chicago Ave"),
    ("We plan to hold this year's educators' meetup on Tuesday, March 3 at 6pm at the Marriott Marquis\n"
     "San Diego (the evening before the convention).", "Marriott Marquis San Diego"),
    ("Mixer Tuesday, March 3 at 6pm at St. Mary's Hall, 12 W Elm St.", "St. Mary's Hall, 12 W Elm St"),
    ("Networking night Tuesday, March 3 at 6:30pm at Muse Coworking, Phoenix. Parking is free.", "Muse Coworking, Phoenix"),
    # a suite wrapped to the next line; a name in parentheses; a floor between name and address
    ("Intensive Tuesday, March 3, 9-5, at Hands On Institute, 600 W Van Buren St,\nSuite 310. Three spots left.",
     "Hands On Institute, 600 W Van Buren St, Suite 310"),
    ("Board meeting Tuesday, March 3, 7pm, in person at the chapter office (53 W Jackson Blvd,\nSuite 1210) or on Zoom.",
     "chapter office, 53 W Jackson Blvd, Suite 1210"),
    ("Chapter meeting Tuesday, March 3, 7–9 pm (Lincoln Square branch library, 4681 N Lincoln Ave).",
     "Lincoln Square branch library, 4681 N Lincoln Ave"),
    ("Workshop: Tuesday, March 3, 10.30am – 1pm, at The Healing Loft, 2nd floor, 1935 W Irving Park Rd.",
     "The Healing Loft, 2nd floor, 1935 W Irving Park Rd"),
    ("The workshop moved to Tuesday, March 3 (same time, 1-4pm, same place: Core Studio, 455 W North Ave). If you "
     "can't make it, reply for a refund.", "Core Studio, 455 W North Ave"),
])
def test_a_venue_is_read_whole_however_its_address_is_written(text, place):
    got = read_post("Meeting", text, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.location == place, got


def test_a_day_named_for_an_event_without_a_time_is_an_all_day_event():
    got = read_post("LMT meetup before the conference",
                    "The one-day meetup is on November 11th, the Saturday before the conference, at the Richmond "
                    "Marriott, 500 E Broad St.", datetime(2023, 5, 1, 10, 0, tzinfo=NY), NY)
    assert (got.start, got.end, got.location) == (date(2023, 11, 11), None, "Richmond Marriott, 500 E Broad St")


@pytest.mark.parametrize("subject, text", [
    ("Covering my clients", "I'll be away June 1-14; Sara is covering my regulars."),
    ("Room share for the convention?", "Anyone want to split a room for the convention, October 14-17?"),
    ("Summer office hours", "From June 1 to August 31 the chapter office answers the phone on Tuesdays only."),
    ("Newsletter submissions", "The deadline for the April newsletter is March 15."),
    ("Photos from the winter social", "Photos from Saturday's social (Feb 28) are up."),
    ("Spring sale on CE courses", "20% off all online CE courses from April 1 to April 10. Use code SPRING."),
    ("New studio hours", "Starting March 9 our studio is open Monday through Friday, 9 to 5."),
    ("Looking for a sub this Saturday", "Cover my Saturday clients this week, 9am to 1pm, at my studio?"),
    ("Last call: board elections", "Voting for the chapter board closes this Friday, March 6 at 5:00 PM."),
    ("New yoga for therapists classes", "I teach yoga for therapists every Monday and Wednesday at 6pm. First class free!"),
])
def test_dates_that_name_no_event_are_not_read_as_all_day_events(subject, text):
    got = read_post(subject, text, datetime(2026, 3, 2, 10, 0, tzinfo=Z), Z)
    assert not got.is_event, f"{text!r} read as an event on {got.start}"


@pytest.mark.parametrize("sent, subject, body", [
    ("2017-02-21T10:12:00-06:00", "Re: liability insurance",
     "Thanks, that helps.\n\nOn Tue, Feb 21, 2017 at 9:54 AM, Karen Wu <karen@example.com> wrote:\n> Call them."),
    ("2026-03-10T14:03:00-05:00", "Re: Spring mixer",
     "See you there.\n\nOn Tue, Mar 10, 2026 at 1:47 PM Jane Ortiz <\njane@amta-il.example> wrote:\n\n"
     "> the mixer is tonight at 6:30 at Cafe Lula."),
    ("2026-03-09T18:00:00-05:00", "Re: hand pain",
     "Try a brace.\n\nOn Mon, Mar 9, 2026 at 5:40 PM\nSam Lee <sam@example.net> wrote:\n> My thumbs hurt."),
    ("2026-03-09T17:00:00-05:00", "Re: CE spreadsheet",
     "Attached.\n\nOn Monday, March 9, 2026, 04:05:12 PM CDT, Sam Lee <sam@example.net> wrote:\n\n"
     "Meet me Thursday, March 12 at 6pm at Cafe Lula to go over it?"),
    ("2026-03-03T09:00:00-06:00", "RE: Spring mixer",
     "Count me in!\n\n-----Original Message-----\nFrom: Jane\nSent: Monday, March 2, 2026 10:15 AM\n"
     "Subject: Spring mixer\n\nJoin us Tuesday, March 10 from 6:30 to 8:30 pm at Cafe Lula."),
    ("2026-06-02T09:00:00-05:00", "RE: Summer social",
     "I can bring plates.\n\nFrom: Jane Ortiz <jane@amta-il.example>\nSent: Monday, June 1, 2026 10:00 AM\n"
     "To: list@example.org\nSubject: Summer social\n\nWhen: Thursday, June 18, 6:30-9pm"),
    ("2026-03-12T19:00:00+01:00", "Re: atelier",
     "Merci !\n\nLe jeu. 12 mars 2026 à 18:02, Luc <luc@example.fr> a écrit :\n> Rendez-vous le 20 mars 2026 à 19h."),
    ("2026-05-05T15:00:00+02:00", "Re: Fortbildung",
     "Danke!\n\nAm 05.05.2026 um 14:30 schrieb Anna Weber:\n> Die Fortbildung ist am 12.05.2026 um 18:00."),
    ("2026-03-10T16:30:00-07:00", "Re: masaje",
     "¡Gracias!\n\nEl mar, 10 mar 2026 a las 16:05, Ana Ruiz (<ana@example.mx>) escribió:\n> El curso es bueno."),
])
def test_attribution_lines_and_the_quotes_under_them_are_never_read_as_an_event(sent, subject, body):
    got = read_post(subject, body, datetime.fromisoformat(sent), Z)
    assert not got.is_event, f"a reply read as an event on {got.start}"


@pytest.mark.parametrize("subject, body", [
    ("Re: Spring Networking Mixer - Tuesday, March 10", "Count me in!"),
    ("Re: Mixer Tue 3/10 6:30pm at Cafe Lula", "Can't make it, sorry! Have fun."),
    ("Re: CE workshop April 18", "Is it approved for NCBTMB credit?\n\n> Date: Saturday, April 18, 2026\n> Time: 9-4"),
])
def test_a_reply_under_a_dated_subject_is_not_an_event_of_its_own(subject, body):
    got = read_post(subject, body, datetime(2026, 3, 3, 12, 30, tzinfo=Z), Z)
    assert not got.is_event, f"{subject!r}: a reply read as an event on {got.start}"


def test_a_reply_that_gives_its_own_date_and_time_is_read():
    got = read_post("Re: Chapter picnic", "Bumping this — the picnic is tomorrow at 1 at Montrose Harbor!\n\n"
                    "On Thu, Jul 23, 2026 at 9:00 AM Jane <jane@example.org> wrote:\n> Picnic Saturday July 25 at 1pm.",
                    datetime(2026, 7, 24, 9, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 7, 25, 13, 0, tzinfo=Z)


@pytest.mark.parametrize("subject, body", [
    ("LMT-list Digest, Vol 9, Issue 14", "Message: 1\nSubject: Kinesio class\n\nSunday, April 19, 1-5pm at Harmony."),
    ("Weekly roundup", "Today's Topics:\n\n   1. Spring social (Jane)\n\nSpring social Thursday, April 16 at 6pm."),
])
def test_a_list_digest_is_not_an_event(subject, body):
    got = read_post(subject, body, datetime(2026, 4, 2, 6, 0, tzinfo=Z), Z)
    assert not got.is_event and "digest" in got.reason


def test_a_forwarded_announcement_is_read_and_a_forwarded_article_is_not():
    sent = datetime(2026, 4, 8, 12, 0, tzinfo=Z)
    forward = ("FYI\n\n---------- Forwarded message ---------\nFrom: X <x@example.org>\nDate: Wed, Apr 8, 2026 at 7:00 AM\n"
               "Subject: {subject}\n\n{text}")
    event = read_post("Fwd: Lobby day", forward.format(subject="Lobby day", text="Lobby day is Wednesday, April 15 at "
                      "9:30 AM at the Illinois State Capitol, 401 S 2nd St, Springfield."), sent, Z)
    article = read_post("Fwd: 5 stretches", forward.format(subject="5 stretches", text="Five stretches for your wrists."),
                        sent, Z)
    assert event.start == datetime(2026, 4, 15, 9, 30, tzinfo=Z)
    assert not article.is_event, f"the forward header's date was read: {article.start}"


@pytest.mark.parametrize("subject, rule, is_event", [
    ("FW: Lobby day", "________________________________", True),  # Outlook's forward: the rule, then the header
    ("RE: Lobby day", "________________________________", False),  # Outlook's reply: the quoted original
])
def test_an_outlook_forward_under_a_rule_of_underscores_is_read_and_an_outlook_reply_is_not(subject, rule, is_event):
    body = (f"Passing this along, worth a day off.\n\n{rule}\nFrom: Lobby Committee <lobby@example.org>\n"
            "Sent: Wednesday, April 8, 2026 7:00 AM\nTo: Partners\nSubject: Lobby day\n\n"
            "Lobby day is Wednesday, April 15 at 9:30 AM at the Illinois State Capitol, 401 S 2nd St, Springfield.")
    got = read_post(subject, body, datetime(2026, 4, 8, 12, 0, tzinfo=Z), Z)
    assert got.is_event is is_event, (subject, got.start, got.reason)
    if is_event:
        assert got.start == datetime(2026, 4, 15, 9, 30, tzinfo=Z)


def test_a_list_footer_under_a_rule_of_underscores_is_still_not_the_posts_words():
    body = ("Thanks all for coming!\n\n_______________________________________________\nIL-LMT mailing list\n"
            "il-lmt@lists.example.org\nNext meeting Thursday, April 16 at 7pm at Cafe Lula.")
    got = read_post("Thanks", body, datetime(2026, 4, 8, 12, 0, tzinfo=Z), Z)
    assert not got.is_event, got.start


@pytest.mark.parametrize("subject, body", [
    ("Automatic reply: [IL-LMT] Chapter meeting this Wed", "I am out of the office from Monday, March 2 through "
     "Friday, March 6 with limited access to email."),
    ("Re: Chapter meeting this Wed", "I'm currently out of the office until Friday, March 6 at 5pm."),
    ("Vote: move the December meeting?", "Please reply on the list:\n\nYEA = move the December meeting to Thursday "
     "12/3 (same time, same place)\nNAY = keep Thursday 12/10 as scheduled"),
    ("Clinic closed Monday 3/9", "Our student clinic will be closed Monday, March 9. Regular hours resume Tuesday at 9am."),
    ("Carpool to the retreat?", "I'm driving up to the retreat on March 20, leaving around 7am. Two seats open."),
    ("Fwd: Re: room booking for March", "Hi Dana, the community room is available on Wednesday, March 4 from 6:30 to "
     "9:30 pm. Please confirm by Friday so we can hold it."),
])
def test_autoreplies_votes_closures_rides_and_room_bookings_are_not_events(subject, body):
    got = read_post(subject, body, datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert not got.is_event, (subject, got.start)


def test_a_closed_venue_in_a_subject_that_moves_the_meeting_is_still_read():
    got = read_post("Studio closed - Thursday's class moved", "Thursday's class moves to Cafe Lula, Thursday, March 5 "
                    "at 7pm.", datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert got.start == datetime(2026, 3, 5, 19, 0, tzinfo=Z), got.reason


def test_a_cancellation_naming_only_a_weekday_publishes_nothing_of_its_own():
    got = read_post("Cancelled: Thursday study group", "Sorry everyone, no study group this week.",
                    datetime(2026, 5, 11, 10, 0, tzinfo=Z), Z)
    assert not got.is_event and got.cancelled  # it cancels its thread's event (records_from_posts)


def test_a_french_announcement_reads_its_date_hour_and_place():
    paris = ZoneInfo("Europe/Paris")
    got = read_post("Rencontre", "Rencontre le 12 mai 2026 à 19h au Café de Flore, 172 Boulevard Saint-Germain.",
                    datetime(2026, 4, 20, 10, 0, tzinfo=paris), paris)
    assert (got.start, got.location) == (datetime(2026, 5, 12, 19, 0, tzinfo=paris),
                                         "Café de Flore, 172 Boulevard Saint-Germain")


# Real list mail from ../shared/corpus (skipped when the folder is absent)

def _corpus_message(name: str):
    from email.utils import parsedate_to_datetime

    from sources.parse.mail import message_parts, parse_message
    from tests.conftest import SHARED_CORPUS

    path = SHARED_CORPUS / "mail" / name
    if not path.is_file():
        pytest.skip(f"../shared/corpus/mail/{name} is absent")
    msg = parse_message(path.read_bytes())
    return str(msg["Subject"]), message_parts(msg)[0], parsedate_to_datetime(msg["Date"])


def test_a_real_announcement_of_a_day_before_a_conference_is_read_as_that_day():
    subject, text, sent = _corpus_message("cbl__announcement_meetup_2023_dates.eml")
    got = read_post(subject, text, sent, Z)  # "on the 11th of November in Richmond VA. (the Saturday before ...)"
    assert (got.start, got.end, got.location) == (date(2023, 11, 11), None, "Richmond VA")


def test_real_replies_with_attribution_lines_are_not_events():
    import mailbox
    from email.utils import parsedate_to_datetime

    from sources.parse.mail import message_parts, parse_message
    from tests.conftest import SHARED_CORPUS

    path = SHARED_CORPUS / "mail" / "perceval__mbox_complex.mbox"
    if not path.is_file():
        pytest.skip("../shared/corpus/mail/perceval__mbox_complex.mbox is absent")
    read = 0
    for message in mailbox.mbox(path):
        msg = parse_message(message.as_bytes())
        got = read_post(str(msg["Subject"]), message_parts(msg)[0], parsedate_to_datetime(msg["Date"]), Z)
        assert not got.is_event, f"{msg['Subject']}: read as an event on {got.start}"
        read += 1
    assert read >= 2


# ---------------------------------------------------------------------------------------------
# The labelled mail set (benchmarks/mailset): every part meets the targets a curator relies on


@pytest.mark.parametrize("part", ["dev", "heldout", "heldout2", "heldout3", "heldout4"])
def test_the_labelled_mail_set_is_read_as_labelled(part, capsys):
    from benchmarks.mailset.score import load, report, score

    got = score(part)
    with capsys.disabled():
        print("\n" + report(got, verbose=False))
    assert len(load(part)) >= 45
    assert got.fp == 0, "a non-event was published: " + "; ".join(w for w in got.wrong if "non-event" in w)
    assert got.precision >= 0.99 and got.recall >= 0.95, "\n".join(got.wrong)
    assert got.class_recall("relative") >= 0.9, "\n".join(got.wrong)
    assert got.class_recall("zone") >= 0.97, "\n".join(got.wrong)
    assert got.exact_accuracy >= 0.95, "\n".join(got.wrong)


def test_the_labelled_mail_set_has_every_class_on_both_sides():
    from benchmarks.mailset.score import load

    # heldout5 is here for its ids and classes only: its first look is an estimate, so it is not held
    # to the targets above until it has been tuned on.
    posts = [p for part in ("dev", "heldout", "heldout2", "heldout3", "heldout4", "heldout5") for p in load(part)]
    assert len(posts) >= 150
    assert len({p["id"] for p in posts}) == len(posts), "post ids must be unique across the parts"
    classes = {c for p in posts for c in p.get("classes", []) if p["expect"]["event"]}
    assert {"relative", "zone", "allday", "multiday", "venue", "forward", "cancel"} <= classes
    non_event_classes = {c for p in posts for c in p.get("classes", []) if not p["expect"]["event"]}
    assert {"reply", "attribution", "quote", "chatter", "digest", "forward", "past"} <= non_event_classes


# -- the place of an announcement laid out as lines (title, day and time, place)

@pytest.mark.parametrize("place_line, place", [
    ("Harmony Massage School, Cambridge", "Harmony Massage School, Cambridge"),
    ("Harmony Massage School (2558 Lake Dr, Cambridge, MA)", "Harmony Massage School (2558 Lake Dr, Cambridge, MA)"),
    ("Harmony Massage School - 2558 Lake Dr, Cambridge", "Harmony Massage School - 2558 Lake Dr, Cambridge"),
])
@pytest.mark.parametrize("zone", ["", " Eastern"])
def test_a_place_on_its_own_line_under_the_date_line_is_the_events(place_line, place, zone):
    body = f"MA Chapter Meeting\nThursday, July 9, 2026 · 9:30am{zone}\n{place_line}\n\nEarn CE hours. Please RSVP."
    got = read_post("Save the date: MA Chapter Meeting!", body, datetime(2026, 6, 1, 9, 0, tzinfo=Z), Z)
    assert (got.start.replace(tzinfo=None), got.location) == (datetime(2026, 7, 9, 9, 30), place)


def test_a_place_in_the_titles_words_loses_to_the_place_the_post_names():
    body = ("Please join us for Volunteer Day: Chair Massage at the Savannah Marathon on Monday, July 20 at 9am "
            "at Lakeview Healing Arts. Bring water.")
    got = read_post("Volunteer Day: Chair Massage at the Savannah Marathon", body, datetime(2026, 6, 1, 9, 0, tzinfo=Z), Z)
    assert got.location == "Lakeview Healing Arts"


def test_a_title_word_after_in_is_no_city_and_a_meeting_link_says_online():
    body = ("Aromatherapy in Practice CE Workshop: Thursday, March 5 @ 4:00 PM–5:00 PM ET, "
            "Zoom: https://us05web.zoom.us/j/4261695176\n\nTables and linens provided.")
    got = read_post("New event: AROMATHERAPY IN PRACTICE CE WORKSHOP", body, datetime(2026, 2, 20, 9, 0, tzinfo=Z), Z)
    assert got.location == "Online"


def test_a_price_at_the_door_is_not_a_place():
    got = read_post("Spring Networking Social ($10 at the door)", "Spring Networking Social is Friday, May 8 at 6pm.",
                    datetime(2026, 5, 1, 9, 0, tzinfo=Z), Z)
    assert got.is_event and got.location is None


def test_a_street_address_after_at_with_no_name_is_the_place():
    got = read_post("Reminder: Myofascial Release Study Group",
                    "Just a reminder that Myofascial Release Study Group is on the 6th at 3pm at 2558 Lake Dr, #420, "
                    "Cambridge. See you there!", datetime(2026, 3, 2, 9, 0, tzinfo=Z), Z)
    assert (got.start, got.location) == (datetime(2026, 3, 6, 15, 0, tzinfo=Z), "2558 Lake Dr, #420, Cambridge")


@pytest.mark.parametrize("body, start, place", [
    ("WA Chapter Annual Retreat: May 19–21, 2026, St. Luke's Parish Hall, Seattle\n\nBring a water bottle.",
     date(2026, 5, 19), "St. Luke's Parish Hall, Seattle"),
    ("Awareness Day: Friday, March 27, 2026 (all day), Lakeview Healing Arts, Hilo\n\nBring a friend.",
     date(2026, 3, 27), "Lakeview Healing Arts, Hilo"),
])
def test_the_place_written_right_after_an_all_day_or_multi_day_date_is_read(body, start, place):
    got = read_post("Save the date", body, datetime(2026, 2, 1, 9, 0, tzinfo=Z), Z)
    assert (got.start, got.location) == (start, place)


@pytest.mark.parametrize("where, utc_hour", [("4030 Pine Ave, Phoenix", 1), ("1200 Elm St, Denver, CO", 0)])
def test_a_zone_word_for_an_arizona_venue_is_arizona_time(where, utc_hour):
    ny = ZoneInfo("America/New_York")  # a national list, written in its readers' many zones
    got = read_post("Info Session — June 1", f"Info Session: Monday, June 1 @ 6:30 PM MST, {where}\n\nBring a friend.",
                    datetime(2026, 5, 1, 9, 0, tzinfo=ny), ny)
    assert got.start.astimezone(ZoneInfo("UTC")) == datetime(2026, 6, 2, utc_hour, 30, tzinfo=ZoneInfo("UTC"))
    assert not got.location.startswith(("PM", "MST"))


def test_a_feeds_cancelling_reply_cancels_the_event_it_answers_not_an_earlier_one_at_the_same_hall():
    # a feed carries no In-Reply-To: the reply is joined by its subject, under its "- CANCELLED" marker
    posts = [
        _post("m9", "[az] AZ Chapter Meeting @ St. Luke's Parish Hall!!!",
              "Please join us for AZ Chapter Meeting on Wed, Jul 22 from 14:00-15:30 at St. Luke's Parish Hall, "
              "2099 Washington Dr, Tucson.", "2026-02-13T02:25:00-07:00"),
        _post("m2", "[az] New Graduate Mixer @ St. Luke's Parish Hall (Free For Students)!!!",
              "When: Sun, Mar 15, 09:00 to 10:30\nWhere: St. Luke's Parish Hall - 4008 Highland Ave., Tucson",
              "2026-02-19T01:52:00-07:00"),
        _post("m3", "Re: [az] New Graduate Mixer @ St. Luke's Parish Hall (Free For Students)!!! - CANCELLED",
              "Sorry everyone, New Graduate Mixer is cancelled this time. Refunds will be issued.",
              "2026-03-01T23:00:00-07:00"),
    ]
    events = {e.title: e.status for e in records_from_posts(posts, ZoneInfo("America/Phoenix"))
              if isinstance(e, RawEvent)}
    assert events == {"AZ Chapter Meeting @ St. Luke's Parish Hall!!!": Status.CONFIRMED,
                      "New Graduate Mixer @ St. Luke's Parish Hall (Free For Students)!!!": Status.CANCELLED}


def test_a_cancellation_replying_to_one_course_does_not_cancel_another_course_that_day():
    posts = [
        _post("<sports@l>", "Sports Massage Certification Course",
              "Please join us for Sports Massage Certification Course on Friday, July 17 at 3 pm online.",
              "2026-02-13T04:33:00-05:00"),
        _post("<cupping@l>", "Cupping Therapy Certification Course",
              "Cupping Therapy Certification Course: Friday, July 17 at 6 pm at 12 Oak St, Boston.",
              "2026-02-14T04:33:00-05:00"),
        _post("<cancel@l>", "CANCELLED: Cupping Therapy Certification Course",
              "Unfortunately we have to cancel Cupping Therapy Certification Course on Friday, July 17.",
              "2026-03-01T19:00:00-05:00", in_reply_to="<cupping@l>"),
    ]
    events = _statuses(posts, ZoneInfo("America/New_York"))
    assert events == {"<sports@l>": Status.CONFIRMED, "<cupping@l>": Status.CANCELLED}


def test_a_feed_items_br_and_source_newline_make_one_line_so_date_and_time_lines_stay_together():
    denver = ZoneInfo("America/Denver")
    html = ("Self-Care for Therapists<br/>\n<br/>\nDate: Sat, May 23<br/>\nTime: 9.00 a.m. MDT<br/>\n"
            "Location: Northside Yoga Studio (3784 Elm Ave., Colorado Springs, Colorado)<br/>\n")
    assert html_to_text(html).split("\n")[2:4] == ["Date: Sat, May 23", "Time: 9.00 a.m. MDT"]
    got = read_post("Self-Care for Therapists", html_to_text(html), datetime(2026, 2, 15, 9, 0, tzinfo=denver), denver)
    assert got.start == datetime(2026, 5, 23, 9, 0, tzinfo=denver)


def test_one_title_at_one_instant_in_two_zones_at_two_places_is_two_events():
    ny = ZoneInfo("America/New_York")  # a national list: one session in Spokane, one in Tucson, one evening
    posts = [
        _post("<a@list>", "Foundation Info Session – May 21",
              "Foundation Info Session: Thursday, May 21 @ 6.30 p.m. PT, Oak Street Clinic, Spokane",
              "2026-02-15T10:00:00-05:00"),
        _post("<b@list>", "Foundation Info Session",
              "Foundation Info Session: Thursday, May 21 @ 6.30 p.m. MST, Evergreen Chiropractic, Tucson",
              "2026-02-16T10:00:00-05:00"),
    ]
    events = [e for e in records_from_posts(posts, ny) if isinstance(e, RawEvent)]
    assert sorted(e.location for e in events) == ["Evergreen Chiropractic, Tucson", "Oak Street Clinic, Spokane"]


@pytest.mark.parametrize("body, hour", [
    ("Geriatric Massage Demo and Practice Night on Sunday, July 5 at 11:30 at Atlanta Public Library.", 11),
    ("Join us Thursday night, July 9 at 7:30 at Atlanta Public Library.", 19),
])
def test_night_in_an_events_name_says_nothing_of_the_hour(body, hour):
    got = read_post("Practice", body, datetime(2026, 6, 1, 9, 0, tzinfo=Z), Z)
    assert got.start.hour == hour


def test_a_name_a_dash_and_its_address_after_at_is_one_place():
    got = read_post("AMTA Networking Night", "Please join us for AMTA Networking Night on Saturday, April 4, 2026 at "
                    "6:30pm at Muse Coworking - 1031 Cedar Dr., Ste. 300, Phoenix. Parking is free.",
                    datetime(2026, 2, 15, 9, 0, tzinfo=Z), Z)
    assert got.location == "Muse Coworking - 1031 Cedar Dr., Ste. 300, Phoenix"


@pytest.mark.parametrize("subject, title", [
    ("Aromatherapy Practice Night (NCBTMB approved) is this coming Friday!", "Aromatherapy Practice Night (NCBTMB approved)"),
    ("Networking Night (3 CEs) is tomorrow (Tuesday)!", "Networking Night (3 CEs)"),
    ("Reminder: Peer Support Circle this Thursday", "Peer Support Circle"),
    ("Self-Care Sunday", "Self-Care Sunday"),
])
def test_a_reminders_relative_day_is_not_part_of_the_events_title(subject, title):
    post = _post("<r@list>", subject, "Just a reminder: we meet on Friday, March 6 at 1:30 pm at 12 Oak St, Chicago.",
                 "2026-03-02T09:00:00-06:00")
    assert [e.title for e in records_from_posts([post], Z) if isinstance(e, RawEvent)] == [title]


def test_a_cancellation_naming_no_date_cancels_the_next_of_two_alike_events():
    posts = [
        _post("m1", "Save the date: Student and Alumni Meetup", "We're getting together at 4:30pm on Fri, Jun 12 "
              "at The Bodywork Institute, Tacoma.", "2026-02-17T01:35:00-08:00"),
        _post("m12", "Save the date: Student and Alumni Meetup", "We're getting together at 1pm on Sat, May 23 at "
              "Riverside Community Center, Spokane.", "2026-02-22T20:38:00-08:00"),
        _post("m13", "Student and Alumni Meetup has been cancelled",
              "Sorry everyone, Student and Alumni Meetup is cancelled this time.", "2026-03-01T17:00:00-08:00"),
    ]
    events = _statuses(posts, ZoneInfo("America/Los_Angeles"))
    assert events == {"m1": Status.CONFIRMED, "m12": Status.CANCELLED}


def test_a_feeds_cancelling_reply_cancels_the_post_whose_subject_it_quotes_not_an_earlier_one_alike():
    # two posts whose words match ("Meetup", "Meetup!!"): the reply quotes one subject as written
    posts = [
        _post("m13", "[AMTA-WI] Student and Alumni Meetup", "Date: Thu, May 14\nTime: 9:30am CDT\n"
              "Location: Unity Fitness Club, 4891 Lake Street, Milwaukee, WI", "2026-02-27T02:57:00-06:00"),
        _post("m4", "[AMTA-WI] Student and Alumni Meetup!!", "Date: Tue, Apr 7\nTime: 9:30am CDT\n"
              "Location: Evergreen Chiropractic, 195 Lake Boulevard, Milwaukee, WI", "2026-02-28T02:42:00-06:00"),
        _post("m5", "Re: [AMTA-WI] Student and Alumni Meetup!! - CANCELLED",
              "Sorry everyone, Student and Alumni Meetup is cancelled this time.", "2026-03-01T12:00:00-06:00"),
    ]
    events = _statuses(posts, ZoneInfo("America/Chicago"))
    assert events == {"m13": Status.CONFIRMED, "m4": Status.CANCELLED}


def test_a_course_sharing_one_word_with_a_conference_that_day_is_another_event():
    posts = [
        _post("<conf@l>", "MA Massage Therapy Conference at Unity Fitness Club",
              "Please join us for MA Massage Therapy Conference on July 23–25, 2026 at 3633 Lake Boulevard, Boston.",
              "2026-02-15T10:00:00-05:00"),
        _post("<cs@l>", "Craniosacral Therapy Certification Course - Online",
              "Please join us for Craniosacral Therapy Certification Course on Thu. July 23rd from 5:00 pm–6:30 pm "
              "ET online.", "2026-02-16T10:00:00-05:00"),
    ]
    events = [e for e in records_from_posts(posts, ZoneInfo("America/New_York")) if isinstance(e, RawEvent)]
    assert sorted(e.external_id for e in events) == ["<conf@l>", "<cs@l>"]


def test_a_reminder_whose_subject_adds_an_aside_collapses_into_the_announcement():
    posts = [
        _post("a1", "AZ Chapter Meeting", "Please join us for AZ Chapter Meeting on Sat, Mar 7 from 9:30-12:30 at "
              "Muse Coworking - 1938 Jefferson Ave, Tucson, AZ.", "2026-02-20T10:00:00-07:00"),
        _post("a2", "AZ Chapter Meeting ($10 at the door)", "Just a reminder that AZ Chapter Meeting is this "
              "Saturday at 9:30am at Muse Coworking - 1938 Jefferson Ave, Tucson, AZ.", "2026-03-02T10:00:00-07:00"),
    ]
    events = [e for e in records_from_posts(posts, ZoneInfo("America/Phoenix")) if isinstance(e, RawEvent)]
    assert [e.external_id for e in events] == ["a1"]


def test_one_title_at_one_instant_at_two_named_places_is_two_events_even_in_one_zone():
    posts = [
        _post("s", "AMTA Networking Night", "AMTA Networking Night: Monday, April 13 @ 8:30 PM Central Time, "
              "Evergreen Chiropractic, Spokane", "2026-02-15T10:00:00-06:00"),
        _post("l", "AMTA Networking Night", "AMTA Networking Night: Monday, April 13 @ 8:30 PM Central Time, "
              "Los Angeles School of Massage, Los Angeles", "2026-02-16T10:00:00-06:00"),
    ]
    events = [e for e in records_from_posts(posts, Z) if isinstance(e, RawEvent)]
    assert sorted(e.external_id for e in events) == ["l", "s"]


def test_a_cancellation_naming_the_day_in_its_subject_joins_the_announcement_of_that_day():
    posts = [
        _post("a", "NY Chapter Meeting - Wed, May 6!!!", "NY Chapter Meeting\nWednesday, May 6 · 12-3pm\n"
              "Brooklyn School of Massage (2942 Highland Road, Brooklyn, NY)", "2026-02-20T10:00:00-05:00"),
        _post("c", "Cancelled: NY Chapter Meeting on May 6", "Sorry, NY Chapter Meeting on May 6 is cancelled.",
              "2026-03-01T10:00:00-05:00"),
    ]
    events = [e for e in records_from_posts(posts, ZoneInfo("America/New_York")) if isinstance(e, RawEvent)]
    assert [(e.external_id, e.status) for e in events] == [("a", Status.CANCELLED)]


def test_an_address_line_is_one_line_never_the_year_above_it():
    got = read_post("Pediatric Massage Certification Course", "Pediatric Massage Certification Course\nMay 1-3, 2026\n"
                    "367 Jefferson Dr, Ste 220, New York, New York\n\nLight refreshments will be served.",
                    datetime(2026, 2, 1, 9, 0, tzinfo=Z), Z)
    assert got.location == "367 Jefferson Dr, Ste 220, New York, New York"


def test_a_name_and_address_right_after_the_time_is_the_whole_place():
    got = read_post("CO Chapter Meeting", "CO Chapter Meeting: Thu, Mar 5 @ 11:00 am to 12:00 pm, Denver Library, "
                    "Meeting Room B, 846 Lake Ave, Denver, Colorado\nParking is free behind the building.",
                    datetime(2026, 2, 20, 9, 0, tzinfo=Z), Z)
    assert got.location == "Denver Library, Meeting Room B, 846 Lake Ave, Denver, Colorado"


def test_a_place_line_with_a_saints_abbreviation_is_no_sentence():
    got = read_post("Intro to Myofascial Release", "Intro to Myofascial Release\nFriday, April 24, 2026 · 5–6:30pm\n"
                    "St. Luke's Parish Hall - 4470 Pine Ave, Unit 200, Los Angeles\n\nTables and linens provided.",
                    datetime(2026, 2, 20, 9, 0, tzinfo=Z), Z)
    assert got.location == "St. Luke's Parish Hall - 4470 Pine Ave, Unit 200, Los Angeles"


def test_a_zone_word_beside_another_zones_clock_means_the_member_of_its_family_that_clock_agrees_with():
    # "MST" names Denver or Phoenix; "/ 2.00 p.m. PT" on a June day says it is Arizona's time (UTC-7),
    # while the same pair in December, or "MST / 1 PM PT" in June, is Denver's
    sent = datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))
    ny = ZoneInfo("America/New_York")

    def start(when: str) -> datetime:
        return read_post("Chair Massage Study Group", f"When: {when}\nWhere: Zoom: https://zoom.us/j/1", sent, ny).start

    assert start("Saturday, June 13, 2026, 2.00 p.m. to 3.00 p.m. MST / 2.00 p.m. PT") == \
        datetime(2026, 6, 13, 21, 0, tzinfo=ZoneInfo("UTC"))
    assert start("Saturday, June 13, 2026, 2:00 PM MST / 1:00 PM PT") == datetime(2026, 6, 13, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert start("Saturday, December 12, 2026, 2:00 PM MST / 1:00 PM PT") == \
        datetime(2026, 12, 12, 21, 0, tzinfo=ZoneInfo("UTC"))
    assert start("Saturday, June 13, 2026, 7pm ET / 4pm PT") == datetime(2026, 6, 13, 23, 0, tzinfo=ZoneInfo("UTC"))


def test_a_venue_with_a_meeting_room_before_its_address_is_read_whole():
    # "at Seattle Public Library, Meeting Room B, 1446 Market Drive": the room does not end the place
    sent = datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))
    got = read_post("Business Building for LMTs: Afternoon Session",
                    "Hi all,\n\nPlease join us for Business Building for LMTs: Afternoon Session on Sun 6/14/2026 from "
                    "15:00 to 17:30 Pacific at Seattle Public Library, Meeting Room B, 1446 Market Drive, Suite 420, "
                    "Seattle 51020. A great chance to meet colleagues in the area.", sent,
                    ZoneInfo("America/Los_Angeles"))
    assert got.location == "Seattle Public Library, Meeting Room B, 1446 Market Drive, Suite 420, Seattle"


def test_a_place_after_a_multi_day_date_keeps_its_address_in_parentheses():
    sent = datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))
    got = read_post("GA Massage Therapy Conference!!",
                    "GA Massage Therapy Conference: July 25-27, 2026, Savannah Library, Meeting Room B (1479 Market St, "
                    "Savannah, Georgia)\n\nWe will practice in pairs; wear layers.", sent, ZoneInfo("America/New_York"))
    assert (got.start, got.location) == (date(2026, 7, 25), "Savannah Library, Meeting Room B, 1479 Market St, Savannah, "
                                                            "Georgia")


def test_a_weekday_after_a_place_named_in_the_title_is_not_part_of_the_place():
    got = read_post("Reminder: Volunteer Day: Chair Massage at the Denver Marathon",
                    "Don't forget - Volunteer Day: Chair Massage at the Denver Marathon Friday at 9am MST. Bring a "
                    "friend.", datetime(2026, 3, 2, 12, tzinfo=ZoneInfo("UTC")), ZoneInfo("America/Denver"))
    assert got.location == "Denver Marathon"


@pytest.mark.parametrize("where, place", [
    ("at Tucson Public Library, Meeting Room B, Tucson.", "Tucson Public Library, Meeting Room B, Tucson"),
    ("at Milwaukee Public Library, Meeting Room B - 3110 Lake Boulevard, Milwaukee.",
     "Milwaukee Public Library, Meeting Room B - 3110 Lake Boulevard, Milwaukee"),
])
def test_a_room_named_by_a_letter_after_the_venue_is_part_of_the_place(where, place):
    got = read_post("Aromatherapy in Practice: Morning Session",
                    f"Hi all,\n\nPlease join us for Aromatherapy in Practice: Morning Session on Tue, Mar 10 at 9am {where} "
                    "A great chance to meet colleagues.", datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC")),
                    ZoneInfo("America/Phoenix"))
    assert got.location == place


def test_a_place_in_part_of_the_title_that_the_post_repeats_loses_to_the_place_the_post_names():
    # the post quotes only the end of the title, in its own case, and twice
    body = ("Join us for Chair massage at the Savannah Marathon on Monday, July 20 at 9am at Lakeview Healing "
            "Arts.\n\n"
            "Sign up for Chair Massage at the Savannah Marathon by replying to this post.")
    got = read_post("Our Spring Volunteer Day: Chair Massage at the Savannah Marathon", body,
                    datetime(2026, 6, 1, 9, 0, tzinfo=Z), Z)
    assert got.location == "Lakeview Healing Arts"
