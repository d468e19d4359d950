"""Source records -> one Event per real-world event, with identities stable across runs.

Pure functions over Events: no I/O. The pipeline hands in every current source
record (normalized, one SourceRef each, ``uid`` = its provisional record uid) and
what it remembers from earlier runs; ``merge`` returns the events to publish.

How records are matched
-----------------------
1. *Normalisation* (``norm_title``, ``norm_venue``, ``norm_url``): titles lose case,
   accents, punctuation, reply/forward/reminder/cancellation prefixes ("Re:", "Fwd:",
   "Reminder:", "CANCELLED:", "[Canceled]"), a leading organiser label ("AMTA-IL: ...")
   and dates written into them ("- March 2026"); abbreviations are unified
   ("Continuing Education"/"CEU" -> "ce", "mtg" -> "meeting", "&" -> "and"). Venues
   lose suite/room numbers and street words are unified (Street -> st, Avenue -> ave);
   "TBA", "TBD", "online" count as no venue. Start instants are compared in UTC.
2. *Blocking*: candidate pairs are only records that start at the same instant (or
   on the same all-day date), or that share a rare title word within one UTC day
   either side, or the same event-specific URL within one day either side. Never all
   pairs: 100,000 records take seconds (``benchmark_merge``).
3. *Scoring* (``score_pair``): title similarity (rapidfuzz token-set and token-sort
   ratios), start agreement (``exact``; ``date`` when one side only knows the day;
   ``hours`` when off by a whole number of hours, a zone mistake, weaker), venue
   similarity, and a shared URL. A pair matches when its times agree and the title is
   similar enough for that kind of agreement (stricter for ``date``/``hours``), and
   the venues, when both are known, do not disagree.
4. *Grouping* is complete-linkage: matched pairs are joined best-first, and two groups
   join only when every record of one is compatible with every record of the other,
   so a vague "Workshop" record never chains "Cupping Workshop" to "Hot Stone
   Workshop". Two records of one source are never in one group unless they are the
   same record: the same start, the same title (a re-announcement) and no other
   venue. Monthly occurrences of a series start on different days and never match.
5. Curator overrides (``merge:`` in sources.yaml): ``same`` joins records or
   published events regardless of scores, ``never`` keeps them apart, ``hide``
   drops an event (by published uid or by one of its records, ``source:external_id``).

How a group becomes one event (the merge rules)
-----------------------------------------------
Sources are ranked by the authority their adapter declares (SourceAdapter.authority: ical >
jsonld > html > rss > mail types; ``source_types`` maps source id -> type), then by source id.

- start/end/all_day/timezone: the most precise time: a datetime over a date, then
  the most authoritative source (a calendar states its zone; mail prose guesses it).
  An end missing there is taken from another record with the same start.
- title: the most authoritative record's, without "Reminder:"/"Fwd:"/"Cancelled:"
  style prefixes.
- description: the longest clean description (HTML sanitised away with nh3; a mail signature,
  mailing-list footer or quoted original cut off first).
- location: a real venue over "TBA"/empty, then the most complete (the venues of one group agree,
  so the one saying most: "Holiday Inn, 12 Park Dr" over "12 Park Dr"), then authority.
- url: the most authoritative source's url.
- region: the most authoritative non-empty one.
- tags: the union, sorted.
- status: cancelled if any source says so (STATUS, eventStatus, or a title such as
  "CANCELLED:" / "[Canceled]"); else confirmed if any source confirms; else tentative.
- sources: every SourceRef, sorted by (source, external_id).

Identity
--------
``known`` maps record uid -> the published uid it had (store links). A group reuses
the uid its records had; when several, the oldest published uid wins
(``first_published``), and a uid claimed by two groups goes to the group holding
more of its records. A group none of whose records is known (a source that mints a
new UID on every fetch, like Office 365, or has none) is matched by content
(title, start, venue) to last run's published events of the same source
(``previous``), so published uids never churn. A brand-new group takes the record
uid of its anchor record (the first by source and external id): deterministic, and
independent of unrelated records.

The result does not depend on the order of the records.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3
from rapidfuzz import fuzz, process

from aggregator.errors import UnknownSourceType
from aggregator.model import Event, SourceRef, Status
from sources.base import AUTHORITY_MAIL, AUTHORITY_UNKNOWN
from sources.registry import adapter_for

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def type_authority(type_name: str) -> int:
    """The authority an adapter type declares (lower is more trusted); a type no installed
    adapter registers ranks last."""
    try:
        return adapter_for(type_name).authority
    except UnknownSourceType:
        return AUTHORITY_UNKNOWN

_CANCEL_WORDS = r"cancel+ed|cancel+ation|canceled|cancelled|called off|postponed"
_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:re|fw|fwd|aw|wg|tr)\s*(?:\[\d+\])?\s*:"                   # mail reply/forward markers
    r"|\[[^\]]{1,40}\]"                                           # [Canceled], [amta-il], [Update]
    r"|\((?:" + _CANCEL_WORDS + r"|updated?|new|rescheduled|reminder)\)"
    r"|(?:friendly\s+)?reminders?\s*[:!\-\u2013\u2014]"
    r"|(?:" + _CANCEL_WORDS + r")\s*[:!\-\u2013\u2014]"
    r"|(?:updated?|new|rescheduled|save\s+the\s+date|last\s+chance|tonight|today|tomorrow"
    r"|this\s+week(?:end)?|don'?t\s+forget|announcement|announcing|invitation|invite)\s*[:!\-\u2013\u2014]"
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
_DIGITS = re.compile(r"^\d+$")


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


@lru_cache(maxsize=65536)
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
    words = [w for w in _NON_WORD.sub(" ", text).replace("_", " ").split()
             if w not in _TITLE_STOP and not _DIGITS.match(w) and not re.match(r"^\d+(st|nd|rd|th|am|pm)$", w)]
    return " ".join(words)


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


@lru_cache(maxsize=65536)
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


@lru_cache(maxsize=65536)
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
            path = _SLASHES.sub("/", "/" + path).rstrip("/")
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


def clean_description(text: str | None) -> str:
    """A description as plain text: any HTML sanitised away with nh3, entities decoded, tidy spaces,
    and no mail signature or mailing-list footer."""
    if not text:
        return ""
    if "<" not in text and "\r" not in text and "\t" not in text and "  " not in text \
            and "\u00a0" not in text and "\n\n\n" not in text and " \n" not in text and "\n " not in text:
        return _without_footer(text.strip())
    if re.search(r"<[a-zA-Z/!][^>]*>", text):
        text = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</h\d\s*>|</tr\s*>", "\n", text)
        text = nh3.clean(text, tags=set(), clean_content_tags={"script", "style"})
        text = html.unescape(text)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line if line in ("--", "-- ") else line.strip() for line in lines]
    return _without_footer(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


# ---------------------------------------------------------------------------------------------
# Records prepared for matching
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rec:
    idx: int
    event: Event
    key: tuple[str, str]  # (source, external_id)
    source: str
    authority: tuple[int, str]
    title: str  # normalized
    tokens: frozenset[str]
    utc: datetime | None
    ts: int | None  # the UTC start as epoch seconds (None: all-day)
    all_day: bool
    day: int  # ordinal of the UTC date (or of the date, all-day)
    local_day: int  # ordinal of the date where the event is
    last_day: int  # ordinal of the last day it runs (all-day spans)
    venue: str | None
    urls: frozenset[str]
    cancelled: bool
    block_tokens: tuple[str, ...] = ()


def _authority_of(source: str, external_id: str, source_types: Mapping[str, str] | None) -> int:
    if source_types and source in source_types:
        return type_authority(source_types[source])
    # No types given: guess from the shape of the identity (a Message-ID is mail).
    if external_id.startswith("<") and "@" in external_id:
        return AUTHORITY_MAIL
    return AUTHORITY_UNKNOWN


def _prepare(event: Event, idx: int, source_types: Mapping[str, str] | None) -> _Rec:
    ref = event.sources[0] if event.sources else SourceRef("", event.uid, event.url)
    utc = start_utc(event)
    if utc is not None:
        day = utc.date().toordinal()
        local_day = event.start.date().toordinal()  # type: ignore[union-attr]
        last = event.end.date().toordinal() if isinstance(event.end, datetime) else local_day
    else:
        day = local_day = event.start.toordinal()
        last = (event.end.toordinal() - 1) if isinstance(event.end, date) and not isinstance(event.end, datetime) \
            else day
        last = max(last, day)
    title = norm_title(event.title)
    urls = frozenset(u for u in (norm_url(event.url), *(norm_url(s.url) for s in event.sources)) if u)
    return _Rec(idx=idx, event=event, key=(ref.source, ref.external_id), source=ref.source,
                ts=None if utc is None else int(utc.timestamp()),
                authority=(_authority_of(ref.source, ref.external_id, source_types), ref.source),
                title=title, tokens=frozenset(title.split()), utc=utc, all_day=utc is None, day=day,
                local_day=local_day, last_day=last, venue=norm_venue(event.location), urls=urls,
                cancelled=event.status == Status.CANCELLED or title_says_cancelled(event.title))


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------

#: Title similarity (0..1) a pair needs, by how its start times agree.
TITLE_NEEDED = {"exact": 0.72, "date": 0.86, "hours": 0.86}
#: ... and when the two share an event-specific URL.
TITLE_NEEDED_WITH_URL = {"exact": 0.45, "date": 0.6, "hours": 0.6}
#: Venues (both known) less similar than this disagree.
VENUE_CONFLICT = 0.5
#: A pair of records of one source is one record re-announced only at this plain (not token-set)
#: similarity of the normalized titles: "Volunteers" and "Volunteers (Team B)" stay two.
SAME_SOURCE_TITLE = 0.95
#: How much looser the check between every member of two groups is than the joining pair.
LINKAGE_SLACK = 0.03
MAX_HOURS_OFF = 12


@dataclass(frozen=True, slots=True)
class PairScore:
    """Why two records are (or are not) one event; shown by `massage-events explain`."""

    a: tuple[str, str]  # (source, external_id)
    b: tuple[str, str]
    score: float  # 0..1 overall
    title: float  # 0..1
    time: str  # exact | date | hours | none
    venue: float | None  # 0..1, None when either is unknown
    shared_url: bool
    match: bool
    reason: str  # a short sentence

    def as_dict(self) -> dict:
        return {"a": ":".join(self.a), "b": ":".join(self.b), "score": round(self.score, 3),
                "title": round(self.title, 3), "time": self.time,
                "venue": None if self.venue is None else round(self.venue, 3),
                "shared_url": self.shared_url, "match": self.match, "reason": self.reason}


@lru_cache(maxsize=262144)
def title_similarity(a: str, b: str) -> float:
    """0..1 similarity of two normalized titles (token set and token sort ratios)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    set_ratio = fuzz.token_set_ratio(a, b) / 100
    sort_ratio = fuzz.token_sort_ratio(a, b) / 100
    ta, tb = a.split(), b.split()
    if min(len(ta), len(tb)) == 1 and max(len(ta), len(tb)) >= 3:
        # "Workshop" within "Cupping Workshop for Athletes" says little: do not call it a match.
        set_ratio = sort_ratio
    sim = 0.7 * set_ratio + 0.3 * sort_ratio
    sa, sb = set(ta), set(tb)
    only_a, only_b = sa - sb, sb - sa
    if only_a and only_b and fuzz.ratio(" ".join(sorted(only_a)), " ".join(sorted(only_b))) < 60:
        # Each title has words the other lacks, and they are not misspellings of each other:
        # "Cupping Workshop for Athletes" and "Hot Stone Workshop for Athletes" share only filler.
        sim = min(sim, 0.5 + 0.4 * len(sa & sb) / len(sa | sb))
    return sim


