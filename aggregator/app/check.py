"""`massage-events sources check`: preview what one source yields and skips, storing nothing.

    massage-events sources check SOURCE_ID
    massage-events sources check --type TYPE URL_OR_PATH [--since DATE] [--until DATE] [--json]

Reads the source exactly as `run` would (the same adapter, normalize and keyword
rules, through `pipeline.read_source`), then prints a table of its records and
of what it skipped with the reason for each. With --json it prints the object
fixed in ARCHITECTURE.md. Exit 0 when the source was read (even with no
records), 1 when it was refused with a clear error.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from pydantic import ValidationError

from aggregator.codec import event_to_dict
from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import CalendarSettings, Config, FetchSettings, load_config
from aggregator.errors import ConfigError, Problem
from aggregator.model import Event, Window
from aggregator.pipeline import SourceOutcome, read_source
from sources.base import SourceOptions
from sources.registry import adapter_for

RECORD_KEYS = ("title", "start", "end", "all_day", "timezone", "location", "url", "description", "status")


def record_to_dict(event: Event) -> dict[str, Any]:
    """One record as the --json contract states it: the events.json fields a single record has."""
    data = event_to_dict(event, revision=False)
    external_id = event.sources[0].external_id if event.sources else event.uid
    return {"external_id": external_id, **{key: data[key] for key in RECORD_KEYS}}


def _reason(text: str, source_id: str | None) -> str:
    """A skip reason without the source id normalize puts in front (the output names the source once)."""
    prefix = f"{source_id}: " if source_id else ""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def outcome_to_dict(outcome: SourceOutcome, source_id: str | None = None) -> dict[str, Any]:
    return {
        "records": [record_to_dict(e) for e in outcome.records],
        "skipped": [{"item": s.item, "reason": _reason(s.reason, source_id)} for s in outcome.skipped],
        "error": str(outcome.error) if outcome.error is not None else None,
    }


def check_window(calendar: CalendarSettings, since: date | None, until: date | None,
                 now: datetime | None = None) -> Window:
    """--since/--until as a Window (whole days, UTC); defaults: 30 days ago to the horizon."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = datetime.combine(since, time.min, timezone.utc) if since else now - timedelta(days=30)
    end = (datetime.combine(until, time.min, timezone.utc) + timedelta(days=1) if until
           else now + timedelta(days=calendar.horizon_days))
    if end <= start:
        raise ConfigError([Problem("--until", None, f"--until {until} is before --since {since}",
                                   "give an --until date after --since")])
    return Window(start=start, end=end)


def _load(config_path: Path, need: bool) -> Config | None:
    if config_path.is_file():
        return load_config(config_path)
    if need:
        load_config(config_path)  # raises "file not found" with the fix
    return None


def _target_url(target: str) -> str:
    """A URL as given; a local path made absolute (read as the URL would be)."""
    if urlsplit(target).scheme.lower() in ("http", "https"):
        return target
    if target.startswith("file:"):
        return target
    return str(Path(target).expanduser().resolve())


def _options_for(type_name: str, target: str, calendar: CalendarSettings) -> SourceOptions:
    adapter = adapter_for(type_name)
    slug = "check"
    extra = {"selectors": "auto"} if type_name == "html" else {}  # a listing's selectors are found on it
    try:
        return adapter.Options(id=slug, type=type_name, url=_target_url(target), **extra)
    except ValidationError as err:
        missing = [str(e["loc"][0]) for e in err.errors() if e.get("type") == "missing" and e.get("loc")]
        if missing:
            problem = (f"type {type_name} needs {', '.join(missing)}, which cannot be given on the command "
                       "line")
            fix = (f"add the source to sources.yaml with its {', '.join(missing)} and run "
                   "`massage-events sources check SOURCE_ID`")
        else:
            problem, fix = f"cannot check {target} as type {type_name}: {err.errors()[0].get('msg')}", None
        raise ConfigError([Problem("sources check", None, problem, fix)]) from None


def _fetcher(config: Config | None) -> HttpFetcher:
    if config is None:
        return HttpFetcher(allow_local_paths=True)
    f = config.fetch
    try:
        return HttpFetcher(connect_timeout=f.connect_timeout, read_timeout=f.read_timeout, max_bytes=f.max_bytes,
                           allow_local_paths=True, allow_private=f.allow_private,
                           respect_robots=f.respect_robots, contact=f.user_agent_contact)
    except TypeError:  # an older fetcher without the politeness keywords
        return HttpFetcher(connect_timeout=f.connect_timeout, read_timeout=f.read_timeout, max_bytes=f.max_bytes,
                           allow_local_paths=True)


