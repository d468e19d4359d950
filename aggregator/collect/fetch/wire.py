"""The direct exchange: one GET over http.client on a kept-alive, guarded connection.

urllib3's pool and response layers cost about as much CPU again as the exchange itself (pool
keys and checks, header validation, a second header dict, response wrappers): on a re-run of
534 conditional GETs answered 304, most of the run's CPU. Requests that go straight to the site
(no proxy; session.py sends proxied ones through urllib3) take this path instead:

    DirectPools.open   an idle connection of the origin (or a new one), the request written in one
                       send, the status line and headers; errors as urllib3 raises them, so
                       status.py reads them alike
    request_head       the request's bytes, checked as http.client checks them
    _Response          the answer, read through llhttp (httptools): status line, headers and body
                       framing in C, where http.client's own reading and its email-package header
                       parser cost ~45 µs of each exchange's ~150 µs
    Exchange.stream    the body as read; a compressed body goes through urllib3's own decoders
                       (gzip, deflate, br, zstd, their errors)
    _Connection        resolves within the deadline, connects, checks the address (guard.py)

A connection goes back to its origin's idle list only once its body was read to the end.

http.client's connection opens the socket; the request and the answer bypass its request state:
its request() and getresponse() are ~100 Python calls per exchange (header checks one header at a
time, a state machine, a file over the socket), and on a re-run where every answer is a 304 those
calls, run each time with the processor's caches cold after waiting on the network, were most of
the exchange's CPU.
"""

from __future__ import annotations

import http.client
import re
import ssl
import threading
from collections.abc import Iterator, Mapping

import httptools
import urllib3
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util.wait import wait_for_read

from aggregator.collect.fetch.guard import SSRFBlocked, connect_guarded
from aggregator.collect.fetch.state import current_context


# http.client's limits on a response's head (its _MAXHEADERS and _MAXLINE), kept as they were.
_MAX_HEADERS = 100
_MAX_LINE = 65536
# A head still unfinished past this many bytes is refused: no more than http.client could have
# accepted (a status line and 100 header lines of 64 KiB), so a never-ending header cannot grow.
_MAX_HEAD = (_MAX_HEADERS + 1) * (_MAX_LINE + 2)
_READ = 64 * 1024  # bytes asked of the socket at a time


# What http.client refuses in a request (its _contains_disallowed_url_pchar_re, _is_legal_header_name
# and _is_illegal_header_value): a target with a control character or space, a header name that
# starts with white space or holds a colon or line break, a line break in a value not followed by
# folding white space.
_BAD_TARGET = re.compile("[\x00-\x20\x7f]")
_LEGAL_NAME = re.compile(r"[^:\s][^:\r\n]*").fullmatch
_BAD_VALUE = re.compile(r"\n(?![ \t])|\r(?![ \t\n])")


def request_head(target: str, host: str, port: int, default_port: int, headers: Mapping[str, str]) -> bytes:
    """`GET target HTTP/1.1`, Host (the port only when not the scheme's own) and `headers`, as one
    block of bytes, as http.client writes them (Accept-Encoding: identity when none is given); a
    target, name or value http.client would refuse raises as it does. `host` is bare (no brackets)."""
    if _BAD_TARGET.search(target):
        raise http.client.InvalidURL(f"URL can't contain control characters. {target!r}")
    try:
        name = host.encode("ascii")
    except UnicodeEncodeError:
        name = host.encode("idna")
    if ":" in host:  # an IPv6 address
        name = b"[" + name + b"]"
    lines = [b"GET ", target.encode("ascii"), b" HTTP/1.1\r\nHost: ", name]
    if port != default_port:
        lines.append(b":%d" % port)
    if "Accept-Encoding" not in headers and not any(key.lower() == "accept-encoding" for key in headers):
        lines.append(b"\r\nAccept-Encoding: identity")
    for key, value in headers.items():
        if not _LEGAL_NAME(key) or _BAD_VALUE.search(value):
            raise ValueError(f"Invalid header {key!r}: {value!r}")
        lines += (b"\r\n", key.encode("ascii"), b": ", value.encode("latin-1"))
    lines.append(b"\r\n\r\n")
    return b"".join(lines)


class _Malformed(http.client.HTTPException):
    """A response llhttp could not read (raised as http.client's errors are, so mapped alike)."""


class _Stop(Exception):
    """Ends parsing at the next message: one response per request, nothing pipelined."""


