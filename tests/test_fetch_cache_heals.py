"""The HTTP cache is disposable: a damaged cache file costs one run of full downloads, never
the run itself, and the warning names the file and where it was put."""

from __future__ import annotations

import json
import logging

import pytest

from aggregator.collect.fetch import HttpFetcher, cache_path_for
from aggregator.config.settings import load_config
from aggregator.pipeline import run
from aggregator.store.database import Store
from sources.base import SourceOptions
from tests.test_pipeline import NOW


@pytest.fixture
def srv(http):
    http.reset()
    yield http
    http.reset()


def fetch_once(cache, url):
    fetcher = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2, cache_path=cache)
    try:
        return fetcher.for_source(SourceOptions(id="il", type="ical", url=url)).get(url)
    finally:
        fetcher.close()


def test_a_cache_file_that_is_not_a_database_is_moved_aside_and_rebuilt(srv, tmp_path, caplog):
    cache = tmp_path / "db.sqlite.http-cache.sqlite"
    cache.write_bytes(b"this is not SQLite at all " * 400)
    url = srv.url("/files/pipeline/chapter_il.ics")
    with caplog.at_level(logging.WARNING):
        fetched = fetch_once(cache, url)
    assert b"BEGIN:VCALENDAR" in fetched.content
    warning = next(r.getMessage() for r in caplog.records if "HTTP cache" in r.getMessage())
    assert str(cache) in warning and "moved to" in warning
    (aside,) = tmp_path.glob("db.sqlite.http-cache.sqlite.broken-*")
    assert aside.read_bytes().startswith(b"this is not SQLite"), "the damaged file is kept for a look"
    # the new cache works: the next fetch revalidates instead of downloading again
    srv.log.clear()
    assert fetch_once(cache, url).from_cache
    assert srv.log[-1].headers.get("If-None-Match")


def test_garbage_in_the_middle_of_a_used_cache_is_healed_too(srv, tmp_path, caplog):
    cache = tmp_path / "db.sqlite.http-cache.sqlite"
    for name in ("chapter_il.ics", "chapter_ny.ics"):
        fetch_once(cache, srv.url(f"/files/pipeline/{name}"))
    data = bytearray(cache.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = b"\xde\xad\xbe\xef" * 1024
    data[100:4096] = b"\x00" * 3996  # the schema page too: "file is not a database" or "malformed"
    cache.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        fetched = fetch_once(cache, srv.url("/files/pipeline/chapter_il.ics"))
    assert b"BEGIN:VCALENDAR" in fetched.content
    assert any(str(cache) in r.getMessage() for r in caplog.records)


def test_a_run_over_a_broken_cache_publishes_and_says_which_file_it_set_aside(srv, tmp_path, caplog):
    config_path = tmp_path / "sources.yaml"
    config_path.write_text(f"""calendar:
  name: Test
  timezone: America/Chicago
sources:
  - id: amta-il
    type: ical
    url: {srv.url('/files/pipeline/chapter_il.ics')}
""")
    db = tmp_path / "db.sqlite"
    cache_path_for(db).write_bytes(b"garbage" * 1000)
    with caplog.at_level(logging.WARNING), Store(db) as store:
        report = run(load_config(config_path), store, tmp_path / "out", now=NOW)
    assert not report.failed, [s.error_message for s in report.failed]
    assert json.loads((tmp_path / "out" / "events.json").read_text())["events"]
    assert any(str(cache_path_for(db)) in r.getMessage() for r in caplog.records)
