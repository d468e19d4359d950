"""How the direct transport (collect/fetch/wire.py) reads answers written byte for byte as servers
send them: interim 1xx answers skipped, kept-alive connections reused and closing ones not, a body
cut short reported as truncated, and http.client's limit on the number of header lines kept; and
how it writes a request: the target urllib3 reads from the URL, the bytes http.client would send,
refused where http.client refuses."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from aggregator.collect.fetch import HttpFetcher
from aggregator.collect.fetch.session import split_target
from aggregator.collect.fetch.wire import request_head
from aggregator.errors import SourceError

CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"
LENGTH = b"Content-Type: text/calendar\r\nContent-Length: %d\r\n\r\n" % len(CALENDAR) + CALENDAR
CHUNKED = (b"Content-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n" % 20 + CALENDAR[:20] + b"\r\n" + b"%x\r\n" % (len(CALENDAR) - 20) + CALENDAR[20:]
           + b"\r\n0\r\n\r\n")


def _headers(n: int) -> bytes:
    return b"".join(b"X-Note-%d: %d\r\n" % (i, i) for i in range(n))


# path -> (the answer's bytes, whether the server closes the connection after it)
ANSWERS = {
    "/length": (b"HTTP/1.1 200 OK\r\n" + LENGTH, False),
    "/chunked": (b"HTTP/1.1 200 OK\r\n" + CHUNKED, False),
    "/close": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n" + LENGTH, True),
    "/http10": (b"HTTP/1.0 200 OK\r\nContent-Type: text/calendar\r\n\r\n" + CALENDAR, True),
    "/hints": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
               b"HTTP/1.1 200 OK\r\n" + LENGTH, False),
    "/cut-chunked": (b"HTTP/1.1 200 OK\r\n" + CHUNKED[:-30], True),
    "/cut-length": (b"HTTP/1.1 200 OK\r\n" + LENGTH[:-10], True),
    "/headers-97": (b"HTTP/1.1 200 OK\r\n" + _headers(97) + LENGTH, False),
    "/headers-98": (b"HTTP/1.1 200 OK\r\n" + _headers(98) + LENGTH, False),
}


class _RawSite:
    """A loopback server answering each request with the bytes in ANSWERS; counts connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            pending = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
                while b"\r\n\r\n" in pending:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    answer, close = ANSWERS[head.split(b" ")[1].decode()]
                    conn.sendall(answer)
                    if close:
                        return


@pytest.fixture
def site(no_proxies):
    raw = _RawSite()
    fetcher = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2, retries=1, backoff_base=0.05)
    yield raw, fetcher
    fetcher.close()
    raw.listener.close()


def test_interim_answers_are_skipped_for_the_answer_that_follows(site):
    raw, fetcher = site
    assert fetcher.get(f"{raw.url}/hints").content == CALENDAR


@pytest.mark.parametrize("path", ["/length", "/chunked", "/close", "/http10"])
def test_each_way_of_ending_a_body_gives_the_whole_body(site, path):
    raw, fetcher = site
    assert fetcher.get(f"{raw.url}{path}").content == CALENDAR


def test_a_kept_alive_connection_serves_the_next_request_and_a_closed_one_is_replaced(site):
    raw, fetcher = site
    for path in ("/length", "/chunked", "/length"):
        fetcher.get(f"{raw.url}{path}")
    assert raw.connections == 1
    fetcher.get(f"{raw.url}/close")
    fetcher.get(f"{raw.url}/length")
    assert raw.connections == 2


@pytest.mark.parametrize("path", ["/cut-chunked", "/cut-length"])
def test_a_body_cut_short_is_reported_as_truncated(site, path):
    raw, fetcher = site
    with pytest.raises(SourceError) as caught:
        fetcher.get(f"{raw.url}{path}")
    assert caught.value.reason == "truncated", str(caught.value)


def test_more_header_lines_than_http_client_allows_are_refused(site):
    raw, fetcher = site
    # with Content-Type and Content-Length: 99 header lines pass, 100 do not (http.client's limit
    # of 100 counts the blank line that ends the head)
    assert fetcher.get(f"{raw.url}/headers-97").content == CALENDAR
    with pytest.raises(SourceError) as caught:
        fetcher.get(f"{raw.url}/headers-98")
    assert "more than 100 headers" in str(caught.value)


# URL pieces as sources and pages give them: plain, escaped, with dot segments, odd ports, unicode.
_PIECES = st.sampled_from(["a", "B", ".", "..", ".x", "a.b", "%7e", "%2F", " ", "é", "~", "-", "_", "!", "$",
                           "'", "(", "*", "+", ",", ";", "=", ":", "@", "&", "?", "/", "#", ""])


@given(host=st.sampled_from(["ex.org", "Ex.Org", "127.0.0.1", "[::1]", "xn--bcher-kva.example", "bücher.example"]),
       scheme=st.sampled_from(["http", "https", "HTTP"]),
       port=st.sampled_from(["", ":80", ":8080", ":0443", ":65535"]),
       path=st.lists(_PIECES, max_size=8).map("".join), query=st.lists(_PIECES, max_size=5).map("".join))
@settings(max_examples=400, deadline=None)
def test_the_request_target_is_what_urllib3_reads_from_the_url(host, scheme, port, path, query):
    url = f"{scheme}://{host}{port}/{path}" + (f"?{query}" if query else "")
    parts = parse_url(url)
    assert split_target(url) == (parts.scheme, parts.host, parts.port, parts.request_uri)


def test_a_request_is_written_as_http_client_writes_it():
    headers = {"User-Agent": "massage-events/1", "Accept": "*/*", "If-None-Match": '"abc"'}
    for host, port, default in (("ex.org", 80, 80), ("ex.org", 8080, 80), ("::1", 443, 443), ("bücher.example", 443, 80)):
        sent = []
        conn = http.client.HTTPConnection(host, port)
        conn.default_port = default
        conn.send = sent.append
        conn.request("GET", "/a?b=1", headers=headers)
        assert request_head("/a?b=1", host, port, default, headers) == b"".join(sent)


@pytest.mark.parametrize("target, headers", [("/a b", {}), ("/a\r\nX: y", {}), ("/", {"X-A": "1\r\nX-B: 2"}),
                                             ("/", {" X-A": "1"}), ("/", {"X:A": "1"}), ("/", {"X-A": "1\n"})])
def test_a_request_http_client_would_refuse_is_refused(target, headers):
    with pytest.raises((ValueError, http.client.InvalidURL)):
        request_head(target, "ex.org", 80, 80, headers)
