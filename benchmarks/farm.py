"""A deterministic synthetic source farm with a known truth.

    python -m benchmarks.farm OUT_DIR [--sources 300] [--seed 7] [--anchor 2026-03-02]

writes OUT_DIR/files/<source>.<ext> (one feed or page per source), OUT_DIR/farm.json
(which source is which file on which host, with its sources.yaml options) and
OUT_DIR/truth.json:

- "events": every real-world event (id, title, start instant, city, kind);
- "records": for every (source, external_id) the real-world event it belongs to and what
  the record should extract (title as written, start instant as written, the record's url).

The world holds known duplicates (one event listed by 2-4 sources, each copy varied the way
real sources vary: "AMTA-IL:" / "Reminder:" prefixes, CE vs Continuing Education, case and
punctuation, a time written in another zone or off by a whole hour, "St"/"Street", no end,
"TBA" venue, a shared URL) and near-misses that must stay separate (two events at one venue
on one day, the monthly occurrences of a series, one title in two cities on one evening).

Each source type is written by a `Writer` registered in WRITERS; a type is used only when
its adapter is registered (sources.registry.available_types()), so the farm grows with the
project. `write_sources_yaml(farm_dir, base_urls)` writes the sources.yaml once the farm
server knows its addresses.
"""

from __future__ import annotations

import argparse
import html
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

UTC = timezone.utc

# --------------------------------------------------------------------------- the world

REGIONS: list[tuple[str, str, list[str]]] = [
    ("IL", "America/Chicago", ["Chicago", "Evanston", "Naperville", "Springfield"]),
    ("WI", "America/Chicago", ["Milwaukee", "Madison", "Green Bay"]),
    ("MN", "America/Chicago", ["Minneapolis", "Saint Paul", "Rochester"]),
    ("NY", "America/New_York", ["New York", "Brooklyn", "Buffalo", "Albany"]),
    ("MA", "America/New_York", ["Boston", "Cambridge", "Worcester"]),
    ("GA", "America/New_York", ["Atlanta", "Savannah"]),
    ("CO", "America/Denver", ["Denver", "Boulder", "Colorado Springs"]),
    ("AZ", "America/Phoenix", ["Phoenix", "Tucson"]),
    ("CA", "America/Los_Angeles", ["Los Angeles", "San Diego", "Oakland", "Sacramento"]),
    ("WA", "America/Los_Angeles", ["Seattle", "Spokane", "Tacoma"]),
]
# For national-scale runs (--dedupe-scale): every state, its main zone, towns whose names recur
# across states as they do in the US (a Springfield in IL, MA and MO is a near-miss too).
STATES = [
    ("AL", "America/Chicago"), ("AK", "America/Anchorage"), ("AZ", "America/Phoenix"), ("AR", "America/Chicago"),
    ("CA", "America/Los_Angeles"), ("CO", "America/Denver"), ("CT", "America/New_York"), ("DE", "America/New_York"),
    ("FL", "America/New_York"), ("GA", "America/New_York"), ("HI", "Pacific/Honolulu"), ("ID", "America/Boise"),
    ("IL", "America/Chicago"), ("IN", "America/Indiana/Indianapolis"), ("IA", "America/Chicago"),
    ("KS", "America/Chicago"), ("KY", "America/New_York"), ("LA", "America/Chicago"), ("ME", "America/New_York"),
    ("MD", "America/New_York"), ("MA", "America/New_York"), ("MI", "America/Detroit"), ("MN", "America/Chicago"),
    ("MS", "America/Chicago"), ("MO", "America/Chicago"), ("MT", "America/Denver"), ("NE", "America/Chicago"),
    ("NV", "America/Los_Angeles"), ("NH", "America/New_York"), ("NJ", "America/New_York"), ("NM", "America/Denver"),
    ("NY", "America/New_York"), ("NC", "America/New_York"), ("ND", "America/Chicago"), ("OH", "America/New_York"),
    ("OK", "America/Chicago"), ("OR", "America/Los_Angeles"), ("PA", "America/New_York"), ("RI", "America/New_York"),
    ("SC", "America/New_York"), ("SD", "America/Chicago"), ("TN", "America/Chicago"), ("TX", "America/Chicago"),
    ("UT", "America/Denver"), ("VT", "America/New_York"), ("VA", "America/New_York"), ("WA", "America/Los_Angeles"),
    ("WV", "America/New_York"), ("WI", "America/Chicago"), ("WY", "America/Denver"),
]
TOWNS = ["Springfield", "Franklin", "Clinton", "Greenville", "Bristol", "Fairview", "Salem", "Madison",
         "Georgetown", "Arlington", "Ashland", "Dover", "Oxford", "Jackson", "Burlington", "Manchester",
         "Milton", "Newport", "Auburn", "Dayton", "Lexington", "Milford", "Riverside", "Winchester", "Hudson",
         "Kingston", "Mount Vernon", "Centerville", "Lebanon", "Marion"]


def national_regions(seed: int = 1, towns_per_state: int = 6) -> list[tuple[str, str, list[str]]]:
    rng = random.Random(seed)
    return [(code, zone, rng.sample(TOWNS, towns_per_state)) for code, zone in STATES]


OTHER_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "UTC"]

