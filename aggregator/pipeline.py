"""One run: sources -> records -> merged events -> published files.

Each source is read in its own thread and isolated: whatever goes wrong with one
(a typed SourceError, or a bug in an adapter) is reported against it, and its
last good records stay in the store and in the feed. Records are stored per
source in one transaction (with its health); the publish step writes files atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator import __version__
from aggregator.codec import record_text
from aggregator.collect import workers
from aggregator.collect.dispatch import run_by_host
from aggregator.collect.fetch import body_fingerprint
from aggregator.config.settings import CalendarSettings, Config, FilterSettings
from aggregator.errors import ParseError, RecordRejected, SourceError
from aggregator.merge import tagging
from aggregator.merge.normalize import normalize, record_uid
from aggregator.model import Event, RawEvent, Window
from aggregator.publish import outputs
from aggregator.publish.fragments import Fragments
from aggregator.report import RunReport, SourceResult
from aggregator.store import health
from aggregator.store.database import Store
from aggregator.timezones import resolve_zone
from sources.base import Fetched, Fetcher, Skipped, SourceOptions
from sources.registry import adapter_for

log = logging.getLogger(__name__)

FOLLOWED_KEY = "followed_pages:"  # + source id: store meta, the requests a follow: source's records came from


@dataclass
class SourceOutcome:
    records: list[Event] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    error: SourceError | None = None
    unchanged: bool = False
    http_status: int | None = None
    moved_to: str | None = None  # the source's URL answered 301/308 with this target
    fingerprint: str | None = None  # fetch.body_fingerprint of the source URL's body (of every page it read)
    pages: list[list] | None = None  # a follow: source's requests: [url, accept, discovered, body fingerprint]
    # The records as the store keeps them, (external id, codec.record_text), in place of `records`
    # when a worker process read the source (see _for_parent).
    texts: list[tuple[str, str]] | None = None

    def record_count(self) -> int:
        return len(self.texts) if self.texts is not None else len(self.records)

    def record_texts(self) -> list[tuple[str, str]]:
        """(external id, stored text) of every record, in the order the source listed them."""
        if self.texts is not None:
            return self.texts
        return [(event.sources[0].external_id, record_text(event)) for event in self.records]


class _Unchanged(Exception):
    """The source's document is the same as last run: reuse its stored records."""


class _SourceFetcher:
    """The fetcher as one source sees it: notes statuses, and stops the read early
    when the source's own document is unchanged and its records are in the store.

    A source that follows links (`follow:`) is made of many pages: its fingerprint covers every
    page it read, and `revalidate()` asks for the pages of its last read again (conditional
    requests, answered 304) before any parsing: when every page is the same, nothing is parsed.
    What it fetched is handed to the adapter from memory, never requested twice."""

    def __init__(self, inner: Fetcher, options: SourceOptions, may_skip: bool,
                 known_fingerprint: str | None = None, salt: str = "", max_records: int | None = None, *,
                 pages: bool = False) -> None:
        self.inner = inner
        self.max_records = max_records  # adapters may refuse a document holding more before parsing it
        self.fetch_seconds = 0.0  # time spent waiting on the fetcher (the rest is reading)
        self.options = options
        self.may_skip = may_skip
        self.known_fingerprint = known_fingerprint
        self.salt = salt
        self.fingerprint: str | None = None
        self.last_status: int | None = None
        self.multi_page = pages
        self.page_prints: dict[str, str | None] = {}  # url asked for -> body fingerprint (None: it failed)
        self.requests: list[tuple[str, str | None, bool]] = []  # (url, accept, discovered) in order
        self._kept: dict[str, Fetched | SourceError] = {}

    def check_version(self, version: str | None) -> None:
        """An adapter's version token of its input (a local folder) stands in for a body."""
        if version is None:
            return
        self.fingerprint = f"{version}:{self.salt}"
        if self.may_skip and self.known_fingerprint is not None and self.fingerprint == self.known_fingerprint:
            raise _Unchanged

    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        kept = self._kept.pop(url, None)
        if isinstance(kept, SourceError):
            raise kept
        if kept is None:
            fetched = self._fetch(url, accept, discovered)
        else:
            fetched = kept
            self.requests.append((url, accept, discovered))
        if url == self.options.url and not self.multi_page:
            self.fingerprint = f"{self.page_prints[url]}:{self.salt}"
            if self.may_skip and self.known_fingerprint is not None and self.fingerprint == self.known_fingerprint:
                raise _Unchanged
        return fetched

    def _fetch(self, url: str, accept: str | None, discovered: bool) -> Fetched:
        self.requests.append((url, accept, discovered))
        began = time.monotonic()
        try:
            fetched = self.inner.get(url, accept=accept, discovered=discovered)
        except SourceError:
            # Remembered as failed: a page that failed is asked for again, and its source read
            # again, until it answers (a source is never "unchanged" with a page missing).
            self.page_prints[url] = None
            raise
        finally:
            self.fetch_seconds += time.monotonic() - began
        self.last_status = fetched.status
        # The fetcher's HTTP cache hashed the body already (the same function); else hash it here.
        self.page_prints[url] = fetched.fingerprint or body_fingerprint(fetched.content)
        return fetched

    def pages_fingerprint(self) -> str | None:
        """One fingerprint of the pages the source was read from (a multi-page source), None when
        none was."""
        urls = sorted({url for url, _, _ in self.requests})
        if not urls:
            return None
        lines = "\n".join(f"{url} {self.page_prints.get(url)}" for url in urls)
        return f"{hashlib.sha256(lines.encode()).hexdigest()}:{self.salt}"

    def revalidate(self, pages: list[list]) -> None:
        """Ask again for every page the last read asked for, in its order; raise _Unchanged when
        each is what it was (nothing parsed). At the first page that changed (or failed) stop, and
        keep what came for the adapter's read."""
        for url, accept, discovered, digest in pages:
            try:
                self._kept[url] = self._fetch(url, accept, discovered)
            except SourceError as error:
                self._kept[url] = error  # the adapter meets it as it would have, without a second request
                break
            if digest is None or self.page_prints[url] != digest:
                break
        else:
            if pages and self.pages_fingerprint() == self.known_fingerprint:
                raise _Unchanged
        self.requests.clear()  # the adapter's read decides which pages the source is made of


