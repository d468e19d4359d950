"""AdapterContract: the tests every source adapter's test class inherits.

Modelled on vdirsyncer's StorageTests and the Singer SDK's built-in tap tests. A
test module writes

    from tests.adapter_contract import AdapterContract
    from sources.ical import ICalAdapter

    class TestICalContract(AdapterContract):
        adapter = ICalAdapter
        good_fixture = "ical/rrule_exdate_recurid.ics"   # a path under tests/fixtures
        options_extra = {}                               # optional: this type's own keys

and inherits these checks, run against the real loopback server (tests/servers.py)
through aggregator.collect.fetch.HttpFetcher:

- reading the good fixture yields records, each with a non-empty, unique
  external id, a title and a start; reading it twice gives the same ids;
- an empty body, garbage bytes, and an HTML error page served where the source
  was expected (labelled as the source's own type, and as text/html) each raise
  a SourceError, never any other exception;
- all network access goes through the fetcher it is handed: the server sees only
  the URLs the adapter asked the fetcher for, and with the sockets closed the
  adapter still reads the fixture from a fetcher that serves it from disk;
- the Options model refuses an unknown key (so sources.yaml typos are caught
  before any fetch), and the adapter's `type_name` is its registered name.

Class attributes a subclass may set:

    adapter           the adapter class (required)
    good_fixture      path under tests/fixtures of a source it reads (required)
    options_extra     extra keys for its Options ({} by default)
    content_type      what the server labels the source as (default: from the extension)
    window            the Window records are read in (default 2025-01-01 .. 2028-01-01 UTC)
    html_is_foreign   False for adapters that read HTML pages (html, jsonld): they may
                      legitimately find no events on an error page
    min_records       how many records the good fixture yields at least (default 1)

and may override `source_url(server, fixture, content_type)` to read from a local
path instead of the loopback server (mbox, maildir).
"""

from __future__ import annotations

import mimetypes
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from aggregator.collect.fetch import HttpFetcher, decode
from aggregator.errors import SourceError
from aggregator.model import RawEvent, Window
from sources.base import Fetched, Skipped

FIXTURES = Path(__file__).parent / "fixtures"
# Bodies that are not any source: shared by every adapter's contract tests.
EMPTY_BODY = "contract/empty_body.txt"
GARBAGE_BYTES = "contract/garbage_bytes.bin"
HTML_ERROR_PAGE = "contract/html_error_page.html"

DEFAULT_WINDOW = Window(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))


