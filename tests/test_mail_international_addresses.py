"""Internationalised addresses: a domain in any script (sent in its xn-- form, through any relay),
and a local part beyond ASCII (josé@), sent with SMTPUTF8 where the relay offers it and
refused with a clear, permanent reason where it does not. A real SMTP server (aiosmtpd) receives."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from aggregator.errors import PermanentDeliveryError
from aggregator.mail.digest import confirmation_message
from aggregator.mail.subscribers import InvalidAddress, normalize_address
from aggregator.mail.tokens import Tokens
from aggregator.mail.transport import OutboxTransport, SmtpTransport
from tests.smtp_server import FaultySMTP, digest_config
from tests.web_client import Browser, Mounted, status_of

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("typed, stored", [
    ("ann@bücher.de", "ann@xn--bcher-kva.de"),
    ("josé@example.org", "josé@example.org"),
    ("jose\u0301@example.org", "josé@example.org"),  # the same letter typed as e + combining accent
    ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
])
def test_international_addresses_are_accepted(typed, stored):
    assert normalize_address(typed) == stored


@pytest.mark.parametrize("typed", ["jo\u202ese@example.org", "jo\u00a0se@example.org", "josé@exa mple.org"])
def test_invisible_and_space_characters_are_still_refused(typed):
    with pytest.raises(InvalidAddress):
        normalize_address(typed)


def test_the_web_form_takes_an_international_address(tmp_path):
    from aggregator.store.database import Store

    config = digest_config(tmp_path)
    Store(tmp_path / "db.sqlite").close()
    r = Browser(Mounted(config, tmp_path / "db.sqlite")).post("/subscribe", data={"email": "josé@example.org"})
    assert r.status_code == 200 and status_of(tmp_path / "db.sqlite", "josé@example.org") == "pending"
    (mail,) = (tmp_path / "outbox").glob("*.eml")
    assert "To: josé@example.org".encode() in mail.read_bytes(), "written in UTF-8, not as an encoded-word"


def _message(config, to):
    return confirmation_message(config, to, Tokens("test-secret"), NOW)


def test_a_relay_offering_smtputf8_receives_the_address_as_typed(tmp_path):
    with FaultySMTP() as smtp:
        config = digest_config(tmp_path, smtp=smtp)
        transport = SmtpTransport(config.smtp)
        try:
            transport.send(_message(config, "josé@example.org"), envelope_from="digest@events.example.org",
                           to="josé@example.org")
        finally:
            transport.close()
        (_, rcpts, msg), = smtp.messages
    assert rcpts == ["josé@example.org"] and msg["To"] == "josé@example.org"
    assert "/confirm/" in msg.get_body(("plain",)).get_content()


def test_a_relay_without_smtputf8_refuses_it_clearly_and_still_takes_idna_domains(tmp_path):
    with FaultySMTP(smtputf8=False) as smtp:
        config = digest_config(tmp_path, smtp=smtp)
        transport = SmtpTransport(config.smtp)
        try:
            with pytest.raises(PermanentDeliveryError, match="SMTPUTF8") as refused:
                transport.send(_message(config, "josé@example.org"), envelope_from="digest@events.example.org",
                               to="josé@example.org")
            assert "josé@example.org" in str(refused.value) and "Traceback" not in str(refused.value)
            idna = normalize_address("ann@bücher.de")
            transport.send(_message(config, idna), envelope_from="digest@events.example.org", to=idna)
        finally:
            transport.close()
        assert [rcpts for _, rcpts, _ in smtp.messages] == [["ann@xn--bcher-kva.de"]]


def test_the_outbox_writes_an_international_address_in_utf8(tmp_path):
    config = digest_config(tmp_path)
    OutboxTransport(tmp_path / "outbox").send(_message(config, "josé@example.org"), to="josé@example.org")
    (mail,) = (tmp_path / "outbox").glob("*.eml")
    headers = mail.read_bytes().split(b"\r\n\r\n")[0]
    assert "To: josé@example.org\r\n".encode() in headers, "a mailbox cannot be an RFC 2047 encoded-word"
