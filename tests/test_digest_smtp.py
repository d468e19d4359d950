"""The digest, sent through a real SMTP server on loopback (aiosmtpd), read back as a mail client would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from aggregator.mail import digest, subscribers
from aggregator.mail.tokens import UNSUBSCRIBE, Tokens, secret_for
from aggregator.store.database import Store
from tests.smtp_server import FaultySMTP, digest_config, make_event, migrated_db  # noqa: F401 (autouse)

# Monday 2 March 2026, 08:05 in Chicago (CST): just after the default Monday 08:00 slot.
NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)
NO_WAIT = (0.0, 0.0, 0.0)


@pytest.fixture
def smtp():
    with FaultySMTP() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def week_events():
    return [
        make_event("il-1", "Chicago chapter mixer", datetime(2026, 3, 3, 18, 30), region="IL", tags=("social",)),
        make_event("il-2", "Myofascial release CE class", datetime(2026, 3, 5, 9, 0), region="IL", tags=("ce",)),
        make_event("wi-1", "Madison therapists meetup", datetime(2026, 3, 4, 19, 0), region="WI", tags=("social",)),
        make_event("il-far", "Next month's conference", date(2026, 4, 20), region="IL"),
        make_event("il-past", "Last week's mixer", datetime(2026, 2, 24, 18, 0), region="IL"),
    ]


def send(config, store, tmp_path, **kw):
    kw.setdefault("retry_delays", NO_WAIT)
    return digest.send_period(config, store, tmp_path / "out", now=kw.pop("now", NOW), **kw)


def titles(text: str) -> list[str]:
    names = ["Chicago chapter mixer", "Myofascial release CE class", "Madison therapists meetup",
             "Next month's conference", "Last week's mixer"]
    return [n for n in names if n in text]


def parts(msg):
    return (msg.get_body(("plain",)).get_content().replace("\r\n", "\n"),
            msg.get_body(("html",)).get_content().replace("\r\n", "\n"))


def test_each_subscriber_gets_a_multipart_digest_of_their_own_events(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "il@example.org", ["IL"])
    subscribers.add_active(store.db, "social@example.org", [], ["social"])
    subscribers.add_active(store.db, "all@example.org")

    report = send(config, store, tmp_path)

    assert (report.sent, report.failed, report.deferred) == (3, 0, 0)
    assert sorted(smtp.recipients()) == ["all@example.org", "il@example.org", "social@example.org"]
    expected = {
        "il@example.org": ["Chicago chapter mixer", "Myofascial release CE class"],
        "social@example.org": ["Chicago chapter mixer", "Madison therapists meetup"],
        "all@example.org": ["Chicago chapter mixer", "Myofascial release CE class", "Madison therapists meetup"],
    }
    for address, want in expected.items():
        (msg,) = smtp.for_address(address)
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        text, html = parts(msg)
        assert titles(text) == want, address
        assert titles(html.replace("&#39;", "'")) == want, address
        assert "<style" not in html and 'style="' in html  # CSS inlined for mail clients


def test_events_are_grouped_by_local_day_in_order(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "all@example.org")
    send(config, store, tmp_path)
    text, _ = parts(smtp.messages[0][2])
    days = re.findall(r"^== (.+) ==$", text, re.M)
    assert days == ["Tuesday, March 3", "Wednesday, March 4", "Thursday, March 5"]
    assert "6:30 PM – 8:30 PM CST" in text


def test_headers_are_present_once_and_well_formed(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    raw = smtp.raw[0]
    msg = smtp.messages[0][2]
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode()
    for name in ("Date", "From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe",
                 "List-Unsubscribe-Post"):
        assert len(re.findall(rf"^{name}:", header_block, re.M | re.I)) == 1, name
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["From"].addresses[0].addr_spec == "digest@events.example.org"
    assert re.fullmatch(r"<digest\.2026-03-02\.[0-9a-f]{24}@events\.example\.org>", msg["Message-ID"])
    assert msg["List-Id"] == "Massage Events <digest.events.example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [u.strip() for u in msg["List-Unsubscribe"].split(",")]
    assert re.fullmatch(r"<https://events\.example\.org/u/[A-Za-z0-9_.-]+>", https)
    assert mailto == "<mailto:curator@example.org?subject=unsubscribe>"


def test_unsubscribe_link_round_trips_to_the_subscriber(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    msg = smtp.messages[0][2]
    token = re.search(r"/u/([A-Za-z0-9_.-]+)>", msg["List-Unsubscribe"]).group(1)
    assert Tokens(secret_for(store.db)).read(UNSUBSCRIBE, token) == "ann@example.org"
    text, html = parts(msg)
    assert f"https://events.example.org/u/{token}" in text
    assert f'href="https://events.example.org/u/{token}"' in html


def test_message_id_is_the_same_on_every_render_of_a_period(tmp_path, store):
    config = digest_config(tmp_path)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    first, _ = digest.render_preview(config, store, "ann@example.org", NOW)
    again, _ = digest.render_preview(config, store, "ann@example.org", NOW + timedelta(hours=3))
    next_week, _ = digest.render_preview(config, store, "ann@example.org", NOW + timedelta(days=7))
    assert first["Message-ID"] == again["Message-ID"] != next_week["Message-ID"]


def test_hostile_event_text_is_escaped_in_html_and_literal_in_text(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events([make_event("x", "<script>alert(1)</script> & friends", datetime(2026, 3, 3, 18, 0),
                                  location='"><img src=x onerror=alert(2)>', url="javascript:alert(3)")], {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    text, html = parts(smtp.messages[0][2])
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "<script>alert(1)</script> & friends" in text
    assert "javascript:" not in text


def test_crlf_in_titles_and_names_creates_no_header(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    config = config.model_copy(update={"calendar": config.calendar.model_copy(
        update={"name": "Events\r\nBcc: name@evil.example"})})
    store.save_events([make_event("x", "Mixer\r\nBcc: x@evil.example\r\nSubject: spam",
                                  datetime(2026, 3, 3, 18, 0))], {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    assert smtp.recipients() == ["ann@example.org"]
    raw = smtp.raw[0]
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert len(re.findall(r"^Subject:", header_block, re.M | re.I)) == 1
    assert not re.search(r"^Bcc:", header_block, re.M | re.I)
    assert "evil" not in str(smtp.messages[0][2]["To"])


def test_no_digest_for_a_subscriber_with_nothing_matching_unless_asked(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "tx@example.org", ["TX"])
    subscribers.add_active(store.db, "tx-always@example.org", ["TX"], send_empty=True)
    report = send(config, store, tmp_path)
    assert smtp.recipients() == ["tx-always@example.org"]
    assert report.skipped == 1
    text, _ = parts(smtp.messages[0][2])
    assert "No events match your preferences" in text


def test_pending_subscribers_get_nothing_until_they_confirm(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.request_subscription(store.db, "new@example.org", now=NOW)
    send(config, store, tmp_path)
    assert smtp.recipients() == []
    subscribers.confirm(store.db, "new@example.org", NOW)
    send(config, store, tmp_path)
    assert smtp.recipients() == ["new@example.org"]


def test_rerun_of_a_sent_period_sends_nothing(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    assert send(config, store, tmp_path).complete
    report = send(config, store, tmp_path, now=NOW + timedelta(hours=1))
    assert report.sent == 0 and report.already == 1
    assert len(smtp.messages) == 1


def test_disconnect_midway_then_rerun_delivers_everyone_exactly_once(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    people = [f"p{i}@example.org" for i in range(8)]
    for p in people:
        subscribers.add_active(store.db, p)
    smtp.disconnect_after = 3
    first = send(config, store, tmp_path)
    assert (first.sent, first.deferred, first.complete) == (3, 5, False)
    smtp.disconnect_after = None
    second = send(config, store, tmp_path, now=NOW + timedelta(minutes=30))
    assert (second.sent, second.already, second.complete) == (5, 3, True)
    assert sorted(smtp.recipients()) == sorted(people)


def test_451_twice_then_250_is_one_delivery(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "slow@example.org")
    smtp.rcpt_script["slow@example.org"] = ["451 4.3.0 greylisted", "451 4.3.0 greylisted"]
    report = send(config, store, tmp_path)
    assert report.sent == 1 and report.complete
    assert smtp.recipients() == ["slow@example.org"]
    row = store.db.execute("SELECT status, attempts FROM deliveries").fetchone()
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_550_is_recorded_and_not_retried(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "gone@example.org")
    subscribers.add_active(store.db, "ok@example.org")
    smtp.rcpt_script["gone@example.org"] = ["550 5.1.1 no such user"] * 5
    report = send(config, store, tmp_path)
    assert (report.sent, report.failed, report.complete) == (1, 1, True)
    assert len([r for r in smtp.refusals if r[0] == "gone@example.org"]) == 1
    row = store.db.execute("SELECT d.status, d.last_error, s.bounces FROM deliveries d JOIN subscribers s"
                           " ON s.id = d.subscriber WHERE s.email = 'gone@example.org'").fetchone()
    assert row["status"] == "failed" and "550" in row["last_error"] and row["bounces"] == 1
    send(config, store, tmp_path, now=NOW + timedelta(hours=1))
    assert len([r for r in smtp.refusals if r[0] == "gone@example.org"]) == 1


def test_three_weeks_of_bounces_suspend_the_address(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    subscribers.add_active(store.db, "gone@example.org", send_empty=True)
    smtp.rcpt_script["gone@example.org"] = ["550 5.1.1 no such user"] * 5
    for week in range(4):
        send(config, store, tmp_path, now=NOW + timedelta(days=7 * week))
    assert subscribers.get(store.db, "gone@example.org").status == "suspended"
    assert len(smtp.refusals) == 3


def test_changes_since_the_last_digest_are_listed(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp, digest={"days_ahead": 14})
    moved = make_event("m", "Moved mixer", datetime(2026, 3, 10, 18, 0))
    cancelled = make_event("c", "Cancelled class", datetime(2026, 3, 11, 9, 0))
    store.save_events([moved, cancelled], {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    week2 = NOW + timedelta(days=7)
    store.save_events([
        make_event("m", "Moved mixer", datetime(2026, 3, 12, 18, 0), sequence=1),
        make_event("c", "Cancelled class", datetime(2026, 3, 11, 9, 0), status="cancelled", sequence=1),
        make_event("n", "Brand new meetup", datetime(2026, 3, 13, 18, 0)),
    ], {}, week2)
    send(config, store, tmp_path, now=week2)
    text, html = parts(smtp.messages[1][2])
    assert "Since your last digest: 1 new, 1 rescheduled, 1 cancelled." in text
    assert "RESCHEDULED: Moved mixer: now Thu, Mar 12, 6:00 PM (was Tue, Mar 10, 6:00 PM)" in text
    assert "CANCELLED: Cancelled class, Wed, Mar 11, 9:00 AM" in text
    assert "[NEW] Brand new meetup" in text
    assert ">new</span>" in html and "Rescheduled" in html


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_with_the_password_from_the_environment(tmp_path, store, monkeypatch):
    with FaultySMTP(auth={"mailer": "hunter2"}) as smtp:
        config = digest_config(tmp_path, smtp=smtp)
        config = config.model_copy(update={"smtp": config.smtp.model_copy(
            update={"username": "mailer", "password_env": "TEST_SMTP_PASSWORD"})})
        subscribers.add_active(store.db, "ann@example.org", send_empty=True)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
        from aggregator.mail.transport import SmtpSetupError
        with pytest.raises(SmtpSetupError, match="refused the login for mailer"):
            send(config, store, tmp_path)
        assert store.db.execute("SELECT status FROM deliveries").fetchone()[0] == "queued"
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "hunter2")
        assert send(config, store, tmp_path).sent == 1
        assert smtp.recipients() == ["ann@example.org"]


def test_without_smtp_each_digest_is_an_eml_file_in_the_outbox(tmp_path, store):
    config = digest_config(tmp_path)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    subscribers.add_active(store.db, "bob@example.org")
    send(config, store, tmp_path)
    send(config, store, tmp_path)  # a rerun writes nothing twice
    files = sorted((tmp_path / "out" / "outbox").glob("*.eml"))
    assert len(files) == 2
    msg = message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert msg.get_content_type() == "multipart/alternative"


def test_preview_writes_a_complete_message_file(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    with Store(db_path) as store:
        store.save_events(week_events(), {}, NOW)
        subscribers.add_active(store.db, "ann@example.org", ["WI"])
    target = tmp_path / "ann.eml"
    import time_machine
    with time_machine.travel(NOW, tick=False):
        report = digest.digest_report(config, db_path, tmp_path / "out", preview="ann@example.org",
                                      to_file=target, send=False)
        assert report.exit_code == 0
        assert digest.digest_report(config, db_path, tmp_path / "out", preview="", to_file=None,
                                    send=False).exit_code == 0
    msg = message_from_bytes(target.read_bytes(), policy=default_policy)
    assert titles(parts(msg)[0]) == ["Madison therapists meetup"]
    sample = list((tmp_path / "out" / "outbox").glob("preview-*.eml"))
    assert len(sample) == 1 and "subscriber_example.org" in sample[0].name
    assert len(titles(parts(message_from_bytes(sample[0].read_bytes(), policy=default_policy))[0])) == 3
    assert "wrote the digest for ann@example.org" in report.text()


SENDER = textwrap.dedent("""
    import sys, io
    from datetime import datetime, timezone
    from pathlib import Path
    from tests.smtp_server import digest_config
    from aggregator.mail import digest
    from aggregator.store.database import Store
    tmp, port = Path(sys.argv[1]), int(sys.argv[2])
    class S: pass
    s = S(); s.port = port
    config = digest_config(tmp, smtp=s)
    with Store(tmp / "db.sqlite") as store:
        r = digest.send_period(config, store, tmp / "out", now=datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc),
                               retry_delays=(0, 0, 0))
    print(r.summary())
