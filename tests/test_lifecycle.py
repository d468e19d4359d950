"""Event lifecycle: SEQUENCE, LAST-MODIFIED, cancellation and what a failing source changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from aggregator.merge.dedupe import merge
from aggregator.merge.lifecycle import cancelled_title, reconcile
from aggregator.model import Status
from tests.builders import CHICAGO, NEW_YORK, TYPES, rec

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=6)
START = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)


def _publish(records, previous=None, ok=None, now=T0, **kw):
    previous = previous or {}
    merged = merge(records, {r.uid: e.uid for e in previous.values() for r in records
                             if any(s in e.sources for s in r.sources)}, source_types=TYPES)
    ok = ok if ok is not None else {s.source for r in records for s in r.sources} | {
        s.source for e in previous.values() for s in e.sources}
    return {e.uid: e for e in reconcile(merged, previous, ok, now, **kw)}


def _social(**changes):
    return rec("amta-il", "social-1", changes.pop("title", "Spring Social"), changes.pop("start", START),
               **{"end": START + timedelta(hours=2), **changes})


def test_a_new_event_starts_at_sequence_zero_modified_now():
    (event,) = _publish([_social()]).values()
    assert event.sequence == 0 and event.last_modified == T0


def test_a_refetch_with_nothing_changed_keeps_sequence_and_last_modified():
    run1 = _publish([_social()])
    run2 = _publish([_social()], run1, now=T1)
    assert list(run2.values()) == list(run1.values())


@pytest.mark.parametrize("change", [
    {"start": START + timedelta(hours=1), "end": START + timedelta(hours=3)},
    {"end": START + timedelta(hours=3)},
    {"location": "Oak Street Clinic, 12 Oak St, Chicago, IL"},
    {"title": "Spring Social and Raffle"},
    {"status": Status.CANCELLED},
], ids=["moved", "longer", "new_venue", "renamed", "cancelled"])
def test_a_real_change_raises_sequence_by_exactly_one(change):
    run1 = _publish([_social()])
    run2 = _publish([_social(**change)], run1, now=T1)
    (before,), (after,) = run1.values(), run2.values()
    assert after.uid == before.uid
    assert after.sequence == before.sequence + 1 and after.last_modified == T1


def test_the_same_instant_written_in_another_zone_is_no_change():
    run1 = _publish([_social()])
    run2 = _publish([_social(start=START.astimezone(NEW_YORK), end=(START + timedelta(hours=2)).astimezone(NEW_YORK))],
                    run1, now=T1)
    assert next(iter(run2.values())).sequence == 0


def test_a_new_description_moves_last_modified_but_not_sequence():
    run1 = _publish([_social()])
    run2 = _publish([_social(description="Now with snacks.")], run1, now=T1)
    (after,) = run2.values()
    assert after.sequence == 0 and after.last_modified == T1


def test_a_cancelled_event_gets_one_prefix_and_status():
    (event,) = _publish([_social(title="CANCELLED: Spring Social")]).values()
    assert event.status == Status.CANCELLED and event.title == "Cancelled: Spring Social"
    assert cancelled_title("Cancelled: Spring Social") == "Cancelled: Spring Social"
    assert cancelled_title("[Canceled] Spring Social") == "Cancelled: Spring Social"


def test_an_event_gone_from_a_source_read_fine_is_published_cancelled_until_it_ends():
    other = rec("amta-il", "keep", "Board Meeting", START + timedelta(days=3))
    run1 = _publish([_social(), other])
    uid = next(u for u, e in run1.items() if e.title == "Spring Social")
    run2 = _publish([other], run1, ok={"amta-il"}, now=T1)
    assert run2[uid].status == Status.CANCELLED
    assert run2[uid].title == "Cancelled: Spring Social" and run2[uid].sequence == 1
    run3 = _publish([other], run2, ok={"amta-il"}, now=T1 + timedelta(hours=6))
    assert run3[uid] == run2[uid]  # cancelled once, not again every run
    after_it_ended = START + timedelta(hours=3)
    run4 = _publish([other], run3, ok={"amta-il"}, now=after_it_ended)
    assert uid not in run4


def test_a_failing_source_changes_nothing_for_its_events():
    run1 = _publish([_social()])
    run2 = _publish([], run1, ok=set(), now=T1)
    assert run2 == run1


def test_an_event_merged_into_another_is_dropped_not_cancelled():
    a = rec("amta-il", "1", "Spring Social", START)
    b = rec("list-feed", "2", "Spring Social", START + timedelta(days=1))
    run1 = _publish([a, b])
    assert len(run1) == 2
    fixed = rec("list-feed", "2", "Spring Social", START)  # the list corrected its date
    run2 = _publish([a, fixed], run1, now=T1)
    assert len(run2) == 1
    assert all(e.status != Status.CANCELLED for e in run2.values())


def test_an_event_whose_source_was_removed_from_the_config_is_dropped():
    run1 = _publish([_social()])
    run2 = _publish([], run1, ok=set(), now=T1, known_sources=set())
    assert run2 == {}


def test_a_hidden_event_is_dropped_not_cancelled():
    run1 = _publish([_social()])
    uid = next(iter(run1))
    merged = merge([_social()], {_social().uid: uid}, SimpleNamespace(same=(), never=(), hide=(uid,)))
    assert merged == []
    result = reconcile(merged, run1, {"amta-il"}, T1, overrides=SimpleNamespace(hide=(uid,)))
    assert result == []


def test_an_event_that_comes_back_is_confirmed_again_with_a_new_sequence():
    run1 = _publish([_social()])
    run2 = _publish([], run1, ok={"amta-il"}, now=T1)
    run3 = _publish([_social()], run2, now=T1 + timedelta(hours=1))
    (event,) = run3.values()
    assert event.status == Status.CONFIRMED and event.title == "Spring Social" and event.sequence == 2


def test_output_is_sorted_by_start():
    later = rec("amta-il", "2", "Board Meeting", START + timedelta(days=3))
    result = reconcile(merge([later, _social()], {}), {}, {"amta-il"}, T0)
    assert [e.title for e in result] == ["Spring Social", "Board Meeting"]


def test_a_past_event_carried_for_a_failing_source_is_eventually_dropped():
    run1 = _publish([_social()])
    long_after = START + timedelta(days=40)
    assert _publish([], run1, ok=set(), now=long_after) == {}
    assert replace(next(iter(run1.values()))).title == "Spring Social"


@pytest.mark.parametrize("change", [
    {"title": "AMTA-IL: Spring Social"},
    {"title": "SPRING SOCIAL!"},
    {"location": "Lakeview Healing Arts, 1200 West Belmont Avenue, Suite 2, Chicago, IL"},
    {"location": "The Lakeview Healing Arts Center, 1200 W Belmont Ave, Chicago, IL"},
], ids=["label", "case", "address_spelling", "venue_name_added"])
def test_a_respelled_title_or_venue_is_published_without_a_new_sequence(change):
    run1 = _publish([_social()])
    run2 = _publish([_social(**change)], run1, now=T1)
    (after,) = run2.values()
    assert after.sequence == 0 and after.last_modified == T1
    assert after.title == change.get("title", "Spring Social")


def test_a_venue_announced_after_tba_is_a_revision():
    run1 = _publish([_social(location="TBA")])
    run2 = _publish([_social()], run1, now=T1)
    assert next(iter(run2.values())).sequence == 1
