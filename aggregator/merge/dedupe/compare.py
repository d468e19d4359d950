"""Records prepared for matching, and how two of them compare (PairScore)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from rapidfuzz import fuzz

from aggregator.merge.dedupe.keys import AUTHORITY, _UNKNOWN_AUTHORITY, norm_title, norm_url, norm_venue, start_utc, \
    title_says_cancelled
from aggregator.model import Event, SourceRef, Status

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
        return AUTHORITY.get(source_types[source], _UNKNOWN_AUTHORITY)
    # No types given: guess from the shape of the identity (a Message-ID is mail).
    if external_id.startswith("<") and "@" in external_id:
        return AUTHORITY["mail"]
    return _UNKNOWN_AUTHORITY


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
