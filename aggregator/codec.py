"""Event <-> JSON-ready dict. The dict is the events.json entry (the contract), plus
the revision fields the store keeps ("sequence", "last_modified")."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from aggregator.model import Event, SourceRef, Status
from aggregator.timezones import resolve_zone


def _time_out(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_in(text: str | None, all_day: bool) -> datetime | date | None:
    if text is None:
        return None
    if all_day and len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def event_to_dict(event: Event, *, revision: bool = True) -> dict[str, Any]:
    """The events.json entry, field for field; with revision=True also sequence and last_modified."""
    data = {
        "uid": event.uid,
        "title": event.title,
        "start": _time_out(event.start),
        "end": _time_out(event.end),
        "all_day": event.all_day,
        "timezone": event.timezone,
        "location": event.location,
        "url": event.url,
        "description": event.description,
        "status": str(event.status),
        "region": event.region,
        "tags": list(event.tags),
        "sources": [{"source": s.source, "url": s.url, "external_id": s.external_id} for s in event.sources],
    }
    if revision:
        data["sequence"] = event.sequence
        data["last_modified"] = _time_out(event.last_modified)
    return data


def record_text(event: Event) -> str:
    """A source record as the store keeps it: its events.json entry (no revision fields) as JSON,
    keys in event_to_dict's fixed order, so the text of an unchanged record is the same text."""
    return json.dumps(event_to_dict(event, revision=False), ensure_ascii=False)


_STATUSES = {status.value: status for status in Status}  # Status(text) costs an Enum call per event


def event_from_dict(data: dict[str, Any]) -> Event:
    all_day = bool(data["all_day"])
    start = _time_in(data["start"], all_day)
    end = _time_in(data.get("end"), all_day)
    if not all_day and isinstance(start, datetime) and start.tzinfo is not None:
        # Keep the event's own zone rather than the fixed offset ISO text carries.
        zone = resolve_zone(data.get("timezone"))
        if zone is not None:
            start = start.astimezone(zone)
            end = end.astimezone(zone) if isinstance(end, datetime) else end
    last_modified = data.get("last_modified")
    status = data.get("status", "confirmed")
    return Event(
        uid=data["uid"],
        title=data["title"],
        start=start,
        end=end,
        all_day=all_day,
        timezone=data["timezone"],
        location=data.get("location"),
        url=data.get("url"),
        description=data.get("description") or "",
        status=_STATUSES.get(status) or Status(status),
        region=data.get("region"),
        tags=tuple(data.get("tags") or ()),
        sources=tuple([SourceRef(s["source"], s["external_id"], s.get("url")) for s in data.get("sources", ())]),
        sequence=int(data.get("sequence", 0)),
        last_modified=datetime.fromisoformat(last_modified) if last_modified else None,
    )
