"""What reading costs, adapter by adapter: parse + normalize CPU on a farm's bodies, no network.

    .venv/bin/python -m benchmarks.parse_cost FARM_DIR [--repeat 3] [--naive] [--dump FILE]
    .venv/bin/python -m benchmarks.parse_cost --fixtures tests/fixtures --dump FILE

Every source of FARM_DIR/sources.yaml (benchmarks/serve_farm.py writes one) is read through
`aggregator.pipeline.read_source` (adapter, normalize, tags) with a fetcher that hands over the
farm's own files, so the figure is what the adapters and normalize cost and nothing of HTTP.
`--naive` times benchmarks/naive.py's readers on the same bodies the same way (its requests
session replaced by the files), which is the yardstick the adapters are held to.
`--dump FILE` writes every record and skipped item as JSON, to compare two versions of the code
(`diff` the files): a change made for speed must leave them identical. `--fixtures DIR` reads the
test fixtures instead (calendars, feeds, JSON-LD pages, listings with `selectors: auto`, mboxes),
each file as one source, for the same comparison on the odd cases the tests hold.

CPU is the process's (time.process_time), per adapter type, the best of `--repeat` passes (the
first pass also pays for imports and caches warming; a run pays those once per process too, so
the first pass is printed as well).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.collect.fetch.decode import decode
from aggregator.config.settings import load_config
from aggregator.errors import FetchRefused
from aggregator.pipeline import read_source, window_for
from sources.base import Fetched


class FarmFiles:
    """A sources.base.Fetcher over a folder (FARM_DIR/files): the URL's path names the file."""

    def __init__(self, root: Path, types: dict[str, str] | None = None) -> None:
        self.root = root
        self.types = types or {}
        self.bodies: dict[str, bytes] = {}

    @classmethod
    def of_farm(cls, farm_dir: Path) -> "FarmFiles":
        meta = json.loads((farm_dir / "farm.json").read_text(encoding="utf-8"))
        return cls(farm_dir / "files", {s["path"]: s["content_type"] for s in meta["sources"]})

    def body(self, url: str) -> tuple[bytes, str]:
        rel = urlsplit(url).path.lstrip("/") if "://" in url else str(Path(url).relative_to(self.root))
        if rel not in self.bodies:
            file = self.root / rel
            if not file.is_file():
                raise FetchRefused(f"{url}: no such farm file", reason="not_found")
            self.bodies[rel] = file.read_bytes()
        return self.bodies[rel], self.types.get(rel, "text/html; charset=utf-8" if rel.endswith(".html") else "")

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        content, ctype = self.body(url)
        return Fetched(url=url, status=200, content=content, text=decode(content, ctype), content_type=ctype)


def _farm_config(farm_dir: Path):
    config = load_config(farm_dir / "sources.yaml")
    # Local sources (maildir) name the folder the farm was generated in: point them at this copy.
    sources = []
    for s in config.sources:
        if "://" not in s.url:
            s = s.model_copy(update={"url": str(farm_dir / "files" / Path(s.url).name)})
        sources.append(s)
    return config.model_copy(update={"sources": sources})


def _record(event) -> dict:
    return {f.name: repr(getattr(event, f.name)) for f in fields(event)}


def read_farm(config, now: datetime, files: FarmFiles) -> tuple[dict[str, float], dict]:
    window = window_for(config.calendar, now)
    cpu: dict[str, float] = {}
    dump: dict[str, dict] = {}
    for options in config.sources:
        began = time.process_time()
        outcome = read_source(options, config.calendar, files, window, filters=config.filters,
                              tag_rules=config.tags, max_records=config.fetch.max_records)
        cpu[options.type] = cpu.get(options.type, 0.0) + time.process_time() - began
        dump[options.id] = {"error": outcome.error and outcome.error.message,
                            "records": [_record(e) for e in outcome.records],
                            "skipped": [[s.item, s.reason] for s in outcome.skipped]}
    return cpu, dump


