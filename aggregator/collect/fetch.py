"""The one place massage-events touches the network.

Every adapter is handed a Fetcher; this module owns the requests session, the
HTTP cache, timeouts and deadlines, size caps, redirects, SSRF checks,
robots.txt, retries, per-host politeness, the User-Agent, decoding from bytes,
and mapping failures onto the typed errors (`classify`).

How the pieces stack, from the caller down:

    SourceFetcher.get          one source: its deadline, trusted origin, robots rule, "unchanged?"
    HttpFetcher._get           scheme check, robots.txt, retries with backoff + jitter
    HttpFetcher._follow        redirects, followed here (at most 5), each hop SSRF-checked
    HttpFetcher._request       per-host semaphore, Crawl-delay, 12 h forced refresh, body hash
    requests_cache.CachedSession   ETag / Last-Modified revalidation persisted in SQLite
    _LimitedAdapter            reads the DECODED body under the size cap and the deadline;
                               refuses chained encodings; nothing is cached when it raises
    _Guarded*Connection        resolves within the deadline, connects to that address and checks
                               it (SSRF, DNS rebinding)

The pipeline calls `make_fetcher(config, cache_path_for(db_path))` once per run,
then `fetcher.for_source(options)` per source (see SourceFetcher).
"""

from __future__ import annotations

import codecs
import copy
import hashlib
import heapq
import ipaddress
import itertools
import logging
import os
import random
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from aggregator import __version__
from aggregator.errors import FetchRefused, ParseError, RetryableFetchError, SourceError
from sources.base import Fetched

if TYPE_CHECKING:
    from aggregator.config.settings import Config
    from sources.base import SourceOptions

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/massage-events/massage-events"
USER_AGENT = f"massage-events/{__version__} (+{PROJECT_URL})"
ROBOTS_AGENT = "massage-events"  # the token robots.txt rules are matched against
DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ROBOTS_MAX_BYTES = 500 * 1024
ROBOTS_TTL = 24 * 3600  # seconds a robots.txt is trusted, in memory and in the HTTP cache
FORCE_REFRESH_AFTER = timedelta(hours=12)  # an unconditional fetch at least this often
MAX_REDIRECTS = 5
MAX_CRAWL_DELAY = 30.0  # seconds; a larger Crawl-delay is capped
MAX_RETRY_WAIT = 60.0  # a Retry-After longer than this ends the attempt (health backs off instead)
RETRIED_STATUSES = (429, 502, 503, 504)
# Environment variables requests reads per request when trust_env is on: proxies (per URL, so
# they keep trust_env on) and CA bundles (read once here instead: scanning os.environ on every
# request costs more than the request's own headers).
_PROXY_SETTINGS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_CA_BUNDLE_SETTINGS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' order of precedence
PAGE_TYPES = frozenset({"html", "jsonld"})  # source types that obey robots.txt by default
_CHUNK = 64 * 1024


def cache_path_for(db_path: Path | str) -> Path:
    """Where the HTTP cache of a database lives: `<db>.http-cache.sqlite`, next to it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".http-cache.sqlite")


def make_fetcher(config: "Config", cache_path: Path | None) -> "HttpFetcher":
    """The run's fetcher, built from `fetch:` in sources.yaml; `cache_path=None` disables the cache."""
    f = config.fetch
    return HttpFetcher(connect_timeout=f.connect_timeout, read_timeout=f.read_timeout,
                       max_bytes=f.max_bytes, deadline=f.deadline, retries=f.retries,
                       per_host=f.per_host, allow_private=f.allow_private,
                       respect_robots=f.respect_robots, contact=f.user_agent_contact,
                       cache_path=cache_path, pool_size=f.concurrency,
                       allow_local_paths=any(s.allows_local_path for s in config.sources))


# --------------------------------------------------------------------------- status codes