class _Response:
    """One response on a connection's socket, its head and body framing read by llhttp.

    Everything read is fed to the parser, which calls back with the headers and body pieces:
    a 1xx answer is skipped, 204/304 have no body, Content-Length, chunked and close-delimited
    bodies end where HTTP/1.1 says; keep-alive is llhttp's reading of the version and Connection.
    """

    def __init__(self, sock) -> None:
        self._sock = sock
        self._closed = False
        self._parser = httptools.HttpResponseParser(self)
        # What http.client itself tolerates: bare LF line ends, any bytes in a header value,
        # Transfer-Encoding: chunked beside a Content-Length (chunked wins), spaces after a chunk size.
        self._parser.set_dangerous_leniencies(lenient_headers=True, lenient_chunked_length=True,
                                              lenient_optional_cr_before_lf=True,
                                              lenient_spaces_after_chunk_size=True)
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.will_close = True
        self._head = 0  # bytes of the head so far
        self._headed = False
        self._complete = False
        self._chunked = False
        self._body: list[bytes] = []
        self._left = b""  # body bytes received beyond what read() was asked for
        self._received = 0  # body bytes so far

    # llhttp's callbacks
    def on_message_begin(self) -> None:
        if self._complete:  # bytes after the answer: the connection cannot serve another
            self.will_close = True
            raise _Stop
        self.headers = []

    def on_status(self, reason: bytes) -> None:
        if len(reason) + 15 > _MAX_LINE:  # the line as "HTTP/1.1 200 reason\r\n"
            raise http.client.LineTooLong("status line")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) + 4 > _MAX_LINE:  # the line as "name: value\r\n"
            raise http.client.LineTooLong("header line")
        if len(self.headers) >= _MAX_HEADERS - 1:  # http.client counts the blank line that ends the head
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.status = status
        self._headed = True
        self.will_close = not self._parser.should_keep_alive()

    def on_chunk_header(self) -> None:
        self._chunked = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._received += len(body)

    def on_message_complete(self) -> None:
        if self._headed:
            self._complete = True

    # the reader's side
    def begin(self) -> None:
        """Read until the final answer's headers are in (with whatever body came along)."""
        while not self._headed:
            data = self._sock.recv(_READ)
            if not data:
                raise http.client.RemoteDisconnected("Remote end closed connection without response")
            self._head += len(data)
            self._feed(data)
            if not self._headed and self._head > _MAX_HEAD:
                raise http.client.LineTooLong("header line")

    def read(self, amt: int | None = None) -> bytes:
        """Up to `amt` bytes of the body (all of it when None); b"" at its end."""
        if amt is None:
            pieces = [self._left, *self._body]
            self._left, self._body = b"", []
            while not self._complete:
                data = self._sock.recv(_READ)
                if not data:
                    self._end()
                    break
                self._feed(data)
                pieces.extend(self._body)
                self._body = []
            return b"".join(pieces)
        while not self._left and not self._body and not self._complete:
            data = self._sock.recv(min(amt, _READ))
            if not data:
                self._end()
                break
            self._feed(data)
        if self._body:
            self._left = b"".join([self._left, *self._body]) if self._left else (
                self._body[0] if len(self._body) == 1 else b"".join(self._body))
            self._body = []
        data, self._left = self._left[:amt], self._left[amt:]
        return data

    def isclosed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Read no more (the connection's owner closes or keeps the socket)."""
        self._closed = True

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, _Stop):
                return
            if isinstance(e.__context__, http.client.HTTPException):
                raise e.__context__ from None
            raise
        except httptools.HttpParserUpgrade:  # 101 Switching Protocols: nothing of HTTP follows
            self._complete = self._headed
            self.will_close = True
        except httptools.HttpParserError as e:
            if self._complete:  # junk after a whole answer: that answer stands, the connection goes
                self.will_close = True
                return
            raise _Malformed(f"malformed response ({e})") from None

    def _end(self) -> None:
        """The peer closed before the parser saw the body's end: a close-delimited body ends
        here; one with a length or chunks is truncated (llhttp has no end-of-input call in httptools,
        so the framing is told from the headers as llhttp read them)."""
        self.will_close = True
        if not self._headed:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        length = None
        for name, value in self.headers:
            low = name.lower()
            if low == "transfer-encoding" and value.rsplit(",", 1)[-1].strip().lower() == "chunked":
                self._chunked = True
            elif low == "content-length" and value.strip().isdigit():  # llhttp checked it
                length = int(value)
        if self._chunked:
            raise http.client.IncompleteRead(b"")
        if length is not None:
            raise http.client.IncompleteRead(b"", length - self._received)
        self._complete = True


class _Connection(http.client.HTTPConnection):
    """http.client's connection, opened the guarded way (and wrapped in TLS for https). Only its
    socket is used: requests and answers go through request_head and _Response."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self.tls = tls
        self.default_port = 443 if tls is not None else 80

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

    def __init__(self, pools: "DirectPools", key: tuple, conn: _Connection, response: _Response,
                 url: str) -> None:
        self._pools = pools
        self._key = key
        self._conn: _Connection | None = conn
        self._response = response
        self.url = url
        self.status = response.status
        # As urllib3 reads them: case-insensitive, a repeated header's values joined with commas
        # (two Content-Encoding headers are two codings; getlist() gives every Set-Cookie).
        self.headers = urllib3.HTTPHeaderDict()
        for name, value in response.headers:  # add() itself: the constructor's type checks cost more
            self.headers.add(name, value)

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        """The body in pieces of at most `amt` bytes, decoded when it is compressed."""
        response = self._response
        if self.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity") and decode_content:
            # urllib3 reads our response as a file (read(amt)): it has no `fp`, so urllib3 does
            # not read chunks itself; llhttp has already taken them apart.
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
        except (OSError, http.client.HTTPException) as e:  # IncompleteRead: closed before the end
            raise ProtocolError(f"Connection broken: {e!r}", e) from e

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
            head = request_head(target, conn.host, conn.port, conn.default_port, headers)
            if conn.sock is None:
                conn.connect()
            conn.sock.sendall(head)
            conn.sock.settimeout(timeout[1])
            response = _Response(conn.sock)
            response.begin()
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
        except ValueError:  # a request http.client would refuse: the caller reports the URL
            conn.close()
            raise
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
