"""events -> events.json, field for field the contract in ARCHITECTURE.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from dataclasses import replace

from aggregator.codec import event_to_dict
from aggregator.merge.normalize import safe_url
from aggregator.model import Event
from aggregator.publish.fragments import Fragments, cached, salt


def _published(event: Event) -> dict:
    """The event as events.json gives it. Links are escaped once more, as in calendar.ics and the
    page: a record stored by an older version keeps its link until its source is read again, and a
    quote mark in a link must never reach a consumer raw."""
    sources = tuple(replace(ref, url=_escaped(ref.url)) for ref in event.sources)
    return event_to_dict(replace(event, url=_escaped(event.url), sources=sources), revision=False)


def _escaped(url: str | None) -> str | None:
    """The link percent-escaped; one that is no web address at all stays as it was, for the page
    (which renders from events.json) to show as plain text rather than a link."""
    return (safe_url(url) or url) if url else url


def _entry(event: Event) -> str:
    """One entry as json.dumps(document, indent=1) writes it inside the events list (two levels in)."""
    return json.dumps(_published(event), ensure_ascii=False, indent=1).replace("\n", "\n  ")


def render_json(events: Sequence[Event], generated: datetime, *, fragments: Fragments | None = None) -> bytes:
    """events.json; with `fragments`, entries of events unchanged since an earlier publish are
    reused (the same bytes json.dumps writes: string values never hold a raw newline)."""
    stamp = generated.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    if fragments is None or not events:
        document = {"generated": stamp, "events": [_published(e) for e in events]}
        return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    piece_salt = salt("json")
    entries = [cached(fragments, "json", e, piece_salt, lambda e=e: _entry(e)) for e in events]
    head = json.dumps({"generated": stamp}, ensure_ascii=False, indent=1)[:-2]  # '{\n "generated": "..."'
    return (head + ',\n "events": [\n  ' + ",\n  ".join(entries) + "\n ]\n}\n").encode("utf-8")
