"""The benchmark: massage-events over a synthetic farm, cold, warm and sequential.

    .venv/bin/python -m benchmarks.run                      # 300 sources, 20 ms latency
    .venv/bin/python -m benchmarks.run --sources 50 --latency-ms 0 --skip-sequential
    .venv/bin/python -m benchmarks.run --dedupe-scale 100000

It generates the farm (benchmarks/farm.py), serves it on loopback hosts
(benchmarks/serve_farm.py), then runs `aggregator.pipeline.run` in a fresh
process per phase:

- COLD: an empty database and HTTP cache;
- WARM: the same database and cache, nothing changed on the farm;
- SEQUENTIAL: concurrency 1, per_host 1, cold (the baseline a parallel run must beat);
- NAIVE: benchmarks/naive.py, the simplest sequential reader built from requests, BeautifulSoup,
  feedparser and icalendar with no cache: the yardstick every figure is a ratio to;
- REPUBLISH: publishing the warm run's events again into its outputs, as a run does when a
  source changed but these events did not.

Beside the wall times it states the politeness floor: the busiest host's requests x latency /
per-host connections, below which no polite reader can finish (measured in the same run).

It prints a table and writes benchmarks/results/latest.json: wall and CPU time, peak
memory, requests, 200s and 304s per phase (from the farm server's log), events published
against the truth, extraction precision/recall and pairwise de-duplication
precision/recall/F1 against truth.json.

--dedupe-scale N times `aggregator.merge.dedupe.merge` over N synthetic normalized records
(with the farm's kinds of duplicates) and scores its groups the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from benchmarks import farm as farm_mod
from benchmarks.metrics import (
    Extracted,
    dedupe_scores,
    match_records,
    merge_errors,
    pairwise_scores,
)
from benchmarks.serve_farm import FarmServer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
UTC = timezone.utc


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# --------------------------------------------------------------------------- one phase


def _children_cpu() -> float:
    """CPU seconds of this process's ended children: the run's worker processes (aggregator/collect/workers.py)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_phase(config_path: Path, db_path: Path, out_dir: Path, now: datetime | None) -> dict:
    """One pipeline run in this process; what it cost and what it reported. CPU counts the
    run's worker processes too (they have ended, and been waited for, when run() returns)."""
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    config = load_config(config_path)
    rss_before = _maxrss_mb()
    with Store(db_path) as store, _stage_clock() as stages:
        cpu0, children0, wall0 = time.process_time(), _children_cpu(), time.perf_counter()
        report = run(config, store, out_dir, now=now)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        workers_cpu = _children_cpu() - children0
        cpu += workers_cpu
    if "merge_and_store" in stages and "publish" in stages:
        stages["read_sources"] = (round(wall - stages["merge_and_store"][0] - stages["publish"][0], 3),
                                  round(cpu - stages["merge_and_store"][1] - stages["publish"][1], 3))
    failed = report.failed
    reasons: dict[str, int] = {}
    for s in failed:
        reasons[s.error_reason or "?"] = reasons.get(s.error_reason or "?", 0) + 1
    return {
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "workers_cpu_s": round(workers_cpu, 3),
        "peak_rss_mb": round(_maxrss_mb(), 1), "rss_before_run_mb": round(rss_before, 1),
        "sources_ok": len(report.ok), "sources_failed": len(failed),
        "sources_unchanged": sum(1 for s in report.sources if s.unchanged),
        "failure_reasons": reasons,
        "failures": [f"{s.source_id} [{s.error_reason}]: {s.error_message}" for s in failed[:10]],
        "records": sum(s.records for s in report.sources),
        "events_published": report.events_published,
        "stages_wall_cpu_s": {k: list(v) for k, v in stages.items()},
        "process_cpu_s": round(_process_cpu(), 3),
    }


