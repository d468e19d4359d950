"""What one source's requests share (its deadline, trusted origins, counters), the thread-local
context the transport reads for the request in flight, and the watchdog that ends a read at
the source's deadline."""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class SourceState:
    """What one source's fetches share: its deadline, trusted origins, counters."""

    deadline: float  # seconds allowed in all
    started: float | None = None  # time.monotonic() of the first request
    trusted: set = field(default_factory=set)  # (host, port) of URLs the curator wrote
    allow_local: bool = False
    obey_robots: bool = False
    source_id: str | None = None
    requests: int = 0
    responses: int = 0
    unchanged: int = 0
    last_status: int | None = None
    moved_to: str | None = None
    retry_after: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    @property
    def deadline_at(self) -> float:
        return (self.started if self.started is not None else time.monotonic()) + self.deadline

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()


class RequestContext:
    """Thread-local knobs the adapter and connections read for the request in flight."""

    def __init__(self, state: SourceState, ip_check: Callable[[str, str], None] | None,
                 max_bytes: int, on_request: Callable[[], None]) -> None:
        self.state = state
        self.ip_check = ip_check
        self.max_bytes = max_bytes
        self.on_request = on_request
        # The sockets this request reads from, for the watchdog to shut down at the deadline. The
        # socket itself is kept, not its connection: http.client drops a connection's socket as
        # soon as a response without a length arrives, while that response still reads from it.
        self.sockets: list = []
        self.expired = _Flag()

    def watch(self, sock) -> None:
        """Note a socket this request reads from; shut it at once if the deadline already passed."""
        if sock is None:
            return
        self.sockets.append(sock)
        if self.expired.is_set():
            shut(sock)

    def expire(self) -> None:
        """The source's deadline passed: every read of this request ends now (the peer may
        trickle a byte at a time forever, which no read timeout notices)."""
        self.expired.set()
        for sock in list(self.sockets):
            shut(sock)


class _Flag:
    """Set once, from the watchdog's thread; read by the request's. Nobody waits on it, so a
    plain attribute does what a threading.Event would (whose lock and condition, made for every
    request, cost more than the flag is ever read)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


LOCAL = threading.local()


def current_context() -> RequestContext | None:
    return getattr(LOCAL, "ctx", None)


class _Watchdog:
    """One thread that shuts down sockets whose source ran past its deadline (a 1 B/s trickle
    never trips a read timeout, so the deadline has to be enforced from outside the read)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, callback: Callable[[], None]) -> list:
        entry = [when, next(self._seq), callback]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:  # due before the one it sleeps for: it must wake (else let it sleep)
                self._cond.notify()
        return entry

    def disarm(self, entry: list) -> None:
        with self._cond:
            entry[2] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, callback = self._heap[0]
                if callback is None:
                    heapq.heappop(self._heap)
                    continue
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            try:
                callback()
            except Exception:  # pragma: no cover - best effort
                log.debug("watchdog callback failed", exc_info=True)


WATCHDOG = _Watchdog()
