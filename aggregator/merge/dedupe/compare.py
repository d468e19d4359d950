"""Records prepared for matching, and how two of them compare: a Fellegi–Sunter match weight.

Each pair of candidate records is compared field by field; each comparison lands on one
*level* (title: same / very similar / ...; start: exact / date only / hours apart at the
same place / ...). A level carries a weight, log2(m/u): m is how often true duplicates land
on it, u how often different events that blocking put side by side do. The weights, and
the prior odds that a candidate pair is a duplicate, are estimated from labelled farm data
(``benchmarks/dedupe_weights.py`` re-estimates them into ``weights.py``). The match weight
of a pair is the prior's log-odds plus the sum of its levels' weights; a pair matches when
it reaches ``weights.THRESHOLD``.

A few facts are not weighed but hold outright, because no amount of other agreement makes
them one event: two starts that cannot be the same moment; two records of one source that
are not the same announcement; a start off by whole hours with nothing showing that the
place or the link is the same (two online events with one title, hours apart, are two
events); two regions with nothing shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

import aggregator.merge.dedupe.weights as W
from aggregator.merge.dedupe.keys import _MEETING_URL, _bare, _online_place, online_elsewhere, type_authority, norm_title, norm_url, \
    norm_venue, street_address, title_core, title_says_cancelled, zone_family_slip
from aggregator.model import Event, SourceRef, Status
from sources.base import AUTHORITY_MAIL, AUTHORITY_PAGE, AUTHORITY_UNKNOWN

# ---------------------------------------------------------------------------------------------
# Records prepared for matching
# ---------------------------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(slots=True)
class _Rec:
    idx: int
    event: Event
    key: tuple[str, str]  # (source, external_id)
    source: str
    authority: tuple[int, str]
    title: str  # normalized
    tokens: frozenset[str]
    ts: int | None  # the UTC start as epoch seconds (None: all-day)
    all_day: bool
    day: int  # ordinal of the UTC date (or of the date, all-day)
    local_day: int  # ordinal of the date where the event is
    last_day: int  # ordinal of the last day it runs (all-day spans)
    venue: str | None
    urls: frozenset[str]
    cancelled: bool
    core: str = ""  # the title without decorations, as compared across sources
    online: bool = False
    precision: int = 2  # how the start's zone is known: 0 explicit offset, 1 named zone, 2 a default
    block_tokens: tuple[str, ...] = ()
    numbers: frozenset[str] = frozenset()  # the house and other numbers in `venue`, read once per record

    @property
    def utc(self) -> datetime | None:
        return None if self.ts is None else datetime.fromtimestamp(self.ts, timezone.utc)


def _authority_of(source: str, external_id: str, source_types: Mapping[str, str] | None) -> int:
    if source_types and source in source_types:
        value = source_types[source]
        if isinstance(value, int):  # an authority given directly
            return value
        return type_authority(value)
    # No types given: guess from the shape of the identity (a Message-ID is mail).
    if external_id.startswith("<") and "@" in external_id:
        return AUTHORITY_MAIL
    return AUTHORITY_UNKNOWN


#: Authority at or below which a source is structured (a calendar, schema.org, a mapped page):
#: its zone is stated by the source, not guessed from prose.
STRUCTURED = AUTHORITY_PAGE


def _precision(start: datetime | date, authority: int, default_zone: str | None) -> int:
    """0: the source wrote an explicit UTC offset; 1: it named the zone (a TZID, a zone word in
    prose); 2: the time was read in the source's default zone."""
    if not isinstance(start, datetime):
        return 3
    tz = start.tzinfo
    if not isinstance(tz, ZoneInfo):
        return 0
    if authority <= STRUCTURED:
        return 1
    if default_zone and tz.key != default_zone:
        return 1
    return 2


# Titles and their cores recur (a monthly meeting, one event listed by several sources): read once each.
_says_cancelled = lru_cache(maxsize=1 << 18)(title_says_cancelled)


@lru_cache(maxsize=1 << 18)
def _tokens(core: str) -> frozenset[str]:
    return frozenset(core.split())


_NO_WORDS: frozenset[str] = frozenset()
_NO_PLACE: tuple[None, frozenset[str], bool] = (None, frozenset(), False)


