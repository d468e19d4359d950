"""Blocking: the pairs worth scoring, found in near-linear time; never all pairs."""

from __future__ import annotations

from collections import Counter, defaultdict

from rapidfuzz import fuzz, process

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
    region = [r.event.region for r in recs]

    def apart(i: int, j: int) -> bool:
        return bool(region[i] and region[j] and region[i] != region[j])

    # 1. The same start instant (or the same all-day date): titles pre-filtered in C.
    slots: dict[object, list[int]] = defaultdict(list)
    for r in recs:
        slots[r.ts if r.ts is not None else ("d", r.day)].append(r.idx)
    for members in slots.values():
        n = len(members)
        if n < 2:
            continue
        if n <= _SMALL_SLOT:
            for x in range(n):
                for y in range(x + 1, n):
                    if not apart(members[x], members[y]):
                        pairs.add((members[x], members[y]) if members[x] < members[y] else (members[y], members[x]))
            continue
        by_title: dict[str, list[int]] = defaultdict(list)
        for i in members:
            by_title[recs[i].title].append(i)
        titles = list(by_title)
        linked: list[tuple[int, int]] = [(x, x) for x in range(len(titles))]
        for x, title in enumerate(titles):
            for _, _, y in process.extract(title, titles, scorer=fuzz.token_set_ratio,
                                           score_cutoff=_SLOT_TITLE_CUTOFF, limit=None):
                if y > x:
                    linked.append((x, y))
        for x, y in linked:
            for i in by_title[titles[x]]:
                for j in by_title[titles[y]]:
                    if i != j and not apart(i, j):
                        pairs.add((i, j) if i < j else (j, i))

    # 2. The same two rarest title words (so also the same title), within a day either side, at a start a
    #    whole number of hours away (a zone slip: the same minute of the hour), or on the day a
    #    date-only record gives.
    df: dict[str, int] = defaultdict(int)
    for tokens, count in Counter(r.tokens for r in recs).items():
        for t in tokens:
            df[t] += count
    timed: dict[tuple, list[int]] = defaultdict(list)
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
        sig = r.block_tokens
        for reg in (r.event.region or "", "*"):
            if r.ts is not None:
                timed[(sig, r.day, r.ts % 3600, reg)].append(r.idx)
            else:
                dated[(sig, r.day, reg)].append(r.idx)
    for r in recs:
        look = (r.event.region, "") if r.event.region else ("*",)
        sig = r.block_tokens
        for reg in look:
            if r.ts is not None:
                for d in (r.day - 1, r.day, r.day + 1):
                    members = timed.get((sig, d, r.ts % 3600, reg))
                    if members and len(members) <= BUCKET_CAP:
                        for j in members:
                            if j > r.idx and _time_compatible(r, recs[j]):
                                pairs.add((r.idx, j))
                if dated:
                    members = dated.get((sig, r.local_day, reg))
                    if members and len(members) <= BUCKET_CAP:
                        for j in members:
                            if _time_compatible(r, recs[j]):
                                pairs.add((r.idx, j) if r.idx < j else (j, r.idx))

    # 3. A shared event-specific URL, within a day either side.
    by_url: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r in recs:
        for u in r.urls:
            by_url[(u, r.day)].append(r.idx)
    for r in recs:
        for u in r.urls:
            for d in (r.day - 1, r.day, r.day + 1):
                members = by_url.get((u, d))
                if members and len(members) <= BUCKET_CAP:
                    for j in members:
                        if j > r.idx:
                            pairs.add((r.idx, j))
    return pairs
