"""Recall of plain-HTML listings added with no hand-written selectors, against hand-written ones.

    python -m benchmarks.listing_recall [--sources 40] [--seeds 11,12,13] [--json]

For each seed: a farm of `html` sources only (benchmarks.farm: cards, tables, day headings,
lists with the date apart, chosen per source), served on loopback by benchmarks.serve_farm.
Every listing is read twice, storing nothing, as `sources check` reads it:

- hand: with the selectors a curator would write for its layout (farm.json), in its zone;
- auto: after `massage-events sources add URL --yes` into an empty sources.yaml, so with the
  selectors and the timezone that `sources add` wrote on its own (and once more with
  `--auto`, i.e. `selectors: auto`, re-inferred at each read).

Recall is the share of the truth's records (title and start instant as the page wrote them)
that the read gives back (benchmarks.metrics.match_records). The seeds the inference was tuned
on are 7 and the test fixtures; report others.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path

from benchmarks.farm import generate, html_layout
from benchmarks.metrics import Extracted, match_records
from benchmarks.serve_farm import FarmServer


def _records(config, options) -> list:
    from aggregator.app.check import check_source, check_window
    from aggregator.config.settings import CalendarSettings

    calendar = config.calendar if config is not None else CalendarSettings()
    outcome = check_source(config, options, check_window(calendar, None, None))
    if outcome.error is not None:
        return []
    return list(outcome.records)


def _extracted(source_id: str, records) -> list[Extracted]:
    return [Extracted(source_id, e.sources[0].external_id if e.sources else e.uid, e.title, e.start, e.url)
            for e in records]


def _variant_farm(farm_dir: Path, seed: int, n_sources: int):
    """The variant farm's html sources (benchmarks.variants: other authors' layouts and date habits),
    their files dated at the farm's today, as the pages would be on that day."""
    import os

    from benchmarks.variants import generate as variants

    farm = variants.generate(farm_dir, seed=seed, n_sources=n_sources, types=["html"], n_hosts=4)
    moment = datetime.combine(farm.anchor if isinstance(farm.anchor, date) and not isinstance(farm.anchor, datetime)
                              else farm.anchor.date(), datetime.min.time(), timezone.utc).timestamp() + 12 * 3600
    for path in (farm_dir / "files").iterdir():
        os.utime(path, (moment, moment))
    return farm, {s.id: s.author.html_layout for s in farm.sources}, datetime.fromtimestamp(moment, timezone.utc)


def run_seed(seed: int, n_sources: int, work: Path, variants: bool = False) -> dict:
    from aggregator.app.cli import main as cli
    from aggregator.config.settings import load_config
    from sources.html import HtmlOptions

    farm_dir = work / f"farm-{seed}{'-variants' if variants else ''}"
    clock = contextlib.nullcontext()
    if variants:
        import time_machine  # the variant farm's world is fixed in time: read it on its day

        farm, layouts, today = _variant_farm(farm_dir, seed, n_sources)
        clock = time_machine.travel(today, tick=True)
    else:
        farm = generate(farm_dir, n_sources=n_sources, seed=seed, types=["html"], n_hosts=4)
        layouts = {s.id: html_layout(s) for s in farm.sources}
    truth = [r for r in json.loads((farm_dir / "truth.json").read_text(encoding="utf-8"))["records"]
             if r.get("event", True) and r.get("start")]
    for r in truth:  # an all-day record's start is a date (a bare "2026-07-23" would be read as a time)
        if isinstance(r["start"], str) and len(r["start"]) == 10:
            r["start"] = date.fromisoformat(r["start"])
    meta = {s["id"]: s for s in json.loads((farm_dir / "farm.json").read_text(encoding="utf-8"))["sources"]}
    out: dict = {"seed": seed, "farm": "variants" if variants else "farm", "sources": len(farm.sources),
                 "records": len(truth), "by_layout": {}}
    with clock, FarmServer(farm_dir, n_hosts=4) as server:
        bases = server.base_urls
        found: dict[str, list[Extracted]] = {"hand": [], "auto": [], "auto_each_run": []}
        refused = []
        took = 0.0
        for src in farm.sources:
            url = f"{bases[src.host % len(bases)]}/{src.path}"
            options = HtmlOptions(id=src.id, type="html", url=url, timezone=src.zone,
                                  region=meta[src.id]["region"], selectors=meta[src.id]["options"]["selectors"])
            found["hand"] += _extracted(src.id, _records(None, options))
            for kind, extra in (("auto", []), ("auto_each_run", ["--auto"])):
                config_path = work / f"sources-{seed}-{src.id}-{kind}.yaml"
                began = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    code = cli(["sources", "add", url, "--config", str(config_path), "--id", src.id, "--yes", *extra])
                took += time.perf_counter() - began
                if code != 0:
                    refused.append((kind, src.id))
                    continue
                config = load_config(config_path)
                found[kind] += _extracted(src.id, _records(config, config.source(src.id)))
    for kind, extracted in found.items():
        m = match_records(extracted, truth)
        out[kind] = round(m.recall, 4)
        out[f"{kind}_precision"] = round(m.precision, 4)
        per: dict = defaultdict(lambda: [0, 0])
        for i, r in enumerate(truth):
            per[layouts[r["source"]]][1] += 1
            if i in m.found:
                per[layouts[r["source"]]][0] += 1
        for layout, (hit, total) in per.items():
            out["by_layout"].setdefault(layout, {"records": total})[kind] = round(hit / total, 4) if total else 1.0
    out["auto_vs_hand"] = round(out["auto"] / out["hand"], 4) if out["hand"] else None
    out["refused"] = refused
    out["sources_add_seconds_per_source"] = round(took / max(1, 2 * len(farm.sources)), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", type=int, default=40)
    p.add_argument("--seeds", default="11,12,13")
    p.add_argument("--json", action="store_true")
    p.add_argument("--variants", action="store_true",
                   help="the variant farm's html sources (benchmarks.variants), written by another hand")
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="listing-recall-") as tmp:
        for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
            results.append(run_seed(seed, args.sources, Path(tmp), variants=args.variants))
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'seed':>4}  {'records':>7}  {'hand':>6}  {'auto':>6}  {'auto/hand':>9}  {'auto each run':>13}  refused")
    for r in results:
        print(f"{r['seed']:>4}  {r['records']:>7}  {r['hand']:>6.3f}  {r['auto']:>6.3f}  {r['auto_vs_hand']:>9.3f}  "
              f"{r['auto_each_run']:>13.3f}  {len(r['refused'])}")
    layouts = sorted({k for r in results for k in r["by_layout"]})
    print("\nby layout (all seeds):")
    for layout in layouts:
        rows = [r["by_layout"][layout] for r in results if layout in r["by_layout"]]
        total = sum(x["records"] for x in rows)
        hand = sum(x["hand"] * x["records"] for x in rows) / total
        auto = sum(x["auto"] * x["records"] for x in rows) / total
        print(f"  {layout:<13} {total:>5} records  hand {hand:.3f}  auto {auto:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