TOPICS = [
    "Myofascial Release", "Prenatal Massage", "Sports Massage", "Ethics for Massage Therapists",
    "Lymphatic Drainage", "Hot Stone Massage", "Thai Massage", "Craniosacral Therapy",
    "Trigger Point Therapy", "Reflexology", "Business Building for LMTs", "SOAP Notes and Documentation",
    "Self-Care for Therapists", "Cupping Therapy", "Oncology Massage", "Geriatric Massage",
    "Medical Massage", "Kinesiology Taping", "Deep Tissue Techniques", "Orthopedic Assessment",
    "Chair Massage", "Aromatherapy in Practice", "Pediatric Massage", "Scar Tissue Work",
    "Neuromuscular Therapy", "Stretching and Range of Motion", "Insurance Billing", "Shiatsu Basics",
]
TITLE_FORMS = [
    "{topic} CE Workshop", "Continuing Education: {topic}", "{topic} Hands-On Intensive",
    "Lunch & Learn: {topic}", "Intro to {topic}", "Advanced {topic}", "{topic} Study Group",
    "{topic} Certification Course", "{topic} Demo and Practice Night",
]
SOCIAL_FORMS = [
    "{city} Massage Therapist Networking Night", "{region} Chapter Meeting", "LMT Coffee Meetup",
    "New Graduate Mixer", "Volunteer Day: Chair Massage at the {city} Marathon",
    "Spring Networking Social", "Therapist Peer Support Circle", "Student and Alumni Meetup",
    "{city} Bodywork Exchange", "Community Massage Clinic Volunteers",
]
SERIES_FORMS = ["{region} Chapter Monthly Meeting", "{city} Bodywork Exchange", "LMT Coffee Meetup",
                "Therapist Peer Support Circle", "{topic} Study Group"]
NATIONAL_TITLES = ["AMTA Networking Night", "National Massage Therapy Awareness Mixer",
                   "ABMP Member Meetup", "Massage Therapy Foundation Info Session"]
VENUE_NAMES = [
    "{city} Wellness Center", "Lakeview Healing Arts", "The Bodywork Institute", "Harmony Massage School",
    "{city} Public Library, Meeting Room B", "Holiday Inn Express {city}", "Riverside Community Center",
    "Northside Yoga Studio", "Evergreen Chiropractic", "The Muse Coworking", "Oak Street Clinic",
    "{city} School of Massage", "St. Luke's Parish Hall", "Unity Fitness Club",
]
STREETS = ["Main", "Oak", "Maple", "Lake", "Clark", "Washington", "Lincoln", "Park", "Elm", "Cedar",
           "Grand", "Madison", "Jefferson", "Highland", "Pine", "Church", "Market", "Broadway"]
STREET_KINDS = [("St", "Street"), ("Ave", "Avenue"), ("Blvd", "Boulevard"), ("Rd", "Road"), ("Dr", "Drive")]
SENTENCES = [
    "Bring a water bottle and comfortable clothes.", "Light refreshments will be served.",
    "Open to licensed massage therapists and students.", "Earn CE hours approved by NCBTMB.",
    "Parking is free behind the building.", "Space is limited, so please RSVP.",
    "Members free, non-members $15.", "A great chance to meet colleagues in the area.",
    "Tables and linens provided.", "We will practice in pairs; wear layers.",
]


@dataclass
class Venue:
    name: str
    number: int
    street: str
    kind: tuple[str, str]
    suite: str | None
    city: str
    region: str


@dataclass
class TrueEvent:
    id: str
    title: str
    start: datetime  # aware, local zone of the venue
    minutes: int
    venue: Venue
    region: str
    zone: str
    kind: str  # single | series | venue_day | same_title_cities
    url: str
    series: str | None = None
    description: str = ""


@dataclass
class Source:
    id: str
    type: str
    region: str | None  # None: a national listing
    zone: str
    host: int  # index of the farm host serving it
    path: str  # relative to files/
    listings: list["Listing"] = field(default_factory=list)
    follow: bool = False  # jsonld: a Meetup-like listing of links; each event on its own page


@dataclass
class Listing:
    """One record as one source writes it (the copy of a real-world event)."""

    event: TrueEvent
    source: Source
    n: int
    title: str
    start: datetime  # aware; its tzinfo is the zone the source writes the time in
    end: datetime | None
    venue: str | None  # venue name as written, or None
    address: str | None  # street address as written
    tba: bool
    url: str
    description: str
    variations: list[str] = field(default_factory=list)
    series_rule: dict | None = None  # ical: the first occurrence carries an RRULE
    in_series_rule: bool = False  # an occurrence expanded from another listing's RRULE

    @property
    def location(self) -> str | None:
        if self.tba:
            return "TBA"
        parts = [p for p in (self.venue, self.address) if p]
        return ", ".join(parts) or None

    @property
    def external_id(self) -> str:
        return WRITERS[self.source.type].external_id(self)


# --------------------------------------------------------------------------- variation


def vary_title(title: str, region: str, rng: random.Random, strength: float,
               labels: list[str] | None = None) -> str:
    """A copy's title: prefixes, CE spelled out or abbreviated, case and punctuation."""
    labels = labels if labels is not None else []
    t = title
    if rng.random() < 0.5 * strength:
        if " CE " in f" {t} ":
            t, _ = t.replace("CE", "Continuing Education"), labels.append("ce_spelled")
        elif "Continuing Education" in t:
            t, _ = t.replace("Continuing Education", "CE"), labels.append("ce_abbreviated")
    if rng.random() < 0.35 * strength and (" & " in t or " and " in t):
        t = t.replace(" & ", " and ") if " & " in t else t.replace(" and ", " & ")
        labels.append("ampersand")
    if rng.random() < 0.3 * strength and ": " in t:
        t, _ = t.replace(": ", " - "), labels.append("punctuation")
    roll = rng.random()
    if roll < 0.15 * strength:
        t, _ = t.upper(), labels.append("case")
    elif roll < 0.25 * strength:
        t, _ = t.lower(), labels.append("case")
    if rng.random() < 0.1 * strength:
        t, _ = t + "!", labels.append("punctuation")
    prefix = rng.random()
    if prefix < 0.18 * strength:
        t = f"AMTA-{region}: {t}"
    elif prefix < 0.30 * strength:
        t = f"Reminder: {t}"
    elif prefix < 0.36 * strength:
        t = f"[{region} Chapter] {t}"
    if prefix < 0.36 * strength:
        labels.append("prefix")
    return t