def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds (it may be a number of seconds or an HTTP date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def classify(status: int, url: str, retry_after: str | None = None,
             headers: dict | None = None) -> SourceError | None:
    """Map an HTTP status onto the typed error that says what to do, or None when it is fine."""
    if 200 <= status < 300:
        return None
    headers = headers or {}
    if status == 429 or status in (500, 502, 503, 504):
        delay = parse_retry_after(retry_after)
        what = "is rate-limiting us (429)" if status == 429 else f"answered HTTP {status}"
        later = f"; it asks us to wait {_duration(delay)}" if delay else ""
        return RetryableFetchError(f"{url} {what}{later}; it will be tried again later",
                                   reason=f"http_{status}", http_status=status, retry_after=delay)
    if status in (404, 410):
        what = "is gone (HTTP 410); remove it from sources.yaml" if status == 410 else \
            "was not found (HTTP 404); check the URL in sources.yaml"
        return FetchRefused(f"{url} {what}", reason="gone" if status == 410 else "not_found",
                            http_status=status)
    if status in (401, 403):
        lowered = {k.lower(): v for k, v in headers.items()}
        if "cf-ray" in lowered or "cloudflare" in str(lowered.get("server", "")).lower():
            return FetchRefused(f"{url} is behind Cloudflare bot protection (HTTP {status}); ask the site "
                                "for a feed or an allowlist entry for our User-Agent",
                                reason=f"http_{status}", http_status=status)
        return FetchRefused(f"{url} refused access (HTTP {status}); the site may block robots or need a login",
                            reason=f"http_{status}", http_status=status)
    if 300 <= status < 400:
        return FetchRefused(f"{url} answered a redirect (HTTP {status}) without a usable Location",
                            reason=f"http_{status}", http_status=status)
    if status >= 500:
        return RetryableFetchError(f"{url} answered HTTP {status}; it will be tried again later",
                                   reason=f"http_{status}", http_status=status)
    return FetchRefused(f"{url} answered HTTP {status}; check the URL in sources.yaml",
                        reason=f"http_{status}", http_status=status)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "a while"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------- decoding

_XML_DECL = re.compile(rb'^<\?xml[^>]*encoding=["\']([A-Za-z0-9._-]+)["\']')
_META_CHARSET = re.compile(rb'<meta[^>]+charset=["\']?([A-Za-z0-9._-]+)', re.I)
_SNIFF_BYTES = 8192
# Labels that browsers (WHATWG Encoding) read as windows-1252, and that servers often send for UTF-8.
_LATIN1_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii",
                  "windows-1252", "cp1252", "iso_8859-1", "8859-1", "cp819", "ibm819"}


def decode(content: bytes, content_type: str = "") -> str:
    """Bytes to text: BOM, then XML declaration or <meta>, then HTTP charset, then UTF-8.

    Latin-1 labels are read as windows-1252 (as browsers do: smart quotes survive), and a
    body labelled Latin-1 that is valid UTF-8 is read as UTF-8 (the most common mislabel).
    """
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                          (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, errors="replace")
    candidates = []
    head = content[:_SNIFF_BYTES]
    m = _XML_DECL.match(head.lstrip()) or _META_CHARSET.search(head)
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    if m:
        candidates.append(m.group(1))
    candidates.append("utf-8")
    for encoding in candidates:
        label = encoding.strip().lower()
        if label in _LATIN1_LABELS:
            if not content.isascii():
                try:
                    return content.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return content.decode("windows-1252", errors="replace")
        try:
            codecs.lookup(label)
        except LookupError:
            continue
        try:
            return content.decode(label)
        except UnicodeDecodeError:
            continue
    return content.decode("windows-1252", errors="replace")


# Lines that change on every request without the events changing (Google and Meetup rewrite
# DTSTAMP on each download; feeds restamp lastBuildDate). Removed before hashing a body.
_VOLATILE = re.compile(
    rb"^(?:DTSTAMP|X-PUBLISHED-TTL-STAMP)[;:][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n?"
    rb"|<lastBuildDate>[^<]*</lastBuildDate>",
    re.M | re.I)


def body_fingerprint(content: bytes) -> str:
    """A hash of a body with volatile lines (DTSTAMP, lastBuildDate) removed."""
    return hashlib.sha256(_VOLATILE.sub(b"", content)).hexdigest()


# --------------------------------------------------------------------------- SSRF

_ALWAYS_BLOCKED = (ipaddress.ip_network("100.64.0.0/10"),)  # CGNAT: not "private" to Python
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class SSRFBlocked(Exception):
    """Raised inside the connection layer; mapped to FetchRefused(reason="ssrf")."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


def is_blocked_address(address: str, allow: Iterable[ipaddress._BaseNetwork] = ()) -> bool:
    """True for loopback, private, link-local, CGNAT, multicast, unspecified and other non-global
    addresses (v4 and v6, v4-mapped included), unless a network in `allow` covers it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if ip.version == 6:  # v4 addresses carried inside v6: judge the v4 address they lead to
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip.teredo:
            return True
    for net in allow:
        if ip.version == net.version and ip in net:
            return False
    if any(ip.version == net.version and ip in net for net in _ALWAYS_BLOCKED):
        return True
    return (not ip.is_global) or ip.is_multicast or ip.is_unspecified or ip.is_loopback \
        or ip.is_link_local or ip.is_private or ip.is_reserved


# --------------------------------------------------------------------------- per-request context

