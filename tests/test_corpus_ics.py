"""Every real-world calendar in ../shared/corpus/ics is read or refused with a SourceError.

The files are read in place, through the adapter and the fetcher (a local path is
read as a URL would be); they are never copied into the repository. Skipped where
../shared is absent (a user's clone).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import SourceError
from aggregator.model import RawEvent, Window
from sources.base import Skipped, SourceOptions
from sources.ical import ICalAdapter
from tests.conftest import SHARED_CORPUS, corpus_files

UTC = timezone.utc
# The corpus spans 2003-2026: a window wide enough to see the events the files hold.
CORPUS_WINDOW = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
ICS = SHARED_CORPUS / "ics"


def read_file(path: Path, *, tz: str = "America/Chicago", window: Window = CORPUS_WINDOW):
    source = SourceOptions(id="corpus", type="ical", url=str(path), timezone=tz)
    return list(ICalAdapter().read(source, HttpFetcher(allow_local_paths=True), window))


@pytest.mark.parametrize("path", corpus_files("ics"), ids=lambda p: p.name)
def test_corpus_file_is_read_or_refused_with_a_source_error(path):
    started = time.process_time()  # CPU time: our work, not how busy the machine is
    try:
        items = read_file(path)
    except SourceError as refused:
        message = str(refused)
        assert message.startswith("corpus: ") and path.name in message, message
        assert "Traceback" not in message
        return
    finally:
        elapsed = time.process_time() - started
        assert elapsed < 5, f"{path.name} took {elapsed:.1f} s of CPU"
    ids = []
    for item in items:
        assert isinstance(item, (RawEvent, Skipped)), type(item)
        if isinstance(item, Skipped):
            assert item.item and item.reason
            continue
        assert item.title.strip(), f"{item.external_id} has no title"
        assert isinstance(item.start, (datetime, date)), f"{item.external_id} has no start"
        if isinstance(item.start, datetime):
            assert item.start.tzinfo is not None, f"{item.external_id} starts at a floating time"
        assert item.timezone, f"{item.external_id} names no zone"
        ids.append(item.external_id)
    assert len(ids) == len(set(ids)), f"{path.name}: repeated external ids"


def _one(name: str, external_id: str, **kw) -> RawEvent:
    path = ICS / name
    if not path.is_file():
        pytest.skip("../shared/corpus/ics is absent")
    events = {r.external_id: r for r in read_file(path, **kw) if isinstance(r, RawEvent)}
    return events[external_id]


def test_windows_tzid_gives_the_local_hour_in_the_mapped_iana_zone():
    # DTSTART;TZID=New Zealand Standard Time:20191120T130000 (its VTIMEZONE is a stale copy of CET)
    event = _one("khal__tz_windows_format.ics", "PERSOYPOYGVR55JMICVAFVDWWBIKPC9PTAG6SN4B2YT")
    assert (event.start.hour, event.start.minute, event.timezone) == (13, 0, "Pacific/Auckland")
    assert event.start.astimezone(UTC) == datetime(2019, 11, 20, 0, 0, tzinfo=UTC)
    assert event.end.astimezone(UTC) == datetime(2019, 11, 20, 1, 30, tzinfo=UTC)


def test_windows_display_name_tzid_keeps_the_instant_its_vtimezone_defines():
    # DTSTART;TZID="Canberra, Melbourne, Sydney":20090310T093000 (AEDT, +11:00); a daily series
    path = ICS / "ical4j__Standup.ics"
    if not path.is_file():
        pytest.skip("../shared/corpus/ics is absent")
    window = Window(datetime(2009, 3, 1, tzinfo=UTC), datetime(2009, 3, 31, tzinfo=UTC))
    first = min((r for r in read_file(path, window=window) if isinstance(r, RawEvent)),
                key=lambda r: r.start.astimezone(UTC))
    assert first.start.astimezone(UTC) == datetime(2009, 3, 9, 22, 30, tzinfo=UTC)


def test_x_wr_timezone_gives_the_hour_google_shows():
    noon = _one("rie__x_wr_timezone_simple_events_issue_59.ics", "3bc4jff97631or97ntnk75n4se@google.com",
                tz="Europe/Berlin")
    assert (noon.start.hour, noon.end.hour, noon.timezone) == (12, 13, "America/New_York")
    nine = _one("rie__x_wr_timezone_simple_events_issue_59.ics", "14n7h56i35m32ukcq76s46d45p@google.com")
    assert (nine.start.date(), nine.start.hour, nine.timezone) == (date(2021, 12, 22), 21, "America/New_York")


def test_no_dtend_event_has_no_end_and_its_local_hour():
    event = _one("rie__discourse_no_dtend.ics", "0ab03762-6e6d-40d7-9ceb-b49844ba61a4")
    assert (event.start.hour, event.start.minute, event.timezone) == (18, 0, "Europe/Berlin")
    assert event.end is None
    workshop = _one("rie__discourse_no_dtend.ics", "d7069eb4-e82c-40af-9486-fb5bb332c328")
    assert (workshop.start.hour, workshop.end.hour) == (15, 18)


def test_a_broken_vtimezone_offset_is_repaired_not_refused():
    # TZOFFSETFROM:+5328 (Apple writes LMT seconds): the zone is read from its TZID name instead
    path = ICS / "khal__invalid_tzoffset.ics"
    if not path.is_file():
        pytest.skip("../shared/corpus/ics is absent")
    (event,) = [r for r in read_file(path) if isinstance(r, RawEvent)]
    assert event.timezone == "Europe/Berlin"
    assert event.start.hour == 8
