"""Source records -> one Event per real-world event, with identities stable across runs.

Pure functions over Events: no I/O. The pipeline hands in every current source
record (normalized, one SourceRef each, ``uid`` = its provisional record uid) and
what it remembers from earlier runs; ``merge`` returns the events to publish.

How records are matched
-----------------------
1. *Normalisation* (``norm_title``, ``norm_venue``, ``norm_url``): titles lose case,
   accents, punctuation, reply/forward/reminder/cancellation prefixes ("Re:", "Fwd:",
   "Reminder:", "CANCELLED:", "[Canceled]"), a leading organiser label ("AMTA-IL: ...")
   and dates written into them ("- March 2026"); abbreviations are unified
   ("Continuing Education"/"CEU" -> "ce", "mtg" -> "meeting", "&" -> "and"). Venues
   lose suite/room numbers and street words are unified (Street -> st, Avenue -> ave);
   "TBA", "TBD", "online" count as no venue. Start instants are compared in UTC.
2. *Blocking*: candidate pairs are only records that start at the same instant (or
   on the same all-day date), or that share a rare title word within one UTC day
   either side, or the same event-specific URL within one day either side. Never all
   pairs: 100,000 records take seconds (``benchmark_merge``).
3. *Scoring* (``score_pair``): title similarity (rapidfuzz token-set and token-sort
   ratios), start agreement (``exact``; ``date`` when one side only knows the day;
   ``hours`` when off by a whole number of hours, a zone mistake, weaker), venue
   similarity, and a shared URL. A pair matches when its times agree and the title is
   similar enough for that kind of agreement (stricter for ``date``/``hours``), and
   the venues, when both are known, do not disagree.
4. *Grouping* is complete-linkage: matched pairs are joined best-first, and two groups
   join only when every record of one is compatible with every record of the other,
   so a vague "Workshop" record never chains "Cupping Workshop" to "Hot Stone
   Workshop". Two records of one source are never in one group unless they are the
   same record: the same start, the same title (a re-announcement) and no other
   venue. Monthly occurrences of a series start on different days and never match.
5. Curator overrides (``merge:`` in sources.yaml): ``same`` joins records or
   published events regardless of scores, ``never`` keeps them apart, ``hide``
   drops an event (by published uid or by one of its records, ``source:external_id``).

How a group becomes one event (the merge rules)
-----------------------------------------------
Sources are ranked by the authority their adapter declares (SourceAdapter.authority: ical >
jsonld > html > rss > mail types; ``source_types`` maps source id -> type), then by source id.

- start/end/all_day/timezone: the most precise time: a datetime over a date, then
  the most authoritative source (a calendar states its zone; mail prose guesses it).
  An end missing there is taken from another record with the same start.
- title: the most authoritative record's, without "Reminder:"/"Fwd:"/"Cancelled:"
  style prefixes.
- description: the longest clean description (HTML sanitised away with nh3; a mail signature,
  mailing-list footer or quoted original cut off first).
- location: a real venue over "TBA"/empty, then the most complete (the venues of one group agree,
  so the one saying most: "Holiday Inn, 12 Park Dr" over "12 Park Dr"), then authority.
- url: the most authoritative source's url.
- region: the most authoritative non-empty one.
- tags: the union, sorted.
- status: cancelled if any source says so (STATUS, eventStatus, or a title such as
  "CANCELLED:" / "[Canceled]"); else confirmed if any source confirms; else tentative.
- sources: every SourceRef, sorted by (source, external_id).

Identity
--------
``known`` maps record uid -> the published uid it had (store links). A group reuses
the uid its records had; when several, the oldest published uid wins
(``first_published``), and a uid claimed by two groups goes to the group holding
more of its records. A group none of whose records is known (a source that mints a
new UID on every fetch, like Office 365, or has none) is matched by content
(title, start, venue) to last run's published events of the same source
(``previous``), so published uids never churn. A brand-new group takes the record
uid of its anchor record (the first by source and external id): deterministic, and
independent of unrelated records.

The result does not depend on the order of the records.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone

from aggregator.merge.dedupe.compare import (LINKAGE_SLACK, MAX_HOURS_OFF, SAME_SOURCE_TITLE, VENUE_CONFLICT,
                                             Comparison, PairScore, _prepare, _Rec, score_pair, title_similarity,
                                             venue_similarity)
from aggregator.merge.dedupe.decorations import Decoration, learn_decorations
from aggregator.merge.dedupe.group import MergeResult, _group, _override_lists, _resolve_ref, ref_matches, \
    split_weak_cancellations
from aggregator.merge.dedupe.identity import _age_key, _content_match, _mint
from aggregator.merge.dedupe.keys import (norm_title, norm_url, norm_venue, start_utc, strip_prefixes,
                                          title_says_cancelled, type_authority, venue_is_real)
from aggregator.merge.dedupe.rules import _merge_group, clean_description
import aggregator.merge.dedupe.weights as _weights
from aggregator.model import Event, SourceRef

__all__ = ["type_authority", "MergeResult", "PairScore", "benchmark_merge", "clean_description", "merge",
           "merge_detailed", "norm_title", "norm_url", "norm_venue", "pairwise_quality", "ref_matches",
           "score_pair", "start_utc", "strip_prefixes", "title_says_cancelled", "title_similarity",
           "venue_is_real", "venue_similarity", "LINKAGE_SLACK", "MAX_HOURS_OFF", "SAME_SOURCE_TITLE",
           "Comparison", "Decoration", "learn_decorations", "VENUE_CONFLICT", "PRIOR_WEIGHT", "THRESHOLD"]

PRIOR_WEIGHT = _weights.PRIOR_WEIGHT
THRESHOLD = _weights.THRESHOLD

log = logging.getLogger(__name__)

def merge_detailed(records: Sequence[Event], known: Mapping[str, str], overrides=None, *,
                   first_published: Mapping[str, object] | None = None,
                   previous: Mapping[str, Event] | None = None,
                   source_types: Mapping[str, object] | None = None,
                   source_zones: Mapping[str, str] | None = None) -> MergeResult:
    """`merge`, also returning the scores of the joined pairs and the uids hidden by the curator."""
    with _no_gc_pauses():
        return _merge_detailed(records, known, overrides, first_published=first_published, previous=previous,
                               source_types=source_types, source_zones=source_zones)


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """The cyclic garbage collector paused while merging: merge allocates hundreds of thousands of
    small objects (prepared records, pairs, scores), hardly any in cycles, and each full collection
    walks every object alive (the caller's records too): at 100,000 records these pauses were a
    third of merge's CPU. Mercurial's util.nogc does the same. Restored after (any cyclic garbage is
    collected then), and left alone when the caller had already paused it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _merge_detailed(records: Sequence[Event], known: Mapping[str, str], overrides=None, *,
                    first_published: Mapping[str, object] | None = None,
                    previous: Mapping[str, Event] | None = None,
                    source_types: Mapping[str, object] | None = None,
                    source_zones: Mapping[str, str] | None = None) -> MergeResult:
    # One record per (source, external_id), chosen independently of input order.
    unique: dict[tuple[str, str], Event] = {}
    for ev in records:
        ref = ev.sources[0] if ev.sources else SourceRef("", ev.uid, ev.url)
        key = (ref.source, ref.external_id)
        if key not in unique or repr(ev) > repr(unique[key]):
            unique[key] = ev
    keys = sorted(unique)
    ordered = [unique[k] for k in keys]
    decorations = learn_decorations(ordered)
    recs = [_prepare(ev, i, source_types, decorations.get(k[0]), source_zones)
            for i, (k, ev) in enumerate(zip(keys, ordered))]

    same_refs, never_refs, hide_refs = _override_lists(overrides)
    by_key = {r.key: r.idx for r in recs} if same_refs or never_refs else {}
    by_uid: dict[str, list[int]] = defaultdict(list)
    if known:
        for r in recs:
            if r.event.uid in known:
                by_uid[known[r.event.uid]].append(r.idx)
    unresolved = sorted({ref for g in (*same_refs, *never_refs) for ref in g
                         if not _resolve_ref(ref, by_key, by_uid)})
    for ref in unresolved:
        log.warning('merge: "%s" names no current record or published event; check the source id and '
                    "the external id (massage-events explain UID shows them)", ref)
    same = [sorted({i for ref in g for i in _resolve_ref(ref, by_key, by_uid)}) for g in same_refs]
    same = [g for g in same if len(g) > 1]
    never: set[tuple[int, int]] = set()
    for g in never_refs:
        sets = [_resolve_ref(ref, by_key, by_uid) for ref in g]
        for x in range(len(sets)):
            for y in range(x + 1, len(sets)):
                for i in sets[x]:
                    for j in sets[y]:
                        if i != j:
                            never.add((min(i, j), max(i, j)))

    groups_idx, joined, candidates = _group(recs, same, never)
    groups_idx = split_weak_cancellations(recs, groups_idx, {i for g in same for i in g})
    groups = [[recs[i] for i in g] for g in groups_idx]

    # Identity: claims on published uids, oldest uid first.
    claims: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for gi, group in enumerate(groups if known else ()):
        for r in group:
            uid = known.get(r.event.uid)
            if uid:
                claims[uid][gi] += 1
    assigned: dict[int, str] = {}
    taken: set[str] = set()
    for uid in sorted(claims, key=lambda u: _age_key(u, first_published)):
        holders = sorted(claims[uid].items(), key=lambda kv: (-kv[1], groups[kv[0]][0].key))
        for gi, _ in holders:
            if gi not in assigned:
                assigned[gi] = uid
                taken.add(uid)
                break
    # Churned identities: match new groups by content to last run's unclaimed events (same start).
    if previous:
        free: dict[object, list[tuple[tuple, str, _Rec]]] = defaultdict(list)
        for uid, old_event in previous.items():
            if uid not in taken:
                old = _prepare(old_event, -1, source_types, decorations.get(
                    old_event.sources[0].source if old_event.sources else ""), source_zones)
                free[old.ts if old.ts is not None else ("d", old.day)].append(
                    (_age_key(uid, first_published), uid, old))
        for gi, group in enumerate(groups):
            if gi in assigned:
                continue
            rep = sorted(group, key=lambda r: (r.authority, r.key))[0]
            for _, uid, old in sorted(free.get(rep.ts if rep.ts is not None else ("d", rep.day), ()),
                                      key=lambda t: t[0]):
                if uid not in taken and _content_match(rep, group, old):
                    assigned[gi] = uid
                    taken.add(uid)
                    break

    events: list[Event] = []
    hidden: list[str] = []
    for gi, group in enumerate(groups):
        anchor = group[0]  # the first by (source, external_id)
        uid = assigned.get(gi)
        if uid is None:
            uid = anchor.event.uid if anchor.event.uid not in taken else _mint(anchor)
            taken.add(uid)
        merged = _merge_group(group, uid)
        if hide_refs and any(ref_matches(ref, merged) for ref in hide_refs):
            hidden.append(uid)
            continue
        events.append(merged)
    events.sort(key=lambda e: (_instant(e), e.uid))
    return MergeResult(events=events, joined=joined, hidden=sorted(hidden), unresolved=unresolved,
                       groups=[[r.key for r in g] for g in groups], candidates=candidates)


def _instant(event: Event) -> str:
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc).isoformat()
    return event.start.isoformat()



