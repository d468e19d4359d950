"""Returned mail: `massage-events bounces` reads a real Maildir or mbox of bounces, counts each hard
bounce once for the right subscriber (three suspend), and ignores soft bounces and ordinary mail."""

import email
import mailbox
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from aggregator.app.cli import main
from aggregator.mail import subscribers
from aggregator.mail.bounces import maildir_messages, mbox_messages, process
from aggregator.mail.digest import send_period
from aggregator.store.database import Store
from tests.smtp_server import digest_config, migrated_db  # noqa: F401 (autouse)

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
OURS = {"digest@events.example.org", "curator@example.org"}
T0 = datetime(2026, 3, 9, 15, 0, tzinfo=timezone.utc)

HARD = [  # (fixture, the subscriber it is about)
    ("postfix_dsn_5_1_1_user_unknown.eml", "ann.smith@example.net"),
    ("exim_x_failed_recipients_550.eml", "bob@example.com"),
    ("gmail_delivery_status_notification_failure.eml", "cara.jones@gmail.com"),
    ("outlook_ndr_5_1_10_recipient_not_found.eml", "dan.lee@contoso.example"),
    ("qmail_5_1_1_no_mailbox.eml", "eve@example.org"),
]
IGNORED = [  # (fixture, the subscriber who sent it or whom it is about)
    ("postfix_dsn_4_2_2_mailbox_full_delayed.eml", "fay@example.net"),
    ("vacation_auto_reply.eml", "gus@example.com"),
    ("human_reply.eml", "hal@example.com"),
]
EVERYONE = [email for _, email in HARD + IGNORED] + ["ivy@example.com", "gus.ortiz@example.com"]

CONFIG_YAML = """\
calendar:
  name: Massage Events
  timezone: America/Chicago
  base_url: https://events.example.org
  curator_email: curator@example.org
digest:
  from_address: digest@events.example.org
schedule:
  enabled: false
sources: []
"""


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        for email in EVERYONE:
            subscribers.add_active(s.db, email, now=T0)
        yield s


def make_maildir(folder: Path, names: list[str], *, seen: int = 0) -> Path:
    """A real Maildir (stdlib mailbox): the fixtures delivered to new/, the first `seen` read into cur/."""
    box = mailbox.Maildir(folder, create=True)
    for index, name in enumerate(names):
        msg = mailbox.MaildirMessage((FIXTURES / name).read_bytes())
        if index < seen:
            msg.set_subdir("cur")
            msg.add_flag("S")
        box.add(msg)
    box.close()
    return folder


def make_mbox(path: Path, names: list[str]) -> Path:
    box = mailbox.mbox(path, create=True)
    for name in names:
        box.add((FIXTURES / name).read_bytes())
    box.flush()
    box.close()
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def bounces_of(store) -> dict[str, int]:
    return {s.email.lower(): s.bounces for s in subscribers.all_subscribers(store.db)}


def variant(number: int, recipient: str, bounced: datetime | None = None) -> bytes:
    """A distinct copy of a Postfix DSN (its own Message-ID) about `recipient`, dated `bounced`."""
    raw = (FIXTURES / "postfix_dsn_5_1_1_user_unknown.eml").read_bytes()
    if bounced is not None:
        raw = raw.replace(b"Date: Mon,  9 Mar 2026 08:02:17 -0500 (CDT)",
                          b"Date: " + format_datetime(bounced).encode(), 1)
    raw = raw.replace(b"20260309130217.4Zq3Lm1XyRz9sTb", f"2026030{number}130217.Q{number}".encode())
    return raw.replace(b"ann.smith@example.net", recipient.encode()).replace(b"Ann.Smith@example.net",
                                                                              recipient.encode())


