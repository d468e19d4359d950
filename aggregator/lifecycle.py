"""Revisions of published events: SEQUENCE, LAST-MODIFIED and cancellation.

First version: SEQUENCE +1 when start, end, status, location or title change;
events whose sources were read fine but no longer list them are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from aggregator.model import Event

_REVISED = ("title", "start", "end", "status", "location")


def reconcile(merged: Sequence[Event], previous: Mapping[str, Event], ok_sources: set[str],
              now: datetime) -> list[Event]:
    result = []
    for event in merged:
        old = previous.get(event.uid)
        if old is None:
            result.append(replace(event, sequence=0, last_modified=now))
        elif any(getattr(old, f) != getattr(event, f) for f in _REVISED):
            result.append(replace(event, sequence=old.sequence + 1, last_modified=now))
        else:
            result.append(replace(event, sequence=old.sequence, last_modified=old.last_modified or now))
    return result