def vary_venue(v: Venue, rng: random.Random, strength: float,
               labels: list[str] | None = None) -> tuple[str | None, str]:
    labels = labels if labels is not None else []
    short, long = v.kind
    kind = long if rng.random() < 0.5 else short
    if kind == short and rng.random() < 0.5:
        kind += "."
    suite = v.suite
    if suite and rng.random() < 0.4 * strength:
        suite, _ = suite.replace("Suite", "Ste"), labels.append("address_abbreviated")
    if suite and rng.random() < 0.2 * strength:
        suite, _ = None, labels.append("address_partial")
    street = f"{v.number} {v.street} {kind}" + (f", {suite}" if suite else "")
    address = f"{street}, {v.city}, {v.region}"
    name = v.name
    if rng.random() < 0.15 * strength:
        name, _ = None, labels.append("no_venue_name")
    elif rng.random() < 0.15 * strength:
        name, _ = name.replace("Center", "Ctr").replace("St. ", "Saint "), labels.append("venue_spelling")
    return name, address


# --------------------------------------------------------------------------- writers


class Writer:
    """Writes every listing of one source in one type's format. Subclass and register()."""

    type_name = ""
    extension = ""
    content_type = "application/octet-stream"
    local = False  # True: the adapter reads a local path (maildir), not a URL
    other_zone_ok = True  # the format can state an explicit zone or offset per event

    def options(self, source: Source) -> dict:
        return {}

    def external_id(self, listing: Listing) -> str:
        return listing.url

    def render(self, source: Source, listings: list[Listing], anchor: datetime) -> bytes:
        raise NotImplementedError

    def write(self, source: Source, listings: list[Listing], anchor: datetime, files: Path) -> None:
        path = files / source.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.render(source, listings, anchor))


WRITERS: dict[str, Writer] = {}


def register(writer: Writer) -> Writer:
    WRITERS[writer.type_name] = writer
    return writer


def _prose_when(dt: datetime) -> str:
    return f"{dt:%A, %B} {dt.day}, {dt.year} at {dt.strftime('%I:%M %p').lstrip('0')}"


class IcalWriter(Writer):
    type_name = "ical"
    extension = "ics"
    content_type = "text/calendar; charset=utf-8"

    def external_id(self, listing: Listing) -> str:
        return f"{listing.source.id}-{listing.n}@farm.example"

    def render(self, source, listings, anchor):
        from icalendar import Calendar, Timezone
        from icalendar import Event as VEvent

        cal = Calendar()
        cal.add("prodid", "-//massage-events benchmark farm//EN")
        cal.add("version", "2.0")
        cal.add("x-wr-calname", source.id)
        cal.add("x-wr-timezone", source.zone)
        zones = sorted({k for i in listings for k in [getattr(i.start.tzinfo, "key", "UTC")] if k != "UTC"})
        for key in zones:  # in a fixed order, so the same seed writes the same bytes
            cal.add_component(Timezone.from_tzid(key))
        for item in listings:
            if item.in_series_rule:
                continue
            ev = VEvent()
            ev.add("uid", self.external_id(item))
            ev.add("dtstamp", anchor)
            ev.add("summary", item.title)
            ev.add("dtstart", item.start)
            if item.end is not None:
                ev.add("dtend", item.end)
            if item.location:
                ev.add("location", item.location)
            ev.add("url", item.url)
            if item.description:
                ev.add("description", item.description)
            if item.series_rule:
                ev.add("rrule", item.series_rule)
            cal.add_component(ev)
        return cal.to_ical()


class JsonldWriter(Writer):
    type_name = "jsonld"
    extension = "html"
    content_type = "text/html; charset=utf-8"

    def options(self, source):
        return {"follow": "a.event-link"} if source.follow else {}

    def write(self, source, listings, anchor, files):
        if not source.follow:
            return super().write(source, listings, anchor, files)
        # Meetup-like: the listing links each event's own page, which carries its JSON-LD.
        listing = files / source.path
        pages = listing.parent / source.id
        pages.mkdir(parents=True, exist_ok=True)
        cards = []
        for item in listings:
            href = f"{source.id}/{item.n}.html"
            (pages / f"{item.n}.html").write_bytes(self.render(source, [item], anchor))
            cards.append(f'<li><a class="event-link" href="{html.escape(href)}">{html.escape(item.title)}</a></li>')
        listing.write_bytes((f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{source.id} events"
                             f"</title></head><body><h1>Upcoming events</h1><ul>{''.join(cards)}</ul>"
                             "</body></html>\n").encode())

    def render(self, source, listings, anchor):
        items = []
        for item in listings:
            ev = {"@context": "https://schema.org", "@type": "Event", "name": item.title,
                  "url": item.url, "startDate": item.start.isoformat(),
                  "eventStatus": "https://schema.org/EventScheduled",
                  "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode"}
            if item.end is not None:
                ev["endDate"] = item.end.isoformat()
            if item.tba:
                ev["location"] = {"@type": "Place", "name": "TBA"}
            elif item.location:
                street, city, region = item.address.rsplit(", ", 2)
                ev["location"] = {"@type": "Place", "name": item.venue or street,
                                  "address": {"@type": "PostalAddress", "streetAddress": street,
                                              "addressLocality": city, "addressRegion": region}}
            if item.description:
                ev["description"] = item.description
            items.append(ev)
        blocks = "\n".join(
            f'<script type="application/ld+json">{json.dumps(ev, ensure_ascii=False)}</script>' for ev in items)
        cards = "\n".join(f'<li><a class="event-link" href="{html.escape(i.url)}">{html.escape(i.title)}</a></li>'
                          for i in listings)
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{source.id} events</title>\n"
                f"{blocks}\n</head><body><h1>Upcoming events</h1><ul>{cards}</ul></body></html>\n").encode()


