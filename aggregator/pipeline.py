"""One run: sources -> records -> merged events -> published files.

Each source is read in its own thread and isolated: whatever goes wrong with one
(a typed SourceError, or a bug in an adapter) is reported against it, and its
last good records stay in the store and in the feed. Records are stored per
source in one transaction; the publish step writes files atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator import dedupe, lifecycle, outputs
from aggregator.config import CalendarSettings, Config, FilterSettings
from aggregator.errors import ParseError, RecordRejected, SourceError
from aggregator.model import Event, RawEvent, Window
from aggregator.normalize import normalize, record_uid
from aggregator.report import RunReport, SourceResult
from aggregator.store import Store
from sources.base import Fetched, Fetcher, Skipped, SourceOptions
from sources.registry import adapter_for

log = logging.getLogger(__name__)


@dataclass
class SourceOutcome:
    records: list[Event] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    error: SourceError | None = None
    unchanged: bool = False
    http_status: int | None = None


class _Unchanged(Exception):
    """The source's document is the same as last run: reuse its stored records."""


class _SourceFetcher:
    """The fetcher as one source sees it: notes statuses, and stops the read early
    when the source's own document is unchanged and its records are in the store."""

    def __init__(self, inner: Fetcher, options: SourceOptions, may_skip: bool) -> None:
        self.inner = inner
        self.options = options
        self.may_skip = may_skip
        self.last_status: int | None = None

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        fetched = self.inner.get(url, accept=accept, discovered=discovered)
        self.last_status = fetched.status
        if self.may_skip and fetched.from_cache and url == self.options.url:
            raise _Unchanged
        return fetched


def window_for(calendar: CalendarSettings, now: datetime) -> Window:
    now = now.astimezone(timezone.utc)
    return Window(start=now - timedelta(days=calendar.past_days), end=now + timedelta(days=calendar.horizon_days))


def read_source(options: SourceOptions, calendar: CalendarSettings, fetcher: Fetcher, window: Window,
                *, filters: FilterSettings | None = None, may_skip_unchanged: bool = False) -> SourceOutcome:
    """Read and normalize one source, storing nothing. Never raises for a bad source.

    `filters` are the global keyword rules: their excludes add to the source's, and their
    includes apply to a source that has none of its own.
    """
    outcome = SourceOutcome()
    update = {"timezone": options.timezone or calendar.timezone}
    if filters is not None:
        update["exclude"] = tuple(dict.fromkeys(options.exclude + filters.exclude))
        update["include"] = options.include or filters.include
    options = options.model_copy(update=update)
    view = _SourceFetcher(fetcher, options, may_skip_unchanged)
    try:
        adapter = adapter_for(options.type)()
        seen: set[str] = set()
        for item in adapter.read(options, view, window):
            if isinstance(item, Skipped):
                outcome.skipped.append(item)
                continue
            if not isinstance(item, RawEvent):
                raise TypeError(f"adapter yielded {type(item).__name__}, not RawEvent")
            try:
                event = normalize(item, options, calendar, window)
            except RecordRejected as rejected:
                outcome.skipped.append(Skipped(item=item.title or item.external_id, reason=rejected.message))
                continue
            if item.external_id in seen:  # a source listing one record twice keeps the first
                outcome.skipped.append(Skipped(item=item.title, reason="listed twice in the source"))
                continue
            seen.add(item.external_id)
            outcome.records.append(event)
    except _Unchanged:
        outcome.unchanged = True
    except SourceError as error:
        error.source_id = error.source_id or options.id
        outcome.error = error
    except Exception as error:  # an adapter bug must not take the run down
        log.debug("unexpected error in source %s", options.id, exc_info=True, extra={"source": options.id})
        outcome.error = ParseError(f"unexpected error while reading it ({type(error).__name__}: {error}); "
                                   "run with --debug for the traceback", source_id=options.id,
                                   reason="adapter_crash")
    outcome.http_status = view.last_status if outcome.error is None else (
        outcome.error.http_status or view.last_status)
    return outcome


ProgressFn = Callable[[int, int, SourceResult], None]


