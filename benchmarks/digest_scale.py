"""The digest at scale: N subscribers (default 100,000) to a local SMTP sink, and a run's wall
time on PostgreSQL beside SQLite.

    .venv/bin/python -m benchmarks.digest_scale                       # 100,000 subscribers, 4 connections, SQLite
    .venv/bin/python -m benchmarks.digest_scale --subscribers 5000 --connections 1
    .venv/bin/python -m benchmarks.digest_scale --db postgresql://...  # the ledger on PostgreSQL
    .venv/bin/python -m benchmarks.digest_scale --runs                # demo sources: run on SQLite vs PostgreSQL

The sink is aiosmtpd in its own process (a relay's acceptance, not its disk), counting what it
receives. Subscribers are spread over 10 regions x 4 topic choices, so the digest renders a few
dozen preference sets. Results go to benchmarks/results/digest-scale.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
REGIONS = ["IL", "WI", "NY", "TX", "CA", "WA", "FL", "GA", "MA", "CO"]
TOPICS = [[], ["ce"], ["social"], ["ce", "social"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sink(port: int, counter, ready) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 accepted"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10 ** 6))
    finally:
        controller.stop()


def _events(now: datetime):
    from aggregator.model import Event, SourceRef, Status

    events = []
    for n in range(60):
        start = now + timedelta(days=n % 7, hours=n % 9)
        events.append(Event(uid=f"bench-{n}", title=f"Chapter meeting {n}", start=start, end=start + timedelta(hours=2),
                            all_day=False, timezone="America/Chicago", location="Community Center",
                            url=f"https://example.org/e/{n}", description="", status=Status.CONFIRMED,
                            region=REGIONS[n % len(REGIONS)], tags=(("ce",), ("social",), ())[n % 3],
                            sources=(SourceRef("bench", f"e{n}"),)))
    return events


def _config(tmp: Path, port: int, connections: int):
    from aggregator.config.settings import parse_config

    return parse_config({
        "calendar": {"name": "Benchmark Events", "timezone": "America/Chicago",
                     "base_url": "https://events.example.org", "curator_email": "curator@example.org"},
        "digest": {"from_address": "digest@events.example.org"},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 30, "connections": connections},
    }, str(tmp / "sources.yaml"))


def digest_benchmark(subscribers: int, connections: int, db: str | None) -> dict:
    from aggregator.mail import digest
    from aggregator.store.database import Store

    tmp = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    location = db or str(tmp / "bench.sqlite")
    now = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)
    port = _free_port()
    counter, ready = multiprocessing.Value("l", 0), multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        config = _config(tmp, port, connections)
        with Store(location) as store:
            store.save_events(_events(now), {}, now)
            stamp = now.isoformat()
            with store.transaction() as conn:
                conn.executemany(
                    "INSERT INTO subscribers (email, status, regions, tags, created, confirmed)"
                    " VALUES (?, 'active', ?, ?, ?, ?)",
                    [(f"member{n}@example.org", json.dumps([REGIONS[n % 10]] if n % 5 else []),
                      json.dumps(TOPICS[n % 4]), stamp, stamp) for n in range(subscribers)])
            cpu0, wall0 = time.process_time(), time.monotonic()
            report = digest.send_period(config, store, tmp / "out", now=now, retry_delays=(0,))
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    finally:
        sink.terminate()
        sink.join(10)
    return {"subscribers": subscribers, "connections": connections,
            "backend": "postgresql" if db else "sqlite", "sent": report.sent, "received_by_sink": counter.value,
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "messages_per_second": round(report.sent / wall, 1) if wall else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "summary": report.summary()}


def run_benchmark(pg_url: str | None, repeat: int = 2) -> dict:
    """The demo sources, `run` end to end on SQLite and on PostgreSQL (warm: the best of `repeat`)."""
    from aggregator.app.demo import DemoServer, write_demo_config
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    cluster = None
    if pg_url is None:
        from tests.pg_server import Cluster

        cluster = Cluster().start()
        pg_url = cluster.new_database()
    results = {}
    try:
        with DemoServer() as samples:
            for backend, location in (("sqlite", None), ("postgresql", pg_url)):
                tmp = Path(tempfile.mkdtemp(prefix=f"run-bench-{backend}-"))
                config = load_config(write_demo_config(tmp, samples.base_url))
                times = []
                for _ in range(repeat + 1):
                    with Store(location or tmp / "db.sqlite") as store:
                        began = time.monotonic()
                        run(config, store, tmp / "out")
                        times.append(time.monotonic() - began)
                results[backend] = {"cold_seconds": round(times[0], 3), "warm_seconds": round(min(times[1:]), 3)}
    finally:
        if cluster is not None:
            cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--db", help="a postgresql:// URL for the ledger (default: a temp SQLite file)")
    parser.add_argument("--runs", action="store_true", help="instead: demo sources, run on SQLite vs PostgreSQL")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.runs:
        result = {"runs": run_benchmark(args.db)}
        name = "run-backends.json"
    else:
        result = digest_benchmark(args.subscribers, args.connections, args.db)
        name = "digest-scale.json"
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
