"""How a group of records becomes one event (the merge rules): canonical values by authority and precision."""

from __future__ import annotations

import re
from functools import lru_cache

from aggregator.merge.dedupe.compare import STRUCTURED, _Rec
from aggregator.merge.dedupe.keys import strip_prefixes, zone_family_slip
from aggregator.model import Event, Status
from aggregator.text import html_to_text

_FOOTERS = ("\n-- \n", "\n--\n", "\n____", "\nTo unsubscribe", "\nYou received this message because",
            "\n-----Original Message-----", "\nSent from my ")


def _without_footer(text: str) -> str:
    """A mail's signature, list footer or quoted original is not part of the event's description."""
    cut = len(text)
    for marker in _FOOTERS:
        at = text.find(marker)
        if 0 < at < cut:
            cut = at
    return text[:cut].strip()


@lru_cache(maxsize=16384)
def clean_description(text: str | None) -> str:
    """A description as plain text (HTML read as aggregator.text reads it), tidy spaces, and no mail
    signature or mailing-list footer."""
    if not text:
        return ""
    if "<" not in text and "\r" not in text and "\t" not in text and "  " not in text \
            and "\u00a0" not in text and "\n\n\n" not in text and " \n" not in text and "\n " not in text:
        return _without_footer(text.strip())
    text = html_to_text(text)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line if line in ("--", "-- ") else line.strip() for line in lines]
    return _without_footer(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


def time_record(group: list[_Rec]) -> _Rec:
    """The record whose start is published: a time over a date, then the most precise zone (an explicit
    offset, then a named zone, then a source's default), then a source of the event's own region (it
    knows which member of a zone family it means: a national page's "MST" may be Denver's or
    Arizona's), then the most authoritative source."""
    best = min(group, key=lambda r: (r.all_day, r.precision, not r.event.region, r.authority, r.key))
    if not best.event.region:
        # a national record's zone word read as one member of a family, a regional copy as another
        # ("1 PM MST": Denver's, Arizona's): the region's reading, whatever its precision
        regional = [r for r in group if r.event.region and zone_family_slip(r.event.start, best.event.start)]
        if regional:
            return min(regional, key=lambda r: (r.precision, r.authority, r.key))
    return best


def _location(group: list[_Rec], by_authority: list[_Rec]) -> str | None:
    """A real venue over "TBA"/empty, the most complete first (the venues of one group agree, so the one
    saying most). But when a structured source says the event is online and none names a venue, the event
    is online: a venue read from prose is a misreading (a title's "in Practice CE", a line of the text)."""
    candidates = group
    if any(r.online and r.authority[0] <= STRUCTURED for r in group) and not any(
            r.venue is not None and r.authority[0] <= STRUCTURED for r in group):
        candidates = [r for r in group if r.venue is None]
    venues = sorted(candidates, key=lambda r: (r.venue is None, -len((r.venue or "").split()), r.authority, r.key))
    if venues and venues[0].venue is not None:
        return venues[0].event.location
    return next((r.event.location for r in by_authority if r.event.location and r in candidates), None)


def _merge_group(group: list[_Rec], uid: str | None = None) -> Event:
    """One event from a group of records (uid: the published uid; default the best record's)."""
    if len(group) == 1:
        return _single(group[0], uid)
    by_authority = sorted(group, key=lambda r: (r.authority, r.key))
    best = by_authority[0]
    when = time_record(group)
    end = when.event.end
    if end is None:
        for r in by_authority:
            if r.event.end is not None and r.ts == when.ts and r.all_day == when.all_day:
                end = r.event.end
                break
    title = strip_prefixes(best.event.title) or best.event.title
    descriptions = [(len(d), -i, d) for i, d in enumerate(clean_description(r.event.description)
                                                          for r in by_authority) if d]
    description = max(descriptions)[2] if descriptions else ""
    location = _location(group, by_authority)
    url = next((r.event.url for r in by_authority if r.event.url), None)
    region = next((r.event.region for r in by_authority if r.event.region), None)
    tags = tuple(sorted({t for r in group for t in r.event.tags}))
    statuses = {r.event.status for r in group}
    if any(r.cancelled for r in group):
        status = Status.CANCELLED
    elif Status.CONFIRMED in statuses:
        status = Status.CONFIRMED
    else:
        status = Status.TENTATIVE
    sources = tuple(sorted({s for r in group for s in r.event.sources}, key=lambda s: (s.source, s.external_id,
                                                                                      s.url or "")))
    return Event(uid=uid or best.event.uid, title=title, start=when.event.start, end=end, all_day=when.all_day,
                 timezone=when.event.timezone, location=location, url=url, description=description,
                 status=status, region=region, tags=tags, sources=sources)


def _single(r: _Rec, uid: str | None = None) -> Event:
    """A group of one record: the same rules, without the comparisons."""
    ev = r.event
    if r.cancelled:
        status = Status.CANCELLED
    else:
        status = Status.CONFIRMED if ev.status == Status.CONFIRMED else Status.TENTATIVE
    sources = ev.sources if len(ev.sources) <= 1 else tuple(
        sorted(set(ev.sources), key=lambda s: (s.source, s.external_id, s.url or "")))
    tags = ev.tags if len(ev.tags) <= 1 else tuple(sorted(set(ev.tags)))
    return Event(uid=uid or ev.uid, title=strip_prefixes(ev.title) or ev.title, start=ev.start, end=ev.end,
                 all_day=r.all_day, timezone=ev.timezone, location=ev.location or None, url=ev.url or None,
                 description=clean_description(ev.description), status=status, region=ev.region or None, tags=tags,
                 sources=sources)
