"""The imap adapter against a real Dovecot on 127.0.0.1 (tests/imap_server.py).

Skipped with a clear message where Dovecot is not installed (`apt-get install -y dovecot-imapd`).
The checks that need no server (missing password variable, clear-text to a remote host,
a server that is down, the password never in sources.yaml) always run.
"""

from __future__ import annotations

import imaplib
import socket
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from aggregator.errors import FetchRefused, RetryableFetchError, SourceError
from aggregator.model import RawEvent, Status, Window
from sources.base import Skipped
from sources.imap import ImapAdapter
from sources.parse.mail import split_mbox
from tests.imap_server import DOVECOT, NOT_INSTALLED, DovecotServer

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
CHICAGO = ZoneInfo("America/Chicago")
WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))
ENV = "MASSAGE_EVENTS_TEST_IMAP_PASSWORD"

needs_dovecot = pytest.mark.skipif(DOVECOT is None, reason=NOT_INSTALLED)


class NoHttp:
    def get(self, url, **kw):
        raise AssertionError("the imap adapter must not use the HTTP fetcher")


@pytest.fixture(scope="module")
def imap_server():
    if DOVECOT is None:
        pytest.skip(NOT_INSTALLED)
    server = DovecotServer().start()
    try:
        for raw in split_mbox((FIXTURES / "list_archive_2026-03.mbox").read_bytes()):
            server.deliver(raw)
        server.deliver((FIXTURES / "invitation_method_request.eml").read_bytes(), folder="lmt-chicago")
        server.deliver((FIXTURES / "invitation_method_cancel.eml").read_bytes(), folder="lmt-chicago")
        yield server
    finally:
        server.stop()


def options(port: int, **keys):
    values = dict(id="inbox", type="imap", host="127.0.0.1", port=port, tls="none", username="curator",
                  password_env=ENV, timezone="America/Chicago")
    values.update(keys)
    return ImapAdapter.Options(**values)


def read(opts):
    return list(ImapAdapter().read(opts, NoHttp(), WINDOW))


@needs_dovecot
def test_list_posts_in_the_inbox_are_read_over_imap(imap_server, monkeypatch):
    monkeypatch.setenv(ENV, imap_server.password)
    items = read(options(imap_server.port))
    events = {e.title: e for e in items if isinstance(e, RawEvent)}
    assert set(events) == {"Spring Networking Mixer - Tuesday, March 10", "Ethics CE night", "Board meeting"}
    mixer = events["Spring Networking Mixer - Tuesday, March 10"]
    assert mixer.start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
    assert mixer.location == "Café Lula, 2537 N Kedzie Blvd, Chicago"
    assert any(isinstance(s, Skipped) and s.reason == "a job ad, not an event" for s in items)


@needs_dovecot
def test_a_folder_with_an_invitation_and_its_cancellation_gives_one_cancelled_event(imap_server, monkeypatch):
    monkeypatch.setenv(ENV, imap_server.password)
    events = [e for e in read(options(imap_server.port, folder="lmt-chicago")) if isinstance(e, RawEvent)]
    assert [(e.external_id, e.status) for e in events] == [("board-2026-03-24@amta-il.example", Status.CANCELLED)]


@needs_dovecot
def test_reading_marks_nothing_seen(imap_server, monkeypatch):
    monkeypatch.setenv(ENV, imap_server.password)
    read(options(imap_server.port))
    conn = imaplib.IMAP4("127.0.0.1", imap_server.port, timeout=5)
    try:
        conn.login(imap_server.username, imap_server.password)
        conn.select("INBOX", readonly=True)
        status, data = conn.fetch("1:*", "(FLAGS)")
    finally:
        conn.logout()
    assert status == "OK" and data
    assert not any(b"\\Seen" in line for line in data if isinstance(line, bytes))


@needs_dovecot
def test_a_wrong_password_is_a_clear_source_error(monkeypatch):
    # its own server: Dovecot slows every later login from an address that failed one
    monkeypatch.setenv(ENV, "not-the-password")
    with DovecotServer() as server:
        with pytest.raises(FetchRefused) as caught:
            read(options(server.port))
    assert str(caught.value) == (f"inbox: IMAP login refused for user curator at 127.0.0.1:{server.port}; "
                                 f"check that password_env ({ENV}) holds the right password")
    assert "not-the-password" not in str(caught.value)


@needs_dovecot
def test_a_missing_folder_is_refused_listing_the_folders_there(imap_server, monkeypatch):
    monkeypatch.setenv(ENV, imap_server.password)
    with pytest.raises(FetchRefused) as caught:
        read(options(imap_server.port, folder="Lists/nope"))
    assert 'folder "Lists/nope" does not exist' in str(caught.value)
    assert "INBOX" in str(caught.value) and "lmt-chicago" in str(caught.value)


def test_a_missing_password_variable_is_a_source_error_naming_it(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(SourceError) as caught:
        read(options(1))
    assert ENV in str(caught.value) and "is not set" in str(caught.value)


def test_a_server_that_is_down_is_worth_retrying():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    import os

    os.environ[ENV] = "x"
    try:
        with pytest.raises(RetryableFetchError) as caught:
            read(options(port, timeout=2))
    finally:
        del os.environ[ENV]
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_clear_text_imap_to_another_host_is_refused(monkeypatch):
    monkeypatch.setenv(ENV, "x")
    with pytest.raises(FetchRefused) as caught:
        read(options(143, host="imap.example.org"))
    assert "in the clear" in str(caught.value)


def test_password_env_takes_a_variable_name_never_a_password():
    with pytest.raises(ValidationError) as caught:
        options(993, password_env="hunter2!")
    assert "never the password itself" in str(caught.value)
    assert options(None, tls="ssl").effective_port == 993
