"""The canonical types. Frozen dataclasses, no I/O.

`RawEvent` is what an adapter saw; it never goes past `normalize`.
`Event` is the one canonical type: a normalized source record is an Event with
one SourceRef, a merged event is an Event with several. Field names are the
events.json keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Status(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Window:
    """The span events are kept in; recurrences are expanded inside it. Aware, UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")


@dataclass(frozen=True, slots=True)
class SourceRef:
    source: str  # sources.yaml id
    external_id: str  # VEVENT UID[+RECURRENCE-ID] | schema.org url/@id | guid | Message-ID
    url: str | None = None


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event as a source states it; nothing inferred yet."""

    external_id: str
    title: str
    start: datetime | date | str  # str: text for normalize to read ("Tue Mar 3, 6:30pm")
    end: datetime | date | str | None = None
    timezone: str | None = None  # zone the source names (TZID, X-WR-TIMEZONE)
    location: str | None = None
    url: str | None = None
    description: str | None = None  # may be HTML; normalize makes it plain text
    status: Status = Status.CONFIRMED
    tags: tuple[str, ...] = ()  # categories the source states
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Event:
    uid: str  # stable across runs; published in calendar.ics and events.json
    title: str
    start: datetime | date  # aware datetime, or date when all_day
    end: datetime | date | None
    all_day: bool
    timezone: str  # IANA zone the times are shown in
    location: str | None
    url: str | None
    description: str  # plain text
    status: Status
    region: str | None
    tags: tuple[str, ...]
    sources: tuple[SourceRef, ...]
    sequence: int = 0  # bumped when time, place, status or title changes
    last_modified: datetime | None = None  # the stored revision time (UTC)
