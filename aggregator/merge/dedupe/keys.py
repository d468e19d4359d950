"""Normalisation: titles, venues and links as they are compared; authority of a source type."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aggregator.errors import UnknownSourceType
from aggregator.model import Event
from aggregator.text import CANCEL_WORDS, NOTICE_WORDS, REPLY_MARKERS
from aggregator.timezones import same_family
from sources.base import AUTHORITY_UNKNOWN
from sources.registry import adapter_for



@lru_cache(maxsize=None)
def type_authority(type_name: str) -> int:
    """The authority an adapter type declares (lower is more trusted); a type no installed
    adapter registers ranks last."""
    try:
        return adapter_for(type_name).authority
    except UnknownSourceType:
        return AUTHORITY_UNKNOWN


_CANCEL_WORDS = CANCEL_WORDS
_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:" + REPLY_MARKERS + r")\s*(?:\[\d+\])?\s*:"                 # mail reply/forward markers
    r"|\[[^\]]{1,40}\]"                                           # [Canceled], [amta-il], [Update]
    r"|\((?:" + _CANCEL_WORDS + r"|updated?|new|rescheduled|reminder)\)"
    r"|(?:" + _CANCEL_WORDS + r")\s*[:!\-\u2013\u2014]"
    r"|(?:" + NOTICE_WORDS + r")\s*[:!\-\u2013\u2014]"
    r")\s*",
    re.IGNORECASE,
)
_CANCEL_IN_TITLE = re.compile(
    r"^\s*(?:(?:re|fwd?)\s*:\s*)*(?:\[\s*(?:" + _CANCEL_WORDS + r")\s*\]|\(\s*(?:" + _CANCEL_WORDS + r")\s*\)"
    r"|(?:" + _CANCEL_WORDS + r")\s*[:!\-\u2013\u2014])"
    r"|[\[(]\s*(?:" + _CANCEL_WORDS + r")\s*[\])]\s*$"
    r"|[\-\u2013\u2014:]\s*(?:" + _CANCEL_WORDS + r")\s*!?\s*$",
    re.IGNORECASE,
)
# A leading organiser label: "AMTA-IL:", "ABMP |", "IL Chapter:" (up to 3 words, see _is_label).
_LABEL = re.compile(r"^\s*([\w&.'\-]+(?:\s+[\w&.'\-]+){0,2})\s*(?::|\|)\s+(?=\S)")
_ORGS = frozenset(("amta", "abmp", "ncbtmb", "mtf", "fsmtb", "aobta", "ibmp", "chapter", "meetup", "group"))


def _is_label(label: str) -> bool:
    """An organiser's name rather than part of the title: upper-case ("AMTA-IL") or an org word."""
    letters = [c for c in label if c.isalpha()]
    if label.lower() in ("ce", "ceu", "ceus", "new", "free", "update", "updated", "rsvp", "info"):
        return False
    if letters and all(c.isupper() for c in letters) and len(label) <= 10 and " " not in label.strip():
        return True
    return bool(set(_NON_WORD.sub(" ", label.lower()).split()) & _ORGS)

_ABBREVIATIONS = [  # (a substring that must be present, pattern, replacement)
    ('continuing', re.compile(r"\bcontinuing\s+education(?:\s+(?:units?|credits?|hours?))?\b"), " ce "),
    ('c.', re.compile(r"\bc\.\s?e\.?(?=\s|$)"), " ce "),
    ('ce', re.compile(r"\bceu?s?\b"), " ce "),
    ('c.', re.compile(r"\bc\.e\.u\.?s?\b"), " ce "),
    ('mtg', re.compile(r"\bmtg\b"), " meeting "),
    ('mtg', re.compile(r"\bmtgs\b"), " meetings "),
    ('wk', re.compile(r"\bwkshp\b|\bwksp\b"), " workshop "),
    ('intro', re.compile(r"\bintro\b"), " introduction "),
    ('ass', re.compile(r"\bassoc\b|\bass'n\b|\bassn\b"), " association "),
    ('massage therap', re.compile(r"\bmassage therapists?\b"), " mt "),
    ('w/', re.compile(r"\bw/"), " with "),
    (None, re.compile(r"&|\+"), " and "),
    ('meet', re.compile(r"\bmeet[\s\-]?up\b"), " meetup "),
    ('net', re.compile(r"\bnet[\s\-]?working\b"), " networking "),
    ('hands', re.compile(r"\bhands[\s\-]on\b"), " handson "),
]
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec")
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun"
_TITLE_STOP = frozenset(
    ("the a an of at for and with to in on by from our your is are be this next our"
     " tonight today tomorrow pm am st nd rd th " + _MONTHS + " " + _WEEKDAYS).split())
