"""Which events a filtered feed holds: by region, tag and source.

The same selection serves the static feeds declared in sources.yaml (`feeds:`,
written by `outputs.publish` through `static_feeds`) and the query parameters of
the served feed (`/calendar.ics?region=IL&tag=ce&source=amta-il`).

An event's region is its source's (`region:` in sources.yaml). For a source
without one (a national list), the region is read from the event's address: a
US state written the way addresses write it, ", IL 60614", ", IL" at the end,
or the state's name (", Illinois").

Pure functions over Events, plus the links a page offers for one event
(Google Calendar's "add" template link) and for a feed (webcal://, https://,
Google's "add by URL").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

from aggregator.model import Event

US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico",
}
_BY_NAME = {name.lower(): code for code, name in US_STATES.items()}

# ", IL 60614", ", IL 60614-1234", ", IL" at the end, ", IL, USA"
_STATE_CODE = re.compile(r",\s*([A-Z]{2})(?:\s+\d{5}(?:-\d{4})?)?\s*(?:,\s*(?:USA|US|United States))?\s*$")
_STATE_CODE_ZIP = re.compile(r"\b([A-Z]{2})\s+\d{5}(?:-\d{4})?\b")
_STATE_NAME = re.compile(r",\s*([A-Za-z][A-Za-z .]+?)(?:\s+\d{5}(?:-\d{4})?)?\s*(?:,\s*(?:USA|US|United States))?\s*$")


def region_from_address(location: str | None) -> str | None:
    """The US state an address names, as its two-letter code, or None."""
    if not location:
        return None
    text = location.strip().rstrip(".")
    m = _STATE_CODE.search(text)
    if m and m.group(1) in US_STATES:
        return m.group(1)
    m = _STATE_NAME.search(text)
    if m and m.group(1).strip().lower() in _BY_NAME:
        return _BY_NAME[m.group(1).strip().lower()]
    for m in _STATE_CODE_ZIP.finditer(text):
        if m.group(1) in US_STATES:
            return m.group(1)
    return None


def event_region(event: Event) -> str | None:
    """The event's region: its source's, else the US state read from its address."""
    if event.region:
        return event.region.upper()
    return region_from_address(event.location)


def _norm(values: Iterable[str], upper: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part:
                out.append(part.upper() if upper else part.lower())
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class FeedFilter:
    """What a filtered feed keeps. Within one field any value matches; fields combine with AND."""

    regions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @classmethod
    def of(cls, regions: Iterable[str] = (), tags: Iterable[str] = (), sources: Iterable[str] = ()) -> FeedFilter:
        return cls(_norm(regions, upper=True), _norm(tags), _norm(sources))

    @classmethod
    def from_query(cls, args: Mapping) -> FeedFilter:
        """From query parameters (a werkzeug MultiDict or a plain dict): region, tag, source,
        each repeatable or comma-separated."""

        def values(key: str) -> list[str]:
            if hasattr(args, "getlist"):
                return list(args.getlist(key))
            value = args.get(key)
            if value is None:
                return []
            return [value] if isinstance(value, str) else list(value)

        return cls.of(values("region"), values("tag"), values("source"))

    @property
    def empty(self) -> bool:
        return not (self.regions or self.tags or self.sources)

    def matches(self, event: Event) -> bool:
        if self.regions and event_region(event) not in self.regions:
            return False
        if self.tags and not set(self.tags) & {t.lower() for t in event.tags}:
            return False
        if self.sources and not set(self.sources) & {s.source.lower() for s in event.sources}:
            return False
        return True

    def select(self, events: Iterable[Event]) -> list[Event]:
        return [e for e in events if self.matches(e)]

    def query(self) -> str:
        """The query string that means this filter ("" when empty), in a stable order."""
        pairs = [("region", r) for r in self.regions] + [("tag", t) for t in self.tags]
        pairs += [("source", s) for s in self.sources]
        return urlencode(pairs)

    def label(self) -> str:
        """A short human name: "IL · ce"."""
        return " · ".join((*self.regions, *self.tags, *self.sources))


def feed_filter(spec) -> FeedFilter:
    """The filter of one `feeds:` entry of sources.yaml (a config.FeedSpec)."""
    return FeedFilter.of(spec.region, spec.tag, spec.source)


def feed_title(calendar_name: str, label: str) -> str:
    return f"{calendar_name} — {label}" if label else calendar_name


def regions_and_tags(events: Iterable[Event]) -> tuple[list[str], list[str]]:
    """The regions and tags present among events, sorted: the page's filter choices."""
    regions, tags = set(), set()
    for e in events:
        r = event_region(e)
        if r:
            regions.add(r)
        tags.update(t.lower() for t in e.tags)
    return sorted(regions), sorted(tags)


