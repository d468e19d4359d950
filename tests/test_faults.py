"""Every way a server can misbehave (docs/reliability.md A1-A3, F1), first at the fetcher, then
through a whole run: the run finishes, the failing source is reported with the right reason,
the other source publishes, and the failing source's earlier events stay in events.json."""

from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import icalendar
import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import load_config
from aggregator.errors import SourceError
from aggregator.pipeline import run
from aggregator.store.database import Store
from sources.base import SourceOptions
from tests.test_pipeline import NOW

DEADLINE = 0.6

# (route, expected reason). Timeouts must be reported within the deadline + 1 s.
FAULTS = [
    ("/hang?s=10", "timeout"),
    ("/trickle?n=100&every=0.3", "timeout"),
    ("/stall?s=10", "timeout"),
    # one byte every 0.2 s: each read returns before the read timeout, only the deadline can end it
    ("/drip/headers?every=0.2", "timeout"),
    ("/drip/length?every=0.2", "timeout"),
    ("/drip/nolength?every=0.2", "timeout"),
    ("/drip/chunked?every=0.2", "timeout"),
    ("/status/500", "http_500"),
    ("/status/502", "http_502"),
    ("/status/503", "http_503"),
    ("/status/503?retry_after=120", "http_503"),
    ("/status/429?retry_after=120", "http_429"),
    ("/status/429?retry_date=7200", "http_429"),
    ("/status/404", "not_found"),
    ("/status/410", "gone"),
    ("/cloudflare", "http_403"),
    ("/reset", "connection"),
    ("/short", "truncated"),
    ("/big?mb=50", "too_large"),
    ("/gzipbomb?mb=1024", "too_large"),
    ("/chained?n=3", "too_large"),
    ("/redirect/loop", "too_many_redirects"),
    ("/redirect/hops/6", "too_many_redirects"),
    ("/redirect/to?url=http://169.254.169.254/latest/meta-data/", "ssrf"),
    ("/redirect/to?url=http://192.168.0.1/cal.ics", "ssrf"),
]


@pytest.fixture
def srv(http):
    http.reset()
    yield http
    http.reset()


# A 2 MiB cap for the fault cases: inflating a bomb up to 15 MiB can outlast the 0.6 s deadline on
# a busy machine, and the case would then read as a timeout instead of too_large.
SMALL_CAP = 2 * 1024 * 1024


def fetcher_for(tmp_path, **kw):
    kw.setdefault("max_bytes", SMALL_CAP)
    return HttpFetcher(deadline=DEADLINE, connect_timeout=0.4, read_timeout=0.4, retries=1, backoff_base=0.05,
                       cache_path=tmp_path / "cache.sqlite", **kw)


@pytest.mark.parametrize("route, reason", FAULTS, ids=[f[0] for f in FAULTS])
def test_the_fetcher_reports_each_fault_with_its_reason_within_the_deadline(srv, tmp_path, route, reason):
    url = srv.url(route)
    source = fetcher_for(tmp_path).for_source(SourceOptions(id="faulty", type="ical", url=url))
    began = time.monotonic()
    with pytest.raises(SourceError) as caught:
        source.get(url)
    elapsed = time.monotonic() - began
    assert caught.value.reason == reason, str(caught.value)
    assert elapsed < DEADLINE + 1, f"{route} took {elapsed:.1f}s"
    assert str(caught.value).startswith("faulty: "), "the message names the source"
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize("how", ["headers", "nolength"])
def test_a_dripping_server_is_told_apart_from_a_silent_one_and_the_message_names_the_setting(srv, tmp_path, how):
    url = srv.url(f"/drip/{how}?every=0.1")
    source = fetcher_for(tmp_path).for_source(SourceOptions(id="drip", type="ical", url=url))
    with pytest.raises(SourceError) as caught:
        source.get(url)
    assert f"did not finish within the {DEADLINE:g} s deadline (fetch.deadline)" in str(caught.value)


@pytest.mark.parametrize("route", ["/big?mb=50", "/gzipbomb?mb=1024"])
def test_oversized_bodies_cost_less_than_twice_the_cap_and_leave_nothing_in_the_cache(srv, tmp_path, route):
    cap = 4 * 1024 * 1024
    fetcher = fetcher_for(tmp_path, max_bytes=cap)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as caught:
            fetcher.get(srv.url(route))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "too_large"
    assert peak < 2 * cap, f"peak {peak / 2**20:.1f} MiB"
    assert fetcher.cache.urls() == []


# --------------------------------------------------------------------------- through a run

