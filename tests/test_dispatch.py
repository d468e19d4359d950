"""Which source a free thread reads next: the busiest host kept busy, the others not starved."""

import threading
import time
from collections import Counter

import pytest

from aggregator.collect.dispatch import run_by_host


def _recorder(hold: float = 0.01):
    lock = threading.Lock()
    now, peak, order = Counter(), Counter(), []

    def call(item):
        host, name, _ = item
        with lock:
            now[host] += 1
            peak[host] = max(peak[host], now[host])
            order.append(name)
        time.sleep(hold)
        with lock:
            now[host] -= 1
        return name

    return call, peak, order


def test_a_host_never_has_more_sources_in_progress_than_its_cap():
    items = [("big", f"big{i}", 1) for i in range(12)] + [(f"h{i}", f"small{i}", 1) for i in range(6)]
    call, peak, _ = _recorder()
    done = list(run_by_host(items, call, threads=8, host=lambda item: item[0], cap=3))
    assert sorted(done) == sorted(name for _, name, _ in items)  # every source read, once
    assert peak["big"] == 3  # the cap is used, and never passed
    assert all(peak[f"h{i}"] == 1 for i in range(6))


def test_the_sources_expected_to_make_most_requests_start_first():
    items = [(f"h{i}", f"light{i}", 1) for i in range(6)] + [("meetup", f"follows{i}", 14) for i in range(2)]
    call, _, order = _recorder()
    list(run_by_host(items, call, threads=1, host=lambda item: item[0], cap=4, weight=lambda item: item[2]))
    assert order[:2] == ["follows0", "follows1"]  # then the light ones, in their order
    assert order[2:] == [f"light{i}" for i in range(6)]


def test_other_hosts_are_read_while_the_capped_host_waits():
    """Eight threads, a host with many slow sources capped at two: the quick sources of other
    hosts do not wait for the slow host's sources to end."""
    items = [("slow", f"slow{i}", 5) for i in range(8)] + [(f"h{i}", f"quick{i}", 1) for i in range(4)]
    finished = []

    def call(item):
        time.sleep(0.2 if item[0] == "slow" else 0.01)
        finished.append(item[1])
        return item[1]

    list(run_by_host(items, call, threads=8, host=lambda item: item[0], cap=2, weight=lambda item: item[2]))
    assert {name for name in finished[:4]} == {f"quick{i}" for i in range(4)}


def test_an_error_in_one_source_reaches_the_caller():
    def call(item):
        if item == "bad":
            raise ValueError("broken")
        return item

    with pytest.raises(ValueError, match="broken"):
        list(run_by_host(["a", "bad", "c"], call, threads=2, host=lambda item: item, cap=1))
