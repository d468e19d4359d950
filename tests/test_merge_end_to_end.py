"""De-duplication and the event lifecycle end to end, over loopback HTTP: one meeting on the chapter
calendar and on an Outlook calendar whose UIDs churn every fetch is published once; its uid survives
the churn; a move raises SEQUENCE once; a re-fetch changes nothing; dropping it publishes it
cancelled; a failing source changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import icalendar

from aggregator.config.settings import load_config
from aggregator.pipeline import run
from aggregator.store.database import Store

NOW = datetime(2027, 1, 5, 12, 0, tzinfo=timezone.utc)


def _run(make_config, server, tmp_path, chapter: str, outlook: str, now=NOW):
    def url(name: str) -> str:
        return server.url(name) if name.startswith("/") else server.url(f"/files/dedupe/{name}")

    config = load_config(make_config(f"""
        calendar:
          timezone: America/Chicago
        sources:
          - id: amta-il
            type: ical
            url: {url(chapter)}
            region: IL
          - id: office
            type: ical
            url: {url(outlook)}
            region: IL
    """))
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=now)
    events = json.loads((tmp_path / "out" / "events.json").read_text(encoding="utf-8"))["events"]
    feed = icalendar.Calendar.from_ical((tmp_path / "out" / "calendar.ics").read_bytes())
    vevents = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    return report, {e["uid"]: e for e in events}, vevents


def _meeting(events: dict) -> dict:
    (meeting,) = [e for e in events.values() if "Chapter Meeting" in e["title"]]
    return meeting


def test_one_meeting_two_calendars_churning_uids_moves_and_cancellation(http, make_config, tmp_path):
    _, run1, _ = _run(make_config, http, tmp_path, "chapter.ics", "office365_churn_a.ics")
    meeting = _meeting(run1)
    assert len(run1) == 3, "the meeting is published once; the two workshops at one venue stay two"
    assert {s["source"] for s in meeting["sources"]} == {"amta-il", "office"}
    assert meeting["title"] == "AMTA-IL: Monthly Chapter Meeting"
    uid = meeting["uid"]

    # Outlook mints a new UID on this fetch: the published uid and SEQUENCE do not move.
    _, run2, feed2 = _run(make_config, http, tmp_path, "chapter.ics", "office365_churn_b.ics",
                          now=NOW + timedelta(hours=6))
    assert set(run2) == set(run1)
    assert int(feed2[uid]["SEQUENCE"]) == 0

    # Both calendars move the meeting by 30 minutes (and Outlook churns again): SEQUENCE +1, same uid.
    _, run3, feed3 = _run(make_config, http, tmp_path, "chapter_meeting_moved.ics", "office365_churn_moved.ics",
                          now=NOW + timedelta(hours=12))
    assert set(run3) == set(run1)
    assert _meeting(run3)["start"].startswith("2027-02-02T19:00")
    assert int(feed3[uid]["SEQUENCE"]) == 1

    # A re-fetch with nothing changed: nothing changes in the feed.
    _, run4, feed4 = _run(make_config, http, tmp_path, "chapter_meeting_moved.ics", "office365_churn_moved.ics",
                          now=NOW + timedelta(hours=18))
    assert int(feed4[uid]["SEQUENCE"]) == 1 and feed4[uid]["LAST-MODIFIED"].dt == feed3[uid]["LAST-MODIFIED"].dt

    # The Outlook calendar fails: nothing changes.
    report, run5, _ = _run(make_config, http, tmp_path, "chapter_meeting_moved.ics", "/status/500",
                           now=NOW + timedelta(hours=24))
    assert not next(s for s in report.sources if s.source_id == "office").ok
    assert run5 == run4

    # Both calendars drop it (Outlook now lists only a board meeting): published cancelled, with the prefix, SEQUENCE +1.
    report, run6, feed6 = _run(make_config, http, tmp_path, "chapter_meeting_dropped.ics", "office365_other_event.ics",
                          now=NOW + timedelta(hours=30))
    assert run6[uid]["status"] == "cancelled" and run6[uid]["title"] == "Cancelled: AMTA-IL: Monthly Chapter Meeting"
    assert str(feed6[uid]["STATUS"]) == "CANCELLED" and int(feed6[uid]["SEQUENCE"]) == 2
    assert uid in run6 and len(run6) == 4  # the board meeting is new


def test_a_broad_source_publishes_only_massage_events_tagged_and_says_what_it_dropped(http, make_config, tmp_path):
    from aggregator.pipeline import read_source, window_for

    config = load_config(make_config(f"""
        calendar:
          timezone: America/Chicago
        tags:
          health-fair: [health fair]
        sources:
          - id: city-wellness
            type: ical
            url: {http.url("/files/dedupe/city_wellness_broad.ics")}
            broad: true
    """))
    with Store(tmp_path / "db.sqlite") as store:
        run(config, store, tmp_path / "out", now=NOW)
    events = json.loads((tmp_path / "out" / "events.json").read_text(encoding="utf-8"))["events"]
    assert [e["title"] for e in events] == ["Chair Massage Volunteers Needed"]
    assert {"volunteer", "ce", "health-fair"} <= set(events[0]["tags"])

    from aggregator.collect.fetch import make_fetcher
    outcome = read_source(config.sources[0], config.calendar, make_fetcher(config, tmp_path / "cache.sqlite"),
                          window_for(config.calendar, NOW), tag_rules=config.tags)
    assert [s.item for s in outcome.skipped] == ["Sunrise Yoga in the Park"]
    assert "does not look like a massage or bodywork event" in outcome.skipped[0].reason


def test_reordering_sources_in_the_config_leaves_every_uid_as_it_was(http, make_config, tmp_path):
    def uids(order: list[tuple[str, str]], folder: str) -> set[str]:
        entries = "".join(f"""
          - id: {sid}
            type: ical
            url: {http.url("/files/dedupe/" + name)}
            region: IL""" for sid, name in order)
        config = load_config(make_config("calendar:\n  timezone: America/Chicago\nsources:" + entries,
                                         name=f"{folder}.yaml"))
        with Store(tmp_path / f"{folder}.sqlite") as store:
            run(config, store, tmp_path / folder, now=NOW)
        events = json.loads((tmp_path / folder / "events.json").read_text(encoding="utf-8"))["events"]
        return {e["uid"] for e in events}

    order = [("amta-il", "chapter.ics"), ("office", "office365_churn_a.ics"), ("city", "city_wellness_broad.ics")]
    assert uids(order, "first") == uids(order[::-1], "reversed")
