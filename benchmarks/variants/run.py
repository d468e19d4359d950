"""Run the real pipeline over variant farms and print the accuracy issue's figures per seed.

    .venv/bin/python -m benchmarks.run --variants --seeds 1001,1002,1003            # held-out figures
    .venv/bin/python -m benchmarks.run --variants --seeds 1,2,3 --results /tmp/t.json  # while tuning
    .venv/bin/python -m benchmarks.run --variants --compare benchmarks/results/variants-baseline.json \
        benchmarks/results/variants-latest.json                                     # before / after

For each seed: generate the farm (benchmarks/variants/generate.py), serve it on loopback hosts
(benchmarks/serve_farm.py), run `aggregator.pipeline.run` once, cold, in a fresh process — the
same code path as benchmarks/run.py's phases — and score the store and events.json against the
truth (benchmarks/variants/score.py). Writes a JSON file with every seed's full scores.

Seeds 1-999 are tuning seeds; 1000 and up are held out (benchmarks/README.md, "The variant farm").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from benchmarks import farm as farm_mod
from benchmarks.serve_farm import FarmServer
from benchmarks.variants import generate as gen
from benchmarks.variants.score import figures, score_run, table

UTC = timezone.utc
RESULTS = Path(__file__).resolve().parents[1] / "results" / "variants-latest.json"
HELD_OUT_FROM = 1000


def run_seed(seed: int, *, workdir: Path, sources: int = 150, anchor: date | None = None, hosts: int = 8,
             latency_ms: float = 0.0, events_per_source: float = 10.0, in_process: bool = False,
             removal_run: bool = True, log=print) -> dict:
    """One seed: generate, serve, one cold pipeline run (in a fresh process unless in_process), score;
    then (removal_run) take a few events off their only source and run again on the same database."""
    from benchmarks.run import _phase_in_child, run_phase

    farm_dir = workdir / f"farm-{seed}"
    t0 = time.perf_counter()
    farm = gen.generate(farm_dir, seed=seed, n_sources=sources, anchor=anchor, n_hosts=hosts,
                        events_per_source=events_per_source)
    truth = json.loads((farm_dir / "truth.json").read_text(encoding="utf-8"))
    log(f"seed {seed}: {len(farm.sources)} sources, {len(truth['records'])} records of {len(truth['events'])} "
        f"events ({time.perf_counter() - t0:.1f} s to generate); running the pipeline ...")
    phase = run_phase if in_process else _phase_in_child
    with FarmServer(farm_dir, latency_ms=latency_ms, n_hosts=hosts) as server:
        config = farm_mod.write_sources_yaml(farm_dir, server.base_urls)
        db, out = workdir / f"db-{seed}.sqlite", workdir / f"out-{seed}"
        measured = phase(config, db, out, farm.anchor)
        quality = score_run(db, out, truth)
        removal = None
        if removal_run:  # a curator deletes a few events; the next run must not show them as confirmed
            removed = gen.remove_some(farm)
            server.forget()
            phase(config, db, out, farm.anchor)
            removal = removal_check(removed, json.loads((out / "events.json").read_text(encoding="utf-8"))["events"])
            quality["removed_shown_as_confirmed"] = removal
    return {"seed": seed, "held_out": seed >= HELD_OUT_FROM, "anchor": farm.anchor.isoformat(),
            "sources": len(farm.sources), "run": {k: measured[k] for k in ("wall_s", "cpu_s", "sources_ok",
                                                                          "sources_failed", "records",
                                                                          "events_published", "failures")},
            "figures": figures(quality), "quality": quality}


def removal_check(removed: list[dict], published: list[dict]) -> dict:
    """Events taken off their only source: published as cancelled (right), dropped, or still confirmed."""
    out = {"removed": len(removed), "count": 0, "published_cancelled": 0, "dropped": 0, "examples": []}
    for ref in removed:
        found = next((ev for ev in published for s in ev.get("sources", [])
                      if s["source"] == ref["source"] and (s["external_id"] == ref["external_id"]
                                                           or s.get("url") == ref["url"])), None)
        if found is None:
            out["dropped"] += 1
        elif found.get("status") == "cancelled":
            out["published_cancelled"] += 1
        else:
            out["count"] += 1
            if len(out["examples"]) < 5:
                out["examples"].append(f"{ref['event']} {found.get('title')!r} {found.get('start')}")
    return out


def benchmark(seeds: list[int], *, sources: int = 150, anchor: date | None = None, workdir: Path | None = None,
              removal_run: bool = True, log=print) -> dict:
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="massage-variants-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        per_seed = {s: run_seed(s, workdir=workdir, sources=sources, anchor=anchor, removal_run=removal_run, log=log)
                    for s in seeds}
    finally:
        if tmp is not None:
            tmp.cleanup()
    summary = {}
    for name in next(iter(per_seed.values()))["figures"]:
        values = [r["figures"][name] for r in per_seed.values() if r["figures"][name] is not None]
        summary[name] = round(sum(values) / len(values), 4) if values else None
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "seeds": seeds, "held_out": all(s >= HELD_OUT_FROM for s in seeds), "sources_per_seed": sources,
            "mean": summary, "per_seed": {str(s): r for s, r in per_seed.items()}}


TARGETS = {"de-duplication F1": "≥ 0.98", "events published exactly right": "≥ 95 %", "mailing-list recall": "≥ 0.95",
           "relative-date recall": "≥ 0.9", "zone-word recall": "≥ 0.97", "cancelled shown as confirmed": "0",
           "confirmed shown as cancelled": "≤ 0.1 %", "non-events published": "0",
           "removed events still shown as confirmed": "0"}


def compare(paths: list[Path]) -> str:
    """A markdown table of several results files' figures side by side (each file's per-seed values and mean)."""
    from benchmarks.variants.score import FIGURES

    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    head = ["figure"] + [f"{Path(p).stem} (seeds {','.join(map(str, r['seeds']))})" for p, r in zip(paths, runs)] \
        + ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, _, fmt in FIGURES:
        key = name.strip()
        cells = []
        for r in runs:
            per = [r["per_seed"][str(s)]["figures"].get(key) for s in r["seeds"]]
            mean = r["mean"].get(key)
            def show(v, fmt=fmt):
                if v is None:
                    return "—"
                if fmt == "{}" and isinstance(v, float):  # a count's mean over seeds
                    return f"{v:.1f}"
                return fmt.format(v)

            cells.append(f"{show(mean)} ({' / '.join(show(v) for v in per)})")
        lines.append(f"| {name.strip() if not name.startswith(' ') else '— ' + key} | " + " | ".join(cells)
                     + f" | {TARGETS.get(key, '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run --variants", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None, help="one seed (default: the held-out seeds 1001,1002,1003)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds")
    p.add_argument("--sources", type=int, default=150)
    p.add_argument("--anchor", type=date.fromisoformat, default=None, help=f"the farm's today ({gen.DEFAULT_ANCHOR})")
    p.add_argument("--skip-removal", action="store_true", help="no second run after removing a few events")
    p.add_argument("--workdir", type=Path, default=None, help="keep the farms, databases and outputs here")
    p.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    p.add_argument("--compare", nargs="+", type=Path, metavar="RESULTS.json",
                   help="print these results files' figures side by side (markdown) and exit")
    args = p.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    elif args.seed is not None:
        seeds = [args.seed]
    else:
        seeds = [1001, 1002, 1003]
    results = benchmark(seeds, sources=args.sources, anchor=args.anchor, workdir=args.workdir,
                        removal_run=not args.skip_removal, log=lambda m: print(m, file=sys.stderr, flush=True))
    per_seed = {int(s): r["quality"] for s, r in results["per_seed"].items()}
    kind = "held-out" if results["held_out"] else "tuning (not for reporting)" if all(
        s < HELD_OUT_FROM for s in seeds) else "mixed"
    print(f"variant farm, {kind} seeds {', '.join(map(str, seeds))}; {args.sources} sources each")
    print(table(per_seed))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