def _time_relation(a: _Rec, b: _Rec) -> str:
    if a.ts is not None and b.ts is not None:
        delta = abs(a.ts - b.ts)
        if delta == 0:
            return "exact"
        if delta % 3600 == 0 and delta <= MAX_HOURS_OFF * 3600:
            return "hours"
        return "none"
    if a.all_day and b.all_day:
        if a.day == b.day:
            return "exact"
        return "none"
    # One knows only the day: it agrees with a timed start on that local day.
    day_only, timed = (a, b) if a.all_day else (b, a)
    if day_only.day <= timed.local_day <= day_only.last_day and day_only.day == day_only.last_day:
        return "date"
    return "none"


@lru_cache(maxsize=262144)
def venue_similarity(a: str | None, b: str | None) -> float | None:
    """0..1 similarity of two normalized venues; None when either is unknown.

    Street numbers decide: two addresses with numbers, none shared, are different places
    however alike the rest reads (the city and state are shared by half the listings)."""
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    sim = fuzz.token_set_ratio(a, b) / 100
    na = {w for w in a.split() if w.isdigit()}
    nb = {w for w in b.split() if w.isdigit()}
    if na and nb and not (na & nb):
        sim = min(sim, 0.3)
    return sim


def _venue_similarity(a: _Rec, b: _Rec) -> float | None:
    return venue_similarity(a.venue, b.venue)


