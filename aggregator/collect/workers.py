"""Reading sources in worker processes.

Parsing calendars, pages and mail is CPU-bound Python: under the GIL, threads only overlap
the waiting. A run with many sources therefore forks a few workers (one per CPU by default)
and each reads its share of the sources with its own fetcher and threads. All sources of
one host go to the same worker, so `fetch.per_host` holds across processes and each
robots.txt is fetched once. Outcomes stream back as each source finishes; the parent
stores them, so the store is only ever written by one process.

A worker that dies (killed, out of memory) costs only its unfinished sources: they are
reported as failed with that reason and keep their last good records, like any failure.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlsplit

from aggregator.collect.dispatch import run_by_host
from aggregator.errors import ParseError

MIN_SOURCES_PER_WORKER = 20  # below this a fork costs more than it saves
MAX_AUTO_WORKERS = 4
# A source's fetch has its deadline (fetch.deadline), and reading what came has the same again
# (checked between records, so one long step may overrun it a little). Workers silent for longer
# than twice the deadline + this are stuck, not slow: they are stopped.
STALL_MARGIN = 180.0
# How much lower a worker that mostly parses runs than one waiting on a busy host (measured on
# the one-big-site farm: the busy host's connections sat idle 0.66 -> 0.59 s of 4.6).
PARSER_NICENESS = 10
# How long a thread of that worker keeps the interpreter before another may take it (Python's
# default is 5 ms). Its threads mostly parse, and each forced switch hands the processor's caches
# to another parse's data; its hosts are light, so a thread back from the network can wait.
PARSER_SWITCH_INTERVAL = 0.05

Read = Callable[[object, object], tuple[object, object, float]]  # (options, fetcher) -> (options, outcome, s)


def worker_count(setting: int, sources: int, concurrency: int, *, to_parse: int | None = None) -> int:
    """How many processes read `sources` sources: `fetch.workers` when set (0: automatic),
    never more than the sources or the concurrency allow; 1 where fork is not safe (macOS's
    system libraries are not fork-safe; Windows has no fork).

    Automatic counts only the `to_parse` sources expected to be parsed (default: all): a source
    whose stored body still reads the same costs a conditional request and no parsing, and a
    re-run of such sources is quicker in one process than the forks cost (half the CPU, and the
    busiest host's requests wait on no other process).

    Automatic forks only from a process with one thread (`massage-events run`): in `serve`, web
    and scheduler threads may hold a lock (an import, a C library's) at the moment of the fork,
    and the child would wait on it forever. There the run reads in threads."""
    if not sys.platform.startswith(("linux", "freebsd")) or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if setting:
        return max(1, min(setting, sources, concurrency))
    busy = sources if to_parse is None else min(to_parse, sources)
    if busy < 2 * MIN_SOURCES_PER_WORKER or threading.active_count() > 1:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS, concurrency, busy // MIN_SOURCES_PER_WORKER))


def host_of(options) -> str:
    """The politeness key of a source: its URL's host (a local folder or file is its own key)."""
    url = getattr(options, "url", None) or getattr(options, "path", None) or options.id
    parts = urlsplit(str(url))
    return (parts.hostname or "").lower() if parts.scheme in ("http", "https") else f"local:{options.id}"


def shards(sources: Sequence, n: int, weight: Callable[[object], int] = lambda options: 1) -> list[list]:
    """`sources` split into at most n shards of about equal weight (expected requests), each
    host's sources together.

    Weighing by requests puts a site that serves hundreds of event pages in a worker of its own
    where it can: its requests set the run's floor, and its fetch threads then never wait for
    the interpreter while other sources are parsed."""
    by_host: dict[str, list] = defaultdict(list)
    for options in sources:
        by_host[host_of(options)].append(options)
    bins: list[list[list]] = [[] for _ in range(max(1, n))]
    loads = [0] * len(bins)
    for group in sorted(by_host.values(), key=lambda group: sum(map(weight, group)), reverse=True):
        lightest = min(range(len(bins)), key=lambda i: (loads[i], sum(map(len, bins[i]))))
        bins[lightest].append(group)
        loads[lightest] += sum(map(weight, group))
    # Hosts taken in turn: a worker's threads start on many hosts at once, not all queue on
    # the first host's `per_host` connections.
    return [[o for turn in itertools.zip_longest(*groups) for o in turn if o is not None]
            for groups in bins if groups]


def read_in_processes(sources: Sequence, n: int, make_fetcher: Callable[[], object], read: Read,
                      threads: int, failed: Callable[[object, str], object],
                      deadline: float, per_host_cap: int = 4,
                      weight: Callable[[object], int] = lambda options: 1) -> Iterator[tuple[object, object, float]]:
    """(options, outcome, seconds) of every source, as each finishes, read by n forked workers.

    `make_fetcher()` runs in each worker (a fetcher is never shared across a fork); each worker
    reads its sources through dispatch.run_by_host (`per_host_cap`, `weight`: expected requests);
    `failed(options, message)` makes the outcome of a source whose worker died or got stuck
    (no outcome from any worker for 2 × `deadline` + STALL_MARGIN seconds)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    pending = {options.id: options for options in sources}
    workers = []
    unstarted: list[tuple[list, OSError]] = []
    # The parent's objects move out of the collector's sight while forking: a child's garbage
    # collections then leave their pages alone, not copying them (less memory and CPU per worker).
    gc.freeze()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock the child. Automatic
            # workers fork only a single-threaded run (worker_count); the child builds its own fetcher.
            warnings.simplefilter("ignore", DeprecationWarning)
            plan = shards(sources, n, weight)
            loads = [sum(map(weight, shard)) for shard in plan]
            for shard, load in zip(plan, loads):
                # A worker with far fewer requests than the busiest mostly parses: it yields the CPU
                # to the one waiting on the busiest host, whose requests set the run's floor.
                parses = 2 * load <= max(loads)
                worker = context.Process(target=_work, args=(shard, make_fetcher, read, threads, results,
                                                             os.getpid(), failed, per_host_cap, weight, parses),
                                         name="massage-events-reader", daemon=True)
                try:
                    worker.start()
                except OSError as error:  # no memory or processes left for a fork
                    unstarted.append((shard, error))
                    continue
                workers.append(worker)
    finally:
        gc.unfreeze()
    stuck = False
    try:
        for shard, error in unstarted:
            for options in shard:
                del pending[options.id]
                yield options, failed(options, f"no worker process could be started for it ({error}); "
                                               "it is read again next run"), 0.0
        last_news = time.monotonic()
        while pending:
            try:
                source_id, seconds, payload = results.get(timeout=0.25)
            except queue_module.Empty:
                if time.monotonic() - last_news > 2 * deadline + STALL_MARGIN:
                    stuck = True
                    break
                if any(w.is_alive() for w in workers):
                    continue
                try:  # every worker has ended: what is still in the pipe is all there is
                    source_id, seconds, payload = results.get(timeout=0.5)
                except queue_module.Empty:
                    break
            last_news = time.monotonic()
            options = pending.pop(source_id, None)
            if options is not None:
                yield options, pickle.loads(payload), seconds
        if stuck:
            for worker in workers:
                worker.kill()
            why = f"its worker process gave no answer for {2 * deadline + STALL_MARGIN:.0f} s and was stopped"
        else:
            codes = sorted({w.exitcode for w in workers if w.exitcode not in (0, None)} or {None}, key=str)
            why = "its worker process stopped unexpectedly (" + (
                f"exit code {codes[0]}" if codes[0] is not None else "no answer") + ")"
        for options in pending.values():
            yield options, failed(options, f"{why}; it is read again next run"), 0.0
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        results.close()
        results.join_thread()


def _work(shard: list, make_fetcher: Callable[[], object], read: Read, threads: int, results,
          parent: int, failed: Callable[[object, str], object], per_host_cap: int,
          weight: Callable[[object], int], parses: bool = False) -> None:
    """A worker: read every source of the shard, sending each outcome as it is ready. `parses`:
    its shard is parsing more than waiting, so it runs at a lower priority (PARSER_NICENESS) and its
    threads take turns less often (PARSER_SWITCH_INTERVAL)."""
    _die_with_parent(parent)
    if parses:
        sys.setswitchinterval(PARSER_SWITCH_INTERVAL)
        try:
            os.nice(PARSER_NICENESS)
        except OSError:  # not allowed here: it only costs a little wall time
            pass
    try:
        fetcher = make_fetcher()
    except Exception as error:  # e.g. the HTTP cache cannot be opened: every source says why
        for options in shard:
            message = f"the worker process could not start fetching ({type(error).__name__}: {error})"
            results.put((options.id, 0.0, pickle.dumps(failed(options, message))))
        return
    try:
        for options, outcome, seconds in run_by_host(shard, lambda options: read(options, fetcher), threads=threads,
                                                     host=host_of, cap=per_host_cap, weight=weight):
            try:
                payload = pickle.dumps(outcome)
            except Exception as error:  # an adapter put something unpicklable in a record
                payload = pickle.dumps(type(outcome)(error=ParseError(
                    f"its records could not be passed on ({type(error).__name__}: {error}); "
                    "run with --debug for the traceback", source_id=options.id, reason="adapter_crash")))
            results.put((options.id, seconds, payload))
    finally:
        if hasattr(fetcher, "close"):
            fetcher.close()


def _die_with_parent(parent: int) -> None:
    """On Linux, the kernel kills this worker when the run that forked it dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


__all__ = ["worker_count", "shards", "host_of", "read_in_processes"]
