"""The fetcher every adapter is handed: HttpFetcher (one per run, thread-safe) and SourceFetcher
(one source's view of it, with that source's deadline).

    SourceFetcher.get          one source: its deadline, trusted origin, robots rule, "unchanged?"
    HttpFetcher._get           scheme check, robots.txt, retries with backoff + jitter
    HttpFetcher._follow        redirects, followed here (at most 5), each hop SSRF-checked
    HttpFetcher._request       per-host semaphore, Crawl-delay, the HTTP cache: validators, 12 h
                               forced refresh, body fingerprint ("unchanged?")
    cache.py                   the HTTP cache (SQLite); session.py the capped, deadline-bound transport
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import urllib3

from aggregator import __version__
from aggregator.errors import FetchRefused, ParseError, RetryableFetchError, SourceError
from aggregator.collect.fetch.cache import HttpCache, Stored
from aggregator.collect.fetch.decode import body_fingerprint, decode
from aggregator.collect.fetch.guard import SSRFBlocked, check_redirect, is_blocked_address, resolve, ssrf_error
from aggregator.collect.fetch.robots import RobotsRules
from aggregator.collect.fetch.session import DEFAULT_MAX_BYTES, FORCE_REFRESH_AFTER, ROBOTS_TTL, Response, Transport
from aggregator.collect.fetch.state import LOCAL, RequestContext, SourceState
from aggregator.collect.fetch.status import (classify, deadline_error, request_error, size_text,
                                             worth_retrying)
from sources.base import Fetched

if TYPE_CHECKING:
    from aggregator.config.settings import Config
    from sources.base import SourceOptions

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/massage-events/massage-events"
USER_AGENT = f"massage-events/{__version__} (+{PROJECT_URL})"
MAX_REDIRECTS = 5
MAX_RETRY_WAIT = 60.0  # a Retry-After longer than this ends the attempt (health backs off instead)
PAGE_TYPES = frozenset({"html", "jsonld"})  # source types that obey robots.txt by default


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


class HttpFetcher:
    """A urllib3-based Fetcher with caching, timeouts, size caps, SSRF checks and typed errors.

    Thread-safe: one instance serves every source of a run. `get()` fetches with a fresh
    deadline; `for_source(options)` gives the per-source view the pipeline hands to an adapter.
    """

    def __init__(self, *, connect_timeout: float = 10, read_timeout: float = 30,
                 max_bytes: int = DEFAULT_MAX_BYTES, allow_local_paths: bool = False,
                 deadline: float = 120,
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
        self.cache = HttpCache(self.cache_path) if self.cache_path else None
        self.transport = Transport(per_host=per_host, pools=pool_size, user_agent=(
            f"massage-events/{__version__} (+{PROJECT_URL}; {contact})" if contact else USER_AGENT))
        self.requests_made = 0
        self._lock = threading.Lock()
        self._host_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
        self._next_slot: dict[tuple[str, int], float] = {}
        self._robots = RobotsRules(self._robots_fetch)
        self._trusted: set[tuple[str, int]] = set()

    @property
    def cached(self) -> bool:
        return self.cache is not None

    def close(self) -> None:
        self.transport.close()
        if self.cache is not None:
            self.cache.close()

    # ---- public

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        state = SourceState(deadline=self.deadline, allow_local=self.allow_local_paths)
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
        state = SourceState(deadline=self.deadline, allow_local=type(options).allows_local_path,
                             obey_robots=obey_robots, source_id=options.id)
        if urlsplit(options.url).scheme.lower() in ("http", "https"):
            state.trusted.add(_origin_key(options.url))  # the curator's choice, loopback included
        return SourceFetcher(self, options, state)

    # ---- internals

    def _get(self, url: str, *, accept: str | None, discovered: bool, state: SourceState) -> Fetched:
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
            self._robots.check(url, state)
        attempt = 0
        while True:
            try:
                fetched = self._follow(url, accept=accept, state=state)
                state.last_status = fetched.status
                return fetched
            except RetryableFetchError as e:
                state.last_status = e.http_status
                state.retry_after = e.retry_after
                if attempt >= self.retries or not worth_retrying(e):
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

    def _follow(self, url: str, *, accept: str | None, state: SourceState,
                max_bytes: int | None = None, fresh_for: float = 0) -> Fetched:
        """Fetch url, following at most MAX_REDIRECTS redirects here, each hop checked."""
        current = url
        permanent = True
        for hop in range(MAX_REDIRECTS + 1):
            answer = self._request(current, accept=accept, state=state, max_bytes=max_bytes, fresh_for=fresh_for)
            if answer.stored is not None:  # 304, or fresh enough to ask nothing: the stored body
                state.responses += 1
                state.unchanged += 1
                if hop and permanent:
                    state.moved_to = current
                stored = answer.stored
                return Fetched(url=current, status=200, content=stored.content,
                               text=decode(stored.content, stored.content_type), content_type=stored.content_type,
                               from_cache=True, fingerprint=stored.fingerprint,
                               last_modified=answer.headers.get("Last-Modified") or stored.last_modified)
            response = answer.response
            location = response.headers.get("Location") if response.is_redirect else None
            if location is None:
                problem = classify(response.status_code, current, response.headers.get("Retry-After"),
                                   response.headers)
                if problem:
                    raise problem
                content = response.content or b""
                content_type = response.headers.get("Content-Type", "")
                state.responses += 1
                state.unchanged += answer.unchanged
                if hop and permanent:
                    state.moved_to = current
                return Fetched(url=current, status=response.status_code, content=content,
                               text=decode(content, content_type), content_type=content_type,
                               from_cache=answer.unchanged, fingerprint=answer.fingerprint,
                               last_modified=response.headers.get("Last-Modified"))
            if response.status_code not in (301, 308):
                permanent = False
            target = urljoin(current, location.strip())
            check_redirect(current, target)
            current = target
        raise FetchRefused(f"{url} redirects more than {MAX_REDIRECTS} times (a loop?); use the final "
                           "address in sources.yaml", reason="too_many_redirects")

    def _request(self, url: str, *, accept: str | None, state: SourceState,
                 max_bytes: int | None = None, fresh_for: float = 0) -> "_Answer":
        """One HTTP exchange (no redirects followed), conditional when the cache holds url.

        A 304 answers with the stored body (nothing is written); so does an entry checked less
        than `fresh_for` seconds ago, without asking at all (robots.txt). A 200 is unchanged when
        its body's fingerprint is the stored one; a new body is stored once."""
        stored = self.cache.get(url) if self.cache is not None else None
        if stored is not None and fresh_for and time.time() - stored.checked < fresh_for:
            return _Answer(stored=stored)
        key = _origin_key(url)
        ip_check = None if key in state.trusted else self._ip_check
        if ip_check is not None:
            self._precheck(url, ip_check)
        remaining = state.remaining()
        if remaining <= 0:
            raise deadline_error(url, state.deadline)
        slot = self._slot(key)
        if not slot.acquire(timeout=remaining):
            raise RetryableFetchError(f"{url}: waited {state.deadline:g} s for a free connection to "
                                      f"{key[0]} (fetch.per_host); timed out", reason="timeout")
        timeout = (self.connect_timeout, self.read_timeout)
        try:
            self._crawl_delay(key, url, state)
            remaining = max(0.05, state.remaining())
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            headers = {"Accept": accept} if accept else {}
            if stored is not None and stored.age() < FORCE_REFRESH_AFTER:
                if stored.etag:
                    headers["If-None-Match"] = stored.etag
                if stored.last_modified:
                    headers["If-Modified-Since"] = stored.last_modified
            LOCAL.ctx = RequestContext(state, ip_check, max_bytes or self.max_bytes, lambda: self._count(state))
            try:
                response = self.transport.get(url, headers, timeout)
            finally:
                LOCAL.ctx = None
        except SourceError:
            raise
        except (SSRFBlocked, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise request_error(e, url, timeout) from None
        finally:
            slot.release()
        if stored is not None and response.status_code == 304:
            if fresh_for:
                self.cache.checked_again(url)
            return _Answer(stored=stored, headers=response.headers)
        unchanged = False
        fingerprint = None
        if response.status_code == 200 and self.cache is not None:
            fingerprint = body_fingerprint(response.content or b"")
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            if stored is None or stored.fingerprint != fingerprint:
                self.cache.put(url, etag=etag, last_modified=modified, fingerprint=fingerprint,
                               content_type=response.headers.get("Content-Type", ""), content=response.content or b"")
            else:
                unchanged = True
                if etag or modified or stored.etag or stored.last_modified:  # the 12 h clock matters
                    self.cache.downloaded_again(url, etag=etag, last_modified=modified)
        return _Answer(response=response, unchanged=unchanged, fingerprint=fingerprint)

    def _count(self, state: SourceState) -> None:
        with self._lock:
            self.requests_made += 1
        state.requests += 1

    def _slot(self, key: tuple[str, int]) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._host_slots.get(key)
            if slot is None:
                slot = self._host_slots[key] = threading.BoundedSemaphore(self.per_host)
            return slot

    def _crawl_delay(self, key: tuple[str, int], url: str, state: SourceState) -> None:
        if not state.obey_robots:
            return
        delay = self._robots.crawl_delay(url)
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
            raise ssrf_error(url, e) from None

    # ---- robots.txt

    def _robots_fetch(self, robots_url: str, state: SourceState, max_bytes: int) -> Fetched:
        """robots.txt through the same request path as any page, under its own byte cap."""
        return self._follow(robots_url, accept=None, state=state, max_bytes=max_bytes, fresh_for=ROBOTS_TTL)

    # ---- local files

    def _read_local(self, url: str, allow_local: bool) -> Fetched:
        if not allow_local:
            raise FetchRefused(f"{url}: local files are not read for this source type; use an http(s) URL",
                               reason="bad_scheme")
        path = Path(urlsplit(url).path if url.startswith("file:") else url)
        try:
            if path.stat().st_size > self.max_bytes:
                raise FetchRefused(f"{path} is larger than {size_text(self.max_bytes)}; refused",
                                   reason="too_large")
            content = path.read_bytes()
        except FileNotFoundError:
            raise FetchRefused(f"{path} does not exist", reason="not_found") from None
        except IsADirectoryError:
            raise ParseError(f"{path} is a folder, not a file", reason="not_a_file") from None
        except OSError as e:
            raise FetchRefused(f"{path} cannot be read ({e.strerror})", reason="unreadable") from None
        return Fetched(url=str(path), status=200, content=content, text=decode(content),
                       content_type="", from_cache=False)


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

    def __init__(self, parent: HttpFetcher, options: "SourceOptions", state: SourceState) -> None:
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


@dataclass(slots=True)
class _Answer:
    """What one exchange came to: the server's response, or the stored body it confirmed."""

    response: Response | None = None
    unchanged: bool = False  # a 200 whose body is the stored one
    fingerprint: str | None = None  # the 200's body_fingerprint, when the cache needed it
    stored: Stored | None = None  # a 304 (or fresh enough to ask nothing): this body stands
    headers: Mapping[str, str] = field(default_factory=dict)  # the 304's headers


@functools.lru_cache(maxsize=4096)  # asked several times per request (trust, slot, SSRF): parsed once
def _origin_key(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return ((parts.hostname or "").lower(), port)
