"""The variant farm's generator: a seeded world of events, each copy written by its source's author.

    python -m benchmarks.variants.generate OUT_DIR [--seed 1] [--sources 150] [--anchor 2026-03-02]

writes, like benchmarks/farm.py, OUT_DIR/files/<source>.<ext>, OUT_DIR/farm.json (read by
benchmarks.serve_farm and farm.write_sources_yaml) and OUT_DIR/truth.json:

- "events": every real-world event: title, start and end (UTC instants, or dates when all day;
  a multi-day span's end is its last day), all_day, status (confirmed | cancelled), online and its
  link, the place as it really is, kind (in_person | online | online_pair | all_day | multi_day |
  venue_day | same_title_cities) and, for cancelled events, whether every source says so ("all")
  or only one ("one");
- "records": every record a source holds — a VEVENT, a JSON-LD event, a listing block, a post —
  with its (source, external_id), the event it belongs to (null for a post that is not an event:
  chatter, a reply, a digest, a forwarded newsletter, a job ad), its role, how it wrote its time
  (time_form: tzid | utc | floating | offset | naive | default | zone_word, and the zone word),
  its date (absolute | relative | span | date_only), whether it wrote the event as cancelled, and
  the catalogue's labels for every variation it used;
- "authors": each source's habits.

The anchor (the farm's today, the pipeline's `now`) defaults to a fixed date, so a seed names one
farm on every machine and every day.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks import farm as base
from benchmarks.variants import catalogue as cat
from benchmarks.variants.catalogue import Author, Place

UTC = timezone.utc
DEFAULT_ANCHOR = date(2026, 3, 2)
TYPES = ["ical", "jsonld", "html", "rss", "mbox", "maildir"]
MAIL_TYPES = ("rss", "mbox", "maildir")
EXTENSIONS = {"ical": "ics", "jsonld": "html", "html": "html", "rss": "rss", "mbox": "mbox", "maildir": ""}
CONTENT_TYPES = {"ical": "text/calendar; charset=utf-8", "jsonld": "text/html; charset=utf-8",
                 "html": "text/html; charset=utf-8", "rss": "application/rss+xml; charset=utf-8",
                 "mbox": "application/mbox", "maildir": "application/octet-stream"}
HTML_SELECTORS = {
    "cards": {"event": "div.event", "title": "h3", "start": ".when", "location": ".where", "link": "a@href",
              "description": ".desc"},
    "list": {"event": "li.listing", "title": "h4", "start": ".date, .time", "location": ".venue",
             "link": "a@href", "description": ".summary"},
    "table": {"event": "tr.ev", "title": "td.name", "start": "td.when", "location": "td.place", "link": "a@href"},
}
PEOPLE = ["Dana Whitfield", "Marcus Lee", "Priya Raman", "Jo Castillo", "Beth Okafor", "Sam Novak", "Lena Ortiz",
          "Chris Tanaka", "Ruth Abernathy", "Tom Guerrero", "Keiko Sato", "Ann-Marie Duval"]


# --------------------------------------------------------------------------- the world


@dataclass
class TrueEvent:
    id: str
    title: str
    kind: str
    zone: str
    region: str
    start: datetime | date  # aware (the venue's zone) or a date (all day)
    end: datetime | date | None  # aware, or the last day of a multi-day span
    place: Place | None
    online: bool = False
    link: str | None = None  # the meeting link of an online event
    url: str = ""  # the organiser's page
    description: str = ""
    status: str = "confirmed"
    cancel_mode: str | None = None  # all | one
    near: bool = False  # within a week of the anchor: reminders name its day relatively
    pair: str | None = None

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def day(self) -> date:
        return self.start.date() if isinstance(self.start, datetime) else self.start


def _places(rng: random.Random) -> dict[str, list[Place]]:
    out: dict[str, list[Place]] = {}
    for region, _zone, cities in cat.REGIONS:
        for city in cities:
            for _ in range(4):
                name = rng.choice(base.VENUE_NAMES).format(city=city)
                suite = rng.randint(1, 4) * 100 + rng.randint(0, 2) * 10 if rng.random() < 0.4 else None
                out.setdefault(region, []).append(Place(name, rng.randint(10, 4999), rng.choice(base.STREETS),
                                                        rng.choice(base.STREET_KINDS), suite, city, region,
                                                        f"{rng.randint(10000, 99999)}"))
    return out


def _local(day: date, minute: int, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=ZoneInfo(zone))


def build_world(rng: random.Random, anchor: date, n_events: int) -> list[TrueEvent]:
    places = _places(rng)
    events: list[TrueEvent] = []

    def title_for(region: str, city: str) -> str:
        if rng.random() < 0.6:
            return rng.choice(base.TITLE_FORMS).format(topic=rng.choice(base.TOPICS))
        return rng.choice(base.SOCIAL_FORMS).format(city=city, region=region)

    def new(title, kind, region, zone, start, end, place, **kw) -> TrueEvent:
        eid = f"E{len(events) + 1:05d}"
        ev = TrueEvent(eid, title, kind, zone, region, start, end, place,
                       url=f"https://www.{region.lower()}-massage.example.org/events/{eid.lower()}",
                       description=" ".join(rng.sample(base.SENTENCES, rng.randint(1, 3))), **kw)
        events.append(ev)
        return ev

    def zoom() -> str:
        return f"https://us0{rng.randint(2, 6)}web.zoom.us/j/{rng.randint(10 ** 9, 10 ** 10 - 1)}"

    while len(events) < n_events:
        region, zone, cities = rng.choice(cat.REGIONS)
        place = rng.choice(places[region])
        roll = rng.random()
        near = rng.random() < 0.14
        day = anchor + timedelta(days=rng.randint(0, 6) if near else rng.randint(7, 150))
        if roll < 0.50:  # in person, timed
            minute = rng.randrange(9 * 60, 19 * 60 + 1, 30)
            if day == anchor:
                minute = rng.randrange(17 * 60 + 30, 19 * 60 + 1, 30)  # "tonight": after the reminder went out
            start = _local(day, minute, zone)
            new(title_for(region, place.city), "in_person", region, zone, start,
                start + timedelta(minutes=rng.choice([60, 90, 120, 180])), place, near=near)
        elif roll < 0.60:  # online, timed
            minute = rng.randrange(11 * 60, 20 * 60 + 1, 30) if day != anchor else 19 * 60
            start = _local(day, minute, zone)
            new(rng.choice(base.TITLE_FORMS).format(topic=rng.choice(base.TOPICS)), "online", region, zone,
                start, start + timedelta(minutes=rng.choice([60, 90])), None, online=True, link=zoom(), near=near)
        elif roll < 0.67:  # two online sessions of one title on one day, hours apart: two events
            title = rng.choice(base.TITLE_FORMS).format(topic=rng.choice(base.TOPICS))
            first = rng.choice([10 * 60, 11 * 60, 12 * 60])
            second = first + rng.choice([3, 5, 7]) * 60
            link = zoom()
            shared = rng.random() < 0.5  # a host's personal meeting room serves both sessions
            a = new(title, "online_pair", region, zone, _local(day, first, zone),
                    _local(day, first, zone) + timedelta(minutes=60), None, online=True, link=link, near=False)
            b = new(title, "online_pair", region, zone, _local(day, second, zone),
                    _local(day, second, zone) + timedelta(minutes=60), None, online=True,
                    link=link if shared else zoom(), near=False)
            a.pair, b.pair = b.id, a.id
            if day - anchor < timedelta(days=7):
                a.near = b.near = False
        elif roll < 0.73:  # all day, one day
            title = rng.choice(["Volunteer Day: Chair Massage at the {city} Marathon", "Community Massage Clinic Day",
                                "{region} Massage Therapy Awareness Day", "Open House at {venue}"])
            new(title.format(city=place.city, region=region, venue=place.name), "all_day", region, zone, day, None,
                place, near=near)
        elif roll < 0.80:  # a span of days, no time
            first = anchor + timedelta(days=rng.randint(10, 150))
            last = first + timedelta(days=rng.choice([1, 2, 2, 3]))
            title = rng.choice(["{region} Massage Therapy Conference", "{topic} Weekend Intensive",
                                "{region} Chapter Annual Retreat", "{topic} Certification Course"])
            new(title.format(region=region, topic=rng.choice(base.TOPICS)), "multi_day", region, zone, first, last,
                place)
        elif roll < 0.87:  # two events at one venue on one day
            topic = rng.choice(base.TOPICS)
            am = rng.choice([9 * 60, 10 * 60])
            pm = am + rng.choice([3, 4, 5]) * 60
            if rng.random() < 0.5:
                titles = (f"{topic}: Morning Session", f"{topic}: Afternoon Session")
            else:
                titles = (title_for(region, place.city), f"Intro to {rng.choice(base.TOPICS)}")
            day = anchor + timedelta(days=rng.randint(7, 150))
            a = new(titles[0], "venue_day", region, zone, _local(day, am, zone),
                    _local(day, am, zone) + timedelta(minutes=150), place)
            b = new(titles[1], "venue_day", region, zone, _local(day, pm, zone),
                    _local(day, pm, zone) + timedelta(minutes=150), place)
            a.pair, b.pair = b.id, a.id
        else:  # one national title, two cities, one evening
            title = rng.choice(base.NATIONAL_TITLES)
            day = anchor + timedelta(days=rng.randint(7, 150))
            (r1, z1, _), (r2, z2, _) = rng.sample(cat.REGIONS, 2)
            pair = []
            for r, z in ((r1, z1), (r2, z2)):
                s = _local(day, 18 * 60 + 30, z)
                pair.append(new(title, "same_title_cities", r, z, s, s + timedelta(minutes=120),
                                rng.choice(places[r])))
            pair[0].pair, pair[1].pair = pair[1].id, pair[0].id
    # Cancelled events: some every source says so, some only one source does (the others are stale).
    for ev in events:
        if ev.kind in ("in_person", "online", "all_day", "multi_day") and rng.random() < 0.07:
            ev.status = "cancelled"
            ev.cancel_mode = "all" if rng.random() < 0.4 else "one"
    return events


# --------------------------------------------------------------------------- sources and records


@dataclass
class SourceSpec:
    id: str
    type: str
    region: str | None
    zone: str
    host: int
    path: str
    city: str
    author: Author
    records: list["Record"] = field(default_factory=list)
    posts: list["MailPost"] = field(default_factory=list)

    @property
    def national(self) -> bool:
        return self.region is None


@dataclass
class Record:
    """One event as one structured source or listing writes it."""

    event: TrueEvent
    n: int
    external_id: str
    url: str
    title: str
    location: str | None
    write_end: bool
    cancelled: bool
    time_form: str
    zone_word: str | None
    labels: list[str]
    when_text: str | None = None  # listings: the date and time text
    date_part: str | None = None
    time_part: str | None = None
    description: str = ""


@dataclass
class MailPost:
    n: int
    msg_id: str
    subject: str
    body: str
    sent: datetime
    author_name: str
    role: str  # announcement | reminder | cancellation | forward | reply | chatter | job | forsale | minutes | dues | digest | newsletter
    event: TrueEvent | None
    in_reply_to: str | None = None
    url: str = ""
    time_form: str | None = None
    zone_word: str | None = None
    date_form: str | None = None
    write_end: bool = False
    labels: list[str] = field(default_factory=list)


def _sources(rng: random.Random, n_sources: int, types: list[str], n_hosts: int) -> list[SourceSpec]:
    out = []
    for i in range(n_sources):
        national = i % 25 == 24
        region, zone, cities = cat.REGIONS[i % len(cat.REGIONS)]
        type_name = types[(i + i // len(cat.REGIONS)) % len(types)]  # every region gets every type
        rid = "us" if national else region.lower()
        sid = f"{rid}-{type_name}-{i:03d}"
        ext = EXTENSIONS[type_name]
        city = rng.choice(cities)
        author = cat.draw_author(rng, type_name, None if national else region, city, zone)
        out.append(SourceSpec(sid, type_name, None if national else region, zone, i % max(1, n_hosts),
                              sid + (f".{ext}" if ext else ""), city, author))
    return out


def _zone_of(src: SourceSpec, ev: TrueEvent) -> str:
    """The zone this author writes the event's time in."""
    if src.national and src.author.writes_in_own_zone and not ev.all_day:
        return src.zone
    return ev.zone


