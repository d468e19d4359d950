"""Estimate the de-duplication weights (aggregator/merge/dedupe/weights.py) from labelled farm data.

    .venv/bin/python -m benchmarks.dedupe_weights                 # tuning seeds 101 102 103, writes weights.py
    .venv/bin/python -m benchmarks.dedupe_weights --dry-run       # print the estimate, write nothing
    .venv/bin/python -m benchmarks.dedupe_weights --evaluate 7 11 # pairwise quality of the shipped weights

The farm (benchmarks/farm.py) knows which records are copies of one real-world event. Blocking
(the same candidates merge scores) puts records side by side; for every candidate pair of two
sources whose starts can be the same moment, each comparison's level is counted among true
duplicates (m) and among different events (u). A level's weight is log2(m/u), smoothed so that
a level the farm shows seldom or never keeps the prior belief written here (BASE_M, BASE_U). The threshold is the match weight that gives the best
pairwise F1 over the candidate pairs of the tuning seeds.

Only tuning seeds are read here. The benchmark's farm (seed 7) and --dedupe-scale (seed 11) are
held out: report figures on those, never tune on them.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from aggregator.merge.dedupe import compare
from aggregator.merge.dedupe.candidates import _candidates
from aggregator.merge.dedupe.decorations import learn_decorations
from aggregator.merge.normalize import record_uid
from aggregator.model import Event, SourceRef, Status
from benchmarks import farm as farm_mod

TUNING_SEEDS = (101, 102, 103)
HELD_OUT_SEEDS = (7, 11)
WEIGHTS_PY = Path(compare.__file__).with_name("weights.py")
#: Prior beliefs, worth this share of the labelled pairs of each class: what a level's weight is
#: when the farm shows it seldom or never (online events, date-only copies, records without a link).
PSEUDO_SHARE = 0.01
BASE_M = {
    "title": {"same": 0.55, "very_similar": 0.2, "similar": 0.15, "some": 0.07, "different": 0.03},
    "start": {"exact": 0.85, "date_only": 0.03, "hours_same_place": 0.06, "hours": 0.06},
    "venue": {"same": 0.6, "similar": 0.15, "weak": 0.05, "different": 0.02, "unknown": 0.18},
    "address": {"same": 0.7, "different": 0.02, "unknown": 0.28},
    "link": {"shared": 0.2, "different": 0.7, "unknown": 0.1},
    "online": {"both": 0.02, "mixed": 0.005, "neither": 0.975},
}
BASE_U = {
    "title": {"same": 0.05, "very_similar": 0.05, "similar": 0.1, "some": 0.2, "different": 0.6},
    "start": {"exact": 0.6, "date_only": 0.05, "hours_same_place": 0.05, "hours": 0.3},
    "venue": {"same": 0.1, "similar": 0.1, "weak": 0.15, "different": 0.45, "unknown": 0.2},
    "address": {"same": 0.1, "different": 0.6, "unknown": 0.3},
    "link": {"shared": 0.005, "different": 0.895, "unknown": 0.1},
    "online": {"both": 0.03, "mixed": 0.02, "neither": 0.95},
}


def farm_records(seed: int, n_sources: int = 300, anchor: date = date(2026, 3, 2)):
    """The records the farm's sources would yield (read without adapters), their truth and types."""
    types = [t for t in farm_mod.WRITERS]
    return listing_records(farm_mod.plan(n_sources=n_sources, seed=seed, anchor=anchor, types=types, n_hosts=1))


def listing_records(world):
    """Each listing of a farm world as the record an adapter would yield: (records, truth as
    {(source, external_id): event id}, {source id: type})."""
    records, truth, source_types = [], {}, {}
    for src in world.sources:
        source_types[src.id] = src.type
        for item in src.listings:
            external_id = item.external_id
            if item.in_series_rule or item.series_rule:  # occurrences of one RRULE: uid + recurrence id
                external_id = f"{external_id}#{item.start.isoformat()}"
            records.append(Event(
                uid=record_uid(src.id, external_id), title=item.title, start=item.start, end=item.end,
                all_day=False, timezone=item.start.tzinfo.key, location=item.location, url=item.url,
                description=item.description, status=Status.CONFIRMED, region=src.region, tags=(),
                sources=(SourceRef(src.id, external_id, item.url),)))
            truth[(src.id, external_id)] = item.event.id
    return records, truth, source_types


def comparison_vectors(records, truth, source_types):
    """(is_match, {field: level}) for every cross-source candidate pair whose starts can agree."""
    decorations = learn_decorations(records)
    recs = [compare._prepare(ev, i, source_types, decorations.get(ev.sources[0].source))
            for i, ev in enumerate(records)]
    out = []
    for i, j in _candidates(recs):
        a, b = recs[i], recs[j]
        if a.source == b.source:
            continue
        relation = compare._time_relation(a, b)
        if relation == "none":
            continue
        title = compare.title_similarity(a.core, b.core) if a.core <= b.core else \
            compare.title_similarity(b.core, a.core)
        cs = compare.comparisons_of(a, b, relation, title, compare._venue_similarity(a, b), bool(a.urls & b.urls))
        out.append((truth.get(a.key) == truth.get(b.key), {c.field: c.level for c in cs}))
    return out


