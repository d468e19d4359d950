"""Published files are replaced atomically: readers see the old file or the new one, never half."""

from __future__ import annotations

import os

import pytest

from aggregator.publish.outputs import clean_stale_temp_files, write_atomic


def test_a_failing_replace_leaves_the_old_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "calendar.ics"
    write_atomic(target, b"old calendar")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, b"new calendar")
    assert target.read_bytes() == b"old calendar"
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]


def test_temp_files_left_by_a_killed_run_are_cleaned(tmp_path):
    (tmp_path / ".calendar.ics.abc123.tmp").write_bytes(b"half a calendar")
    (tmp_path / "calendar.ics").write_bytes(b"whole")
    assert clean_stale_temp_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]


def test_written_files_are_world_readable_for_a_static_host(tmp_path):
    target = tmp_path / "feeds" / "il.ics"
    write_atomic(target, b"x")
    assert target.stat().st_mode & 0o044 == 0o044


# --------------------------------------------------------------------------- all or nothing

import errno  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from aggregator.errors import OutputError  # noqa: E402
from aggregator.publish import outputs  # noqa: E402
from tests.smtp_server import digest_config, make_event  # noqa: E402

GENERATED = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)
FIRST = datetime(2027, 1, 4, 18, 30)


def events(n: int, moved: bool = False, first: int = 0):
    """n events; `moved` shifts every start by an hour (every published file changes)."""
    shift = timedelta(hours=1) if moved else timedelta()
    return [make_event(f"e{i}@test", f"Meetup {i}", FIRST + timedelta(days=i) + shift) for i in range(first, first + n)]


def published(out) -> dict[str, bytes]:
    """Every published file (hidden staging and journal files aside), by relative name."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}


def assert_one_whole_set(out):
    """What a reader must always find: events.json, calendar.ics and the page agree, and every
    per-event download the page links to is there (and no other)."""
    uids = {e["uid"] for e in json.loads((out / "events.json").read_text())["events"]}
    in_calendar = set(re.findall(r"^UID:(.+?)\r?$", (out / "calendar.ics").read_text(), re.M))
    assert uids == in_calendar, "events.json and calendar.ics come from different runs"
    linked = set(re.findall(r'href="(event/[^"]+\.ics)"', (out / "index.html").read_text()))
    downloads = {str(p.relative_to(out)) for p in (out / "event").glob("*.ics")}
    assert linked == downloads, f"missing: {sorted(linked - downloads)}, left over: {sorted(downloads - linked)}"
    assert len(downloads) == len(uids)


@pytest.fixture
def config(tmp_path):
    return digest_config(tmp_path)


def test_a_full_disk_mid_publish_changes_nothing_and_says_so(tmp_path, config, monkeypatch):
    out = tmp_path / "out"
    outputs.publish(out, config, events(5), GENERATED)
    before = published(out)
    written = []
    real_open = open

    def open_until_full(path, mode="r", *a, **k):
        if "w" in mode and len(written) >= 3:  # three files staged, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(outputs, "open", open_until_full, raising=False)
    with pytest.raises(OutputError) as caught:
        outputs.publish(out, config, events(5, moved=True, first=2), GENERATED + timedelta(hours=1))
    message = str(caught.value)
    assert "the disk is full" in message and str(out) in message and "left as they were" in message
    assert "Traceback" not in message and "Errno" not in message
    assert published(out) == before, "a failed publish leaves every published file as it was"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no staging folder or journal left"

    monkeypatch.undo()  # space freed: the next publish leaves one consistent new set
    outputs.publish(out, config, events(5, moved=True, first=2), GENERATED + timedelta(hours=1))
    assert_one_whole_set(out)
    assert "e0@test" not in (out / "events.json").read_text()


def test_an_output_folder_we_may_not_write_is_reported_as_permission_denied(tmp_path, config, monkeypatch):
    out = tmp_path / "out"
    outputs.publish(out, config, events(2), GENERATED)

    def refused(path, *a, **k):  # the tests run as root, for whom chmod refuses nothing
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(outputs.Path, "mkdir", refused)
    with pytest.raises(OutputError) as caught:
        outputs.publish(out, config, events(2, moved=True), GENERATED)
    assert "permission denied" in str(caught.value) and "writable" in str(caught.value)


def _publish_and_die_at(out, config, rename: int) -> None:
    """In a forked child: publish the moved set, SIGKILLed just before its rename number `rename`."""
    count = [0]
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if ".staging-" in str(src):
            count[0] += 1
            if count[0] == rename:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *a, **k)

    os.replace = replace
    outputs.publish(out, config, events(6, moved=True, first=3), GENERATED + timedelta(hours=1))
    os._exit(0)


def _killed_at_then_repaired(out, config, rename: int, *, killed: bool) -> None:
    """A child publishing into `out` is killed before rename `rename` (when the switch has that many);
    then the next run's repair leaves one whole set and nothing of the switch behind."""
    child = multiprocessing.get_context("fork").Process(target=_publish_and_die_at, args=(out, config, rename))
    child.start()
    child.join(30)
    if killed:
        assert child.exitcode == -signal.SIGKILL
        assert (out / outputs.JOURNAL).exists()
    outputs.repair(out)
    assert not (out / outputs.JOURNAL).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging-")]
    assert_one_whole_set(out)