@pytest.mark.parametrize("name, email", HARD, ids=[n for n, _ in HARD])
def test_each_hard_bounce_shape_counts_one_bounce_for_its_subscriber_only(tmp_path, store, name, email):
    folder = make_maildir(tmp_path / "returned", [name])
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert (report.hard, report.soft, report.not_bounces) == (1, 0, 0), report.summary()
    counts = bounces_of(store)
    assert counts.pop(email) == 1, f"{name} should count one bounce for {email}"
    assert set(counts.values()) == {0}, f"{name} counted a bounce for someone else: {counts}"
    assert report.counted == [subscribers.get(store.db, email).email] and not report.unknown


@pytest.mark.parametrize("name, email", IGNORED, ids=[n for n, _ in IGNORED])
def test_soft_bounces_auto_replies_and_human_replies_count_nothing(tmp_path, store, name, email):
    folder = make_maildir(tmp_path / "returned", [name])
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert report.hard == 0 and report.soft + report.not_bounces == 1
    assert set(bounces_of(store).values()) == {0}
    assert subscribers.get(store.db, email).status == "active"


def test_the_delayed_mailbox_full_notice_is_soft_and_the_others_are_not_bounces(tmp_path, store):
    folder = make_maildir(tmp_path / "returned", [n for n, _ in IGNORED])
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert (report.hard, report.soft, report.not_bounces) == (0, 1, 2)


def test_three_distinct_bounce_messages_suspend_and_the_digest_then_skips_the_subscriber(tmp_path, store):
    tmp_path.joinpath("out").mkdir()
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    box.add(variant(1, "ivy@example.com", T0 - timedelta(days=14)))
    box.add(variant(2, "ivy@example.com", T0 - timedelta(days=7)))
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert subscribers.get(store.db, "ivy@example.com").bounces == 2 and not report.suspended
    assert subscribers.get(store.db, "ivy@example.com").status == "active"

    box.add(variant(3, "IVY@Example.COM", T0))  # the address as the remote server wrote it
    box.close()
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert (report.hard, report.already) == (1, 2)
    assert report.suspended == ["ivy@example.com"]
    assert subscribers.get(store.db, "ivy@example.com").status == "suspended"
    assert "ivy@example.com" not in [s.email for s in subscribers.active(store.db)]

    config = digest_config(tmp_path, digest={"send_empty": True})
    sent = send_period(config, store, tmp_path / "out", now=T0)
    assert sent.sent == len(EVERYONE) - 1
    recipients = [str(email.message_from_bytes(p.read_bytes())["To"]) for p in (tmp_path / "out" / "outbox").glob("*.eml")]
    assert "ivy@example.com" not in recipients and "hal@example.com" in recipients


def test_reading_the_same_maildir_again_counts_nothing_twice_and_leaves_its_files_byte_identical(tmp_path, store):
    names = [n for n, _ in HARD + IGNORED]
    folder = make_maildir(tmp_path / "returned", names, seen=3)
    before = snapshot(folder)
    first = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert (first.messages, first.hard, first.soft, first.not_bounces) == (8, 5, 1, 2)
    counts = bounces_of(store)
    second = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert (second.messages, second.already, second.hard, second.soft, second.not_bounces) == (8, 8, 0, 0, 0)
    assert bounces_of(store) == counts
    assert snapshot(folder) == before, "the Maildir's files must not be renamed, flagged, changed or removed"
    assert sorted(p.name for p in (folder / "cur").iterdir()) == sorted(k.split("/")[-1] for k in before
                                                                         if k.startswith("cur/"))


def test_an_mbox_is_read_like_a_maildir_and_is_left_byte_identical(tmp_path, store):
    path = make_mbox(tmp_path / "returned.mbox", [n for n, _ in HARD + IGNORED])
    before = path.read_bytes()
    report = process(store, mbox_messages(path), ignore=OURS, now=T0)
    assert (report.messages, report.hard, report.soft, report.not_bounces) == (8, 5, 1, 2)
    assert process(store, mbox_messages(path), ignore=OURS, now=T0).already == 8
    assert all(bounces_of(store)[email] == 1 for _, email in HARD)
    assert path.read_bytes() == before