SOURCES = """
    calendar:
      name: Fault Test
      timezone: America/Chicago
    fetch:
      deadline: {deadline}
      max_bytes: {cap}
      connect_timeout: 0.4
      read_timeout: 0.4
      retries: 0
    sources:
      - id: amta-il
        type: ical
        url: {base}/files/pipeline/chapter_il.ics
        region: IL
      - id: amta-ny
        type: ical
        url: {base}/switch/ny
        timezone: America/New_York
        region: NY
"""

RUN_FAULTS = [(route, reason) for route, reason in FAULTS
              if route in ("/hang?s=10", "/status/500", "/status/429?retry_after=120",
                           "/reset", "/short", "/big?mb=50", "/gzipbomb?mb=1024", "/chained?n=3",
                           "/redirect/loop", "/redirect/to?url=http://169.254.169.254/latest/meta-data/",
                           "/cloudflare", "/status/410", "/drip/headers?every=0.2",
                           "/drip/nolength?every=0.2")] + [
    ("/html-as-feed", "not_a_calendar"),
    ("/empty", "empty"),
]


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory, server):
    """One good run of both sources, reused (copied) by every fault case."""
    folder = tmp_path_factory.mktemp("healthy")
    server.switches["ny"] = "/files/pipeline/chapter_ny.ics"
    config_path = folder / "sources.yaml"
    config_path.write_text(SOURCES.format(base=server.base_url, deadline=DEADLINE, cap=SMALL_CAP).replace("\n    ", "\n"))
    config = load_config(config_path)
    with Store(folder / "db.sqlite") as store:
        report = run(config, store, folder / "out", now=NOW)
    assert not report.failed
    events = json.loads((folder / "out" / "events.json").read_text())["events"]
    ny = {e["uid"] for e in events if any(s["source"] == "amta-ny" for s in e["sources"])}
    assert ny, "the healthy run must publish amta-ny events"
    return config, folder, ny


def copy_run(folder, tmp_path):
    for item in folder.iterdir():
        if item.is_dir():
            shutil.copytree(item, tmp_path / item.name)
        else:
            shutil.copy2(item, tmp_path / item.name)


@pytest.mark.parametrize("route, reason", RUN_FAULTS, ids=[f[0] for f in RUN_FAULTS])
def test_a_run_with_a_faulty_source_finishes_reports_it_and_keeps_its_events(
        srv, healthy_run, tmp_path, route, reason):
    config, folder, ny_uids = healthy_run
    copy_run(folder, tmp_path)
    srv.switches["ny"] = route

    began = time.monotonic()
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=NOW.replace(hour=18))
    assert time.monotonic() - began < DEADLINE + 3

    (failed,) = report.failed
    assert (failed.source_id, failed.error_reason) == ("amta-ny", reason)
    assert "amta-il" in {s.source_id for s in report.ok}
    events = json.loads((tmp_path / "out" / "events.json").read_text())["events"]
    assert ny_uids <= {e["uid"] for e in events}, "the failing source's earlier events stay published"
    assert any(s["source"] == "amta-il" for e in events for s in e["sources"])
    feed = icalendar.Calendar.from_ical((tmp_path / "out" / "calendar.ics").read_bytes())
    assert ny_uids <= {str(e["UID"]) for e in feed.walk("VEVENT")}


def test_a_calendar_labelled_with_the_wrong_charset_keeps_its_exact_titles(srv, healthy_run, tmp_path):
    config, folder, _ = healthy_run
    copy_run(folder, tmp_path)
    srv.switches["ny"] = "/files/pipeline/chapter_ny_moved.ics?type=text/calendar; charset=ISO-8859-1"
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=NOW.replace(hour=18))
    assert not report.failed
    titles = {e["title"] for e in json.loads((tmp_path / "out" / "events.json").read_text())["events"]}
    assert "Networking Breakfast – Brooklyn" in titles


def test_a_warm_rerun_with_nothing_changed_sends_only_conditional_requests_and_parses_nothing(
        srv, healthy_run, tmp_path):
    config, folder, _ = healthy_run
    copy_run(folder, tmp_path)
    srv.switches["ny"] = "/files/pipeline/chapter_ny.ics"
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=NOW.replace(hour=18))
    assert srv.log, "the warm run must still ask the servers"
    assert all(r.headers.get("If-None-Match") for r in srv.log), [r.path for r in srv.log]
    assert {s.source_id for s in report.sources if s.unchanged} == {"amta-il", "amta-ny"}
    assert not report.failed