""")


def test_sender_killed_mid_message_then_rerun_sends_everyone_exactly_once(tmp_path, smtp):
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events(week_events(), {}, NOW)
        people = [f"p{i}@example.org" for i in range(6)]
        for p in people:
            subscribers.add_active(store.db, p)
    smtp.block_at = 3  # hold the third message's DATA; kill the sender meanwhile
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-c", SENDER, str(tmp_path), str(smtp.port)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert smtp.blocked.wait(20), proc.stderr.read() if proc.poll() is not None else "sender never reached #3"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    smtp.release.set()
    assert len(smtp.messages) == 2
    with Store(tmp_path / "db.sqlite") as store:
        states = [r[0] for r in store.db.execute("SELECT status FROM deliveries ORDER BY subscriber")]
    assert states[:3] == ["sent", "sent", "sending"]
    smtp.block_at = None
    with Store(tmp_path / "db.sqlite") as store:  # the rerun (in this process: same code, faster)
        rerun = send(digest_config(tmp_path, smtp=smtp), store, tmp_path)
    assert (rerun.sent, rerun.already, rerun.complete) == (4, 2, True)
    assert sorted(smtp.recipients()) == sorted(people)


def test_times_are_shown_in_the_events_own_zone(tmp_path, smtp, store):
    from dataclasses import replace
    from zoneinfo import ZoneInfo

    config = digest_config(tmp_path, smtp=smtp)
    ny = replace(make_event("ny", "NY chapter meeting", datetime(2026, 3, 3, 19, 0, tzinfo=ZoneInfo("America/New_York"))),
                 timezone="America/New_York")
    store.save_events([ny], {}, NOW)
    subscribers.add_active(store.db, "ann@example.org")
    send(config, store, tmp_path)
    text, html = parts(smtp.messages[0][2])
    assert "7:00 PM – 9:00 PM EST" in text and "7:00 PM – 9:00 PM EST" in html


SEND_COMMAND = textwrap.dedent("""
    import sys, io
    from pathlib import Path
    import time_machine
    from datetime import datetime, timezone
    from tests.smtp_server import digest_config
    from aggregator.mail import digest
    tmp, port = Path(sys.argv[1]), int(sys.argv[2])
    class S: pass
    s = S(); s.port = port
    config = digest_config(tmp, smtp=s)
    with time_machine.travel(datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc), tick=False):
        report = digest.digest_report(config, tmp / "db.sqlite", tmp / "out", preview=None, to_file=None,
                                      send=True)
    print(report.text())
    sys.exit(report.exit_code)
