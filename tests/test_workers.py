"""Sources read in worker processes (aggregator/collect/workers.py): the same feed as one process,
per-host politeness across processes, and a worker that dies costs only its own sources."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from datetime import datetime, timezone

import pytest

from aggregator.collect.workers import shards, worker_count
from aggregator.config.settings import load_config
from aggregator.pipeline import run
from aggregator.store.database import Store

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.skipif(worker_count(2, 2, 2) == 1,
                                reason="worker processes are forked on Linux and FreeBSD only; elsewhere one process reads")


def farm_config(make_config, server, workers: int, name: str = "sources.yaml"):
    """Three sources on each of two hosts (127.0.0.1 and localhost), each answering after 0.2 s."""
    entries = []
    for n, (base, fixture) in enumerate([(server.base_url, "pipeline/chapter_il.ics"),
                                         (server.localhost_url, "pipeline/chapter_ny.ics")]):
        for i in range(3):
            entries.append(f"""
          - id: host{n}-source{i}
            type: ical
            url: {base}/slow/{fixture}?delay=0.2&copy={i}""")
    return load_config(make_config(f"""
        calendar:
          timezone: America/Chicago
        fetch:
          workers: {workers}
          per_host: 1
          concurrency: 8
        sources:{''.join(entries)}
        """, name=name))


def published(out) -> list[dict]:
    return json.loads((out / "events.json").read_text(encoding="utf-8"))["events"]


def test_worker_processes_publish_what_one_process_publishes_one_connection_per_host(http, make_config, tmp_path):
    readers_seen: set[str] = set()

    def progress(done, total, result):
        readers_seen.update(p.name for p in multiprocessing.active_children())

    with Store(tmp_path / "two.sqlite") as store:
        report = run(farm_config(make_config, http, workers=2), store, tmp_path / "two", now=NOW, progress=progress)
    assert "massage-events-reader" in readers_seen  # the sources really were read in worker processes
    assert all(s.ok for s in report.sources) and len(report.sources) == 6
    assert set(http.max_in_flight) == {f"127.0.0.1:{http.server_address[1]}", f"localhost:{http.server_address[1]}"}
    assert max(http.max_in_flight.values()) == 1  # per_host: 1 held although two processes fetched

    with Store(tmp_path / "one.sqlite") as store:
        run(farm_config(make_config, http, workers=1, name="one.yaml"), store, tmp_path / "one", now=NOW)
    assert published(tmp_path / "two") == published(tmp_path / "one")


def quick_and_switched(make_config, server, switch: str, deadline: float = 120):
    """Two workers: "quick" on 127.0.0.1, and `switch` on localhost answering as /switch/<switch> says."""
    server.switches[switch] = "/files/pipeline/chapter_ny.ics"
    return load_config(make_config(f"""
        calendar:
          timezone: America/Chicago
        fetch:
          workers: 2
          deadline: {deadline}
        sources:
          - id: quick
            type: ical
            url: {server.base_url}/files/pipeline/chapter_il.ics
          - id: {switch}
            type: ical
            url: {server.localhost_url}/switch/{switch}
        """))


def signal_readers(sig: int):
    """A progress hook: when the first source is in, send `sig` to every reader process."""
    def progress(done, total, result):
        for child in multiprocessing.active_children():
            if child.name == "massage-events-reader":
                os.kill(child.pid, sig)
    return progress


def test_a_worker_that_dies_fails_only_its_sources_which_keep_their_last_good_events(http, make_config, tmp_path):
    config = quick_and_switched(make_config, http, "doomed")
    with Store(tmp_path / "db.sqlite") as store:
        first = run(config, store, tmp_path / "out", now=NOW)
        assert all(s.ok for s in first.sources)
        doomed_uids = {e["uid"] for e in published(tmp_path / "out") if e["sources"][0]["source"] == "doomed"}
        assert doomed_uids

        http.switches["doomed"] = "/delay?s=20&file=pipeline/chapter_ny.ics"
        began = time.monotonic()  # the quick source is in: kill the reader still waiting
        second = run(config, store, tmp_path / "out", now=NOW, progress=signal_readers(signal.SIGKILL))
    took = time.monotonic() - began
    results = {s.source_id: s for s in second.sources}
    assert results["quick"].ok
    assert not results["doomed"].ok and results["doomed"].error_reason == "worker_died"
    assert "worker process stopped unexpectedly" in results["doomed"].error_message
    assert took < 15  # the run did not wait for the dead worker's 20-second source
    assert doomed_uids <= {e["uid"] for e in published(tmp_path / "out")}  # last good events kept


def test_a_stuck_worker_is_stopped_and_fails_only_its_sources(http, make_config, tmp_path, monkeypatch):
    import aggregator.collect.workers

    monkeypatch.setattr(aggregator.collect.workers, "STALL_MARGIN", 1.0)  # seconds, not minutes, for the test
    config = quick_and_switched(make_config, http, "frozen", deadline=1)
    with Store(tmp_path / "db.sqlite") as store:
        run(config, store, tmp_path / "out", now=NOW)
        http.switches["frozen"] = "/delay?s=20&file=pipeline/chapter_ny.ics"
        began = time.monotonic()  # freeze the reader still waiting: alive, but never answering
        report = run(config, store, tmp_path / "out", now=NOW, progress=signal_readers(signal.SIGSTOP))
    results = {s.source_id: s for s in report.sources}
    assert results["quick"].ok
    assert results["frozen"].error_reason == "worker_died"
    assert "gave no answer" in results["frozen"].error_message
    assert time.monotonic() - began < 10  # deadline + margin, not the 20-second source
    assert not [c for c in multiprocessing.active_children() if c.name == "massage-events-reader"]


def test_a_worker_that_cannot_be_forked_fails_only_its_sources_and_keeps_their_events(
        http, make_config, tmp_path, monkeypatch):
    from multiprocessing.process import BaseProcess

    config = farm_config(make_config, http, workers=2)
    with Store(tmp_path / "db.sqlite") as store:
        first = run(config, store, tmp_path / "out", now=NOW)
        before = {e["uid"] for e in published(tmp_path / "out")}
        start, forks = BaseProcess.start, []

        def second_fork_fails(process):
            forks.append(process)
            if len(forks) == 2:
                raise OSError(12, "Cannot allocate memory")
            return start(process)

        monkeypatch.setattr(BaseProcess, "start", second_fork_fails)
        report = run(config, store, tmp_path / "out", now=NOW)
    assert all(s.ok for s in first.sources)
    failed = [s for s in report.sources if not s.ok]
    assert len(failed) == 3 and len({s.source_id.split("-")[0] for s in failed}) == 1  # one host's shard
    assert {s.error_reason for s in failed} == {"worker_died"}
    assert all("no worker process could be started" in s.error_message and "Cannot allocate memory" in s.error_message
               for s in failed)
    assert {e["uid"] for e in published(tmp_path / "out")} == before  # their last good events stay


def test_each_hosts_sources_stay_together_and_shards_are_balanced(make_config):
    from sources.base import SourceOptions

    sources = [SourceOptions(id=f"a{i}", type="ical", url=f"https://a.example/{i}.ics") for i in range(4)]
    sources += [SourceOptions(id=f"{h}", type="ical", url=f"https://{h}.example/x.ics") for h in "bcdef"]
    split = shards(sources, 2)
    assert len(split) == 2
    a_shards = {n for n, shard in enumerate(split) for s in shard if s.id.startswith("a")}
    assert len(a_shards) == 1  # one host, one worker: per_host holds without sharing state
    assert sorted(len(s) for s in split) == [4, 5]


def test_a_host_with_most_requests_gets_a_worker_of_its_own():
    """A Meetup-like site's sources follow many event pages: its requests set the run's floor,
    so its worker should not also parse everybody else's sources."""
    from sources.base import SourceOptions

    sources = [SourceOptions(id=f"m{i}", type="jsonld", url=f"https://meetup.example/{i}") for i in range(5)]
    sources += [SourceOptions(id=f"{h}{i}", type="ical", url=f"https://{h}.example/{i}.ics")
                for h in "bcdefgh" for i in range(3)]
    weight = {s.id: (14 if s.id.startswith("m") else 1) for s in sources}
    split = shards(sources, 2, lambda options: weight[options.id])
    meetup = next(shard for shard in split if shard[0].id.startswith("m"))
    assert {s.id[0] for s in meetup} == {"m"}
    assert sum(len(shard) for shard in split) == len(sources)


