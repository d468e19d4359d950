"""The jsonld adapter over real pages in ../shared/corpus/html: every schema.org Event / h-event
becomes a record at the instant its page states, pages without events yield none, nothing crashes.

Expected facts come from ../shared/corpus/EXPECTED.tsv (computed by extruct and mf2py outside the
project). The test skips cleanly where ../shared is absent.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from aggregator.collect.fetch import HttpFetcher
from aggregator.errors import SourceError
from aggregator.model import RawEvent
from sources.base import Skipped
from sources.jsonld import JsonLdAdapter, JsonLdOptions
from sources.parse.dates import parse_iso, parse_when
from tests.adapter_contract import DEFAULT_WINDOW
from tests.conftest import SHARED_CORPUS, corpus_files

ZONE = "America/Chicago"
FILES = corpus_files("html")


def expected_facts() -> dict[str, dict[str, str]]:
    path = SHARED_CORPUS / "EXPECTED.tsv"
    facts: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return facts
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            facts.setdefault(row["file"], {}).setdefault(row["fact"], row["value"])
    return facts


FACTS = expected_facts()


def read(path) -> list[RawEvent | Skipped]:
    options = JsonLdOptions(id="corpus", type="jsonld", url=str(path), timezone=ZONE)
    fetcher = HttpFetcher(allow_local_paths=True)
    return list(JsonLdAdapter().read(options, fetcher, DEFAULT_WINDOW))


def instant(value) -> datetime | date:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(ZONE))
        return value.astimezone(timezone.utc)
    return value


@pytest.mark.skipif(not FILES, reason="../shared/corpus/html is absent")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_event_of_a_real_page_is_read_at_its_stated_instant(path):
    try:
        items = read(path)
    except SourceError as error:  # a page we cannot read is refused with a sentence, never a crash
        assert str(error).strip()
        return
    records = [i for i in items if isinstance(i, RawEvent)]
    undated = [i for i in items if isinstance(i, Skipped) and i.reason == "no date found"]
    facts = FACTS.get(f"html/{path.name}", {})
    schema = int(facts.get("schemaorg_event_count_all_nesting_levels", "0") or 0)
    hevents = int(facts.get("hevent_count_toplevel_mf2", "0") or 0)
    if not facts:
        pytest.skip(f"no expected facts for {path.name}")
    expected_count = schema or hevents
    assert len(records) + len(undated) == expected_count, (
        f"{path.name}: {len(records)} records + {len(undated)} undated, expected {expected_count} events")
    if expected_count == 0:
        assert records == [], f"{path.name} holds no event but gave {records}"
        return
    first_name = facts.get("first_schemaorg_event_name") if schema else facts.get("first_hevent_name")
    first_start = facts.get("first_schemaorg_event_startDate") if schema else facts.get("first_hevent_start")
    if first_start in (None, "<none>"):
        assert undated and undated[0].item == first_name
        return
    first = records[0]
    assert first.title == first_name
    stated = parse_iso(first_start) or parse_when(first_start).start
    assert instant(first.start) == instant(stated), f"{path.name}: {first.start} is not {first_start}"
    ids = [r.external_id for r in records]
    assert len(set(ids)) == len(ids), f"{path.name}: external ids repeat: {ids}"
