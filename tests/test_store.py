"""The store on both backends (SQLite file, PostgreSQL server): migrations by name, a source's last
good records, identities, transactions; and SQLite's durability settings."""

from __future__ import annotations

import json
import multiprocessing
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from aggregator.codec import event_from_dict, event_to_dict
from aggregator.merge.normalize import record_uid
from aggregator.model import Event, SourceRef, Status
from aggregator.store.database import Store, StoreError

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)
CHICAGO = ZoneInfo("America/Chicago")


def record(source: str, external_id: str, title: str = "Chapter Meeting", **kw) -> Event:
    fields = dict(uid=record_uid(source, external_id), title=title,
                  start=datetime(2027, 1, 12, 18, 30, tzinfo=CHICAGO), end=None, all_day=False,
                  timezone="America/Chicago", location=None, url=None, description="", status=Status.CONFIRMED,
                  region="IL", tags=(), sources=(SourceRef(source, external_id),))
    fields.update(kw)
    return Event(**fields)


def test_a_new_database_gets_every_migration_once_and_durable_settings(tmp_path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        applied = {r[0] for r in store.db.execute("SELECT name FROM _migrations")}
    with Store(path) as again:
        assert again.migrate() == [], "migrations run once"
        assert {r[0] for r in again.db.execute("SELECT name FROM _migrations")} == applied


def test_replacing_a_sources_records_keeps_other_sources_untouched(db_location):
    with Store(db_location) as store:
        store.replace_records("a", [record("a", "1"), record("a", "2")], NOW)
        store.replace_records("b", [record("b", "x")], NOW)
        store.replace_records("a", [record("a", "2", title="Renamed")], NOW)
        assert [(e.sources[0].source, e.sources[0].external_id, e.title) for e in store.records()] == [
            ("a", "2", "Renamed"), ("b", "x", "Chapter Meeting")]


def test_events_round_trip_through_json_with_zones_and_all_day_dates(db_location):
    timed = record("a", "1", end=datetime(2027, 1, 12, 20, 0, tzinfo=CHICAGO), sequence=3, last_modified=NOW)
    all_day = record("a", "2", start=date(2027, 3, 1), end=date(2027, 3, 4), all_day=True)
    for event in (timed, all_day):
        assert event_from_dict(event_to_dict(event)) == event
    utc = record("a", "3", start=datetime(2027, 1, 10, 15, tzinfo=timezone.utc), title="Earlier, written in UTC")
    with Store(db_location) as store:
        saved = store.save_events([timed, all_day, utc], {}, NOW)
        assert store.published_events() == [utc, timed, all_day]
        # What a run publishes right after saving is what a later publish reads back, zones included.
        assert [repr(e) for e in saved] == [repr(e) for e in store.published_events()]


def test_links_remember_a_records_uid_after_it_leaves(db_location):
    with Store(db_location) as store:
        store.save_events([record("a", "1")], {"rec-1": "event-1"}, NOW)
        store.save_events([], {}, NOW)
        assert store.known_links() == {"rec-1": "event-1"}


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        Store(bogus)
    assert "not a massage-events database" in str(caught.value)


def test_a_failed_transaction_leaves_nothing_behind(db_location):
    with Store(db_location) as store:
        with pytest.raises(store.IntegrityError), store.transaction() as db:
            db.execute("INSERT INTO links VALUES ('r', 'u')")
            db.execute("INSERT INTO links VALUES ('r', 'u')")
        assert store.known_links() == {}


def test_migrations_run_once_on_either_backend(db_location):
    with Store(db_location) as store:
        applied = {r[0] for r in store.db.execute("SELECT name FROM _migrations")}
        assert {"m_core_records", "m_digest_deliveries", "m_bounces_ledger"} <= applied
    with Store(db_location) as again:
        assert again.migrate() == [], "migrations run once"


def test_runs_are_numbered_and_the_last_finished_one_is_read_back(db_location):
    with Store(db_location) as store:
        first = store.start_run(NOW)
        second = store.start_run(NOW)
        assert second == first + 1
        store.finish_run(first, NOW, {"events": 3})
        assert store.last_run()["id"] == first
        assert json.loads(store.last_run()["summary"]) == {"events": 3}


def test_meta_values_are_replaced_not_duplicated(db_location):
    with Store(db_location) as store:
        store.set_meta("published", "a")
        store.set_meta("published", "b")
        assert store.get_meta("published") == "b"
        assert store.get_meta("missing") is None


def test_dropping_sources_no_longer_configured_counts_what_went(db_location):
    with Store(db_location) as store:
        store.replace_records("keep", [record("keep", "1")], NOW)
        store.replace_records("gone", [record("gone", "1"), record("gone", "2")], NOW)
        assert store.drop_sources_except(["keep"]) == {"gone": 2}
        assert store.record_count("gone") == 0 and store.record_count("keep") == 1
        assert store.drop_sources_except([]) == {"keep": 1}


def test_subscriber_emails_are_unique_whatever_their_case(db_location):
    from aggregator.mail import subscribers

    with Store(db_location) as store:
        subscribers.add_active(store.db, "Ana@Example.org")
        assert subscribers.get(store.db, "ana@example.org") is not None, "looked up without regard to case"
        with pytest.raises(store.IntegrityError):
            store.db.execute("INSERT INTO subscribers (email, status, created) VALUES ('ANA@example.ORG', 'active', 'x')")


def test_writers_in_two_processes_never_lose_an_update(db_location):
    """Eight processes each add one to a counter 25 times inside BEGIN IMMEDIATE transactions
    (read, then write): with the write lock held across the read, no increment is lost."""
    with Store(db_location) as store:
        store.set_meta("counter", "0")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump_counter, args=(str(db_location), 25)) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    with Store(db_location) as store:
        assert store.get_meta("counter") == "200"


def _bump_counter(location: str, times: int) -> None:
    with Store(location) as store:
        for _ in range(times):
            with store.transaction() as db:
                value = int(db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()[0])
                db.execute("UPDATE meta SET value = ? WHERE key = 'counter'", (str(value + 1),))
