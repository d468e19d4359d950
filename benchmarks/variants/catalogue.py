"""The catalogue of variation: how real sources write the same event.

Every class here is something a real source does (where each was seen: benchmarks/VARIATION.md).
An `Author` is one source's habits, drawn once per source from the catalogue; the render
functions turn a true event into what that author would write, and append a label naming each
variation they used (the labels end up in truth.json, so a score can be broken down by class).

Nothing here decides what the truth is: the generator keeps the event, and these functions only
write it. So a rendering must always be *correct* as a person would read it — a zone word names
the zone whose local time is written, a relative date is right for the post's own date.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from benchmarks import farm as base

# --------------------------------------------------------------------------- the world's vocabulary

# The old farm's ten regions plus the two US zones with their own words (HST, AKST).
REGIONS: list[tuple[str, str, list[str]]] = base.REGIONS + [
    ("HI", "Pacific/Honolulu", ["Honolulu", "Hilo", "Kailua"]),
    ("AK", "America/Anchorage", ["Anchorage", "Fairbanks", "Juneau"]),
]
STATE_NAMES = {"IL": "Illinois", "WI": "Wisconsin", "MN": "Minnesota", "NY": "New York", "MA": "Massachusetts",
               "GA": "Georgia", "CO": "Colorado", "AZ": "Arizona", "CA": "California", "WA": "Washington",
               "HI": "Hawaii", "AK": "Alaska"}

# Zone words people write after a time, per zone: the generic two-letter form, the standard and
# daylight abbreviations, and the spelled-out name. Arizona keeps MST all year (no DST).
ZONE_WORDS = {
    "America/New_York": {"generic": "ET", "std": "EST", "dst": "EDT", "spelled": ["Eastern", "Eastern Time"]},
    "America/Chicago": {"generic": "CT", "std": "CST", "dst": "CDT", "spelled": ["Central", "Central Time"]},
    "America/Denver": {"generic": "MT", "std": "MST", "dst": "MDT", "spelled": ["Mountain", "Mountain Time"]},
    "America/Phoenix": {"generic": "MST", "std": "MST", "dst": "MST", "spelled": ["MST", "Arizona time"]},
    "America/Los_Angeles": {"generic": "PT", "std": "PST", "dst": "PDT", "spelled": ["Pacific", "Pacific Time"]},
    "Pacific/Honolulu": {"generic": "HST", "std": "HST", "dst": "HST", "spelled": ["HST", "Hawaii time"]},
    "America/Anchorage": {"generic": "AKST", "std": "AKST", "dst": "AKDT", "spelled": ["AKST", "Alaska time"]},
}

GROUP_NAMES = ["{region} Massage Therapists", "{city} LMT Network", "AMTA-{region}", "ABMP {state} Members",
               "{city} Bodywork Meetup", "{state} Chapter", "{city} Massage Collective"]
LIST_TAGS = ["[{region_l}-lmt]", "[{city_l}-massage]", "[AMTA-{region}]", "[{region_l}-bodywork]"]
ASIDES = ["(members free)", "(2 CE hours)", "(free for students)", "(NCBTMB approved)", "(RSVP required)",
          "(bring a friend)", "(3 CEs)", "($10 at the door)"]
EMPHASIS = ["!!", "!", "!!!"]
ONLINE_MARKERS = ["(Zoom)", "[Virtual]", "- Online", "(online)", "via Zoom"]
ONLINE_LOCATIONS = ["Online (Zoom)", "Zoom", "Online event", "Virtual - Zoom link sent after RSVP", "Online"]
SUITE_FORMS = ["Suite {n}", "Ste {n}", "Ste. {n}", "#{n}", "Unit {n}"]
STREET_KIND_FORMS = ["abbr", "abbr_dot", "long"]
PLACE_LAYOUTS = ["name_comma_addr", "name_paren_addr", "name_dash_addr", "addr_only", "name_city",
                 "name_comma_addr_zip"]
DATE_STYLES = ["long", "short", "numeric", "ordinal", "long_noyear", "abbr_ordinal"]
TIME_STYLES = ["h_mm_AM", "h_mmam", "h_dot_mm_pm", "h24", "ham", "h_mm_am"]
HTML_LAYOUTS = ["cards", "list", "table"]


@dataclass
class Place:
    """A venue as it really is (the truth); authors write it their own way."""

    name: str
    number: int
    street: str
    kind: tuple[str, str]  # ("St", "Street")
    suite: int | None
    city: str
    region: str
    zip: str


# --------------------------------------------------------------------------- authors


@dataclass
class Author:
    """One source's habits. Probabilities apply per copy; the choices are the source's style."""

    kind: str  # "structured" (ical/jsonld), "listing" (html), "list" (mail: rss/mbox/maildir)
    group: str  # the group's or list's name as it prefixes titles
    prefix_p: float = 0.0
    venue_suffix_p: float = 0.0
    date_suffix_p: float = 0.0
    emphasis: str = "!!"
    emphasis_p: float = 0.0
    aside_p: float = 0.0
    case: str = "as_is"  # as_is | upper | title | lower
    case_p: float = 0.0
    online_marker: str = "(Zoom)"
    online_marker_p: float = 0.0
    # places
    the_article: str = "keep"  # keep | drop
    layout: str = "name_comma_addr"
    street_kind: str = "abbr"
    suite_form: str = "Suite {n}"
    state: str = "code"  # code | name | none
    venue_abbrev: bool = False
    online_location: str = "Online (Zoom)"
    # times
    time_form: str = "tzid"  # ical: tzid|utc|floating; jsonld: offset|utc|naive; prose: default|zone_word|offset
    zone_word_style: str = "generic"  # generic | std | seasonal | spelled
    writes_in_own_zone: bool = True  # a national listing writes every time in its own zone (with a word)
    date_style: str = "long"
    time_style: str = "h_mm_AM"
    writes_end: float = 0.8
    # cancellations
    cancel_style: str = "status"  # status (STATUS/eventStatus) | title (CANCELLED: ...) | both
    # listings (html)
    html_layout: str = "cards"
    schedule_style: str = "separate"  # separate ("Sat, Mar 7 · 6:30 PM") | tec ("March 7 @ 6:30 pm - 8:30 pm")
    body_style: int = -1  # mail: the announcement's layout (-1: varies per post)
    # mailing lists
    list_tag: str | None = None
    reminder_p: float = 0.0  # sends a reminder with a relative date before near events
    reply_p: float = 0.0  # members reply to announcements (quoting, attribution lines)
    chatter: int = 0  # posts that are not events
    digest: bool = False  # the archive carries the list's digests too
    forward_p: float = 0.0
    quote_style: str = "gmail"  # gmail | outlook | pipermail
    signature: bool = True
    labels: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def draw_author(rng: random.Random, type_name: str, region: str | None, city: str, zone: str) -> Author:
    """A source's author: a random mix of the catalogue's habits, fitting the source's type."""
    region_code = region or "US"
    state = STATE_NAMES.get(region_code, "National")
    group = rng.choice(GROUP_NAMES).format(region=region_code, city=city, state=state)
    kind = {"ical": "structured", "jsonld": "structured", "html": "listing"}.get(type_name, "list")
    a = Author(kind=kind, group=group)
    a.prefix_p = rng.choice([0.0, 0.0, 0.3, 0.9])
    a.venue_suffix_p = rng.choice([0.0, 0.0, 0.25, 0.6])
    a.date_suffix_p = rng.choice([0.0, 0.0, 0.2, 0.5])
    a.emphasis, a.emphasis_p = rng.choice(EMPHASIS), rng.choice([0.0, 0.0, 0.15, 0.4])
    a.aside_p = rng.choice([0.0, 0.2, 0.4])
    a.case, a.case_p = rng.choice(["upper", "title", "lower"]), rng.choice([0.0, 0.0, 0.0, 0.3, 1.0])
    a.online_marker, a.online_marker_p = rng.choice(ONLINE_MARKERS), rng.choice([0.0, 0.5, 1.0])
    a.the_article = rng.choice(["keep", "keep", "drop"])
    a.layout = rng.choice(PLACE_LAYOUTS)
    a.street_kind = rng.choice(STREET_KIND_FORMS)
    a.suite_form = rng.choice(SUITE_FORMS)
    a.state = rng.choice(["code", "code", "name", "none"])
    a.venue_abbrev = rng.random() < 0.25
    a.online_location = rng.choice(ONLINE_LOCATIONS)
    a.zone_word_style = rng.choice(["generic", "std", "seasonal", "spelled"])
    a.writes_in_own_zone = region is None and rng.random() < 0.6
    a.date_style = rng.choice(DATE_STYLES)
    a.time_style = rng.choice(TIME_STYLES)
    a.writes_end = rng.choice([0.3, 0.8, 1.0])
    a.cancel_style = rng.choice(["status", "title", "both"])
    a.html_layout = rng.choice(HTML_LAYOUTS)
    a.schedule_style = rng.choice(["separate", "separate", "tec"])
    a.body_style = rng.choice([-1, -1, 0, 1, 2, 3, 4, 5])
    if type_name == "ical":
        a.time_form = rng.choice(["tzid", "tzid", "utc", "floating"])
    elif type_name == "jsonld":
        a.time_form = rng.choice(["offset", "offset", "utc", "naive"])
    elif type_name == "html":
        a.time_form = rng.choice(["default", "zone_word", "zone_word", "offset"])
    else:
        a.time_form = rng.choice(["default", "default", "zone_word"])
        tag = rng.choice(LIST_TAGS).format(region=region_code, region_l=region_code.lower(),
                                           city_l=city.lower().replace(" ", "-"))
        a.list_tag = tag if rng.random() < 0.6 else None
        a.reminder_p = rng.choice([0.3, 0.7, 1.0])
        a.reply_p = rng.choice([0.1, 0.3, 0.5])
        a.chatter = rng.choice([1, 2, 4])
        a.digest = rng.random() < 0.4
        a.forward_p = rng.choice([0.0, 0.1, 0.25])
        a.quote_style = rng.choice(["gmail", "outlook", "pipermail"])
        a.signature = rng.random() < 0.7
        a.cancel_style = "post"
    if region is None and a.time_form == "default":
        a.time_form = "zone_word"  # a national listing's readers are in every zone: it always says which
    if region is None and a.time_form in ("floating", "naive"):
        a.time_form = "tzid" if type_name == "ical" else "offset"
    return a


