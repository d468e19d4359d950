"""`serve` under load with 150 idle connections open, beside nginx serving the same files.

    .venv/bin/python -m benchmarks.serve_bench                  # 10 s per target, 16 keep-alive clients
    .venv/bin/python -m benchmarks.serve_bench --seconds 5 --clients 8 --idle 150
    .venv/bin/python -m benchmarks.serve_bench --repeat 3 --compare-with /path/to/a/checkout/of/main

It publishes the demo (the bundled sample sources, through the real pipeline), starts the
real `massage-events serve` on it in its own process, and nginx (Debian's nginx-light) with
the site block of docs/deploy-nginx.md over the same output folder. Against each it opens
`--idle` connections that send half a request and then trickle a header line every few
seconds (as slow and idle clients do), and meanwhile loads GET /calendar.ics with `wrk`
(Debian's wrk; a Python keep-alive load generator when wrk is absent). It prints requests/s
and latency percentiles per target and writes benchmarks/results/serve.json.

Targets: `serve` (direct), `nginx` (the static file, as the deployment serves it), and
`serve` for a filtered feed (`?region=...`, which nginx proxies to serve anyway).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks.nginx_site import NginxSite, nginx_binary

RESULTS = Path(__file__).resolve().parent / "results" / "serve.json"


def publish_demo(workdir: Path) -> Path:
    """The demo's outputs (and sources.yaml, database) in workdir/site; the schedule switched off."""
    from aggregator.app.demo import run_demo

    site = workdir / "site"
    run_demo(site, stream=io.StringIO())
    config = site / "sources.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nschedule:\n  enabled: false\n", encoding="utf-8")
    return site


@contextmanager
def serving(site: Path, code_from: Path | None = None):
    """The real `serve` command in a child process; yields its port. `code_from`: a checkout whose
    aggregator/ the child imports instead (another version of serve, over the same outputs)."""
    code = ("import sys; from pathlib import Path; from aggregator.config.settings import load_config;"
            "from aggregator.app.web.site import serve_command;"
            f"sys.exit(serve_command(load_config(Path({str(site / 'sources.yaml')!r})), "
            f"Path({str(site / 'demo.sqlite')!r}), Path({str(site)!r}), '127.0.0.1', 0))")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if code_from is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(code_from).resolve()), env.get("PYTHONPATH", "")])
    # cwd: `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            cwd=str(site))
    try:
        line = proc.stdout.readline().decode()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def idle_clients(port: int, n: int, every: float = 5.0):
    """n connections that sent half a request, trickling one header line every `every` seconds."""
    sockets = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /calendar.ics HTTP/1.1\r\nHost: events.example.org\r\n")
        sockets.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.wait(every):
            for s in sockets:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        yield sockets
    finally:
        stop.set()
        t.join(timeout=every + 1)
        alive = 0
        for s in sockets:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                alive += 1
            except OSError:
                pass
            s.close()
        sockets[:] = [None] * alive  # the caller reads len(): how many the server still held open


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load_wrk(url: str, seconds: float, clients: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{int(seconds)}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    result = {"tool": "wrk", "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = round(_ms(m.group(1)), 2) if m else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(errors.group(1)) if errors else 0)
    result["socket_errors"] = sock.group(1).strip() if sock else None
    return result


def load_python(url: str, seconds: float, clients: int) -> dict:
    """Keep-alive clients in threads: a fallback where wrk is not installed (it measures less well)."""
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine = []
        while time.monotonic() < end:
            began = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
            mine.append(time.perf_counter() - began)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000, 2) if latencies else None

    return {"tool": "python", "requests_per_s": round(len(latencies) / seconds, 1), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "errors": errors[0], "socket_errors": None}


def measure(url: str, port: int, *, idle: int, seconds: float, clients: int, threads: int) -> dict:
    with idle_clients(port, idle) as held:
        if shutil.which("wrk"):
            result = load_wrk(url, seconds, clients, threads)
        else:
            result = load_python(url, seconds, clients)
    result["idle_connections"] = idle
    result["idle_still_open_after"] = len(held)
    return result


def benchmark(*, seconds: float = 10, clients: int = 16, threads: int = 2, idle: int = 150, repeat: int = 1,
              compare_with: Path | None = None) -> dict:
    results: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
                     "load_average": os.getloadavg()[0], "seconds": seconds, "clients": clients, "idle": idle,
                     "repeat": repeat, "targets": {}}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp, ExitStack() as stack:
        site = publish_demo(Path(tmp))
        results["calendar_bytes"] = (site / "calendar.ics").stat().st_size
        region = json.loads((site / "events.json").read_text())["events"][0].get("region") or "IL"
        port = stack.enter_context(serving(site))
        targets = {"serve /calendar.ics": (f"http://127.0.0.1:{port}/calendar.ics", port),
                   f"serve /calendar.ics?region={region}": (f"http://127.0.0.1:{port}/calendar.ics?region={region}",
                                                            port)}
        if compare_with is not None:
            other = stack.enter_context(serving(site, compare_with))
            targets[f"serve /calendar.ics ({compare_with})"] = (f"http://127.0.0.1:{other}/calendar.ics", other)
        if nginx_binary():
            nginx = stack.enter_context(NginxSite(site, port, Path(tmp) / "nginx", workers=1))
            targets["nginx /calendar.ics (static)"] = (f"{nginx.base}/calendar.ics", nginx.port)
        else:
            results["nginx"] = "not installed (Debian: apt-get install nginx-light): no reference measured"
        # Rounds go over every target in turn, so a busy moment of the machine is shared out;
        # each target keeps its best round (the least disturbed measurement).
        for _ in range(repeat):
            for name, (url, target_port) in targets.items():
                r = measure(url, target_port, idle=idle, seconds=seconds, clients=clients, threads=threads)
                print(f"{name:42} {r}", flush=True)
                best = results["targets"].get(name)
                if best is None or r["requests_per_s"] > best["requests_per_s"]:
                    results["targets"][name] = r
    return results


def table(results: dict) -> str:
    lines = [f"{results['idle']} idle connections open; {results['clients']} keep-alive clients, "
             f"{results['seconds']} s each, best of {results['repeat']}; calendar.ics {results['calendar_bytes']} "
             f"bytes; {results['cpus']} CPUs, load average {results['load_average']:.1f} at the start",
             f"{'target':42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'idle held':>9}  socket errors"]
    for name, r in results["targets"].items():
        lines.append(f"{name:42} {r['requests_per_s']:>9.0f} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['errors']:>7} "
                     f"{r['idle_still_open_after']:>9}  {r['socket_errors'] or '-'}")
    if "nginx" in results:
        lines.append(f"nginx: {results['nginx']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=16, help="keep-alive connections loading the target")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--idle", type=int, default=150, help="idle/slow connections held open meanwhile")
    p.add_argument("--repeat", type=int, default=1, help="rounds over all targets; each keeps its best")
    p.add_argument("--compare-with", type=Path, default=None, metavar="CHECKOUT",
                   help="also measure the serve of another checkout (e.g. a worktree of main) on the same files")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    results = benchmark(seconds=args.seconds, clients=args.clients, threads=args.threads, idle=args.idle,
                        repeat=args.repeat, compare_with=args.compare_with)
    print(table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
