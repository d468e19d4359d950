"""robots.txt: fetched once per origin through the fetcher's own request path (politeness, SSRF
checks, the cache and the one error ladder), with a 500 KiB cap, kept 24 h.

5xx and 429 disallow the whole site for now; 4xx (and a robots.txt that redirects somewhere we
may not go) means no rules; a timeout or connection failure is the source's own failure.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from aggregator.errors import FetchRefused, RetryableFetchError
from aggregator.collect.fetch.session import ROBOTS_TTL
from aggregator.collect.fetch.state import SourceState
from sources.base import Fetched

log = logging.getLogger(__name__)

ROBOTS_AGENT = "massage-events"  # the token robots.txt rules are matched against
ROBOTS_MAX_BYTES = 500 * 1024
MAX_CRAWL_DELAY = 30.0  # seconds; a larger Crawl-delay is capped

# (robots URL, its own state, byte cap) -> the document, raising the fetcher's typed errors
FetchFn = Callable[[str, SourceState, int], Fetched]


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: allow everything
    disallow_all: bool
    crawl_delay: float | None
    fetched: float  # time.monotonic()
    allows_all: bool = False  # no Disallow rule with a path: every URL allowed, nothing to match

    def allows(self, url: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.allows_all or self.parser.can_fetch(ROBOTS_AGENT, url)


class RobotsRules:
    """The robots.txt rules of every origin a run reads pages from (thread-safe)."""

    def __init__(self, fetch: FetchFn) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._rules: dict[str, _Robots] = {}
        self._locks: dict[str, threading.Lock] = {}

    def check(self, url: str, state: SourceState) -> None:
        """Raise FetchRefused(reason="robots_disallowed") when robots.txt disallows url."""
        origin = origin_of(url)
        robots = self._rules.get(origin)
        if robots is None or time.monotonic() - robots.fetched > ROBOTS_TTL:
            with self._lock:
                lock = self._locks.setdefault(origin, threading.Lock())
            with lock:
                robots = self._rules.get(origin)
                if robots is None or time.monotonic() - robots.fetched > ROBOTS_TTL:
                    robots = self._rules[origin] = self._load(origin, state)
        if not robots.allows(url):
            why = "cannot be read (server error), so" if robots.disallow_all and robots.parser is None else ""
            raise FetchRefused(f"{url}: the site's robots.txt {why} disallows fetching it; ask the site "
                               "for a feed, or set fetch.respect_robots: false if you have permission",
                               reason="robots_disallowed")

    def crawl_delay(self, url: str) -> float:
        """Seconds between two requests to url's origin (0 when robots.txt names none)."""
        robots = self._rules.get(origin_of(url))
        return min(robots.crawl_delay or 0, MAX_CRAWL_DELAY) if robots else 0

    def _load(self, origin: str, state: SourceState) -> _Robots:
        robots_url = origin + "/robots.txt"
        robots_state = SourceState(deadline=max(1.0, min(state.remaining(), 15.0)), trusted=set(state.trusted))
        robots_state.start()
        try:
            fetched = self._fetch(robots_url, robots_state, ROBOTS_MAX_BYTES)
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
        delay = parser.crawl_delay(ROBOTS_AGENT) or crawl_delay_of(fetched.text)
        return _Robots(parser, False, float(delay) if delay else None, time.monotonic(),
                       allows_all=not has_disallow_rule(fetched.text))


@functools.lru_cache(maxsize=4096)  # asked twice per page (rules, Crawl-delay): parsed once
def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def has_disallow_rule(text: str) -> bool:
    """Whether robots.txt has a Disallow line with a path, for any agent. Without one every URL is
    allowed (an empty Disallow allows all), and a page needs no matching, which robotparser pays
    per URL (unquote, urlparse, quote)."""
    for raw in text.splitlines():
        key, colon, value = raw.split("#", 1)[0].partition(":")
        if colon and key.strip().lower() == "disallow" and value.strip():
            return True
    return False


def crawl_delay_of(text: str) -> float | None:
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