# --------------------------------------------------------------------------- titles


def decorate_title(title: str, *, author: Author, rng: random.Random, place: Place | None, day: date,
                   online: bool, labels: list[str]) -> str:
    """The title as this author writes it: the group's name first, "@ Venue" / "– date" after,
    "!!", an aside in parentheses, its own capitalisation, an online marker."""
    t = title
    if online and rng.random() < author.online_marker_p:
        t = f"{t} {author.online_marker}"
        labels.append("title_online_marker")
    if place is not None and rng.random() < author.venue_suffix_p:
        name = _venue_name(place, author)
        t = f"{t} @ {name}" if rng.random() < 0.7 else f"{t} at {name}"
        labels.append("title_venue_suffix")
    if rng.random() < author.date_suffix_p:
        sep = rng.choice([" – ", " - ", " — "])
        form = rng.choice(["{wd} {m}/{d}", "{month} {d}", "{wd}, {mon} {d}"])
        t = t + sep + form.format(wd=f"{day:%a}", m=day.month, d=day.day, month=f"{day:%B}", mon=f"{day:%b}")
        labels.append("title_date_suffix")
    if rng.random() < author.aside_p:
        t = f"{t} {rng.choice(ASIDES)}"
        labels.append("title_aside")
    if rng.random() < author.emphasis_p:
        t = t + author.emphasis
        labels.append("title_emphasis")
    if rng.random() < author.case_p:
        t = {"upper": t.upper(), "lower": t.lower(), "title": t.title()}[author.case]
        labels.append("title_case")
    if author.kind != "list" and rng.random() < author.prefix_p:
        sep = rng.choice([": ", " - ", " | "])
        t = f"{author.group}{sep}{t}"
        labels.append("title_group_prefix")
    return t