def _structured_record(src: SourceSpec, ev: TrueEvent, rng: random.Random, cancelled: bool) -> Record:
    a = src.author
    labels: list[str] = []
    n = len(src.records) + 1
    title = cat.decorate_title(ev.title, author=a, rng=rng, place=ev.place, day=ev.day, online=ev.online,
                               labels=labels)
    if cancelled and (a.cancel_style in ("title", "both") or src.type == "html"):  # a listing has no status field
        title = rng.choice(["CANCELLED: ", "Cancelled - ", "CANCELED: "]) + title
        labels.append("cancelled_in_title")
    location = cat.render_place(ev.place, a, labels, online=ev.online, link=ev.link)
    shared = rng.random() < 0.25
    url = ev.url if shared else f"https://{src.id}.example.net/events/{n}"
    if shared:
        labels.append("shared_url")
    ext_id = f"{src.id}-{n}@variants.example" if src.type == "ical" else url
    write_end = ev.end is not None and (ev.kind == "multi_day" or rng.random() < a.writes_end)
    if not write_end and ev.end is not None:
        labels.append("no_end")
    zone = _zone_of(src, ev)
    time_form, word = a.time_form, None
    if ev.all_day:
        time_form = "date_only"
    elif src.type == "html":
        if time_form == "default" and zone != src.zone:
            time_form = "zone_word"
        if time_form == "zone_word":
            word = cat.zone_word(zone, ev.start.astimezone(ZoneInfo(zone)), a, rng)
    elif time_form in ("floating", "naive") and zone != src.zone:
        time_form = "tzid" if src.type == "ical" else "offset"
    rec = Record(ev, n, ext_id, url, title, location, write_end, cancelled, time_form, word, labels)
    rec.description = ev.description
    if ev.online:
        rec.description = f"{ev.description}\n\nJoin Zoom Meeting\n{ev.link}"
    if src.type == "html":
        _listing_text(rec, src, ev, zone, rng)
    labels.append(f"time_{time_form}")
    return rec


