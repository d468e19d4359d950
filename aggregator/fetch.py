"""The one place massage-events touches the network.

Every adapter is handed a Fetcher; it owns the requests session, timeouts, size
caps, the User-Agent, decoding from bytes, and mapping failures onto the typed
errors (`classify`). Later work adds caching, politeness and SSRF checks here,
and nowhere else.
"""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests

from aggregator import __version__
from aggregator.errors import FetchRefused, ParseError, RetryableFetchError, SourceError
from sources.base import Fetched

log = logging.getLogger(__name__)

USER_AGENT = f"massage-events/{__version__} (+https://github.com/massage-events/massage-events)"
DEFAULT_MAX_BYTES = 15 * 1024 * 1024


def classify(status: int, url: str, retry_after: str | None = None) -> SourceError | None:
    """Map an HTTP status onto the typed error that says what to do, or None when it is fine."""
    if 200 <= status < 300:
        return None
    if status == 429 or status in (500, 502, 503, 504):
        delay = None
        if retry_after and retry_after.strip().isdigit():
            delay = float(retry_after.strip())
        return RetryableFetchError(f"{url} answered HTTP {status}; will try again later",
                                   reason=f"http_{status}", http_status=status, retry_after=delay)
    if status in (404, 410):
        what = "is gone (410)" if status == 410 else "was not found (404)"
        return FetchRefused(f"{url} {what}; check the URL in sources.yaml",
                            reason="gone" if status == 410 else "not_found", http_status=status)
    if status in (401, 403):
        return FetchRefused(f"{url} refused access (HTTP {status}); the site may block robots or need a login",
                            reason=f"http_{status}", http_status=status)
    if status >= 500:
        return RetryableFetchError(f"{url} answered HTTP {status}", reason=f"http_{status}", http_status=status)
    return FetchRefused(f"{url} answered HTTP {status}", reason=f"http_{status}", http_status=status)


_XML_DECL = re.compile(rb'^<\?xml[^>]*encoding=["\']([A-Za-z0-9._-]+)["\']')
_META_CHARSET = re.compile(rb'<meta[^>]+charset=["\']?([A-Za-z0-9._-]+)', re.I)


def decode(content: bytes, content_type: str = "") -> str:
    """Bytes to text: BOM, then XML declaration or <meta>, then HTTP charset, then UTF-8."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                          (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if content.startswith(bom):
            return content[len(bom):].decode(encoding, errors="replace")
    candidates = []
    head = content[:4096]
    m = _XML_DECL.match(head.lstrip()) or _META_CHARSET.search(head)
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    m = re.search(r"charset=([\w.-]+)", content_type or "", re.I)
    if m:
        candidates.append(m.group(1))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            codecs.lookup(encoding)
        except LookupError:
            continue
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("windows-1252", errors="replace")


class HttpFetcher:
    """A requests-based Fetcher with timeouts, a size cap and typed errors."""

    def __init__(self, *, connect_timeout: float = 10, read_timeout: float = 30,
                 max_bytes: int = DEFAULT_MAX_BYTES, allow_local_paths: bool = False,
                 session: requests.Session | None = None) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        self.allow_local_paths = allow_local_paths
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.requests_made = 0

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("", "file"):
            return self._read_local(url)
        if scheme not in ("http", "https"):
            raise FetchRefused(f'{url}: only http and https URLs are fetched', reason="bad_scheme")
        headers = {"Accept": accept} if accept else {}
        self.requests_made += 1
        try:
            with self.session.get(url, headers=headers, timeout=self.timeout, stream=True) as response:
                problem = classify(response.status_code, url, response.headers.get("Retry-After"))
                if problem:
                    raise problem
                content = self._read_capped(response, url)
                content_type = response.headers.get("Content-Type", "")
                return Fetched(url=response.url, status=response.status_code, content=content,
                               text=decode(content, content_type), content_type=content_type,
                               last_modified=response.headers.get("Last-Modified"))
        except requests.Timeout:
            raise RetryableFetchError(f"{url} did not answer in time", reason="timeout") from None
        except requests.TooManyRedirects:
            raise FetchRefused(f"{url} redirects too many times", reason="too_many_redirects") from None
        except requests.ConnectionError as e:
            raise RetryableFetchError(f"{url} could not be reached ({_short(e)})", reason="connection") from None
        except requests.RequestException as e:
            raise RetryableFetchError(f"{url} failed ({_short(e)})", reason="connection") from None

    def _read_capped(self, response: requests.Response, url: str) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchRefused(f"{url} is larger than {self.max_bytes // (1024 * 1024)} MiB; refused",
                                   reason="too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_local(self, url: str) -> Fetched:
        if not self.allow_local_paths:
            raise FetchRefused(f"{url}: local files are not read for this source type", reason="bad_scheme")
        path = Path(urlsplit(url).path if url.startswith("file:") else url)
        try:
            if path.stat().st_size > self.max_bytes:
                raise FetchRefused(f"{path} is larger than {self.max_bytes // (1024 * 1024)} MiB; refused",
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


def _short(error: Exception) -> str:
    text = str(error)
    m = re.search(r"\] ([^'\]]+)", text) or re.search(r"Errno -?\d+\] ([^'\"]+)", text)
    return (m.group(1) if m else text)[:160]