# --------------------------------------------------------------------------- places


def _venue_name(place: Place, author: Author) -> str:
    name = place.name
    if author.the_article == "drop" and name.startswith("The "):
        name = name[4:]
    if author.venue_abbrev:
        name = name.replace("Center", "Ctr").replace("St. ", "Saint ").replace("Public Library", "Library")
    return name


def street_line(place: Place, author: Author) -> str:
    short, long = place.kind
    kind = {"abbr": short, "abbr_dot": short + ".", "long": long}[author.street_kind]
    line = f"{place.number} {place.street} {kind}"
    if place.suite is not None:
        line += ", " + author.suite_form.format(n=place.suite)
    return line


def state_text(place: Place, author: Author) -> str:
    return {"code": place.region, "name": STATE_NAMES.get(place.region, place.region), "none": ""}[author.state]


def render_place(place: Place | None, author: Author, labels: list[str], *, online: bool = False,
                 link: str | None = None) -> str | None:
    """The location line as the author writes it."""
    if online or place is None:
        labels.append("online_location")
        return author.online_location
    name = _venue_name(place, author)
    if name != place.name:
        labels.append("venue_spelling")
    street = street_line(place, author)
    state = state_text(place, author)
    city = f"{place.city}, {state}" if state else place.city
    labels.append(f"place_{author.layout}")
    if author.layout == "name_comma_addr":
        return f"{name}, {street}, {city}"
    if author.layout == "name_comma_addr_zip":
        return f"{name}, {street}, {city} {place.zip}".rstrip()
    if author.layout == "name_paren_addr":
        return f"{name} ({street}, {city})"
    if author.layout == "name_dash_addr":
        return f"{name} - {street}, {city}"
    if author.layout == "addr_only":
        return f"{street}, {city}"
    return f"{name}, {place.city}"  # name_city


# --------------------------------------------------------------------------- dates and times


def zone_word(zone: str, when: datetime, author: Author, rng: random.Random) -> str:
    words = ZONE_WORDS[zone]
    style = author.zone_word_style
    if style == "generic":
        return words["generic"]
    if style == "std":  # "7pm EST" written all year: people mean the local time
        return words["std"]
    if style == "seasonal":
        return words["dst"] if when.dst() else words["std"]
    return rng.choice(words["spelled"])