# Plain-HTML listings come in the layouts chapter and studio sites use; each source keeps one.
HTML_LAYOUTS = ["cards", "table", "day_headings", "date_apart"]
# What a curator would write for each layout by hand (the benchmark's reference for `selectors: auto`).
HTML_SELECTORS = {
    "cards": {"event": "div.event", "title": "h3", "start": ".when", "location": ".where", "link": "a@href",
              "description": ".desc"},
    "table": {"event": "table.events tr:has(td)", "title": "td:nth-of-type(3)",
              "start": "td:nth-of-type(1), td:nth-of-type(2)", "location": "td:nth-of-type(4)", "link": "a@href"},
    "day_headings": {"event": "ul.day-events > li", "title": "a", "start": ".time", "day": "h2.day",
                     "location": ".place", "link": "a@href"},
    "date_apart": {"event": "li.event-item", "title": "h4", "start": ".date-badge, .time", "location": ".location",
                   "link": "a@href", "description": ".summary"},
}


def html_layout(source: Source) -> str:
    """A source's layout: fixed by its id, so every seed has every layout."""
    import zlib

    return HTML_LAYOUTS[zlib.crc32(source.id.encode()) % len(HTML_LAYOUTS)]


NEWS_TITLES = ["Spring newsletter is out", "Board election results", "New CE requirements explained",
               "Welcome to our new members", "Scholarship winners announced", "Licensing fee changes",
               "Volunteer of the month", "Thank you, sponsors"]


def _clock(dt: datetime) -> str:
    return dt.strftime("%I:%M %p").lstrip("0")


class HtmlWriter(Writer):
    type_name = "html"
    extension = "html"
    content_type = "text/html; charset=utf-8"
    other_zone_ok = True

    def options(self, source):
        return {"selectors": dict(HTML_SELECTORS[html_layout(source)])}

    def render(self, source, listings, anchor):
        layout = html_layout(source)
        body = getattr(self, f"_{layout}")(source, listings)
        rng = random.Random(source.id)  # the page's furniture, the same at every render
        nav = ('<header><nav><a href="/">Home</a> <a href="/about">About</a> <a href="/events">Events</a> '
               '<a href="/join">Join</a></nav></header>')
        aside = ""
        if rng.random() < 0.5:  # a sidebar of dated news posts: repeated and dated, but not events
            posts = []
            for k in range(rng.randint(3, 6)):
                day = anchor.date() - timedelta(days=rng.randint(3, 150))
                posts.append(f'<li class="news-item"><a href="/news/{k}">{rng.choice(NEWS_TITLES)}</a> '
                             f'<span class="posted">Posted {day:%B} {day.day}, {day.year}</span></li>')
            aside = '<aside class="sidebar"><h3>Latest news</h3><ul>' + "".join(posts) + "</ul></aside>"
        if rng.random() < 0.5:
            body = f'<div class="content-wrapper"><div class="inner">{body}</div></div>'
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{source.id} calendar</title>"
                f"</head><body>{nav}<main><h1>Chapter calendar</h1>\n{body}\n</main>{aside}"
                f"<footer><p>&copy; {anchor.year} {source.id} chapter</p></footer></body></html>\n").encode()

    @staticmethod
    def _local(source, item) -> tuple[datetime, datetime | None]:
        """Layouts without room for an offset write every time in the source's own zone."""
        zone = ZoneInfo(source.zone)
        return item.start.astimezone(zone), item.end.astimezone(zone) if item.end is not None else None

    @staticmethod
    def _zone_label(source, start: datetime) -> str:
        """A national listing names the zone its times are in ("6:30 PM EST"), as such pages do."""
        return f" {start.strftime('%Z')}" if source.region is None else ""

    def _cards(self, source, listings):
        zone = ZoneInfo(source.zone)
        cards = []
        for item in listings:
            if item.start.tzinfo == zone or getattr(item.start.tzinfo, "key", None) == source.zone:
                when = _prose_when(item.start) + self._zone_label(source, item.start)
            else:  # written in another zone: state the offset
                when = item.start.isoformat()
            where = html.escape(item.location or "")
            cards.append(
                f'<div class="event">\n  <h3><a href="{html.escape(item.url)}">{html.escape(item.title)}</a></h3>\n'
                f'  <p class="when">{html.escape(when)}</p>\n  <p class="where">{where}</p>\n'
                f'  <div class="desc">{html.escape(item.description)}</div>\n</div>')
        return "\n".join(cards)

    def _table(self, source, listings):
        rows = ["<tr><th>Date</th><th>Time</th><th>Event</th><th>Location</th></tr>"]
        for item in listings:
            start, end = self._local(source, item)
            time_text = _clock(start) + (f" - {_clock(end)}" if end is not None and end.date() == start.date() else "")
            time_text += self._zone_label(source, start)
            rows.append(f"<tr><td>{start:%m/%d/%Y}</td><td>{time_text}</td>"
                        f'<td><a href="{html.escape(item.url)}">{html.escape(item.title)}</a></td>'
                        f"<td>{html.escape(item.location or '')}</td></tr>")
        return '<table class="events">\n' + "\n".join(rows) + "\n</table>"

    def _day_headings(self, source, listings):
        days: dict[date, list[str]] = {}
        for item in sorted(listings, key=lambda x: x.start):
            start, end = self._local(source, item)
            time_text = _clock(start) + (f" - {_clock(end)}" if end is not None and end.date() == start.date() else "")
            time_text += self._zone_label(source, start)
            days.setdefault(start.date(), []).append(
                f'<li><span class="time">{time_text}</span> <a href="{html.escape(item.url)}">'
                f'{html.escape(item.title)}</a> <span class="place">{html.escape(item.location or "")}</span></li>')
        parts = []
        for day, items in days.items():  # the weekday and no year, as month pages write it
            parts.append(f'<h2 class="day">{day:%A, %B} {day.day}</h2>\n<ul class="day-events">\n'
                         + "\n".join(items) + "\n</ul>")
        return "\n".join(parts)

    def _date_apart(self, source, listings):
        items = []
        for item in listings:
            start, end = self._local(source, item)
            same_day = end is not None and end.date() == start.date()
            time_text = _clock(start) + (f" – {_clock(end)}" if same_day else "")
            time_text += self._zone_label(source, start)
            items.append(
                f'<li class="event-item"><div class="date-badge"><span class="month">{start:%b}</span> '
                f'<span class="day">{start.day}</span> <span class="year">{start.year}</span></div>\n'
                f'  <div class="info"><h4><a href="{html.escape(item.url)}">{html.escape(item.title)}</a></h4>\n'
                f'  <p class="time">{time_text}</p><p class="location">{html.escape(item.location or "")}</p>\n'
                f'  <p class="summary">{html.escape(item.description)}</p></div></li>')
        return '<ul class="event-list">\n' + "\n".join(items) + "\n</ul>"