@dataclass
class _SourceState:
    """What one source's fetches share: its deadline, trusted origins, counters."""

    deadline: float  # seconds allowed in all
    started: float | None = None  # time.monotonic() of the first request
    trusted: set = field(default_factory=set)  # (host, port) of URLs the curator wrote
    allow_local: bool = False
    obey_robots: bool = False
    source_id: str | None = None
    requests: int = 0
    responses: int = 0
    unchanged: int = 0
    last_status: int | None = None
    moved_to: str | None = None
    retry_after: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    @property
    def deadline_at(self) -> float:
        return (self.started if self.started is not None else time.monotonic()) + self.deadline

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()


class _RequestContext:
    """Thread-local knobs the adapter and connections read for the request in flight."""

    def __init__(self, state: _SourceState, ip_check: Callable[[str, str], None] | None,
                 max_bytes: int, on_request: Callable[[], None]) -> None:
        self.state = state
        self.ip_check = ip_check
        self.max_bytes = max_bytes
        self.on_request = on_request
        self.previous = None  # the response an earlier run stored for this URL (read by the cache)


_local = threading.local()


def _context() -> _RequestContext | None:
    return getattr(_local, "ctx", None)


class _Watchdog:
    """One thread that shuts down sockets whose source ran past its deadline (a 1 B/s trickle
    never trips a read timeout, so the deadline has to be enforced from outside the read)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, callback: Callable[[], None]) -> list:
        entry = [when, next(self._seq), callback]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry

    def disarm(self, entry: list) -> None:
        with self._cond:
            entry[2] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, callback = self._heap[0]
                if callback is None:
                    heapq.heappop(self._heap)
                    continue
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            try:
                callback()
            except Exception:  # pragma: no cover - best effort
                log.debug("watchdog callback failed", exc_info=True)


_WATCHDOG = _Watchdog()


# --------------------------------------------------------------------------- transport

class _GuardMixin:
    """Connections that resolve the host within the source's deadline (a resolver that never
    answers would otherwise hang the source), connect to the address resolved, and check the
    address actually connected to (SSRF; no second lookup, so DNS rebinding cannot slip in)."""

    def _new_conn(self):  # type: ignore[override]
        ctx = _context()
        sock = super()._new_conn() if ctx is None else self._connect_within(ctx)
        if ctx is not None and ctx.ip_check is not None:
            try:
                peer = sock.getpeername()[0]
            except OSError:
                peer = ""
            try:
                ctx.ip_check(self.host, peer)
            except SSRFBlocked:
                sock.close()
                raise
        return sock

    def _connect_within(self, ctx: "_RequestContext"):
        from urllib3.exceptions import (
            ConnectTimeoutError,
            NameResolutionError,
            NewConnectionError,
        )
        from urllib3.util.connection import create_connection

        try:
            infos = resolve(self._dns_host, self.port, max(0.05, ctx.state.remaining()))
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(self, f"Resolving {self.host} did not finish within the deadline") from e
        error: Exception | None = None
        for info in infos:
            try:
                return create_connection((info[4][0], self.port), self.timeout, source_address=self.source_address,
                                         socket_options=self.socket_options)
            except socket.timeout as e:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                  f"(connect timeout={self.timeout})")
                error.__cause__ = e
            except OSError as e:
                error = NewConnectionError(self, f"Failed to establish a new connection: {e}")
        raise error or NewConnectionError(self, f"{self.host} has no address")


def resolve(host: str, port: int, timeout: float) -> list:
    """socket.getaddrinfo, given up after `timeout` seconds (TimeoutError); literal IPs at once."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (str(ip), port))]
    result: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as e:  # handed to the caller
            result["error"] = e
        finally:
            done.set()

    threading.Thread(target=lookup, name="fetch-dns", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"resolving {host} took longer than {timeout:.1f} s")
    if "error" in result:
        raise result["error"]
    return result["infos"]


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _LimitedAdapter(HTTPAdapter):
    """Reads every body itself: decoded, capped, within the source's deadline.

    Mounted beneath requests-cache, so a refused body raises before anything is cached.
    """

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        ctx = _context()
        max_bytes = ctx.max_bytes if ctx else DEFAULT_MAX_BYTES
        if ctx:
            ctx.on_request()
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert,
                                proxies=proxies)
        url = request.url
        raw = response.raw
        codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",")
                   if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1:
            _discard(raw)
            raise FetchRefused(f"{url} is compressed {len(codings)} times over ({', '.join(codings)}), "
                               "a decompression-bomb pattern; refused", reason="too_large",
                               http_status=response.status_code)
        fired = threading.Event()
        entry = None
        if ctx is not None:
            def expire() -> None:
                fired.set()
                sock = getattr(getattr(raw, "_connection", None), "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            entry = _WATCHDOG.arm(ctx.state.deadline_at, expire)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused(f"{url} is larger than {_size(max_bytes)} once decompressed; refused "
                                       "(raise fetch.max_bytes if it is genuine)", reason="too_large",
                                       http_status=response.status_code)
                chunks.append(chunk)
                if fired.is_set():
                    raise _deadline_error(url, ctx)
        except SourceError:
            _discard(raw)
            raise
        except Exception as e:  # urllib3 errors while reading the body
            _discard(raw)
            if fired.is_set():
                raise _deadline_error(url, ctx) from None
            raise _body_error(url, e) from None
        finally:
            if entry is not None:
                _WATCHDOG.disarm(entry)
        if fired.is_set():
            _discard(raw)
            raise _deadline_error(url, ctx)
        response._content = b"".join(chunks)
        response._content_consumed = True
        raw.release_conn()
        return response


