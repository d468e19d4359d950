"""A real HTTP server on 127.0.0.1 for the tests, with a request log.

GET /files/<path> serves tests/fixtures/<path> (Content-Type from the extension, ?type=
overrides; an ETag, so a caching client gets 304). Routes for faults live in ROUTES, each
documented on its function: /status/N, /flaky/, /hang, /delay, /trickle, /drip/, /stall, /reset,
/short, /big, /gzipbomb, /chained, /redirect/{loop,hops/N,to,moved}, /cloudflare, /empty,
/html-as-feed, /volatile/, /doc/, /slow/ (concurrency gauge) and /robots.txt.
Every request is logged so tests can assert politeness and caching.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
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
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stalls)
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


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def send_conditional(handler: Handler, body: bytes, content_type: str, *, etag: bool = True,
                     last_modified: str | None = None, headers: dict | None = None) -> None:
    """200 with validators, or 304 when the request's If-None-Match / If-Modified-Since match."""
    headers = dict(headers or {})
    tag = _etag(body) if etag else None
    if tag:
        headers["ETag"] = tag
    if last_modified:
        headers["Last-Modified"] = last_modified
    inm = handler.headers.get("If-None-Match")
    ims = handler.headers.get("If-Modified-Since")
    if (tag and inm and tag in [t.strip() for t in inm.split(",")]) or \
            (not inm and last_modified and ims and _not_after(last_modified, ims)):
        handler.send_response(304)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        return
    handler.send_plain(200, body, content_type, headers=headers)


def _not_after(last_modified: str, since: str) -> bool:
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def serve_file(handler: Handler, rest: str, query: dict) -> None:
    root = handler.server.root
    path = (root / rest).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        return handler.send_plain(404, b"no such fixture")
    content_type = query.get("type") or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # An ETag (and Last-Modified when ?last_modified= is given) like any real server: a client
    # with a cache revalidates and gets 304. ?novalidators=1 serves neither.
    bare = "novalidators" in query
    send_conditional(handler, path.read_bytes(), content_type, etag=not bare,
                     last_modified=None if bare else query.get("last_modified"))


def serve_status(handler: Handler, rest: str, query: dict) -> None:
    """/status/N[?retry_after=S][&retry_date=S]: answer N (Retry-After in seconds or as an HTTP date)."""
    code = int(rest.strip("/") or 500)
    headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
    if "retry_date" in query:
        headers["Retry-After"] = formatdate(time.time() + float(query["retry_date"]), usegmt=True)
    handler.send_plain(code, f"status {code}".encode(), headers=headers)


def serve_flaky(handler: Handler, rest: str, query: dict) -> None:
    """/flaky/<key>?fail=N&code=503[&retry_after=S]: answer `code` N times for key, then the fixture
    ?file=<path> (or a small text body)."""
    key = rest.strip("/")
    with handler.server.lock:
        seen = handler.server.counters[key] = handler.server.counters.get(key, 0) + 1
    if seen <= int(query.get("fail", 1)):
        code = int(query.get("code", 503))
        headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
        return handler.send_plain(code, f"status {code}".encode(), headers=headers)
    if "file" in query:
        return serve_file(handler, query["file"], {})
    handler.send_plain(200, f"ok after {seen - 1} failures".encode())