class RssWriter(Writer):
    type_name = "rss"
    extension = "rss"
    content_type = "application/rss+xml; charset=utf-8"
    other_zone_ok = False  # prose states the time in the source's zone

    def render(self, source, listings, anchor):
        items = []
        for i, item in enumerate(listings):
            when = _prose_when(item.start)
            if item.end is not None:
                when += f" to {item.end.strftime('%I:%M %p').lstrip('0')}"
            lines = [f"When: {when}"]
            if item.location:
                lines.append(f"Where: {item.location}")
            lines.append("")
            lines.append(item.description)
            text = "<br/>\n".join(html.escape(x) for x in lines)
            published = anchor - timedelta(hours=3 * i + 1)
            items.append(
                f"<item><title>{html.escape(item.title)}</title><link>{html.escape(item.url)}</link>"
                f'<guid isPermaLink="true">{html.escape(item.url)}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{html.escape(text)}</description></item>")
        return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>{source.id} announcements</title><link>https://lists.example.org/{source.id}</link>"
                f"<description>Mailing-list archive</description>\n" + "\n".join(items)
                + "\n</channel></rss>\n").encode()


def _message(source: Source, item: Listing, i: int, anchor: datetime) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Chapter Announcements <announce@{source.id}.example.org>"
    msg["To"] = f"{source.id}@lists.example.org"
    msg["Subject"] = item.title
    msg["Date"] = format_datetime(anchor - timedelta(hours=3 * i + 1))
    msg["Message-ID"] = f"<{source.id}-{item.n}@farm.example>"
    when = _prose_when(item.start)
    if item.end is not None:
        when += f" to {item.end.strftime('%I:%M %p').lstrip('0')}"
    body = [f"When: {when}"]
    if item.location:
        body.append(f"Where: {item.location}")
    body += ["", item.description, "", f"Details: {item.url}", ""]
    msg.set_content("\n".join(body))
    return bytes(msg)


class MboxWriter(Writer):
    type_name = "mbox"
    extension = "mbox"
    content_type = "application/mbox"
    other_zone_ok = False

    def external_id(self, listing):
        return f"<{listing.source.id}-{listing.n}@farm.example>"

    def render(self, source, listings, anchor):
        out = []
        for i, item in enumerate(listings):
            raw = _message(source, item, i, anchor).replace(b"\r\n", b"\n")
            raw = b"\n".join((b">" + line if line.startswith(b"From ") else line) for line in raw.split(b"\n"))
            out.append(b"From announce@example.org " + anchor.strftime("%a %b %d %H:%M:%S %Y").encode()
                       + b"\n" + raw.rstrip(b"\n") + b"\n\n")
        return b"".join(out)


