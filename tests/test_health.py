"""Source health: backoff, 429 waits, moves, gone, the sudden-zero warning and `status`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from aggregator.config.settings import load_config
from aggregator.errors import FetchRefused, RetryableFetchError
from aggregator.store.database import Store
from aggregator.store.health import (
    is_sudden_zero,
    next_attempt,
    record_outcome,
    should_fetch,
    status_report,
    status_rows,
    stored_fingerprint,
)

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=timezone.utc)
SIX_HOURS = timedelta(hours=6)


@pytest.fixture
def store(db_location):
    """The health ledger on each backend: a SQLite file, then a PostgreSQL database."""
    with Store(db_location) as s:
        yield s


def fail(store, when, error=None, status=500, source="amta-il"):
    error = error or RetryableFetchError("http://x/cal.ics answered HTTP 500", reason="http_500", http_status=500)
    return record_outcome(store, source, ok=False, records=0, error=error, http_status=status, now=when,
                          interval=SIX_HOURS)


def succeed(store, when, records=5, source="amta-il", moved_to=None):
    return record_outcome(store, source, ok=True, records=records, error=None, http_status=200, now=when,
                          interval=SIX_HOURS, moved_to=moved_to)


def test_a_new_source_is_fetched(store):
    assert should_fetch(store, "never-seen", NOW)


def test_a_failing_source_is_backed_off_geometrically_and_not_fetched_every_run(store):
    when = NOW
    for failures in range(1, 5):
        fail(store, when)
        assert next_attempt(store, "amta-il") == when + SIX_HOURS * failures
        assert not should_fetch(store, "amta-il", when + SIX_HOURS * failures - timedelta(minutes=1))
        assert should_fetch(store, "amta-il", when + SIX_HOURS * failures)
        when += SIX_HOURS * failures
    # a run every 6 h: the fifth failure means the next 4 runs skip it
    fail(store, when)
    runs = [when + SIX_HOURS * k for k in range(1, 6)]
    assert [should_fetch(store, "amta-il", r) for r in runs] == [False, False, False, False, True]


def test_backoff_is_capped_at_seven_days(store):
    when = NOW
    for _ in range(40):
        fail(store, when)
    assert next_attempt(store, "amta-il") == when + timedelta(days=7)


def test_a_success_clears_the_backoff(store):
    fail(store, NOW)
    fail(store, NOW + SIX_HOURS)
    succeed(store, NOW + SIX_HOURS * 3)
    assert should_fetch(store, "amta-il", NOW + SIX_HOURS * 3 + timedelta(minutes=1))
    (row,) = [r for r in status_rows(load_config_text("amta-il"), store, NOW) if r["source"] == "amta-il"]
    assert row["state"] == "ok" and row["failures"] == "0" and row["reason / message"] == ""


def test_a_429_waits_at_least_an_hour_or_what_the_server_asked(store):
    error = RetryableFetchError("rate limited", reason="http_429", http_status=429, retry_after=30)
    fail(store, NOW, error, 429)
    assert next_attempt(store, "amta-il") == NOW + SIX_HOURS  # the interval is already longer than 1 h
    record_outcome(store, "fast", ok=False, records=0, error=error, http_status=429, now=NOW,
                   interval=timedelta(minutes=10))
    assert next_attempt(store, "fast") == NOW + timedelta(hours=1)
    long = RetryableFetchError("rate limited", reason="http_429", http_status=429, retry_after=3 * 86400)
    record_outcome(store, "slow", ok=False, records=0, error=long, http_status=429, now=NOW,
                   interval=timedelta(minutes=10))
    assert next_attempt(store, "slow") == NOW + timedelta(days=3)


def test_410_marks_the_source_gone_and_says_what_to_do(store):
    gone = FetchRefused("http://x/cal.ics is gone (HTTP 410)", reason="gone", http_status=410)
    warnings = fail(store, NOW, gone, 410)
    assert any("410 Gone" in w and "events are kept" in w for w in warnings)
    assert next_attempt(store, "amta-il") == NOW + timedelta(days=7)
    (row,) = status_rows(load_config_text("amta-il"), store, NOW)
    assert row["state"] == "gone" and row["reason / message"].startswith("gone 410:")


def test_thirty_days_of_failures_disable_the_source_to_weekly_checks(store):
    when = NOW
    while when < NOW + timedelta(days=31):
        fail(store, when)
        when += timedelta(days=3)
    (row,) = status_rows(load_config_text("amta-il"), store, when)
    assert row["state"] == "disabled"


def test_a_permanent_redirect_is_reported_only_after_two_runs(store):
    target = "https://new.example.org/cal.ics"
    assert not any("moved" in w for w in succeed(store, NOW, moved_to=target))
    warnings = succeed(store, NOW + SIX_HOURS, moved_to=target)
    assert any(f"moved permanently to {target}" in w and "sources.yaml" in w for w in warnings)
    (row,) = status_rows(load_config_text("amta-il"), store, NOW)
    assert f"moved to {target}" in row["warning"]
    # a move elsewhere starts counting again
    assert not any("moved" in w for w in succeed(store, NOW + SIX_HOURS * 2, moved_to="https://b.example/x"))


def test_a_productive_source_that_suddenly_yields_nothing_is_warned_about(store):
    succeed(store, NOW, records=12)
    assert is_sudden_zero(store, "amta-il", 0)
    assert not is_sudden_zero(store, "amta-il", 3)
    warnings = succeed(store, NOW + SIX_HOURS, records=0)
    assert warnings and "yielded no events, after 12" in warnings[0]
    # it stays visible in status until the source yields again
    assert "yielded no events" in status_rows(load_config_text("amta-il"), store, NOW)[0]["warning"]
    succeed(store, NOW + SIX_HOURS * 2, records=0)
    assert "after 12" in status_rows(load_config_text("amta-il"), store, NOW)[0]["warning"]
    succeed(store, NOW + SIX_HOURS * 3, records=4)
    assert status_rows(load_config_text("amta-il"), store, NOW)[0]["warning"] == ""


def test_a_source_that_never_had_events_is_not_warned_about(store):
    succeed(store, NOW, records=0)
    assert succeed(store, NOW + SIX_HOURS, records=0) == []


def test_status_prints_a_table_with_failures_next_attempt_and_reason(store, make_config, tmp_path):
    config = load_config(make_config("""
        sources:
          - id: amta-il
            type: ical
            url: https://il.example/cal.ics
          - id: amta-ny
            type: ical
            url: https://ny.example/cal.ics
          - id: quiet
            type: ical
            url: https://quiet.example/cal.ics
            enabled: false
    """))
    now = datetime.now(timezone.utc)
    succeed(store, now - timedelta(hours=1), source="amta-ny")
    fail(store, now - timedelta(hours=1))
    fail(store, now - timedelta(minutes=30))
    store.close()

    report = status_report(config, store.location)
    code, text = report.exit_code, report.text()
    lines = text.splitlines()
    assert lines[0].split() [:2] == ["source", "state"]
    il = next(line for line in lines if line.startswith("amta-il"))
    assert "backing off" in il and " 2 " in il and "http_500: answered HTTP 500" in il
    assert (now - timedelta(minutes=30) + SIX_HOURS * 2).strftime("%Y-%m-%d %H:%M UTC") in il
    assert next(line for line in lines if line.startswith("amta-ny")).split()[1] == "ok"
    assert next(line for line in lines if line.startswith("quiet")).split()[1] == "off"
    assert "3 sources, 1 needing attention." in text
    assert code == 1


def test_status_without_a_database_says_what_to_run(tmp_path, make_config):
    config = load_config(make_config("sources: []\n"))
    report = status_report(config, tmp_path / "missing.sqlite")
    assert report.exit_code == 0
    assert "massage-events run" in report.text()


def load_config_text(*ids):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    body = "sources:\n" + "".join(f"  - id: {i}\n    type: ical\n    url: https://{i}.example/c.ics\n" for i in ids)
    (folder / "sources.yaml").write_text(body)
    return load_config(folder / "sources.yaml")


def test_the_parsed_body_fingerprint_is_kept_only_with_a_success(store):
    assert record_outcome(store, "amta-il", ok=True, records=3, error=None, http_status=200, now=NOW,
                          fingerprint="abc") == []
    assert stored_fingerprint(store, "amta-il") == "abc"
    fail(store, NOW + SIX_HOURS)
    assert stored_fingerprint(store, "amta-il") == "abc", "a failure leaves the stored records' hash"
    succeed(store, NOW + SIX_HOURS * 2)
    assert stored_fingerprint(store, "amta-il") is None, "no fingerprint given: the next run parses"
    assert stored_fingerprint(store, "never-seen") is None


# --------------------------------------------------------------------------- through pipeline.run

RUN_SOURCES = """
calendar:
  name: Health Test
  timezone: America/Chicago
