"""../shared/corpus/feeds and ../shared/corpus/mail: every file is read or refused with a SourceError.

Never a crash, never a hang. The corpus is not part of the repository: these tests skip
where ../shared is absent (a user's clone).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import SourceError
from aggregator.model import RawEvent, Status, Window
from sources.base import Fetched, Skipped
from sources.mbox import MboxAdapter
from sources.rss import RssAdapter
from tests.conftest import SHARED_CORPUS, corpus_files

# Wide: corpus posts are from 2009..2025, and the point is to read them, not to drop them as past.
WINDOW = Window(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc))
CONTENT_TYPES = {".xml": "application/xml", ".rss": "application/rss+xml", ".atom": "application/atom+xml",
                 ".json": "application/json"}


class BytesOf:
    """A fetcher serving one corpus file's bytes (the corpus is outside the loopback server's root)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, url, *, accept=None, discovered=False) -> Fetched:
        content = self.path.read_bytes()
        return Fetched(url=url, status=200, content=content, text="",
                       content_type=CONTENT_TYPES.get(self.path.suffix, "application/octet-stream"))


def outcome(adapter, options, fetcher) -> tuple[list, SourceError | None, float]:
    began = time.monotonic()
    try:
        items = list(adapter.read(options, fetcher, WINDOW))
        error = None
    except SourceError as e:
        items, error = [], e
    return items, error, time.monotonic() - began


@pytest.mark.parametrize("path", corpus_files("feeds"), ids=lambda p: p.name)
def test_every_corpus_feed_is_read_or_refused_with_a_source_error(path):
    options = RssAdapter.Options(id="corpus", type="rss", url=f"http://corpus.invalid/{path.name}",
                                 timezone="America/Chicago")
    items, error, took = outcome(RssAdapter(), options, BytesOf(path))
    assert took < 5, f"{path.name} took {took:.1f}s"
    assert all(isinstance(i, (RawEvent, Skipped)) for i in items)
    if error is not None:
        assert str(error).strip() and "Traceback" not in str(error)
    for record in items:
        if isinstance(record, RawEvent):
            assert record.external_id and record.title
            assert record.url is None or record.url.startswith(("http://", "https://"))


@pytest.mark.parametrize("path", corpus_files("mail"), ids=lambda p: p.name)
def test_every_corpus_mail_file_is_read_or_refused_with_a_source_error(path):
    options = MboxAdapter.Options(id="corpus", type="mbox", url=str(path), timezone="America/Chicago")
    items, error, took = outcome(MboxAdapter(), options, HttpFetcher(allow_local_paths=True))
    assert took < 5, f"{path.name} took {took:.1f}s"
    assert all(isinstance(i, (RawEvent, Skipped)) for i in items)
    if error is not None:
        assert str(error).strip() and "Traceback" not in str(error)
    ids = [r.external_id for r in items if isinstance(r, RawEvent)]
    assert len(ids) == len(set(ids)), f"{path.name}: external ids repeat: {ids}"


def _corpus(folder: str, name: str) -> Path:
    path = SHARED_CORPUS / folder / name
    if not path.is_file():
        pytest.skip(f"../shared/corpus/{folder}/{name} is absent")
    return path


def _read_mail(path: Path) -> list:
    options = MboxAdapter.Options(id="corpus", type="mbox", url=str(path), timezone="America/Chicago")
    return list(MboxAdapter().read(options, HttpFetcher(allow_local_paths=True), WINDOW))


def test_a_real_google_invitation_email_gives_its_event():
    events = [i for i in _read_mail(_corpus("mail", "openbmc__google_invitation_bmc_aggregator_review.eml"))
              if isinstance(i, RawEvent)]
    assert [e.title for e in events] == ["BMC Aggregator Review"]


def test_a_real_yahoo_cancellation_cancels_what_it_names():
    events = [i for i in _read_mail(_corpus("mail", "openbmc__yahoo_cancel_telemetry.eml")) if isinstance(i, RawEvent)]
    assert events and all(e.status == Status.CANCELLED for e in events)


def test_a_pipermail_index_page_is_refused_not_read_as_mail():
    path = _corpus("mail", "perceval__pipermail_index.html")
    options = MboxAdapter.Options(id="corpus", type="mbox", url=str(path), timezone="America/Chicago")
    with pytest.raises(SourceError) as caught:
        list(MboxAdapter().read(options, HttpFetcher(allow_local_paths=True), WINDOW))
    assert "HTML page" in str(caught.value)


def test_a_forwarded_multi_day_announcement_is_an_all_day_event_not_the_forward_headers_time():
    (event,) = [i for i in _read_mail(_corpus("mail", "batman__fwd_battlemesh_v17_announcement.eml"))
                if isinstance(i, RawEvent)]
    assert str(event.start) == "2025-06-10" and str(event.end) == "2025-06-17"  # "Date: 10–16 June 2025"
