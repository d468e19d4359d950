"""A real HTTP server on 127.0.0.1 for the tests, with a request log.

GET /files/<path> serves tests/fixtures/<path> (Content-Type from the extension).
Routes for faults (/status/N, /delay, /trickle, /reset, /big, /gzipbomb, ...)
live in ROUTES; every request is logged so tests can assert politeness and caching.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"
mimetypes.add_type("text/calendar", ".ics")
mimetypes.add_type("application/rss+xml", ".rss")
mimetypes.add_type("application/atom+xml", ".atom")
mimetypes.add_type("application/mbox", ".mbox")


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict
    at: float = field(default_factory=time.monotonic)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "LoopbackServer"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.server.log.append(LoggedRequest("GET", self.path, dict(self.headers)))
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        for prefix, route in ROUTES.items():
            if parts.path.startswith(prefix):
                return route(self, parts.path[len(prefix):], query)
        self.send_plain(404, b"not found")

    def send_plain(self, status: int, body: bytes, content_type: str = "text/plain",
                   headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def serve_file(handler: Handler, rest: str, query: dict) -> None:
    root = handler.server.root
    path = (root / rest).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        return handler.send_plain(404, b"no such fixture")
    content_type = query.get("type") or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    handler.send_plain(200, path.read_bytes(), content_type)


def serve_status(handler: Handler, rest: str, query: dict) -> None:
    code = int(rest.strip("/") or 500)
    headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
    handler.send_plain(code, f"status {code}".encode(), headers=headers)


ROUTES = {
    "/files/": serve_file,
    "/status/": serve_status,
}


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path = FIXTURES) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.log: list[LoggedRequest] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def start(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