def _process_cpu() -> float:
    """CPU seconds of this whole process so far (interpreter start and imports included) and of
    its ended children: what `massage-events run` costs, where cpu_s counts run() alone."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + _children_cpu()


class _stage_clock:
    """Wall and CPU seconds of the pipeline's stages, by wrapping the functions run() calls
    through module attributes (read_sources = the rest: fetch, parse, normalize, store records)."""

    def __enter__(self) -> dict:
        import aggregator.merge.dedupe as dedupe
        import aggregator.pipeline as pipeline

        self.stages: dict = {}
        self.patched = []
        for module, attr, name in ((pipeline, "merge_and_store", "merge_and_store"),
                                   (dedupe, "merge", "dedupe_merge"), (pipeline, "publish_events", "publish")):
            original = getattr(module, attr, None)
            if original is None:
                continue
            self.patched.append((module, attr, original))
            setattr(module, attr, self._timed(name, original))
        return self.stages

    def _timed(self, name, fn):
        def wrapper(*args, **kwargs):
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                was = self.stages.get(name, (0.0, 0.0))
                self.stages[name] = (round(was[0] + time.perf_counter() - w, 3),
                                     round(was[1] + time.process_time() - c, 3))
        return wrapper

    def __exit__(self, *exc) -> None:
        for module, attr, original in self.patched:
            setattr(module, attr, original)


def republish_phase(config_path: Path, db_path: Path, out_dir: Path, now: datetime | None) -> dict:
    """Publish the stored events again into out_dir (nothing about them changed): what it costs."""
    from aggregator.config.settings import load_config
    from aggregator.pipeline import publish_events
    from aggregator.store.database import Store

    config = load_config(config_path)
    with Store(db_path) as store:
        events = store.published_events()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        publish_events(config, store, out_dir, events, now or datetime.now(UTC))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "events": len(events)}


def _in_child(args: list[str], now: datetime | None, what: str) -> dict:
    """`python -m <args> [now]` in a fresh process, from the repository's root; the JSON it prints last."""
    cmd = [sys.executable, "-m", *args]
    if now is not None:
        cmd.append(now.isoformat())
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _naive_in_child(config_path: Path, now: datetime | None) -> dict:
    """benchmarks/naive.py over the same farm, in a fresh process (its imports are not counted,
    as a run's are not: both are timed from their first source on)."""
    args = ["benchmarks.naive", str(config_path), "--json"] + (["--now"] if now is not None else [])
    return _in_child(args, now, "the naive reader")


def _republish_in_child(config_path: Path, db_path: Path, out_dir: Path, now: datetime | None) -> dict:
    return _in_child(["benchmarks.run", "--republish-phase", str(config_path), str(db_path), str(out_dir)], now,
                     "the republish phase")


def _phase_in_child(config_path: Path, db_path: Path, out_dir: Path, now: datetime | None) -> dict:
    return _in_child(["benchmarks.run", "--phase", str(config_path), str(db_path), str(out_dir)], now,
                     "the benchmark phase")


# --------------------------------------------------------------------------- scoring


def score(db_path: Path, out_dir: Path, truth: dict) -> dict:
    """Extraction and de-duplication against the truth, from the store and events.json."""
    from aggregator.store.database import Store

    with Store(db_path) as store:
        extracted = [Extracted(e.sources[0].source, e.sources[0].external_id, e.title, e.start, e.url)
                     for e in store.records()]
        if (out_dir / "events.json").is_file():  # the contract file, as subscribers get it
            published = json.loads((out_dir / "events.json").read_text(encoding="utf-8"))["events"]
        else:
            from aggregator.codec import event_to_dict

            published = [event_to_dict(e) for e in store.published_events()]
    matching = match_records(extracted, truth["records"])
    groups = [[(s["source"], s["external_id"]) for s in ev.get("sources", [])] for ev in published]
    pairs = dedupe_scores(groups, matching, truth["records"])
    placed_events = {truth["records"][i]["event"] for i in matching.truth_of.values()}
    live = [ev for ev in published if ev.get("status") != "cancelled"]
    return {
        "truth_events": len(truth["events"]),
        "truth_records": len(truth["records"]),
        "records_stored": matching.extracted,
        "events_published": len(published),
        "events_published_not_cancelled": len(live),
        "events_expected_from_stored_records": len(placed_events),
        "extraction": {"precision": round(matching.precision, 4), "recall": round(matching.recall, 4),
                       "correct": len(matching.correct),
                       "missed_by_type": _missed_by_type(matching, truth),
                       "examples_wrong": [f"{s} {x}: {why}" for s, x, why in matching.wrong[:8]]},
        "dedupe": pairs.as_dict(),
        "dedupe_errors": merge_errors(groups, matching, truth),
    }


