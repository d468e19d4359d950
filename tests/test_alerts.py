"""Curator alerts: one email when a source breaks (N failures, or suddenly empty), one when it recovers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from aggregator.mail.alerts import notify_curator
from aggregator.report import RunReport, SourceResult
from aggregator.store.database import Store
from tests.smtp_server import FaultySMTP, digest_config, migrated_db  # noqa: F401 (autouse)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def smtp():
    with FaultySMTP() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def run(*results):
    return RunReport(started=T0, sources=list(results))


def ok(sid="amta-il", records=12):
    return SourceResult(sid, True, records=records)


def failed(sid="amta-il", reason="http_503", message="the server answered 503 Service Unavailable"):
    return SourceResult(sid, False, records=12, error_class="RetryableFetchError", error_reason=reason,
                        error_message=message)


def bodies(smtp):
    return [(m["Subject"], m.get_content()) for _, _, m in smtp.messages]


def test_three_failures_in_a_row_send_one_email_then_one_on_recovery(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    sent = [notify_curator(config, store, run(ok()), T0)]
    for i in range(1, 7):
        sent.append(notify_curator(config, store, run(failed()), T0 + timedelta(hours=i)))
    assert sent == [0, 0, 0, 1, 0, 0, 0]
    ((subject, body),) = bodies(smtp)
    assert smtp.recipients() == ["curator@example.org"]
    assert subject == "amta-il: the source is failing"
    assert "Since: Mon Mar 2 2026, 7:00 CST" in body  # the first failure, in the calendar's zone
    assert "failed 3 runs in a row" in body and "[http_503]" in body and "503 Service Unavailable" in body
    assert "massage-events sources check amta-il" in body
    assert notify_curator(config, store, run(ok(records=10)), T0 + timedelta(hours=8)) == 1
    assert notify_curator(config, store, run(ok(records=10)), T0 + timedelta(hours=9)) == 0
    subject, body = bodies(smtp)[1]
    assert subject == "amta-il: the source works again" and "10 events" in body


def test_two_failures_then_success_send_nothing(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    for i, result in enumerate([failed(), failed(), ok(), failed(), failed(), ok()]):
        notify_curator(config, store, run(result), T0 + timedelta(hours=i))
    assert smtp.messages == []


def test_a_source_that_suddenly_yields_nothing_is_reported_once(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    notify_curator(config, store, run(ok(records=30)), T0)
    counts = [notify_curator(config, store, run(ok(records=0)), T0 + timedelta(hours=i)) for i in range(1, 4)]
    assert counts == [1, 0, 0]
    subject, body = bodies(smtp)[0]
    assert subject == "amta-il: the source suddenly has no events" and "it had 30 before" in body


def test_a_source_that_never_had_events_is_not_reported_as_empty(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    for i in range(4):
        notify_curator(config, store, run(ok(records=0)), T0 + timedelta(hours=i))
    assert smtp.messages == []


def test_backing_off_sources_do_not_count_as_failures(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    notify_curator(config, store, run(failed()), T0)
    notify_curator(config, store, run(failed()), T0 + timedelta(hours=1))
    for i in range(2, 6):
        notify_curator(config, store, run(SourceResult("amta-il", False, records=12, deferred=True)),
                       T0 + timedelta(hours=i))
    assert smtp.messages == []


def test_each_broken_source_is_named_in_its_own_email(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp, alerts={"after_failures": 1})
    assert notify_curator(config, store, run(failed("a-src"), failed("b-src"), ok("c-src")), T0) == 2
    assert sorted(s for s, _ in bodies(smtp)) == ["a-src: the source is failing", "b-src: the source is failing"]


def test_an_alert_that_could_not_be_delivered_is_retried_next_run(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp, alerts={"after_failures": 1})
    smtp.rcpt_script["curator@example.org"] = ["451 4.3.0 try later"]
    assert notify_curator(config, store, run(failed()), T0) == 0
    assert notify_curator(config, store, run(failed()), T0 + timedelta(hours=1)) == 1
    assert notify_curator(config, store, run(failed()), T0 + timedelta(hours=2)) == 0
    assert len(smtp.messages) == 1


def test_alerts_survive_a_restart_without_repeating(tmp_path, smtp):
    config = digest_config(tmp_path, smtp=smtp, alerts={"after_failures": 2})
    for i in range(4):
        with Store(tmp_path / "db.sqlite") as store:
            notify_curator(config, store, run(failed()), T0 + timedelta(hours=i))
    assert len(smtp.messages) == 1


def test_without_smtp_the_alert_goes_to_the_outbox(tmp_path, store):
    config = digest_config(tmp_path, alerts={"after_failures": 1})
    assert notify_curator(config, store, run(failed()), T0, out_dir=tmp_path / "out") == 1
    (eml,) = (tmp_path / "out" / "outbox").glob("*.eml")
    assert b"Subject: amta-il: the source is failing" in eml.read_bytes()


def test_a_curator_address_with_crlf_sends_nothing_and_injects_nothing(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp, alerts={"after_failures": 1})
    config = config.model_copy(update={"calendar": config.calendar.model_copy(
        update={"curator_email": "curator@example.org\r\nBcc: x@evil.example"})})
    assert notify_curator(config, store, run(failed()), T0) == 0
    assert smtp.messages == []