def merge(records: Sequence[Event], known: Mapping[str, str], overrides=None, *,
          first_published: Mapping[str, object] | None = None,
          previous: Mapping[str, Event] | None = None,
          source_types: Mapping[str, object] | None = None,
          source_zones: Mapping[str, str] | None = None) -> list[Event]:
    """One Event per real-world event, uid stable across runs; see the module docstring.

    records: normalized source records (one SourceRef each, uid = record uid).
    known: record uid -> the published uid it belonged to last run (store links).
    overrides: the `merge:` settings (same / never / hide), or None.
    first_published: published uid -> when it was first published (the oldest uid wins).
    previous: last run's published events by uid (matches records whose UIDs churn).
    source_types: source id -> adapter type, for the authority ranking.
    source_zones: source id -> the zone its zone-less times are read in (its own, else the calendar's):
        a record whose zone differs was given one (a TZID, a zone word), which makes its start more precise.
    """
    with _no_gc_pauses():  # the detail (scored pairs, prepared records) is freed before collections resume
        return merge_detailed(records, known, overrides, first_published=first_published, previous=previous,
                              source_types=source_types, source_zones=source_zones).events


def benchmark_merge(records: Sequence[Event], **kwargs) -> dict:
    """Merge `records` with no history and time it: for benchmarks/ (pairwise figures from `groups`).

    Returns {"seconds", "records", "events", "candidates", "groups": list of lists of (source, external_id)}.
    """
    began = time.perf_counter()
    result = merge_detailed(records, {}, **kwargs)
    return {"seconds": time.perf_counter() - began, "records": len(records), "events": len(result.events),
            "candidates": result.candidates, "groups": result.groups}


def pairwise_quality(predicted: Iterable[Iterable[object]], truth: Iterable[Iterable[object]]) -> dict:
    """Pairwise precision, recall and F1 of a clustering against the true one (items are any hashables)."""
    def pairs(groups) -> set[tuple]:
        out = set()
        for g in groups:
            items = sorted(g, key=repr)
            for x in range(len(items)):
                for y in range(x + 1, len(items)):
                    out.add((items[x], items[y]))
        return out

    p, t = pairs(predicted), pairs(truth)
    tp = len(p & t)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted_pairs": len(p), "true_pairs": len(t)}