class RecordingFetcher:
    """Wraps a Fetcher and remembers every URL the adapter asked for."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        self.calls.append(url)
        return self.inner.get(url, accept=accept, discovered=discovered)


class DiskFetcher:
    """A Fetcher that never opens a socket: every URL is answered with one fixture file."""

    def __init__(self, path: Path, content_type: str) -> None:
        self.path = path
        self.content_type = content_type
        self.calls: list[str] = []

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        self.calls.append(url)
        content = self.path.read_bytes()
        return Fetched(url=url, status=200, content=content, text=decode(content, self.content_type),
                       content_type=self.content_type)


class AdapterContract:
    adapter: ClassVar[type]
    good_fixture: ClassVar[str]
    options_extra: ClassVar[dict[str, Any]] = {}
    content_type: ClassVar[str | None] = None
    window: ClassVar[Window] = DEFAULT_WINDOW
    html_is_foreign: ClassVar[bool] = True
    min_records: ClassVar[int] = 1

    # ------------------------------------------------------------------ helpers

    def source_content_type(self) -> str:
        return self.content_type or mimetypes.guess_type(self.good_fixture)[0] or "application/octet-stream"

    def source_url(self, server, fixture: str, content_type: str) -> str:
        """Where the adapter is pointed to read `fixture` (a path under tests/fixtures)."""
        return server.url(f"/files/{fixture}?type={content_type}")

    def make_options(self, url: str):
        return self.adapter.Options(id="contract-test", type=self.adapter.type_name, url=url,
                                    timezone="America/Chicago", **self.options_extra)

    def make_fetcher(self):
        return RecordingFetcher(HttpFetcher(connect_timeout=5, read_timeout=10,
                                            allow_local_paths=self.adapter.Options.allows_local_path))

    def read_items(self, url: str, fetcher=None) -> list[RawEvent | Skipped]:
        fetcher = fetcher or self.make_fetcher()
        result = self.adapter().read(self.make_options(url), fetcher, self.window)
        assert isinstance(result, Iterator) or hasattr(result, "__iter__"), "read() must return an iterator"
        return list(result)

    def read_records(self, url: str, fetcher=None) -> list[RawEvent]:
        items = self.read_items(url, fetcher)
        for item in items:
            assert isinstance(item, (RawEvent, Skipped)), f"read() yielded {type(item).__name__}, not RawEvent/Skipped"
        return [item for item in items if isinstance(item, RawEvent)]

    @pytest.fixture
    def good_records(self, http) -> list[RawEvent]:
        return self.read_records(self.source_url(http, self.good_fixture, self.source_content_type()))

    # ------------------------------------------------------------------ the contract

    def test_good_source_yields_records(self, good_records):
        assert len(good_records) >= self.min_records, (
            f"{self.good_fixture} should give at least {self.min_records} record(s), got {len(good_records)}")

    def test_records_have_unique_nonempty_external_ids(self, good_records):
        ids = [r.external_id for r in good_records]
        assert all(isinstance(i, str) and i.strip() for i in ids), f"empty external id among {ids}"
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        assert not duplicates, f"external ids must be unique within a source; repeated: {duplicates}"

    def test_records_have_a_title_and_a_start(self, good_records):
        for record in good_records:
            assert isinstance(record.title, str) and record.title.strip(), f"{record.external_id} has no title"
            assert record.start not in (None, ""), f"{record.external_id} has no start"

    def test_reading_twice_gives_the_same_ids(self, http, good_records):
        again = self.read_records(self.source_url(http, self.good_fixture, self.source_content_type()))
        assert sorted(r.external_id for r in again) == sorted(r.external_id for r in good_records)

    def test_empty_body_is_a_source_error(self, http):
        with pytest.raises(SourceError) as caught:
            self.read_items(self.source_url(http, EMPTY_BODY, self.source_content_type()))
        assert str(caught.value).strip(), "the error must say what is wrong"

    def test_garbage_bytes_are_a_source_error(self, http):
        with pytest.raises(SourceError) as caught:
            self.read_items(self.source_url(http, GARBAGE_BYTES, self.source_content_type()))
        assert str(caught.value).strip()

    @pytest.mark.parametrize("labelled_as", ["own", "text/html"])
    def test_html_error_page_is_a_source_error(self, http, labelled_as):
        if not self.html_is_foreign:
            pytest.skip("this adapter reads HTML pages; an error page may simply hold no events")
        content_type = self.source_content_type() if labelled_as == "own" else "text/html; charset=utf-8"
        with pytest.raises(SourceError) as caught:
            self.read_items(self.source_url(http, HTML_ERROR_PAGE, content_type))
        assert str(caught.value).strip()

    def test_server_sees_only_urls_asked_of_the_fetcher(self, http):
        url = self.source_url(http, self.good_fixture, self.source_content_type())
        fetcher = self.make_fetcher()
        self.read_records(url, fetcher)
        assert fetcher.calls, "the adapter must fetch its source through the fetcher it is handed"
        if urlsplit(url).scheme in ("http", "https"):
            assert fetcher.calls[0] == url, "the configured URL is fetched first"
            asked = {urlsplit(u)._replace(scheme="", netloc="").geturl() for u in fetcher.calls}
            seen = [r.path for r in http.log]
            assert seen, "the server saw no request"
            assert set(seen) <= asked, f"requests not made through the fetcher: {set(seen) - asked}"

    def test_reads_with_sockets_closed_when_the_fetcher_serves_the_bytes(self, monkeypatch):
        def refuse(*args, **kwargs):
            raise AssertionError("the adapter opened a network connection itself; use the fetcher")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        fetcher = DiskFetcher(FIXTURES / self.good_fixture, self.source_content_type())
        records = self.read_records("http://contract.invalid/source", fetcher)
        assert len(records) >= self.min_records
        assert fetcher.calls and fetcher.calls[0] == "http://contract.invalid/source"

    def test_options_refuse_an_unknown_key(self):
        with pytest.raises(Exception) as caught:
            self.adapter.Options(id="x", type=self.adapter.type_name, url="http://example.org/",
                                 **self.options_extra, tiemzone="America/Chicago")
        assert "tiemzone" in str(caught.value)

    def test_type_name_is_its_registered_name(self):
        from sources.registry import adapter_for

        assert adapter_for(self.adapter.type_name) is self.adapter
