"""The maildir adapter: a real Maildir folder on disk, read without moving or marking anything."""

from __future__ import annotations

import mailbox
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config.settings import load_config
from aggregator.errors import ConfigError, FetchRefused, ParseError
from aggregator.model import RawEvent, Status, Window
from sources.base import Skipped
from sources.maildir import MaildirAdapter
from sources.parse.mail import split_mbox

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
CHICAGO = ZoneInfo("America/Chicago")
WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))


class NoNetwork:
    def get(self, url, **kw):
        raise AssertionError("the maildir adapter reads the folder itself; it must not fetch")


@pytest.fixture
def maildir(tmp_path) -> Path:
    folder = tmp_path / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    for raw in split_mbox((FIXTURES / "list_archive_2026-03.mbox").read_bytes()):
        box.add(mailbox.MaildirMessage(raw))  # delivered into new/
    message = mailbox.MaildirMessage((FIXTURES / "invitation_method_cancel.eml").read_bytes())
    message.set_subdir("cur")
    message.set_flags("S")
    box.add(message)
    return folder


def read(options):
    return list(MaildirAdapter().read(options, NoNetwork(), WINDOW))


def options(**keys):
    return MaildirAdapter.Options(id="inbox", type="maildir", timezone="America/Chicago", **keys)


def test_messages_in_new_and_cur_are_read_and_the_invitation_cancel_wins(maildir):
    items = read(options(path=str(maildir)))
    events = {e.title: e for e in items if isinstance(e, RawEvent)}
    assert events["Spring Networking Mixer - Tuesday, March 10"].start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
    assert events["Ethics CE night"].location == "Lincoln Park Library, 1150 W Fullerton Ave"
    boards = [e for e in items if isinstance(e, RawEvent) and e.external_id == "board-2026-03-24@amta-il.example"]
    assert [b.status for b in boards] == [Status.CANCELLED]  # the later METHOD:CANCEL supersedes the invitation
    assert any(isinstance(s, Skipped) and "superseded" in s.reason for s in items)
    assert any(isinstance(s, Skipped) and s.reason == "a job ad, not an event" for s in items)


def test_reading_moves_and_flags_nothing(maildir):
    before = sorted(p.relative_to(maildir) for p in maildir.rglob("*") if p.is_file())
    read(options(path=str(maildir)))
    after = sorted(p.relative_to(maildir) for p in maildir.rglob("*") if p.is_file())
    assert before == after


def test_a_file_url_works_as_well_as_path(maildir):
    items = read(options(url=maildir.as_uri()))
    assert sum(isinstance(i, RawEvent) for i in items) >= 3


def test_max_messages_reads_only_the_newest_and_says_so(maildir):
    items = read(options(path=str(maildir), max_messages=2))
    assert any(isinstance(s, Skipped) and "max_messages" in s.reason for s in items)


def test_a_missing_folder_is_refused_naming_it(tmp_path):
    with pytest.raises(FetchRefused) as caught:
        read(options(path=str(tmp_path / "nope")))
    assert "does not exist" in str(caught.value) and "nope" in str(caught.value)


def test_a_folder_that_is_not_a_maildir_is_a_parse_error_naming_the_fix(tmp_path):
    with pytest.raises(ParseError) as caught:
        read(options(path=str(tmp_path)))
    assert "cur/" in str(caught.value)


def test_sources_yaml_takes_path_and_refuses_a_maildir_without_one(make_config, maildir):
    good = make_config(f"""
        sources:
          - id: inbox
            type: maildir
            path: {maildir}
        """)
    assert load_config(good).sources[0].folder == maildir
    bad = make_config("""
        sources:
          - id: inbox
            type: maildir
        """, name="bad.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert 'needs "path:"' in str(caught.value)


def test_an_unchanged_folder_is_not_read_again_and_a_delivery_is_read_at_once(make_config, maildir, tmp_path):
    import json

    from aggregator.pipeline import run
    from aggregator.store.database import Store

    config = load_config(make_config(f"""
        calendar:
          timezone: America/Chicago
        sources:
          - id: inbox
            type: maildir
            path: {maildir}
        """))
    now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    out = tmp_path / "out"

    def titles() -> set[str]:
        return {e["title"] for e in json.loads((out / "events.json").read_text(encoding="utf-8"))["events"]}

    with Store(tmp_path / "db.sqlite") as store:
        first = run(config, store, out, now=now)
        assert not first.sources[0].unchanged and first.sources[0].records > 0
        second = run(config, store, out, now=now)
        assert second.sources[0].unchanged  # the listing is the same: nothing parsed
        assert second.sources[0].records == first.sources[0].records
        before = titles()

        mailbox.Maildir(maildir).add(mailbox.MaildirMessage(
            b"From: Chapter <c@example.org>\nSubject: Cupping workshop\nMessage-ID: <cup@example.org>\n"
            b"Date: Sun, 01 Mar 2026 08:00:00 -0600\n\n"
            b"Cupping workshop on Saturday, March 21, 2026 at 10:00 AM at 200 N State St, Chicago.\n"))
        third = run(config, store, out, now=now)
        assert not third.sources[0].unchanged
        assert titles() == before | {"Cupping workshop"}
