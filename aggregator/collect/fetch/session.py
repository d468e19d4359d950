"""The transport under the fetcher: an adapter that reads every body itself, decoded, capped
and within the deadline.

    LimitedAdapter                 reads the DECODED body under the size cap and the deadline;
                                   refuses chained encodings; nothing is cached when it raises
    Guarded*Connection (guard.py)  resolve within the deadline, connect, check the address
"""

from __future__ import annotations

import logging

from requests.adapters import HTTPAdapter

from aggregator.errors import FetchRefused, SourceError
from aggregator.collect.fetch.guard import GuardedHTTPPool, GuardedHTTPSPool
from aggregator.collect.fetch.state import WATCHDOG, current_context
from aggregator.collect.fetch.status import body_error, deadline_error, size_text

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ROBOTS_TTL = 24 * 3600  # seconds a robots.txt is trusted, in memory and in the HTTP cache
FORCE_REFRESH_AFTER = 12 * 3600  # seconds: an unconditional fetch at least this often (docs/reliability.md A4)
_CHUNK = 64 * 1024


class LimitedAdapter(HTTPAdapter):
    """Reads every body itself: decoded, capped, within the source's deadline.

    A refused body raises before the fetcher could cache anything.
    """

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        """The whole exchange (connect, status line, headers, body) ends at the source's
        deadline: a watchdog shuts the request's sockets then, whatever the peer is doing."""
        ctx = current_context()
        if ctx is None:
            return self._send(request, None, DEFAULT_MAX_BYTES, timeout=timeout, verify=verify, cert=cert,
                              proxies=proxies)
        ctx.on_request()
        entry = WATCHDOG.arm(ctx.state.deadline_at, ctx.expire)
        try:
            return self._send(request, ctx, ctx.max_bytes, timeout=timeout, verify=verify, cert=cert,
                              proxies=proxies)
        except SourceError:
            raise
        except Exception:
            if ctx.expired.is_set():  # whatever broke, it broke because the deadline shut it
                raise deadline_error(request.url, ctx.state.deadline) from None
            raise
        finally:
            WATCHDOG.disarm(entry)

    def _send(self, request, ctx, max_bytes: int, **kwargs):
        response = super().send(request, stream=True, **kwargs)
        url = request.url
        raw = response.raw
        expired = ctx.expired.is_set if ctx is not None else (lambda: False)
        if expired():
            _discard(raw)
            raise deadline_error(url, ctx.state.deadline)
        codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",")
                   if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1:
            _discard(raw)
            raise FetchRefused(f"{url} is compressed {len(codings)} times over ({', '.join(codings)}), "
                               "a decompression-bomb pattern; refused", reason="too_large",
                               http_status=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused(f"{url} is larger than {size_text(max_bytes)} once decompressed; refused "
                                       "(raise fetch.max_bytes if it is genuine)", reason="too_large",
                                       http_status=response.status_code)
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
        response._content = b"".join(chunks)
        response._content_consumed = True
        raw.release_conn()
        return response


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