def _evaluate(a: _Rec, b: _Rec, slack: float = 0.0) -> PairScore:
    if a.key > b.key:
        a, b = b, a
    relation = _time_relation(a, b)
    title = title_similarity(a.title, b.title) if a.title <= b.title else title_similarity(b.title, a.title)
    venue = venue_similarity(a.venue, b.venue) if (a.venue or "") <= (b.venue or "") else \
        venue_similarity(b.venue, a.venue)
    shared = bool(a.urls & b.urls)
    time_weight = {"exact": 1.0, "date": 0.7, "hours": 0.6, "none": 0.0}[relation]
    score = 0.55 * title + 0.25 * time_weight + 0.2 * (0.6 if venue is None else venue) + (0.1 if shared else 0)
    score = min(1.0, score)
    if a.key == b.key:
        return PairScore(a.key, b.key, 1.0, 1.0, relation, venue, shared, True, "the same record")
    if relation == "none":
        return PairScore(a.key, b.key, score, title, relation, venue, shared, False,
                         "they start at different times")
    if a.source == b.source:
        if relation == "exact" and fuzz.ratio(a.title, b.title) / 100 >= SAME_SOURCE_TITLE - slack / 2 \
                and (venue is None or venue >= 0.9):
            return PairScore(a.key, b.key, score, title, relation, venue, shared, True,
                             "one source announced the same event twice")
        return PairScore(a.key, b.key, score, title, relation, venue, shared, False,
                         "two records of one source are different events")
    if venue is not None and venue < VENUE_CONFLICT - slack and not (shared and title >= 0.9):
        return PairScore(a.key, b.key, score, title, relation, venue, shared, False, "their venues differ")
    region_a, region_b = a.event.region, b.event.region
    if region_a and region_b and region_a != region_b and not shared and (venue is None or venue < 0.85):
        return PairScore(a.key, b.key, score, title, relation, venue, shared, False,
                         f"they are in different regions ({region_a}, {region_b})")
    needed = (TITLE_NEEDED_WITH_URL if shared else TITLE_NEEDED)[relation] - slack
    if relation == "hours" and not shared:
        hours = abs(a.ts - b.ts) / 3600  # type: ignore[operator]
        needed = max(needed, (0.86 if hours <= 1 else 0.9 if hours <= 3 else 0.95) - slack)
    if title >= needed:
        how = {"exact": "the same start", "date": "the same day (one gives no time)",
               "hours": "starts a whole number of hours apart (a time zone slip)"}[relation]
        return PairScore(a.key, b.key, score, title, relation, venue, shared, True,
                         f"similar titles ({title:.2f}) and {how}" + (", and the same link" if shared else ""))
    return PairScore(a.key, b.key, score, title, relation, venue, shared, False,
                     f"titles too different ({title:.2f} < {needed:.2f})")


