"""Revisions of published events: SEQUENCE, LAST-MODIFIED and cancellation.

``reconcile(merged, previous, ok_sources, now)`` turns this run's merged events into
what is published, given what was published last run:

- SEQUENCE goes up by exactly 1 when the start, end, all-day flag, status, location
  or title changes, and never otherwise (a re-fetch, a new description or link, one
  more source joining: LAST-MODIFIED moves, SEQUENCE does not). Times are compared as
  instants, so the same start written in another zone is no change; titles and venues
  by meaning (dedupe's normalisation), so "AMTA-IL: Spring Social" for "Spring Social",
  or "1200 West Belmont Avenue" for "1200 W Belmont Ave", is no revision either (the
  new text is published, LAST-MODIFIED moves), while a venue announced after "TBA" is.
- LAST-MODIFIED is `now` when anything published changed, else last run's value, so
  an unchanged run publishes a byte-identical calendar.
- A cancelled event (any source said so; see dedupe) is published with
  STATUS:CANCELLED and a "Cancelled: " title prefix (never twice): Google hides
  cancelled events while Apple and Outlook strike them through, so the prefix is what
  everyone sees.
- An event of last run that is not among the merged events:
  * dropped silently when its records now belong to another event (a merge: nothing
    is published under the losing uid), when the curator hides it, or when all its
    sources were removed from sources.yaml;
  * when all its remaining sources were read successfully this run and none lists it
    any more, it is published as cancelled (SEQUENCE +1, once) until it has ended,
    then dropped;
  * when one of its sources failed this run, it stays exactly as it was: a source
    that fails changes nothing (until the event is `keep_past` in the past).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

from aggregator.merge.dedupe import (
    norm_title,
    norm_venue,
    ref_matches,
    strip_prefixes,
    title_says_cancelled,
    venue_similarity,
)
from aggregator.model import Event, Status
from aggregator.timezones import resolve_zone

CANCELLED_PREFIX = "Cancelled: "
_REVISED = ("title", "end", "all_day", "status", "location")
_PUBLISHED = ("title", "end", "all_day", "timezone", "location", "url", "description", "status", "region",
              "tags", "sources")


def cancelled_title(title: str) -> str:
    """ "Cancelled: <title>", whatever cancellation marker the title already carried."""
    bare = strip_prefixes(title) if title_says_cancelled(title) else title
    bare = re.sub(r"^\s*cancel+ed\s*:\s*", "", bare, flags=re.IGNORECASE).strip() or bare
    return CANCELLED_PREFIX + bare


def _instant(value: datetime | date | None, zone_name: str) -> object:
    if isinstance(value, datetime):
        return ("t", value.astimezone(timezone.utc))
    return ("d", value)


def _end_instant(event: Event) -> datetime:
    """When the event is over (aware UTC)."""
    zone = resolve_zone(event.timezone) or timezone.utc
    value = event.end if event.end is not None else event.start
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    if event.end is None:  # all-day, no end: over at the end of its day
        value = value + timedelta(days=1)
    return datetime.combine(value, time.min, tzinfo=zone).astimezone(timezone.utc)


def _same_meaning(name: str, a, b) -> bool:
    """Whether two titles or venues say the same thing (a respelling is not a revision)."""
    if name == "title":
        return norm_title(a) == norm_title(b)
    na, nb = norm_venue(a), norm_venue(b)
    if na is None or nb is None:
        return na is nb
    return (venue_similarity(na, nb) if na <= nb else venue_similarity(nb, na)) >= 0.9


def _differs(old: Event, new: Event, fields: Iterable[str], *, meaning: bool = False) -> bool:
    if _instant(old.start, old.timezone) != _instant(new.start, new.timezone):
        return True
    for name in fields:
        a, b = getattr(old, name), getattr(new, name)
        if meaning and name in ("title", "location"):
            if a != b and not _same_meaning(name, a or "", b or ""):
                return True
            continue
        if name == "end":
            a, b = _instant(a, old.timezone) if a is not None else None, \
                _instant(b, new.timezone) if b is not None else None
        if a != b:
            return True
    return False


def _with_cancel_title(event: Event) -> Event:
    if event.status == Status.CANCELLED and not event.title.startswith(CANCELLED_PREFIX):
        return replace(event, title=cancelled_title(event.title))
    return event


def reconcile(merged: Sequence[Event], previous: Mapping[str, Event], ok_sources: set[str], now: datetime,
              *, overrides=None, known_sources: Iterable[str] | None = None,
              keep_past: timedelta = timedelta(days=30)) -> list[Event]:
    """This run's events as they are published: revised, cancelled or carried; see the module docstring.

    overrides: the `merge:` settings; an event it hides is dropped, not cancelled.
    known_sources: the ids of the sources in sources.yaml; an event whose sources were
      all removed is dropped rather than cancelled (None: treat every source as configured).
    keep_past: how long an event carried unchanged for a failing source stays after it ended.
    """
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    hide = list(getattr(overrides, "hide", None) or (overrides.get("hide", ()) if isinstance(overrides, Mapping)
                                                      else ()))
    configured = set(known_sources) if known_sources is not None else None
    result: list[Event] = []
    present_refs = set()
    for event in merged:
        present_refs.update((s.source, s.external_id) for s in event.sources)
        event = _with_cancel_title(event)
        old = previous.get(event.uid)
        if old is None:
            result.append(replace(event, sequence=0, last_modified=now))
        elif _differs(old, event, _REVISED, meaning=True):
            result.append(replace(event, sequence=old.sequence + 1, last_modified=now))
        elif _differs(old, event, _PUBLISHED):
            result.append(replace(event, sequence=old.sequence, last_modified=now))
        else:
            result.append(replace(event, sequence=old.sequence, last_modified=old.last_modified or now))

    seen = {e.uid for e in merged}
    for uid in sorted(previous):
        if uid in seen:
            continue
        old = previous[uid]
        if any(ref_matches(ref, old) for ref in hide):
            continue
        if any((s.source, s.external_id) in present_refs for s in old.sources):
            continue  # merged into another event: nothing more under this uid
        sources = {s.source for s in old.sources}
        if configured is not None:
            sources &= configured
            if not sources:
                continue  # its sources were removed from sources.yaml
        ended = _end_instant(old) < now
        if sources and sources <= ok_sources:
            if ended:
                continue
            if old.status == Status.CANCELLED and old.title.startswith(CANCELLED_PREFIX):
                result.append(old)
            else:
                result.append(replace(old, status=Status.CANCELLED, title=cancelled_title(old.title),
                                      sequence=old.sequence + 1, last_modified=now))
        elif _end_instant(old) >= now - keep_past:
            result.append(old)  # a source failed: nothing changes
    result.sort(key=lambda e: (_sort_instant(e), e.uid))
    return result


def _sort_instant(event: Event) -> datetime:
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc)
    zone = resolve_zone(event.timezone) or timezone.utc
    return datetime.combine(event.start, time.min, tzinfo=zone).astimezone(timezone.utc)