def _sleep(handler: Handler, seconds: float) -> None:
    """Sleep in small steps so the server can shut down."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not handler.server.stopping.is_set():
        time.sleep(0.05)


def serve_hang(handler: Handler, rest: str, query: dict) -> None:
    """/hang?s=S: read the request, then never answer (for S seconds, default 30)."""
    _sleep(handler, float(query.get("s", 30)))
    handler.close_connection = True


def serve_delay(handler: Handler, rest: str, query: dict) -> None:
    """/delay?s=S[&file=path]: answer after S seconds."""
    _sleep(handler, float(query.get("s", 1)))
    if "file" in query:
        return serve_file(handler, query["file"], {})
    handler.send_plain(200, b"late but fine")


def serve_trickle(handler: Handler, rest: str, query: dict) -> None:
    """/trickle?n=N&every=S: headers at once, then the body one byte every S seconds (default 1)."""
    n, every = int(query.get("n", 100)), float(query.get("every", 1))
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", str(n))
    handler.end_headers()
    try:
        for _ in range(n):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            _sleep(handler, every)
    except OSError:
        pass
    handler.close_connection = True


def serve_drip(handler: Handler, rest: str, query: dict) -> None:
    """/drip/<how>?every=S&n=N: a peer that never trips a read timeout, one byte every S seconds
    (default 2) for N bytes. <how> is `headers` (the status line and headers a byte at a time),
    `length` (headers at once with a Content-Length, then the body), `nolength` (no length: the
    body ends when the connection closes) or `chunked` (one byte per chunk)."""
    every, n = float(query.get("every", 2)), int(query.get("n", 1000))
    body = b"BEGIN:VCALENDAR\r\n" + b"X" * n
    head = [b"HTTP/1.1 200 OK", b"Content-Type: text/calendar"]
    if rest in ("headers", "length"):
        head.append(b"Content-Length: %d" % len(body))
    elif rest == "chunked":
        head.append(b"Transfer-Encoding: chunked")
    else:
        head.append(b"Connection: close")
    head_bytes = b"\r\n".join(head) + b"\r\n\r\n"
    if rest == "headers":
        drip, rest_of = head_bytes, b""
    else:
        drip, rest_of = body, b""
        handler.wfile.write(head_bytes)
    try:
        handler.wfile.flush()
        for i in range(len(drip)):
            if handler.server.stopping.is_set():
                break
            byte = drip[i:i + 1]
            handler.wfile.write(b"1\r\n" + byte + b"\r\n" if rest == "chunked" else byte)
            handler.wfile.flush()
            _sleep(handler, every)
        handler.wfile.write(rest_of)
    except OSError:
        pass
    handler.close_connection = True


def serve_stall(handler: Handler, rest: str, query: dict) -> None:
    """/stall?s=S: headers announcing a body, then nothing for S seconds."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    handler.wfile.flush()
    _sleep(handler, float(query.get("s", 30)))
    handler.close_connection = True


def serve_reset(handler: Handler, rest: str, query: dict) -> None:
    """/reset: headers and part of the body, then a TCP RST (SO_LINGER 0)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"BEGIN:VCALENDAR\r\n" * 50)
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def serve_short(handler: Handler, rest: str, query: dict) -> None:
    """/short: Content-Length 1000 but only 10 bytes, then the connection closes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    handler.wfile.write(b"BEGIN:VCAL")
    handler.wfile.flush()
    handler.close_connection = True


def serve_big(handler: Handler, rest: str, query: dict) -> None:
    """/big?mb=50: a generated body of that many MiB (never a file), Content-Length set."""
    size = int(float(query.get("mb", 50)) * 1024 * 1024)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", str(size))
    handler.end_headers()
    block = (b"X-FILLER:" + b"x" * 1013 + b"\r\n") * 64  # 64 KiB
    try:
        sent = 0
        while sent < size:
            chunk = block[:size - sent]
            handler.wfile.write(chunk)
            sent += len(chunk)
    except OSError:
        pass
    handler.close_connection = True


_BOMB_MEMBER: dict[int, bytes] = {}


def _gzip_zeros(mib: int) -> bytes:
    if mib not in _BOMB_MEMBER:
        _BOMB_MEMBER[mib] = gzip.compress(b"\0" * (mib * 1024 * 1024), compresslevel=9)
    return _BOMB_MEMBER[mib]