def score_pair(a: Event, b: Event, *, source_types: Mapping[str, str] | None = None) -> PairScore:
    """How two source records compare: the scores and the decision merge would make for the pair."""
    return _evaluate(_prepare(a, 0, source_types), _prepare(b, 1, source_types))


# ---------------------------------------------------------------------------------------------
# Blocking
# ---------------------------------------------------------------------------------------------

BUCKET_CAP = 400  # a blocking key shared by more records than this is too common to pair on
_SMALL_SLOT = 8  # above this, a same-start bucket is pruned by title with rapidfuzz (in C) first
_SLOT_TITLE_CUTOFF = 58  # token-set ratio below which two same-start titles are not worth scoring


def _time_compatible(a: _Rec, b: _Rec) -> bool:
    """Cheap pre-check of _time_relation: could these two starts describe one event?"""
    if a.ts is not None and b.ts is not None:
        delta = abs(a.ts - b.ts)
        return delta % 3600 == 0 and delta <= MAX_HOURS_OFF * 3600
    if a.all_day and b.all_day:
        return a.day == b.day
    day_only, timed = (a, b) if a.all_day else (b, a)
    return day_only.day <= timed.local_day <= day_only.last_day


def _candidates(recs: list[_Rec]) -> set[tuple[int, int]]:
    """Pairs worth scoring (i < j), found by blocking; never all pairs. Records of two different
    regions pair only through a shared URL (see _evaluate)."""
    pairs: set[tuple[int, int]] = set()
    region = [r.event.region for r in recs]

    def apart(i: int, j: int) -> bool:
        return bool(region[i] and region[j] and region[i] != region[j])

    # 1. The same start instant (or the same all-day date): titles pre-filtered in C.
    slots: dict[object, list[int]] = defaultdict(list)
    for r in recs:
        slots[r.ts if r.ts is not None else ("d", r.day)].append(r.idx)
    for members in slots.values():
        n = len(members)
        if n < 2:
            continue
        if n <= _SMALL_SLOT:
            for x in range(n):
                for y in range(x + 1, n):
                    if not apart(members[x], members[y]):
                        pairs.add((members[x], members[y]) if members[x] < members[y] else (members[y], members[x]))
            continue
        by_title: dict[str, list[int]] = defaultdict(list)
        for i in members:
            by_title[recs[i].title].append(i)
        titles = list(by_title)
        linked: list[tuple[int, int]] = [(x, x) for x in range(len(titles))]
        for x, title in enumerate(titles):
            for _, _, y in process.extract(title, titles, scorer=fuzz.token_set_ratio,
                                           score_cutoff=_SLOT_TITLE_CUTOFF, limit=None):
                if y > x:
                    linked.append((x, y))
        for x, y in linked:
            for i in by_title[titles[x]]:
                for j in by_title[titles[y]]:
                    if i != j and not apart(i, j):
                        pairs.add((i, j) if i < j else (j, i))

    # 2. The same two rarest title words (so also the same title), within a day either side, at a start a
    #    whole number of hours away (a zone slip: the same minute of the hour), or on the day a
    #    date-only record gives.
    df: dict[str, int] = defaultdict(int)
    for r in recs:
        for t in r.tokens:
            df[t] += 1
    timed: dict[tuple, list[int]] = defaultdict(list)
    dated: dict[tuple, list[int]] = defaultdict(list)
    for r in recs:
        r.block_tokens = tuple(sorted(sorted(r.tokens, key=lambda t: (df[t], t))[:2]))
        # Indexed under its region and under "*" (every region), so that a regional record looks
        # up its region and the national ("") records, and a national record looks up "*".
        # (Equal titles have equal rarest words, so the two words are the one key needed.)
        sig = r.block_tokens
        for reg in (r.event.region or "", "*"):
            if r.ts is not None:
                timed[(sig, r.day, r.ts % 3600, reg)].append(r.idx)
            else:
                dated[(sig, r.day, reg)].append(r.idx)
    for r in recs:
        look = (r.event.region, "") if r.event.region else ("*",)
        sig = r.block_tokens
        for reg in look:
            if r.ts is not None:
                for d in (r.day - 1, r.day, r.day + 1):
                    members = timed.get((sig, d, r.ts % 3600, reg))
                    if members and len(members) <= BUCKET_CAP:
                        for j in members:
                            if j > r.idx and _time_compatible(r, recs[j]):
                                pairs.add((r.idx, j))
                if dated:
                    members = dated.get((sig, r.local_day, reg))
                    if members and len(members) <= BUCKET_CAP:
                        for j in members:
                            if _time_compatible(r, recs[j]):
                                pairs.add((r.idx, j) if r.idx < j else (j, r.idx))

    # 3. A shared event-specific URL, within a day either side.
    by_url: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r in recs:
        for u in r.urls:
            by_url[(u, r.day)].append(r.idx)
    for r in recs:
        for u in r.urls:
            for d in (r.day - 1, r.day, r.day + 1):
                members = by_url.get((u, d))
                if members and len(members) <= BUCKET_CAP:
                    for j in members:
                        if j > r.idx:
                            pairs.add((r.idx, j))
    return pairs


