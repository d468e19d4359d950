"""Hypothesis properties of de-duplication (docs/reliability.md F3): idempotent, order-independent, and an
unrelated event never changes other events' uids."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.merge.dedupe import merge
from aggregator.merge.normalize import record_uid
from tests.builders import TYPES, rec

TOPICS = ["Cupping", "Hot Stone", "Thai Massage", "Reflexology", "Myofascial Release", "Ethics", "Chair Massage"]
FORMS = ["{t} Workshop", "Intro to {t}", "{t} Study Group", "Continuing Education: {t}", "{t} Networking Night"]
VENUES = ["Lakeview Healing Arts, 1200 W Belmont Ave", "Oak Street Clinic, 12 Oak St", "TBA", None,
          "Harmony Massage School, 480 N Clark Street, Suite 2"]
PREFIXES = ["", "Reminder: ", "AMTA-IL: ", "Re: ", "[IL Chapter] "]
ZONES = ["America/Chicago", "America/New_York", "UTC"]
SOURCES = ["amta-il", "chi-meetup", "chapter-page", "list-feed", "list-mail"]
BASE = datetime(2026, 4, 1, tzinfo=ZoneInfo("America/Chicago"))

copy = st.tuples(st.sampled_from(SOURCES), st.sampled_from(PREFIXES), st.booleans(), st.sampled_from(ZONES))
true_event = st.tuples(st.sampled_from(TOPICS), st.sampled_from(FORMS), st.integers(0, 6), st.sampled_from([9, 10, 18]),
                       st.sampled_from(VENUES), st.lists(copy, min_size=1, max_size=3))


def _records(world) -> list:
    records, seen = [], set()
    for n, (topic, form, day, hour, venue, copies) in enumerate(world):
        title = form.format(t=topic)
        start = BASE.replace(hour=hour) + timedelta(days=day)
        for c, (source, prefix, upper, zone) in enumerate(copies):
            if (source, n) in seen:
                continue
            seen.add((source, n))
            shown = (prefix + title).upper() if upper else prefix + title
            records.append(rec(source, f"{source}-{n}-{c}", shown, start.astimezone(ZoneInfo(zone)),
                               location=venue))
    return records


def _links(events) -> dict[str, str]:
    return {record_uid(s.source, s.external_id): e.uid for e in events for s in e.sources}


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(true_event, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_merge_is_order_independent(world, rnd):
    records = _records(world)
    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert merge(shuffled, {}, source_types=TYPES) == merge(records, {}, source_types=TYPES)
    assert merge(records[::-1], {}, source_types=TYPES) == merge(records, {}, source_types=TYPES)


@FAST
@given(st.lists(true_event, min_size=1, max_size=8))
def test_merge_is_idempotent_across_runs(world):
    records = _records(world)
    first = merge(records, {}, source_types=TYPES)
    again = merge(records, _links(first), previous={e.uid: e for e in first}, source_types=TYPES)
    assert again == first


@FAST
@given(st.lists(true_event, min_size=1, max_size=8), st.sampled_from(SOURCES))
def test_an_unrelated_event_never_changes_other_uids(world, source):
    records = _records(world)
    first = merge(records, {}, source_types=TYPES)
    unrelated = rec(source, "unrelated-1", "Oncology Massage Certification Intensive",
                    BASE.replace(hour=13) + timedelta(days=20), location="Evergreen Chiropractic, 77 Pine Rd")
    fresh = merge(records + [unrelated], {}, source_types=TYPES)
    carried = merge(records + [unrelated], _links(first), source_types=TYPES)
    for result in (fresh, carried):
        by_members = {frozenset(e.sources): e.uid for e in result}
        assert all(by_members[frozenset(e.sources)] == e.uid for e in first)


@FAST
@given(st.lists(true_event, min_size=1, max_size=8))
def test_a_rerun_with_the_same_records_changes_no_sequence_or_last_modified(world):
    from datetime import timezone

    from aggregator.merge.lifecycle import reconcile

    records = _records(world)
    t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    first = reconcile(merge(records, {}, source_types=TYPES), {}, set(SOURCES), t0)
    previous = {e.uid: e for e in first}
    again = reconcile(merge(records, _links(first), previous=previous, source_types=TYPES), previous,
                      set(SOURCES), t0 + timedelta(hours=6))
    assert again == first