def _listing_text(rec: Record, src: SourceSpec, ev: TrueEvent, zone: str, rng: random.Random) -> None:
    a = src.author
    style = a.date_style if a.date_style in ("long", "short", "numeric", "long_noyear", "abbr_ordinal") else "long"
    if a.schedule_style == "tec" and not ev.all_day and rec.time_form != "offset":
        # The Events Calendar (WordPress) prints "March 7 @ 6:30 pm - 8:30 pm", the zone after it if any
        start = ev.start.astimezone(ZoneInfo(zone))
        end = ev.end.astimezone(ZoneInfo(zone)) if rec.write_end else None
        rec.date_part = cat.date_text(start.date(), "tec", anchor_year=2026 if start.year == 2026 else None)
        rec.time_part = cat.clock(start, "h_mm_am") + (f" - {cat.clock(end, 'h_mm_am')}" if end else "")
        if rec.zone_word:
            rec.time_part += f" {rec.zone_word}"
        rec.when_text = f"{rec.date_part} @ {rec.time_part}"
        rec.labels.append("schedule_tec")
        return
    if ev.kind == "multi_day":
        rec.date_part, rec.time_part = cat.span_text(ev.start, ev.end, rng), ""
    elif ev.all_day:
        rec.date_part = cat.date_text(ev.day, style)
        rec.time_part = rng.choice(["All day", "all day", ""])
    else:
        start = ev.start.astimezone(ZoneInfo(zone))
        end = ev.end.astimezone(ZoneInfo(zone)) if rec.write_end else None
        if rec.time_form == "offset":
            if rng.random() < 0.5:
                rec.date_part, rec.time_part = start.isoformat(timespec="minutes"), ""
                if end is not None:
                    rec.time_part = "until " + end.isoformat(timespec="minutes")
            else:
                off = int(start.utcoffset().total_seconds() // 3600)
                rec.date_part = cat.date_text(start.date(), style)
                rec.time_part = cat.time_range(start, end, a.time_style, rng) + f" GMT{off:+d}"
        else:
            rec.date_part = cat.date_text(start.date(), style)
            rec.time_part = cat.time_range(start, end, a.time_style, rng)
            if rec.zone_word:
                rec.time_part += f" {rec.zone_word}"
    sep = rng.choice([" · ", ", ", " | ", " "])
    rec.when_text = rec.date_part + (sep + rec.time_part if rec.time_part else "")


# --------------------------------------------------------------------------- mail


def _mail_id(src: SourceSpec, n: int) -> str:
    if src.type == "rss":
        return f"https://lists.example.org/archives/{src.id}/msg{n:05d}.html"
    return f"<{src.id}-{n}@lists.variants.example>"


def _add_post(src: SourceSpec, rng: random.Random, **kw) -> MailPost:
    n = len(src.posts) + 1
    mid = _mail_id(src, n)
    post = MailPost(n=n, msg_id=mid, author_name=kw.pop("author_name", rng.choice(PEOPLE)),
                    url=mid if src.type == "rss" else f"https://lists.example.org/archives/{src.id}/msg{n:05d}.html",
                    **kw)
    src.posts.append(post)
    return post


def _subject(src: SourceSpec, text: str) -> str:
    return f"{src.author.list_tag} {text}" if src.author.list_tag else text


def _when_prose(ev: TrueEvent, src: SourceSpec, rng: random.Random, labels: list[str],
                write_end: bool) -> tuple[str, str, str | None, str]:
    """(date text, time text, zone word, time_form) of an announcement."""
    a = src.author
    if ev.kind == "multi_day":
        labels.append("date_span")
        return cat.span_text(ev.start, ev.end, rng), "", None, "date_only"
    if ev.all_day:
        labels.append("date_all_day")
        return cat.date_text(ev.day, a.date_style), rng.choice(["all day", "(all day)", ""]), \
            None, "date_only"
    zone = _zone_of(src, ev)
    start = ev.start.astimezone(ZoneInfo(zone))
    end = ev.end.astimezone(ZoneInfo(zone)) if write_end else None
    tt = cat.time_range(start, end, a.time_style, rng)
    form, word = a.time_form, None
    if form == "default" and (zone != src.zone or (ev.online and rng.random() < 0.5)):
        form = "zone_word"  # online events and other zones' events say which zone
    if form == "zone_word":
        word = cat.zone_word(zone, start, a, rng)
        tt = f"{tt} {word}"
        if ev.online and rng.random() < 0.3:  # "7pm ET / 4pm PT"
            other = "America/Los_Angeles" if zone != "America/Los_Angeles" else "America/New_York"
            o = ev.start.astimezone(ZoneInfo(other))
            tt += f" / {cat.clock(o, a.time_style)} {cat.zone_word(other, o, a, rng)}"
            labels.append("two_zones")
    labels.append(f"time_{form}")
    return cat.date_text(start.date(), a.date_style), tt, word, form


def _announcement_body(ev: TrueEvent, src: SourceSpec, rng: random.Random, date_t: str, time_t: str,
                       where: str | None, sender: str) -> str:
    title = ev.title
    form = src.author.body_style if src.author.body_style >= 0 else rng.randrange(6)
    if ev.online:
        where_line = f"Zoom: {ev.link}"
    else:
        where_line = where or ""
    if form == 0:
        lines = [f"When: {date_t}" + (f", {time_t}" if time_t else ""), f"Where: {where_line}", "", ev.description]
    elif form == 1:
        when = f"on {date_t}" if not date_t.startswith("from") else date_t
        at = (f" from {time_t}" if "–" in time_t or "-" in time_t or " to " in time_t else f" at {time_t}") \
            if time_t and time_t[0].isdigit() else (f", {time_t}" if time_t else "")
        place = f" at {where}" if where and not ev.online else " online"
        lines = ["Hi all,", "", f"Please join us for {title} {when}{at}{place}. {ev.description}"]
        if ev.online:
            lines += ["", "Join Zoom Meeting", ev.link, f"Meeting ID: {ev.link.rsplit('/', 1)[1]}"]
    elif form == 2:
        lines = [title, date_t + (f" · {time_t}" if time_t else ""), where_line, "", ev.description,
                 f"RSVP: {ev.url}"]
    elif form == 3:  # the details as separate fields
        lines = [f"{title}", "", f"Date: {date_t}"] + ([f"Time: {time_t}"] if time_t else []) + \
                [f"Location: {where_line}", "", ev.description]
    elif form == 4 and time_t and time_t[0].isdigit() and not date_t.startswith("from"):  # the time first
        place = "online" if ev.online else f"at {where}" if where else ""
        lines = ["Hello everyone!", "", f"We're getting together at {time_t} on {date_t} {place} for {title}.",
                 ev.description] + (["", ev.link] if ev.online else [])
    else:  # compact: "Sat, Mar 7 @ 6:30pm, The Muse ..."
        head = f"{date_t} @ {time_t}" if time_t and time_t[0].isdigit() else f"{date_t} {time_t}".strip()
        lines = [f"{title}: {head}" + (f", {where_line}" if where_line else ""), "", ev.description]
    if src.author.signature:
        lines += ["", "-- ", f"{sender}, LMT", src.author.group]
    lines += ["", "_______________________________________________", f"{src.id} mailing list",
              f"https://lists.example.org/listinfo/{src.id}"]
    return "\n".join(lines)


def _quote(post: MailPost, style: str) -> str:
    sent = post.sent
    if style == "gmail":
        head = (f"On {sent:%a}, {sent:%b} {sent.day}, {sent.year} at {cat.clock(sent, 'h_mm_AM')} "
                f"{post.author_name} <{post.author_name.split()[0].lower()}@example.com> wrote:")
        return head + "\n\n" + "\n".join("> " + line if line else ">" for line in _own(post.body).splitlines())
    if style == "outlook":
        return ("-----Original Message-----\n"
                f"From: {post.author_name}\nSent: {sent:%A}, {sent:%B} {sent.day}, {sent.year} "
                f"{cat.clock(sent, 'h_mm_AM')}\nSubject: {post.subject}\n\n{_own(post.body)}")
    return (f"{post.author_name} wrote:\n"
            + "\n".join("> " + line if line else ">" for line in _own(post.body).splitlines()))


def _own(body: str) -> str:
    """A body without its list footer (what a reply quotes)."""
    return body.split("\n_______________________________________________")[0]


REPLIES = ["Is there parking nearby?", "Count me in! Can I bring a student?", "Will this be recorded?",
           "Thanks for organizing, see everyone there.", "Does this count toward the state CE requirement?",
           "Sorry, can't make this one. Next time!"]
CHATTER = [("Table warmer recommendations?", "Does anyone have a table warmer they love? Mine died last week "
            "and I have clients booked all Saturday."),
           ("Looking for a sublet room", "I'm looking to sublet a treatment room two days a week, "
            "ideally near downtown. Let me know if you have space at your suite."),
           ("Insurance question", "Has anyone switched liability carriers this year? Which one did you pick?")]


def _mail_source(src: SourceSpec, listed: list[tuple[TrueEvent, bool]], rng: random.Random,
                 anchor: datetime) -> None:
    """The list's posts: announcements, reminders, replies, cancellations, forwards and chatter."""
    a = src.author
    zone = ZoneInfo(src.zone)
    announcements: list[MailPost] = []
    for ev, cancel_here in listed:
        labels: list[str] = []
        title = cat.decorate_title(ev.title, author=a, rng=rng, place=ev.place, day=ev.day, online=ev.online,
                                   labels=labels)
        where = cat.render_place(ev.place, a, labels, online=ev.online)
        write_end = ev.end is not None and not ev.all_day and rng.random() < a.writes_end
        relative_only = ev.near and rng.random() < a.reminder_p * 0.6
        ann = None
        if not relative_only:
            date_t, time_t, word, form = _when_prose(ev, src, rng, labels, write_end)
            sender = rng.choice(PEOPLE)
            sent = anchor - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
            prefix = rng.choice(["", "", "", "Save the date: ", "ANNOUNCE: ", "New event: "])
            ann = _add_post(src, rng, subject=_subject(src, prefix + title),
                            body=_announcement_body(ev, src, rng, date_t, time_t, where, sender),
                            sent=sent.astimezone(zone), author_name=sender, role="announcement", event=ev,
                            time_form=form, zone_word=word, date_form="span" if ev.kind == "multi_day" else
                            ("date_only" if ev.all_day else "absolute"), write_end=write_end, labels=labels)
            announcements.append(ann)
        if ev.near and (relative_only or (rng.random() < a.reminder_p and not ev.all_day)):
            # a reminder names the day only relatively: its subject carries no "– Sat 3/7" either
            plain = cat.decorate_title(ev.title, author=replace(a, date_suffix_p=0.0), rng=rng, place=ev.place,
                                       day=ev.day, online=ev.online, labels=[])
            _reminder(src, ev, rng, anchor, ann, plain, where)
        if ann is not None and rng.random() < a.reply_p:
            _reply(src, ann, rng)
        if cancel_here and ann is not None:
            _cancellation(src, ev, ann, rng, anchor)
        elif cancel_here:  # cancelled in this list only, after its reminder: the reminder's thread
            last = next((p for p in reversed(src.posts) if p.event is ev), None)
            if last is not None:
                _cancellation(src, ev, last, rng, anchor)
    if a.forward_p and announcements and rng.random() < a.forward_p * 2:
        _forward(src, rng.choice(announcements), rng)
    for _ in range(a.chatter):
        _chatter(src, rng, anchor)
    if a.digest and announcements:
        _digest(src, rng, anchor, announcements)
    src.posts.sort(key=lambda p: p.sent)


def _reminder(src: SourceSpec, ev: TrueEvent, rng: random.Random, anchor: datetime, ann: MailPost | None,
              title: str, where: str | None) -> None:
    a = src.author
    zone = ZoneInfo(src.zone)
    sent = (anchor - timedelta(minutes=rng.randint(30, 100))).astimezone(zone)
    labels = ["date_relative"]
    ev_zone = _zone_of(src, ev)
    if ev.all_day:
        rel = cat.relative_day(sent.date(), ev.day, rng, evening=False, all_day=True)
        tt, word, form = "", None, "date_only"
    else:
        start = ev.start.astimezone(ZoneInfo(ev_zone))
        rel = cat.relative_day(sent.date(), start.date(), rng, evening=start.hour >= 17, morning=start.hour < 12)
        tt = cat.clock(start, a.time_style) if rng.random() < 0.6 else cat.clock(start, "ham")
        if 17 <= start.hour <= 21 and rng.random() < 0.25:  # "tomorrow at 7": an evening needs no "pm"
            tt = f"{start.hour - 12}" + (f":{start:%M}" if start.minute else "")
            labels.append("time_no_meridiem")
        form, word = a.time_form, None
        if form == "default" and ev_zone != src.zone:
            form = "zone_word"
        if form == "zone_word":
            word = cat.zone_word(ev_zone, start, a, rng)
            tt = f"{tt} {word}"
        labels.append(f"time_{form}")
    if rel is None:
        return
    subject = rng.choice([f"Reminder: {title} {rel}", f"REMINDER - {title}", f"{title} is {rel}!",
                          f"Reminder: {title}"])
    place = "" if ev.online else (f" at {where}" if where and rng.random() < 0.7 else "")
    at = f" at {tt}" if tt else ""
    body = rng.choice([f"Just a reminder that {ev.title} is {rel}{at}{place}. See you there!",
                       f"Friendly reminder: we meet {rel}{at}{place} for {ev.title}.",
                       f"Don't forget - {ev.title} {rel}{at}{place}. Bring a friend."])
    if ev.online:
        body += f"\n\nZoom link: {ev.link}"
    body += f"\n\n{rng.choice(PEOPLE)}\n\n_______________________________________________\n{src.id} mailing list"
    _add_post(src, rng, subject=_subject(src, subject), body=body, sent=sent, role="reminder", event=ev,
              in_reply_to=ann.msg_id if ann is not None and rng.random() < 0.3 else None,
              time_form=form, zone_word=word, date_form="relative", labels=labels)


def _reply(src: SourceSpec, ann: MailPost, rng: random.Random) -> None:
    sent = ann.sent + timedelta(hours=rng.randint(2, 40))
    body = rng.choice(REPLIES) + "\n\n" + _quote(ann, src.author.quote_style)
    subj = ann.subject if ann.subject.lower().startswith("re:") else f"Re: {ann.subject}"
    _add_post(src, rng, subject=subj, body=body, sent=sent, role="reply", event=None, in_reply_to=ann.msg_id,
              labels=[f"quote_{src.author.quote_style}"])


def _cancellation(src: SourceSpec, ev: TrueEvent, ann: MailPost, rng: random.Random, anchor: datetime) -> None:
    sent = max(ann.sent + timedelta(hours=3), anchor - timedelta(hours=rng.randint(2, 20)))
    if sent >= anchor:
        sent = anchor - timedelta(minutes=5)
    day = ev.day
    subject = rng.choice([f"CANCELLED: {ev.title}", f"Cancelled - {ev.title} on {day:%B} {day.day}",
                          f"Re: {ann.subject} - CANCELLED", f"{ev.title} has been cancelled"])
    body = rng.choice([f"Unfortunately we have to cancel {ev.title} on {day:%A}, {day:%B} {day.day}. "
                       "We hope to reschedule soon.",
                       f"Sorry everyone, {ev.title} is cancelled this time. Refunds will be issued.",
                       f"Due to low registration, {ev.title} ({day:%b} {day.day}) has been called off."])
    _add_post(src, rng, subject=_subject(src, subject) if not subject.startswith("Re:") else subject, body=body,
              sent=sent.astimezone(ZoneInfo(src.zone)), role="cancellation", event=ev,
              in_reply_to=ann.msg_id if rng.random() < 0.6 else None, labels=["cancellation_post"])


def _forward(src: SourceSpec, ann: MailPost, rng: random.Random) -> None:
    sent = ann.sent + timedelta(days=1, hours=rng.randint(0, 20))
    body = (rng.choice(["FYI - thought folks here might be interested.", "Passing this along.", ""]) +
            "\n\n---------- Forwarded message ---------\n"
            f"From: {ann.author_name} <{ann.author_name.split()[0].lower()}@example.com>\n"
            f"Date: {format_datetime(ann.sent)}\nSubject: {ann.subject}\n\n{_own(ann.body)}")
    _add_post(src, rng, subject=f"Fwd: {ann.subject}", body=body, sent=sent, role="forward", event=ann.event,
              time_form=ann.time_form, zone_word=ann.zone_word, date_form=ann.date_form, write_end=ann.write_end,
              labels=["forward"])


def _chatter(src: SourceSpec, rng: random.Random, anchor: datetime) -> None:
    zone = ZoneInfo(src.zone)
    sent = (anchor - timedelta(days=rng.randint(1, 25), minutes=rng.randint(0, 900))).astimezone(zone)
    kind = rng.choice(["chatter", "chatter", "job", "forsale", "minutes", "dues", "newsletter"])
    future = (anchor + timedelta(days=rng.randint(10, 40))).date()
    past = (sent - timedelta(days=rng.randint(3, 20))).date()
    if kind == "chatter":
        subject, body = rng.choice(CHATTER)
    elif kind == "job":
        subject = f"Job: LMT wanted at {rng.choice(['Serenity Spa', 'Peak Sports Clinic', 'Lotus Day Spa'])}"
        body = (f"We are hiring a part-time LMT, start date {future:%B} {future.day}. Interviews Tuesdays at 10am "
                "at our clinic. Send your resume to jobs@example.com.")
    elif kind == "forsale":
        subject = "For sale: Earthlite table, $250"
        body = "Gently used, 30\" wide, with face cradle. Pick up Saturday after 2pm, or message me."
    elif kind == "minutes":
        subject = f"Minutes of the {past:%B} {past.day} board meeting"
        body = (f"Minutes of the board meeting held {past:%A}, {past:%B} {past.day}, {past.year} at 7:00 PM. "
                "Present: five directors. The treasurer's report was accepted.")
    elif kind == "dues":
        subject = "Membership renewal reminder"
        body = f"A reminder that chapter dues are due by {future:%B} {future.day}. Renew online before then."
    else:
        subject = "Fwd: AMTA Journal - the spring issue is out"
        body = ("---------- Forwarded message ---------\nFrom: AMTA <news@example.org>\n"
                f"Date: {format_datetime(sent - timedelta(days=2))}\n\nIn this issue: research on massage and "
                f"sleep, a {past:%B} {past.day} webinar recap, and member news.")
    body += "\n\n_______________________________________________\n" + f"{src.id} mailing list"
    _add_post(src, rng, subject=_subject(src, subject), body=body, sent=sent, role=kind, event=None,
              labels=[f"nonevent_{kind}"])


def _digest(src: SourceSpec, rng: random.Random, anchor: datetime, anns: list[MailPost]) -> None:
    chosen = rng.sample(anns, min(len(anns), 2))
    sent = max(p.sent for p in chosen) + timedelta(hours=6)
    if sent >= anchor:
        sent = anchor - timedelta(minutes=1)
    topics = "\n".join(f"   {i + 1}. {p.subject} ({p.author_name})" for i, p in enumerate(chosen))
    parts = [f"Send {src.id} mailing list submissions to\n\t{src.id}@lists.example.org\n",
             f"Today's Topics:\n\n{topics}\n", "-" * 70]
    for i, p in enumerate(chosen):
        parts.append(f"\nMessage: {i + 1}\nDate: {format_datetime(p.sent)}\nFrom: {p.author_name}\n"
                     f"Subject: {p.subject}\n\n{_own(p.body)}\n\n" + "-" * 70)
    _add_post(src, rng, subject=f"{src.id} Digest, Vol {rng.randint(2, 9)}, Issue {rng.randint(1, 40)}",
              body="\n".join(parts), sent=sent.astimezone(ZoneInfo(src.zone)), role="digest", event=None,
              labels=["nonevent_digest"])


# --------------------------------------------------------------------------- writers


def _ical(src: SourceSpec, anchor: datetime) -> bytes:
    from icalendar import Calendar, Event as VEvent, Timezone

    cal = Calendar()
    cal.add("prodid", "-//massage-events variant farm//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", src.author.group)
    cal.add("x-wr-timezone", src.zone)
    zones = sorted({_zone_of(src, r.event) for r in src.records if r.time_form == "tzid"})
    for key in zones:
        cal.add_component(Timezone.from_tzid(key))
    for r in src.records:
        ev = r.event
        ve = VEvent()
        ve.add("uid", r.external_id)
        ve.add("dtstamp", anchor)
        ve.add("summary", r.title)
        if ev.all_day:
            ve.add("dtstart", ev.start)
            last = ev.end if ev.end is not None else ev.start
            if r.write_end or ev.kind == "multi_day":
                ve.add("dtend", last + timedelta(days=1))
        else:
            zone = ZoneInfo(_zone_of(src, ev))
            start, end = ev.start.astimezone(zone), ev.end.astimezone(zone)
            if r.time_form == "utc":
                start, end = start.astimezone(UTC), end.astimezone(UTC)
            elif r.time_form == "floating":
                start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
            ve.add("dtstart", start)
            if r.write_end:
                ve.add("dtend", end)
        if r.location:
            ve.add("location", r.location)
        ve.add("url", r.url)
        ve.add("description", r.description)
        if r.cancelled and src.author.cancel_style in ("status", "both"):
            ve.add("status", "CANCELLED")
        cal.add_component(ve)
    return cal.to_ical()


def _jsonld(src: SourceSpec) -> bytes:
    items = []
    for r in src.records:
        ev = r.event
        obj: dict = {"@context": "https://schema.org", "@type": "Event", "name": r.title, "url": r.url}
        if ev.all_day:
            obj["startDate"] = ev.start.isoformat()
            if r.write_end and ev.end is not None:
                obj["endDate"] = ev.end.isoformat()
        else:
            zone = ZoneInfo(_zone_of(src, ev))
            start, end = ev.start.astimezone(zone), ev.end.astimezone(zone)
            if r.time_form == "utc":
                start, end = start.astimezone(UTC), end.astimezone(UTC)
            fmt = (lambda d: d.replace(tzinfo=None).isoformat()) if r.time_form == "naive" else \
                (lambda d: d.isoformat().replace("+00:00", "Z"))
            obj["startDate"] = fmt(start)
            if r.write_end:
                obj["endDate"] = fmt(end)
        cancelled = r.cancelled and src.author.cancel_style in ("status", "both")
        obj["eventStatus"] = "https://schema.org/" + ("EventCancelled" if cancelled else "EventScheduled")
        if ev.online:
            obj["eventAttendanceMode"] = "https://schema.org/OnlineEventAttendanceMode"
            obj["location"] = {"@type": "VirtualLocation", "url": ev.link}
        else:
            p = ev.place
            a = src.author
            address = {"@type": "PostalAddress", "streetAddress": cat.street_line(p, a),
                       "addressLocality": p.city, "addressRegion": cat.state_text(p, a) or p.region}
            if a.layout == "name_comma_addr_zip":
                address["postalCode"] = p.zip
            obj["eventAttendanceMode"] = "https://schema.org/OfflineEventAttendanceMode"
            obj["location"] = {"@type": "Place", "name": cat._venue_name(p, a), "address": address}
        obj["description"] = r.description
        items.append(obj)
    blocks = "\n".join(f'<script type="application/ld+json">{json.dumps(o, ensure_ascii=False)}</script>'
                       for o in items)
    cards = "\n".join(f'<li><a class="event-link" href="{html.escape(r.url)}">{html.escape(r.title)}</a></li>'
                      for r in src.records)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(src.author.group)} events</title>\n'
            f"{blocks}\n</head><body><h1>Upcoming events</h1><ul>{cards}</ul></body></html>\n").encode()


