"""Offline SpamAssassin (local rules, no network) scores the digest and the confirmation email low,
without the rules that catch a broken multipart/alternative or missing headers (RELIABILITY C1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from aggregator import digest, subscribers
from aggregator.store import Store
from aggregator.tokens import Tokens
from tests.smtp_server import digest_config, make_event

pytestmark = pytest.mark.skipif(shutil.which("spamassassin") is None,
                                reason="spamassassin is not installed (apt-get install spamassassin)")

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)
FORBIDDEN = {"MPART_ALT_DIFF", "MPART_ALT_DIFF_COUNT", "MIME_HTML_ONLY", "MISSING_MID", "MISSING_DATE",
             "MISSING_HEADERS", "MISSING_SUBJECT", "MIME_QP_LONG_LINE", "HTML_MIME_NO_HTML_TAG"}


def score(raw: bytes, home) -> tuple[float, set[str]]:
    env = dict(os.environ, HOME=str(home))
    result = subprocess.run(["spamassassin", "-L"], input=raw, capture_output=True, env=env, timeout=60)
    status = re.search(rb"^X-Spam-Status: (.*?)\n(?![ \t])", result.stdout, re.M | re.S).group(1).decode()
    status = " ".join(status.split())
    points = float(re.search(r"score=(-?[\d.]+)", status).group(1))
    rules = set(re.search(r"tests=([^ ]*)", status).group(1).split(",")) - {""}
    return points, rules


def test_the_digest_scores_low_without_structure_rules(tmp_path):
    config = digest_config(tmp_path)
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events([
            make_event("a", "Chicago chapter mixer", datetime(2026, 3, 3, 18, 30)),
            make_event("b", "Myofascial release CE class (8 CE hours)", datetime(2026, 3, 5, 9, 0),
                       location="Midwest School of Massage, 1234 N Clark St, Chicago"),
            make_event("c", "Online: Ethics for Massage Therapists", datetime(2026, 3, 6, 18, 0), url=None),
        ], {}, NOW)
        subscribers.add_active(store.db, "ann@example.org")
        msg, _ = digest.render_preview(config, store, "ann@example.org", NOW)
    points, rules = score(msg.as_bytes(), tmp_path)
    assert points < 2.0, rules
    assert not rules & FORBIDDEN


def test_the_confirmation_email_scores_low(tmp_path):
    config = digest_config(tmp_path)
    msg = digest.confirmation_message(config, "ann@example.org", Tokens("s3cret"), NOW)
    points, rules = score(msg.as_bytes(), tmp_path)
    assert points < 2.0, rules
    assert not rules & FORBIDDEN