_NON_WORD = re.compile(r"[^\w]+")


def _fold(text: str) -> str:
    """Lowercase, accents removed, typographic quotes and dashes made plain."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


_CANCEL_SUFFIX = re.compile(r"\s*[\-\u2013\u2014:]\s*(?:" + _CANCEL_WORDS + r")\s*!?\s*$", re.IGNORECASE)
_CANCEL_BRACKET_SUFFIX = re.compile(r"\s*[\[(]\s*(?:" + _CANCEL_WORDS + r")\s*[\])]\s*$", re.IGNORECASE)
_SLASHES = re.compile(r"/+")


@lru_cache(maxsize=1 << 18)
def strip_prefixes(title: str) -> str:
    """The title without reply/forward/reminder/cancellation markers, as people would show it.

    "Re: Fwd: Reminder: Spring Social" -> "Spring Social"; "[Canceled] Board Meeting" ->
    "Board Meeting"; "Board Meeting - CANCELLED" -> "Board Meeting". An organiser label
    ("AMTA-IL:") is kept: it is part of how the chapter names its event.
    """
    text = title.strip()
    for _ in range(8):
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text or not stripped.strip():
            break
        text = stripped
    text = _CANCEL_SUFFIX.sub("", text)
    text = _CANCEL_BRACKET_SUFFIX.sub("", text)
    return text.strip() or title.strip()


def title_says_cancelled(title: str) -> bool:
    """True for "CANCELLED: ...", "[Canceled] ...", "... - Cancelled", "(Postponed) ..."."""
    return bool(_CANCEL_IN_TITLE.search(title or ""))


@lru_cache(maxsize=1 << 18)
def norm_title(title: str) -> str:
    """The title as compared: folded, prefixes and organiser label gone, abbreviations unified,
    dates and filler words dropped, words separated by single spaces."""
    text = strip_prefixes(title or "")
    labelled = _LABEL.match(text)
    if labelled and _is_label(labelled.group(1)) and len(_NON_WORD.sub(" ", text[labelled.end():]).split()) >= 2:
        text = text[labelled.end():]
    text = _fold(text)
    for trigger, pattern, repl in _ABBREVIATIONS:
        if trigger is None or trigger in text:
            text = pattern.sub(repl, text)
    # Numbers and ordinals/times ("3", "21st", "7pm") go: str.isdecimal() is what regex \d+ matches.
    words = [w for w in _NON_WORD.sub(" ", text).replace("_", " ").split()
             if w not in _TITLE_STOP and not (w[0].isdecimal() and (
                 w.isdecimal() or (w[-2:] in _NUMBER_SUFFIXES and w[:-2].isdecimal())))]
    return " ".join(words)


_NUMBER_SUFFIXES = frozenset(("st", "nd", "rd", "th", "am", "pm"))


_VENUE_NONE = frozenset(("tba", "tbd", "to be announced", "to be determined", "online", "virtual", "zoom",
                         "webinar", "see description", "see below", "various", "n a", "na", "none", "location tba",
                         "location tbd", "venue tba", "venue tbd", "online event", "virtual event"))
_VENUE_WORDS = [
    (r"street", "st"), (r"avenue|av", "ave"), (r"road", "rd"), (r"boulevard", "blvd"), (r"drive", "dr"),
    (r"lane", "ln"), (r"court", "ct"), (r"place", "pl"), (r"parkway", "pkwy"), (r"highway", "hwy"),
    (r"square", "sq"), (r"terrace", "ter"), (r"north", "n"), (r"south", "s"), (r"east", "e"), (r"west", "w"),
    (r"mount", "mt"), (r"saint", "st"), (r"center|centre|ctr", "center"), (r"building|bldg", "bldg"),
    (r"and", "and"),
]
_VENUE_MAP = {word: short for words, short in _VENUE_WORDS for word in words.split("|")}
_VENUE_WORD_RE = re.compile(r"\b(" + "|".join(sorted(_VENUE_MAP, key=len, reverse=True)) + r")\b\.?")
_SUITE = re.compile(r"(?:\b(?:suite|ste|unit|room|rm|floor|fl|apt)\b\.?\s*#?\s*[\w\-]+|#\s*[\w\-]+"
                    r"|\b\d+(?:st|nd|rd|th)\s+floor\b)")


@lru_cache(maxsize=1 << 18)
def norm_venue(location: str | None) -> str | None:
    """The venue as compared, or None when it says nothing (empty, "TBA", "online")."""
    if not location:
        return None
    text = _fold(location).replace("&", " and ")
    text = _SUITE.sub(" ", text)
    text = _VENUE_WORD_RE.sub(lambda m: _VENUE_MAP[m.group(1)], text)
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    text = " ".join(w for w in text.split() if w not in ("the", "usa", "us", "united", "states"))
    if not text or text in _VENUE_NONE or text.startswith(("tba ", "tbd ")) or text in ("n", "a"):
        return None
    return text


def venue_is_real(location: str | None) -> bool:
    return norm_venue(location) is not None


_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|ref_src|_ga|igshid|s|si)$")


@lru_cache(maxsize=1 << 18)
def norm_url(url: str | None) -> str | None:
    """An URL as compared: no scheme, no www., no tracking parameters, no fragment or final slash.
    None for a site's home page, which says nothing about one event."""
    if not url:
        return None
    url = url.strip()
    if "?" not in url and "#" not in url and "@" not in url and url[:8].lower() in ("https://", "http://w"):
        host, _, path = url[8:].partition("/") if url[:8].lower() == "https://" else url[7:].partition("/")
        host = host.lower()
        if ":" not in host:
            if host.startswith("www."):
                host = host[4:]
            path = "/" + path
            if "//" in path:
                path = _SLASHES.sub("/", path)
            path = path.rstrip("/")
            return f"{host}{path}" if path and host else None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    path = _SLASHES.sub("/", parts.path or "/").rstrip("/")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k.lower())))
    if not path and not query:
        return None
    return urlunsplit(("", host, path, query, ""))[2:]


