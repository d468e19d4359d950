"""`massage-events status | head -1` exits quietly: a reader that goes away is not an error.

Real processes and real pipes: the CLI runs as the installed `massage-events` script with its
stdout a pipe, and the test plays `head`, reading one line and closing its end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator.errors import RetryableFetchError
from aggregator.store.database import Store
from aggregator.store.health import record_outcome

ROOT = Path(__file__).resolve().parents[1]
SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `cat big | head -1`
SIX_HOURS = timedelta(hours=6)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("massage-events")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aggregator"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # behave as a user's shell, not as a test (which re-raises)
    return env


def _status_db(tmp_path: Path, count: int) -> tuple[Path, Path]:
    """A sources.yaml of `count` sources and a database with the health of a few of them."""
    ids = [f"chapter-{i:04d}" for i in range(count)]
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n" + "".join(f"  - id: {i}\n    type: ical\n    url: https://{i}.example/c.ics\n"
                                             for i in ids), encoding="utf-8")
    db = tmp_path / "db.sqlite"
    now = datetime.now(timezone.utc)
    with Store(db) as store:
        record_outcome(store, ids[0], ok=True, records=5, error=None, http_status=200, now=now, interval=SIX_HOURS)
        error = RetryableFetchError("https://x.example/c.ics answered HTTP 500", reason="http_500", http_status=500)
        record_outcome(store, ids[1], ok=False, records=0, error=error, http_status=500, now=now, interval=SIX_HOURS)
    return config, db


def _read_line_then_close(args: list[str], cwd: Path) -> tuple[bytes, int, str]:
    """Run args with stdout a pipe; read the first line (as `head -1` does) and close the pipe."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(args, stdout=write_end, stderr=subprocess.PIPE, cwd=cwd, env=_env())
    os.close(write_end)
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(read_end, 1)
        if not chunk:
            break
        line += chunk
    os.close(read_end)
    _, err = proc.communicate(timeout=60)
    return line, proc.returncode, err.decode("utf-8", "replace")


def test_status_piped_to_head_exits_quietly(tmp_path):
    # 3000 sources print far more than a pipe holds (64 KiB), so the CLI is still writing when the
    # reader leaves: the pipe breaks every time, not by chance.
    config, db = _status_db(tmp_path, 3000)
    line, code, err = _read_line_then_close([*_cli(), "status", "--config", str(config), "--db", str(db)], tmp_path)
    assert line.split()[:2] == [b"source", b"state"]
    assert err == "", err
    assert code == SIGPIPE_STATUS


def test_status_into_an_already_closed_pipe_exits_quietly(tmp_path):
    config, db = _status_db(tmp_path, 3)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails
    proc = subprocess.run([*_cli(), "status", "--config", str(config), "--db", str(db)], stdout=write_end,
                          stderr=subprocess.PIPE, cwd=tmp_path, env=_env(), timeout=60)
    os.close(write_end)
    assert proc.stderr.decode() == ""
    assert proc.returncode == SIGPIPE_STATUS


def test_sources_check_goes_through_the_same_boundary(tmp_path):
    calendar = ROOT / "tests" / "fixtures" / "ical" / "rrule_exdate_recurid.ics"
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run([*_cli(), "sources", "check", "--type", "ical", str(calendar)], stdout=write_end,
                          stderr=subprocess.PIPE, cwd=tmp_path, env=_env(), timeout=60)
    os.close(write_end)
    assert proc.stderr.decode() == ""
    assert proc.returncode == SIGPIPE_STATUS


def test_a_reader_that_stays_gets_everything_and_the_usual_exit_code(tmp_path):
    config, db = _status_db(tmp_path, 3)
    proc = subprocess.run([*_cli(), "status", "--config", str(config), "--db", str(db)], capture_output=True,
                          cwd=tmp_path, env=_env(), timeout=60)
    assert proc.stderr.decode() == ""
    assert "3 sources, 1 needing attention." in proc.stdout.decode()
    assert proc.returncode == 1
