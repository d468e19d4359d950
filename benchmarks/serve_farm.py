"""Serve a generated farm on loopback, like many small web hosts would.

    python -m benchmarks.serve_farm FARM_DIR [--latency-ms 20] [--hosts 32]

Every host is a ThreadingHTTPServer on its own loopback address (127.0.0.1,
127.0.0.2, ...: the whole of 127/8 is loopback on Linux; elsewhere every host
falls back to 127.0.0.1 on its own port), so per-host politeness limits apply
per host as they would on the internet. Each answer waits --latency-ms first
(a distant server), carries an ETag and a Last-Modified, and a conditional
request whose validator still holds gets 304 Not Modified. /robots.txt allows
everything. The request log counts answers by status and records the most
connections any host had open at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROBOTS = b"User-agent: *\nAllow: /\n"


@dataclass
class LoggedRequest:
    host: str
    path: str
    status: int
    conditional: bool
    user_agent: str
    started: float
    finished: float = 0.0


@dataclass
class RequestLog:
    """What the farm answered: shared by every host, safe across threads."""

    entries: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: Counter = field(default_factory=Counter)
    peak_per_host: Counter = field(default_factory=Counter)
    peak_total: int = 0

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.peak_per_host.clear()
            self.peak_total = 0

    def enter(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] += 1
            self.peak_per_host[host] = max(self.peak_per_host[host], self.in_flight[host])
            self.peak_total = max(self.peak_total, sum(self.in_flight.values()))

    def leave(self, host: str, entry: LoggedRequest) -> None:
        with self.lock:
            self.in_flight[host] -= 1
            self.entries.append(entry)

    def counts(self) -> dict:
        """Requests by status (robots.txt counted apart), conditional ones, and peak concurrency."""
        with self.lock:
            entries = list(self.entries)
            peak_host = max(self.peak_per_host.values(), default=0)
            peak_total = self.peak_total
        feeds = [e for e in entries if e.path != "/robots.txt"]
        by_status = Counter(e.status for e in feeds)
        by_host = Counter(e.host for e in entries)  # robots.txt included: it waits its turn too
        busiest = by_host.most_common(1)
        return {
            "busiest_host": busiest[0][0] if busiest else None,
            "busiest_host_requests": busiest[0][1] if busiest else 0,
            "requests": len(feeds),
            "ok_200": by_status.get(200, 0),
            "not_modified_304": by_status.get(304, 0),
            "other": sum(v for k, v in by_status.items() if k not in (200, 304)),
            "conditional": sum(1 for e in feeds if e.conditional),
            "robots_txt": len(entries) - len(feeds),
            "peak_connections_per_host": peak_host,
            "peak_connections_total": peak_total,
        }


class FarmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall per request
    server: "_HostServer"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        farm = self.server.farm
        host = self.server.name
        started = time.monotonic()
        farm.log.enter(host)
        status = 500
        conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
        try:
            if farm.latency:
                time.sleep(farm.latency)
            path = unquote(urlsplit(self.path).path)
            if path == "/robots.txt":
                status = self._send(200, ROBOTS, "text/plain", body=body)
                return
            found = farm.lookup(path)
            if found is None:
                status = self._send(404, b"no such farm file", "text/plain", body=body)
                return
            content, content_type, etag, last_modified = found
            if self._not_modified(etag, last_modified):
                status = 304
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", last_modified)
                self.end_headers()
                return
            status = self._send(200, content, content_type, body=body,
                                headers={"ETag": etag, "Last-Modified": last_modified,
                                         "Cache-Control": "no-cache"})
        finally:
            farm.log.leave(host, LoggedRequest(host, self.path, status, conditional,
                                               self.headers.get("User-Agent", ""), started, time.monotonic()))

    def _not_modified(self, etag: str, last_modified: str) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
        return False

    def _send(self, status: int, content: bytes, content_type: str, *, body: bool = True,
              headers: dict | None = None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(content)
        return status


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, farm: "FarmServer", name: str) -> None:
        super().__init__(address, FarmHandler)
        self.farm = farm
        self.name = name


class FarmServer:
    """Serves FARM_DIR/files on `n_hosts` loopback hosts; `base_urls` lists them."""

    def __init__(self, farm_dir: Path | str, *, latency_ms: float = 0.0, n_hosts: int = 32, port: int = 0) -> None:
        self.root = Path(farm_dir) / "files"
        self.latency = latency_ms / 1000.0
        self.log = RequestLog()
        self._types = self._content_types(Path(farm_dir))
        self._cache: dict[str, tuple[bytes, str, str, str]] = {}
        self._cache_lock = threading.Lock()
        self.hosts: list[_HostServer] = []
        for i in range(max(1, n_hosts)):
            ip = f"127.0.0.{i + 1}"
            try:
                srv = _HostServer((ip, port), self, ip)
            except OSError:
                try:  # this address or port is taken: any port on the same address
                    srv = _HostServer((ip, 0), self, ip)
                except OSError:  # no 127.0.0.k here (macOS): one more port on 127.0.0.1
                    srv = _HostServer(("127.0.0.1", 0), self, f"127.0.0.1#{i}")
            port = srv.server_address[1]
            self.hosts.append(srv)
        self._threads = [threading.Thread(target=h.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                         for h in self.hosts]

    @staticmethod
    def _content_types(farm_dir: Path) -> dict[str, str]:
        meta = farm_dir / "farm.json"
        if not meta.is_file():
            return {}
        return {s["path"]: s["content_type"] for s in json.loads(meta.read_text(encoding="utf-8"))["sources"]}

    @property
    def base_urls(self) -> list[str]:
        return [f"http://{h.server_address[0]}:{h.server_address[1]}" for h in self.hosts]

    def lookup(self, path: str) -> tuple[bytes, str, str, str] | None:
        """(content, content type, ETag, Last-Modified) of a farm file, read once and kept."""
        rel = path.lstrip("/")
        with self._cache_lock:
            hit = self._cache.get(rel)
        if hit is not None:
            return hit
        file = (self.root / rel).resolve()
        if self.root.resolve() not in file.parents or not file.is_file():
            return None
        content = file.read_bytes()
        ctype = self._types.get(rel) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        etag = '"' + hashlib.sha256(content).hexdigest()[:20] + '"'
        modified = formatdate(int(file.stat().st_mtime), usegmt=True)
        found = (content, ctype, etag, modified)
        with self._cache_lock:
            self._cache[rel] = found
        return found

    def forget(self, rel: str | None = None) -> None:
        """Drop the kept copy of a file (or all) after it changed on disk."""
        with self._cache_lock:
            if rel is None:
                self._cache.clear()
            else:
                self._cache.pop(rel.lstrip("/"), None)

    def start(self) -> "FarmServer":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        for h in self.hosts:
            h.shutdown()
            h.server_close()

    def __enter__(self) -> "FarmServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve a generated farm on loopback.")
    p.add_argument("farm", type=Path)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--hosts", type=int, default=32)
    p.add_argument("--port", type=int, default=0,
                   help="the same port as a kept farm's sources.yaml (its HTTP cache is keyed by URL)")
    args = p.parse_args(argv)
    from benchmarks.farm import write_sources_yaml

    server = FarmServer(args.farm, latency_ms=args.latency_ms, n_hosts=args.hosts, port=args.port).start()
    config = write_sources_yaml(args.farm, server.base_urls)
    print(f"serving {args.farm}/files on {len(server.hosts)} hosts ({server.base_urls[0]} ...); "
          f"sources.yaml: {config}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(5)
            print(json.dumps(server.log.counts()), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