def window_for(calendar: CalendarSettings, now: datetime) -> Window:
    now = now.astimezone(timezone.utc)
    return Window(start=now - timedelta(days=calendar.past_days), end=now + timedelta(days=calendar.horizon_days))


def read_source(options: SourceOptions, calendar: CalendarSettings, fetcher: Fetcher, window: Window,
                *, filters: FilterSettings | None = None, may_skip_unchanged: bool = False,
                known_fingerprint: str | None = None, tag_rules=None, max_records: int | None = None,
                deadline: float | None = None, known_pages: list[list] | None = None,
                salt: str | None = None) -> SourceOutcome:
    """Read and normalize one source, storing nothing. Never raises for a bad source.

    Limits: more than `max_records` records, or more than `deadline` seconds spent reading
    (time waiting on the fetcher aside: that has its own deadline), fail the source alone.

    `filters` are the global keyword rules: their excludes add to the source's, and their
    includes apply to a source that has none of its own. `salt`: its _reading_salt, when the run
    has it already.
    """
    outcome = SourceOutcome()
    options = _reading_options(options, calendar, filters)
    own = fetcher.for_source(options) if hasattr(fetcher, "for_source") else fetcher
    # A source that follows links is only unchanged when every page is: all are asked for again.
    follows = bool(getattr(options, "follow", None))
    view = _SourceFetcher(own, options, may_skip_unchanged, known_fingerprint,
                          salt or _reading_salt(options, calendar, window, tag_rules), max_records, pages=follows)
    began = time.monotonic()
    try:
        adapter = adapter_for(options.type)()
        view.check_version(adapter.version(options))
        if follows and may_skip_unchanged and known_fingerprint is not None and known_pages:
            view.revalidate(known_pages)
        seen: set[str] = set()
        yielded = 0  # records (RawEvents) the adapter yielded; what it passed over itself does not count
        for item in adapter.read(options, view, window):
            yielded += isinstance(item, RawEvent)
            _within_limits(options, view, yielded, began, max_records, deadline)
            if isinstance(item, Skipped):
                outcome.skipped.append(item)
                continue
            if not isinstance(item, RawEvent):
                raise TypeError(f"adapter yielded {type(item).__name__}, not RawEvent")
            try:
                event = normalize(item, options, calendar, window)
                event = tagging.tag_or_reject(event, options, tag_rules)  # config.tags; None: defaults
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
    outcome.moved_to = getattr(own, "moved_to", None)
    if follows and view.fingerprint is None:
        outcome.fingerprint = view.pages_fingerprint()
        outcome.pages = None if outcome.unchanged else [
            [url, accept, discovered, view.page_prints.get(url)] for url, accept, discovered in view.requests]
    else:
        outcome.fingerprint = view.fingerprint
    return outcome