def start_utc(event: Event) -> datetime | None:
    """The start instant in UTC, or None for an all-day (date-only) event."""
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc)
    return None


# ---------------------------------------------------------------------------------------------
# Decorations, online events, street addresses
# ---------------------------------------------------------------------------------------------

# Asides and suffixes that describe the listing, not the event: "(members free)", "[IL]",
# "@ The Drake Hotel", "- March 3". The part before them is the event's name.
_ASIDE = re.compile(r"\s*(?:\([^()]{1,60}\)|\[[^\[\]]{1,40}\])\s*")
_AT_SUFFIX = re.compile(r"\s+(?:@|\bat\s+the\b)\s+\S.*$", re.IGNORECASE)
_SEGMENT = re.compile(r"\s+[|\u2013\u2014]\s+|\s+-\s+|\s*:\s+")


def title_core(title: str, strip_words: frozenset[str] = frozenset(), strip_segments: tuple[str, ...] = (),
               venue: str | None = None) -> str:
    """The normalized title without its decorations: asides in parentheses or brackets, an "@ Venue"
    or "at <the record's venue>" suffix, online markers ("via Zoom", "[Virtual]": whether an event is
    online is compared on its own), and what a source is known to put on most of its titles
    (``strip_segments``: folded leading or trailing segments such as "chicago massage meetup";
    ``strip_words``: normalized words). ``venue`` is the record's normalized venue.
    Never empty while the title has words: decorations are only dropped when something remains."""
    if venue and not _bare(title, strip_segments)[2]:
        venue = None  # read only after " at ": a title is cached once, not once per venue it is held at
    return _title_core(title, strip_words, strip_segments, venue)


@lru_cache(maxsize=1 << 18)
def _bare(title: str, strip_segments: tuple[str, ...]) -> tuple[str, str, bool]:
    """(the title without prefixes and a source's segments, that without asides and an "@ Venue" suffix,
    whether the latter still says " at ")."""
    text = strip_prefixes(title or "")
    if strip_segments:
        parts = [p for p in _SEGMENT.split(text) if p.strip()]
        kept = [p for p in parts if _fold(p).strip() not in strip_segments]
        if kept and len(kept) < len(parts):
            text = " - ".join(kept)
    bare = text
    if "(" in bare or "[" in bare:
        bare = _ASIDE.sub(" ", bare).strip()
    if "@" in bare or " at the " in bare.lower():
        bare = _AT_SUFFIX.sub("", bare).strip()
    return text, bare, " at " in bare.lower()


@lru_cache(maxsize=1 << 18)
def _title_core(title: str, strip_words: frozenset[str], strip_segments: tuple[str, ...], venue: str | None) -> str:
    text, bare, says_at = _bare(title, strip_segments)
    if venue and says_at:
        m = _AT_VENUE.search(bare)
        if m:
            # the venue's words as venues are compared ("Oak Street Clinic" is "oak st clinic")
            said = set(norm_venue(m.group(1)).split()) - _GENERIC_PLACE
            # a place given as its street address alone names no venue: "at Holiday Inn Express" in
            # the title is the name it leaves out (a capital says so, unless the title has none at all)
            unnamed = venue[:1].isdigit() and (m.group(1)[:1].isupper() or bare.islower())
            if said and (said <= set(venue.split()) or unnamed):
                bare = bare[:m.start()].strip()
    # norm_title strips the same prefixes again: the title as given shares its cache with merge's.
    core = norm_title(title if bare == text and not strip_segments else bare) if bare else ""
    if len(core.split()) < 1:
        core = norm_title(text)
    words = core.split()
    if _ONLINE_WORDS & set(words):
        kept = [w for w in words if w not in _ONLINE_WORDS]
        if kept:
            words = kept
            core = " ".join(words)
    if strip_words:
        kept = [w for w in words if w not in strip_words]
        if kept:
            core = " ".join(kept)
    return core