# ---------------------------------------------------------------------------------------------
# Curator overrides
# ---------------------------------------------------------------------------------------------


def _override_lists(overrides) -> tuple[list[list[str]], list[list[str]], list[str]]:
    if overrides is None:
        return [], [], []
    if isinstance(overrides, Mapping):
        get = overrides.get
    else:
        def get(name, default=None):
            return getattr(overrides, name, default)
    same = [list(g) for g in (get("same", None) or ())]
    never = [list(g) for g in (get("never", None) or ())]
    hide = list(get("hide", None) or ())
    return same, never, hide


def _resolve_ref(ref: str, by_key: Mapping[tuple[str, str], int], by_uid: Mapping[str, list[int]]) -> list[int]:
    """Records a curator's reference names: a published uid, or "source:external_id"."""
    ref = ref.strip()
    if ref in by_uid:
        return list(by_uid[ref])
    if ":" in ref:
        source, external_id = ref.split(":", 1)
        hit = by_key.get((source.strip(), external_id.strip()))
        if hit is not None:
            return [hit]
    return []


def ref_matches(ref: str, event: Event) -> bool:
    """Whether a curator's reference (uid, or source:external_id) names this event."""
    ref = ref.strip()
    if ref == event.uid:
        return True
    if ":" in ref:
        source, external_id = ref.split(":", 1)
        return any(s.source == source.strip() and s.external_id == external_id.strip() for s in event.sources)
    return False


