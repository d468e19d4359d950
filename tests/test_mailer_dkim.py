"""DKIM: when configured, the digest is signed and both List-Unsubscribe headers are covered (RFC 8058)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from aggregator.mail import digest, subscribers
from aggregator.mail.transport import SmtpSetupError, make_transport
from aggregator.store.database import Store
from tests.smtp_server import FaultySMTP, digest_config, make_event, migrated_db  # noqa: F401 (autouse)

dkim = pytest.importorskip("dkim")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test key")

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_digest_is_signed_and_verifies_with_list_unsubscribe_in_h(tmp_path, keypair):
    key, record = keypair
    with FaultySMTP() as smtp, Store(tmp_path / "db.sqlite") as store:
        config = digest_config(tmp_path, smtp=smtp, digest={"dkim_selector": "mail2026", "dkim_key_file": str(key)})
        store.save_events([make_event("e", "Mixer — café night", datetime(2026, 3, 3, 18, 0))], {}, NOW)
        subscribers.add_active(store.db, "ann@example.org")
        assert digest.send_period(config, store, tmp_path / "out", now=NOW, retry_delays=()).sent == 1
        raw = smtp.raw[0]

    def dns(name, timeout=5):
        assert name == b"mail2026._domainkey.events.example.org."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    signature = re.search(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", raw, re.M | re.S).group(1)
    h = re.search(rb"h=([^;]+)", re.sub(rb"\s+", b"", signature)).group(1).lower().split(b":")
    assert b"list-unsubscribe" in h and b"list-unsubscribe-post" in h
    # Tampering with the unsubscribe header breaks the signature.
    assert not dkim.verify(raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                       b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click"), dnsfunc=dns)


def test_a_missing_key_file_is_a_clear_setup_error(tmp_path):
    config = digest_config(tmp_path, digest={"dkim_selector": "s1", "dkim_key_file": "no-such.pem"})
    with pytest.raises(SmtpSetupError, match="cannot read the DKIM key .*no-such.pem.*dkim_key_file"):
        make_transport(config, tmp_path)