_AT_VENUE = re.compile(r"\s+at\s+(\S.*?)\s*(?:[\-\u2013\u2014,]\s.*)?$", re.IGNORECASE)
_GENERIC_PLACE = frozenset(("the", "at"))  # "at X at X": a venue said twice
_ONLINE_WORDS = frozenset(("online", "virtual", "zoom", "via", "livestream", "webinar", "remote"))


_ONLINE = re.compile(r"\b(?:online|virtual(?:ly)?|zoom|webinar|live\s?stream|google meet|microsoft teams|teams meeting"
                     r"|web\s?ex|remote)\b", re.IGNORECASE)
_MEETING_HOSTS = ("zoom.us", "meet.google.com", "teams.microsoft.com", "teams.live.com", "webex.com",
                  "gotomeeting.com", "youtube.com", "youtu.be", "crowdcast.io", "streamyard.com")


_MEETING_URL = re.compile(r"^https?://(?:[\w\-]+\.)*(?:" + "|".join(re.escape(h) for h in _MEETING_HOSTS) + r")(?:[:/?#]|$)",
                          re.IGNORECASE)


def online_elsewhere(event: Event) -> bool:
    """Whether an event is held online by what it says besides its place: a link that is a meeting
    room (its own or a copy's), or a webinar with no place. Its place is read by _online_place
    ("Online", "Zoom"), apart: dedupe reads each distinct place once and this once per record."""
    url = event.url
    if url and _MEETING_URL.match(url):
        return True
    if not event.location and event.title and "webinar" in event.title.lower():
        return True
    return any(s.url and s.url != url and _MEETING_URL.match(s.url) for s in event.sources)


@lru_cache(maxsize=1 << 18)
def _online_place(where: str) -> bool:
    """A place that says the event is online (cached by place: every record of a venue has it)."""
    return bool(_ONLINE.search(where) and not _ADDRESS_HINT.search(where))


_ADDRESS_HINT = re.compile(r"\b\d{1,6}\s+[A-Za-z]")


@lru_cache(maxsize=1 << 18)
def street_address(location: str | None) -> tuple[str, str] | None:
    """(number, street) of a location's street address, parsed with usaddress, or None when it has none.

    "The Drake Hotel, 140 East Walton Place, Chicago" -> ("140", "e walton pl"). Street words are
    unified as venues are (Place -> pl, East -> e), so spellings of one address compare equal."""
    if not location or not _ADDRESS_HINT.search(location):
        return None
    import usaddress  # a CRF model: loaded only when an address is compared

    try:
        tokens = usaddress.parse(location.replace("(", ", ").replace(")", ", "))
    except Exception:  # usaddress raises on input its tokenizer cannot place; no address then
        return None
    number = next((t for t, label in tokens if label == "AddressNumber"), None)
    street = [t for t, label in tokens if label in ("StreetNamePreDirectional", "StreetName", "StreetNamePostType",
                                                      "StreetNamePostDirectional", "StreetNamePreType")]
    if not number or not street:
        return None
    number = re.sub(r"\D", "", number)
    words = _NON_WORD.sub(" ", _fold(" ".join(street))).split()
    street_text = " ".join(_VENUE_MAP.get(w, w) for w in words)
    if not number or not street_text:
        return None
    return number, street_text


def zone_family_slip(a: datetime | object, b: datetime | object) -> bool:
    """Whether two starts are one clock time read in two zones of one family, an hour apart: "1 PM MST"
    on a national page read as Denver's summer time, and as Arizona's by the Phoenix chapter. The word
    names the family, not the member; the same wall clock in both is what the copies agree on."""
    if not (isinstance(a, datetime) and isinstance(b, datetime)) or a.tzinfo is None or b.tzinfo is None:
        return False
    za, zb = getattr(a.tzinfo, "key", None), getattr(b.tzinfo, "key", None)
    return bool(za and zb and za != zb and a.replace(tzinfo=None) == b.replace(tzinfo=None)
                and abs((a - b).total_seconds()) == 3600 and same_family(a.tzinfo, b.tzinfo, a.year))