def _one_at_a_time(cache) -> None:
    """Make every use of requests-cache's SQLite store take one lock.

    Its SQLite backend shares one connection among threads and reads it without a lock; a read
    beside another thread's write breaks either ("no more rows available", "not an error",
    even a crash: requests-cache#820, #1008). A write that still fails (disk full, a locked
    file) costs only the cache: the response in hand is used, and is fetched in full next run."""
    lock = threading.RLock()
    get, save, delete = cache.get_response, cache.save_response, cache.delete

    def get_response(key, default=None):
        with lock:
            return get(key, default)

    def save_response(response, cache_key=None, expires=None):
        try:
            with lock:
                save(response, cache_key, expires)
        except sqlite3.Error as error:
            log.warning("the HTTP cache could not keep %s (%s: %s); it is fetched in full next time",
                        getattr(response, "url", "a response"), type(error).__name__, error)

    def delete_entries(*keys, **conditions):
        with lock:
            return delete(*keys, **conditions)

    cache.get_response, cache.save_response, cache.delete = get_response, save_response, delete_entries


def _remembering(get_response: Callable) -> Callable:
    """Wrap the cache's get_response: note the stored response for the request in flight (its body
    is what "unchanged" is judged against), and hide the validators of one downloaded more than
    12 h ago, so requests-cache sends that request unconditionally (docs/reliability.md A4)."""

    def wrapped(key, default=None):
        try:
            cached = get_response(key, default)
        except Exception:  # an unreadable cache entry is a cache miss
            log.debug("unreadable cache entry %s", key, exc_info=True)
            return default
        ctx = _context()
        if cached is None or ctx is None:
            return cached
        ctx.previous = cached
        if _older_than(cached, FORCE_REFRESH_AFTER):
            stale = copy.copy(cached)
            stale.headers = requests.structures.CaseInsensitiveDict(
                {k: v for k, v in cached.headers.items() if k.lower() not in ("etag", "last-modified")})
            return stale
        return cached

    return wrapped


def _discard(raw) -> None:
    """Close a response's connection for good (never back to the pool half-read)."""
    try:
        raw.close()
    except Exception:
        pass
    try:
        raw.release_conn()
    except Exception:
        pass


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def _deadline_error(url: str, ctx: _RequestContext | _SourceState | None) -> RetryableFetchError:
    state = ctx.state if isinstance(ctx, _RequestContext) else ctx
    deadline = state.deadline if state else 0
    return RetryableFetchError(f"{url} did not finish within the {deadline:g} s deadline "
                               "(fetch.deadline); the server is too slow", reason="timeout")


def _body_error(url: str, error: Exception) -> SourceError:
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return RetryableFetchError(f"{url} stopped sending data; timed out", reason="timeout")
    if isinstance(error, urllib3.exceptions.DecodeError):
        return FetchRefused(f"{url} sent a body that does not decompress ({_short(error)})",
                            reason="bad_encoding")
    text = str(error)
    if "IncompleteRead" in text or "incomplete" in text.lower():
        return RetryableFetchError(f"{url} closed the connection before the whole body arrived "
                                   "(truncated response)", reason="truncated")
    return RetryableFetchError(f"{url}: the connection broke while reading ({_short(error)})",
                               reason="connection")


# --------------------------------------------------------------------------- the fetcher

