"""The SQLite store: migrations by name, a source's last good records, identities, durability settings."""

from __future__ import annotations

import sqlite3
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


def test_replacing_a_sources_records_keeps_other_sources_untouched(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.replace_records("a", [record("a", "1"), record("a", "2")], NOW)
        store.replace_records("b", [record("b", "x")], NOW)
        store.replace_records("a", [record("a", "2", title="Renamed")], NOW)
        assert [(e.sources[0].source, e.sources[0].external_id, e.title) for e in store.records()] == [
            ("a", "2", "Renamed"), ("b", "x", "Chapter Meeting")]


def test_events_round_trip_through_json_with_zones_and_all_day_dates(tmp_path):
    timed = record("a", "1", end=datetime(2027, 1, 12, 20, 0, tzinfo=CHICAGO), sequence=3, last_modified=NOW)
    all_day = record("a", "2", start=date(2027, 3, 1), end=date(2027, 3, 4), all_day=True)
    for event in (timed, all_day):
        assert event_from_dict(event_to_dict(event)) == event
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events([timed, all_day], {}, NOW)
        assert store.published_events() == [timed, all_day]


def test_links_remember_a_records_uid_after_it_leaves(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events([record("a", "1")], {"rec-1": "event-1"}, NOW)
        store.save_events([], {}, NOW)
        assert store.known_links() == {"rec-1": "event-1"}


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        Store(bogus)
    assert "not a massage-events database" in str(caught.value)


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
            db.execute("INSERT INTO links VALUES ('r', 'u')")
            db.execute("INSERT INTO links VALUES ('r', 'u')")
        assert store.known_links() == {}