def estimate(vectors) -> tuple[dict, dict, float]:
    m_counts = {f: Counter() for f in BASE_M}
    u_counts = {f: Counter() for f in BASE_M}
    n_m = n_u = 0
    for is_match, levels in vectors:
        counts = m_counts if is_match else u_counts
        n_m, n_u = n_m + is_match, n_u + (not is_match)
        for f, lv in levels.items():
            counts[f][lv] += 1
    m, u = {}, {}
    a_m, a_u = max(1.0, PSEUDO_SHARE * n_m), max(1.0, PSEUDO_SHARE * n_u)
    for f, levels in BASE_M.items():
        m[f] = {lv: round((m_counts[f][lv] + a_m * BASE_M[f][lv]) / (n_m + a_m), 6) for lv in levels}
        u[f] = {lv: round((u_counts[f][lv] + a_u * BASE_U[f][lv]) / (n_u + a_u), 6) for lv in levels}
    prior = round(n_m / max(1, n_m + n_u), 6)
    return m, u, prior


def best_threshold(vectors, m, u, prior) -> tuple[float, dict]:
    w = {f: {lv: math.log2(m[f][lv] / u[f][lv]) for lv in m[f]} for f in m}
    base = math.log2(prior / (1 - prior))
    scored = []
    for is_match, levels in vectors:
        if levels["start"] == "hours":  # never a match, whatever the weight (see compare.py)
            continue
        scored.append((base + sum(w[f][lv] for f, lv in levels.items()), is_match))
    total_true = sum(1 for ok, _ in ((x[1], 0) for x in scored) if ok)
    curve = []
    for step in range(-40, 81):
        t = step / 4
        tp = sum(1 for s, ok in scored if s >= t and ok)
        fp = sum(1 for s, ok in scored if s >= t and not ok)
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / total_true if total_true else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        curve.append((t, {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}))
    # The middle of the thresholds within 0.001 of the best F1: a margin on both sides for unseen data.
    top = max(q["f1"] for _, q in curve)
    plateau = [(t, q) for t, q in curve if q["f1"] >= top - 0.001]
    return plateau[len(plateau) // 2]


def write_weights(m, u, prior, threshold, seeds) -> None:
    def block(d):
        return "\n".join(f"    {f!r}: {{{', '.join(f'{lv!r}: {v}' for lv, v in levels.items())}}},"
                         for f, levels in d.items())
    text = f'''"""Fellegi–Sunter weights of the comparisons (see compare.py). Generated: do not edit by hand.

Re-estimate with `python -m benchmarks.dedupe_weights` (labelled farm data, tuning seeds only:
{", ".join(map(str, seeds))}). M[field][level]: share of true duplicate pairs on that level; U: share of
candidate pairs that are different events. WEIGHTS = log2(M/U). PRIOR: share of candidate pairs
that are duplicates. THRESHOLD: the match weight (bits) a pair needs.
"""

import math

M = {{
{block(m)}
}}
U = {{
{block(u)}
}}
PRIOR = {prior}
THRESHOLD = {threshold}

WEIGHTS = {{f: {{lv: math.log2(M[f][lv] / U[f][lv]) for lv in M[f]}} for f in M}}
PRIOR_WEIGHT = math.log2(PRIOR / (1 - PRIOR))
'''
    WEIGHTS_PY.write_text(text, encoding="utf-8")


def evaluate(seeds, n_sources: int) -> None:
    from aggregator.merge import dedupe
    for seed in seeds:
        records, truth, types = farm_records(seed, n_sources)
        began = time.perf_counter()
        result = dedupe.merge_detailed(records, {}, source_types=types)
        groups: dict = {}
        for key, ev in truth.items():
            groups.setdefault(ev, []).append(key)
        q = dedupe.pairwise_quality(result.groups, groups.values())
        print(f"seed {seed}: {len(records)} records -> {len(result.events)} events (truth {len(groups)}); "
              f"pairwise P {q['precision']:.4f} R {q['recall']:.4f} F1 {q['f1']:.4f} "
              f"({time.perf_counter() - began:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dedupe_weights", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(TUNING_SEEDS), help="tuning seeds")
    p.add_argument("--sources", type=int, default=300)
    p.add_argument("--dry-run", action="store_true", help="print the estimate; do not write weights.py")
    p.add_argument("--evaluate", type=int, nargs="*", default=None, metavar="SEED",
                   help="only report pairwise quality of the shipped weights on these (held-out) seeds")
    args = p.parse_args(argv)
    if args.evaluate is not None:
        evaluate(args.evaluate or list(HELD_OUT_SEEDS), args.sources)
        return 0
    overlap = set(args.seeds) & set(HELD_OUT_SEEDS)
    if overlap:
        print(f"seeds {sorted(overlap)} are held out for reporting; choose other tuning seeds", file=sys.stderr)
        return 2
    vectors = []
    for seed in args.seeds:
        records, truth, types = farm_records(seed, args.sources)
        vectors += comparison_vectors(records, truth, types)
    m, u, prior = estimate(vectors)
    threshold, quality = best_threshold(vectors, m, u, prior)
    n_m = sum(1 for ok, _ in vectors if ok)
    print(f"{len(vectors)} candidate pairs ({n_m} duplicates) from seeds {args.seeds}; prior {prior}")
    for f in m:
        print(f"  {f:8} " + "  ".join(f"{lv} {math.log2(m[f][lv] / u[f][lv]):+.2f}" for lv in m[f]))
    print(f"threshold {threshold:+.2f} bits: candidate-pair {quality}")
    if not args.dry_run:
        write_weights(m, u, prior, threshold, args.seeds)
        print(f"written {WEIGHTS_PY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
