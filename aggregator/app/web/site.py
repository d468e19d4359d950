"""`massage-events serve`: the feeds, the page, events.json and a health check, over waitress.

A thin shell over the output folder: it reads calendar.ics and events.json as the
last run published them (and the database read-only, for /healthz). Filtered
feeds are cut from the published calendar.ics (publish_ics.select_from_calendar),
so a filtered feed carries exactly the SEQUENCE and DTSTAMP of the full one.

    GET /calendar.ics[?region=IL&tag=ce&source=amta-il]   text/calendar; charset=utf-8
    GET /events.json        GET /            GET /event/<uid>.ics     GET /healthz
    GET /static/<file>      the page's CSS and script (the CSP allows only 'self')

Every response: strong ETag (of the bytes sent), Last-Modified, 304 on a match,
gzip only when asked for, CSP / nosniff / Referrer-Policy. Subscription routes
(aggregator.app.web.subscribe) and the scheduler (aggregator.app.scheduler) are mounted
when those modules are installed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from waitress.channel import HTTPChannel
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from aggregator.codec import event_from_dict
from aggregator.model import Event
from aggregator.publish.feeds import FeedFilter, feed_title
from aggregator.publish.html import render_page
from aggregator.publish.ics import select_from_calendar
from aggregator.resources import static_dir
from aggregator.config.settings import Config
from aggregator.store.locator import as_database

log = logging.getLogger(__name__)

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'"
# The subscription pages (aggregator.app.web.subscribe) carry their CSS inline; scripts stay 'self' only.
SUBSCRIBE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the page's own
    # form posts, and the subscription endpoints tell their own forms from other sites' by Origin.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
ICS_TYPE = "text/calendar; charset=utf-8"
# Bodies this large go to waitress as a wsgi.file_wrapper (sent from, not copied).
LARGE_BODY = 256 * 1024
# The requests most clients make (a calendar app polling the feed): served from prepared answers.
FAST_PATHS = {"/calendar.ics": "calendar.ics", "/events.json": "events.json"}
FAST_PATHS_TYPES = {"calendar.ics": ICS_TYPE, "events.json": "application/json; charset=utf-8"}
MAX_QUERY_VALUES = 20


@dataclass
class _Snapshot:
    """What the last run published, read once per change of the files."""

    key: tuple
    calendar: bytes
    events_json: bytes
    events: list[Event]
    generated: datetime
    modified: datetime
    # Answers made from this version: kept with it, so a request still working from the version a
    # run just replaced can never leave its answer behind for the next version's requests.
    cache: dict = field(default_factory=dict)  # (kind, filter) -> bytes
    prepared: dict = field(default_factory=dict)  # (name, gzip) -> a whole answer of App._fast


class Site:
    """The output folder as the server sees it; re-read when a run replaces the files."""

    def __init__(self, config: Config, db_path: Path, out_dir: Path) -> None:
        self.config = config
        self.db_path = as_database(db_path)
        self.out_dir = Path(out_dir)
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._failed_key: tuple | None = None
        self._watched = tuple(str(self.out_dir / name) for name in ("calendar.ics", "events.json"))

    def _stat_key(self) -> tuple:
        key = []
        for path in self._watched:
            try:
                st = os.stat(path)
                key.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                key.append(None)
        return tuple(key)

    def snapshot(self) -> _Snapshot | None:
        """The published files, re-read when a run replaced them; the last good ones when unreadable."""
        key = self._stat_key()
        with self._lock:
            if self._snapshot is not None and self._snapshot.key == key:
                return self._snapshot
            if None in key:
                return self._snapshot
            try:
                fresh = self._read(key)
            except (OSError, ValueError, KeyError, TypeError) as e:
                if key != self._failed_key:
                    log.error("the published files in %s are unreadable (%s); serving the last good ones",
                              self.out_dir, e)
                    self._failed_key = key
                return self._snapshot
            self._snapshot = fresh
            return fresh

    def _read(self, key: tuple) -> _Snapshot:
        calendar = (self.out_dir / "calendar.ics").read_bytes()
        if not calendar.startswith(b"BEGIN:VCALENDAR"):
            raise ValueError("calendar.ics is not a calendar")
        events_json = (self.out_dir / "events.json").read_bytes()
        document = json.loads(events_json)
        events = [event_from_dict(d) for d in document["events"]]
        generated = datetime.fromisoformat(document["generated"])
        mtime = max((self.out_dir / n).stat().st_mtime for n in ("calendar.ics", "events.json"))
        modified = datetime.fromtimestamp(int(mtime), timezone.utc)
        return _Snapshot(key, calendar, events_json, events, generated, modified)

    def cached(self, snap: _Snapshot, key: tuple, make) -> bytes:
        with self._lock:
            if key in snap.cache:
                return snap.cache[key]
        data = make()
        with self._lock:
            if len(snap.cache) > 256:
                snap.cache.clear()
            snap.cache[key] = data
        return data


# --- responses ----------------------------------------------------------------------------------

def _accepts_gzip(request: Request) -> bool:
    return _gzip_accepted(request.headers.get("Accept-Encoding", ""))


@lru_cache(maxsize=128)
def _gzip_accepted(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


@lru_cache(maxsize=64)
def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


@lru_cache(maxsize=32)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)  # mtime=0: the same bytes every time


def send(request: Request, body: bytes, content_type: str, *, modified: datetime | None = None,
         max_age: int = 300, filename: str | None = None) -> Response:
    """A cacheable response: strong ETag per representation, Last-Modified, 304, gzip on request."""
    digest = _digest(body)
    use_gzip = _accepts_gzip(request) and len(body) > 512
    etag = digest + ("-gz" if use_gzip else "")
    headers = {"Vary": "Accept-Encoding", "Cache-Control": f"public, max-age={max_age}"}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.astimezone(timezone.utc), usegmt=True)
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    not_modified = False
    if request.if_none_match:
        # weak comparison for If-None-Match (RFC 9110): our -gz and plain tags name the same content
        not_modified = request.if_none_match.contains_weak(etag) or request.if_none_match.contains_weak(digest) \
            or request.if_none_match.star_tag
    elif request.if_modified_since is not None and modified is not None:
        not_modified = int(modified.timestamp()) <= int(request.if_modified_since.timestamp())
    if not_modified:
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    if use_gzip:
        body = _gzipped(body)
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        response = Response(b"", content_type=content_type, headers=headers)
    elif len(body) >= LARGE_BODY:
        # waitress copies a body it is handed as bytes into its output buffer (a temporary file past
        # 1 MiB); a wsgi.file_wrapper it sends from directly, block by block, as the socket drains.
        response = Response(wrap_file(request.environ, io.BytesIO(body)), content_type=content_type,
                            headers=headers, direct_passthrough=True)
    else:
        response = Response(body, content_type=content_type, headers=headers)
    response.set_etag(etag)
    response.content_length = len(body)
    return response


def _not_modified(if_none_match: str, etag: str, digest: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110): our -gz and plain tags name the same content."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') in (etag, digest):
            return True
    return False


def _page(status: int, title: str, text: str) -> Response:
    import html

    body = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/page.css"></head><body><main><h1>{html.escape(title)}</h1>'
            f'<p>{html.escape(text)}</p><p><a href="/">Back to the events</a></p></main></body></html>')
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _no_run_yet() -> Response:
    return _page(503, "Nothing published yet",
                 "No run has published the calendar yet. Run `massage-events run` (the scheduler does it "
                 "by itself when enabled), then reload.")


# --- the app ------------------------------------------------------------------------------------

class App:
    """The WSGI application."""

    def __init__(self, config: Config, db_path: Path, out_dir: Path) -> None:
        self.config = config
        self.site = Site(config, db_path, out_dir)
        self.names = {s.id: (s.name or s.id) for s in config.sources}
        rules = [
            Rule("/", endpoint=self.index, methods=["GET", "HEAD"]),
            Rule("/index.html", endpoint=self.index, methods=["GET", "HEAD"]),
            Rule("/calendar.ics", endpoint=self.calendar, methods=["GET", "HEAD"]),
            Rule("/events.json", endpoint=self.events_json, methods=["GET", "HEAD"]),
            Rule("/event/<path:name>", endpoint=self.event_ics, methods=["GET", "HEAD"]),
            Rule("/feeds/<path:name>", endpoint=self.declared_feed, methods=["GET", "HEAD"]),
            Rule("/healthz", endpoint=self.healthz, methods=["GET", "HEAD"]),
            Rule("/static/<name>", endpoint=self.static, methods=["GET", "HEAD"]),
        ]
        self.subscribe_url = None
        for rule, endpoint, methods in _subscription_routes(config, db_path, out_dir):
            rules.append(Rule(rule, endpoint=_with_csp(endpoint, SUBSCRIBE_CSP), methods=list(methods)))
            if rule.rstrip("/") == "/subscribe":
                self.subscribe_url = "/subscribe"
        self.url_map = Map(rules, strict_slashes=False)

    # endpoints
    def index(self, request: Request) -> Response:
        snap = self.site.snapshot()
        if snap is None:
            return _no_run_yet()
        selected = _filter(request)
        body = self.site.cached(snap, ("page", selected), lambda: render_page(
            snap.events, self.config, snap.generated, selected=selected, inline_assets=False,
            subscribe_url=self.subscribe_url))
        return send(request, body, "text/html; charset=utf-8", modified=snap.modified, max_age=60)

    def calendar(self, request: Request) -> Response:
        snap = self.site.snapshot()
        if snap is None:
            return _no_run_yet()
        selected = _filter(request)
        if selected.empty:
            body = snap.calendar
        else:
            def make() -> bytes:
                uids = {e.uid for e in selected.select(snap.events)}
                return select_from_calendar(snap.calendar, uids,
                                            name=feed_title(self.config.calendar.name, selected.label()))
            body = self.site.cached(snap, ("ics", selected), make)
        return send(request, body, ICS_TYPE, modified=snap.modified)

    def events_json(self, request: Request) -> Response:
        snap = self.site.snapshot()
        if snap is None:
            return _no_run_yet()
        return send(request, snap.events_json, "application/json; charset=utf-8", modified=snap.modified)

    def event_ics(self, request: Request, name: str) -> Response:
        if not name.endswith(".ics"):
            raise NotFound()
        uid = name[: -len(".ics")]
        snap = self.site.snapshot()
        if snap is None:
            return _no_run_yet()
        if uid not in {e.uid for e in snap.events}:
            return _page(404, "No such event", "This event is not (or no longer) in the calendar.")
        body = self.site.cached(snap, ("event", uid), lambda: select_from_calendar(snap.calendar, {uid},
                                                                              subscription=False))
        safe_name = "".join(c if c.isalnum() or c in "-_." else "-" for c in uid)[:80] + ".ics"
        return send(request, body, ICS_TYPE, modified=snap.modified, filename=safe_name)

    def declared_feed(self, request: Request, name: str) -> Response:
        for spec in getattr(self.config, "feeds", ()):
            if spec.path == f"feeds/{name}":
                path = self.site.out_dir / spec.path
                if path.is_file():
                    snap = self.site.snapshot()
                    return send(request, path.read_bytes(), ICS_TYPE, modified=snap.modified if snap else None)
        raise NotFound()

    def static(self, request: Request, name: str) -> Response:
        path = static_dir() / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise NotFound()
        kind = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}.get(
            path.suffix.lstrip("."), "application/octet-stream")
        modified = datetime.fromtimestamp(int(path.stat().st_mtime), timezone.utc)
        return send(request, path.read_bytes(), kind, modified=modified, max_age=3600)

    def healthz(self, request: Request) -> Response:
        body, ok = health(self.site)
        response = Response(json.dumps(body, indent=1) + "\n", status=200 if ok else 503,
                            content_type="application/json; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        return response

    # WSGI
    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            return endpoint(request, **values)
        except RequestRedirect as e:
            # werkzeug builds the target (e.g. /feeds//x -> /feeds/x) from the client's Host header;
            # a redirect must never point where a client says we are, only where we are configured.
            target = urlsplit(e.new_url)
            location = self.config.calendar.base_url + target.path + (f"?{target.query}" if target.query else "")
            return Response(status=308, headers={"Location": location})
        except NotFound:
            return _page(404, "Not found", "There is nothing at this address.")
        except MethodNotAllowed as e:
            response = _page(405, "Method not allowed", "This address only answers GET.")
            response.headers["Allow"] = ", ".join(e.valid_methods or ["GET", "HEAD"])
            return response
        except HTTPException as e:
            return e.get_response(request.environ)

    def _fast(self, environ, start_response):
        """The published feed and events.json, as most requests ask for them (GET, no query, maybe
        If-None-Match): answered from headers prepared once per published version, without building
        a request and a response object each time. None: not such a request; the full path answers."""
        name = FAST_PATHS.get(environ.get("PATH_INFO"))
        method = environ.get("REQUEST_METHOD")
        if name is None or method not in ("GET", "HEAD") or environ.get("QUERY_STRING") \
                or "HTTP_IF_MODIFIED_SINCE" in environ and "HTTP_IF_NONE_MATCH" not in environ:
            return None
        snap = self.site.snapshot()
        if snap is None:
            return None
        wants_gzip = _gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", ""))
        prepared = snap.prepared.get((name, wants_gzip))
        if prepared is None:
            body = snap.calendar if name == "calendar.ics" else snap.events_json
            digest = _digest(body)
            use_gzip = wants_gzip and len(body) > 512
            etag = digest + ("-gz" if use_gzip else "")
            common = [("ETag", f'"{etag}"'), ("Vary", "Accept-Encoding"), ("Cache-Control", "public, max-age=300"),
                      ("Last-Modified", format_datetime(snap.modified.astimezone(timezone.utc), usegmt=True)),
                      *SECURITY_HEADERS.items()]
            sent = _gzipped(body) if use_gzip else body
            full = [("Content-Type", FAST_PATHS_TYPES[name]), ("Content-Length", str(len(sent))), *common] \
                + ([("Content-Encoding", "gzip")] if use_gzip else [])
            prepared = (etag, digest, sent, full, common)
            snap.prepared[(name, wants_gzip)] = prepared
        etag, digest, sent, full, common = prepared
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and _not_modified(if_none_match, etag, digest):
            start_response("304 Not Modified", list(common))
            return []
        start_response("200 OK", list(full))
        if method == "HEAD":
            return []
        if len(sent) >= LARGE_BODY and "wsgi.file_wrapper" in environ:
            return environ["wsgi.file_wrapper"](io.BytesIO(sent), 65536)
        return [sent]

    def __call__(self, environ, start_response):
        try:
            fast = self._fast(environ, start_response)
        except Exception:  # noqa: BLE001 - the full path below answers (and logs) whatever this was
            log.debug("fast path failed for %s", environ.get("PATH_INFO"), exc_info=True)
            fast = None
        if fast is not None:
            return fast
        request = Request(environ)
        request.max_content_length = 64 * 1024
        try:
            response = self.dispatch(request)
        except Exception:  # the server's error boundary: logged with the traceback, never shown
            log.exception("error serving %s", request.path)
            response = _page(500, "Something went wrong", "The server could not answer; the error is logged.")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)


def _filter(request: Request) -> FeedFilter:
    args = request.args
    for key in ("region", "tag", "source"):
        if len(args.getlist(key)) > MAX_QUERY_VALUES:
            from werkzeug.exceptions import BadRequest

            raise BadRequest(f"too many {key} values")
    return FeedFilter.from_query(args)


def health(site: Site) -> tuple[dict, bool]:
    """The /healthz document: ok, the last run, how many events, failing sources."""
    snap = site.snapshot()
    body: dict = {"ok": snap is not None, "events": len(snap.events) if snap else 0,
                  "generated": snap.generated.isoformat() if snap else None,
                  "last_run": None, "failing_sources": []}
    if site.db_path.is_postgres:
        _health_from_server(site, body)
    elif site.db_path.path.is_file():
        try:
            db = sqlite3.connect(f"file:{site.db_path.path}?mode=ro", uri=True, timeout=2)
            try:
                row = db.execute("SELECT started, finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()
                if row:
                    body["last_run"] = {"started": row[0], "finished": row[1]}
                body["failing_sources"] = [r[0] for r in db.execute(
                    "SELECT source FROM source_health WHERE consecutive_failures > 0 ORDER BY source")]
            finally:
                db.close()
        except sqlite3.Error as e:
            body["database"] = f"not readable: {e}"
    return body, body["ok"]


def _health_from_server(site: Site, body: dict) -> None:
    """The last run and the failing sources, read from the PostgreSQL database."""
    from aggregator.store.database import Store

    try:
        with Store(site.db_path) as store:
            row = store.db.execute("SELECT started, finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if row:
                body["last_run"] = {"started": row[0], "finished": row[1]}
            body["failing_sources"] = [r[0] for r in store.db.execute(
                "SELECT source FROM source_health WHERE consecutive_failures > 0 ORDER BY source")]
    except Exception as e:  # /healthz reports, never fails (an unreachable server included)
        body["database"] = f"not readable: {e}"


def _subscription_routes(config: Config, db_path: Path, out_dir: Path) -> list:
    try:
        from aggregator.app.web import subscribe as web_subscribe
    except ImportError:
        return []
    try:
        return list(web_subscribe.routes(config, db_path, out_dir))
    except TypeError:  # an older routes(config, db_path)
        return list(web_subscribe.routes(config, db_path))


def _with_csp(endpoint, policy: str):
    def view(request: Request, **values) -> Response:
        response = endpoint(request, **values)
        response.headers.setdefault("Content-Security-Policy", policy)
        return response

    view.__name__ = getattr(endpoint, "__name__", "view")
    return view


def make_app(config: Config, db_path: Path, out_dir: Path) -> App:
    """The WSGI app over `out_dir` (tests run it under waitress on 127.0.0.1:0)."""
    return App(config, as_database(db_path), Path(out_dir))


def server_settings(config: Config, **options) -> dict:
    """waitress settings for a public address, from sources.yaml's `serve:` section.

    waitress keeps slow and idle clients in its I/O loop, not in a thread, so they cost a
    socket each; the connection limit is therefore high (waitress's default of 100 lets 101
    idle sockets lock everyone out), poll() replaces select() (which stops at 1,024 sockets),
    and a client gets `request_timeout` seconds to send one whole request, however slowly
    it trickles: the idle timeout alone never closes a client that sends a byte now and then.
    """
    serve = config.serve
    settings = dict(threads=serve.threads, connection_limit=serve.connection_limit,
                    channel_timeout=serve.channel_timeout, cleanup_interval=serve.cleanup_interval,
                    backlog=serve.backlog, asyncore_use_poll=True, asyncore_loop_timeout=1,
                    max_request_header_size=64 * 1024, max_request_body_size=1024 * 1024,
                    ident="massage-events",
                    # X-Forwarded-* headers are read by the app itself, and only from serve.trusted_proxies
                    # (a network list, which waitress's single trusted_proxy address cannot express).
                    clear_untrusted_proxy_headers=not serve.trusted_proxies)
    settings.update(options)
    return settings


class _Channel(HTTPChannel):
    """waitress's channel, remembering when the request being read began (see _close_slow_requests)."""

    request_began: float | None = None

    def received(self, data):
        before = self.request
        result = super().received(data)
        if self.request is None:
            self.request_began = None
        elif self.request is not before:
            self.request_began = time.monotonic()
        return result