@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: allow everything
    disallow_all: bool
    crawl_delay: float | None
    fetched: float  # time.monotonic()

    def allows(self, url: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(ROBOTS_AGENT, url)


class HttpFetcher:
    """A requests-based Fetcher with caching, timeouts, size caps, SSRF checks and typed errors.

    Thread-safe: one instance serves every source of a run. `get()` fetches with a fresh
    deadline; `for_source(options)` gives the per-source view the pipeline hands to an adapter.
    """

    def __init__(self, *, connect_timeout: float = 10, read_timeout: float = 30,
                 max_bytes: int = DEFAULT_MAX_BYTES, allow_local_paths: bool = False,
                 session: requests.Session | None = None, deadline: float = 120,
                 retries: int = 2, per_host: int = 2, allow_private: Iterable[str] = (),
                 respect_robots: bool = True, contact: str | None = None,
                 cache_path: Path | str | None = None, backoff_base: float = 1.0,
                 pool_size: int = 16) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        self.allow_local_paths = allow_local_paths
        self.deadline = deadline
        self.retries = retries
        self.per_host = per_host
        self.allow_private = tuple(ipaddress.ip_network(n, strict=False) for n in allow_private)
        self.respect_robots = respect_robots
        self.backoff_base = backoff_base
        self.cache_path = Path(cache_path) if cache_path else None
        if session is None:
            session = self._make_session(self.cache_path)
            if not any(k.lower() in _PROXY_SETTINGS for k in os.environ):
                session.trust_env = False  # no proxy: nothing to read from the environment per request
                bundle = next((os.environ[k] for k in _CA_BUNDLE_SETTINGS if os.environ.get(k)), None)
                if bundle:
                    session.verify = bundle
        self.session = session
        adapter = _LimitedAdapter(pool_connections=max(pool_size, 256), pool_maxsize=per_host,
                                  max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = (
            f"massage-events/{__version__} (+{PROJECT_URL}; {contact})" if contact else USER_AGENT)
        self.requests_made = 0
        self._lock = threading.Lock()
        self._host_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
        self._next_slot: dict[tuple[str, int], float] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._trusted: set[tuple[str, int]] = set()

    @staticmethod
    def _make_session(cache_path: Path | None) -> requests.Session:
        if cache_path is None:
            return requests.Session()
        from requests_cache import CachedSession

        cache_path.parent.mkdir(parents=True, exist_ok=True)
        # Every response is stored but stale at once (1 ms): each run revalidates (If-None-Match /
        # If-Modified-Since), and a body without validators is re-fetched and compared by hash.
        session = CachedSession(str(cache_path), backend="sqlite", expire_after=timedelta(milliseconds=1),
                             cache_control=False,
                             allowable_codes=(200,), allowable_methods=("GET",), wal=True,
                             urls_expire_after={"*/robots.txt": ROBOTS_TTL})
        _one_at_a_time(session.cache)
        session.cache.get_response = _remembering(session.cache.get_response)
        return session

    @property
    def cached(self) -> bool:
        return hasattr(self.session, "cache")

    def close(self) -> None:
        self.session.close()

    # ---- public

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        state = _SourceState(deadline=self.deadline, allow_local=self.allow_local_paths)
        with self._lock:
            state.trusted = set(self._trusted)
        fetched = self._get(url, accept=accept, discovered=discovered, state=state)
        if not discovered:
            with self._lock:
                self._trusted |= state.trusted
        return fetched

    def for_source(self, options: "SourceOptions", *, obey_robots: bool | None = None) -> "SourceFetcher":
        """The Fetcher to hand one source's adapter. obey_robots=None: html/jsonld sources obey
        robots.txt when fetch.respect_robots is on; feeds and calendars are exempt."""
        if obey_robots is None:
            obey_robots = self.respect_robots and options.type in PAGE_TYPES
        state = _SourceState(deadline=self.deadline, allow_local=type(options).allows_local_path,
                             obey_robots=obey_robots, source_id=options.id)
        if urlsplit(options.url).scheme.lower() in ("http", "https"):
            state.trusted.add(_origin_key(options.url))  # the curator's choice, loopback included
        return SourceFetcher(self, options, state)

    # ---- internals

    def _get(self, url: str, *, accept: str | None, discovered: bool, state: _SourceState) -> Fetched:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("", "file") and not discovered:
            return self._read_local(url, state.allow_local)
        if scheme not in ("http", "https"):
            raise FetchRefused(f"{url}: only http and https URLs are fetched", reason="bad_scheme")
        if not parts.hostname:
            raise FetchRefused(f"{url} has no host name; write the full address", reason="bad_url")
        state.start()
        if not discovered:
            state.trusted.add(_origin_key(url))
        if state.obey_robots:
            self._check_robots(url, state)
        attempt = 0
        while True:
            try:
                fetched = self._follow(url, accept=accept, state=state)
                state.last_status = fetched.status
                return fetched
            except RetryableFetchError as e:
                state.last_status = e.http_status
                state.retry_after = e.retry_after
                if attempt >= self.retries or not _worth_retrying(e):
                    raise
                delay = e.retry_after if e.retry_after is not None else \
                    self.backoff_base * (2 ** attempt) * random.uniform(0.5, 1.5)
                if delay > MAX_RETRY_WAIT or delay >= state.remaining() - 0.5:
                    raise
                log.info("%s: %s; retrying in %.1f s", state.source_id or url, e.reason, delay)
                time.sleep(delay)
                attempt += 1
            except SourceError as e:
                if e.http_status is not None:
                    state.last_status = e.http_status
                raise

    def _follow(self, url: str, *, accept: str | None, state: _SourceState) -> Fetched:
        """Fetch url, following at most MAX_REDIRECTS redirects here, each hop checked."""
        current = url
        permanent = True
        for hop in range(MAX_REDIRECTS + 1):
            response, unchanged = self._request(current, accept=accept, state=state)
            location = response.headers.get("Location") if response.is_redirect else None
            if location is None:
                problem = classify(response.status_code, current, response.headers.get("Retry-After"),
                                   dict(response.headers))
                if problem:
                    raise problem
                content = response.content or b""
                content_type = response.headers.get("Content-Type", "")
                state.responses += 1
                state.unchanged += bool(unchanged)
                if hop and permanent:
                    state.moved_to = current
                return Fetched(url=current, status=response.status_code, content=content,
                               text=decode(content, content_type), content_type=content_type,
                               from_cache=unchanged, last_modified=response.headers.get("Last-Modified"))
            if response.status_code not in (301, 308):
                permanent = False
            target = urljoin(current, location.strip())
            _check_redirect(current, target)
            current = target
        raise FetchRefused(f"{url} redirects more than {MAX_REDIRECTS} times (a loop?); use the final "
                           "address in sources.yaml", reason="too_many_redirects")

    def _request(self, url: str, *, accept: str | None, state: _SourceState) -> tuple[requests.Response, bool]:
        """One HTTP exchange (no redirects followed): returns the response and whether its
        body is unchanged since the last run (a 304, or the same body hash)."""
        key = _origin_key(url)
        ip_check = None if key in state.trusted else self._ip_check
        if ip_check is not None:
            self._precheck(url, ip_check)
        remaining = state.remaining()
        if remaining <= 0:
            raise _deadline_error(url, state)
        slot = self._slot(key)
        if not slot.acquire(timeout=remaining):
            raise RetryableFetchError(f"{url}: waited {state.deadline:g} s for a free connection to "
                                      f"{key[0]} (fetch.per_host); timed out", reason="timeout")
        try:
            self._crawl_delay(key, url, state)
            remaining = max(0.05, state.remaining())
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            headers = {"Accept": accept} if accept else {}
            _local.ctx = _RequestContext(state, ip_check, self.max_bytes, lambda: self._count(state))
            try:
                response = self.session.get(url, headers=headers, timeout=timeout, allow_redirects=False)
                previous = _local.ctx.previous
            finally:
                _local.ctx = None
        except SourceError:
            raise
        except SSRFBlocked as e:
            raise _ssrf_error(url, e) from None
        except requests.ConnectTimeout:
            raise RetryableFetchError(f"{url} did not accept a connection within "
                                      f"{timeout[0]:g} s; timed out", reason="timeout") from None
        except requests.ReadTimeout:
            raise RetryableFetchError(f"{url} did not answer within {timeout[1]:g} s; timed out",
                                      reason="timeout") from None
        except requests.TooManyRedirects:
            raise FetchRefused(f"{url} redirects too many times", reason="too_many_redirects") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema, ValueError) as e:
            raise FetchRefused(f"{url} is not a usable address ({_short(e)})", reason="bad_url") from None
        except requests.ConnectionError as e:
            raise RetryableFetchError(f"{url} could not be reached ({_short(e)})", reason="connection") from None
        except requests.RequestException as e:
            raise RetryableFetchError(f"{url} failed ({_short(e)})", reason="connection") from None
        finally:
            slot.release()
        unchanged = False
        if response.status_code == 200 and previous is not None:
            if getattr(response, "revalidated", False):
                unchanged = True  # a 304: requests-cache handed back the stored body
            elif not getattr(response, "from_cache", False):
                unchanged = body_fingerprint(response.content or b"") == body_fingerprint(previous.content or b"")
        return response, unchanged

    def _count(self, state: _SourceState) -> None:
        with self._lock:
            self.requests_made += 1
        state.requests += 1

    def _slot(self, key: tuple[str, int]) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._host_slots.get(key)
            if slot is None:
                slot = self._host_slots[key] = threading.BoundedSemaphore(self.per_host)
            return slot

    def _crawl_delay(self, key: tuple[str, int], url: str, state: _SourceState) -> None:
        if not state.obey_robots:
            return
        robots = self._robots.get(_origin(url))
        delay = min(robots.crawl_delay or 0, MAX_CRAWL_DELAY) if robots else 0
        if delay <= 0:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next_slot.get(key, 0.0))
            self._next_slot[key] = at + delay
        wait = at - time.monotonic()
        if wait > 0:
            if wait >= state.remaining():
                raise RetryableFetchError(f"{url}: the site's robots.txt Crawl-delay ({delay:g} s) does not "
                                          "fit in this source's deadline", reason="timeout")
            time.sleep(wait)

    def _ip_check(self, host: str, address: str) -> None:
        if is_blocked_address(address, self.allow_private):
            raise SSRFBlocked(host, address)

    def _precheck(self, url: str, ip_check: Callable[[str, str], None]) -> None:
        """Refuse before connecting when the host resolves to a blocked address."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80),
                            max(0.05, min(self.connect_timeout, 10.0)))
        except (OSError, UnicodeError):
            return  # the request itself reports the name failure (within its deadline)
        try:
            for info in infos:
                ip_check(host, info[4][0])
        except SSRFBlocked as e:
            raise _ssrf_error(url, e) from None

    # ---- robots.txt

    def _check_robots(self, url: str, state: _SourceState) -> None:
        origin = _origin(url)
        robots = self._robots.get(origin)
        if robots is None or time.monotonic() - robots.fetched > ROBOTS_TTL:
            with self._lock:
                lock = self._robots_locks.setdefault(origin, threading.Lock())
            with lock:
                robots = self._robots.get(origin)
                if robots is None or time.monotonic() - robots.fetched > ROBOTS_TTL:
                    robots = self._robots[origin] = self._load_robots(origin, state)
        if not robots.allows(url):
            why = "cannot be read (server error), so" if robots.disallow_all and robots.parser is None else ""
            raise FetchRefused(f"{url}: the site's robots.txt {why} disallows fetching it; ask the site "
                               "for a feed, or set fetch.respect_robots: false if you have permission",
                               reason="robots_disallowed")

    def _load_robots(self, origin: str, state: _SourceState) -> _Robots:
        robots_url = origin + "/robots.txt"
        robots_state = _SourceState(deadline=max(1.0, min(state.remaining(), 15.0)),
                                    trusted=set(state.trusted))
        try:
            fetched = self._robots_fetch(robots_url, robots_state)
        except FetchRefused as e:
            status = e.http_status or 0
            if e.reason == "too_large":
                log.warning("%s is larger than 500 KiB; ignoring it", robots_url)
                return _Robots(None, False, None, time.monotonic())
            if 400 <= status < 500 and status != 429:
                return _Robots(None, False, None, time.monotonic())  # 4xx: no rules, all allowed
            if e.reason in ("ssrf", "too_many_redirects", "bad_scheme", "bad_url"):
                return _Robots(None, False, None, time.monotonic())
            return _Robots(None, True, None, time.monotonic())
        except RetryableFetchError as e:
            if e.http_status:  # 5xx / 429: treat the whole site as disallowed for now
                return _Robots(None, True, None, time.monotonic())
            raise  # timeout / connection: the site is unreachable; report that
        parser = RobotFileParser()
        parser.parse(fetched.text.splitlines())
        delay = parser.crawl_delay(ROBOTS_AGENT) or _crawl_delay_of(fetched.text)
        return _Robots(parser, False, float(delay) if delay else None, time.monotonic())

    def _robots_fetch(self, robots_url: str, state: _SourceState) -> Fetched:
        state.start()
        return _RobotsFetch(self).follow(robots_url, state)

    # ---- local files

    def _read_local(self, url: str, allow_local: bool) -> Fetched:
        if not allow_local:
            raise FetchRefused(f"{url}: local files are not read for this source type; use an http(s) URL",
                               reason="bad_scheme")
        path = Path(urlsplit(url).path if url.startswith("file:") else url)
        try:
            if path.stat().st_size > self.max_bytes:
                raise FetchRefused(f"{path} is larger than {_size(self.max_bytes)}; refused", reason="too_large")
            content = path.read_bytes()
        except FileNotFoundError:
            raise FetchRefused(f"{path} does not exist", reason="not_found") from None
        except IsADirectoryError:
            raise ParseError(f"{path} is a folder, not a file", reason="not_a_file") from None
        except OSError as e:
            raise FetchRefused(f"{path} cannot be read ({e.strerror})", reason="unreadable") from None
        return Fetched(url=str(path), status=200, content=content, text=decode(content),
                       content_type="", from_cache=False)


class _RobotsFetch:
    """robots.txt through the same session (politeness, SSRF, cache), with its own 500 KiB cap."""

    def __init__(self, fetcher: HttpFetcher) -> None:
        self.fetcher = fetcher

    def follow(self, url: str, state: _SourceState) -> Fetched:
        f = self.fetcher
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            key = _origin_key(current)
            ip_check = None if key in state.trusted else f._ip_check
            if ip_check is not None:
                f._precheck(current, ip_check)
            slot = f._slot(key)
            if not slot.acquire(timeout=max(0.05, state.remaining())):
                raise RetryableFetchError(f"{current}: no free connection; timed out", reason="timeout")
            remaining = max(0.05, state.remaining())
            _local.ctx = _RequestContext(state, ip_check, ROBOTS_MAX_BYTES, lambda: f._count(state))
            try:
                response = f.session.get(current, timeout=(min(f.connect_timeout, remaining),
                                                           min(f.read_timeout, remaining)),
                                         allow_redirects=False)
            except SourceError:
                raise
            except SSRFBlocked as e:
                raise _ssrf_error(current, e) from None
            except requests.Timeout:
                raise RetryableFetchError(f"{current} did not answer; timed out", reason="timeout") from None
            except requests.RequestException as e:
                raise RetryableFetchError(f"{current} could not be reached ({_short(e)})",
                                          reason="connection") from None
            finally:
                _local.ctx = None
                slot.release()
            if response.is_redirect and response.headers.get("Location"):
                target = urljoin(current, response.headers["Location"].strip())
                _check_redirect(current, target)
                current = target
                continue
            problem = classify(response.status_code, current, response.headers.get("Retry-After"))
            if problem:
                raise problem
            content = response.content or b""
            ctype = response.headers.get("Content-Type", "")
            return Fetched(url=current, status=response.status_code, content=content,
                           text=decode(content, ctype), content_type=ctype)
        raise FetchRefused(f"{url} redirects too many times", reason="too_many_redirects")


class SourceFetcher:
    """One source's view of the run's HttpFetcher (a `sources.base.Fetcher`).

    Its deadline (fetch.deadline) runs from its first request and covers retries and
    followed links. After the adapter has read the source, the pipeline looks at:
      all_unchanged  every response was unchanged since the last run (304 or same body hash):
                     keep the source's stored records and skip parsing
      last_status    the last HTTP status seen (or None when nothing answered)
      moved_to       the final URL when the source URL answered with 301/308 only, else None
      retry_after    seconds the server asked us to wait (Retry-After), else None
      requests_made  HTTP requests this source cost (robots.txt and retries included)
    """

    def __init__(self, parent: HttpFetcher, options: "SourceOptions", state: _SourceState) -> None:
        self.parent = parent
        self.options = options
        self._state = state

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        state = self._state
        moved_before = state.moved_to
        try:
            fetched = self.parent._get(url, accept=accept, discovered=discovered, state=state)
        except SourceError as e:
            if e.source_id is None:
                e.source_id = self.options.id
            raise
        if discovered or url != self.options.url:
            state.moved_to = moved_before  # only the source's own URL can move
        return fetched

    @property
    def all_unchanged(self) -> bool:
        return self._state.responses > 0 and self._state.unchanged == self._state.responses

    @property
    def last_status(self) -> int | None:
        return self._state.last_status

    @property
    def moved_to(self) -> str | None:
        return self._state.moved_to

    @property
    def retry_after(self) -> float | None:
        return self._state.retry_after

    @property
    def requests_made(self) -> int:
        return self._state.requests


# --------------------------------------------------------------------------- helpers

def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _origin_key(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return ((parts.hostname or "").lower(), port)


def _check_redirect(current: str, target: str) -> None:
    """Refuse a redirect hop to a non-http(s) scheme, or from https down to http."""
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused(f"{current} redirects to a {scheme or 'schemeless'}: URL ({target[:80]}); only "
                           "http and https are followed", reason="bad_scheme")
    if urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise FetchRefused(f"{current} redirects from https down to plain http ({target[:80]}); refused",
                           reason="insecure_redirect")


def _crawl_delay_of(text: str) -> float | None:
    """Crawl-delay for our agent (or *) read by hand: robotparser ignores fractional values."""
    ours = anyone = None
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        else:
            in_rules = True
            if key == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    continue
                if ROBOTS_AGENT in agents and ours is None:
                    ours = delay
                elif "*" in agents and anyone is None:
                    anyone = delay
    return ours if ours is not None else anyone


def _ssrf_error(url: str, e: SSRFBlocked) -> FetchRefused:
    return FetchRefused(f"{url}: {e.host} is a private or local address ({e.address}); a redirect or a "
                        "followed link may not lead there. Add the network to fetch.allow_private if "
                        "this is intended", reason="ssrf")


def _worth_retrying(e: RetryableFetchError) -> bool:
    return e.reason == "timeout" or (e.http_status in RETRIED_STATUSES)


def _older_than(cached, age: timedelta) -> bool:
    created = getattr(cached, "created_at", None)
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - created >= age


def _short(error: Exception) -> str:
    """The useful part of a urllib3/requests error: "Connection refused", "Name or service not known"."""
    text = str(error)
    if "Failed to resolve" in text or "NameResolutionError" in text:
        m = re.search(r"Failed to resolve '([^']+)'", text)
        return f"the name {m.group(1)} does not resolve" if m else "the host name does not resolve"
    m = re.search(r"Errno -?\d+\] ([^'\"\)\]]+)", text) or re.search(r"\] ([^'\"\)\]]+)", text)
    return (m.group(1) if m else text).strip().rstrip(".")[:160]