@lru_cache(maxsize=1 << 18)
def _place(location: str) -> tuple[str | None, frozenset[str], bool]:
    """(normalized venue, its numbers, whether the place says the event is online), read once per place."""
    venue = norm_venue(location)
    return venue, (_numbers(venue) if venue is not None else _NO_NUMBERS), _online_place(location)


@lru_cache(maxsize=1 << 18)
def _titled(title: str, words: frozenset[str], segments: tuple[str, ...], venue: str | None
            ) -> tuple[str, str, frozenset[str], bool]:
    """(normalized title, core, the core's words, whether the title says cancelled), read once per title
    and decoration (and venue, for a title that says " at ")."""
    core = title_core(title, words, segments, venue)
    return norm_title(title), core, _tokens(core), _says_cancelled(title)


def _prepare(event: Event, idx: int, source_types: Mapping[str, str] | None,
             decoration=None, source_zones: Mapping[str, str] | None = None) -> _Rec:
    ref = event.sources[0] if event.sources else SourceRef("", event.uid, event.url)
    start = event.start
    if isinstance(start, datetime):
        ts = int(start.timestamp())
        day = ts // 86400 + _EPOCH_ORDINAL
        local_day = start.toordinal()
        last = event.end.toordinal() if isinstance(event.end, datetime) else local_day
    else:
        ts = None
        day = local_day = start.toordinal()
        last = (event.end.toordinal() - 1) if isinstance(event.end, date) and not isinstance(event.end, datetime) \
            else day
        last = max(last, day)
    title_text = event.title
    location = event.location
    venue, numbers, online = _place(location) if location else _NO_PLACE
    segments = decoration.segments if decoration else ()
    # The venue shapes the core only when the title says " at " (see keys.title_core).
    title, core, tokens, says_cancelled = _titled(title_text, decoration.words if decoration else _NO_WORDS,
                                                  segments, venue if venue and _bare(title_text, segments)[2]
                                                  else None)
    url = event.url
    if len(event.sources) == 1 and event.sources[0].url == url:
        u = norm_url(url)
        urls = frozenset((u,)) if u else frozenset()
    else:
        urls = frozenset(u for u in (norm_url(url), *(norm_url(s.url) for s in event.sources)) if u)
    authority = _authority_of(ref.source, ref.external_id, source_types)
    online = online or online_elsewhere(event)
    if online:
        # An online event has no place: "Online (Zoom)" written alike by two sessions is no
        # evidence that they are one.
        venue, numbers = None, _NO_NUMBERS
    return _Rec(idx=idx, event=event, key=(ref.source, ref.external_id), source=ref.source, ts=ts,
                authority=(authority, ref.source), title=title, tokens=tokens, all_day=ts is None,
                day=day, local_day=local_day, last_day=last, urls=urls, venue=venue, numbers=numbers,
                cancelled=event.status == Status.CANCELLED or says_cancelled, core=core,
                online=online,
                precision=_precision(start, authority, (source_zones or {}).get(ref.source)))


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------

#: Two records of one source are one announcement only at this plain similarity of their
#: normalized titles: "Volunteers" and "Volunteers (Team B)" stay two.
SAME_SOURCE_TITLE = 0.95
#: How many bits below the threshold every member of two groups may be when the groups join
#: (complete linkage: the joining pair must reach the threshold itself).
LINKAGE_SLACK = 1.0
MAX_HOURS_OFF = 12
#: Venue similarity below which two known venues are different places.
VENUE_CONFLICT = 0.5
#: A cancelled record cancels the event it is grouped with only when it matches, on its own, the record
#: whose start is published, at the same start (see group.split_weak_cancellations): this many bits
#: past the threshold. Measured on tuning farms, cancelled mail copies (no venue, no link) sit about
#: three bits past it; a copy joined only through the group's other records, or hours apart, does not.
STRONG_MARGIN = 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """One field's comparison: the level it landed on and that level's weight (bits)."""

    field: str
    level: str
    weight: float

    def as_dict(self) -> dict:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 2)}