def _missed_by_type(matching, truth) -> dict:
    types = {s: s.split("-")[1] for s in {r["source"] for r in truth["records"]}}
    out: dict[str, int] = {}
    for source, n in matching.missed_by_source.items():
        out[types.get(source, "?")] = out.get(types.get(source, "?"), 0) + n
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- the farm benchmark


def benchmark(*, sources: int = 300, latency_ms: float = 20.0, hosts: int = 32, seed: int = 7,
              anchor: date | None = None, workdir: Path | None = None, sequential: bool = True,
              in_process: bool = False, concurrency: int | None = None, per_host: int | None = None,
              types: list[str] | None = None, events_per_source: float = 12.0, repeat: int = 1,
              changed: bool = True, follow: int = 0, naive: bool = True, log=print) -> dict:
    """Generate, serve, run cold/warm/sequential, score. Returns the results dict.

    With repeat > 1 the phases run that many times and each phase keeps its fastest (by wall
    time) measurement, the usual way to read a benchmark on a shared machine; every
    measurement is kept under "repeats"."""
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="massage-bench-")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    try:
        t0 = time.perf_counter()
        farm = farm_mod.generate(workdir / "farm", n_sources=sources, seed=seed, anchor=anchor, types=types,
                                 n_hosts=hosts, events_per_source=events_per_source, follow=follow)
        gen_s = time.perf_counter() - t0
        truth = json.loads((workdir / "farm" / "truth.json").read_text(encoding="utf-8"))
        now = farm.anchor
        phase = run_phase if in_process else _phase_in_child
        results: dict = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
            "farm": {"sources": len(farm.sources), "types": sorted({s.type for s in farm.sources}),
                     "hosts": hosts, "latency_ms": latency_ms, "seed": seed, "anchor": farm.anchor.date().isoformat(),
                     "records": len(truth["records"]), "events": len(truth["events"]),
                     "follow_sources": sum(1 for s in farm.sources if s.follow),
                     "per_host": per_host or _default_per_host(),
                     "generate_s": round(gen_s, 2)},
            "phases": {},
            "publishing": {},
        }
        log(f"farm: {len(farm.sources)} sources ({', '.join(results['farm']['types'])}) on {hosts} hosts, "
            f"{len(truth['records'])} records of {len(truth['events'])} events, {latency_ms:g} ms latency")
        with FarmServer(workdir / "farm", latency_ms=latency_ms, n_hosts=hosts) as server:
            parallel = farm_mod.write_sources_yaml(workdir / "farm", server.base_urls, concurrency=concurrency,
                                                   per_host=per_host)
            serial = farm_mod.write_sources_yaml(workdir / "farm", server.base_urls, concurrency=1, per_host=1,
                                                 name="sources-sequential.yaml")
            plan = [("cold", parallel, "parallel"), ("warm", parallel, "parallel"),
                     ("republish", parallel, "parallel")]
            if naive:
                plan.insert(0, ("naive", parallel, None))
            if sequential:
                plan.append(("sequential", serial, "sequential"))
            if changed:  # last, in the last round only: it edits the farm the other phases read
                plan.append(("changed", parallel, "parallel"))
            for round_no in range(max(1, repeat)):
                for name, config, db_name in plan:
                    if name == "changed":
                        if round_no < max(1, repeat) - 1:
                            continue
                        before = json.loads((workdir / "out-parallel" / "events.json").read_text(encoding="utf-8"))
                        seq_before = _sequences(workdir / "out-parallel")
                        edits = farm_mod.change(farm, fraction=0.05)
                        server.forget()
                    server.log.clear()
                    if name == "naive":
                        log(f"naive reader{f' (round {round_no + 1})' if repeat > 1 else ''} ...")
                        measured = _naive_in_child(config, now)
                        measured.pop("extracted", None)
                        measured.update(server.log.counts())
                        results.setdefault("repeats", {}).setdefault(name, []).append(measured)
                        if name not in results["phases"] or measured["wall_s"] < results["phases"][name]["wall_s"]:
                            results["phases"][name] = measured
                        continue
                    out = workdir / f"out-{db_name}"
                    if name == "republish":
                        measured = _republish_in_child(config, workdir / f"{db_name}.sqlite", out, now)
                        results.setdefault("repeats", {}).setdefault(name, []).append(measured)
                        if name not in results["publishing"] or measured["wall_s"] < results["publishing"][name]["wall_s"]:
                            results["publishing"][name] = measured
                        continue
                    if name in ("cold", "sequential"):  # cold: no database, no HTTP cache, no outputs from any earlier run
                        _remove_state(workdir, db_name)
                    log(f"{name} run{f' (round {round_no + 1})' if repeat > 1 else ''} ...")
                    measured = phase(config, workdir / f"{db_name}.sqlite", out, now)
                    measured.update(server.log.counts())
                    results.setdefault("repeats", {}).setdefault(name, []).append(measured)
                    best = results["phases"].get(name)
                    if best is None or measured["wall_s"] < best["wall_s"]:
                        results["phases"][name] = measured
                    if name == "cold" and round_no == 0:
                        results["quality"] = score(workdir / f"{db_name}.sqlite", out, truth)
                        cold_uids = _uids(out)
                    if name == "warm":
                        measured["same_uids_as_cold"] = _uids(out) == cold_uids
                    if name == "changed":
                        after = json.loads((out / "events.json").read_text(encoding="utf-8"))
                        results["changed_check"] = check_changes(before["events"], after["events"], edits,
                                                                 seq_before, _sequences(out))
            if repeat <= 1:
                results.pop("repeats", None)
            results["server_user_agents"] = sorted({e.user_agent for e in server.log.entries})[:3]
        _ratios(results, latency_ms)
        return results
    finally:
        if tmp is not None:
            tmp.cleanup()