# ---------------------------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    """What merge decided: the events, the scores of the pairs it joined, and what it hid."""

    events: list[Event]
    pairs: list[PairScore] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # uids of events dropped by `hide`
    unresolved: list[str] = field(default_factory=list)  # `same`/`never` references that name nothing
    groups: list[list[tuple[str, str]]] = field(default_factory=list)
    candidates: int = 0


def _group(recs: list[_Rec], same: list[list[int]], never: set[tuple[int, int]]
           ) -> tuple[list[list[int]], list[PairScore], int]:
    parent = list(range(len(recs)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(recs))}
    joined: list[PairScore] = []
    strict: dict[tuple[int, int], PairScore] = {}
    loose_cache: dict[tuple[int, int], bool] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        if (ra, rb) > (rb, ra):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra].extend(members.pop(rb))

    def forbidden(ra: int, rb: int) -> bool:
        return any((min(x, y), max(x, y)) in never for x in members[ra] for y in members[rb])

    for group in same:
        for i in group[1:]:
            ra, rb = find(group[0]), find(i)
            if ra != rb and not forbidden(ra, rb):
                union(ra, rb)

    scored = []
    candidates = _candidates(recs)
    for i, j in candidates:
        s = _evaluate(recs[i], recs[j])
        strict[(i, j)] = s
        if s.match:
            scored.append((-s.score, recs[i].key, recs[j].key, i, j, s))
    scored.sort(key=lambda t: t[:3])

    def loose(i: int, j: int) -> bool:
        k = (i, j) if i < j else (j, i)
        if k in never:
            return False
        ok = loose_cache.get(k)
        if ok is None:
            ok = loose_cache[k] = _evaluate(recs[k[0]], recs[k[1]], slack=LINKAGE_SLACK).match
        return ok

    for _, _, _, i, j, s in scored:
        ra, rb = find(i), find(j)
        if ra == rb:
            joined.append(s)
            continue
        if all(loose(x, y) for x in members[ra] for y in members[rb]):
            union(ra, rb)
            joined.append(s)
    groups = [sorted(m, key=lambda i: recs[i].key) for m in members.values()]
    groups.sort(key=lambda g: recs[g[0]].key)
    return groups, joined, len(candidates)


# ---------------------------------------------------------------------------------------------
# Merging a group into one event
# ---------------------------------------------------------------------------------------------