def test_automatic_workers_never_fork_a_process_that_runs_other_threads():
    """`serve` runs the pipeline beside web and scheduler threads: a fork there could deadlock.
    (In a fresh interpreter: this test process may have other tests' server threads.)"""
    import subprocess
    import sys

    code = """if True:
        import threading
        from aggregator.collect.workers import worker_count
        alone = worker_count(0, 300, 16)
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
        print(alone, worker_count(0, 300, 16), worker_count(2, 300, 16))
        stop.set()
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    alone, beside_threads, explicit = map(int, done.stdout.split())
    if alone == 1:
        pytest.skip(f"automatic workers are 1 here anyway (platform {sys.platform}, {os.cpu_count()} CPUs)")
    assert beside_threads == 1
    assert explicit == 2  # the curator's explicit setting stands


def test_a_rerun_that_only_revalidates_stays_in_one_process_unless_workers_are_set():
    """Sources whose stored records still read the same only cost a conditional request: forking
    for them costs more than it saves. (In a fresh interpreter, as above.)"""
    import subprocess
    import sys

    code = """if True:
        from aggregator.collect.workers import worker_count
        print(worker_count(0, 300, 16), worker_count(0, 300, 16, to_parse=15),
              worker_count(0, 300, 16, to_parse=300), worker_count(2, 300, 16, to_parse=0))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cold, rerun, all_changed, explicit = map(int, done.stdout.split())
    if cold == 1:
        pytest.skip(f"automatic workers are 1 here anyway (platform {sys.platform}, {os.cpu_count()} CPUs)")
    assert rerun == 1
    assert all_changed == cold
    assert explicit == 2  # the curator's explicit setting stands