def _html(src: SourceSpec) -> bytes:
    e = html.escape
    layout = src.author.html_layout
    blocks = []
    for r in src.records:
        if layout == "cards":
            blocks.append(f'<div class="event">\n  <h3><a href="{e(r.url)}">{e(r.title)}</a></h3>\n'
                          f'  <p class="when">{e(r.when_text)}</p>\n  <p class="where">{e(r.location or "")}</p>\n'
                          f'  <div class="desc">{e(r.description)}</div>\n</div>')
        elif layout == "list":
            blocks.append(f'<li class="listing"><h4><a href="{e(r.url)}">{e(r.title)}</a></h4>'
                          f'<span class="date">{e(r.date_part)}</span> <span class="time">{e(r.time_part)}</span>'
                          f'<br><span class="venue">{e(r.location or "")}</span>'
                          f'<p class="summary">{e(r.description)}</p></li>')
        else:
            blocks.append(f'<tr class="ev"><td class="name"><a href="{e(r.url)}">{e(r.title)}</a></td>'
                          f'<td class="when">{e(r.when_text)}</td><td class="place">{e(r.location or "")}</td></tr>')
    body = "\n".join(blocks)
    if layout == "list":
        body = f"<ul class=\"events\">\n{body}\n</ul>"
    elif layout == "table":
        body = f"<table><tr><th>Event</th><th>When</th><th>Where</th></tr>\n{body}\n</table>"
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{e(src.author.group)} calendar</title>'
            f"</head><body><h1>{e(src.author.group)}: upcoming events</h1>\n{body}\n</body></html>\n").encode()


