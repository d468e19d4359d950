"""De-duplication quality on the benchmark's generated farm (benchmarks/farm.py), read without adapters:
each listing becomes the record an adapter would yield, and pairwise F1 against the farm's truth must
stay at or above 0.97. Skips when benchmarks/ is not in this checkout."""

from __future__ import annotations

import pytest

from aggregator.merge import dedupe

farm = pytest.importorskip("benchmarks.farm")
listing_records = pytest.importorskip("benchmarks.dedupe_weights").listing_records


def _records_and_truth(tmp_path, n_sources: int, seed: int):
    types = [t for t in ("ical", "jsonld", "html", "rss", "mbox") if t in farm.WRITERS]
    return listing_records(farm.generate(tmp_path, n_sources=n_sources, seed=seed, types=types))


@pytest.mark.parametrize("seed", [7])
def test_farm_pairwise_f1_is_at_least_097(tmp_path, seed):
    records, truth, source_types = _records_and_truth(tmp_path, 120, seed)
    result = dedupe.merge_detailed(records, {}, source_types=source_types)
    true_groups: dict[str, list] = {}
    for key, event_id in truth.items():
        true_groups.setdefault(event_id, []).append(key)
    quality = dedupe.pairwise_quality(result.groups, true_groups.values())
    assert quality["f1"] >= 0.97, quality
    assert abs(len(result.events) - len(true_groups)) <= 0.02 * len(true_groups)
