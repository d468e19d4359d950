"""The digest at scale: rendered once per preference set, sent over a pool of SMTP connections
under a rate limit, and resumed after a kill without a gap (against a real aiosmtpd server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from aggregator.mail import digest, subscribers
from aggregator.mail.digest import compose
from aggregator.mail.tokens import UNSUBSCRIBE, Tokens, secret_for
from aggregator.store.database import Store
from tests.smtp_server import FaultySMTP, digest_config, make_event

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


@pytest.fixture
def smtp():
    with FaultySMTP() as server:
        yield server


def week_events():
    return [
        make_event("il-1", "Chicago chapter mixer", datetime(2026, 3, 3, 18, 30), region="IL", tags=("social",)),
        make_event("il-2", "Myofascial release CE class", datetime(2026, 3, 5, 9, 0), region="IL", tags=("ce",)),
        make_event("wi-1", "Madison therapists meetup", datetime(2026, 3, 4, 19, 0), region="WI", tags=("social",)),
        make_event("il-far", "Next month's conference", date(2026, 4, 20), region="IL"),
    ]


def pooled(config, **smtp):
    """The config with these smtp settings changed (connections, max_per_second)."""
    return config.model_copy(update={"smtp": config.smtp.model_copy(update=smtp)})


def _readable(raw: bytes) -> tuple:
    """What a reader sees: every header but Date and the (random) MIME boundary, and each part."""
    from email import message_from_bytes
    from email.policy import default

    import re

    def tokenless(text: str) -> str:  # link tokens carry their signing second; checked apart
        return re.sub(r"/(u|prefs)/[A-Za-z0-9_.\-]+", r"/\1/TOKEN", text)

    msg = message_from_bytes(raw, policy=default)
    headers = [(k, tokenless(str(v))) for k, v in msg.items() if k not in ("Date", "Content-Type")]
    return headers, [(part.get_content_type(), tokenless(part.get_content())) for part in msg.iter_parts()]


def test_each_preference_set_is_rendered_once_and_everyone_gets_their_own_message(tmp_path, smtp, monkeypatch):
    config = digest_config(tmp_path, smtp=smtp)
    prefs = [((), ()), (("IL",), ()), (("WI",), ("social",))]
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events(week_events(), {}, NOW)
        people = []
        for n in range(12):
            regions, tags = prefs[n % 3]
            email = f"p{n}.o'neil+digest@example.org" if n == 4 else f"p{n}@example.org"
            subscribers.add_active(store.db, email, regions, tags)
            people.append(email)
        renders = []
        real = compose.render_bodies
        monkeypatch.setattr(compose, "render_bodies", lambda *a, **k: renders.append(1) or real(*a, **k))
        report = digest.send_period(config, store, tmp_path / "out", now=NOW, retry_delays=(0,))
        assert report.sent == 12 and report.complete
        assert len(renders) == 3, "one render per distinct regions x tags (x last digest)"

        # Each message is byte for byte what rendering for that subscriber alone gives.
        monkeypatch.setattr(compose, "render_bodies", real)
        secret = secret_for(store.db, config.digest.secret_env)
        received = {rcpts[0]: raw for (_, rcpts, _), raw in zip(smtp.messages, smtp.raw)}
        for email in people:
            sub = subscribers.get(store.db, email)
            content = compose.select(store.published_events(), sub, now=NOW, zone=digest.calendar_zone(config),
                                     days_ahead=config.digest.days_ahead, period=report.period, snapshot=None)
            alone = compose.build_message(config, content, Tokens(secret), secret, NOW)
            assert _readable(received[email]) == _readable(alone.as_bytes()), email
            token = re.search(rb"/u/([A-Za-z0-9_.\-]+)>", received[email]).group(1).decode()
            assert Tokens(secret).read(UNSUBSCRIBE, token) == email, "the unsubscribe link is this person's"


def test_the_digest_goes_out_over_several_connections_within_the_rate_limit(tmp_path, smtp):
    config = pooled(digest_config(tmp_path, smtp=smtp), connections=4, max_per_second=40)
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events(week_events(), {}, NOW)
        people = [f"p{n}@example.org" for n in range(40)]
        for email in people:
            subscribers.add_active(store.db, email)
        began = time.monotonic()
        report = digest.send_period(config, store, tmp_path / "out", now=NOW, retry_delays=(0,))
        elapsed = time.monotonic() - began
    assert report.sent == 40 and report.complete, report.summary()
    assert "4 connections" in report.summary()
    assert sorted(smtp.recipients()) == sorted(people), "everyone exactly once"
    assert len(smtp.peers) == 4, "the server saw four client connections"
    assert elapsed >= 39 / 40 - 0.05, f"40 messages at 40/s cannot take {elapsed:.2f} s"


SENDER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from tests.smtp_server import digest_config
    from aggregator.mail import digest
    from aggregator.store.database import Store
    tmp, port = Path(sys.argv[1]), int(sys.argv[2])
    class S: pass
    s = S(); s.port = port
    config = digest_config(tmp, smtp=s)
    config = config.model_copy(update={"smtp": config.smtp.model_copy(update={"connections": 3})})
    with Store(tmp / "db.sqlite") as store:
        digest.send_period(config, store, tmp / "out", now=datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc),
                           retry_delays=(0, 0, 0))
""")


def test_a_pooled_send_killed_midway_resumes_without_a_gap(tmp_path, smtp):
    """kill -9 while three connections are busy; the rerun reaches everyone the first run did not.
    A message whose 250 the killed sender never recorded may go once more, with the same
    Message-ID (SMTP's own ambiguity): never to more than the connections in flight."""
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events(week_events(), {}, NOW)
        people = [f"p{n}@example.org" for n in range(30)]
        for email in people:
            subscribers.add_active(store.db, email)
    smtp.block_at = 12
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", SENDER, str(tmp_path), str(smtp.port)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert smtp.blocked.wait(30), proc.stderr.read() if proc.poll() is not None else "never reached #12"
    time.sleep(0.3)  # the other connections finish what they hold
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    smtp.release.set()
    first = Counter(smtp.recipients())
    assert 0 < len(first) < 30
    smtp.block_at = None
    with Store(tmp_path / "db.sqlite") as store:
        rerun = digest.send_period(pooled(digest_config(tmp_path, smtp=smtp), connections=3), store,
                                   tmp_path / "out", now=NOW, retry_delays=(0,))
        assert rerun.complete
    total = Counter(smtp.recipients())
    assert set(total) == set(people), "nobody went without"
    ids = {}
    for _, rcpts, msg in smtp.messages:
        ids.setdefault(rcpts[0], set()).add(str(msg["Message-ID"]))
    assert all(len(v) == 1 for v in ids.values()), "a resent digest carries the same Message-ID"
    assert sum(n - 1 for n in total.values()) <= 3, "at most the messages in flight went twice"
