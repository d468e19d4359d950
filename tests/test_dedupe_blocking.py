"""Blocking (merge/dedupe/candidates.py) finds exactly the pairs its rules name, checked against every
pair of small random worlds; and merging leaves the garbage collector as it found it."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from aggregator.merge.dedupe import merge
from aggregator.merge.dedupe.candidates import _SLOT_TITLE_CUTOFF, _SMALL_SLOT, MAX_HOURS_OFF, _candidates
from aggregator.merge.dedupe.compare import _prepare
from aggregator.merge.dedupe.decorations import learn_decorations
from tests.builders import TYPES, chapter_meeting_copies, rec

TITLES = ["Cupping Workshop", "Hot Stone Workshop", "Intro to Cupping", "Thai Massage Study Group",
          "Reflexology Networking Night", "Ethics for Massage Therapists", "Chair Massage Social"]
REGIONS = ["IL", "IN", None]
BASE = datetime(2026, 4, 1, 18, tzinfo=ZoneInfo("America/Chicago"))
URLS = [None, None, "https://example.org/events/1", "https://example.org/events/2"]

# A start as (days, hours, minutes) from BASE, or a date alone: most records share BASE (a crowded
# slot: titles are compared before pairing), some are an hour or a day apart, some half an hour off.
STARTS = [(0, 0, 0)] * 8 + [(0, 1, 0), (0, -3, 0), (1, 0, 0), (0, 0, 30), (2, 1, 0), (BASE.date(),),
                            (BASE.date() + timedelta(days=1),)]
start = st.sampled_from(STARTS)
record = st.tuples(st.sampled_from(list(TYPES)), st.sampled_from(TITLES), start, st.sampled_from(REGIONS),
                   st.sampled_from(URLS))


def _records(world):
    out = []
    for n, (source, title, when, region, url) in enumerate(world):
        if len(when) == 1:
            begins: datetime | date = when[0]
        else:
            days, hours, minutes = when
            begins = BASE + timedelta(days=days, hours=hours, minutes=minutes)
        out.append(rec(source, f"{source}-{n}", title, begins, region=region, url=url))
    return out


def _prepared(records):
    decorations = learn_decorations(records)
    return [_prepare(ev, i, TYPES, decorations.get(ev.sources[0].source)) for i, ev in enumerate(records)]


def _named_by_the_rules(recs) -> set[tuple[int, int]]:
    """Every pair the blocking rules name, found by looking at every pair (worlds here are small)."""
    df = Counter(t for r in recs for t in r.tokens)
    sig = [tuple(sorted(sorted(r.tokens, key=lambda t: (df[t], t))[:2])) for r in recs]
    slot = [r.ts if r.ts is not None else ("d", r.day) for r in recs]
    slot_size = Counter(slot)
    out = set()
    for i, a in enumerate(recs):
        for j in range(i + 1, len(recs)):
            b = recs[j]
            ra, rb = a.event.region, b.event.region
            same_region = not (ra and rb and ra != rb)
            # 1. the same start, with a title alike when the slot is crowded
            if slot[i] == slot[j] and same_region and (
                    slot_size[slot[i]] <= _SMALL_SLOT or a.title == b.title
                    or fuzz.token_set_ratio(a.title, b.title) >= _SLOT_TITLE_CUTOFF):
                out.add((i, j))
            # 2. the same two rarest title words, a whole number of hours apart within a day either side,
            #    or on the day a date-only record gives
            if sig[i] == sig[j] and same_region:
                if a.ts is not None and b.ts is not None:
                    if (a.ts - b.ts) % 3600 == 0 and abs(a.ts - b.ts) <= MAX_HOURS_OFF * 3600 \
                            and abs(a.day - b.day) <= 1:
                        out.add((i, j))
                elif a.ts is None and b.ts is None:
                    if a.day == b.day:
                        out.add((i, j))
                else:
                    day_only, timed = (a, b) if a.ts is None else (b, a)
                    if day_only.day == timed.local_day:
                        out.add((i, j))
            # 3. a shared event link within a day either side
            if a.urls & b.urls and abs(a.day - b.day) <= 1:
                out.add((i, j))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=16, max_size=40))
def test_blocking_finds_exactly_the_pairs_its_rules_name(world):
    recs = _prepared(_records(world))
    assert _candidates(recs) == _named_by_the_rules(recs)


def test_a_crowded_start_pairs_only_records_of_one_region_or_a_national_one():
    # Twelve events at one moment across three regions and one national listing: more than a small slot.
    records = [rec("amta-il", f"e{n}", "Cupping Workshop", BASE, region=["IL", "IN", "WI"][n % 3]) for n in range(12)]
    records.append(rec("other-cal", "national", "Cupping Workshop", BASE, region=None))
    recs = _prepared(records)
    pairs = _candidates(recs)
    for i, j in pairs:
        ri, rj = recs[i].event.region, recs[j].event.region
        assert ri is None or rj is None or ri == rj, (ri, rj)
    national = next(r.idx for r in recs if r.event.region is None)
    assert {i if j == national else j for i, j in pairs if national in (i, j)} == set(range(len(recs))) - {national}


def test_merging_leaves_the_garbage_collector_as_it_found_it():
    was = gc.isenabled()
    try:
        gc.enable()
        merge(chapter_meeting_copies(), {}, source_types=TYPES)
        assert gc.isenabled()
        gc.disable()
        merge(chapter_meeting_copies(), {}, source_types=TYPES)
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()
