"""The benchmark's parts: the farm generator and its truth, the farm server, the scoring,
and a tiny farm run end to end through the real pipeline (behaviour, never speed)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timezone

import pytest
import requests

from benchmarks import farm as farm_mod
from benchmarks.metrics import Extracted, match_records, pairwise_scores
from benchmarks.serve_farm import FarmServer

ANCHOR = date(2026, 3, 2)
ALL_WRITTEN = ["ical", "jsonld", "html", "rss", "mbox", "maildir"]


@pytest.fixture(scope="module")
def small_farm(tmp_path_factory):
    out = tmp_path_factory.mktemp("farm")
    farm = farm_mod.generate(out, n_sources=40, seed=3, anchor=ANCHOR, types=ALL_WRITTEN, n_hosts=3)
    return farm, json.loads((out / "truth.json").read_text(encoding="utf-8"))


# -- pairwise scores ------------------------------------------------------------------


def test_pairwise_scores_are_perfect_when_groups_equal_the_truth():
    truth = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}
    s = pairwise_scores([["a", "b"], ["c", "d"], ["e"]], truth)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    assert s.true_pairs == 2 and s.correct_pairs == 2


def test_merging_everything_keeps_recall_but_loses_precision():
    truth = {"a": 1, "b": 1, "c": 2, "d": 2}
    s = pairwise_scores([["a", "b", "c", "d"]], truth)
    assert s.recall == 1.0
    assert s.predicted_pairs == 6 and s.precision == pytest.approx(2 / 6)
    assert s.f1 == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))


def test_merging_nothing_keeps_precision_but_loses_recall():
    truth = {"a": 1, "b": 1, "c": 1}
    s = pairwise_scores([["a"], ["b"], ["c"]], truth)
    assert s.precision == 1.0 and s.recall == 0.0 and s.f1 == 0.0


def test_items_missing_from_the_groups_are_singletons_and_unknown_items_are_ignored():
    truth = {"a": 1, "b": 1, "c": 1}
    s = pairwise_scores([["a", "b", "stranger"]], truth)  # c published nowhere, stranger not in truth
    assert s.predicted_pairs == 1 and s.correct_pairs == 1
    assert s.true_pairs == 3 and s.recall == pytest.approx(1 / 3)


def test_one_wrong_merge_in_a_known_example():
    truth = {"a": "x", "b": "x", "c": "x", "d": "y", "e": "y"}
    s = pairwise_scores([["a", "b"], ["c", "d"], ["e"]], truth)
    assert s.true_pairs == 4 and s.predicted_pairs == 2 and s.correct_pairs == 1
    assert s.precision == 0.5 and s.recall == 0.25


# -- record matching ------------------------------------------------------------------


def test_records_are_matched_by_title_and_start_and_placed_by_url_when_wrong():
    start = "2026-04-01T23:30:00+00:00"
    truth = [{"source": "s1", "external_id": "1", "url": "https://x/1", "title": "Chapter Meeting",
              "start": start, "event": "E1"},
             {"source": "s1", "external_id": "2", "url": "https://x/2", "title": "Cupping Class",
              "start": start, "event": "E2"}]
    got = [Extracted("s1", "uid-a", "  chapter   MEETING ", datetime.fromisoformat(start), None),
           Extracted("s1", "uid-b", "Cupping Class", datetime(2026, 4, 2, 0, 30, tzinfo=timezone.utc),
                     "https://x/2"),
           Extracted("s1", "uid-c", "Something else", datetime.fromisoformat(start), None)]
    m = match_records(got, truth)
    assert m.truth_of == {("s1", "uid-a"): 0, ("s1", "uid-b"): 1}
    assert m.correct == {("s1", "uid-a")}  # uid-b has the wrong start: placed, not correct
    assert m.precision == pytest.approx(1 / 3) and m.recall == 0.5


# -- the farm and its truth -------------------------------------------------------------


def test_the_same_seed_writes_the_same_farm_and_another_seed_another(tmp_path):
    a = farm_mod.generate(tmp_path / "a", n_sources=12, seed=5, anchor=ANCHOR, types=ALL_WRITTEN, n_hosts=2)
    farm_mod.generate(tmp_path / "b", n_sources=12, seed=5, anchor=ANCHOR, types=ALL_WRITTEN, n_hosts=2)
    farm_mod.generate(tmp_path / "c", n_sources=12, seed=6, anchor=ANCHOR, types=ALL_WRITTEN, n_hosts=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= len(a.sources)
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "truth.json").read_bytes() != (tmp_path / "c" / "truth.json").read_bytes()


def test_truth_holds_cross_source_duplicates_with_variation_and_near_misses(small_farm):
    farm, truth = small_farm
    by_event = defaultdict(list)
    for r in truth["records"]:
        by_event[r["event"]].append(r)
    sizes = Counter(len(v) for v in by_event.values())
    assert sizes[1] and sizes[2] and sizes[3], sizes
    for records in by_event.values():  # one source never lists one event twice
        assert len({r["source"] for r in records}) == len(records)
    kinds = Counter(e["kind"] for e in truth["events"].values())
    assert {"single", "series", "venue_day", "same_title_cities"} <= set(kinds), kinds
    variations = Counter(v for r in truth["records"] for v in r["variations"])
    for label in ("prefix", "case", "hour_off", "other_zone", "no_end", "tba_venue", "shared_url"):
        assert variations[label], f"no copy varied by {label}: {variations}"
    # within a source, title and start identify a record
    seen = Counter((r["source"], r["title"].casefold(), r["start"]) for r in truth["records"])
    assert max(seen.values()) == 1
    assert set(truth["events"]) == set(by_event)


def test_every_written_type_appears_and_sources_yaml_points_at_the_hosts(small_farm, tmp_path):
    farm, _ = small_farm
    assert {s.type for s in farm.sources} == set(ALL_WRITTEN)
    path = farm_mod.write_sources_yaml(farm.dir, ["http://127.0.0.1:1", "http://127.0.0.2:2"],
                                       concurrency=1, per_host=1, name="seq.yaml")
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["fetch"] == {"concurrency": 1, "per_host": 1}
    urls = {s["type"]: s["url"] for s in doc["sources"]}
    assert urls["ical"].startswith("http://127.0.0.") and urls["ical"].endswith(".ics")
    assert urls["maildir"].startswith("/")  # a local folder, read as written
    html = next(s for s in doc["sources"] if s["type"] == "html")
    layout = farm_mod.html_layout(next(s for s in farm.sources if s.id == html["id"]))
    assert html["selectors"] == farm_mod.HTML_SELECTORS[layout]  # the hand-written mapping of its layout


def test_ical_files_expand_to_exactly_the_truth_records(small_farm):
    import icalendar
    import recurring_ical_events

    farm, truth = small_farm
    for src in (s for s in farm.sources if s.type == "ical"):
        cal = icalendar.Calendar.from_ical((farm.dir / "files" / src.path).read_bytes())
        got = {(str(e["SUMMARY"]), e["DTSTART"].dt.astimezone(timezone.utc).isoformat())
               for e in recurring_ical_events.of(cal).between(datetime(2026, 1, 1), datetime(2027, 6, 1))}
        want = {(r["title"], r["start"]) for r in truth["records"] if r["source"] == src.id}
        assert got == want, src.id


def test_only_types_with_a_registered_adapter_are_farmed():
    from sources.registry import available_types

    assert set(farm_mod.usable_types()) <= set(available_types())
    assert "ical" in farm_mod.usable_types()


# -- the farm server ------------------------------------------------------------------


def test_farm_server_answers_conditional_requests_with_304_and_logs_them(small_farm):
    farm, _ = small_farm
    src = next(s for s in farm.sources if s.type == "ical")
    with FarmServer(farm.dir, latency_ms=5, n_hosts=2) as server:
        url = f"{server.base_urls[0]}/{src.path}"
        first = requests.get(url, timeout=5)
        assert first.status_code == 200 and first.content.startswith(b"BEGIN:VCALENDAR")
        assert first.headers["Content-Type"].startswith("text/calendar")
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
        assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=5).status_code == 304
        assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=5).status_code == 200
        assert requests.get(f"{server.base_urls[-1]}/nothing-here", timeout=5).status_code == 404
        assert requests.get(f"{server.base_urls[0]}/robots.txt", timeout=5).status_code == 200
        counts = server.log.counts()
        assert counts["requests"] == 5 and counts["ok_200"] == 2 and counts["not_modified_304"] == 2
        assert counts["conditional"] == 3 and counts["robots_txt"] == 1 and counts["other"] == 1
        took = [e.finished - e.started for e in server.log.entries]
        assert min(took) >= 0.005  # every answer waited the latency


# -- end to end -------------------------------------------------------------------------


def test_a_tiny_farm_runs_cold_warm_and_sequential_and_is_scored(tmp_path):
    from benchmarks.run import benchmark, table

    today = datetime.now(timezone.utc).date()
    results = benchmark(sources=20, latency_ms=0, hosts=2, seed=4, anchor=today, workdir=tmp_path,
                        in_process=True, events_per_source=4, log=lambda m: None)
    assert (tmp_path / "farm" / "truth.json").is_file()
    phases = results["phases"]
    assert set(phases) == {"naive", "cold", "warm", "changed", "sequential"}
    naive = phases["naive"]
    assert naive["records"] > 0 and naive["sources_failed"] == 0, naive.get("failures")
    assert naive["requests"] >= phases["cold"]["requests"] - 1, "the yardstick reads the same farm"
    assert results["ratios"]["cold_over_naive_cpu"] > 0 and "warm_over_naive_wall" in results["ratios"]
    assert all("floor_s" in phases[name] for name in ("naive", "cold", "warm", "sequential"))
    assert results["publishing"]["republish"]["events"] == phases["warm"]["events_published"]
    changed = results["changed_check"]
    assert changed["sources_edited"] >= 1 and changed["moved"] == changed["removed"] >= 1
    assert phases["changed"]["ok_200"] >= changed["sources_edited"]  # the edited files were downloaded
    web_sources = sum(1 for s in json.loads((tmp_path / "farm" / "farm.json").read_text())["sources"]
                      if not s["local"])
    assert phases["cold"]["requests"] >= web_sources  # every web source was fetched
    assert phases["sequential"]["peak_connections_per_host"] == 1
    for name in phases.keys() - {"naive"}:
        assert phases[name]["wall_s"] > 0 and phases[name]["events_published"] > 0
    q = results["quality"]
    assert q["truth_events"] > 0 and q["truth_records"] > 0
    for part in (q["extraction"], q["dedupe"]):
        assert 0.0 <= part["precision"] <= 1.0 and 0.0 <= part["recall"] <= 1.0
    assert q["extraction"]["recall"] > 0.5  # the adapters read most of what the farm wrote
    assert 0.0 <= q["dedupe"]["f1"] <= 1.0 and q["dedupe"]["true_pairs"] > 0
    assert "de-duplication (pairwise)" in table(results)


def test_a_warm_run_over_meetup_like_sources_answers_every_page_304_and_parses_nothing(tmp_path):
    from benchmarks.run import benchmark

    today = datetime.now(timezone.utc).date()
    results = benchmark(sources=12, latency_ms=0, hosts=2, seed=5, anchor=today, workdir=tmp_path, in_process=True,
                        events_per_source=4, follow=2, sequential=False, changed=False, naive=False,
                        log=lambda m: None)
    assert results["farm"]["follow_sources"] == 2
    cold, warm = results["phases"]["cold"], results["phases"]["warm"]
    assert cold["requests"] > cold["sources_ok"], "event pages were followed"
    assert warm["requests"] == warm["not_modified_304"] == cold["requests"]
    listing = {r["source"] for r in json.loads((tmp_path / "farm" / "truth.json").read_text())["records"]}
    assert warm["sources_ok"] == 12 and warm["sources_unchanged"] == len(listing), \
        "every source with events is unchanged (one with none is simply read again)"
    assert "merge_and_store" not in warm["stages_wall_cpu_s"], "nothing changed: nothing merged or published"
    assert warm["busiest_host_requests"] >= warm["requests"] / 2


def test_dedupe_scale_builds_records_with_known_duplicates():
    from benchmarks.run import synthetic_records

    records, truth = synthetic_records(600)
    assert 400 <= len(records) <= 900
    assert len(set(truth.values())) < len(records)  # duplicates exist
    assert len({(r.sources[0].source, r.sources[0].external_id) for r in records}) == len(records)


def test_a_title_read_without_the_farms_noise_prefix_is_read_right():
    truth = [{"source": "s", "external_id": "1", "url": "u", "title": "Reminder: AMTA-IL: Cupping Class",
              "start": "2026-04-01T23:30:00+00:00", "event": "E1"}]
    got = [Extracted("s", "m1", "Cupping Class", datetime(2026, 4, 1, 23, 30, tzinfo=timezone.utc), None)]
    assert match_records(got, truth).precision == 1.0


def test_the_change_check_tells_kept_identities_from_lost_ones():
    from benchmarks.run import check_changes

    ref_a = {"source": "s", "url": "https://x/a", "external_id": "a"}
    ref_b = {"source": "s", "url": "https://x/b", "external_id": "b"}
    before = [{"uid": "U1", "start": "2026-05-01T18:00:00-05:00", "status": "confirmed", "sources": [ref_a]},
              {"uid": "U2", "start": "2026-05-02T18:00:00-05:00", "status": "confirmed", "sources": [ref_b]}]
    after = [{"uid": "U1", "start": "2026-05-02T18:00:00-05:00", "status": "confirmed", "sources": [ref_a]}]
    c = check_changes(before, after, {"sources": ["s"], "moved": [ref_a], "removed": [ref_b]},
                      {"U1": 0, "U2": 0}, {"U1": 1})
    assert (c["moved_kept_uid"], c["moved_sequence_incremented"], c["moved_shows_new_start"]) == (1, 1, 1)
    assert c["removed_dropped_silently"] == 1 and c["removed_published_cancelled"] == 0
    assert c["uids_kept"] == 1 and c["uids_before"] == 2