""")


def test_sigterm_during_digest_send_finishes_the_message_and_exits(tmp_path, smtp):
    with Store(tmp_path / "db.sqlite") as store:
        store.save_events(week_events(), {}, NOW)
        people = [f"p{i}@example.org" for i in range(5)]
        for p in people:
            subscribers.add_active(store.db, p)
    smtp.block_at, smtp.abort_blocked = 2, False
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-c", SEND_COMMAND, str(tmp_path), str(smtp.port)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert smtp.blocked.wait(20)
    os.kill(proc.pid, signal.SIGTERM)
    smtp.release.set()  # the message in hand goes through
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1, err
    assert "2 sent" in out and "stopped early (SIGTERM)" in out
    assert len(smtp.messages) == 2
    smtp.block_at = None
    with Store(tmp_path / "db.sqlite") as store:
        rerun = send(digest_config(tmp_path, smtp=smtp), store, tmp_path)
    assert (rerun.sent, rerun.already, rerun.complete) == (3, 2, True)
    assert sorted(smtp.recipients()) == sorted(people)


def test_status_lines_show_subscribers_and_the_last_period(tmp_path, smtp, store):
    config = digest_config(tmp_path, smtp=smtp)
    store.save_events(week_events(), {}, NOW)
    subscribers.add_active(store.db, "ok@example.org")
    subscribers.add_active(store.db, "gone@example.org")
    subscribers.request_subscription(store.db, "new@example.org", now=NOW)
    smtp.rcpt_script["gone@example.org"] = ["550 5.1.1 no such user"]
    assert digest.status_lines(store.db)[1] == "digest: never sent"
    send(config, store, tmp_path)
    lines = digest.status_lines(store.db)
    assert lines[0] == "subscribers: 2 active, 1 pending"
    assert lines[1] == "digest 2026-03-02: complete; 1 failed, 1 sent"
    assert lines[2].startswith("  gone@example.org: 550 5.1.1 no such user")
