"""Subscribers: address validation, the status lifecycle, and the curator's CLI."""

from datetime import datetime, timedelta, timezone

import pytest

from aggregator.mail import subscribers
from aggregator.mail.subscribers import (
    Bounce,
    InvalidAddress,
    normalize_address,
    subscribers_report,
)
from aggregator.store.database import Store
from tests.smtp_server import digest_config, migrated_db  # noqa: F401 (autouse)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(db_location):
    """The subscriber table on each backend: a SQLite file, then a PostgreSQL database."""
    with Store(db_location) as store:
        yield store.db


@pytest.mark.parametrize("raw, clean", [
    ("Ann@Example.ORG", "Ann@example.org"),
    ("  bob.smith+events@mail.example.co.uk ", "bob.smith+events@mail.example.co.uk"),
    ("zoë@bücher.example", "zoë@xn--bcher-kva.example"),  # non-ASCII local part: sent with SMTPUTF8
    ("ann@bücher.example", "ann@xn--bcher-kva.example"),
])
def test_addresses_are_normalized(raw, clean):
    if clean is None:
        with pytest.raises(InvalidAddress):
            normalize_address(raw)
    else:
        assert normalize_address(raw) == clean


@pytest.mark.parametrize("bad", ["", "ann", "ann@", "@example.org", "ann@localhost", "ann@@example.org",
                                 "ann@example..org", "a b@example.org", "ann@example.org\r\nBcc: x@evil.org",
                                 "ann@-example.org", "<ann@example.org>", "ann@example.org, bob@example.org",
                                 ".ann@example.org", "ann@127.0.0.1"])
def test_invalid_addresses_are_refused_with_a_sentence(bad):
    with pytest.raises(InvalidAddress) as err:
        normalize_address(bad)
    assert str(err.value).endswith(".")


def test_web_signup_is_pending_and_confirmation_is_due_at_most_hourly(db):
    sub, send = subscribers.request_subscription(db, "ann@example.org", ["IL"], now=T0)
    assert sub.status == "pending" and send
    subscribers.mark_confirm_sent(db, sub.id, T0)
    _, send_again = subscribers.request_subscription(db, "ann@example.org", ["IL"], now=T0 + timedelta(minutes=30))
    assert not send_again
    _, send_later = subscribers.request_subscription(db, "ann@example.org", ["IL"], now=T0 + timedelta(minutes=61))
    assert send_later


def test_confirm_activates_and_unsubscribe_is_idempotent(db):
    sub, _ = subscribers.request_subscription(db, "ann@example.org", now=T0)
    assert subscribers.confirm(db, "ann@example.org", T0).status == "active"
    assert subscribers.unsubscribe(db, "ann@example.org", T0)
    assert subscribers.unsubscribe(db, "ann@example.org", T0)
    assert subscribers.get(db, "ann@example.org").status == "unsubscribed"
    # A stale confirm link does not bring them back.
    assert subscribers.confirm(db, "ann@example.org", T0) is None


def test_active_subscriber_signing_up_again_gets_no_email(db):
    subscribers.add_active(db, "ann@example.org")
    sub, send = subscribers.request_subscription(db, "ann@example.org", now=T0)
    assert sub.status == "active" and not send


def test_a_bounce_over_two_weeks_after_the_last_starts_the_count_again(db):
    sub, _ = subscribers.add_active(db, "ann@example.org")
    subscribers.record_bounce(db, sub.id, T0)
    subscribers.record_bounce(db, sub.id, T0 + timedelta(days=14))
    assert subscribers.get(db, "ann@example.org").bounces == 2
    assert subscribers.record_bounce(db, sub.id, T0 + timedelta(days=30)) is Bounce.COUNTED
    assert subscribers.get(db, "ann@example.org").bounces == 1
    assert subscribers.get(db, "ann@example.org").status == "active"


def test_three_weekly_hard_bounces_suspend(db):
    sub, _ = subscribers.add_active(db, "ann@example.org")
    assert subscribers.record_bounce(db, sub.id, T0) is Bounce.COUNTED
    assert subscribers.record_bounce(db, sub.id, T0 + timedelta(days=7)) is Bounce.COUNTED
    assert subscribers.record_bounce(db, sub.id, T0 + timedelta(days=14)) is Bounce.SUSPENDED
    assert subscribers.get(db, "ann@example.org").status == "suspended"


def test_bounces_of_one_day_are_one_incident(db):
    """One digest reported by a forwarder and by the final server must not suspend anyone."""
    sub, _ = subscribers.add_active(db, "ann@example.org")
    assert subscribers.record_bounce(db, sub.id, T0) is Bounce.COUNTED
    assert subscribers.record_bounce(db, sub.id, T0 + timedelta(hours=2)) is Bounce.SAME_INCIDENT
    assert subscribers.record_bounce(db, sub.id, T0 - timedelta(hours=3)) is Bounce.SAME_INCIDENT  # read out of order
    ann = subscribers.get(db, "ann@example.org")
    assert (ann.bounces, ann.status) == (1, "active")


def test_preferences_match_regions_and_tags_ignoring_case(db):
    sub, _ = subscribers.add_active(db, "ann@example.org", ["il, wi"], ["CE"])
    assert sub.regions == ("il", "wi")
    assert sub.wants("IL", ("ce", "social"))
    assert not sub.wants("TX", ("ce",))
    assert not sub.wants("IL", ("social",))
    assert not sub.wants(None, ("ce",))
    everyone, _ = subscribers.add_active(db, "bob@example.org")
    assert everyone.wants(None, ())


def test_cli_add_list_remove(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    report = subscribers_report(config, db_path, "add", "Ann@Example.org", ["IL"], ["ce"])
    assert report.exit_code == 0
    assert "Added Ann@example.org (active; IL, ce)" in report.text()
    report = subscribers_report(config, db_path, "list", None, [], [])
    assert report.exit_code == 0
    assert "Ann@example.org\tactive\tregions IL; tags ce" in report.text()
    report = subscribers_report(config, db_path, "add", "not-an-address", [], [])
    assert report.exit_code == 2
    assert "is not an email address" in report.text()
    report = subscribers_report(config, db_path, "remove", "ann@EXAMPLE.org", [], [])
    assert report.exit_code == 0
    assert "Removed ann@example.org" in report.text()
    report = subscribers_report(config, db_path, "remove", "ann@example.org", [], [])
    assert report.exit_code == 1
    assert "not on the list" in report.text()