fetch:
  retries: 0
sources:
  - id: amta-il
    type: ical
    url: {base}/files/pipeline/chapter_il.ics
  - id: flaky
    type: {type}
    url: {base}/switch/{switch}
"""


def run_config(tmp_path, server, switch, type_name="ical"):
    path = tmp_path / "sources.yaml"
    path.write_text(RUN_SOURCES.format(base=server.base_url, switch=switch, type=type_name))
    return load_config(path)


def run_at(config, tmp_path, when):
    from aggregator.pipeline import run

    with Store(tmp_path / "db.sqlite") as s:
        return run(config, s, tmp_path / "out", now=when)


def test_a_source_answering_500_is_not_fetched_every_run_and_status_says_when_it_will_be(http, tmp_path):
    http.switches["h500"] = "/status/500"
    try:
        config = run_config(tmp_path, http, "h500")
        start = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)
        fetched_at = []
        for hour in range(0, 19, 6):  # a run every 6 h: 12:00, 18:00, 00:00, 06:00
            http.log.clear()
            report = run_at(config, tmp_path, start + timedelta(hours=hour))
            if any(r.path == "/switch/h500" for r in http.log):
                fetched_at.append(hour)
            assert "amta-il" in {s.source_id for s in report.ok}
        # failures 1 and 2 push the next attempt 6 h, then 12 h away
        assert fetched_at == [0, 6, 18]
        with Store(tmp_path / "db.sqlite") as s:
            (row,) = [r for r in status_rows(config, s, start + timedelta(hours=18)) if r["source"] == "flaky"]
        assert row["failures"] == "3"
        assert row["next attempt"] == (start + timedelta(hours=18 + 18)).strftime("%Y-%m-%d %H:%M UTC")
        assert row["reason / message"].startswith("http_500:")
    finally:
        http.switches.pop("h500", None)


def test_an_event_page_that_turns_into_an_empty_page_is_warned_about_and_keeps_its_events(http, tmp_path):
    http.switches["page"] = "/files/jsonld/single_event_offset_place.html"
    try:
        config = run_config(tmp_path, http, "page", "jsonld")
        now = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)
        run_at(config, tmp_path, now)
        before = json.loads((tmp_path / "out" / "events.json").read_text())["events"]
        page_uids = {e["uid"] for e in before if any(s["source"] == "flaky" for s in e["sources"])}
        assert page_uids

        http.switches["page"] = "/files/jsonld/no_events_organization.html"
        report = run_at(config, tmp_path, now + timedelta(hours=6))
        (flaky,) = [s for s in report.sources if s.source_id == "flaky"]
        assert any("yielded no events" in w for w in flaky.warnings)
        after = json.loads((tmp_path / "out" / "events.json").read_text())["events"]
        assert page_uids <= {e["uid"] for e in after if e["status"] != "cancelled"}
        with Store(tmp_path / "db.sqlite") as s:
            (row,) = [r for r in status_rows(config, s, now) if r["source"] == "flaky"]
        assert "yielded no events" in row["warning"]
    finally:
        http.switches.pop("page", None)
