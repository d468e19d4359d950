"""events -> events.json, field for field the contract in ARCHITECTURE.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from json.encoder import encode_basestring

from aggregator.codec import event_to_dict
from aggregator.merge.normalize import safe_url
from aggregator.model import Event
from aggregator.publish.fragments import Fragments, cached, salt


def _published(event: Event) -> dict:
    """The event as events.json gives it. Links are escaped once more, as in calendar.ics and the
    page: a record stored by an older version keeps its link until its source is read again, and a
    quote mark in a link must never reach a consumer raw."""
    data = event_to_dict(event, revision=False)
    data["url"] = _escaped(data["url"])
    for ref in data["sources"]:
        ref["url"] = _escaped(ref["url"])
    return data


def _escaped(url: str | None) -> str | None:
    """The link percent-escaped; one that is no web address at all stays as it was, for the page
    (which renders from events.json) to show as plain text rather than a link."""
    return (safe_url(url) or url) if url else url


def dumps_indented(value, pad: str = "") -> str:
    """json.dumps(value, ensure_ascii=False, indent=1), every line after the first starting with
    `pad`. The same bytes in half the time: json.dumps with an indent leaves its C encoder for a
    pure-Python one, and events.json holds thousands of small objects of strings, lists and dicts."""
    if isinstance(value, str):
        return encode_basestring(value)  # the C function json.dumps itself uses for ensure_ascii=False
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    inner = pad + " "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [encode_basestring(key) + ": " + dumps_indented(item, inner) for key, item in value.items()
                 if isinstance(key, str)]
        if len(items) != len(value):  # keys json.dumps would convert: let it
            return json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n" + pad)
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + inner + (",\n" + inner).join(dumps_indented(item, inner) for item in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)  # numbers (a string never holds a raw newline)


def _entry(event: Event) -> str:
    """One entry as json.dumps(document, indent=1) writes it inside the events list (two levels in)."""
    return dumps_indented(_published(event), "  ")


def render_json(events: Sequence[Event], generated: datetime, *, fragments: Fragments | None = None) -> bytes:
    """events.json; with `fragments`, entries of events unchanged since an earlier publish are
    reused (the same bytes json.dumps writes: string values never hold a raw newline)."""
    stamp = generated.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    if not events:
        return (dumps_indented({"generated": stamp, "events": []}) + "\n").encode("utf-8")
    piece_salt = salt("json") if fragments is not None else ""
    entries = [cached(fragments, "json", e, piece_salt, lambda e=e: _entry(e)) for e in events]
    head = json.dumps({"generated": stamp}, ensure_ascii=False, indent=1)[:-2]  # '{\n "generated": "..."'
    return (head + ',\n "events": [\n  ' + ",\n  ".join(entries) + "\n ]\n}\n").encode("utf-8")
