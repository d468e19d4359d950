"""The mbox adapter: list archives (plain, gzipped, over HTTP or on disk) and single .eml messages."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import load_config
from aggregator.errors import FetchRefused, ParseError
from aggregator.model import RawEvent, Status, Window
from sources.base import Skipped
from sources.mbox import MboxAdapter
from sources.parse.mail import split_mbox
from tests.adapter_contract import AdapterContract

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
CHICAGO = ZoneInfo("America/Chicago")
WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))


class TestMboxContract(AdapterContract):
    adapter = MboxAdapter
    good_fixture = "mail/list_archive_2026-03.mbox"
    content_type = "application/mbox"


class TestMboxFromLocalPathContract(AdapterContract):
    adapter = MboxAdapter
    good_fixture = "mail/list_archive_2026-03.mbox"
    content_type = "application/mbox"

    def source_url(self, server, fixture, content_type):
        return str(FIXTURES.parent / fixture)


def read(url: str, zone: str = "America/Chicago"):
    options = MboxAdapter.Options(id="archive", type="mbox", url=url, timezone=zone)
    return list(MboxAdapter().read(options, HttpFetcher(allow_local_paths=True), WINDOW))


def by_title(items) -> dict[str, RawEvent]:
    return {i.title: i for i in items if isinstance(i, RawEvent)}


def reasons(items) -> dict[str, str]:
    return {i.item.rsplit(" <", 1)[-1].rstrip(">"): i.reason for i in items if isinstance(i, Skipped)}


def test_a_monthly_archive_over_http_gives_its_events_and_says_why_it_skipped_the_rest(http):
    items = read(http.url("/files/mail/list_archive_2026-03.mbox"))
    events = by_title(items)
    assert set(events) == {"Spring Networking Mixer - Tuesday, March 10", "Ethics CE night", "Board meeting"}
    mixer = events["Spring Networking Mixer - Tuesday, March 10"]
    assert mixer.external_id == "<mixer-2026@amta-il.example>"
    assert mixer.start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
    assert mixer.location == "Café Lula, 2537 N Kedzie Blvd, Chicago"  # quoted-printable UTF-8 decoded
    assert "cash bar" in mixer.description and "–" in mixer.description
    why = reasons(items)
    assert why["reply-1@example.net"].startswith("a reply in the thread of <mixer-2026@amta-il.example>")
    assert "collapsed" in why["reminder-2026@amta-il.example"]
    assert why["job-1@serenity.example"] == "a job ad, not an event"


def test_an_html_only_message_is_read_as_text():
    ce = by_title(read(str(FIXTURES / "list_archive_2026-03.mbox")))["Ethics CE night"]
    assert ce.start == datetime(2026, 4, 8, 19, 0, tzinfo=CHICAGO)
    assert ce.end == datetime(2026, 4, 8, 21, 0, tzinfo=CHICAGO)
    assert ce.location == "Lincoln Park Library, 1150 W Fullerton Ave"


def test_an_invitation_is_read_as_icalendar_and_not_again_as_prose():
    items = read(str(FIXTURES / "list_archive_2026-03.mbox"))
    boards = [i for i in items if isinstance(i, RawEvent) and "Board" in i.title]
    assert len(boards) == 1
    assert boards[0].external_id == "board-2026-03-24@amta-il.example"  # the VEVENT UID
    assert boards[0].location == "Room 204, 1 N State St"


def test_an_invitation_with_method_cancel_cancels_the_event():
    (event,) = [i for i in read(str(FIXTURES / "invitation_method_cancel.eml")) if isinstance(i, RawEvent)]
    assert event.external_id == "board-2026-03-24@amta-il.example"
    assert event.status == Status.CANCELLED


def test_a_single_quoted_printable_eml_message_is_read():
    (event,) = [i for i in read(str(FIXTURES / "announcement_quoted_printable.eml")) if isinstance(i, RawEvent)]
    assert event.location == "Midwest School of Massage, 415 W Ontario St"  # soft line break joined
    assert event.start == datetime(2026, 4, 30, 17, 0, tzinfo=CHICAGO)


def test_an_encoded_word_latin1_subject_and_base64_body_are_decoded():
    items = read(str(FIXTURES / "list_archive_2026-03.mbox"))
    skipped = [i for i in items if isinstance(i, Skipped) and "reminder-2026" in i.item]
    assert skipped and skipped[0].item.startswith("Reminder: spring mixer (soirée) next Tuesday")


def test_mboxrd_escaped_from_lines_stay_inside_their_message():
    messages = split_mbox((FIXTURES / "list_archive_2026-03.mbox").read_bytes())
    assert len(messages) == 7
    assert b"\nFrom the article: recovery matters." in messages[-1]


def test_a_gzipped_archive_is_read_like_the_plain_one(tmp_path):
    gz = tmp_path / "2026-March.txt.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "list_archive_2026-03.mbox").read_bytes()))
    assert set(by_title(read(str(gz)))) == set(by_title(read(str(FIXTURES / "list_archive_2026-03.mbox"))))


def test_a_gzip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("sources.parse.mail.MAX_DECOMPRESSED", 1024 * 1024)
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"From a@b Mon Mar  2 16:15:00 2026\n" + b"\0" * (3 * 1024 * 1024)))
    with pytest.raises(ParseError) as caught:
        read(str(bomb))
    assert caught.value.reason == "too_large"


def test_a_pipermail_index_page_is_a_parse_error_that_names_the_fix(http):
    with pytest.raises(ParseError) as caught:
        read(http.url("/files/contract/html_error_page.html?type=text/html"))
    assert "HTML page" in str(caught.value) and ".mbox" in str(caught.value)


def test_a_missing_local_archive_is_refused_clearly(tmp_path):
    with pytest.raises(FetchRefused) as caught:
        read(str(tmp_path / "nope.mbox"))
    assert "does not exist" in str(caught.value)


def test_an_unknown_charset_and_a_broken_date_do_not_lose_the_message(tmp_path):
    raw = (b"From x@y Mon Mar  2 16:15:00 2026\n"
           b"Subject: Open house April 30\nFrom: a@b\nDate: not a date\nMessage-ID: <odd@x>\n"
           b"Content-Type: text/plain; charset=x-unknown-charset\n\n"
           b"Open house Thursday, April 30, 5-7pm at Midwest School of Massage, 415 W Ontario St.\n")
    path = tmp_path / "odd.mbox"
    path.write_bytes(raw)
    (event,) = [i for i in read(str(path)) if isinstance(i, RawEvent)]
    assert event.location == "Midwest School of Massage, 415 W Ontario St"


def test_sources_yaml_accepts_a_local_mbox_path(make_config):
    path = make_config(f"""
        calendar: {{timezone: America/Chicago}}
        sources:
          - id: archive
            type: mbox
            url: {FIXTURES / 'list_archive_2026-03.mbox'}
        """)
    config = load_config(path)
    assert config.sources[0].url.endswith("list_archive_2026-03.mbox")


def test_the_demo_archive_gives_its_events_and_skips_minutes_and_dues():
    from datetime import date

    from aggregator.app.demo import DemoServer
    from aggregator.config.settings import CalendarSettings
    from aggregator.pipeline import read_source

    window = Window(datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2027, 3, 1, tzinfo=timezone.utc))
    with DemoServer(today=date(2026, 3, 2)) as demo:
        options = MboxAdapter.Options(id="archive", type="mbox", url=f"{demo.base_url}/lmt-chicago-archive.mbox")
        outcome = read_source(options, CalendarSettings(timezone="America/Chicago"), HttpFetcher(), window)
    assert outcome.error is None
    starts = sorted(r.start.isoformat() for r in outcome.records)
    assert starts == ["2026-03-14T17:00:00-05:00", "2026-03-27T09:00:00-05:00"]
    assert sorted(s.reason for s in outcome.skipped) == ["a renewal deadline, not an event",
                                                         "meeting minutes, not an announcement"]


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_a_raw_8bit_subject_is_read_in_utf8_or_latin1(tmp_path, charset):
    # Some list software writes non-ASCII subjects as raw bytes instead of encoded words.
    message = ("From: Chapter <chapter@example.org>\nSubject: Soirée de réseautage — Café Lumière\n"
               "Date: Mon, 02 Mar 2026 09:00:00 -0600\nMessage-ID: <raw8bit@example.org>\n"
               f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n"
               "Join us Tuesday, March 10, 2026 at 6:30 PM at Café Lumière, 12 Oak St.\n")
    path = tmp_path / "raw.eml"
    path.write_bytes(message.encode(charset, "replace"))
    (event,) = [i for i in read(str(path)) if isinstance(i, RawEvent)]
    want = "Soirée de réseautage — Café Lumière" if charset == "utf-8" else "Soirée de réseautage ? Café Lumière"
    assert event.title == want
    assert event.start == datetime(2026, 3, 10, 18, 30, tzinfo=CHICAGO)
