"""Two `serve` replicas on one database: the digest runs on exactly one of them, and a kill -9 of
the lease holder mid-send hands the job to the other within the lease time, with exactly one
digest per subscriber in the end (a real aiosmtpd server counts them). On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.mail import subscribers
from aggregator.store.database import Store
from tests.smtp_server import FaultySMTP, free_port

ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 3


def _config(tmp_path: Path, smtp_port: int) -> Path:
    due = datetime.now(ZoneInfo("America/Chicago")) - timedelta(minutes=10)  # the digest is due now
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[due.weekday()]
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
calendar:
  name: Replica Events
  timezone: America/Chicago
  base_url: https://events.example.org
  curator_email: curator@example.org
digest:
  from_address: digest@events.example.org
  day: {day}
  time: "{due:%H:%M}"
  send_empty: true
smtp:
  host: 127.0.0.1
  port: {smtp_port}
  security: none
  timeout: 10
schedule:
  refresh_minutes: 600
  lease_seconds: {LEASE_SECONDS}
sources: []
""")
    return path


def _serve(config: Path, db, tmp_path: Path, name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--config", str(config),
                             "--db", str(db), "--out", str(tmp_path / "out"), "--port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc, port
        except OSError as e:
            if getattr(e, "code", None):  # an HTTP answer (even 503): it is serving
                return proc, port
            if proc.poll() is not None:
                pytest.fail(f"{name} exited: {(tmp_path / f'{name}.log').read_text()}")
            time.sleep(0.2)
    pytest.fail(f"{name} did not start serving")


def test_a_killed_lease_holder_hands_the_digest_to_the_other_replica_exactly_once(db_location, tmp_path):
    people = [f"member{n}@example.org" for n in range(24)]
    with Store(db_location) as store:
        for email in people:
            subscribers.add_active(store.db, email)
    with FaultySMTP() as smtp:
        smtp.block_at = 8  # replica A holds the 8th message's DATA when it is killed
        config = _config(tmp_path, smtp.port)
        first, _ = _serve(config, db_location, tmp_path, "replica-a")
        second = None
        try:
            assert smtp.blocked.wait(60), (tmp_path / "replica-a.log").read_text()
            second, port_b = _serve(config, db_location, tmp_path, "replica-b")
            # Watch for a lease period: the second replica renews (and fails to take) the lease
            # every second, and must not send while the first holds it.
            watch_until = time.monotonic() + LEASE_SECONDS
            while time.monotonic() < watch_until:
                assert len(smtp.messages) == 7, "the second replica sent while the first held the lease"
                time.sleep(0.1)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            killed = time.monotonic()
            smtp.release.set()  # the held message is dropped with a 421: never delivered
            took_over = None
            while time.monotonic() - killed < 60 and len(set(smtp.recipients())) < len(people):
                if took_over is None and len(smtp.messages) > 7:
                    took_over = time.monotonic() - killed
                time.sleep(0.1)
            took_over = took_over if took_over is not None else time.monotonic() - killed
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(30)
    assert took_over <= LEASE_SECONDS + 5, f"the other replica took over after {took_over:.1f} s"
    counts = Counter(smtp.recipients())
    assert set(counts) == set(people), (tmp_path / "replica-b.log").read_text()
    assert all(n == 1 for n in counts.values()), f"sent twice: {[a for a, n in counts.items() if n > 1]}"
    with Store(db_location) as store:
        states = Counter(r[0] for r in store.db.execute("SELECT status FROM deliveries"))
        assert states == {"sent": len(people)}
        assert store.db.execute("SELECT completed FROM digest_periods").fetchone()[0] is not None