def test_small_runs_stay_in_one_process_and_a_setting_is_capped():
    assert worker_count(0, 10, 16) == 1
    assert worker_count(3, 2, 16) == 2  # never more workers than sources
    assert worker_count(8, 300, 2) == 2  # nor than the concurrency allows
    assert worker_count(1, 300, 16) == 1


def test_a_workers_sources_take_their_hosts_in_turn():
    from sources.base import SourceOptions

    sources = [SourceOptions(id=f"{h}{i}", type="ical", url=f"https://{h}.example/{i}.ics")
               for h in "abc" for i in range(3)]
    (shard,) = shards(sources, 1)
    assert [s.id[0] for s in shard[:3]] == ["a", "b", "c"]  # threads begin on three hosts, not one


def test_a_worker_that_mostly_parses_yields_the_cpu_to_the_one_on_the_busiest_host():
    """The worker reading a Meetup-like site waits on its connections: every moment its threads
    wait for a CPU adds to the run, so the worker that parses everybody else's sources runs at a
    lower priority, and the busy one does not."""
    from aggregator.collect.workers import PARSER_NICENESS, read_in_processes
    from sources.base import SourceOptions

    sources = [SourceOptions(id=f"m{i}", type="jsonld", url=f"https://meetup.example/{i}") for i in range(3)]
    sources += [SourceOptions(id=f"{h}0", type="ical", url=f"https://{h}.example/x.ics") for h in "bcd"]
    weight = {s.id: (14 if s.id.startswith("m") else 1) for s in sources}
    base = os.nice(0)

    def read(options, fetcher):
        return options, os.nice(0), 0.0  # the worker's niceness, as the outcome

    seen = {options.id: niceness for options, niceness, _ in read_in_processes(
        sources, 2, lambda: None, read, threads=2, failed=lambda options, message: None, deadline=30,
        weight=lambda options: weight[options.id])}
    assert {seen[f"m{i}"] for i in range(3)} == {base}
    assert {seen[f"{h}0"] for h in "bcd"} == {min(base + PARSER_NICENESS, 19)}
