"""What an HTTP status, or a failed exchange, means for a source: the one error ladder.

`classify` maps a status code onto the typed error that says what to do (retry later, or fix
sources.yaml); `request_error` does the same for an exception raised by urllib3 while
sending a request. Both the fetcher and the robots.txt reader go through them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import urllib3

from aggregator.errors import FetchRefused, RetryableFetchError, SourceError
from aggregator.collect.fetch.guard import SSRFBlocked, ssrf_error

RETRIED_STATUSES = (429, 502, 503, 504)


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
             headers: Mapping[str, str] | None = None) -> SourceError | None:
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


def request_error(error: BaseException, url: str, timeout: tuple[float, float]) -> SourceError:
    """The typed error for an exception raised while sending one request (no status seen)."""
    if isinstance(error, SourceError):
        return error
    if isinstance(error, SSRFBlocked):
        return ssrf_error(url, error)
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError to urllib3
        return RetryableFetchError(f"{url} could not be reached ({short(error)})", reason="connection")
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return RetryableFetchError(f"{url} did not accept a connection within {timeout[0]:g} s; timed out",
                                   reason="timeout")
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return RetryableFetchError(f"{url} did not answer within {timeout[1]:g} s; timed out", reason="timeout")
    if isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return RetryableFetchError(f"{url} did not answer; timed out", reason="timeout")
    if isinstance(error, ValueError):  # urllib3's LocationValueError / LocationParseError included
        return FetchRefused(f"{url} is not a usable address ({short(error)})", reason="bad_url")
    return RetryableFetchError(f"{url} could not be reached ({short(error)})", reason="connection")


def deadline_error(url: str, deadline: float) -> RetryableFetchError:
    return RetryableFetchError(f"{url} did not finish within the {deadline:g} s deadline "
                               "(fetch.deadline); the server is too slow", reason="timeout")


def body_error(url: str, error: Exception) -> SourceError:
    """The typed error for a failure while reading a body whose headers arrived."""
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return RetryableFetchError(f"{url} stopped sending data; timed out", reason="timeout")
    if isinstance(error, urllib3.exceptions.DecodeError):
        return FetchRefused(f"{url} sent a body that does not decompress ({short(error)})",
                            reason="bad_encoding")
    text = str(error)
    if "IncompleteRead" in text or "incomplete" in text.lower():
        return RetryableFetchError(f"{url} closed the connection before the whole body arrived "
                                   "(truncated response)", reason="truncated")
    return RetryableFetchError(f"{url}: the connection broke while reading ({short(error)})",
                               reason="connection")


def worth_retrying(e: RetryableFetchError) -> bool:
    return e.reason == "timeout" or (e.http_status in RETRIED_STATUSES)


def short(error: BaseException) -> str:
    """The useful part of a urllib3 error: "Connection refused", "Name or service not known"."""
    text = str(error)
    if "Failed to resolve" in text or "NameResolutionError" in text:
        m = re.search(r"Failed to resolve '([^']+)'", text)
        return f"the name {m.group(1)} does not resolve" if m else "the host name does not resolve"
    m = re.search(r"Errno -?\d+\] ([^'\"\)\]]+)", text) or re.search(r"\] ([^'\"\)\]]+)", text)
    return (m.group(1) if m else text).strip().rstrip(".")[:160]


def size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "a while"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