def _find(events: list[dict], ref: dict) -> dict | None:
    for ev in events:
        for s in ev.get("sources", []):
            if s["source"] == ref["source"] and (s.get("url") == ref["url"] or s["external_id"] == ref["external_id"]):
                return ev
    return None


def _sequences(out: Path) -> dict[str, int]:
    """UID -> SEQUENCE as calendar.ics publishes them (events.json carries no sequence)."""
    import icalendar

    path = out / "calendar.ics"
    if not path.is_file():
        return {}
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(c["UID"]): int(c.get("SEQUENCE", 0)) for c in cal.walk("VEVENT")}


def check_changes(before: list[dict], after: list[dict], edits: dict, seq_before: dict | None = None,
                  seq_after: dict | None = None) -> dict:
    """What a re-run made of a few edited sources: moved events keep their uid and get a higher
    SEQUENCE and the new time; events whose only record vanished are published as cancelled."""
    by_uid = {e["uid"]: e for e in after}
    moved_found = moved_same_uid = moved_sequence_up = moved_new_start = 0
    for ref in edits["moved"]:
        old, new = _find(before, ref), _find(after, ref)
        if old is None or new is None:
            continue
        moved_found += 1
        moved_same_uid += new["uid"] == old["uid"]
        moved_sequence_up += (seq_after or {}).get(new["uid"], 0) > (seq_before or {}).get(old["uid"], 0)
        moved_new_start += new["start"] != old["start"]
    removed_found = removed_cancelled = removed_dropped = 0
    for ref in edits["removed"]:
        old = _find(before, ref)
        if old is None:
            continue
        removed_found += 1
        now = by_uid.get(old["uid"])
        if now is None:
            removed_dropped += 1
        elif now.get("status") == "cancelled":
            removed_cancelled += 1
    before_uids = {e["uid"] for e in before}
    return {"sources_edited": len(edits["sources"]), "moved": len(edits["moved"]),
            "moved_found": moved_found, "moved_kept_uid": moved_same_uid,
            "moved_sequence_incremented": moved_sequence_up, "moved_shows_new_start": moved_new_start,
            "removed": len(edits["removed"]), "removed_found": removed_found,
            "removed_published_cancelled": removed_cancelled, "removed_dropped_silently": removed_dropped,
            "uids_kept": len(before_uids & {e["uid"] for e in after}), "uids_before": len(before_uids)}


def _remove_state(workdir: Path, db_name: str) -> None:
    import shutil

    for path in workdir.glob(f"{db_name}.sqlite*"):  # the db, its WAL, and the fetcher's cache beside it
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    shutil.rmtree(workdir / f"out-{db_name}", ignore_errors=True)


def _uids(out: Path) -> list[str]:
    return sorted(e["uid"] for e in json.loads((out / "events.json").read_text(encoding="utf-8"))["events"])