def _merge_group(group: list[_Rec]) -> Event:
    by_authority = sorted(group, key=lambda r: (r.authority, r.key))
    best = by_authority[0]
    timed = [r for r in by_authority if r.utc is not None]
    when = timed[0] if timed else best
    end = when.event.end
    if end is None:
        for r in by_authority:
            if r.event.end is not None and r.utc == when.utc and r.all_day == when.all_day:
                end = r.event.end
                break
    title = strip_prefixes(best.event.title) or best.event.title
    descriptions = [(len(d), -i, d) for i, d in enumerate(clean_description(r.event.description)
                                                          for r in by_authority) if d]
    description = max(descriptions)[2] if descriptions else ""
    venues = sorted(by_authority, key=lambda r: (r.venue is None, -len((r.venue or "").split()), r.authority, r.key))
    location = venues[0].event.location if venues[0].venue is not None else next(
        (r.event.location for r in by_authority if r.event.location), None)
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
    return Event(uid=best.event.uid, title=title, start=when.event.start, end=end, all_day=when.all_day,
                 timezone=when.event.timezone, location=location, url=url, description=description,
                 status=status, region=region, tags=tags, sources=sources)


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------


def _age_key(uid: str, first_published: Mapping[str, object] | None) -> tuple:
    stamp = first_published.get(uid) if first_published else None
    if isinstance(stamp, datetime):
        stamp = stamp.isoformat()
    return (stamp is None, str(stamp or ""), uid)


def _content_match(rep: _Rec, group: list[_Rec], old: _Rec) -> bool:
    """Whether a group whose records are all new is last run's event `old` (UID churn): a source
    in common, the same start, a near-identical title and no other venue."""
    if not ({r.source for r in group} & {s.source for s in old.event.sources}):
        return False
    if rep.ts != old.ts or (rep.ts is None and rep.day != old.day):
        return False
    if title_similarity(rep.title, old.title) < 0.9:
        return False
    venue = _venue_similarity(rep, old)
    return venue is None or venue >= 0.8


def merge_detailed(records: Sequence[Event], known: Mapping[str, str], overrides=None, *,
                   first_published: Mapping[str, object] | None = None,
                   previous: Mapping[str, Event] | None = None,
                   source_types: Mapping[str, str] | None = None) -> MergeResult:
    """`merge`, also returning the scores of the joined pairs and the uids hidden by the curator."""
    # One record per (source, external_id), chosen independently of input order.
    unique: dict[tuple[str, str], Event] = {}
    for ev in records:
        ref = ev.sources[0] if ev.sources else SourceRef("", ev.uid, ev.url)
        key = (ref.source, ref.external_id)
        if key not in unique or repr(ev) > repr(unique[key]):
            unique[key] = ev
    ordered = [unique[k] for k in sorted(unique)]
    recs = [_prepare(ev, i, source_types) for i, ev in enumerate(ordered)]

    by_key = {r.key: r.idx for r in recs}
    by_uid: dict[str, list[int]] = defaultdict(list)
    for r in recs:
        if r.event.uid in known:
            by_uid[known[r.event.uid]].append(r.idx)
    same_refs, never_refs, hide_refs = _override_lists(overrides)
    unresolved = sorted({ref for g in (*same_refs, *never_refs) for ref in g
                         if not _resolve_ref(ref, by_key, by_uid)})
    for ref in unresolved:
        log.warning('merge: "%s" names no current record or published event; check the source id and '
                    "the external id (massage-events explain UID shows them)", ref)
    same = [sorted({i for ref in g for i in _resolve_ref(ref, by_key, by_uid)}) for g in same_refs]
    same = [g for g in same if len(g) > 1]
    never: set[tuple[int, int]] = set()
    for g in never_refs:
        sets = [_resolve_ref(ref, by_key, by_uid) for ref in g]
        for x in range(len(sets)):
            for y in range(x + 1, len(sets)):
                for i in sets[x]:
                    for j in sets[y]:
                        if i != j:
                            never.add((min(i, j), max(i, j)))

    groups_idx, joined, candidates = _group(recs, same, never)
    groups = [[recs[i] for i in g] for g in groups_idx]

    # Identity: claims on published uids, oldest uid first.
    claims: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for gi, group in enumerate(groups):
        for r in group:
            uid = known.get(r.event.uid)
            if uid:
                claims[uid][gi] += 1
    assigned: dict[int, str] = {}
    taken: set[str] = set()
    for uid in sorted(claims, key=lambda u: _age_key(u, first_published)):
        holders = sorted(claims[uid].items(), key=lambda kv: (-kv[1], groups[kv[0]][0].key))
        for gi, _ in holders:
            if gi not in assigned:
                assigned[gi] = uid
                taken.add(uid)
                break
    # Churned identities: match new groups by content to last run's unclaimed events (same start).
    if previous:
        free: dict[object, list[tuple[tuple, str, _Rec]]] = defaultdict(list)
        for uid, old_event in previous.items():
            if uid not in taken:
                old = _prepare(old_event, -1, source_types)
                free[old.ts if old.ts is not None else ("d", old.day)].append(
                    (_age_key(uid, first_published), uid, old))
        for gi, group in enumerate(groups):
            if gi in assigned:
                continue
            rep = sorted(group, key=lambda r: (r.authority, r.key))[0]
            for _, uid, old in sorted(free.get(rep.ts if rep.ts is not None else ("d", rep.day), ()),
                                      key=lambda t: t[0]):
                if uid not in taken and _content_match(rep, group, old):
                    assigned[gi] = uid
                    taken.add(uid)
                    break

    events: list[Event] = []
    hidden: list[str] = []
    for gi, group in enumerate(groups):
        merged = _merge_group(group)
        anchor = group[0]  # the first by (source, external_id)
        uid = assigned.get(gi)
        if uid is None:
            uid = anchor.event.uid if anchor.event.uid not in taken else _mint(anchor)
            taken.add(uid)
        merged = replace(merged, uid=uid)
        if any(ref_matches(ref, merged) for ref in hide_refs):
            hidden.append(uid)
            continue
        events.append(merged)
    events.sort(key=lambda e: (_instant(e), e.uid))
    return MergeResult(events=events, pairs=joined, hidden=sorted(hidden), unresolved=unresolved,
                       groups=[[r.key for r in g] for g in groups], candidates=candidates)