def read_farm_naively(farm_dir: Path, now: datetime, files: FarmFiles) -> dict[str, float]:
    from datetime import timedelta

    import yaml

    from benchmarks import naive

    class Response:
        def __init__(self, url: str) -> None:
            self.url = url
            self.content, ctype = files.body(url)
            self.text = decode(self.content, ctype)

    class Session:
        def get(self, url: str, timeout: float = 0) -> Response:
            return Response(url)

    raw = yaml.safe_load((farm_dir / "sources.yaml").read_text(encoding="utf-8"))
    window = (now - timedelta(days=30), now + timedelta(days=raw["calendar"].get("horizon_days", 365)))
    cpu: dict[str, float] = {}
    for source in raw["sources"]:
        if "://" not in source["url"]:
            source["url"] = str(farm_dir / "files" / Path(source["url"]).name)
        began = time.process_time()
        naive.READERS[source["type"]](Session(), source, window)
        cpu[source["type"]] = cpu.get(source["type"], 0.0) + time.process_time() - began
    return cpu


# Fixture folders and the adapter each file is read with (listings: selectors found on the page).
FIXTURES = {"ical": ("ical", ".ics", {}), "rss": ("rss", ".xml", {}), "jsonld": ("jsonld", ".html", {}),
            "html": ("html", ".html", {"selectors": "auto"}), "listings": ("html", ".html", {"selectors": "auto"}),
            "encoding": ("html", ".html", {"selectors": "auto"}), "mail": ("mbox", ".mbox", {})}


def _fixtures_config(root: Path):
    from aggregator.config.settings import parse_config

    sources = []
    for folder, (kind, suffix, extra) in FIXTURES.items():
        for file in sorted((root / folder).glob(f"*{suffix}")):
            slug = "".join(c if c.isalnum() else "-" for c in f"{folder}-{file.stem}".lower())
            sources.append({"id": slug, "type": kind, "url": f"http://fixtures.test/{folder}/{file.name}",
                            "timezone": "America/Chicago", **extra})
    return parse_config({"calendar": {"name": "Fixtures", "timezone": "America/Chicago"}, "sources": sources})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.parse_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("farm", type=Path, nargs="?", help="a farm directory with sources.yaml (serve_farm writes it)")
    p.add_argument("--fixtures", type=Path, help="read this folder of test fixtures instead of a farm")
    p.add_argument("--repeat", type=int, default=3, help="passes over the farm; the best is reported")
    p.add_argument("--naive", action="store_true", help="time benchmarks/naive.py's readers instead")
    p.add_argument("--now", type=datetime.fromisoformat, default=None, help="today (default: the farm's anchor)")
    p.add_argument("--dump", type=Path, help="write every record read (first pass) as JSON here")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    if args.fixtures:
        root = args.fixtures.resolve()
        config, files = _fixtures_config(root), FarmFiles(root)
        now = args.now or datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    elif args.farm:
        farm = args.farm.resolve()
        anchor = json.loads((farm / "farm.json").read_text(encoding="utf-8"))["anchor"]
        config, files, now = _farm_config(farm), FarmFiles.of_farm(farm), args.now or datetime.fromisoformat(anchor)
    else:
        p.error("name a farm directory or --fixtures DIR")
    if args.naive and args.fixtures:
        p.error("--naive reads a farm (the naive reader knows no fixtures)")
    passes = []
    for i in range(max(1, args.repeat)):
        if args.naive:
            cpu = read_farm_naively(farm, now, files)
        else:
            cpu, dump = read_farm(config, now, files)
            if i == 0 and args.dump:
                args.dump.write_text(json.dumps(dump, indent=1, sort_keys=True), encoding="utf-8")
        passes.append(cpu)
    best = {kind: round(min(p[kind] for p in passes), 3) for kind in sorted(passes[0])}
    result = {"reader": "naive" if args.naive else "adapters", "first_pass": {k: round(v, 3) for k, v in
              sorted(passes[0].items())}, "best": best, "best_total": round(sum(best.values()), 3)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['reader']}: best of {len(passes)} {result['best_total']:.3f} s CPU; by type {best}; "
              f"first pass {result['first_pass']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