def _default_per_host() -> int:
    from aggregator.config.settings import FetchSettings

    return FetchSettings().per_host


def _ratios(results: dict, latency_ms: float = 0.0) -> None:
    """Every phase as a ratio to the naive reader, the politeness floor of each phase (its
    busiest host's requests x latency / per-host connections), and the issue's own ratios."""
    p = results["phases"]
    r = {}
    if "sequential" in p and p["cold"]["wall_s"]:
        r["sequential_over_cold_wall"] = round(p["sequential"]["wall_s"] / p["cold"]["wall_s"], 2)
    if p.get("warm") and p["cold"]["cpu_s"]:
        r["warm_cpu_fraction_of_cold"] = round(p["warm"]["cpu_s"] / p["cold"]["cpu_s"], 3)
    per_host = results.get("farm", {}).get("per_host") or 1
    for name, m in p.items():
        if "busiest_host_requests" in m:
            limit = 1 if name in ("sequential", "naive") else per_host
            m["floor_s"] = round(m["busiest_host_requests"] * latency_ms / 1000 / limit, 3)
    naive = p.get("naive")
    if naive and naive.get("wall_s") and naive.get("cpu_s"):
        for name, m in p.items():
            if name != "naive":
                r[f"{name}_over_naive_wall"] = round(m["wall_s"] / naive["wall_s"], 3)
                r[f"{name}_over_naive_cpu"] = round(m["cpu_s"] / naive["cpu_s"], 3)
                if m.get("process_cpu_s") and naive.get("process_cpu_s"):
                    r[f"{name}_over_naive_process_cpu"] = round(m["process_cpu_s"] / naive["process_cpu_s"], 3)
    if p.get("warm") and "floor_s" in p["warm"]:
        r["warm_wall_over_floor_s"] = round(p["warm"]["wall_s"] - p["warm"]["floor_s"], 3)
    results["ratios"] = r


# --------------------------------------------------------------------------- dedupe at scale


def synthetic_records(n: int, seed: int = 11, anchor: date | None = None, dense: bool = False):
    """About n normalized source records (aggregator.model.Event) with the farm's duplicates, and their truth.
    dense: the stress world, the records crowded into the farm's 10 regions and 200 days."""
    from aggregator.merge.normalize import record_uid
    from aggregator.model import Event, SourceRef, Status

    n_sources = max(12, round(n / 10.5))  # a little over n records, then cut to exactly n
    # National scale: every state, towns whose names recur across states, a year ahead.
    spread = {} if dense else {"regions": farm_mod.national_regions(seed), "span_days": 365}
    farm = farm_mod.plan(n_sources=n_sources, seed=seed, anchor=anchor or date(2026, 3, 2), types=["ical"],
                         n_hosts=1, **spread)
    records, truth = [], {}
    for item in farm.records[:n]:
        ext = f"{item.source.id}-{item.n}-{item.start:%Y%m%dT%H%M}@farm.example"
        records.append(Event(
            uid=record_uid(item.source.id, ext), title=item.title, start=item.start, end=item.end, all_day=False,
            timezone=getattr(item.start.tzinfo, "key", "UTC"), location=item.location, url=item.url,
            description=item.description, status=Status.CONFIRMED, region=item.source.region, tags=(),
            sources=(SourceRef(item.source.id, ext, item.url),)))
        truth[(item.source.id, ext)] = item.event.id
    return records, truth


def dedupe_scale(n: int, seed: int = 11, dense: bool = False) -> dict:
    """Time aggregator.merge.dedupe.merge(records, known={}) over n synthetic records."""
    from aggregator.merge import dedupe

    t0 = time.perf_counter()
    records, truth = synthetic_records(n, seed, dense=dense)
    built = time.perf_counter() - t0
    rss0 = _maxrss_mb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    merged = dedupe.merge(records, known={})
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    groups = [[(s.source, s.external_id) for s in ev.sources] for ev in merged]
    scores = pairwise_scores(groups, truth)
    return {"records": len(records), "dense": dense, "true_events": len(set(truth.values())),
            "merged_events": len(merged),
            "merge_wall_s": round(wall, 3), "merge_cpu_s": round(cpu, 3),
            "peak_rss_mb": round(_maxrss_mb(), 1), "rss_before_merge_mb": round(rss0, 1),
            "build_records_s": round(built, 2), "dedupe": scores.as_dict()}