def _instant(event: Event) -> str:
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc).isoformat()
    return event.start.isoformat()


def _mint(anchor: _Rec) -> str:
    digest = hashlib.sha256(f"event\x00{anchor.key[0]}\x00{anchor.key[1]}".encode()).hexdigest()[:20]
    return f"{digest}@massage-events"


def merge(records: Sequence[Event], known: Mapping[str, str], overrides=None, *,
          first_published: Mapping[str, object] | None = None,
          previous: Mapping[str, Event] | None = None,
          source_types: Mapping[str, str] | None = None) -> list[Event]:
    """One Event per real-world event, uid stable across runs; see the module docstring.

    records: normalized source records (one SourceRef each, uid = record uid).
    known: record uid -> the published uid it belonged to last run (store links).
    overrides: the `merge:` settings (same / never / hide), or None.
    first_published: published uid -> when it was first published (the oldest uid wins).
    previous: last run's published events by uid (matches records whose UIDs churn).
    source_types: source id -> adapter type, for the authority ranking.
    """
    return merge_detailed(records, known, overrides, first_published=first_published, previous=previous,
                          source_types=source_types).events


def benchmark_merge(records: Sequence[Event], **kwargs) -> dict:
    """Merge `records` with no history and time it: for benchmarks/ (pairwise figures from `groups`).

    Returns {"seconds", "records", "events", "candidates", "groups": list of lists of (source, external_id)}.
    """
    began = time.perf_counter()
    result = merge_detailed(records, {}, **kwargs)
    return {"seconds": time.perf_counter() - began, "records": len(records), "events": len(result.events),
            "candidates": result.candidates, "groups": result.groups}


def pairwise_quality(predicted: Iterable[Iterable[object]], truth: Iterable[Iterable[object]]) -> dict:
    """Pairwise precision, recall and F1 of a clustering against the true one (items are any hashables)."""
    def pairs(groups) -> set[tuple]:
        out = set()
        for g in groups:
            items = sorted(g, key=repr)
            for x in range(len(items)):
                for y in range(x + 1, len(items)):
                    out.add((items[x], items[y]))
        return out

    p, t = pairs(predicted), pairs(truth)
    tp = len(p & t)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted_pairs": len(p), "true_pairs": len(t)}