def _within_limits(options: SourceOptions, view: _SourceFetcher, count: int, began: float,
                   max_records: int | None, deadline: float | None) -> None:
    """Stop a source that yields too much, or takes too long to read, before it costs the run."""
    if max_records is not None and count > max_records:
        raise ParseError(f"{options.url} yields more than {max_records:,} records, the most one source may "
                         "hold (fetch.max_records); it was not read, and its last good events stay. Raise "
                         "fetch.max_records if the source is genuine", source_id=options.id,
                         reason="too_many_records")
    if deadline is not None and time.monotonic() - began - view.fetch_seconds > deadline:
        raise ParseError(f"{options.url} took longer than {deadline:g} s to read (fetch.deadline); it was "
                         "not read, and its last good events stay", source_id=options.id, reason="too_slow")


def _reading_options(options: SourceOptions, calendar: CalendarSettings,
                     filters: FilterSettings | None) -> SourceOptions:
    """A source's options as it is read: the calendar's zone by default, the global filters added."""
    update = {"timezone": options.timezone or calendar.timezone}
    if filters is not None:
        update["exclude"] = tuple(dict.fromkeys(options.exclude + filters.exclude))
        update["include"] = options.include or filters.include
    return options.model_copy(update=update)


def _likely_unchanged(salt: str, known: str | None) -> bool:
    """Whether the source's stored records were read as it would be read now (same settings, day
    and version: the same reading salt): then only a changed body makes it parse again."""
    return known is not None and known.endswith(":" + salt)