def test_the_same_bounce_in_the_maildir_and_the_mbox_counts_once(tmp_path, store):
    folder = make_maildir(tmp_path / "returned", ["exim_x_failed_recipients_550.eml"])
    path = make_mbox(tmp_path / "returned.mbox", ["exim_x_failed_recipients_550.eml"])
    process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert process(store, mbox_messages(path), ignore=OURS, now=T0).already == 1
    assert bounces_of(store)["bob@example.com"] == 1


def test_a_bounce_for_an_address_not_on_the_list_is_reported_not_an_error(tmp_path, store):
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    box.add(variant(4, "stranger@example.net"))
    box.close()
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert report.hard == 1 and report.unknown == ["stranger@example.net"] and not report.counted
    assert "unknown recipients (not on the list): stranger@example.net" in report.summary()
    assert set(bounces_of(store).values()) == {0}


def test_a_bounce_from_a_forwarding_target_counts_for_the_subscriber_the_digest_was_sent_to(tmp_path, store):
    raw = (FIXTURES / "postfix_dsn_5_1_1_user_unknown.eml").read_bytes()
    raw = raw.replace(b"Original-Recipient: rfc822;Ann.Smith@example.net\n", b"")
    raw = raw.replace(b"ann.smith@example.net", b"ann.old@forwarded.example")  # Final-Recipient and the prose
    assert b"To: Ann.Smith@example.net" in raw  # the returned digest still names her
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    box.add(raw)
    box.close()
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0)
    assert report.counted == ["ann.smith@example.net"] and not report.unknown
    assert bounces_of(store)["ann.smith@example.net"] == 1


def test_a_bounce_without_a_message_id_is_known_again_by_its_content(tmp_path, store):
    raw = (FIXTURES / "qmail_5_1_1_no_mailbox.eml").read_bytes()
    raw = raw.replace(b"Message-ID: <20260309130512.22190.qmail@mx.example.org>\n", b"")
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    box.add(raw)
    box.close()
    assert process(store, maildir_messages(folder), ignore=OURS, now=T0).hard == 1
    assert process(store, maildir_messages(folder), ignore=OURS, now=T0).already == 1
    assert bounces_of(store)["eve@example.org"] == 1


# -- the command --------------------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(CONFIG_YAML)
    with Store(tmp_path / "db.sqlite") as s:
        for email in EVERYONE:
            subscribers.add_active(s.db, email, now=T0)
    return path