def _rss(src: SourceSpec) -> bytes:
    items = []
    for p in src.posts:
        text = "<br/>\n".join(html.escape(x) for x in p.body.splitlines())
        items.append(f"<item><title>{html.escape(p.subject)}</title><link>{html.escape(p.url)}</link>"
                     f'<guid isPermaLink="true">{html.escape(p.msg_id)}</guid>'
                     f"<author>{p.author_name.split()[0].lower()}@example.com ({html.escape(p.author_name)})</author>"
                     f"<pubDate>{format_datetime(p.sent)}</pubDate>"
                     f"<description>{html.escape(text)}</description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{html.escape(src.id)} archive</title><link>https://lists.example.org/{src.id}</link>"
            f"<description>Mailing-list archive</description>\n" + "\n".join(items)
            + "\n</channel></rss>\n").encode()


_QP = None


def _message(src: SourceSpec, p: MailPost) -> bytes:
    """The post as an RFC 5322 message (compat32: the modern policy's header objects cost 10x)."""
    global _QP
    from email import charset
    from email.header import Header
    from email.mime.text import MIMEText

    if _QP is None:
        _QP = charset.Charset("utf-8")
        _QP.header_encoding = _QP.body_encoding = charset.QP
    msg = MIMEText(p.body, "plain", _QP)
    msg["From"] = f"{p.author_name} <{p.author_name.split()[0].lower()}@example.com>"
    msg["To"] = f"{src.id}@lists.example.org"
    msg["Subject"] = p.subject if p.subject.isascii() else Header(p.subject, "utf-8")
    msg["Date"] = format_datetime(p.sent)
    msg["Message-ID"] = p.msg_id
    if p.in_reply_to:
        msg["In-Reply-To"] = p.in_reply_to
        msg["References"] = p.in_reply_to
    msg["List-Id"] = f"<{src.id}.lists.example.org>"
    msg["Archived-At"] = f"<{p.url}>"
    return msg.as_bytes()


