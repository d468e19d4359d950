"""The run end to end against a real HTTP server on loopback: fetch, store, merge, publish."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import icalendar

from aggregator.config.settings import load_config
from aggregator.pipeline import run
from aggregator.store.database import Store

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=timezone.utc)
EVENT_KEYS = {"uid", "title", "start", "end", "all_day", "timezone", "location", "url", "description",
              "status", "region", "tags", "sources"}


def config_for(make_config, server, il="pipeline/chapter_il.ics", ny="pipeline/chapter_ny.ics"):
    def url(path):
        return server.url(path) if path.startswith("/") else server.url(f"/files/{path}")

    return load_config(make_config(f"""
        calendar:
          name: Test Calendar
          timezone: America/Chicago
        sources:
          - id: amta-il
            type: ical
            url: {url(il)}
            region: IL
          - id: amta-ny
            type: ical
            url: {url(ny)}
            timezone: America/New_York
            region: NY
    """))


def run_once(config, tmp_path, now=NOW):
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=now)
    events = json.loads((tmp_path / "out" / "events.json").read_text(encoding="utf-8"))["events"]
    return report, events


def ics_events(path: Path) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def instant(value: str) -> datetime | str:
    return datetime.fromisoformat(value).astimezone(timezone.utc) if "T" in value else value


def test_run_publishes_every_source_and_the_feed_matches_events_json(http, make_config, tmp_path):
    report, events = run_once(config_for(make_config, http), tmp_path)

    assert [s.source_id for s in report.ok] == ["amta-il", "amta-ny"]
    assert {p.name for p in report.outputs} >= {"calendar.ics", "events.json", "index.html"}
    # 3 monthly meetings + CE workshop + volunteer day + cancelled mixer; breakfast + convention
    assert len(events) == 8
    assert all(set(e) == EVENT_KEYS for e in events)
    feed = ics_events(tmp_path / "out" / "calendar.ics")
    assert set(feed) == {e["uid"] for e in events}
    for event in events:
        start = feed[event["uid"]].decoded("DTSTART")
        if event["all_day"]:
            assert start.isoformat() == event["start"]
        else:
            assert start.astimezone(timezone.utc) == instant(event["start"])


def test_events_json_carries_times_zones_regions_and_status_as_the_sources_say(http, make_config, tmp_path):
    _, events = run_once(config_for(make_config, http), tmp_path)
    by_title = {}
    for e in events:
        by_title.setdefault(e["title"], []).append(e)

    meetings = by_title["AMTA-IL Chapter Meeting"]
    assert [m["start"] for m in meetings] == ["2027-01-12T18:30:00-06:00", "2027-02-09T18:30:00-06:00",
                                              "2027-03-09T18:30:00-06:00"]
    assert {m["timezone"] for m in meetings} == {"America/Chicago"}
    assert len({m["uid"] for m in meetings}) == 3, "each occurrence is its own event"

    (breakfast,) = by_title["Networking Breakfast – Brooklyn"]
    assert breakfast["start"] == "2027-01-15T08:00:00-05:00" and breakfast["region"] == "NY"
    assert breakfast["sources"] == [{"source": "amta-ny", "url": None, "external_id": "breakfast@ny.example"}]

    (convention,) = by_title["New York State Massage Convention"]
    assert (convention["all_day"], convention["start"], convention["end"]) == (True, "2027-03-01", "2027-03-04")

    (ce,) = by_title["CE Workshop: Myofascial Release"]
    assert ce["description"] == "Eight CE hours." and ce["url"] == "https://il.example/ce"

    # Cancelled events stay, marked: Google hides STATUS:CANCELLED, so the title says it too.
    assert [e["status"] for e in by_title["Cancelled: Therapists' Mixer"]] == ["cancelled"]


def test_uids_are_unchanged_by_a_second_run(http, make_config, tmp_path):
    config = config_for(make_config, http)
    _, first = run_once(config, tmp_path)
    _, second = run_once(config, tmp_path, now=NOW.replace(hour=18))
    assert [e["uid"] for e in first] == [e["uid"] for e in second]


def test_a_failing_source_is_reported_and_keeps_its_last_good_events(http, make_config, tmp_path):
    _, before = run_once(config_for(make_config, http), tmp_path)
    ny_before = sorted(e["uid"] for e in before if e["region"] == "NY")

    broken = config_for(make_config, http, ny="/status/500")
    report, after = run_once(broken, tmp_path, now=NOW.replace(hour=18))

    (failed,) = report.failed
    assert failed.source_id == "amta-ny" and failed.error_reason == "http_500"
    assert "500" in failed.error_message
    assert sorted(e["uid"] for e in after if e["region"] == "NY") == ny_before
    assert "FAILED amta-ny [http_500]" in report.summary()
    assert "kept its 2 earlier records" in report.summary()


def test_a_source_serving_garbage_fails_alone(http, make_config, tmp_path):
    config = config_for(make_config, http, ny="config/several_problems.yaml")
    report, events = run_once(config, tmp_path)
    assert [s.source_id for s in report.failed] == ["amta-ny"]
    assert report.failed[0].error_class in ("ParseError", "FetchRefused")
    assert {e["region"] for e in events} == {"IL"}


def test_a_moved_event_keeps_its_uid_and_bumps_its_sequence(http, make_config, tmp_path):
    run_once(config_for(make_config, http), tmp_path)
    _, after = run_once(config_for(make_config, http, ny="pipeline/chapter_ny_moved.ics"), tmp_path,
                        now=NOW.replace(hour=18))
    (breakfast,) = [e for e in after if e["title"].startswith("Networking Breakfast")]
    assert breakfast["start"] == "2027-01-15T09:00:00-05:00"
    feed = ics_events(tmp_path / "out" / "calendar.ics")
    assert int(feed[breakfast["uid"]].get("SEQUENCE", 0)) == 1
    (convention,) = [e for e in after if e["title"].startswith("New York State")]
    assert int(feed[convention["uid"]].get("SEQUENCE", 0)) == 0, "an unchanged event keeps its sequence"


def test_a_source_removed_from_the_config_leaves_the_feed(http, make_config, tmp_path):
    run_once(config_for(make_config, http), tmp_path)
    only_il = load_config(make_config(f"""
        sources:
          - id: amta-il
            type: ical
            url: {http.url('/files/pipeline/chapter_il.ics')}
    """))
    report, events = run_once(only_il, tmp_path, now=NOW.replace(hour=18))
    assert {s["source"] for e in events for s in e["sources"]} == {"amta-il"}
    assert set(report.withdrawn) == {"amta-ny"} and report.withdrawn["amta-ny"] > 0
    assert "withdrawn amta-ny: no longer in sources.yaml" in report.summary()  # the curator is told


def test_cli_run_prints_a_summary_and_refuses_a_bad_config_before_any_fetch(http, make_config, tmp_path):
    good = make_config(f"""
        sources:
          - id: amta-il
            type: ical
            url: {http.url('/files/pipeline/chapter_il.ics')}
    """, name="good.yaml")
    cmd = [sys.executable, "-m", "aggregator", "run", "--config", str(good), "--db", str(tmp_path / "db.sqlite"),
           "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 sources ok, 0 failed" in done.stdout
    assert f"wrote {tmp_path / 'out' / 'calendar.ics'}" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "1 sources ok (1 unchanged)" in again.stdout
    assert "nothing changed;" in again.stdout and "wrote" not in again.stdout  # says what it did not do

    http.log.clear()
    bad = make_config(f"""
        sources:
          - id: amta-il
            type: ical
            url: {http.url('/files/pipeline/chapter_il.ics')}
            tiemzone: UTC
    """, name="bad.yaml")
    cmd[cmd.index(str(good))] = str(bad)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f'{bad}:5: source "amta-il": unknown key "tiemzone"; did you mean "timezone"?'
    assert "Traceback" not in done.stderr
    assert http.log == [], "nothing may be fetched when the config is refused"


def test_an_unchanged_source_is_not_reparsed_but_a_changed_setting_is(http, make_config, tmp_path):
    config = config_for(make_config, http)
    run_once(config, tmp_path)
    report, _ = run_once(config, tmp_path, now=NOW.replace(hour=13))
    assert all(s.unchanged for s in report.sources), "same bodies, same settings: stored records stand"

    excluding = load_config(make_config(f"""
        calendar:
          name: Test Calendar
          timezone: America/Chicago
        sources:
          - id: amta-il
            type: ical
            url: {http.url('/files/pipeline/chapter_il.ics')}
            region: IL
            exclude: [volunteer]
          - id: amta-ny
            type: ical
            url: {http.url('/files/pipeline/chapter_ny.ics')}
            timezone: America/New_York
            region: NY
    """))
    report, events = run_once(excluding, tmp_path, now=NOW.replace(hour=14))
    assert [s.source_id for s in report.sources if not s.unchanged] == ["amta-il"]
    assert not [e for e in events if "Volunteer" in e["title"] and e["status"] == "confirmed"]


def test_a_run_with_nothing_new_leaves_the_published_files_untouched(http, make_config, tmp_path):
    config = config_for(make_config, http)
    run_once(config, tmp_path)
    feed = tmp_path / "out" / "calendar.ics"
    before = (feed.read_bytes(), feed.stat().st_mtime_ns)
    report, _ = run_once(config, tmp_path, now=NOW.replace(hour=13))
    assert report.republished is False
    assert (feed.read_bytes(), feed.stat().st_mtime_ns) == before, "a static host keeps its caches"
    report, _ = run_once(config, tmp_path, now=NOW.replace(day=2))
    assert report.republished is True, "a new day republishes: events end, cancelled ones drop off"


def test_each_event_gets_its_own_download_and_gone_events_lose_theirs(http, make_config, tmp_path):
    _, events = run_once(config_for(make_config, http), tmp_path)
    downloads = tmp_path / "out" / "event"
    assert len(list(downloads.glob("*.ics"))) == len(events)
    only_il = load_config(make_config(f"""
        sources:
          - id: amta-il
            type: ical
            url: {http.url('/files/pipeline/chapter_il.ics')}
    """))
    _, events = run_once(only_il, tmp_path, now=NOW.replace(hour=18))
    names = {p.name for p in downloads.glob("*.ics")}
    assert len(names) == len(events)
    for event in events:
        ics = icalendar.Calendar.from_ical((downloads / f"{event['uid']}.ics").read_bytes())
        assert [str(e["UID"]) for e in ics.walk("VEVENT")] == [event["uid"]]
