"""A database in trouble says which trouble: damaged (with the recovery), disk full, or not
writable; `status` runs SQLite's quick_check; and one run at a time per database."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aggregator.app.cli import main
from aggregator.errors import DatabaseDamaged, DatabaseFull, DatabaseNotWritable, RunInProgress
from aggregator.model import Event, SourceRef, Status
from aggregator.merge.normalize import record_uid
from aggregator.store.database import Store

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)


def record(n: int, text: str = "") -> Event:
    ext = f"event-{n}"
    return Event(uid=record_uid("a", ext), title=f"Chapter meeting {n}", start=NOW, end=None, all_day=False,
                 timezone="UTC", location=None, url=None, description=text, status=Status.CONFIRMED, region=None,
                 tags=(), sources=(SourceRef("a", ext),))


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs: a real full disk. Mounting needs root (CI runs as root); elsewhere it skips."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()}): the full-disk test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def _damage_middle(path: Path, size: int = 64 * 1024) -> None:
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2 - size // 2)
        f.write(os.urandom(size))


def _big_database(path: Path) -> None:
    with Store(path) as store:
        store.replace_records("a", [record(n, "x" * 400) for n in range(2000)], NOW)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_full_disk_is_reported_as_full_not_as_a_damaged_database(small_disk, one_source_config, capsys, http):
    db = small_disk / "events.sqlite"
    with Store(db) as store:
        store.replace_records("a", [record(1)], NOW)
    filler = _fill(small_disk)
    with pytest.raises(DatabaseFull) as caught:  # at the open (the -shm file) or at the first write
        with Store(db) as store:
            store.replace_records("a", [record(n, "y" * 500) for n in range(3000)], NOW)
    assert "is full" in str(caught.value) and "not damaged" in str(caught.value)
    assert "not a massage-events database" not in str(caught.value)

    code = main(["run", "--config", str(one_source_config), "--db", str(db), "--out", str(small_disk / "out")])
    err = capsys.readouterr().err
    assert code != 0
    assert f"the disk holding {db} is full" in err, err
    assert "not a massage-events database" not in err and "Traceback" not in err

    filler.unlink()  # space freed: the same database carries on, whole
    with Store(db) as store:
        assert store.integrity_problems() == []
        assert [e.title for e in store.records()] == ["Chapter meeting 1"]


def test_a_database_that_cannot_be_written_is_a_permission_problem_not_damage(small_disk, tmp_path):
    db = small_disk / "events.sqlite"
    with Store(db) as store:
        store.replace_records("a", [record(1)], NOW)
    if os.geteuid() == 0:  # root ignores file modes; a read-only mount refuses even root
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    else:
        db.chmod(0o444)
        small_disk.chmod(0o555)
    with pytest.raises(DatabaseNotWritable) as caught:
        with Store(db) as store:
            store.replace_records("a", [record(2)], NOW)
    message = str(caught.value)
    assert "permissions" in message and "not damaged" in message, message


def test_a_folder_that_refuses_new_files_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may create files in any folder; the read-only mount test covers this as root")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(DatabaseNotWritable) as caught:
        Store(locked / "events.sqlite")
    assert str(locked) in str(caught.value)


def test_garbage_in_the_middle_of_the_database_fails_status_and_stops_a_run_before_any_fetch(
        tmp_path, one_source_config, capsys, http):
    db = tmp_path / "events.sqlite"
    _big_database(db)
    _damage_middle(db)

    code = main(["status", "--config", str(one_source_config), "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 2, out
    assert f"The database {db} is damaged" in out
    assert ".recover" in out and "backup" in out

    code = main(["run", "--config", str(one_source_config), "--db", str(db), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0
    assert "is damaged (quick_check:" in err and ".recover" in err, err
    assert http.log == [], "nothing fetched for a run that cannot store"


def test_a_damaged_header_names_the_file_and_the_recovery(tmp_path):
    db = tmp_path / "events.sqlite"
    _big_database(db)
    with open(db, "r+b") as f:
        f.write(os.urandom(100))
    with pytest.raises(DatabaseDamaged) as caught:
        Store(db)
    assert str(db) in str(caught.value) and ".recover" in str(caught.value)


def test_a_second_run_on_the_same_database_stops_with_the_reason(db_location, one_source_config, capsys, tmp_path):
    holder = Store(db_location)
    with holder.run_lock():
        code = main(["run", "--config", str(one_source_config), "--db", str(db_location), "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 75, err
        assert "another run is using" in err and f"pid {os.getpid()}" in err, err
        assert not (tmp_path / "out" / "events.json").exists()
    holder.close()


def test_a_second_run_told_to_wait_runs_once_the_first_has_finished(db_location, one_source_config, capsys, tmp_path):
    holder = Store(db_location)
    lock = holder.run_lock()
    lock.__enter__()
    threading.Timer(1.0, lock.__exit__, (None, None, None)).start()
    began = time.monotonic()
    code = main(["run", "--wait", "30", "--config", str(one_source_config), "--db", str(db_location),
                 "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert time.monotonic() - began >= 0.9, "it waited for the first run"
    assert (tmp_path / "out" / "events.json").exists()
    holder.close()


def test_the_run_lock_dies_with_a_killed_holder(db_location, tmp_path):
    """A kill -9 of the run holding the lock frees it: the next run does not wait for a dead process."""
    import sys

    script = ("import sys, time\nfrom aggregator.store.database import Store\n"
              "s = Store(sys.argv[1])\nwith s.run_lock():\n    print('held', flush=True)\n    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(db_location)], stdout=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[1])
    assert child.stdout.readline().strip() == b"held"
    with Store(db_location) as store:
        with pytest.raises(RunInProgress):
            with store.run_lock():
                pass
        child.kill()
        child.wait()
        with store.run_lock(wait=10):
            pass


def test_a_scheduled_refresh_skips_while_a_cron_run_holds_the_database(tmp_path, one_source_config, caplog):
    import logging

    from aggregator.app.scheduler import Scheduler
    from aggregator.config.settings import load_config

    db = tmp_path / f"{uuid.uuid4().hex}.sqlite"
    scheduler = Scheduler(load_config(one_source_config), db, tmp_path / "out")
    with Store(db) as cron, cron.run_lock(), caplog.at_level(logging.INFO):
        scheduler.refresh()
    assert "refresh skipped: another run is using" in caplog.text
    assert not (tmp_path / "out" / "events.json").exists()