def _close_slow_requests(server, request_timeout: float):
    """Wrap the server's periodic maintenance: also close a connection that has been sending one
    request for longer than request_timeout (what nginx's client_header_timeout does)."""
    idle_maintenance = server.maintenance

    def maintenance(now):
        idle_maintenance(now)
        cutoff = time.monotonic() - request_timeout
        for channel in list(server.active_channels.values()):
            began = getattr(channel, "request_began", None)
            if began is not None and began < cutoff and not channel.requests:
                log.info("closing a connection from %s: no whole request in %g s", channel.addr, request_timeout)
                channel.will_close = True

    return maintenance


def make_server(config: Config, db_path: Path, out_dir: Path, host: str = "127.0.0.1", port: int = 8000, **options):
    """A waitress server (not yet running) for the app: `run_server(server, stop_event)` serves it.

    `options` override waitress settings (tests pass a short asyncore_loop_timeout); `request_timeout`
    overrides sources.yaml's serve.request_timeout."""
    from waitress.server import create_server

    request_timeout = options.pop("request_timeout", config.serve.request_timeout)
    server = create_server(make_app(config, db_path, out_dir), host=host, port=port,
                           **server_settings(config, **options))
    server.channel_class = _Channel
    server.maintenance = _close_slow_requests(server, request_timeout)
    return server


