"""`run` wall time with one slow-drip source among the demo sources.

    .venv/bin/python -m benchmarks.drip_run                  # fetch.deadline as configured by default (120 s)
    .venv/bin/python -m benchmarks.drip_run --deadline 10    # the issue's second case

The demo's sample sources are served as `massage-events demo` serves them, plus one source on a
drip server: it sends one byte every 2 s (`--how headers`: the status line and headers a byte at
a time; `--how body`: headers at once, then a body without a length, byte by byte), the pattern
that once kept `run` reading for 400 s and publishing nothing. `massage-events run` runs in a
child process; the figures are its wall time, whether it published the demo sources, and the
drip source's reported reason. Writes benchmarks/results/drip-run.json (one entry per case).
Nothing touches the internet.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aggregator.app.demo import DemoServer, write_demo_config

ROOT = Path(__file__).resolve().parent.parent


class DripServer:
    """A raw TCP server on 127.0.0.1 that answers every request one byte every `every` seconds."""

    def __init__(self, how: str, every: float = 2.0) -> None:
        self.how, self.every = how, every
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/calendar.ics"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\n"
        with conn:
            try:
                conn.recv(65536)
                if self.how == "headers":
                    data = head + b"Content-Length: 100000\r\n\r\n"
                else:
                    conn.sendall(head + b"Connection: close\r\n\r\n")
                    data = b"BEGIN:VCALENDAR\r\n" + b"X" * 100_000
                for i in range(len(data)):
                    if self.stopping.is_set():
                        return
                    conn.sendall(data[i:i + 1])
                    time.sleep(self.every)
            except OSError:
                return

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()


def measure(how: str, deadline: float | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="drip-run-") as tmp, DemoServer() as samples:
        work = Path(tmp)
        drip = DripServer(how)
        config = write_demo_config(work, samples.base_url)
        text = config.read_text()
        if deadline is not None:
            text = text.replace("sources:\n", f"fetch:\n  deadline: {deadline:g}\nsources:\n", 1)
        if how != "none":  # "none": the demo sources alone, for comparison
            text += f"  - id: drip\n    type: ical\n    url: {drip.url}\n"
        config.write_text(text)
        began = time.monotonic()
        proc = subprocess.run([str(Path(sys.executable).parent / "massage-events"), "run", "--config", str(config),
                               "--db", str(work / "db.sqlite"), "--out", str(work / "out")],
                              capture_output=True, text=True, cwd=ROOT, timeout=1200)
        wall = time.monotonic() - began
        drip.close()
        events = json.loads((work / "out" / "events.json").read_text())["events"] \
            if (work / "out" / "events.json").exists() else []
        drip_line = next((line.strip() for line in proc.stdout.splitlines() if "FAILED drip" in line), None)
        return {"how": how, "deadline": deadline if deadline is not None else "default",
                "wall_seconds": round(wall, 1), "exit_status": proc.returncode,
                "events_published": len(events),
                "sources_published": sorted({s["source"] for e in events for s in e["sources"]}),
                "drip_source": drip_line}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--how", choices=("headers", "body", "both", "none"), default="both")
    parser.add_argument("--deadline", type=float, default=None, help="fetch.deadline (default: the default)")
    args = parser.parse_args(argv)
    results = [measure(how, args.deadline) for how in (("headers", "body") if args.how == "both" else (args.how,))]
    print(json.dumps(results, indent=2))
    out = ROOT / "benchmarks" / "results" / "drip-run.json"
    out.parent.mkdir(exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else []
    keep = [r for r in previous if (r["how"], r["deadline"]) not in {(n["how"], n["deadline"]) for n in results}]
    out.write_text(json.dumps(keep + results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
