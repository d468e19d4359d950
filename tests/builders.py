"""Builders shared by the de-duplication, lifecycle, tagging and explain tests (no tests here)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from aggregator.merge.normalize import record_uid
from aggregator.model import Event, SourceRef, Status

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")

TYPES = {"amta-il": "ical", "chi-meetup": "jsonld", "chapter-page": "html", "list-feed": "rss",
         "list-mail": "mbox", "wellness": "ical", "other-cal": "ical"}


def rec(source: str, external_id: str, title: str, start: datetime | date, *, end=None,
        location: str | None = "Lakeview Healing Arts, 1200 W Belmont Ave, Chicago, IL",
        url: str | None = None, description: str = "", status: Status = Status.CONFIRMED,
        region: str | None = "IL", tags: tuple[str, ...] = (), zone: str | None = None) -> Event:
    """One normalized source record, as normalize() makes it."""
    all_day = not isinstance(start, datetime)
    if zone is None:
        zone = getattr(start.tzinfo, "key", "UTC") if isinstance(start, datetime) else "America/Chicago"
    return Event(uid=record_uid(source, external_id), title=title, start=start, end=end, all_day=all_day,
                 timezone=zone, location=location, url=url, description=description, status=status,
                 region=region, tags=tags, sources=(SourceRef(source, external_id, url),))


def keys(event: Event) -> set[tuple[str, str]]:
    return {(s.source, s.external_id) for s in event.sources}


def groups(events) -> set[frozenset]:
    return {frozenset(keys(e)) for e in events}


def chapter_meeting_copies() -> list[Event]:
    """One chapter meeting as three sources list it (calendar, Meetup, mailing list twice)."""
    start = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
    return [
        rec("amta-il", "mtg-2026-03@amta-il.org", "AMTA-IL: Monthly Chapter Meeting", start,
            end=datetime(2026, 3, 3, 20, 30, tzinfo=CHICAGO), url="https://amta-il.org/events/march-meeting",
            description="Our monthly meeting.", tags=("chapter-meeting",)),
        rec("chi-meetup", "https://www.meetup.com/chi-lmt/events/301/", "Monthly Chapter Meeting - March 2026",
            start.astimezone(NEW_YORK), location="Lakeview Healing Arts, 1200 West Belmont Avenue, Suite 2",
            url="https://www.meetup.com/chi-lmt/events/301/?utm_source=feed",
            description="<p>Our monthly meeting, with <b>snacks</b> and a talk on cupping for athletes.</p>"),
        rec("list-mail", "<a1@list.example.org>", "Reminder: AMTA-IL monthly chapter meeting", start,
            location="TBA", description="See you there"),
        rec("list-mail", "<a2@list.example.org>", "Re: Reminder: AMTA-IL Monthly Chapter Meeting!", start,
            location=None, description=""),
    ]
