"""A calendar too big to read: time and peak memory of one source with N VEVENTs.

    .venv/bin/python -m benchmarks.big_ics                     # 100,000 VEVENTs (~9.4 MB), defaults
    .venv/bin/python -m benchmarks.big_ics --events 5000 --max-records 10000   # one that is read

Generates the file, then runs `massage-events run` on it (served from 127.0.0.1, plus one small
good source) in a child process and reports the child's wall time and peak RSS (getrusage), the
big source's outcome, and whether the good source was published. Writes
benchmarks/results/big-ics.json. Nothing touches the internet.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_calendar(path: Path, events: int) -> int:
    """N VEVENTs over the coming year, each at its own time, about 95 bytes each (the size of the
    hostile file: 9.4 MB for 100,000)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//big//EN"]
    for i in range(events):
        minute = i * 3  # every event its own start (100,000 fit in 336 days): none merge into another
        month, day = 1 + (minute // (28 * 1440)) % 12, 1 + (minute // 1440) % 28
        hour, mins = (minute // 60) % 24, minute % 60
        lines += ["BEGIN:VEVENT", f"UID:e{i}@big.example", f"DTSTART:2027{month:02d}{day:02d}T{hour:02d}{mins:02d}00Z",
                  f"SUMMARY:Meetup {i}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    data = ("\r\n".join(lines) + "\r\n").encode()
    path.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--max-records", type=int, default=None, help="fetch.max_records (default: the default)")
    parser.add_argument("--deadline", type=float, default=None, help="fetch.deadline (default: the default)")
    parser.add_argument("--parse-only", action="store_true",
                        help="no run: time and peak memory of the iCalendar adapter alone on the file, "
                             "without the cap (what reading it costs, in this process)")
    args = parser.parse_args(argv)
    if args.parse_only:
        return _parse_only(args.events)

    with tempfile.TemporaryDirectory(prefix="big-ics-") as tmp:
        work = Path(tmp)
        size = write_calendar(work / "big.ics", args.events)
        (work / "good.ics").write_bytes((ROOT / "tests/fixtures/pipeline/chapter_il.ics").read_bytes())
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(work)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        fetch = {k: v for k, v in (("max_records", args.max_records), ("deadline", args.deadline)) if v}
        fetch_yaml = "".join(f"\n  {k}: {v}" for k, v in fetch.items())
        (work / "sources.yaml").write_text(
            "calendar:\n  name: Bench\n  timezone: America/Chicago\n"
            + (f"fetch:{fetch_yaml}\n" if fetch else "")
            + f"sources:\n  - id: big\n    type: ical\n    url: {base}/big.ics\n"
            f"  - id: good\n    type: ical\n    url: {base}/good.ics\n")
        began = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([str(Path(sys.executable).parent / "massage-events"), "run", "--config",
                               str(work / "sources.yaml"), "--db", str(work / "db.sqlite"),
                               "--out", str(work / "out")], capture_output=True, text=True, cwd=ROOT)
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server.shutdown()
        events = []
        if (work / "out" / "events.json").exists():
            events = json.loads((work / "out" / "events.json").read_text())["events"]
        result = {
            "events_in_file": args.events, "file_bytes": size, "fetch": fetch,
            "wall_seconds": round(wall, 2), "cpu_seconds": round(after.ru_utime + after.ru_stime
                                                                 - before.ru_utime - before.ru_stime, 2),
            "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
            "exit_status": proc.returncode,
            "published_from_good": sum(1 for e in events if any(s["source"] == "good" for s in e["sources"])),
            "published_from_big": sum(1 for e in events if any(s["source"] == "big" for s in e["sources"])),
            "output_tail": (proc.stdout + proc.stderr).strip().splitlines()[-6:],
        }
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / "big-ics.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _parse_only(events: int) -> int:
    from datetime import datetime, timedelta, timezone

    from aggregator.model import Window
    from sources.base import SourceOptions
    from sources.ical import read_ical_bytes

    with tempfile.TemporaryDirectory(prefix="big-ics-") as tmp:
        size = write_calendar(Path(tmp) / "big.ics", events)
        content = (Path(tmp) / "big.ics").read_bytes()
    options = SourceOptions(id="big", type="ical", url="http://127.0.0.1/big.ics")
    now = datetime(2027, 1, 1, tzinfo=timezone.utc)
    window = Window(start=now - timedelta(days=30), end=now + timedelta(days=365))
    cpu, wall = time.process_time(), time.monotonic()
    try:
        read = sum(1 for _ in read_ical_bytes(content, options, window, origin=options.url,
                                              max_events=5000))
        refused = None
    except Exception as e:  # the cap: what a run does by default
        read, refused = 0, getattr(e, "reason", type(e).__name__)
    capped = {"cpu_seconds": round(time.process_time() - cpu, 3), "wall_seconds": round(time.monotonic() - wall, 3),
              "refused": refused, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    cpu, wall = time.process_time(), time.monotonic()
    read = sum(1 for _ in read_ical_bytes(content, options, window, origin=options.url))
    uncapped = {"records": read, "cpu_seconds": round(time.process_time() - cpu, 1),
                "wall_seconds": round(time.monotonic() - wall, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    result = {"events_in_file": events, "file_bytes": size, "with_default_cap": capped, "without_cap": uncapped}
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / "big-ics-parse.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
