"""Offline SpamAssassin (local rules, no network) scores the digest and the confirmation email low,
without the rules that catch a broken multipart/alternative or missing headers (docs/reliability.md C1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from aggregator.mail import digest, subscribers
from aggregator.mail.tokens import Tokens
from aggregator.store.database import Store
from tests.smtp_server import digest_config, make_event

pytestmark = pytest.mark.skipif(shutil.which("spamassassin") is None,
                                reason="spamassassin is not installed (apt-get install spamassassin)")

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)
FORBIDDEN = {"MPART_ALT_DIFF", "MPART_ALT_DIFF_COUNT", "MIME_HTML_ONLY", "MISSING_MID", "MISSING_DATE",
             "MISSING_HEADERS", "MISSING_SUBJECT", "MIME_QP_LONG_LINE", "HTML_MIME_NO_HTML_TAG"}


def scores(messages: list[bytes], home) -> list[tuple[float, set[str]]]:
    """Score several messages in one spamassassin run (its start-up is the slow part)."""
    mbox = b"".join(b"From digest@events.example.org Mon Mar  2 14:05:00 2026\n" +
                    m.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ") + b"\n" for m in messages)
    env = dict(os.environ, HOME=str(home))
    result = subprocess.run(["spamassassin", "-L", "--mbox"], input=mbox, capture_output=True, env=env, timeout=90)
    out = []
    for status in re.findall(rb"^X-Spam-Status: (.*?)\n(?![ \t])", result.stdout, re.M | re.S):
        status = " ".join(status.decode().split())
        points = float(re.search(r"score=(-?[\d.]+)", status).group(1))
        rules = set(re.search(r"tests=([^ ]*)", status).group(1).split(",")) - {""}
        out.append((points, rules))
    assert len(out) == len(messages), result.stderr.decode()[-2000:]
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sa")
    config = digest_config(tmp)
    with Store(tmp / "db.sqlite") as store:
        store.save_events([
            make_event("a", "Chicago chapter mixer", datetime(2026, 3, 3, 18, 30)),
            make_event("b", "Myofascial release CE class (8 CE hours)", datetime(2026, 3, 5, 9, 0),
                       location="Midwest School of Massage, 1234 N Clark St, Chicago"),
            make_event("c", "Online: Ethics for Massage Therapists", datetime(2026, 3, 6, 18, 0), url=None),
        ], {}, NOW)
        subscribers.add_active(store.db, "ann@example.org")
        msg, _ = digest.render_preview(config, store, "ann@example.org", NOW)
    confirm = digest.confirmation_message(config, "ann@example.org", Tokens("s3cret"), NOW)
    digest_score, confirm_score = scores([msg.as_bytes(), confirm.as_bytes()], tmp)
    return {"digest": digest_score, "confirmation": confirm_score}


@pytest.mark.parametrize("which", ["digest", "confirmation"])
def test_scores_low_without_structure_or_missing_header_rules(scored, which):
    points, rules = scored[which]
    assert points < 2.0, rules
    assert not rules & FORBIDDEN
