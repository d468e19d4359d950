"""Which source a free thread reads next.

A run is as slow as its busiest host: a site carrying hundreds of event pages can serve only
`fetch.per_host` of them at once, so its requests set the floor and every moment that host sits
idle is added to the run's wall time. Two habits keep it busy from the first request to the last:

- the longest sources start first (a source that follows links makes one request per event page,
  one after the other), so the busiest host is never left with its work at the end;
- a host has at most `cap` sources in progress at once. More would only queue for its
  connections while holding threads that other hosts' sources could use.

The sources of one host that follows links cannot be fetched faster than the host allows anyway;
what this buys is that they never wait for a thread, and the other hosts never wait for them.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def heaviest_first(items: Sequence[T], weight: Callable[[T], int]) -> list[T]:
    """`items` by expected requests, most first; equal ones keep their order (hosts in turn)."""
    return sorted(items, key=weight, reverse=True)


def run_by_host(items: Sequence[T], call: Callable[[T], R], *, threads: int, host: Callable[[T], str],
                cap: int, weight: Callable[[T], int] = lambda item: 1) -> Iterator[R]:
    """call(item) for every item in `threads` threads, yielding each result as it is ready.

    Items start heaviest first, never more than `cap` of one host at once. An exception raised by
    `call` is raised here, like a future's result. Threads start the next item themselves as they
    finish, so a slow consumer of the results never leaves a thread idle."""
    # Each item's host once (a URL parsed per look would cost more than the choosing).
    waiting = [(host(item), item) for item in heaviest_first(items, weight)]
    total = len(waiting)
    if not total:
        return
    results: queue.SimpleQueue = queue.SimpleQueue()
    lock = threading.Lock()
    in_progress: Counter = Counter()
    running = 0

    with ThreadPoolExecutor(max_workers=max(1, min(threads, total)), thread_name_prefix="source") as pool:

        def start_more() -> None:  # with the lock held
            nonlocal running
            i = 0
            while running < threads and i < len(waiting):
                key, item = waiting[i]
                if in_progress[key] >= cap:
                    i += 1
                    continue
                del waiting[i]
                in_progress[key] += 1
                running += 1
                pool.submit(task, item, key)

        def task(item: T, key: str) -> None:
            nonlocal running
            try:
                results.put((call(item), None))
            except BaseException as error:  # handed to the consumer, as a future would
                results.put((None, error))
            finally:
                with lock:
                    in_progress[key] -= 1
                    running -= 1
                    start_more()

        with lock:
            start_more()
        try:
            for _ in range(total):
                value, error = results.get()
                if error is not None:
                    raise error
                yield value
        finally:  # the consumer stopped early: start nothing more, let the running ones end
            with lock:
                waiting.clear()


__all__ = ["heaviest_first", "run_by_host"]