# --------------------------------------------------------------------------- output


def table(results: dict) -> str:
    lines = []
    p = results.get("phases", {})
    if p:
        f = results["farm"]
        lines.append(f"farm: {f['sources']} sources ({', '.join(f['types'])}), {f['records']} records of "
                     f"{f['events']} events, {f['hosts']} hosts, {f['latency_ms']:g} ms latency, "
                     f"{results['machine']['cpus']} CPUs")
        head = f"{'phase':<11}{'wall s':>8}{'cpu s':>8}{'floor s':>8}{'peak MB':>9}{'requests':>10}{'200':>6}" \
               f"{'304':>6}{'ok':>6}{'failed':>7}{'unchanged':>10}{'events':>8}"
        lines += [head, "-" * len(head)]
        for name, m in p.items():
            if name == "naive":
                lines.append(f"{name:<11}{m['wall_s']:>8.2f}{m['cpu_s']:>8.2f}{m.get('floor_s', 0):>8.2f}{'':>9}"
                             f"{m['requests']:>10}{m['ok_200']:>6}{m['not_modified_304']:>6}"
                             f"{m['sources'] - m['sources_failed']:>6}{m['sources_failed']:>7}{'':>10}"
                             f"{str(m['records']) + ' rec':>8}")
                continue
            lines.append(f"{name:<11}{m['wall_s']:>8.2f}{m['cpu_s']:>8.2f}{m.get('floor_s', 0):>8.2f}"
                         f"{m['peak_rss_mb']:>9.0f}"
                         f"{m['requests']:>10}{m['ok_200']:>6}{m['not_modified_304']:>6}{m['sources_ok']:>6}"
                         f"{m['sources_failed']:>7}{m['sources_unchanged']:>10}{m['events_published']:>8}")
        lines.append("floor = the busiest host's requests x latency / per-host connections (1 for sequential "
                     f"and naive, {f.get('per_host', '?')} otherwise)")
        lines.append("whole-process CPU s (interpreter, imports and config included): " + ", ".join(
            f"{name} {m['process_cpu_s']:.2f}" for name, m in p.items() if m.get("process_cpu_s")))
        pub = results.get("publishing", {}).get("republish")
        if pub:
            lines.append(f"publishing {pub['events']} events again, nothing changed about them: "
                         f"{pub['wall_s']:.2f} s wall, {pub['cpu_s']:.2f} s CPU")
        r = results.get("ratios", {})
        if r:
            lines.append("  ".join(f"{k} = {v}" for k, v in r.items()))
        lines.append("stages, wall/CPU s: " + "; ".join(
            f"{name}: " + ", ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in m.get("stages_wall_cpu_s", {}).items())
            for name, m in p.items() if name != "naive"))
        c = results.get("changed_check")
        if c:
            lines.append(f"changed: {c['sources_edited']} sources edited; moved {c['moved']}: kept uid "
                         f"{c['moved_kept_uid']}, SEQUENCE up {c['moved_sequence_incremented']}, new start "
                         f"{c['moved_shows_new_start']}; removed {c['removed']}: published cancelled "
                         f"{c['removed_published_cancelled']}, dropped {c['removed_dropped_silently']}; "
                         f"uids kept {c['uids_kept']}/{c['uids_before']}")
        for name, m in p.items():
            if m.get("failure_reasons"):
                lines.append(f"{name} failures by reason: {m['failure_reasons']}")
        q = results.get("quality")
        if q:
            e, d = q["extraction"], q["dedupe"]
            lines.append(f"events published {q['events_published']} vs truth {q['truth_events']} "
                         f"(stored records place {q['events_expected_from_stored_records']} events)")
            lines.append(f"extraction: {q['records_stored']} records stored of {q['truth_records']}; "
                         f"precision {e['precision']:.3f} recall {e['recall']:.3f}; missed by type {e['missed_by_type']}")
            lines.append(f"de-duplication (pairwise): precision {d['precision']:.3f} recall {d['recall']:.3f} "
                         f"F1 {d['f1']:.3f} ({d['correct_pairs']} of {d['true_pairs']} true pairs, "
                         f"{d['predicted_pairs']} predicted)")
            errs = q["dedupe_errors"]
            if errs["wrong_merges_by_near_miss"]:
                lines.append(f"  wrong merges by near-miss: {errs['wrong_merges_by_near_miss']}")
            if errs["missed_pairs_by_variation"]:
                lines.append(f"  missed pairs by variation: {errs['missed_pairs_by_variation']}")
    s = results.get("dedupe_scale")
    if s:
        d = s["dedupe"]
        lines.append(f"dedupe scale{' (dense)' if s.get('dense') else ''}: merge of {s['records']} records -> "
                     f"{s['merged_events']} events "
                     f"(truth {s['true_events']}) in {s['merge_wall_s']:.2f} s wall, {s['merge_cpu_s']:.2f} s CPU, "
                     f"peak RSS {s['peak_rss_mb']:.0f} MB (before merge {s['rss_before_merge_mb']:.0f} MB); "
                     f"pairwise P {d['precision']:.3f} R {d['recall']:.3f} F1 {d['f1']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--variants" in argv:  # the variant farm and its accuracy figures: benchmarks/variants/run.py
        from benchmarks.variants.run import main as variants_main

        return variants_main([a for a in argv if a != "--variants"])
    if argv[:1] == ["--phase"]:  # internal: one phase in a fresh process
        config, db, out = map(Path, argv[1:4])
        now = datetime.fromisoformat(argv[4]) if len(argv) > 4 else None
        print(json.dumps(run_phase(config, db, out, now)))
        return 0
    if argv[:1] == ["--republish-phase"]:  # internal: publishing again in a fresh process
        config, db, out = map(Path, argv[1:4])
        now = datetime.fromisoformat(argv[4]) if len(argv) > 4 else None
        print(json.dumps(republish_phase(config, db, out, now)))
        return 0
    if argv[:1] == ["--dedupe-phase"]:  # internal: dedupe scale in a fresh process
        print(json.dumps(dedupe_scale(int(argv[1]), int(argv[2]), dense=argv[3:4] == ["dense"])))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", type=int, default=300)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--hosts", type=int, default=32, help="loopback hosts the farm is spread over")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--anchor", type=date.fromisoformat, default=None, help="the farm's today (default: today)")
    p.add_argument("--concurrency", type=int, default=None, help="fetch.concurrency (default: the config's)")
    p.add_argument("--per-host", type=int, default=None, help="fetch.per_host (default: the config's)")
    p.add_argument("--types", default=None, help="comma-separated source types (default: all registered)")
    p.add_argument("--skip-sequential", action="store_true")
    p.add_argument("--skip-changed", action="store_true", help="no run after editing 5%% of the sources")
    p.add_argument("--skip-naive", action="store_true", help="no run of the naive reader (benchmarks/naive.py)")
    p.add_argument("--follow", type=int, default=0, metavar="N",
                   help="N jsonld sources are Meetup-like (follow: event pages), all on one host")
    p.add_argument("--repeat", type=int, default=1, help="run the phases N times; keep each phase's fastest")
    p.add_argument("--workdir", type=Path, default=None, help="keep the farm, databases and outputs here")
    p.add_argument("--dedupe-scale", type=int, default=None, metavar="N",
                   help="only time dedupe.merge over N synthetic records")
    p.add_argument("--dedupe-dense", action="store_true",
                   help="with --dedupe-scale: the records crowded into the farm's 10 regions and 200 days")
    p.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    args = p.parse_args(argv)

    if args.dedupe_scale:
        done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--dedupe-phase", str(args.dedupe_scale),
                               str(args.seed), *(["dense"] if args.dedupe_dense else [])],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            return 1
        results = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                   "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                   "dedupe_scale": json.loads(done.stdout.strip().splitlines()[-1])}
        name = "dedupe-dense.json" if args.dedupe_dense else "dedupe-scale.json"  # only the latter is committed
        path = args.results.with_name(name) if args.results == RESULTS else args.results
    else:
        results = benchmark(sources=args.sources, latency_ms=args.latency_ms, hosts=args.hosts, seed=args.seed,
                            anchor=args.anchor, workdir=args.workdir, sequential=not args.skip_sequential,
                            concurrency=args.concurrency, per_host=args.per_host,
                            types=args.types.split(",") if args.types else None, repeat=args.repeat,
                            changed=not args.skip_changed, follow=args.follow, naive=not args.skip_naive,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
        path = args.results
    print(table(results))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
