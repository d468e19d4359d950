"""What every harness shares: the property, the seeds, and the atheris (or fallback) driver.

The property (docs/reliability.md F3/F4): any bytes handed to an adapter give records, Skipped items
or a typed SourceError, within 2 s. Anything else is a crash. `check(target, data)` states it
once; the harness modules, the Hypothesis test and tests/test_fuzz_regressions.py all call it.

atheris is imported only inside `main()`, so tests import this module without it.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.errors import SourceError
from aggregator.model import RawEvent, Window
from sources.base import Fetched, Skipped

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
REGRESSIONS = FIXTURES / "fuzz"
WORK = Path(__file__).resolve().parent / "work"

TIME_LIMIT = 2.0
WINDOW = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2028, 1, 1, tzinfo=timezone.utc))
SOURCE_URL = "http://fuzz.example/source"

# One selector set broad enough for the fixtures' listings (div.event, li.item, article, h-event).
HTML_SELECTORS = {"event": "div.event, li.item, article, .vevent, .h-event",
                  "title": "h3, .title, .summary, .p-name",
                  "start": ".when, .date, .time, time, .dtstart, .dt-start",
                  "end": ".until, .dtend, .dt-end", "location": ".where, .venue, address, .location",
                  "link": "a@href", "description": ".desc, .description"}
EXTRA = {"html": {"selectors": HTML_SELECTORS}}

# Seed folders per target: tests/fixtures/<a> and ../shared/corpus/<b> (read in place, never copied).
SEEDS = {
    "ical": (["ical", "dedupe", "pipeline"], ["ics"]),
    "jsonld": (["jsonld", "encoding"], ["html"]),
    "html": (["html", "encoding"], ["html"]),
    "rss": (["rss"], ["feeds"]),
    "mbox": (["mail", "bounces"], ["mail"]),
    "text": (["posts"], []),
}
TARGETS = tuple(SEEDS)
CONTRACT = ["contract"]  # empty body, garbage, an HTML error page: seeds for every adapter


class PropertyViolation(AssertionError):
    """An input broke the property: an untyped exception, a wrong item type, or over 2 s."""


class BytesFetcher:
    """Serves the fuzz bytes for the source URL; followed links lead nowhere (a typed error)."""

    def __init__(self, content: bytes, content_type: str = "application/octet-stream") -> None:
        self.content = content
        self.content_type = content_type

    def get(self, url, *, accept=None, discovered=False):
        if discovered:
            raise SourceError("no such page", reason="not_found")
        return Fetched(url=url, status=200, content=self.content,
                       text=self.content.decode("utf-8", "replace"), content_type=self.content_type)


def _read_adapter(type_name: str, data: bytes) -> list:
    from sources.registry import adapter_for

    adapter = adapter_for(type_name)()
    options = adapter.Options(id="fuzz", type=type_name, url=SOURCE_URL, timezone="America/Chicago",
                              **EXTRA.get(type_name, {}))
    try:
        items = list(adapter.read(options, BytesFetcher(data), WINDOW))
    except SourceError:
        return []
    bad = [i for i in items if not isinstance(i, (RawEvent, Skipped))]
    if bad:
        raise PropertyViolation(f"{type_name} yielded {type(bad[0]).__name__}, not a RawEvent or Skipped")
    return items


def _read_text(data: bytes) -> list:
    """sources.parse.dates.parse_when and sources.parse.prose.read_post over the bytes as text: never raise."""
    from sources.parse.dates import parse_when
    from sources.parse.prose import Post, read_post, records_from_posts

    text = data.decode("utf-8", "replace")
    subject, _, body = text.partition("\n")
    first, _, second = body.partition("\n")
    zone = ZoneInfo("America/Chicago")
    sent = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
    out = [parse_when(subject, reference=date(2026, 3, 1)),
           parse_when(subject, first or None, reference=date(2026, 3, 1), dayfirst=True),
           read_post(subject, body, sent, zone)]
    out += list(records_from_posts([Post(id="<a@fuzz>", subject=subject, body=body, sent=sent)], zone,
                                   source_id="fuzz"))
    return out


def run_target(target: str, data: bytes) -> list:
    return _read_text(data) if target == "text" else _read_adapter(target, data)


def check(target: str, data: bytes) -> list:
    """The property for one input; raises (PropertyViolation or the adapter's own exception) on a crash."""
    began = time.monotonic()
    items = run_target(target, data)
    took = time.monotonic() - began
    if took > TIME_LIMIT:
        raise PropertyViolation(f"{target} took {took:.1f} s for one input of {len(data)} bytes (limit {TIME_LIMIT} s)")
    return items


def seed_dirs(target: str) -> list[Path]:
    """Seed folders that exist here: the fixtures always, ../shared/corpus only where present."""
    local, shared = SEEDS[target]
    dirs = [FIXTURES / name for name in local + CONTRACT] + [SHARED_CORPUS / name for name in shared]
    return [d for d in dirs if d.is_dir()]


def seed_files(target: str, *, shared: bool = True) -> list[Path]:
    local, _ = SEEDS[target]
    dirs = [d for d in seed_dirs(target) if shared or SHARED_CORPUS not in d.parents]
    return sorted(p for d in dirs for p in d.iterdir() if p.is_file())


def regression_files(target: str | None = None) -> list[Path]:
    folders = [REGRESSIONS / target] if target else sorted(p for p in REGRESSIONS.glob("*") if p.is_dir())
    return sorted(p for f in folders if f.is_dir() for p in f.iterdir() if p.is_file())


def quiet() -> None:
    """Adapters warn about every repair; a fuzzer would print millions of lines."""
    logging.disable(logging.CRITICAL)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """A crude byte mutator for the fallback driver: cut, splice, flip, insert structure."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        at = rng.randint(0, len(buf))
        if op == 0 and buf:
            del buf[at:at + rng.randint(1, 64)]
        elif op == 1:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 3:
            buf[at:at] = rng.choice([b"\r\n", b"\n ", b":", b";", b",", b"<", b">", b"\"", b"\\", b"\x00",
                                     b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n", b"RRULE:FREQ=SECONDLY\r\n",
                                     b"<item>", b"]]>", b"From x Mon Jan  1 00:00:00 2027\n", b"{\"@type\":",
                                     b"=?utf-8?b?", b"Content-Type: multipart/mixed; boundary=", b"9999",
                                     b"-0", b"\xff\xfe", b"&#x110000;", b"29 Feb", b"25:61pm"])
        elif op == 4 and len(buf) > 2:
            a, b = sorted(rng.sample(range(len(buf)), 2))
            buf[at:at] = buf[a:b][:512]
        else:
            buf = buf[:at]
    return bytes(buf[:200_000])


def _fallback(target: str, seconds: float, seeds: list[bytes]) -> int:
    """Random mutation of the seeds, for hosts where atheris cannot be installed."""
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "0")) or None)
    pool = seeds or [b""]
    runs, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        data = _mutate(rng, rng.choice(pool))
        try:
            check(target, data)
        except Exception:
            save_crash(target, data)
            raise
        runs += 1
    print(f"fuzz {target}: {runs} executions in {seconds:.0f} s (random-mutation fallback, no atheris)")
    return 0


def save_crash(target: str, data: bytes) -> Path:
    import hashlib

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"crash-{target}-{hashlib.sha1(data).hexdigest()[:12]}"
    path.write_bytes(data)
    print(f"fuzz {target}: crashing input saved to {path}; minimise it, then commit it as "
          f"tests/fixtures/fuzz/{target}/<short-name>", file=sys.stderr)
    return path


def main(target: str, argv: list[str] | None = None) -> int:
    """`python -m fuzz.fuzz_<target> [libFuzzer flags]`; FUZZ_SECONDS bounds the run (default 60)."""
    argv = list(sys.argv if argv is None else argv)
    seconds = float(os.environ.get("FUZZ_SECONDS", "60"))
    quiet()
    seeds_dirs = seed_dirs(target) + ([REGRESSIONS / target] if (REGRESSIONS / target).is_dir() else [])
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: falling back to random mutation of the seeds", file=sys.stderr)
        return _fallback(target, seconds, [p.read_bytes() for d in seeds_dirs for p in sorted(d.iterdir())
                                           if p.is_file()])

    with atheris.instrument_imports(include=["sources", "aggregator"]):
        import sources.registry  # noqa: F401  (the adapters load through it)
        from sources import html, ical, jsonld, mbox, rss  # noqa: F401

    def one_input(data: bytes) -> None:
        check(target, data)

    work = WORK / target
    work.mkdir(parents=True, exist_ok=True)
    flags = [a for a in argv[1:] if a.startswith("-")]
    if not any(f.startswith("-max_total_time=") for f in flags):
        flags.append(f"-max_total_time={int(seconds)}")
    if not any(f.startswith("-artifact_prefix=") for f in flags):
        flags.append(f"-artifact_prefix={WORK}/{target}-")
    if not any(f.startswith("-max_len=") for f in flags):
        flags.append("-max_len=65536")
    if not any(f.startswith("-timeout=") for f in flags):
        flags.append("-timeout=10")  # libFuzzer's hard stop; the 2 s property is checked in check()
    # libFuzzer writes new inputs to the first folder only: the work folder, never the seeds.
    atheris.Setup([argv[0], *flags, str(work), *map(str, seeds_dirs)], one_input)
    atheris.Fuzz()
    return 0