@dataclass(frozen=True, slots=True)
class PairScore:
    """Why two records are (or are not) one event; shown by `massage-events explain`."""

    a: tuple[str, str]  # (source, external_id)
    b: tuple[str, str]
    score: float  # 0..1: the probability the pair is one event (from the match weight)
    title: float  # 0..1
    time: str  # exact | date | hours | none
    venue: float | None  # 0..1, None when either is unknown
    shared_url: bool
    match: bool
    reason: str  # a short sentence
    weight: float = 0.0  # the match weight in bits (prior log-odds + every comparison's weight)
    comparisons: tuple[Comparison, ...] = ()
    veto: str = ""  # the outright rule that decided the pair ("time", "source", "hours", "region"), or ""

    def as_dict(self) -> dict:
        return {"a": ":".join(self.a), "b": ":".join(self.b), "score": round(self.score, 3),
                "title": round(self.title, 3), "time": self.time,
                "venue": None if self.venue is None else round(self.venue, 3),
                "shared_url": self.shared_url, "match": self.match, "reason": self.reason,
                "weight": round(self.weight, 2), "threshold": W.THRESHOLD,
                "comparisons": [c.as_dict() for c in self.comparisons]}


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
    return venue_similarity(a.venue, b.venue) if (a.venue or "") <= (b.venue or "") else \
        venue_similarity(b.venue, a.venue)


def title_level(sim: float) -> str:
    if sim >= 0.999:
        return "same"
    if sim >= 0.92:
        return "very_similar"
    if sim >= 0.8:
        return "similar"
    if sim >= 0.65:
        return "some"
    return "different"


def venue_level(sim: float | None) -> str:
    if sim is None:
        return "unknown"
    if sim >= 0.9:
        return "same"
    if sim >= 0.7:
        return "similar"
    if sim >= VENUE_CONFLICT:
        return "weak"
    return "different"


def address_level(a: _Rec, b: _Rec) -> str:
    """Parsed street addresses: the same number and street, or not; unknown when either has none.

    Parsing (usaddress) is paid only where the cheap reading cannot tell: two venues written alike
    are one address, and two with house numbers none of which is shared are two."""
    va, vb = a.venue, b.venue
    if va is None or vb is None:
        return "unknown"
    na, nb = a.numbers, b.numbers
    if not na or not nb:
        return "unknown"
    if na.isdisjoint(nb):
        return "different"
    if va == vb:
        return "same"
    pa = _street(va) or street_address(a.event.location)
    pb = _street(vb) or street_address(b.event.location)
    if pa is None or pb is None:
        return "unknown"
    if pa[0] != pb[0]:
        return "different"
    sa, sb = pa[1].split(), pb[1].split()
    # "W Belmont" and "W Belmont Ave": one street when one names it more fully.
    if pa[1] == pb[1] or set(sa) <= set(sb) or set(sb) <= set(sa):
        return "same"
    return "different"


_STREET_TYPES = frozenset("st ave rd blvd dr ln ct pl pkwy hwy sq ter way cir trl loop row".split())
_DIRECTIONS = frozenset("n s e w ne nw se sw".split())


@lru_cache(maxsize=1 << 18)
def _street(venue: str) -> tuple[str, str] | None:
    """(number, street) read from a normalized venue when it is written plainly ("... 1200 w belmont ave ...");
    None sends the location to usaddress."""
    words = venue.split()
    for i, w in enumerate(words):
        if not w.isdigit():
            continue
        street = []
        for x in words[i + 1:i + 6]:
            street.append(x)
            if x in _STREET_TYPES and len(street) >= 2 and not (len(street) == 2 and street[0] in _DIRECTIONS):
                return w, " ".join(street)
        return None
    return None


_NO_NUMBERS: frozenset[str] = frozenset()


@lru_cache(maxsize=1 << 18)
def _numbers(venue: str) -> frozenset[str]:
    return frozenset(w for w in venue.split() if w.isdigit())


def _meeting_links_only(a: _Rec, b: _Rec) -> bool:
    """Whether every link the two share is a meeting room rather than an event's page."""
    return all(_MEETING_URL.match("https://" + u) for u in a.urls & b.urls)


def _weight(field: str, level: str) -> float:
    return W.WEIGHTS[field][level]


def _probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-max(-60.0, min(60.0, weight))))


