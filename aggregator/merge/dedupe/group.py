"""Grouping matched records (complete linkage) and the curator's overrides (same / never / hide)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from aggregator.merge.dedupe.candidates import _candidates
from aggregator.merge.dedupe.compare import LINKAGE_SLACK, Judged, PairScore, _judge, _Rec, _score, strongly_matched
from aggregator.merge.dedupe.rules import time_record
from aggregator.merge.dedupe.weights import THRESHOLD
from aggregator.model import Event

# ---------------------------------------------------------------------------------------------
# Curator overrides
# ---------------------------------------------------------------------------------------------


def _override_lists(overrides) -> tuple[list[list[str]], list[list[str]], list[str]]:
    if overrides is None:
        return [], [], []
    if isinstance(overrides, Mapping):
        get = overrides.get
    else:
        def get(name, default=None):
            return getattr(overrides, name, default)
    same = [list(g) for g in (get("same", None) or ())]
    never = [list(g) for g in (get("never", None) or ())]
    hide = list(get("hide", None) or ())
    return same, never, hide


def _resolve_ref(ref: str, by_key: Mapping[tuple[str, str], int], by_uid: Mapping[str, list[int]]) -> list[int]:
    """Records a curator's reference names: a published uid, or "source:external_id"."""
    ref = ref.strip()
    if ref in by_uid:
        return list(by_uid[ref])
    if ":" in ref:
        source, external_id = ref.split(":", 1)
        hit = by_key.get((source.strip(), external_id.strip()))
        if hit is not None:
            return [hit]
    return []


def ref_matches(ref: str, event: Event) -> bool:
    """Whether a curator's reference (uid, or source:external_id) names this event."""
    ref = ref.strip()
    if ref == event.uid:
        return True
    if ":" in ref:
        source, external_id = ref.split(":", 1)
        return any(s.source == source.strip() and s.external_id == external_id.strip() for s in event.sources)
    return False


# ---------------------------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    """What merge decided: the events, the scores of the pairs it joined, and what it hid."""

    events: list[Event]
    joined: list[Judged] = field(default_factory=list, repr=False)  # the pairs it joined, as judged
    hidden: list[str] = field(default_factory=list)  # uids of events dropped by `hide`
    unresolved: list[str] = field(default_factory=list)  # `same`/`never` references that name nothing
    groups: list[list[tuple[str, str]]] = field(default_factory=list)
    candidates: int = 0

    @cached_property
    def pairs(self) -> list[PairScore]:
        """The scores of the joined pairs, written up when asked for (a merge of 100,000 records joins
        tens of thousands of pairs, and only `explain` and the tests read them)."""
        return [_score(j) for j in self.joined]


def _group(recs: list[_Rec], same: list[list[int]], never: set[tuple[int, int]]
           ) -> tuple[list[list[int]], list[Judged], int]:
    """Groups of record indexes, the pairs joined and the number of candidates. `recs` are in
    (source, external_id) order (recs[i].idx == i), so sorting indexes sorts by key."""
    parent = list(range(len(recs)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(recs))}
    joined: list[Judged] = []
    strict: dict[tuple[int, int], Judged] = {}
    loose_cache: dict[tuple[int, int], bool] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        if (ra, rb) > (rb, ra):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra].extend(members.pop(rb))

    def forbidden(ra: int, rb: int) -> bool:
        return any((min(x, y), max(x, y)) in never for x in members[ra] for y in members[rb])

    for group in same:
        for i in group[1:]:
            ra, rb = find(group[0]), find(i)
            if ra != rb and not forbidden(ra, rb):
                union(ra, rb)

    # Matched pairs best first, ties by the records' (source, external_id): recs are in that order, so
    # their indexes sort as their keys do.
    scored = []
    candidates = _candidates(recs)
    for pair in candidates:
        i, j = pair
        s = _judge(recs[i], recs[j])
        strict[pair] = s
        if s.match:
            scored.append((-s.weight, i, j))
    scored.sort()

    def loose(i: int, j: int) -> bool:
        k = (i, j) if i < j else (j, i)
        if k in never:
            return False
        ok = loose_cache.get(k)
        if ok is None:
            s = strict.get(k)
            if s is not None and (s.match or s.veto in ("time", "region")):
                ok = s.match  # slack changes neither a match nor these outright rules
            elif s is not None and not s.veto:
                ok = s.weight >= THRESHOLD - LINKAGE_SLACK
            else:
                ok = _judge(recs[k[0]], recs[k[1]], slack=LINKAGE_SLACK).match
            loose_cache[k] = ok
        return ok

    for _, i, j in scored:
        ra, rb = find(i), find(j)
        if ra == rb:
            joined.append(strict[(i, j)])
            continue
        ma, mb = members[ra], members[rb]
        if len(ma) == 1 and len(mb) == 1 and not never:
            # two records alone: the pair itself, a strict match, is all complete linkage checks
            union(ra, rb)
            joined.append(strict[(i, j)])
        elif all(loose(x, y) for x in ma for y in mb):
            union(ra, rb)
            joined.append(strict[(i, j)])
    groups = [sorted(m) for m in members.values()]
    groups.sort()
    return groups, joined, len(candidates)


def split_weak_cancellations(recs: list[_Rec], groups: list[list[int]], pinned: set[int]) -> list[list[int]]:
    """Cancellation is decided per real-world event: a cancelled record stays in a group of records
    that are not cancelled only when it is strongly matched to the record whose start the event
    publishes (the same start, and a match on its own evidence, not only through the group's other
    records). Otherwise it is its own event,
    so that a cancelled copy never cancels a different event it was joined to. Records a curator
    joined with `same` stay where they are. `recs` are in (source, external_id) order, as for _group."""
    out: list[list[int]] = []
    for g in groups:
        cancelled = [i for i in g if recs[i].cancelled and i not in pinned]
        alive = [i for i in g if not recs[i].cancelled]
        if not cancelled or not alive:
            out.append(g)
            continue
        anchor = time_record([recs[i] for i in alive])
        weak = {i for i in cancelled if not strongly_matched(recs[i], anchor)}
        if not weak:
            out.append(g)
            continue
        out.append([i for i in g if i not in weak])
        out.extend([i] for i in sorted(weak))
    out.sort()
    return out