def serve_gzipbomb(handler: Handler, rest: str, query: dict) -> None:
    """/gzipbomb?mb=1024: a gzip body (~1 KB per MiB) inflating to that many MiB of zeros.

    Built from concatenated gzip members (valid per RFC 1952), so it costs nothing to make.
    """
    member = _gzip_zeros(8)
    count = max(1, int(query.get("mb", 1024)) // 8)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(member) * count))
    handler.end_headers()
    try:
        for _ in range(count):
            handler.wfile.write(member)
    except OSError:
        pass
    handler.close_connection = True


def serve_chained(handler: Handler, rest: str, query: dict) -> None:
    """/chained?n=3: `Content-Encoding: gzip, gzip, gzip` (a small body compressed n times)."""
    n = int(query.get("n", 3))
    body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" * 1000
    for _ in range(n):
        body = gzip.compress(body)
    handler.send_plain(200, body, "text/calendar", headers={"Content-Encoding": ", ".join(["gzip"] * n)})


def serve_redirect(handler: Handler, rest: str, query: dict) -> None:
    """/redirect/loop, /redirect/hops/N (N hops, then ?file= or a text body),
    /redirect/to?url=U[&code=302], /redirect/moved?file=path[&code=301]."""
    code = int(query.get("code", 302))
    kind, _, arg = rest.strip("/").partition("/")
    tail = ("?" + urlsplit(handler.path).query) if urlsplit(handler.path).query else ""
    if kind == "loop":
        target = "/redirect/loop2" + tail if not arg else "/redirect/loop" + tail
        return _send_redirect(handler, code, target)
    if kind == "loop2":
        return _send_redirect(handler, code, "/redirect/loop" + tail)
    if kind == "hops":
        left = int(arg or 0)
        if left > 0:
            return _send_redirect(handler, code, f"/redirect/hops/{left - 1}{tail}")
        if "file" in query:
            return serve_file(handler, query["file"], {})
        return handler.send_plain(200, b"arrived")
    if kind == "to":
        return _send_redirect(handler, code, query["url"])
    if kind == "moved":
        return _send_redirect(handler, int(query.get("code", 301)), "/files/" + query["file"])
    handler.send_plain(404, b"no such redirect")


def _send_redirect(handler: Handler, code: int, location: str) -> None:
    handler.send_plain(code, b"moved", headers={"Location": location})


def serve_cloudflare(handler: Handler, rest: str, query: dict) -> None:
    """/cloudflare: a Cloudflare-style 403 challenge page."""
    body = (b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
            b"<body><h1>Sorry, you have been blocked</h1></body></html>")
    handler.send_plain(403, body, "text/html; charset=UTF-8",
                       headers={"Server": "cloudflare", "CF-RAY": "8a1b2c3d4e5f6789-ORD"})


def serve_empty(handler: Handler, rest: str, query: dict) -> None:
    """/empty: 200 with an empty body (Content-Type from ?type=, default text/calendar)."""
    handler.send_plain(200, b"", query.get("type", "text/calendar"))


def serve_html_as_feed(handler: Handler, rest: str, query: dict) -> None:
    """/html-as-feed: an HTML error page served as text/calendar (or ?type=)."""
    body = b"<!DOCTYPE html><html><head><title>Page moved</title></head><body><p>Oops</p></body></html>"
    handler.send_plain(200, body, query.get("type", "text/calendar"))


def serve_volatile(handler: Handler, rest: str, query: dict) -> None:
    """/volatile/<fixture>: the fixture with every DTSTAMP rewritten to now, and no validators
    (Google and Meetup do this): the bytes differ on every request, the events do not."""
    path = (handler.server.root / rest).resolve()
    if handler.server.root.resolve() not in path.parents or not path.is_file():
        return handler.send_plain(404, b"no such fixture")
    with handler.server.lock:
        n = handler.server.counters["volatile"] = handler.server.counters.get("volatile", 0) + 1
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + n)).encode()
    body = re.sub(rb"(?m)^DTSTAMP:[^\r\n]*", b"DTSTAMP:" + stamp, path.read_bytes())
    handler.send_plain(200, body, "text/calendar")


def serve_doc(handler: Handler, rest: str, query: dict) -> None:
    """/doc/<name>: a document the test sets in server.documents[name] = Doc(...), so a test can
    change a source between runs; validators as the Doc says."""
    doc = handler.server.documents.get(rest.strip("/"))
    if doc is None:
        return handler.send_plain(404, b"no such document")
    send_conditional(handler, doc.body, doc.content_type, etag=doc.etag, last_modified=doc.last_modified)