def test_cli_prints_the_summary_of_a_maildir(tmp_path, config_file, capsys):
    folder = make_maildir(tmp_path / "returned", [n for n, _ in HARD + IGNORED])
    args = ["bounces", "--config", str(config_file), "--db", str(tmp_path / "db.sqlite"), "--maildir", str(folder)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "8 messages read, 0 already read before" in out
    assert "5 hard bounces (counted for " in out and "ann.smith@example.net" in out.lower()
    assert "1 soft bounces ignored" in out and "2 not bounces" in out
    assert main(args) == 0
    assert "8 messages read, 8 already read before" in capsys.readouterr().out


def test_cli_names_the_subscribers_suspended(tmp_path, config_file, capsys):
    with Store(tmp_path / "db.sqlite") as s:
        sub = subscribers.get(s.db, "ivy@example.com")
        subscribers.record_bounce(s.db, sub.id, T0 - timedelta(days=14))
        subscribers.record_bounce(s.db, sub.id, T0 - timedelta(days=7))
    path = tmp_path / "returned.mbox"
    box = mailbox.mbox(path, create=True)
    box.add(variant(3, "ivy@example.com"))
    box.close()
    args = ["bounces", "--config", str(config_file), "--db", str(tmp_path / "db.sqlite"), "--mbox", str(path)]
    assert main(args) == 0
    assert "subscribers suspended: ivy@example.com" in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--maildir", "--mbox"])
def test_cli_refuses_a_missing_mailbox_with_a_message_naming_the_fix(tmp_path, config_file, capsys, option):
    missing = tmp_path / "no-such-mailbox"
    args = ["bounces", "--config", str(config_file), "--db", str(tmp_path / "db.sqlite"), option, str(missing)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and f"give {option}" in err
    assert "Traceback" not in err


def test_cli_refuses_a_folder_that_is_not_a_maildir(tmp_path, config_file, capsys):
    (tmp_path / "plain").mkdir()
    args = ["bounces", "--config", str(config_file), "--db", str(tmp_path / "db.sqlite"),
            "--maildir", str(tmp_path / "plain")]
    assert main(args) == 2
    assert "is not a Maildir" in capsys.readouterr().err


def test_one_returned_bounce_a_week_for_three_weeks_suspends(tmp_path, store):
    """The relay accepts (250) every digest; the bounces come later, as mail."""
    config = digest_config(tmp_path, digest={"send_empty": True})
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    for week in range(3):
        now = T0 + timedelta(days=7 * week)
        report = send_period(config, store, tmp_path / "out", now=now)
        assert report.sent >= 1, "the relay took the digest"
        box.add(variant(week + 5, "ivy@example.com", now + timedelta(minutes=5)))
        process(store, maildir_messages(folder), ignore=OURS, now=now + timedelta(hours=1))
        assert subscribers.get(store.db, "ivy@example.com").bounces == week + 1
    assert subscribers.get(store.db, "ivy@example.com").status == "suspended"


def test_weekly_bounces_read_in_one_go_a_month_later_still_suspend(tmp_path, store):
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    for week in range(3):
        box.add(variant(week + 5, "ivy@example.com", T0 + timedelta(days=7 * week)))
    report = process(store, maildir_messages(folder), ignore=OURS, now=T0 + timedelta(days=35))
    assert report.suspended == ["ivy@example.com"]


def test_bounces_weeks_apart_with_good_deliveries_between_start_the_count_again(tmp_path, store):
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    for n in range(4):  # a full mailbox now and then: one bounce every three weeks
        bounced = T0 + timedelta(days=21 * n)
        box.add(variant(n + 5, "ivy@example.com", bounced))
        report = process(store, maildir_messages(folder), ignore=OURS, now=bounced + timedelta(hours=1))
        assert report.counted == ["ivy@example.com"]
    ivy = subscribers.get(store.db, "ivy@example.com")
    assert (ivy.status, ivy.bounces) == ("active", 1)


def test_two_reports_of_one_bounced_digest_count_once_and_say_so(tmp_path, config_file, capsys):
    path = tmp_path / "returned.mbox"
    box = mailbox.mbox(path, create=True)
    box.add(variant(5, "ivy@example.com", T0))
    box.add(variant(6, "ivy@example.com", T0 + timedelta(minutes=20)))  # the forwarder's report too
    box.close()
    args = ["bounces", "--config", str(config_file), "--db", str(tmp_path / "db.sqlite"), "--mbox", str(path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 hard bounces (counted for ivy@example.com)" in out
    assert "not counted again (a bounce counted less than a day before): ivy@example.com" in out
    with Store(tmp_path / "db.sqlite") as s:
        assert subscribers.get(s.db, "ivy@example.com").bounces == 1


def test_a_bounce_dated_in_the_future_counts_as_read_now(tmp_path, store):
    folder = tmp_path / "returned"
    box = mailbox.Maildir(folder, create=True)
    box.add(variant(5, "ivy@example.com", T0 + timedelta(days=400)))  # the reporting server's clock is wrong
    process(store, maildir_messages(folder), ignore=OURS, now=T0)
    box.add(variant(6, "ivy@example.com", T0 + timedelta(days=40)))
    process(store, maildir_messages(folder), ignore=OURS, now=T0 + timedelta(days=40))
    ivy = subscribers.get(store.db, "ivy@example.com")
    assert (ivy.status, ivy.bounces) == ("active", 1), "a clock a year ahead must not keep the count from restarting"