def comparisons_of(a: _Rec, b: _Rec, relation: str, title: float, venue: float | None, shared: bool
                   ) -> tuple[Comparison, ...]:
    """Every field's level and weight for a pair whose starts can be the same moment."""
    address = address_level(a, b)
    vlevel = venue_level(venue)
    if (vlevel == "weak" or vlevel == "different") and address == "unknown" and bool(a.numbers) != bool(b.numbers):
        named, addressed = (b, a) if a.numbers else (a, b)
        # One names the place ("Harmony Massage School"), the other gives only its street address: they
        # cannot be compared, which is no evidence either way. A name before that address can be compared
        # with a name a structured source gives; a name read from prose may be the title's own words.
        if addressed.venue[:1].isdigit() or named.authority[0] > STRUCTURED:
            vlevel = "unknown"
    if relation == "hours":
        # A meeting room ("zoom.us/j/...") serves every session its host runs: for online events
        # only the place or an event page shows they are one.
        # (A slip is one hour, and two starts in one zone object, as ZoneInfo shares one per key, are none:
        # both checked first, on the epoch seconds and the zone objects.)
        same_place = vlevel == "same" or address == "same" or (shared and not (a.online and b.online
                                                                               and _meeting_links_only(a, b))) \
            or (abs(a.ts - b.ts) == 3600 and a.event.start.tzinfo is not b.event.start.tzinfo  # type: ignore[operator]
                and zone_family_slip(a.event.start, b.event.start))
        start = "hours_same_place" if same_place else "hours"
    else:
        start = _START_LEVEL[relation]
    if a.urls and b.urls:
        link = "shared" if shared else "different"
    else:
        link = "unknown"
    if a.online and b.online:
        online = "both"
    elif (a.online and b.venue is not None) or (b.online and a.venue is not None):
        online = "mixed"
    else:
        online = "neither"
    return (_TITLE_COMPARISON[title_level(title)], _START_COMPARISON[start], _VENUE_COMPARISON[vlevel],
            _ADDRESS_COMPARISON[address], _LINK_COMPARISON[link], _ONLINE_COMPARISON[online])


_START_LEVEL = {"exact": "exact", "date": "date_only"}
#: One Comparison per (field, level), made once: pairs share them.
_COMPARISONS = {(f, lv): Comparison(f, lv, w) for f, levels in W.WEIGHTS.items() for lv, w in levels.items()}
_TITLE_COMPARISON, _START_COMPARISON, _VENUE_COMPARISON, _ADDRESS_COMPARISON, _LINK_COMPARISON, _ONLINE_COMPARISON = (
    {lv: c for (f, lv), c in _COMPARISONS.items() if f == name}
    for name in ("title", "start", "venue", "address", "link", "online"))


class Judged(NamedTuple):
    """A pair's decision as merge makes it, before it is written up as a PairScore (merge scores every
    candidate pair and shows only the pairs it joined: the write-up is made for those alone)."""

    a: _Rec  # the first by (source, external_id)
    b: _Rec
    time: str
    title: float
    venue: float | None
    shared_url: bool
    match: bool
    weight: float  # as PairScore.weight: +99 / -99 for the outright rules that need no weighing
    comparisons: tuple[Comparison, ...]
    veto: str
    why: str  # which rule decided: one of _SAME_RECORD ... _WEIGHED
    slack: float


_SAME_RECORD, _TWICE, _TIMES, _ONE_SOURCE, _HOURS, _REGIONS, _WEIGHED = (
    "same record", "announced twice", "times", "one source", "hours", "regions", "weighed")


