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
    """One entry as json.dumps(document, indent=1) writes it inside the events list (two levels in):
    dumps_indented(_published(event), "  "), written field by field without the dict and the walk
    over it (a first publish writes thousands; a test holds the two to the same text). Each value
    goes through dumps_indented with the pad of its level, whatever its type."""
    v = dumps_indented
    field, item, sub = "   ", "    ", "     "  # the pads of a field, a list item, a source's field
    start, end, tags, sources = event.start, event.end, event.tags, event.sources
    return "".join((
        '{\n   "uid": ', v(event.uid, field),
        ',\n   "title": ', v(event.title, field),
        ',\n   "start": ', v(None if start is None else start.isoformat(), field),
        ',\n   "end": ', v(None if end is None else end.isoformat(), field),
        ',\n   "all_day": ', v(event.all_day, field),
        ',\n   "timezone": ', v(event.timezone, field),
        ',\n   "location": ', v(event.location, field),
        ',\n   "url": ', v(_escaped(event.url), field),
        ',\n   "description": ', v(event.description, field),
        ',\n   "status": ', v(str(event.status), field),
        ',\n   "region": ', v(event.region, field),
        ',\n   "tags": ', "[\n    " + ",\n    ".join(v(t, item) for t in tags) + "\n   ]" if tags else "[]",
        ',\n   "sources": ', "[\n    " + ",\n    ".join(
            '{\n     "source": ' + v(ref.source, sub) + ',\n     "url": ' + v(_escaped(ref.url), sub)
            + ',\n     "external_id": ' + v(ref.external_id, sub) + "\n    }" for ref in sources) + "\n   ]"
        if sources else "[]",
        "\n  }"))


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
