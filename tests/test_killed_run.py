"""kill -9 in the middle of a run (docs/reliability.md F5): while fetching, inside a write transaction,
and at each rename of the switch to the new published set. Afterwards the database passes
`PRAGMA integrity_check`, every published file parses and is byte for byte the old or the new
version (never truncated), a switch cut short is completed by the next run's repair, and the
next run finishes and sweeps the temp files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import icalendar
import pytest

from aggregator.config.settings import load_config
from aggregator.pipeline import run
from aggregator.publish import outputs
from aggregator.store.database import Store
from tests.test_pipeline import NOW

ROOT = Path(__file__).resolve().parents[1]

# Runs pipeline.run in a child process; at the chosen point it prints KILL-ME and waits to be killed.
CHILD = textwrap.dedent("""
    import contextlib, os, sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    config_path, db, out, point = sys.argv[1:5]

    def park():
        print("KILL-ME", flush=True)
        time.sleep(60)

    if point == "transaction":
        original = Store.transaction
        @contextlib.contextmanager
        def transaction(self):
            self.db.execute("BEGIN IMMEDIATE")
            yield self.db
            park()  # the writes are done, COMMIT never comes
        Store.transaction = transaction
    elif point == "before-store":
        original_replace = Store.replace_record_texts  # replace_records goes through it too
        def replace_record_texts(self, source_id, *a, **k):
            if source_id == "amta-ny":
                park()  # fetched (and the HTTP cache updated), records not yet stored
            return original_replace(self, source_id, *a, **k)
        Store.replace_record_texts = replace_record_texts
    elif point.startswith("publish:"):
        name = point.split(":", 1)[1]
        real_replace = os.replace
        def replace(src, dst, *a, **k):
            if Path(dst).name == name:
                park()  # the temp file is written and fsynced; the rename never happens
            return real_replace(src, dst, *a, **k)
        os.replace = replace
    print("STARTED", flush=True)
    with Store(db) as store:
        run(load_config(config_path), store, Path(out), now=datetime(2027, 1, 1, 18, tzinfo=timezone.utc))
    print("FINISHED", flush=True)
""")

SOURCES = """\
calendar:
  name: Kill Test
  timezone: America/Chicago
fetch:
  deadline: 30
sources:
  - id: amta-il
    type: ical
    url: {base}/files/pipeline/chapter_il.ics
  - id: amta-ny
    type: ical
    url: {base}/switch/ny
    timezone: America/New_York
"""

OUTPUTS = ("calendar.ics", "events.json", "index.html")


POINTS = ["fetch", "fetch-in-workers", "transaction", "before-store", "publish:calendar.ics", "publish:events.json",
          "publish:index.html"]


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS if (out / name).exists()}


def start_child(folder: Path, point: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder / "sources.yaml"), str(folder / "db.sqlite"),
                             str(folder / "out"), point], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def switch_name(point: str) -> str:
    return "ny-" + point.replace(":", "-").replace(".", "-")


@pytest.fixture(scope="module")
def killed(tmp_path_factory, server):
    """For every point: a good run, then a child run (all children at once, to save time)
    SIGKILLed at that point. Returns point -> (folder, config, files before the kill)."""
    cases = {}
    for point in POINTS:
        folder = tmp_path_factory.mktemp(switch_name(point))
        text = SOURCES.format(base=server.base_url).replace("/switch/ny", "/switch/" + switch_name(point))
        if point == "fetch-in-workers":  # the sources are read by forked worker processes
            text = text.replace("fetch:\n", "fetch:\n  workers: 2\n")
        (folder / "sources.yaml").write_text(text)
        config = load_config(folder / "sources.yaml")
        server.switches[switch_name(point)] = "/files/pipeline/chapter_ny.ics"
        with Store(folder / "db.sqlite") as store:
            run(config, store, folder / "out", now=NOW)
        # The second run would publish something new: amta-ny's event moved.
        server.switches[switch_name(point)] = "/hang?s=30" if point.startswith("fetch") \
            else "/files/pipeline/chapter_ny_moved.ics"
        cases[point] = (folder, config, snapshot(folder / "out"))
    server.log.clear()  # "fetch" waits for the child's own request, not the good run's
    children = {point: start_child(cases[point][0], point) for point in POINTS}
    results = {}
    try:
        for point, child in children.items():
            if point.startswith("fetch"):
                # Seven children importing at once on a busy machine: count from "STARTED", not the spawn.
                line = ""
                while child.poll() is None and "STARTED" not in line:
                    line = child.stdout.readline()
                target = "/switch/" + switch_name(point)
                reached = wait_for(lambda: any(r.path == target for r in list(server.log)))
            else:
                line = ""
                while child.poll() is None and "KILL-ME" not in line:
                    line = child.stdout.readline()
                reached = "KILL-ME" in line
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            results[point] = (reached, child.returncode, child.stderr.read() if not reached else "")
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()
    yield {point: (*cases[point], *results[point]) for point in POINTS}
    for point in POINTS:
        server.switches.pop(switch_name(point), None)


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_leaves_a_sound_database_and_whole_files(server, killed, point):
    folder, config, old, reached, returncode, stderr = killed[point]
    out = folder / "out"
    assert reached, f"the child never reached {point}: {stderr}"
    assert returncode == -signal.SIGKILL
    if point == "fetch-in-workers" and Path("/proc").is_dir():
        assert wait_for(lambda: not _processes_mentioning(str(folder)), timeout=5), \
            "a worker process outlived the run that was killed"

    db = sqlite3.connect(folder / "db.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    for name, data in snapshot(out).items():
        assert data == old[name] or _parses(name, data), f"{name} is neither old nor a whole new version"
    icalendar.Calendar.from_ical((out / "calendar.ics").read_bytes())
    if point.startswith("publish:"):
        # Killed while switching to the new set: the journal is there, and repairing the folder
        # (the first thing the next run does) completes the new set before anything else.
        assert (out / outputs.JOURNAL).exists(), "the switch had started: its journal is on disk"
        outputs.repair(out)
        assert not (out / outputs.JOURNAL).exists()
        new = snapshot(out)
        assert all(new[name] != old[name] for name in OUTPUTS), "the whole new set is in place"
    else:
        assert snapshot(out) == old, "nothing was published before the kill"

    # The next run opens the database, publishes, and cleans the temp files the kill left.
    server.switches[switch_name(point)] = "/files/pipeline/chapter_ny_moved.ics"
    with Store(folder / "db.sqlite") as store:
        report = run(config, store, out, now=NOW.replace(hour=20))
    assert not report.failed
    assert not list(out.glob(".*.tmp"))
    events = json.loads((out / "events.json").read_text())["events"]
    (breakfast,) = [e for e in events if e["title"].startswith("Networking Breakfast")]
    assert breakfast["start"] == "2027-01-15T09:00:00-05:00", "the next run must publish the moved event"


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (a forked worker keeps its parent's command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode("utf-8", "replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _parses(name: str, data: bytes) -> bool:
    if name == "calendar.ics":
        return bool(icalendar.Calendar.from_ical(data).walk("VEVENT"))
    if name == "events.json":
        return "events" in json.loads(data)
    return data.rstrip().endswith(b"</html>")