class _LocalFile:
    """The fetcher without its per-source view: `sources check` reads a local path for any type."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False):
        return self.inner.get(url, accept=accept, discovered=discovered)


def check_source(config: Config | None, options: SourceOptions, window: Window, fetcher=None) -> SourceOutcome:
    """Read one source as `run` would, storing nothing."""
    calendar = config.calendar if config is not None else CalendarSettings()
    filters = config.filters if config is not None else None
    fetcher = fetcher or _fetcher(config)
    reader = fetcher
    if options.url and urlsplit(options.url).scheme.lower() not in ("http", "https"):
        reader = _LocalFile(fetcher)  # a local path is read as the URL would be, whatever the type
    try:
        fetch = config.fetch if config is not None else FetchSettings()
        return read_source(options, calendar, reader, window, filters=filters, max_records=fetch.max_records,
                           deadline=fetch.deadline)
    finally:
        close = getattr(fetcher, "close", None)
        if callable(close):
            close()


def check_command(config_path: Path, source_id: str | None, type_name: str | None, target: str | None,
                  since: date | None, until: date | None, as_json: bool, out: TextIO) -> int:
    """`sources check`: print what one source yields and skips; 0 when read, 1 when refused."""
    config_path = Path(config_path)
    if source_id:
        config = _load(config_path, need=True)
        options = config.source(source_id)
    else:
        if not type_name or not target:
            raise ConfigError([Problem("sources check", None, "nothing to check",
                                       "name a source id, or give --type TYPE and a URL or path")])
        config = _load(config_path, need=False)
        calendar = config.calendar if config is not None else CalendarSettings()
        options = _options_for(type_name, target, calendar)
    calendar = config.calendar if config is not None else CalendarSettings()
    window = check_window(calendar, since, until)
    outcome = check_source(config, options, window)
    mapping = auto_mapping(config, options) if outcome.error is None else None
    if as_json:
        data = outcome_to_dict(outcome, options.id)
        if mapping is not None:
            data["selectors"] = mapping.selectors  # an extension: what `selectors: auto` chose
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        if mapping is not None:
            print_mapping(mapping, out)
        print_table(outcome, options, window, out)
    return 0 if outcome.error is None else 1


def auto_mapping(config: Config | None, options: SourceOptions):
    """For an html source with `selectors: auto`: the mapping it reads the page with now (else None)."""
    from aggregator.errors import SourceError
    from sources.html import ACCEPT, HtmlOptions, infer_page

    if not isinstance(options, HtmlOptions) or options.selectors != "auto":
        return None

    fetcher = _fetcher(config)
    try:
        url = options.url
        page = (_LocalFile(fetcher) if urlsplit(url).scheme.lower() not in ("http", "https") else fetcher).get(
            url, accept=ACCEPT)
        return infer_page(page, options)  # type: ignore[arg-type]
    except SourceError:
        return None  # the read above already reported why
    finally:
        close = getattr(fetcher, "close", None)
        if callable(close):
            close()


def print_mapping(mapping, out: TextIO) -> None:
    out.write("selectors: auto chose\n")
    for key, value in mapping.selectors.items():
        out.write(f"  {key}: {value}\n")
    for line in mapping.explanation:
        out.write(f"  ({line})\n")
    out.write("\n")


def _when(event: Event) -> str:
    if event.all_day:
        text = event.start.isoformat()
        if event.end is not None and event.end - event.start > timedelta(days=1):
            text += f" to {(event.end - timedelta(days=1)).isoformat()}"
        return text + " (all day)"
    text = event.start.strftime("%Y-%m-%d %H:%M")
    if event.end is not None:
        text += "–" + (event.end.strftime("%H:%M") if event.end.date() == event.start.date()
                       else event.end.strftime("%Y-%m-%d %H:%M"))
    return text + " " + (event.start.tzname() or "")


def _cut(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def print_table(outcome: SourceOutcome, options: SourceOptions, window: Window, out: TextIO) -> None:
    width = max(110, min(180, shutil.get_terminal_size((110, 20)).columns))
    where = options.url or getattr(options, "path", None) or getattr(options, "host", None) or ""
    out.write(f"{options.id} ({options.type}): {where}\n")
    out.write(f"window {window.start.date()} to {window.end.date()}\n\n")
    if outcome.error is not None:
        out.write(f"ERROR {type(outcome.error).__name__}: {outcome.error}\n")
        return
    records = sorted(outcome.records, key=lambda e: _sort_key(e))
    if records:
        when_w = max(len(_when(e)) for e in records)
        title_w = max(20, min(45, max(len(e.title) for e in records)))
        out.write(f"{'WHEN':<{when_w}}  {'TITLE':<{title_w}}  {'STATUS':<9}  WHERE\n")
        for e in records:
            where = _cut(e.location or e.url or "", max(60, width - when_w - title_w - 15))
            out.write(f"{_when(e):<{when_w}}  {_cut(e.title, title_w):<{title_w}}  {str(e.status):<9}  {where}\n")
    out.write(f"\n{len(records)} record{'s' if len(records) != 1 else ''}, {len(outcome.skipped)} skipped\n")
    if outcome.skipped:
        out.write("\nSkipped:\n")
        for s in outcome.skipped:
            out.write(f"  - {_cut(s.item, 60)}: {_reason(s.reason, options.id)}\n")


def _sort_key(event: Event) -> datetime:
    start = event.start
    if isinstance(start, datetime):
        return start.astimezone(timezone.utc)
    return datetime.combine(start, time.min, timezone.utc)
