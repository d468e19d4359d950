"""Blocking: the pairs worth scoring, found in near-linear time; never all pairs."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import chain

from rapidfuzz import fuzz

from aggregator.merge.dedupe.compare import MAX_HOURS_OFF, _Rec

BUCKET_CAP = 400  # a blocking key shared by more records than this is too common to pair on
_SMALL_SLOT = 8  # above this, a same-start bucket is pruned by title with rapidfuzz (in C) first
_SLOT_TITLE_CUTOFF = 58  # token-set ratio below which two same-start titles are not worth scoring


def _time_compatible(a: _Rec, b: _Rec) -> bool:
    """Cheap pre-check of _time_relation: could these two starts describe one event?"""
    if a.ts is not None and b.ts is not None:
        delta = abs(a.ts - b.ts)
        return delta % 3600 == 0 and delta <= MAX_HOURS_OFF * 3600
    if a.all_day and b.all_day:
        return a.day == b.day
    day_only, timed = (a, b) if a.all_day else (b, a)
    return day_only.day <= timed.local_day <= day_only.last_day


def _candidates(recs: list[_Rec]) -> set[tuple[int, int]]:
    """Pairs worth scoring (i < j), found by blocking; never all pairs. Records of two different
    regions pair only through a shared URL (see _evaluate)."""
    pairs: set[tuple[int, int]] = set()
    add = pairs.add
    region = [r.event.region or "" for r in recs]

    # 1. The same start instant (or the same all-day date): titles pre-filtered in C. A slot holds the
    #    events of every region that start at that moment, and records of two regions never pair here,
    #    so a slot's records are kept by region (a national record, with none, meets every region).
    slot_size: Counter[object] = Counter()
    regional: dict[tuple[object, str], list[int]] = defaultdict(list)
    national: dict[object, list[int]] = defaultdict(list)
    for r in recs:
        slot = r.ts if r.ts is not None else ("d", r.day)
        slot_size[slot] += 1
        if region[r.idx]:
            regional[(slot, region[r.idx])].append(r.idx)
        else:
            national[slot].append(r.idx)
    similar: dict[tuple[str, str], bool] = {}

    def pair_up(left: list[int], right: list[int], crowded: bool) -> None:
        """Pairs of a record of `left` and one of `right` (the same list: each pair once)."""
        for i in left:
            ti = recs[i].title
            for j in right:
                if j == i or (left is right and j < i):
                    continue
                if crowded:
                    tj = recs[j].title
                    if ti != tj:
                        key = (ti, tj) if ti < tj else (tj, ti)
                        ok = similar.get(key)
                        if ok is None:
                            ok = similar[key] = fuzz.token_set_ratio(ti, tj, score_cutoff=_SLOT_TITLE_CUTOFF) > 0
                        if not ok:
                            continue
                add((i, j) if i < j else (j, i))

    for (slot, _), members in regional.items():
        others = national.get(slot)
        if len(members) < 2 and not others:
            continue  # the usual case: the only record of its region at that moment
        crowded = slot_size[slot] > _SMALL_SLOT
        pair_up(members, members, crowded)
        if others:
            pair_up(members, others, crowded)
    for slot, members in national.items():
        pair_up(members, members, slot_size[slot] > _SMALL_SLOT)

    # 2. The same two rarest title words (so also the same title), within a day either side, at a start a
    #    whole number of hours away (a zone slip: the same minute of the hour), or on the day a
    #    date-only record gives.
    df: dict[str, int] = defaultdict(int)
    for tokens, count in Counter(r.tokens for r in recs).items():
        for t in tokens:
            df[t] += count
    # Buckets by (signature, minute of the hour, region), then by day.
    timed: dict[tuple, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    dated: dict[tuple, list[int]] = defaultdict(list)
    by_core: dict[str, tuple[str, ...]] = {}
    for r in recs:
        sig = by_core.get(r.core)
        if sig is None:
            sig = by_core[r.core] = tuple(sorted(sorted(r.tokens, key=lambda t: (df[t], t))[:2]))
        r.block_tokens = sig
    # Indexed under its region and under "*" (every region), so that a regional record looks
    # up its region and the national ("") records, and a national record looks up "*".
    # (Equal titles have equal rarest words, so the two words are the one key needed.)
    # Only national records look up "*": a timed record goes there when one of them has its key.
    national_keys = {(r.block_tokens, r.ts % 3600) for r in recs if r.ts is not None and not region[r.idx]}
    for r in recs:
        sig = r.block_tokens
        if r.ts is not None:
            minute = r.ts % 3600
            timed[(sig, minute, region[r.idx])][r.day].append(r.idx)
            if (sig, minute) in national_keys:
                timed[(sig, minute, "*")][r.day].append(r.idx)
        else:
            for reg in (region[r.idx], "*"):
                dated[(sig, r.day, reg)].append(r.idx)
    # Looked up bucket by bucket: every record of one (signature, minute, region, day) looks up the same
    # buckets, so they are found once for all of them.
    hours_off = MAX_HOURS_OFF * 3600
    starts = [r.ts for r in recs]
    for (sig, minute, reg), days in timed.items():
        if reg == "*":
            continue
        looks = (days, timed.get((sig, minute, ""))) if reg else (timed.get((sig, minute, "*")),)
        for day, members in days.items():
            for look in looks:
                if not look:
                    continue
                for d in (day - 1, day, day + 1):
                    others = look.get(d)
                    if others and len(others) <= BUCKET_CAP:
                        for i in members:
                            ts = starts[i]
                            for j in others:
                                # The same minute of the hour: whole hours apart, within a zone slip.
                                if j > i and abs(ts - starts[j]) <= hours_off:
                                    add((i, j))
    if dated:
        for r in recs:
            i = r.idx
            for reg in ((region[i], "") if region[i] else ("*",)):
                members = dated.get((r.block_tokens, r.local_day, reg))
                if members and len(members) <= BUCKET_CAP:
                    for j in members:
                        if j != i and _time_compatible(r, recs[j]):  # an all-day record meets itself here
                            add((i, j) if i < j else (j, i))

    # 3. A shared event-specific URL, within a day either side.
    # Only links more than one record gives are indexed (most pages are one record's).
    given = Counter(chain.from_iterable(r.urls for r in recs))
    by_url: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        for u in r.urls:
            if given[u] > 1:
                by_url[u][r.day].append(r.idx)
    for days in by_url.values():
        for day, members in days.items():
            for d in (day - 1, day, day + 1):
                others = days.get(d)
                if others and len(others) <= BUCKET_CAP:
                    for i in members:
                        for j in others:
                            if j > i:
                                add((i, j))
    return pairs
