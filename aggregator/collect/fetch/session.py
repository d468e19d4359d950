"""The transport under the fetcher: guarded, kept-alive connections (http.client's, or urllib3's
pools when a proxy is set), and the one place a body is read: decoded, capped and within the
source's deadline.

    Transport                      one GET (no redirects followed), proxies from the environment,
                                   cookies kept for the run; reads the DECODED body under the size
                                   cap and the deadline; refuses chained encodings
    DirectPools (wire.py)          the exchange when no proxy is set: http.client, kept-alive
    Guarded*Connection (guard.py)  resolve within the deadline, connect, check the address (the
                                   urllib3 pools, for proxied requests)

urllib3 directly rather than requests on top of it: requests prepared, merged and wrapped every
request again (settings, hooks, cookies, adapters), about as much CPU as the exchange itself on a
re-run of 304s. What it gave that the fetcher needs is here: its CA bundle (certifi, or
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE), proxies from the environment, a cookie jar per run.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import re
import threading
import urllib.request
from collections.abc import Mapping

import certifi
import urllib3
from urllib3.util import make_headers, parse_url

from aggregator.errors import FetchRefused, SourceError
from aggregator.collect.fetch.guard import GuardedHTTPPool, GuardedHTTPSPool
from aggregator.collect.fetch.state import WATCHDOG, current_context
from aggregator.collect.fetch.status import body_error, deadline_error, size_text
from aggregator.collect.fetch.wire import DirectPools

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ROBOTS_TTL = 24 * 3600  # seconds a robots.txt is trusted, in memory and in the HTTP cache
FORCE_REFRESH_AFTER = 12 * 3600  # seconds: an unconditional fetch at least this often (docs/reliability.md A4)
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Where a CA bundle other than certifi's may be named, in requests' order of precedence (a
# chapter's office network with its own CA sets one of these).
CA_BUNDLE_SETTINGS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# A URL urllib3's parse_url would leave as it is: lower-case scheme and host, no percent-escapes,
# fragment or character it would escape, no dot segment it would remove. Most URLs are like this
# (a source's, the links a page gives); the rest go through parse_url.
_PLAIN_URL = re.compile(r"(https?)://([a-z0-9.-]+)(?::([0-9]{1,5}))?"
                        r"((?:/[A-Za-z0-9\-_~!$&'()*+,;=:@]*(?:\.[A-Za-z0-9\-_~!$&'()*+,;=:@]+)*)*)"
                        r"(\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?")


def split_target(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port or None, request target) as urllib3's parse_url reads url."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        scheme, host, port, path, query = plain.groups()
        if port is None or int(port) <= 65535:
            return scheme, host, None if port is None else int(port), (path or "/") + (query or "")
    parts = parse_url(url)
    if not parts.host:
        return None
    return parts.scheme, parts.host, parts.port, parts.request_uri


class Response:
    """One answer: its status, headers (case-insensitive) and the body as read under the cap."""

    __slots__ = ("url", "status_code", "headers", "content")

    def __init__(self, url: str, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.url = url
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECTS and "Location" in self.headers


class Transport:
    """GET over urllib3 pools, at most `per_host` connections kept per host (thread-safe)."""

    def __init__(self, *, per_host: int, pools: int, user_agent: str) -> None:
        self.headers = {"User-Agent": user_agent, "Accept": "*/*",
                        **make_headers(accept_encoding=True)}  # gzip, deflate (br, zstd when installed)
        self.ca_bundle = next((os.environ[k] for k in CA_BUNDLE_SETTINGS if os.environ.get(k)), None) \
            or certifi.where()
        self._options = {"num_pools": max(pools, 256), "maxsize": per_host, "block": False,
                         "cert_reqs": "CERT_REQUIRED", "ca_certs": self.ca_bundle}
        self._direct = urllib3.PoolManager(**self._options)
        self._direct.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
        # Without a proxy: http.client on kept-alive guarded connections (wire.py), a third of the
        # CPU of urllib3's pool and response layers per exchange.
        self._wire = DirectPools(per_host=per_host, ca_bundle=self.ca_bundle)
        # Proxies as requests read them (http_proxy, https_proxy, all_proxy, no_proxy), read once.
        self._proxies = urllib.request.getproxies_environment()
        self._via: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()
        self.cookies = http.cookiejar.CookieJar()  # what sites set, sent back to them for the run

    def close(self) -> None:
        self._wire.close()
        self._direct.clear()
        for manager in self._via.values():
            manager.clear()

    def get(self, url: str, headers: Mapping[str, str], timeout: tuple[float, float]) -> Response:
        """The whole exchange (connect, status line, headers, body) ends at the source's
        deadline: a watchdog shuts the request's sockets then, whatever the peer is doing."""
        ctx = current_context()
        if ctx is None:
            return self._get(url, headers, timeout, None, DEFAULT_MAX_BYTES)
        ctx.on_request()
        entry = WATCHDOG.arm(ctx.state.deadline_at, ctx.expire)
        try:
            return self._get(url, headers, timeout, ctx, ctx.max_bytes)
        except SourceError:
            raise
        except Exception:
            if ctx.expired.is_set():  # whatever broke, it broke because the deadline shut it
                raise deadline_error(url, ctx.state.deadline) from None
            raise
        finally:
            WATCHDOG.disarm(entry)

    def _get(self, url: str, headers: Mapping[str, str], timeout: tuple[float, float], ctx, max_bytes: int):
        sent = {**self.headers, **headers}
        cookies = self._cookie_request(url) if len(self.cookies) else None
        if cookies is not None:
            self.cookies.add_cookie_header(cookies)
            if cookies.has_header("Cookie"):
                sent["Cookie"] = cookies.get_header("Cookie")
        raw = self._send(url, sent, timeout)
        if "Set-Cookie" in raw.headers:
            self.cookies.extract_cookies(_CookieAnswer(raw.headers), cookies or self._cookie_request(url))
        expired = ctx.expired.is_set if ctx is not None else (lambda: False)
        if expired():
            _discard(raw)
            raise deadline_error(url, ctx.state.deadline)
        codings = [c.strip().lower() for c in raw.headers.get("Content-Encoding", "").split(",")
                   if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1:
            _discard(raw)
            raise FetchRefused(f"{url} is compressed {len(codings)} times over ({', '.join(codings)}), "
                               "a decompression-bomb pattern; refused", reason="too_large",
                               http_status=raw.status)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused(f"{url} is larger than {size_text(max_bytes)} once decompressed; refused "
                                       "(raise fetch.max_bytes if it is genuine)", reason="too_large",
                                       http_status=raw.status)
                chunks.append(chunk)
                if expired():
                    raise deadline_error(url, ctx.state.deadline)
        except SourceError:
            _discard(raw)
            raise
        except Exception as e:  # urllib3 errors while reading the body
            _discard(raw)
            if expired():
                raise deadline_error(url, ctx.state.deadline) from None
            raise body_error(url, e) from None
        if expired():
            _discard(raw)
            raise deadline_error(url, ctx.state.deadline)
        raw.release_conn()
        return Response(url, raw.status, raw.headers, b"".join(chunks))

    def _send(self, url: str, sent: Mapping[str, str], timeout: tuple[float, float]):
        """Send the request; the response with its status and headers read, its body not yet."""
        if not self._proxies:
            split = split_target(url)  # urllib3's reading of the URL, as its pool manager's
            if split is not None and split[0] in ("http", "https"):
                scheme, host, port, target = split
                return self._wire.open(scheme, host, port or (443 if scheme == "https" else 80), target, url, sent,
                                       timeout)
        return self._manager(url).urlopen("GET", url, headers=sent, redirect=False, retries=False,
                                          preload_content=False, assert_same_host=False,
                                          timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]))

    def _manager(self, url: str) -> urllib3.PoolManager:
        """The direct pools, or a proxy's (as requests chose: by scheme, `no_proxy` bypassing)."""
        if not self._proxies:
            return self._direct
        parts = parse_url(url)
        proxy = self._proxies.get(parts.scheme or "http") or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass_environment(parts.host or "", self._proxies):
            return self._direct
        with self._lock:
            manager = self._via.get(proxy)
            if manager is None:
                auth = parse_url(proxy).auth
                manager = self._via[proxy] = urllib3.ProxyManager(
                    proxy, proxy_headers=make_headers(proxy_basic_auth=auth) if auth else None, **self._options)
            return manager

    @staticmethod
    def _cookie_request(url: str) -> urllib.request.Request:
        return urllib.request.Request(url)


class _CookieAnswer:
    """A urllib3 response's headers as http.cookiejar reads them."""

    def __init__(self, headers) -> None:
        self._headers = headers

    def info(self):
        return self

    def get_all(self, name: str, default=None):
        return self._headers.getlist(name) or default


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