def run_server(server, stop: threading.Event) -> None:
    """Serve until `stop` is set, then close the listener, open connections and workers (in this thread)."""
    timeout = min(server.adj.asyncore_loop_timeout, 0.5)
    try:
        while not stop.is_set() and server._map:
            server.asyncore.loop(timeout=timeout, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
    finally:
        for channel in list(server._map.values()):
            channel.close()
        server.close()
        server.task_dispatcher.shutdown()


def serve_command(config: Config, db_path: Path, out_dir: Path, host: str, port: int, bucket=None) -> int:
    """Serve until SIGTERM or SIGINT, with the scheduler when it is installed and enabled; exit code 0."""
    server = make_server(config, db_path, out_dir, host, port)
    scheduler = None
    try:
        from aggregator.app import scheduler as scheduling
    except ImportError:
        scheduling = None
    if scheduling is not None and config.schedule.enabled:
        scheduler = scheduling.start_scheduler(config, db_path, out_dir, bucket=bucket)

    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    real_host, real_port = server.effective_host, server.effective_port
    print(f"serving {out_dir} on http://{real_host}:{real_port}/  (calendar: /calendar.ics, health: /healthz;"
          f" Ctrl-C stops)", flush=True)
    try:
        run_server(server, stopping)
    finally:
        if scheduler is not None:
            stop_fn = getattr(scheduling, "stop", None) or getattr(scheduling, "stop_scheduler", None)
            if stop_fn is not None:
                stop_fn(scheduler)
            else:
                scheduler.shutdown(wait=False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("stopped", flush=True)
    return 0