# --- links --------------------------------------------------------------------------------

def compact_stamp(value: date) -> str:
    """value.strftime("%Y%m%dT%H%M%S") for a datetime, "%Y%m%d" for a date, at a third of
    strftime's cost: a publish writes thousands."""
    if value.year < 1000:  # strftime writes such a year without padding
        return value.strftime("%Y%m%dT%H%M%S" if isinstance(value, datetime) else "%Y%m%d")
    if isinstance(value, datetime):
        return "%d%02d%02dT%02d%02d%02d" % (value.year, value.month, value.day, value.hour, value.minute,
                                           value.second)
    return "%d%02d%02d" % (value.year, value.month, value.day)


def _utc_stamp(value: datetime) -> str:
    return compact_stamp(value.astimezone(timezone.utc)) + "Z"


# urllib.parse.quote(text, safe="") as one str.translate over the UTF-8 bytes: quote() loops over
# the bytes in Python, and the page quotes a title, a place and a description for every event.
# A full table (a list, every byte mapped, safe ones to themselves): a dict missing the safe
# bytes makes translate() raise and catch a KeyError for each of them, nearly twice the time.
_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_QUOTED = [chr(byte) if chr(byte) in _SAFE else f"%{byte:02X}" for byte in range(256)]
_QUOTED_UID = [chr(byte) if chr(byte) in _SAFE + "@" else f"%{byte:02X}" for byte in range(256)]


def quote_all(text: str) -> str:
    """urllib.parse.quote(text, safe=""), the same text."""
    return text.encode("utf-8").decode("latin-1").translate(_QUOTED)


def quote_plus_all(text: str) -> str:
    """urllib.parse.quote_plus(text, safe=""): spaces as "+" (every "%20" quote_all writes is one)."""
    return quote_all(text).replace("%20", "+")


def google_add_link(event: Event, *, max_details: int = 1200) -> str:
    """Google Calendar's "add this event" template link."""
    if event.all_day:
        start = event.start if isinstance(event.start, date) else event.start.date()
        end = event.end if isinstance(event.end, date) and event.end > start else start + timedelta(days=1)
        if isinstance(end, datetime):
            end = end.date()
        dates = f"{start:%Y%m%d}/{end:%Y%m%d}"
    else:
        end = event.end if isinstance(event.end, datetime) else event.start + timedelta(hours=1)
        dates = f"{_utc_stamp(event.start)}/{_utc_stamp(end)}"
    details = event.description or ""
    if event.url:
        details = f"{event.url}\n\n{details}".strip()
    if len(details) > max_details:
        details = details[: max_details - 1].rstrip() + "…"
    params = [("action", "TEMPLATE"), ("text", event.title), ("dates", dates)]
    if not event.all_day and event.timezone:
        params.append(("ctz", event.timezone))
    if details:
        params.append(("details", details))
    if event.location:
        params.append(("location", event.location))
    # urlencode(params, quote_via=quote), written out
    return "https://calendar.google.com/calendar/render?" + "&".join(f"{key}={quote_all(value)}"
                                                                       for key, value in params)


def event_ics_path(uid: str) -> str:
    """Where one event's .ics download lives, relative to the site root."""
    return "event/" + uid.encode("utf-8").decode("latin-1").translate(_QUOTED_UID) + ".ics"  # quote(uid, safe="@")


@dataclass(frozen=True)
class SubscribeLinks:
    https: str  # paste into any calendar app
    webcal: str  # opens the subscribe dialog of Apple Calendar / Outlook
    google: str  # Google Calendar's add-by-URL page with the feed filled in


def subscribe_links(base_url: str, path: str = "calendar.ics", query: str = "") -> SubscribeLinks:
    parts = urlsplit(base_url.rstrip("/") + "/" + path.lstrip("/"))
    https = urlunsplit(parts._replace(query=query))
    webcal = urlunsplit(parts._replace(scheme="webcal", query=query))
    google = "https://calendar.google.com/calendar/r?" + urlencode({"cid": webcal})
    return SubscribeLinks(https=https, webcal=webcal, google=google)