def _judge(a: _Rec, b: _Rec, slack: float = 0.0) -> Judged:
    if a.key >= b.key:
        if a.key == b.key:
            return Judged(a, b, "exact", 1.0, None, False, True, 99.0, (), "", _SAME_RECORD, slack)
        a, b = b, a
    relation = _time_relation(a, b)
    title = title_similarity(a.core, b.core) if a.core <= b.core else title_similarity(b.core, a.core)
    va, vb = a.venue, b.venue
    venue = venue_similarity(va, vb) if (va or "") <= (vb or "") else venue_similarity(vb, va)
    shared = not a.urls.isdisjoint(b.urls)
    if relation == "none":
        return Judged(a, b, relation, title, venue, shared, False, -99.0, (), "time", _TIMES, slack)
    if a.source == b.source:
        if relation == "exact" and fuzz.ratio(a.title, b.title) / 100 >= SAME_SOURCE_TITLE - slack / 100 \
                and (venue is None or venue >= 0.9):
            return Judged(a, b, relation, title, venue, shared, True, 99.0, (), "", _TWICE, slack)
        return Judged(a, b, relation, title, venue, shared, False, -99.0, (), "source", _ONE_SOURCE, slack)
    comparisons = comparisons_of(a, b, relation, title, venue, shared)
    c0, c1, c2, c3, c4, c5 = comparisons
    weight = W.PRIOR_WEIGHT + c0.weight + c1.weight + c2.weight + c3.weight + c4.weight + c5.weight
    if relation == "hours" and c1.level == "hours" and slack > 0:
        # Checking every member of two groups that a strict match joins: the place or the link is
        # already shown the same by the group's other members, so the zone slip is weighed as such.
        hourly = _COMPARISONS["start", "hours_same_place"]
        weight += hourly.weight - c1.weight
        comparisons = (c0, hourly, c2, c3, c4, c5)
    elif relation == "hours" and c1.level == "hours":
        return Judged(a, b, relation, title, venue, shared, False, weight, comparisons, "hours", _HOURS, slack)
    region_a, region_b = a.event.region, b.event.region
    if region_a and region_b and region_a != region_b and not shared and (venue is None or venue < 0.85):
        return Judged(a, b, relation, title, venue, shared, False, weight, comparisons, "region", _REGIONS, slack)
    return Judged(a, b, relation, title, venue, shared, weight >= W.THRESHOLD - slack, weight, comparisons, "",
                  _WEIGHED, slack)


def _score(j: Judged) -> PairScore:
    """The PairScore of a judged pair: its probability and the sentence that says why."""
    a, b = j.a, j.b
    why = j.why
    if why == _SAME_RECORD:
        return PairScore(a.key, b.key, 1.0, 1.0, "exact", None, False, True, "the same record", 99.0)
    if why == _TWICE:
        return PairScore(a.key, b.key, 1.0, j.title, j.time, j.venue, j.shared_url, True,
                         "one source announced the same event twice", 99.0)
    if why in (_TIMES, _ONE_SOURCE):
        reason = "they start at different times" if why == _TIMES else "two records of one source are different events"
        return PairScore(a.key, b.key, 0.0, j.title, j.time, j.venue, j.shared_url, False, reason, -99.0, (), j.veto)
    weight = j.weight
    if why == _HOURS:
        hours = abs(a.ts - b.ts) // 3600  # type: ignore[operator]
        reason = (f"they start {hours} hour{'s' if hours != 1 else ''} apart and nothing shows the place or the "
                  "link is the same")
    elif why == _REGIONS:
        reason = f"they are in different regions ({a.event.region}, {b.event.region})"
    else:
        needed = W.THRESHOLD - j.slack
        reason = f"match weight {weight:+.1f} {'reaches' if j.match else 'is below'} {needed:+.1f}"
    return PairScore(a.key, b.key, _probability(weight), j.title, j.time, j.venue, j.shared_url, j.match, reason,
                     weight, j.comparisons, j.veto)


def _evaluate(a: _Rec, b: _Rec, slack: float = 0.0) -> PairScore:
    return _score(_judge(a, b, slack))


def strongly_matched(a: _Rec, b: _Rec) -> bool:
    """Whether two records are one event on their own evidence: the same start (or the same clock time
    read in two zones of one family), and a match by weight."""
    s = _evaluate(a, b)
    same_start = s.time in ("exact", "date") or zone_family_slip(a.event.start, b.event.start)
    return s.match and same_start and s.weight >= W.THRESHOLD + STRONG_MARGIN


def score_pair(a: Event, b: Event, *, source_types: Mapping[str, str] | None = None,
               decorations: Mapping[str, object] | None = None) -> PairScore:
    """How two source records compare: the scores and the decision merge would make for the pair.
    `decorations` (source id -> Decoration, from decorations.learn_decorations over all records)
    makes the titles compare as merge compares them."""
    da = db = None
    if decorations:
        da = decorations.get(a.sources[0].source if a.sources else "")
        db = decorations.get(b.sources[0].source if b.sources else "")
    return _evaluate(_prepare(a, 0, source_types, da), _prepare(b, 1, source_types, db))