def serve_slow(handler: Handler, rest: str, query: dict) -> None:
    """/slow/<fixture>?delay=S: the fixture after S seconds (default 0.2), counted by the
    concurrency gauge: server.max_in_flight[host] is the most requests in flight at once."""
    host = handler.headers.get("Host", "")
    server = handler.server
    with server.lock:
        server.in_flight[host] = server.in_flight.get(host, 0) + 1
        server.max_in_flight[host] = max(server.max_in_flight.get(host, 0), server.in_flight[host])
    try:
        _sleep(handler, float(query.get("delay", 0.2)))
        if rest.strip("/"):
            return serve_file(handler, rest, {})
        handler.send_plain(200, b"slow")
    finally:
        with server.lock:
            server.in_flight[host] -= 1


def serve_robots(handler: Handler, rest: str, query: dict) -> None:
    """/robots.txt: server.robots = (status, body); by default only /private/ is disallowed."""
    status, body = handler.server.robots
    handler.send_plain(status, body, "text/plain")


def serve_switch(handler: Handler, rest: str, query: dict) -> None:
    """/switch/<name>: answers as the path in server.switches[name] does, so a test can turn a
    healthy source into a faulty one between two runs without changing sources.yaml."""
    target = handler.server.switches.get(rest.strip("/"))
    if target is None:
        return handler.send_plain(404, b"no such switch")
    parts = urlsplit(target)
    target_query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    for prefix, route in ROUTES.items():
        if parts.path.startswith(prefix):
            return route(handler, parts.path[len(prefix):], target_query)
    handler.send_plain(404, b"not found")


@dataclass
class Doc:
    body: bytes
    content_type: str = "text/calendar"
    etag: bool = True
    last_modified: str | None = None


DEFAULT_ROBOTS = (200, b"User-agent: *\nDisallow: /private/\n")

ROUTES = {
    "/files/": serve_file,
    "/status/": serve_status,
    "/flaky/": serve_flaky,
    "/hang": serve_hang,
    "/delay": serve_delay,
    "/trickle": serve_trickle,
    "/stall": serve_stall,
    "/drip/": serve_drip,
    "/reset": serve_reset,
    "/short": serve_short,
    "/big": serve_big,
    "/gzipbomb": serve_gzipbomb,
    "/chained": serve_chained,
    "/redirect/": serve_redirect,
    "/cloudflare": serve_cloudflare,
    "/empty": serve_empty,
    "/html-as-feed": serve_html_as_feed,
    "/volatile/": serve_volatile,
    "/doc/": serve_doc,
    "/slow/": serve_slow,
    "/private/": serve_file,
    "/robots.txt": serve_robots,
    "/switch/": serve_switch,
}


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path = FIXTURES) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.log: list[LoggedRequest] = []
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}  # /flaky/<key>
        self.documents: dict[str, Doc] = {}  # /doc/<name>
        self.in_flight: dict[str, int] = {}  # /slow/: requests in flight per Host header
        self.max_in_flight: dict[str, int] = {}
        self.robots = DEFAULT_ROBOTS
        self.switches: dict[str, str] = {}  # /switch/<name> -> another route
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (a refused body, a deadline) is expected here, not news."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def start(self) -> "LoopbackServer":
        _gzip_zeros(8)  # built now, not inside the first /gzipbomb request's read timeout
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget the log, the counters, documents, gauges and robots overrides."""
        self.log.clear()
        with self.lock:
            self.counters.clear()
            self.documents.clear()
            self.in_flight.clear()
            self.max_in_flight.clear()
            self.switches.clear()
        self.robots = DEFAULT_ROBOTS

    @property
    def localhost_url(self) -> str:
        """The same server under another host name (another origin for the client)."""
        return f"http://localhost:{self.server_address[1]}"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
