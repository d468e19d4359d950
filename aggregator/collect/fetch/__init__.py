"""The one place massage-events touches the network.

Every adapter is handed a Fetcher; this package owns the HTTP connections (urllib3), the HTTP cache,
timeouts and deadlines, size caps, redirects, SSRF checks, robots.txt, retries, per-host
politeness, the User-Agent, decoding from bytes, and mapping failures onto the typed errors.

    fetcher.py   HttpFetcher (one per run) and SourceFetcher (one source's view, its deadline)
    cache.py     the HTTP cache: per URL its validators, body fingerprint and body (SQLite)
    session.py   the transport that reads bodies capped and within the deadline
    wire.py      the direct exchange: http.client on kept-alive guarded connections (no proxy)
    guard.py     SSRF: blocked address ranges, guarded connections, redirect checks
    robots.py    robots.txt rules and Crawl-delay
    status.py    the error ladder: HTTP status or exception -> typed SourceError
    decode.py    bytes -> text (charset sniffing), body fingerprints
    state.py     per-source state, the request in flight, the deadline watchdog

The pipeline calls `make_fetcher(config, cache_path_for(db_path))` once per run,
then `fetcher.for_source(options)` per source (see SourceFetcher).
"""

from aggregator.collect.fetch.decode import body_fingerprint, decode
from aggregator.collect.fetch.fetcher import (MAX_REDIRECTS, USER_AGENT, HttpFetcher, SourceFetcher,
                                              cache_path_for, make_fetcher)
from aggregator.collect.fetch.guard import SSRFBlocked, check_redirect, is_blocked_address, resolve
from aggregator.collect.fetch.robots import ROBOTS_AGENT, ROBOTS_MAX_BYTES
from aggregator.collect.fetch.session import DEFAULT_MAX_BYTES
from aggregator.collect.fetch.status import classify, parse_retry_after

__all__ = ["DEFAULT_MAX_BYTES", "MAX_REDIRECTS", "ROBOTS_AGENT", "ROBOTS_MAX_BYTES", "USER_AGENT",
           "HttpFetcher", "SSRFBlocked", "SourceFetcher", "body_fingerprint", "cache_path_for",
           "check_redirect", "classify", "decode", "is_blocked_address", "make_fetcher",
           "parse_retry_after", "resolve"]