def _reading_salt(options: SourceOptions, calendar: CalendarSettings, window: Window, tag_rules) -> str:
    """What else, besides the body, decides a source's records: its settings (after the global
    filters), the calendar's zone, the tag rules, this version, and the day (the window moves, so
    a series yields new occurrences). A body seen with the same salt needs no re-parsing."""
    rules = tag_rules.model_dump_json() if hasattr(tag_rules, "model_dump_json") else repr(tag_rules)
    text = "\x00".join((options.model_dump_json(), calendar.timezone, str(calendar.horizon_days),
                        str(calendar.past_days), rules, __version__, window.end.date().isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


ProgressFn = Callable[[int, int, SourceResult], None]


def run(config: Config, store: Store, out_dir: Path, *, now: datetime | None = None,
        fetcher: Fetcher | None = None, progress: ProgressFn | None = None, lock_wait: float = 0.0) -> RunReport:
    """Fetch every enabled source, merge, store and publish. A failing source never stops the run.

    One run at a time per database: the run holds the store's run lock, waiting up to
    `lock_wait` seconds for another holder (a cron `run`, serve's refresh) before it raises
    RunInProgress, which names the holder.

    Without a `fetcher`, the run builds its own from `fetch:` (with the HTTP cache next to the
    database) and, for many sources, reads them in worker processes (aggregator/collect/workers.py)."""
    now = now or datetime.now(timezone.utc)
    report = RunReport(started=now)
    wall = time.monotonic()
    window = window_for(config.calendar, now)
    with store.run_lock(wait=lock_wait), store.relaxed_sync():
        return _run(config, store, Path(out_dir), now, fetcher, progress, report, wall, window)


def _run(config: Config, store: Store, out_dir: Path, now: datetime, fetcher: Fetcher | None,
         progress: ProgressFn | None, report: RunReport, wall: float, window: Window) -> RunReport:
    run_id = store.start_run(now)
    outputs.repair(out_dir)  # finish a publish a killed run left halfway, before anything else
    sources = [s for s in config.sources if s.enabled]
    report.withdrawn = store.drop_sources_except(s.id for s in sources)
    has_records = {s.id: store.record_count(s.id) > 0 for s in sources}
    known = {s.id: health.stored_fingerprint(store, s.id) for s in sources}
    known_pages = {s.id: _followed_pages(store, s.id) for s in sources if getattr(s, "follow", None)}

    due, deferred = [], []
    for options in sources:
        (due if health.should_fetch(store, options.id, now) else deferred).append(options)
    for options in deferred:  # backing off after failures: its stored records stay published
        report.sources.append(SourceResult(source_id=options.id, ok=False, deferred=True,
                                           records=store.record_count(options.id),
                                           error_message=f"backing off until {health.next_attempt(store, options.id)}"))
    sources = due

    def work(options: SourceOptions, fetcher: Fetcher) -> tuple[SourceOptions, SourceOutcome, float]:
        began = time.monotonic()
        outcome = read_source(options, config.calendar, fetcher, window, filters=config.filters,
                              tag_rules=config.tags,
                              may_skip_unchanged=has_records[options.id], known_fingerprint=known[options.id],
                              max_records=config.fetch.max_records, deadline=config.fetch.deadline,
                              known_pages=known_pages.get(options.id), salt=salts[options.id])
        return options, outcome, time.monotonic() - began

    def expected_requests(options: SourceOptions) -> int:
        """How many requests reading the source takes: its pages of last time, or for a source that
        follows links and has none yet, as many as it may follow."""
        pages = known_pages.get(options.id)
        if pages:
            return len(pages)
        return 1 + (getattr(options, "follow_limit", 0) if getattr(options, "follow", None) else 0)

    ok_sources: set[str] = set()
    # Each source's reading salt, made once here (reading options, JSON, hash) for both uses.
    salts = {s.id: _reading_salt(_reading_options(s, config.calendar, config.filters), config.calendar, window,
                                 config.tags) for s in sources}
    to_parse = sum(1 for s in sources if not (has_records[s.id] and _likely_unchanged(salts[s.id], known[s.id])))
    reading = _read_all(config, store, sources, work, fetcher, to_parse, expected_requests)
    for done, (options, outcome, seconds) in enumerate(reading, 1):
        result = _settle(store, options, outcome, now, seconds, config)
        if result.ok:
            ok_sources.add(options.id)
        report.sources.append(result)
        if progress:
            progress(done, len(sources), result)
    # Deferred sources were not read: for the lifecycle they are like failing ones.
    report.sources.sort(key=lambda r: r.source_id)

    # Nothing new from any source, the same settings and the same day: what is published stands.
    key = _publish_key(config, now)
    changed = bool(report.withdrawn) or any(r.changed for r in report.sources)
    names = ("calendar.ics", "events.json", "index.html")
    if not changed and store.get_meta("publish_key") == key and all((out_dir / n).exists() for n in names):
        report.events_published = store.published_count()  # counted, not decoded: nothing is published
        report.outputs = [out_dir / n for n in names]
        report.republished = False
    else:
        store.set_meta("publish_key", "")  # a publish killed halfway is redone by the next run
        events = merge_and_store(config, store, ok_sources, now)
        report.outputs = publish_events(config, store, out_dir, events, now)
        store.set_meta("publish_key", key)
        report.events_published = len(events)
    report.finished = now + timedelta(seconds=time.monotonic() - wall)
    store.finish_run(run_id, report.finished, report.as_dict())
    return report


def _read_all(config: Config, store: Store, sources: list[SourceOptions], work, fetcher: Fetcher | None,
              to_parse: int | None = None, weight: Callable[[SourceOptions], int] = lambda options: 1):
    """(options, outcome, seconds) of every source as each finishes: in worker processes when the
    run owns its fetcher and has many sources to parse (`to_parse`: those whose stored records
    were not read as they would be now), else in threads of this process. Either way the
    sources expected to make the most requests (`weight`) start first, and no host has more than
    twice its connections' worth of sources in progress (collect/dispatch.py)."""
    cap = 2 * config.fetch.per_host
    n = workers.worker_count(config.fetch.workers, len(sources), config.fetch.concurrency, to_parse=to_parse)
    if fetcher is None and n > 1:
        _default_fetcher(config, store).close()  # the HTTP cache's tables exist before workers share it
        yield from workers.read_in_processes(
            sources, n, lambda: _default_fetcher(config, store), lambda *args: _for_parent(*work(*args)),
            threads=max(1, config.fetch.concurrency // n), deadline=config.fetch.deadline,
            failed=lambda options, message: SourceOutcome(error=SourceError(
                message, source_id=options.id, reason="worker_died")),
            per_host_cap=cap, weight=weight)
        return
    own = fetcher is None
    fetcher = _default_fetcher(config, store) if own else fetcher
    try:
        yield from run_by_host(sources, lambda options: work(options, fetcher), threads=config.fetch.concurrency,
                               host=workers.host_of, cap=cap, weight=weight)
    finally:
        if own and hasattr(fetcher, "close"):
            fetcher.close()


def _for_parent(options: SourceOptions, outcome: SourceOutcome, seconds: float):
    """A worker's outcome as it travels to the run: its records already encoded as the store keeps
    them. The run only stores them, and a list of strings unpickles many times faster than one of
    events (a frozen dataclass sets each field in Python), so the serial parent does less."""
    outcome.texts = outcome.record_texts()
    outcome.records = []
    return options, outcome, seconds


def _publish_key(config: Config, now: datetime) -> str:
    """What the published files depend on besides the records: the whole config, this version,
    and the calendar's date (events end, cancelled ones drop off)."""
    zone = resolve_zone(config.calendar.timezone) or timezone.utc
    text = "\x00".join((config.model_dump_json(), __version__, now.astimezone(zone).date().isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def merge_and_store(config: Config, store: Store, ok_sources: set[str], now: datetime) -> list[Event]:
    """All current records -> merged, revised events, stored as what is published."""
    # Here, not at the top: a run where nothing changed never merges (rapidfuzz and friends).
    from aggregator.merge import dedupe, lifecycle

    records = store.records()
    previous = store.previous_events()
    overrides = config.merge
    merged = dedupe.merge(records, store.known_links(), overrides, first_published=store.first_published(),
                          previous=previous, source_types={s.id: s.type for s in config.sources},
                          source_zones={s.id: s.timezone or config.calendar.timezone for s in config.sources})
    events = lifecycle.reconcile(merged, previous, ok_sources, now, overrides=overrides,
                                 known_sources=[s.id for s in config.sources if s.enabled])
    links = {record_uid(ref.source, ref.external_id): event.uid for event in merged for ref in event.sources}
    return store.save_events(events, links, now)  # what published_events() would read back


def publish_events(config: Config, store: Store, out_dir: Path, events: list[Event], now: datetime) -> list[Path]:
    """Write the outputs, rendering only the events that changed since the last publish: the
    pieces of the others (VEVENT, events.json entry, page card) come from the store."""
    fragments = Fragments(store.publish_fragments())
    written = outputs.publish(out_dir, config, events, now, fragments=fragments)
    if fragments.changed:
        store.save_publish_fragments(fragments.used)
    return written


def _followed_pages(store: Store, source_id: str) -> list[list] | None:
    """Every request a follow: source's stored records were read from (its listing first)."""
    text = store.get_meta(FOLLOWED_KEY + source_id)
    if not text:
        return None
    try:
        return [[str(url), accept, bool(discovered), digest] for url, accept, discovered, digest in json.loads(text)]
    except (ValueError, TypeError):
        return None


def _settle(store: Store, options: SourceOptions, outcome: SourceOutcome, now: datetime,
            seconds: float, config: Config) -> SourceResult:
    """Store a source's outcome and its health, and say how it went."""
    result = SourceResult(source_id=options.id, ok=outcome.error is None, seconds=seconds,
                          skipped=len(outcome.skipped), unchanged=outcome.unchanged,
                          http_status=outcome.http_status)
    for item in outcome.skipped:
        result.skipped_reasons[item.reason.split(";")[0][:80]] += 1
    if outcome.error is not None:
        error = outcome.error
        result.error_class = type(error).__name__
        result.error_reason = error.reason
        result.error_message = error.message
        log.warning("%s", error, extra={"source": options.id})
    interval = timedelta(minutes=options.refresh_minutes) if options.refresh_minutes else None
    # One transaction, one commit, for the source's records, the pages they came from and its
    # health (with the fingerprint that lets the next run skip it): a run killed at any moment has
    # stored all of it or none, and none means the next run reads the source again.
    with store.transaction():
        stored = None  # how many records the source holds now, when known without asking
        if outcome.error is not None or outcome.unchanged:
            pass  # failed, or the same as last run: its stored records stand
        elif health.is_sudden_zero(store, options.id, outcome.record_count()):
            outcome.fingerprint = None  # kept records are not this body's: parse it again next run
        else:
            texts = outcome.record_texts()
            result.changed = store.replace_record_texts(options.id, texts, now)
            stored = len({external_id for external_id, _ in texts})
            if outcome.pages is not None:  # with the fingerprint: which pages to ask for again
                store.set_meta(FOLLOWED_KEY + options.id, json.dumps(outcome.pages))
        result.records = store.record_count(options.id) if stored is None else stored
        result.warnings += health.record_outcome(
            store, options.id, ok=result.ok, records=result.records if outcome.unchanged else outcome.record_count(),
            error=outcome.error, http_status=outcome.http_status, now=now, interval=interval,
            moved_to=outcome.moved_to, fingerprint=outcome.fingerprint if result.ok else None)
    return result


def _default_fetcher(config: Config, store: Store) -> Fetcher:
    from aggregator.collect.fetch import cache_path_for, make_fetcher

    return make_fetcher(config, cache_path_for(store.path))