def clock(t: datetime, style: str) -> str:
    h12 = t.hour % 12 or 12
    am = t.hour < 12
    if style == "h24":
        return f"{t:%H:%M}"
    if style == "h_mm_AM":
        return f"{h12}:{t:%M} {'AM' if am else 'PM'}"
    if style == "h_mmam":
        return f"{h12}:{t:%M}{'am' if am else 'pm'}"
    if style == "h_dot_mm_pm":
        return f"{h12}.{t:%M} {'a.m.' if am else 'p.m.'}"
    if style == "h_mm_am":  # WordPress's The Events Calendar: "6:30 pm"
        return f"{h12}:{t:%M} {'am' if am else 'pm'}"
    # "ham": 7pm, 6:30pm (minutes only when not on the hour)
    return (f"{h12}" if t.minute == 0 else f"{h12}:{t:%M}") + ("am" if am else "pm")


def time_range(start: datetime, end: datetime | None, style: str, rng: random.Random) -> str:
    if end is None:
        return clock(start, style)
    if style in ("h_mm_AM", "h_mmam", "ham", "h_mm_am") and (start.hour < 12) == (end.hour < 12) and rng.random() < 0.4:
        # "6:30-8:30 PM": the meridiem written once, as most people do
        s = clock(start, style)
        s = s.replace(" AM", "").replace(" PM", "").replace(" am", "").replace(" pm", "").replace("am", "")
        s = s.replace("pm", "")
        return f"{s}–{clock(end, style)}" if rng.random() < 0.5 else f"{s}-{clock(end, style)}"
    joiner = rng.choice([" - ", " to ", "–"])
    return f"{clock(start, style)}{joiner}{clock(end, style)}"


def date_text(day: date, style: str, *, anchor_year: int | None = None) -> str:
    if style == "long":
        return f"{day:%A}, {day:%B} {day.day}, {day.year}"
    if style == "long_noyear":
        return f"{day:%A}, {day:%B} {day.day}"
    if style == "short":
        return f"{day:%a}, {day:%b} {day.day}"
    if style == "numeric":
        return f"{day:%a} {day.month}/{day.day}/{day.year}"
    if style == "abbr_ordinal":  # "Sat. March 7th"
        return f"{day:%a}. {day:%B} {ordinal(day.day)}"
    if style == "tec":  # The Events Calendar's schedule line: "March 7" (the year only when not this one)
        return f"{day:%B} {day.day}" if anchor_year in (None, day.year) else f"{day:%B} {day.day}, {day.year}"
    # ordinal: "Saturday the 7th of March"
    return f"{day:%A} the {ordinal(day.day)} of {day:%B}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def span_text(first: date, last: date, rng: random.Random) -> str:
    """A multi-day span with no time, as announcements write them."""
    if first.month == last.month:
        forms = [f"{first:%B} {first.day}–{last.day}, {first.year}", f"{first:%B} {first.day}-{last.day}, {first.year}",
                 f"{first:%a}–{last:%a}, {first:%B} {first.day}–{last.day}, {first.year}",
                 f"from {first:%B} {first.day} to {last:%B} {last.day}, {first.year}"]
    else:
        forms = [f"{first:%B} {first.day} – {last:%B} {last.day}, {first.year}",
                 f"from {first:%B} {first.day} to {last:%B} {last.day}, {first.year}",
                 f"{first:%b} {first.day}–{last:%b} {last.day}, {first.year}"]
    return rng.choice(forms)


def relative_day(post_day: date, event_day: date, rng: random.Random, *, evening: bool = True,
                 morning: bool = False, all_day: bool = False) -> str | None:
    """How a reminder names the event's day relative to the post's own day, or None when it can't.

    "tonight", "tomorrow night", "this Sat.", "this coming Friday", "Thursday" alone, "on the 7th":
    every form names one day only, read from the post's own date.
    """
    delta = (event_day - post_day).days
    part = "" if all_day else (" night" if evening and rng.random() < 0.3 else
                               " morning" if morning and rng.random() < 0.3 else "")
    if delta == 0:
        return rng.choice(["tonight", "today"]) if evening and not all_day else "today"
    if delta == 1:
        return rng.choice([f"tomorrow{part}", "tomorrow", f"tomorrow ({event_day:%A})"])
    if 2 <= delta <= 6:
        return rng.choice([f"this {event_day:%A}", f"this {event_day:%A}", f"on {event_day:%A}",
                           f"this coming {event_day:%A}", f"this {event_day:%a}.", f"{event_day:%A}",
                           f"this {event_day:%A}{part}" if part else f"this {event_day:%A}",
                           f"on the {ordinal(event_day.day)}"])
    return None