def _mbox(src: SourceSpec, anchor: datetime) -> bytes:
    out = []
    for p in src.posts:
        raw = _message(src, p).replace(b"\r\n", b"\n")
        raw = b"\n".join((b">" + line if line.startswith(b"From ") else line) for line in raw.split(b"\n"))
        out.append(b"From list@example.org " + p.sent.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y").encode()
                   + b"\n" + raw.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


def write_source(src: SourceSpec, files: Path, anchor: datetime, *, modified: datetime | None = None) -> None:
    """Write one source's file (a Maildir: its messages), dated `modified` (default: an hour before the anchor).

    The farm server sends a file's mtime as Last-Modified, and a listing reads a date without a
    year as the one nearest the page's Last-Modified: the files must look written on the farm's
    today, not on the day the benchmark runs.
    """
    path = files / src.path
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (modified or anchor - timedelta(hours=1)).timestamp()
    try:
        _write_source(src, path, anchor)
    finally:
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            if p.exists():
                os.utime(p, (stamp, stamp))


def _write_source(src: SourceSpec, path: Path, anchor: datetime) -> None:
    if src.type == "maildir":
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        for old in (path / "cur").iterdir():
            old.unlink()
        for i, p in enumerate(src.posts):
            (path / "cur" / f"{1700000000 + i}.{src.id}-{p.n}.variants:2,S").write_bytes(_message(src, p))
        return
    data = {"ical": lambda: _ical(src, anchor), "jsonld": lambda: _jsonld(src), "html": lambda: _html(src),
            "rss": lambda: _rss(src), "mbox": lambda: _mbox(src, anchor)}[src.type]()
    path.write_bytes(data)


# --------------------------------------------------------------------------- the farm


@dataclass
class VariantFarm:
    dir: Path | None
    sources: list[SourceSpec]
    events: list[TrueEvent]
    anchor: datetime
    seed: int


COPIES = [(1, 0.45), (2, 0.28), (3, 0.17), (4, 0.10)]


def plan(*, seed: int = 1, n_sources: int = 150, anchor: date | None = None, types: list[str] | None = None,
         n_hosts: int = 32, events_per_source: float = 10.0) -> VariantFarm:
    rng = random.Random(f"variants-{seed}")
    anchor = anchor or DEFAULT_ANCHOR
    anchor_dt = datetime(anchor.year, anchor.month, anchor.day, 12, tzinfo=UTC)
    types = [t for t in (types or base.usable_types() or TYPES) if t in TYPES]
    sources = _sources(rng, n_sources, types, n_hosts)
    by_region: dict[str | None, list[SourceSpec]] = {}
    for s in sources:
        by_region.setdefault(s.region, []).append(s)
    events = build_world(rng, anchor, max(1, int(n_sources * events_per_source / 2.0)))
    listed: dict[str, list[tuple[TrueEvent, bool]]] = {}
    for ev in events:
        pool = by_region.get(ev.region, [])
        if not pool:
            continue
        roll, acc, k = rng.random(), 0.0, 1
        for n, p in COPIES:
            acc += p
            if roll < acc:
                k = n
                break
        chosen = rng.sample(pool, min(k, len(pool)))
        if by_region.get(None) and (ev.kind == "same_title_cities" or ev.online or rng.random() < 0.04):
            if rng.random() < 0.5 or ev.kind == "same_title_cities":
                chosen.append(rng.choice(by_region[None]))
        if ev.status == "cancelled":
            cancellers = chosen if ev.cancel_mode == "all" else [rng.choice(chosen)]
        else:
            cancellers = []
        for src in chosen:
            listed.setdefault(src.id, []).append((ev, src in cancellers))
    for src in sources:
        items = listed.get(src.id, [])
        if src.type in MAIL_TYPES:
            _mail_source(src, items, rng, anchor_dt)
        else:
            for ev, cancelled in items:
                src.records.append(_structured_record(src, ev, rng, cancelled))
    return VariantFarm(None, sources, events, anchor_dt, seed)


def generate(out_dir: Path | str, *, seed: int = 1, n_sources: int = 150, anchor: date | None = None,
             types: list[str] | None = None, n_hosts: int = 32, events_per_source: float = 10.0) -> VariantFarm:
    """Write the variant farm's files, farm.json and truth.json into out_dir; return the farm."""
    out = Path(out_dir)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    farm = plan(seed=seed, n_sources=n_sources, anchor=anchor, types=types, n_hosts=n_hosts,
                events_per_source=events_per_source)
    farm.dir = out
    for src in farm.sources:
        write_source(src, files, farm.anchor)
    meta = {"seed": seed, "generator": "variants", "anchor": farm.anchor.isoformat(),
            "sources": [{"id": s.id, "type": s.type, "region": s.region, "timezone": s.zone, "host": s.host,
                         "path": s.path, "local": s.type == "maildir", "content_type": CONTENT_TYPES[s.type],
                         "options": {"selectors": HTML_SELECTORS[s.author.html_layout]} if s.type == "html" else {}}
                        for s in farm.sources]}
    (out / "farm.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(truth_dict(farm), indent=1, ensure_ascii=False), encoding="utf-8")
    return farm


def remove_some(farm: VariantFarm, *, fraction: float = 0.05, seed: int = 99) -> list[dict]:
    """Take a few events off the only source that lists them, rewrite those files, and say which.

    A curator deletes an event from a calendar or a listing: the next run must not go on showing
    it as confirmed. Only events one web source alone lists (no other copy anywhere, no
    cancellation already) are taken, so what the run should do is unambiguous.
    """
    rng = random.Random(f"variants-removal-{farm.seed}-{seed}")
    copies: dict[str, int] = {}
    for s in farm.sources:
        for ev in {r.event.id for r in s.records} | {p.event.id for p in s.posts if p.event is not None}:
            copies[ev] = copies.get(ev, 0) + 1
    candidates = [(s, r) for s in farm.sources if s.type in ("ical", "jsonld", "html") for r in s.records
                  if copies[r.event.id] == 1 and r.event.status == "confirmed"]
    n = min(len(candidates), max(1, round(len(farm.events) * fraction)))
    chosen = rng.sample(candidates, n) if candidates else []
    removed = []
    for src, rec in chosen:
        src.records.remove(rec)
        removed.append({"source": src.id, "external_id": rec.external_id, "url": rec.url, "event": rec.event.id})
    if farm.dir is not None:
        for src in {id(s): s for s, _ in chosen}.values():
            write_source(src, farm.dir / "files", farm.anchor, modified=farm.anchor - timedelta(minutes=30))
    return removed


def _when(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def truth_dict(farm: VariantFarm) -> dict:
    records = []
    for s in farm.sources:
        for r in s.records:
            records.append({"source": s.id, "type": s.type, "external_id": r.external_id, "url": r.url,
                            "event": r.event.id, "role": "listing", "title": r.title,
                            "start": _when(r.event.start), "wrote_end": r.write_end, "time_form": r.time_form,
                            "zone_word": r.zone_word, "date_form": "date_only" if r.event.all_day else "absolute",
                            "status_written": "cancelled" if r.cancelled else "confirmed",
                            "location": r.location, "variations": sorted(set(r.labels))})
        for p in s.posts:
            ev = p.event
            records.append({"source": s.id, "type": s.type, "external_id": p.msg_id, "url": p.url,
                            "event": ev.id if ev is not None else None, "role": p.role, "title": p.subject,
                            "start": _when(ev.start) if ev is not None else None, "wrote_end": p.write_end,
                            "time_form": p.time_form, "zone_word": p.zone_word, "date_form": p.date_form,
                            "status_written": "cancelled" if p.role == "cancellation" else "confirmed",
                            "in_reply_to": p.in_reply_to, "variations": sorted(set(p.labels))})
    listed = {r["event"] for r in records if r["event"]}
    events = {}
    for ev in farm.events:
        if ev.id not in listed:
            continue
        p = ev.place
        events[ev.id] = {
            "title": ev.title, "kind": ev.kind, "start": _when(ev.start), "end": _when(ev.end), "all_day": ev.all_day,
            "timezone": ev.zone, "region": ev.region, "status": ev.status, "cancel_mode": ev.cancel_mode,
            "online": ev.online, "link": ev.link, "near": ev.near, "pair": ev.pair, "url": ev.url,
            "place": None if p is None else {"name": p.name, "number": p.number, "street": p.street,
                                             "kind": list(p.kind), "suite": p.suite, "city": p.city,
                                             "region": p.region, "zip": p.zip},
        }
    return {"generator": "variants", "seed": farm.seed, "anchor": farm.anchor.isoformat(), "events": events,
            "records": records, "authors": {s.id: s.author.as_dict() for s in farm.sources}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.variants.generate", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sources", type=int, default=150)
    p.add_argument("--anchor", type=date.fromisoformat, default=None, help=f"the farm's today ({DEFAULT_ANCHOR})")
    p.add_argument("--hosts", type=int, default=32)
    p.add_argument("--types", default=None, help="comma-separated types (default: every registered one)")
    args = p.parse_args(argv)
    farm = generate(args.out, seed=args.seed, n_sources=args.sources, anchor=args.anchor, n_hosts=args.hosts,
                    types=args.types.split(",") if args.types else None)
    truth = json.loads((args.out / "truth.json").read_text(encoding="utf-8"))
    events = sum(1 for r in truth["records"] if r["event"])
    print(f"{len(farm.sources)} sources, {len(truth['records'])} records ({events} of events, "
          f"{len(truth['records']) - events} not events) of {len(truth['events'])} real-world events in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