class MaildirWriter(Writer):
    type_name = "maildir"
    extension = ""
    local = True
    other_zone_ok = False

    def external_id(self, listing):
        return f"<{listing.source.id}-{listing.n}@farm.example>"

    def write(self, source, listings, anchor, files):
        root = files / source.path
        for sub in ("cur", "new", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for old in (root / "cur").iterdir():  # a rewrite replaces the folder's messages
            old.unlink()
        for i, item in enumerate(listings):
            (root / "cur" / f"{1700000000 + i}.{source.id}-{item.n}.farm:2,S").write_bytes(
                _message(source, item, i, anchor))


for _w in (IcalWriter(), JsonldWriter(), HtmlWriter(), RssWriter(), MboxWriter(), MaildirWriter()):
    register(_w)


def usable_types() -> list[str]:
    """The farm's types: those with a writer here AND an adapter registered in the project."""
    try:
        from sources.registry import available_types

        registered = set(available_types())
    except Exception:  # noqa: BLE001 - no project installed: nothing to benchmark
        registered = set()
    return [t for t in WRITERS if t in registered]


# --------------------------------------------------------------------------- generation


@dataclass
class Farm:
    dir: Path | None
    sources: list[Source]
    events: list[TrueEvent]
    anchor: datetime
    seed: int

    @property
    def records(self) -> list[Listing]:
        return [item for s in self.sources for item in s.listings]


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def _local(day: date, minute_of_day: int, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, minute_of_day // 60, minute_of_day % 60, tzinfo=ZoneInfo(zone))


def build_world(rng: random.Random, anchor: date, n_events: int, regions=REGIONS,
                span_days: int = 200) -> list[TrueEvent]:
    """The real-world events: singles plus near-miss structures."""
    venues: dict[str, list[Venue]] = {}
    for region, _zone, cities in regions:
        for city in cities:
            for k in range(5):
                name = rng.choice(VENUE_NAMES).format(city=city)
                suite = f"Suite {rng.randint(1, 4)}{rng.randint(0, 2)}0" if rng.random() < 0.4 else None
                venues.setdefault(region, []).append(Venue(name, rng.randint(10, 4999), rng.choice(STREETS),
                                                            rng.choice(STREET_KINDS), suite, city, region))
    events: list[TrueEvent] = []

    def new(title, start, minutes, venue, region, zone, kind, series=None):
        eid = f"E{len(events) + 1:05d}"
        desc = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
        events.append(TrueEvent(eid, title, start, minutes, venue, region, zone, kind,
                                f"https://www.{region.lower()}-massage.example.org/events/{eid.lower()}",
                                series, desc))

    def day_ahead() -> date:
        return anchor + timedelta(days=rng.randint(2, span_days))

    def title_for(region, city) -> str:
        if rng.random() < 0.6:
            return rng.choice(TITLE_FORMS).format(topic=rng.choice(TOPICS))
        return rng.choice(SOCIAL_FORMS).format(city=city, region=region)

    while len(events) < n_events:
        region, zone, cities = rng.choice(regions)
        venue = rng.choice(venues[region])
        roll = rng.random()
        if roll < 0.05:  # a monthly series: same title, venue and time, one occurrence per month
            title = rng.choice(SERIES_FORMS).format(city=venue.city, region=region, topic=rng.choice(TOPICS))
            weekday, nth = rng.randint(0, 4), rng.randint(1, 3)
            minute = rng.choice([18 * 60, 18 * 60 + 30, 19 * 60])
            sid = f"S{len(events) + 1:05d}"
            first = anchor + timedelta(days=5)
            for m in range(rng.randint(3, 6)):
                year, month = first.year + (first.month - 1 + m) // 12, (first.month - 1 + m) % 12 + 1
                new(title, _local(_nth_weekday(year, month, weekday, nth), minute, zone), 120, venue, region,
                    zone, "series", sid)
        elif roll < 0.18:  # two events at one venue on one day
            day, topic = day_ahead(), rng.choice(TOPICS)
            am = rng.choice([9 * 60, 10 * 60])
            pm = am + rng.choice([3, 4, 5]) * 60
            if rng.random() < 0.5:
                titles = (f"{topic}: Morning Session", f"{topic}: Afternoon Session")
            else:
                titles = (title_for(region, venue.city), f"Intro to {rng.choice(TOPICS)}")
            new(titles[0], _local(day, am, zone), 150, venue, region, zone, "venue_day")
            new(titles[1], _local(day, pm, zone), 150, venue, region, zone, "venue_day")
        elif roll < 0.23:  # one title, two cities, one evening
            title = rng.choice(NATIONAL_TITLES)
            day = day_ahead()
            (r1, z1, c1), (r2, z2, c2) = rng.sample(regions, 2)
            for r, z in ((r1, z1), (r2, z2)):
                new(title, _local(day, 18 * 60 + 30, z), 120, rng.choice(venues[r]), r, z, "same_title_cities")
        else:
            minute = rng.randrange(9 * 60, 19 * 60 + 1, 30)
            minutes = rng.choice([60, 90, 120, 180, 480])
            new(title_for(region, venue.city), _local(day_ahead(), minute, zone), minutes, venue, region, zone,
                "single")
    return events


COPIES = [(1, 0.50), (2, 0.27), (3, 0.15), (4, 0.08)]


def _copies(rng: random.Random) -> int:
    roll, acc = rng.random(), 0.0
    for k, p in COPIES:
        acc += p
        if roll < acc:
            return k
    return 1


def generate(out_dir: Path | str, *, n_sources: int = 300, seed: int = 7, anchor: date | None = None,
             types: list[str] | None = None, n_hosts: int = 32, events_per_source: float = 12.0,
             follow: int = 0) -> Farm:
    """Write the farm's files, farm.json and truth.json into out_dir; return the Farm.

    follow=N: N of the jsonld sources are Meetup-like (a listing of links, `follow:`, one page per
    event), all on host 0, as one big site carries most of the requests of a real run."""
    out = Path(out_dir)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    farm = plan(n_sources=n_sources, seed=seed, anchor=anchor, types=types, n_hosts=n_hosts,
                events_per_source=events_per_source, follow=follow)
    farm.dir = out
    for src in farm.sources:
        WRITERS[src.type].write(src, src.listings, farm.anchor, files)
    (out / "farm.json").write_text(json.dumps(_farm_dict(farm), indent=1), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(truth_dict(farm), indent=1, ensure_ascii=False), encoding="utf-8")
    return farm


def plan(*, n_sources: int = 300, seed: int = 7, anchor: date | None = None, types: list[str] | None = None,
         n_hosts: int = 32, events_per_source: float = 12.0, regions=REGIONS, span_days: int = 200,
         follow: int = 0) -> Farm:
    """The farm in memory: sources, their listings and the real-world events (no files)."""
    rng = random.Random(seed)
    anchor = anchor or datetime.now(UTC).date()
    anchor_dt = datetime(anchor.year, anchor.month, anchor.day, 12, tzinfo=UTC)
    types = [t for t in (types if types is not None else usable_types()) if t in WRITERS]
    if not types:
        raise SystemExit("no source type both has a farm writer and a registered adapter; "
                         "run `pip install -e .` in the project, or pass types=[...]")

    # Sources: regions round-robin, types round-robin, a few national listings.
    sources: list[Source] = []
    by_region: dict[str | None, list[Source]] = {}
    for i in range(n_sources):
        national = i % 25 == 24
        region, zone, _ = regions[i % len(regions)]
        type_name = types[i % len(types)]
        writer = WRITERS[type_name]
        rid = "us" if national else region.lower()
        sid = f"{rid}-{type_name}-{i:03d}"
        path = sid + (f".{writer.extension}" if writer.extension else "")
        src = Source(sid, type_name, None if national else region, zone, i % max(1, n_hosts), path)
        if type_name == "jsonld" and sum(s.follow for s in sources) < follow:
            src.follow, src.host = True, 0  # the one big Meetup-like site
        sources.append(src)
        by_region.setdefault(src.region, []).append(src)

    n_events = max(1, int(n_sources * events_per_source / 1.8))
    events = build_world(rng, anchor, n_events, regions, span_days)

    series_home: dict[str, Source] = {}  # the source listing a whole series
    for ev in events:
        pool = list(by_region.get(ev.region, []))
        if not pool:
            continue
        k = _copies(rng)
        chosen: list[Source] = []
        if ev.series:
            home = series_home.get(ev.series)
            if home is None:
                home = series_home[ev.series] = rng.choice(pool)
            chosen.append(home)
            k = max(1, k - 1) if rng.random() < 0.5 else 1
            extra = [s for s in pool if s is not home]
            chosen += rng.sample(extra, min(k - 1, len(extra)))
        else:
            chosen = rng.sample(pool, min(k, len(pool)))
        if ev.kind == "same_title_cities" or (len(chosen) < 4 and rng.random() < 0.04):
            national = by_region.get(None, [])
            if national:
                chosen.append(rng.choice(national))
        for copy, src in enumerate(chosen):
            _list(ev, src, copy, rng, series_home)

    # An ical source listing every occurrence of its series writes one VEVENT with an RRULE.
    for src in sources:
        if src.type != "ical":
            continue
        groups: dict[str, list[Listing]] = {}
        for item in src.listings:
            if item.event.series and series_home.get(item.event.series) is src:
                groups.setdefault(item.event.series, []).append(item)
        for items in groups.values():
            items.sort(key=lambda x: x.start)
            same_zone = all(getattr(x.start.tzinfo, "key", None) == x.event.zone for x in items)
            if len(items) >= 2 and len({x.title for x in items}) == 1 and same_zone:
                for x in items[1:]:
                    x.in_series_rule = True
                    x.n = items[0].n
                first = items[0]
                byday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][first.start.weekday()]
                nth = (first.start.day - 1) // 7 + 1
                first.series_rule = {"freq": "monthly", "byday": f"{nth}{byday}", "count": len(items)}
                for x in items:  # every occurrence keeps the first's location, description and length
                    x.venue, x.address, x.tba, x.description = first.venue, first.address, first.tba, first.description
                    x.url = first.url
                    x.end = x.start + (first.end - first.start) if first.end is not None else None

    return Farm(None, sources, events, anchor_dt, seed)


def _list(ev: TrueEvent, src: Source, copy: int, rng: random.Random, series_home: dict) -> None:
    """Add one copy of `ev` to `src`, varied as real sources vary."""
    strength = 0.4 if copy == 0 else 1.0
    n = len(src.listings) + 1
    writer = WRITERS[src.type]
    labels: list[str] = []
    title = vary_title(ev.title, ev.region, rng, strength, labels)
    if ev.series and series_home.get(ev.series) is src:
        title, labels = ev.title, []  # the series' home writes it the same every month
    start = ev.start
    if copy > 0 and rng.random() < 0.08:  # a zone mistake: the time is off by a whole hour
        start, _ = start + timedelta(hours=rng.choice([-1, 1])), labels.append("hour_off")
    zone = src.zone
    if writer.other_zone_ok and rng.random() < 0.2:
        zone = rng.choice(OTHER_ZONES)  # the same instant written in another zone
        if zone != src.zone:
            labels.append("other_zone")
    start = start.astimezone(ZoneInfo(zone))
    end = None if rng.random() < 0.25 * strength + 0.1 else start + timedelta(minutes=ev.minutes)
    if end is None:
        labels.append("no_end")
    tba = copy > 0 and rng.random() < 0.07
    venue, address = vary_venue(ev.venue, rng, strength, labels)
    if tba:
        labels.append("tba_venue")
    shared = rng.random() < 0.2
    url = ev.url if shared else f"https://{src.id}.example.net/events/{n}"
    if shared:
        labels.append("shared_url")
    desc = ev.description if rng.random() < 0.7 else " ".join(rng.sample(SENTENCES, 2))
    # Within a source, (title as read, start) must identify a record; if not, vary the title.
    taken = {(_norm_title(x.title), x.start.astimezone(UTC)) for x in src.listings}
    if (_norm_title(title), start.astimezone(UTC)) in taken:
        title = ev.title + f" ({ev.venue.city})"
        if (_norm_title(title), start.astimezone(UTC)) in taken:
            return
    src.listings.append(Listing(ev, src, n, title, start, end, venue, address, tba, url, desc, sorted(set(labels))))


def _farm_dict(farm: Farm) -> dict:
    return {
        "seed": farm.seed, "anchor": farm.anchor.isoformat(),
        "sources": [{"id": s.id, "type": s.type, "region": s.region, "timezone": s.zone, "host": s.host,
                     "path": s.path, "local": WRITERS[s.type].local,
                     "content_type": WRITERS[s.type].content_type,
                     "options": WRITERS[s.type].options(s)} for s in farm.sources],
    }


def _norm_title(title: str) -> str:
    return " ".join(title.split()).casefold()


def truth_dict(farm: Farm) -> dict:
    events = {}
    for ev in farm.events:
        events[ev.id] = {"title": ev.title, "start": ev.start.astimezone(UTC).isoformat(), "city": ev.venue.city,
                         "region": ev.region, "kind": ev.kind, "series": ev.series}
    records = []
    for item in farm.records:
        records.append({"source": item.source.id, "external_id": item.external_id, "event": item.event.id,
                        "title": item.title, "start": item.start.astimezone(UTC).isoformat(),
                        "url": item.url, "location": item.location, "variations": item.variations,
                        "from_rrule": item.in_series_rule or bool(item.series_rule)})
    listed = {r["event"] for r in records}
    return {"seed": farm.seed, "anchor": farm.anchor.isoformat(),
            "events": {k: v for k, v in events.items() if k in listed}, "records": records}


def change(farm: Farm, *, fraction: float = 0.05, seed: int = 99) -> dict:
    """Edit a few web sources as curators do between runs, rewrite their files, and say what changed.

    In each chosen source one listing moves one day later (same record: its time changed) and
    another is removed (its record vanishes); both are events no other source lists, and never
    occurrences of an RRULE. Returns {"sources": [...], "moved": [...],
    "removed": [...]}, each record given as {"source", "url", "event", "external_id"}.
    """
    rng = random.Random(seed)
    copies: dict[str, int] = {}
    for item in farm.records:
        copies[item.event.id] = copies.get(item.event.id, 0) + 1

    def eligible(src: Source) -> list[Listing]:
        # events only this source lists, so what the run should do is unambiguous
        return [x for x in src.listings if not (x.series_rule or x.in_series_rule) and copies[x.event.id] == 1]

    web = [s for s in farm.sources if not WRITERS[s.type].local and len(eligible(s)) >= 2]
    n_web = sum(1 for s in farm.sources if not WRITERS[s.type].local)
    chosen = rng.sample(web, min(len(web), max(1, round(n_web * fraction)))) if web else []
    moved, removed = [], []
    for src in sorted(chosen, key=lambda s: s.id):
        plain = eligible(src)
        move, drop = rng.sample(plain, 2)
        move.start += timedelta(days=1)
        if move.end is not None:
            move.end += timedelta(days=1)
        moved.append(_ref(move))
        src.listings.remove(drop)
        removed.append(_ref(drop))
        WRITERS[src.type].write(src, src.listings, farm.anchor, farm.dir / "files")
    if farm.dir is not None:
        (farm.dir / "truth.json").write_text(json.dumps(truth_dict(farm), indent=1, ensure_ascii=False),
                                             encoding="utf-8")
    return {"sources": sorted({r["source"] for r in moved}), "moved": moved, "removed": removed}


def _ref(item: Listing) -> dict:
    return {"source": item.source.id, "url": item.url, "event": item.event.id, "external_id": item.external_id,
            "start": item.start.astimezone(UTC).isoformat()}


def write_sources_yaml(farm_dir: Path | str, base_urls: list[str], *, concurrency: int | None = None,
                       per_host: int | None = None, extra_fetch: dict | None = None,
                       name: str = "sources.yaml") -> Path:
    """sources.yaml for the farm, each source's url on its host (base_urls[host % len])."""
    farm_dir = Path(farm_dir)
    meta = json.loads((farm_dir / "farm.json").read_text(encoding="utf-8"))
    entries = []
    for s in meta["sources"]:
        if s["local"]:
            url = str((farm_dir / "files" / s["path"]).resolve())
        else:
            url = f"{base_urls[s['host'] % len(base_urls)]}/{s['path']}"
        entry = {"id": s["id"], "type": s["type"], "url": url, "timezone": s["timezone"]}
        if s["region"]:
            entry["region"] = s["region"]
        entry.update(s["options"])
        entries.append(entry)
    fetch = dict(extra_fetch or {})
    if concurrency is not None:
        fetch["concurrency"] = concurrency
    if per_host is not None:
        fetch["per_host"] = per_host
    doc: dict = {"calendar": {"name": "Benchmark farm", "timezone": "America/Chicago", "horizon_days": 365}}
    if fetch:
        doc["fetch"] = fetch
    doc["sources"] = entries
    path = farm_dir / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--sources", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--anchor", type=date.fromisoformat, default=None, help="the farm's today (default: today)")
    p.add_argument("--hosts", type=int, default=32)
    p.add_argument("--types", default=None, help="comma-separated types (default: every registered one)")
    p.add_argument("--follow", type=int, default=0, metavar="N",
                   help="N jsonld sources are Meetup-like listings whose events are on pages of their own")
    args = p.parse_args(argv)
    types = args.types.split(",") if args.types else None
    farm = generate(args.out, n_sources=args.sources, seed=args.seed, anchor=args.anchor, types=types,
                    n_hosts=args.hosts, follow=args.follow)
    print(f"{len(farm.sources)} sources ({', '.join(sorted({s.type for s in farm.sources}))}), "
          f"{len(farm.records)} records of {len({r.event.id for r in farm.records})} real-world events in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
