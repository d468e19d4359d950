"""`serve` stays up for everyone while hundreds of clients hold idle or trickling connections.

Each test starts the real `serve` command in its own process (the settings come from the
`serve:` section of sources.yaml), opens raw sockets against it, and checks what a normal
visitor (a calendar app fetching /calendar.ics) sees meanwhile.
"""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from tests.site_fixture import CONFIG, publish_site, start_serve


@contextmanager
def serving(tmp_path: Path, serve_section: str = ""):
    """`serve` in a child process on a free loopback port; yields its base URL."""
    config, out = publish_site(tmp_path)
    config_path = tmp_path / "sources.yaml"
    config_path.write_text(CONFIG + serve_section, encoding="utf-8")
    proc, url = start_serve(config_path, tmp_path / "db", out)
    try:
        yield url.rstrip("/"), out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def slow_client(base: str) -> socket.socket:
    """A connection that has sent the start of a request and will trickle the rest."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"GET /calendar.ics HTTP/1.1\r\nHost: events.example.org\r\n")
    return sock


def trickle(sockets: list[socket.socket]) -> int:
    """One more header line on every socket still open; how many were still open."""
    alive = 0
    for sock in sockets:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
            alive += 1
        except OSError:
            pass
    return alive


def test_a_visitor_gets_the_feed_quickly_while_150_clients_trickle_headers(tmp_path):
    with serving(tmp_path) as (base, out), ExitStack() as stack:
        sockets = [stack.enter_context(slow_client(base)) for _ in range(150)]
        expected = (out / "calendar.ics").read_bytes()
        waits = []
        for _ in range(8):  # about 4 s of trickling, with a visitor fetching the feed meanwhile
            assert trickle(sockets) == 150, "the slow clients are still connected (the test holds them open)"
            began = time.monotonic()
            r = requests.get(base + "/calendar.ics", headers={"Accept-Encoding": "identity"}, timeout=5)
            waits.append(time.monotonic() - began)
            assert r.status_code == 200 and r.content == expected
            time.sleep(0.4)
        # waitress's own default (100 connections) would leave the visitor waiting for a free slot
        assert max(waits) < 2.0, f"the feed took {max(waits):.2f} s with 150 slow clients connected"
        health = requests.get(base + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["ok"] is True


def test_a_client_that_never_finishes_its_request_is_disconnected(tmp_path):
    section = "serve:\n  request_timeout: 1\n  cleanup_interval: 0.2\n"
    with serving(tmp_path, section) as (base, _), ExitStack() as stack:
        slow = stack.enter_context(slow_client(base))
        # A keep-alive visitor that finished its request and then waits is left alone.
        visitor = requests.Session()
        assert visitor.get(base + "/events.json", timeout=5).status_code == 200
        deadline = time.monotonic() + 6
        closed = False
        while time.monotonic() < deadline and not closed:
            time.sleep(0.3)
            try:
                slow.sendall(b"X-Slow: 1\r\n")
                slow.settimeout(0.05)
                closed = slow.recv(1024) == b""
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:  # reset by the server
                closed = True
        assert closed, "a client trickling header lines for 6 s was not disconnected (request_timeout: 1)"
        assert visitor.get(base + "/events.json", timeout=5).status_code == 200
