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
