"""What the fetcher's transport does as a browser-like client would: a cookie a site sets is sent
back to it for the rest of the run, and a proxy named in the environment carries the requests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aggregator.collect.fetch import HttpFetcher

CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"


class _Site(BaseHTTPRequestHandler):
    """Sets a consent cookie on /consent; notes every request line and Cookie header it gets."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.requestline.split()[1], self.headers.get("Cookie")))
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(CALENDAR)))
        if self.path == "/consent":
            self.send_header("Set-Cookie", "consent=yes; Path=/")
        self.end_headers()
        self.wfile.write(CALENDAR)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site(no_proxies):
    _Site.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_cookie_a_site_sets_is_sent_back_to_it_for_the_rest_of_the_run(site):
    fetcher = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2)
    try:
        fetcher.get(f"{site}/before")
        fetcher.get(f"{site}/consent")
        fetcher.get(f"{site}/calendar.ics")
    finally:
        fetcher.close()
    assert _Site.seen == [("/before", None), ("/consent", None), ("/calendar.ics", "consent=yes")]


def test_a_proxy_named_in_the_environment_carries_the_requests(site, monkeypatch):
    monkeypatch.setenv("http_proxy", site)  # the site plays the proxy: it sees the absolute URL
    fetcher = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2)
    try:
        fetched = fetcher.get("http://calendar.example.org/chapter.ics")
    finally:
        fetcher.close()
    assert fetched.content == CALENDAR
    assert _Site.seen == [("http://calendar.example.org/chapter.ics", None)]


def test_no_proxy_names_the_hosts_reached_directly(site, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    fetcher = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2)
    try:
        assert fetcher.get(f"{site}/calendar.ics").content == CALENDAR
    finally:
        fetcher.close()