@pytest.mark.parametrize("rename", [1, 4, 7, 9, 10])
def test_a_kill_at_any_rename_of_the_switch_is_finished_by_the_next_repair(tmp_path, config, rename):
    """Events 0-5 published; the next set (3-8, moved) has 6 downloads, then events.json,
    calendar.ics and index.html: renames 1-6 are downloads, 7-9 the main files."""
    out = tmp_path / "out"
    outputs.publish(out, config, events(6), GENERATED)
    _killed_at_then_repaired(out, config, rename, killed=rename <= 9)
    assert "e8@test" in (out / "events.json").read_text() and "e0@test" not in (out / "events.json").read_text()


@pytest.mark.parametrize("rename", [1, 2, 4])
def test_a_kill_during_a_first_publish_is_finished_by_the_next_repair(tmp_path, config, rename):
    """Into an empty folder the staged folder of downloads moves whole (rename 1), then events.json,
    calendar.ics and index.html (renames 2-4)."""
    out = tmp_path / "out"
    _killed_at_then_repaired(out, config, rename, killed=True)
    assert "e8@test" in (out / "events.json").read_text()


def test_a_kill_while_staging_leaves_the_old_set_and_the_next_repair_sweeps_the_staging(tmp_path, config):
    out = tmp_path / "out"
    outputs.publish(out, config, events(4), GENERATED)
    before = published(out)
    stale = out / ".staging-999999999-dead"  # a pid no process has: its publisher was killed
    (stale / "event").mkdir(parents=True)
    (stale / "calendar.ics").write_bytes(b"half")
    outputs.repair(out)
    assert not stale.exists()
    assert published(out) == before
    assert_one_whole_set(out)


def test_run_on_a_full_disk_prints_one_clear_line_and_the_next_run_publishes(http, tmp_path, monkeypatch, capsys):
    from aggregator.app import cli

    (tmp_path / "sources.yaml").write_text(f"""calendar:
  name: Full Disk
  timezone: America/Chicago
sources:
  - id: amta-il
    type: ical
    url: {http.url('/files/pipeline/chapter_il.ics')}
""")
    argv = ["-q", "run", "--config", str(tmp_path / "sources.yaml"), "--db", str(tmp_path / "db.sqlite"),
            "--out", str(tmp_path / "out")]

    def full(path, mode="r", *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(outputs, "open", full, raising=False)
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status != 0
    assert "the disk is full" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "calendar.ics").exists()

    monkeypatch.undo()
    assert cli.main(argv) == 0
    assert_one_whole_set(tmp_path / "out")


@pytest.mark.parametrize("text", ["", '{"moves": ["calendar.ics"', '{"staging": 3}', "[]"])
def test_an_unreadable_journal_is_set_aside_and_the_next_publish_rewrites_the_set(tmp_path, config, text):
    out = tmp_path / "out"
    outputs.publish(out, config, events(3), GENERATED)
    (out / outputs.JOURNAL).write_text(text)
    outputs.repair(out)
    assert not (out / outputs.JOURNAL).exists()
    outputs.publish(out, config, events(3, moved=True), GENERATED)
    assert_one_whole_set(out)


def test_publishing_the_published_set_again_touches_no_file(tmp_path, config, monkeypatch):
    """A static host syncing the folder, or a CDN, sees nothing new: no file is rewritten, no
    staging folder or journal comes and goes, and nothing waits on the disk."""
    out = tmp_path / "out"
    outputs.publish(out, config, events(5), GENERATED)

    def state():
        return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in [out, *out.rglob("*")]}

    before = state()
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    outputs.publish(out, config, events(5), GENERATED)
    assert state() == before and not synced
    outputs.publish(out, config, events(4), GENERATED)  # one event gone: its download is removed
    assert not (out / "event" / "e4@test.ics").exists() and synced
    assert_one_whole_set(out)
