"""Source records -> one Event per real-world event, with identities stable across runs.

First version: records merge only when they are the same record (same source and
external id); the published uid is the one the record had last run, else its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from aggregator.model import Event


def merge(records: Sequence[Event], known: Mapping[str, str], overrides=None) -> list[Event]:
    events: dict[str, Event] = {}
    for record in records:
        uid = known.get(record.uid, record.uid)
        if uid in events:
            kept = events[uid]
            events[uid] = replace(kept, sources=tuple(sorted(set(kept.sources + record.sources),
                                                             key=lambda s: (s.source, s.external_id))))
        else:
            events[uid] = replace(record, uid=uid)
    return list(events.values())
