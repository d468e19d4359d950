"""A source that holds too much, or takes too long to read, fails alone with a reason that names
the setting; the other sources publish and its own last good events stay."""

from __future__ import annotations

import json
import time
import tracemalloc
from datetime import timedelta

import pytest

from aggregator.app.check import check_source
from aggregator.config.settings import load_config
from aggregator.pipeline import run, window_for
from aggregator.store.database import Store
from benchmarks.big_ics import write_calendar
from sources.base import SourceOptions
from sources.ical import read_ical_bytes
from tests.servers import Doc
from tests.test_pipeline import NOW

SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//daily//EN\r
BEGIN:VEVENT\r
UID:daily-stretch@example.org\r
DTSTART:20270102T140000Z\r
DTEND:20270102T150000Z\r
RRULE:FREQ=DAILY;COUNT=300\r
SUMMARY:Daily stretch for therapists\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def srv(http):
    http.reset()
    yield http
    http.reset()


def config(tmp_path, srv, big_route: str, max_records: int = 100):
    path = tmp_path / "sources.yaml"
    path.write_text(f"""calendar:
  name: Test
  timezone: America/Chicago
fetch:
  max_records: {max_records}
  retries: 0
sources:
  - id: good
    type: ical
    url: {srv.url('/files/pipeline/chapter_il.ics')}
  - id: big
    type: ical
    url: {srv.url(big_route)}
""")
    return load_config(path)


def run_with(tmp_path, cfg, now=NOW):
    with Store(tmp_path / "db.sqlite") as store:
        report = run(cfg, store, tmp_path / "out", now=now)
    events = json.loads((tmp_path / "out" / "events.json").read_text())["events"]
    return report, events


def sources_of(events):
    return {s["source"] for e in events for s in e["sources"]}


def test_a_calendar_with_more_events_than_the_cap_fails_alone_and_keeps_its_last_good_events(srv, tmp_path):
    srv.switches["big"] = "/files/pipeline/chapter_ny.ics"
    cfg = config(tmp_path, srv, "/switch/big")
    report, events = run_with(tmp_path, cfg)
    assert not report.failed and sources_of(events) == {"good", "big"}
    kept = {e["uid"] for e in events if "big" in sources_of([e])}

    write_calendar(tmp_path / "huge.ics", 300)
    srv.switches["big"] = "/doc/huge"
    srv.documents["huge"] = Doc((tmp_path / "huge.ics").read_bytes())
    report, events = run_with(tmp_path, cfg, now=NOW + timedelta(hours=6))
    (failed,) = report.failed
    assert (failed.source_id, failed.error_reason) == ("big", "too_many_records")
    assert "holds 300 events" in failed.error_message and "fetch.max_records" in failed.error_message
    assert kept <= {e["uid"] for e in events}, "the capped source's earlier events stay published"
    assert "good" in sources_of(events)


def test_a_series_expanding_past_the_cap_fails_with_the_same_reason(srv, tmp_path):
    srv.documents["series"] = Doc(SERIES.encode())
    report, events = run_with(tmp_path, config(tmp_path, srv, "/doc/series"))
    (failed,) = report.failed
    assert (failed.source_id, failed.error_reason) == ("big", "too_many_records")
    assert "yields more than 100 records" in failed.error_message
    assert sources_of(events) == {"good"}


def test_a_source_within_the_cap_is_read_whole(srv, tmp_path):
    srv.documents["series"] = Doc(SERIES.encode())
    report, events = run_with(tmp_path, config(tmp_path, srv, "/doc/series", max_records=400))
    assert not report.failed
    assert sum(1 for e in events if "big" in sources_of([e])) > 100


def test_a_huge_calendar_is_refused_before_it_is_parsed(tmp_path):
    """Counting VEVENTs in the bytes costs little; building icalendar's tree of them is what cost
    minutes and gigabytes. Refused before parsing, 20,000 VEVENTs cost well under a second and
    a few megabytes beyond the bytes themselves."""
    write_calendar(tmp_path / "huge.ics", 20_000)
    content = (tmp_path / "huge.ics").read_bytes()
    options = SourceOptions(id="huge", type="ical", url="https://example.org/huge.ics")
    tracemalloc.start()
    began = time.monotonic()
    with pytest.raises(Exception) as caught:
        read_ical_bytes(content, options, window_for(load_config_default(tmp_path).calendar, NOW),
                        origin=options.url, max_events=1000)
    elapsed = time.monotonic() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert getattr(caught.value, "reason", None) == "too_many_records", str(caught.value)
    assert "holds 20,000 events" in str(caught.value)
    assert elapsed < 1.0 and peak < 8 * 1024 * 1024, (elapsed, peak)


def test_reading_that_outlasts_the_deadline_fails_with_its_own_reason(tmp_path):
    """A local file has no fetch to time out; parsing it still has the deadline."""
    write_calendar(tmp_path / "big.ics", 2000)
    path = tmp_path / "sources.yaml"
    path.write_text("calendar:\n  name: T\n  timezone: America/Chicago\nfetch:\n  deadline: 0.01\n"
                    "sources: []\n")
    cfg = load_config(path)
    options = SourceOptions(id="big", type="ical", url=str(tmp_path / "big.ics"))
    outcome = check_source(cfg, options, window_for(cfg.calendar, NOW))
    assert outcome.error is not None and outcome.error.reason == "too_slow", outcome.error
    assert "fetch.deadline" in str(outcome.error)


def load_config_default(tmp_path):
    path = tmp_path / "default.yaml"
    path.write_text("calendar:\n  name: T\n  timezone: America/Chicago\nsources: []\n")
    return load_config(path)


def test_items_an_adapter_passes_over_do_not_count_against_the_cap(srv, tmp_path):
    """An archive of many posts, few of them events: only the records count."""
    broken = "".join(f"BEGIN:VEVENT\r\nUID:broken-{i}@example.org\r\nSUMMARY:No start {i}\r\nEND:VEVENT\r\n"
                     for i in range(150))  # skipped by the adapter: no DTSTART
    srv.documents["mostly"] = Doc(SERIES.replace("RRULE:FREQ=DAILY;COUNT=300", "RRULE:FREQ=DAILY;COUNT=20")
                                  .replace("END:VCALENDAR", broken + "END:VCALENDAR").encode())
    report, events = run_with(tmp_path, config(tmp_path, srv, "/doc/mostly", max_records=160))
    assert not report.failed, [s.error_message for s in report.failed]
    assert sum(1 for e in events if "big" in sources_of([e])) == 20
