"""Any bytes a server sends yield records or a typed SourceError, quickly (docs/reliability.md F3).

The bytes are handed to each adapter through an in-memory Fetcher: this is a parser
property, not a network test (the loopback server tests cover the network).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import SourceError
from aggregator.model import RawEvent, Window
from sources.base import Fetched, Skipped
from sources.registry import adapter_for, available_types

WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))
BYTE_TYPES = [t for t in ("ical", "jsonld", "html", "rss", "mbox") if t in available_types()]
EXTRA = {"html": {"selectors": {"event": "div.event", "title": "h3", "start": ".when"}}}

# Seeds that look like the real thing, so Hypothesis mutates into the parsers' deep paths.
SEEDS = [
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20270101T100000Z\r\nSUMMARY:Mixer\r\n"
    b"RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b'<html><script type="application/ld+json">{"@type":"Event","name":"Mixer","startDate":"2027-01-01T18:00"}'
    b"</script><div class=event><h3>Mixer</h3><span class=when>Jan 5, 2027 6pm</span></div></html>",
    b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Mixer next Tuesday at 6pm</title>'
    b"<pubDate>Mon, 04 Jan 2027 10:00:00 GMT</pubDate></item></channel></rss>",
    b"From a@b Mon Jan  4 10:00:00 2027\nSubject: Mixer Jan 12 at 6pm\nDate: Mon, 4 Jan 2027 10:00:00 +0000\n\nhi\n",
]


class BytesFetcher:
    def __init__(self, content: bytes, content_type: str = "application/octet-stream") -> None:
        self.content = content
        self.content_type = content_type

    def get(self, url, *, accept=None, discovered=False):
        if discovered:  # followed links: nothing more behind them
            raise SourceError("no such page", reason="not_found")
        return Fetched(url=url, status=200, content=self.content,
                       text=self.content.decode("utf-8", "replace"), content_type=self.content_type)


def mutated(seed_index: int, junk: bytes, cut: int) -> bytes:
    seed = SEEDS[seed_index % len(SEEDS)]
    cut = cut % (len(seed) + 1)
    return seed[:cut] + junk + seed[cut:]


@pytest.mark.skipif(not BYTE_TYPES, reason="no byte-reading adapters registered")
@pytest.mark.parametrize("type_name", BYTE_TYPES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10), junk=st.binary(max_size=200), cut=st.integers(0, 10_000))
def test_any_bytes_yield_records_or_a_typed_error_within_two_seconds(type_name, seed, junk, cut):
    adapter = adapter_for(type_name)()
    options = adapter.Options(id="fuzz", type=type_name, url="http://fuzz.example/source",
                              timezone="America/Chicago", **EXTRA.get(type_name, {}))
    began = time.monotonic()
    try:
        items = list(adapter.read(options, BytesFetcher(mutated(seed, junk, cut)), WINDOW))
    except SourceError:
        items = []
    assert time.monotonic() - began < 2.0
    assert all(isinstance(i, (RawEvent, Skipped)) for i in items)