def run(config: Config, store: Store, out_dir: Path, *, now: datetime | None = None,
        fetcher: Fetcher | None = None, progress: ProgressFn | None = None) -> RunReport:
    """Fetch every enabled source, merge, store and publish. A failing source never stops the run."""
    now = now or datetime.now(timezone.utc)
    report = RunReport(started=now)
    wall = time.monotonic()
    window = window_for(config.calendar, now)
    if fetcher is None:
        fetcher = _default_fetcher(config, store)
    run_id = store.start_run(now)

    sources = [s for s in config.sources if s.enabled]
    store.drop_sources_except(s.id for s in sources)
    has_records = {s.id: store.record_count(s.id) > 0 for s in sources}

    def work(options: SourceOptions) -> tuple[SourceOptions, SourceOutcome, float]:
        began = time.monotonic()
        outcome = read_source(options, config.calendar, fetcher, window, filters=config.filters,
                              may_skip_unchanged=has_records[options.id])
        return options, outcome, time.monotonic() - began

    ok_sources: set[str] = set()
    with ThreadPoolExecutor(max_workers=max(1, min(config.fetch.concurrency, len(sources) or 1)),
                            thread_name_prefix="source") as pool:
        futures = [pool.submit(work, s) for s in sources]
        for done, future in enumerate(as_completed(futures), 1):
            options, outcome, seconds = future.result()
            result = _settle(store, options, outcome, now, seconds)
            if result.ok:
                ok_sources.add(options.id)
            report.sources.append(result)
            if progress:
                progress(done, len(sources), result)
    report.sources.sort(key=lambda r: r.source_id)

    events = merge_and_store(config, store, ok_sources, now)
    report.outputs = outputs.publish(Path(out_dir), config, events, now)
    report.events_published = len(events)
    report.finished = now + timedelta(seconds=time.monotonic() - wall)
    store.finish_run(run_id, report.finished, report.as_dict())
    return report


def merge_and_store(config: Config, store: Store, ok_sources: set[str], now: datetime) -> list[Event]:
    """All current records -> merged, revised events, stored as what is published."""
    records = store.records()
    previous = store.previous_events()
    overrides = getattr(config, "merge", None)
    merged = dedupe.merge(records, store.known_links(), overrides, first_published=store.first_published(),
                          previous=previous, source_types={s.id: s.type for s in config.sources})
    events = lifecycle.reconcile(merged, previous, ok_sources, now, overrides=overrides,
                                 known_sources=[s.id for s in config.sources if s.enabled])
    links = {record_uid(ref.source, ref.external_id): event.uid for event in merged for ref in event.sources}
    store.save_events(events, links, now)
    return store.published_events()


def _settle(store: Store, options: SourceOptions, outcome: SourceOutcome, now: datetime,
            seconds: float) -> SourceResult:
    """Store a source's outcome and say how it went."""
    result = SourceResult(source_id=options.id, ok=outcome.error is None, seconds=seconds,
                          skipped=len(outcome.skipped), unchanged=outcome.unchanged,
                          http_status=outcome.http_status)
    if outcome.error is not None:
        error = outcome.error
        result.error_class = type(error).__name__
        result.error_reason = error.reason
        result.error_message = error.message
        log.warning("%s", error, extra={"source": options.id})
    elif not outcome.unchanged:
        store.replace_records(options.id, outcome.records, now)
    result.records = store.record_count(options.id)
    _record_health(store, options.id, result, now)
    return result


def _record_health(store: Store, source_id: str, result: SourceResult, now: datetime) -> None:
    stamp = now.isoformat()
    with store.transaction() as db:
        row = db.execute("SELECT records_found, consecutive_failures FROM source_health WHERE source = ?",
                         (source_id,)).fetchone()
        if result.ok:
            if row and row["records_found"] and result.records == 0:
                result.warnings.append(f"yielded no events, after {row['records_found']} last time; "
                                       "has the page or feed changed?")
            db.execute(
                """INSERT INTO source_health (source, last_attempt, last_success, http_status, error_class,
                       error_reason, error_message, records_found, consecutive_failures)
                   VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, 0)
                   ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,
                       last_success = excluded.last_success, http_status = excluded.http_status,
                       error_class = NULL, error_reason = NULL, error_message = NULL,
                       records_found = excluded.records_found, consecutive_failures = 0""",
                (source_id, stamp, stamp, result.http_status, result.records))
        else:
            db.execute(
                """INSERT INTO source_health (source, last_attempt, http_status, error_class, error_reason,
                       error_message, consecutive_failures)
                   VALUES (?, ?, ?, ?, ?, ?, 1)
                   ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,
                       http_status = excluded.http_status, error_class = excluded.error_class,
                       error_reason = excluded.error_reason, error_message = excluded.error_message,
                       consecutive_failures = source_health.consecutive_failures + 1""",
                (source_id, stamp, result.http_status, result.error_class, result.error_reason,
                 result.error_message))


def _default_fetcher(config: Config, store: Store) -> Fetcher:
    from aggregator import fetch

    if hasattr(fetch, "make_fetcher"):
        return fetch.make_fetcher(config, store.path.with_name(store.path.name + ".http-cache.sqlite"))
    return fetch.HttpFetcher(connect_timeout=config.fetch.connect_timeout, read_timeout=config.fetch.read_timeout,
                             max_bytes=config.fetch.max_bytes,
                             allow_local_paths=any(s.allows_local_path for s in config.sources))
