"""events -> events.json, field for field the contract in ARCHITECTURE.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from aggregator.codec import event_to_dict
from aggregator.model import Event
from aggregator.publish.fragments import Fragments, cached, salt


def _entry(event: Event) -> str:
    """One entry as json.dumps(document, indent=1) writes it inside the events list (two levels in)."""
    return json.dumps(event_to_dict(event, revision=False), ensure_ascii=False, indent=1).replace("\n", "\n  ")


def render_json(events: Sequence[Event], generated: datetime, *, fragments: Fragments | None = None) -> bytes:
    """events.json; with `fragments`, entries of events unchanged since an earlier publish are
    reused (the same bytes json.dumps writes: string values never hold a raw newline)."""
    stamp = generated.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    if fragments is None or not events:
        document = {"generated": stamp, "events": [event_to_dict(e, revision=False) for e in events]}
        return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    piece_salt = salt("json")
    entries = [cached(fragments, "json", e, piece_salt, lambda e=e: _entry(e)) for e in events]
    head = json.dumps({"generated": stamp}, ensure_ascii=False, indent=1)[:-2]  # '{\n "generated": "..."'
    return (head + ',\n "events": [\n  ' + ",\n  ".join(entries) + "\n ]\n}\n").encode("utf-8")
