"""The direct exchange: one GET over http.client on a kept-alive, guarded connection.

urllib3's pool and response layers cost about as much CPU again as the exchange itself (pool
keys and checks, header validation, a second header dict, response wrappers): on a re-run of
534 conditional GETs answered 304, most of the run's CPU. Requests that go straight to the site
(no proxy; session.py sends proxied ones through urllib3) take this path instead:

    DirectPools.open   an idle connection of the origin (or a new one), the request, the status
                       line and headers; errors as urllib3 raises them, so status.py reads them alike
    Exchange.stream    the body as read: http.client reads lengths and chunks; a compressed body
                       goes through urllib3's own decoders (gzip, deflate, br, zstd, their errors)
    _Connection        resolves within the deadline, connects, checks the address (guard.py)

A connection goes back to its origin's idle list only once its body was read to the end.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator, Mapping

import urllib3
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util.wait import wait_for_read

from aggregator.collect.fetch.guard import SSRFBlocked, connect_guarded
from aggregator.collect.fetch.state import current_context


class _Connection(http.client.HTTPConnection):
    """http.client's connection, opened the guarded way (and wrapped in TLS for https)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self.tls = tls

    def connect(self) -> None:
        ctx = current_context()
        sock = connect_guarded(self, self.host, self.port, self.timeout, ctx)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host.strip("[]"))
            except BaseException:
                sock.close()
                raise
            if ctx is not None:
                ctx.watch(sock)  # the TLS socket took the plain one's descriptor over
        self.sock = sock


class Exchange:
    """One response: status, headers (case-insensitive), and its body to stream once."""

    def __init__(self, pools: "DirectPools", key: tuple, conn: _Connection, response: http.client.HTTPResponse,
                 url: str) -> None:
        self._pools = pools
        self._key = key
        self._conn: _Connection | None = conn
        self._response = response
        self.url = url
        self.status = response.status
        # As urllib3 reads them: case-insensitive, a repeated header's values joined with commas
        # (two Content-Encoding headers are two codings; getlist() gives every Set-Cookie).
        self.headers = urllib3.HTTPHeaderDict(response.msg.items())

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        """The body in pieces of at most `amt` bytes, decoded when it is compressed."""
        response = self._response
        if self.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity") and decode_content:
            body = urllib3.HTTPResponse(body=response, headers=self.headers,
                                        status=self.status, preload_content=False, decode_content=True,
                                        original_response=response, request_url=self.url)
            yield from body.stream(amt, decode_content=True)
            return
        try:
            while True:
                data = response.read(amt)
                if not data:
                    break
                yield data
        except TimeoutError as e:
            raise ReadTimeoutError(None, self.url, "Read timed out.") from e
        except (OSError, http.client.HTTPException) as e:
            raise ProtocolError(f"Connection broken: {e!r}", e) from e
        if response.length:  # the peer closed before the length it announced
            e = http.client.IncompleteRead(b"", response.length)
            raise ProtocolError(f"Connection broken: {e!r}", e)

    def release_conn(self) -> None:
        """The body was read to the end: the connection may serve the origin again."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._response.close()
        if self._response.will_close or conn.sock is None:
            conn.close()
        else:
            self._pools.put(self._key, conn)

    def close(self) -> None:
        """Give the connection up (a body left unread, an error): it is never used again."""
        conn, self._conn = self._conn, None
        self._response.close()
        if conn is not None:
            conn.close()


class DirectPools:
    """Kept-alive connections per origin, at most `per_host` idle ones each (thread-safe)."""

    def __init__(self, *, per_host: int, ca_bundle: str) -> None:
        self.per_host = per_host
        self.ca_bundle = ca_bundle
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def open(self, scheme: str, host: str, port: int, target: str, url: str, headers: Mapping[str, str],
             timeout: tuple[float, float]) -> Exchange:
        """Send GET `target` to the origin and read the status line and headers."""
        key = (scheme, host, port)
        conn = self._take(key)
        ctx = current_context()
        if conn is None:
            conn = _Connection(host, port, self._context() if scheme == "https" else None)
        elif ctx is not None:
            ctx.watch(conn.sock)
        conn.timeout = timeout[0]  # connecting; the read timeout is set once the request is out
        try:
            conn.request("GET", target, headers=headers)
            conn.sock.settimeout(timeout[1])
            response = conn.getresponse()
        except (HTTPError, SSRFBlocked):
            conn.close()
            raise
        except TimeoutError as e:
            conn.close()
            raise ReadTimeoutError(None, url, f"Read timed out. (read timeout={timeout[1]})") from e
        except (ssl.SSLError, ssl.CertificateError) as e:
            conn.close()
            raise SSLError(e) from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise ProtocolError("Connection aborted.", e) from e
        return Exchange(self, key, conn, response, url)

    def put(self, key: tuple, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.per_host:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _take(self, key: tuple) -> _Connection | None:
        """An idle connection the peer has not closed meanwhile (a readable idle socket is a
        closed one, or one holding bytes nobody asked for), or None."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if conn.sock is not None and not wait_for_read(conn.sock, timeout=0.0):
                return conn
            conn.close()

    def _context(self) -> ssl.SSLContext:
        """One TLS context for the run: the CA bundle, certificates and host names checked."""
        if self._tls is None:
            context = ssl.create_default_context(cafile=self.ca_bundle)
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls
