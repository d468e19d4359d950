"""Title decorations learned from the data: what one source puts on most of its titles.

A list's name as a prefix ("Chicago Bodywork Circle: ..."), a venue or city suffix
("... | Downtown Studio"), a word every title of a source carries ("... Meetup"): such
text tells which source wrote the title, not which event it is, and it is missing from
the other sources' copies. No list of such words is kept: a source's decoration is
found among its own titles, as the leading or trailing segment, or the word, that most
of its distinct titles share.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from aggregator.merge.dedupe.keys import _SEGMENT, _fold, norm_title, strip_prefixes
from aggregator.model import Event

_MAY_HAVE_SEGMENTS = re.compile(r"[:|\u2013\u2014]| - ")

#: A source needs this many distinct titles before anything is called its decoration (fewer cannot
#: tell a list's name from the topic its few events share).
MIN_TITLES = 8
#: A leading or trailing segment ("Boston LMT Network - ...") is set off by punctuation, so fewer
#: titles tell it: this many.
MIN_SEGMENT_TITLES = 4
#: ... a segment or word must be on at least this share of them,
SHARE = 0.6
#: A leading segment on fewer of a source's titles (a group's name it puts on some posts: "Rochester LMT
#: Network - ...") is its decoration when it leads at least this many of them and leads fewer titles
#: of all the other sources together ("Continuing Education: ..." leads every source's titles).
MIN_REPEATED_LEAD = 3
#: ... and on at most this share of the other sources' titles: a word every source uses ("workshop",
#: "massage") names the kind of event, not the source.
ELSEWHERE = 0.05


@dataclass(frozen=True, slots=True)
class Decoration:
    segments: tuple[str, ...] = ()  # folded leading/trailing segments
    words: frozenset[str] = frozenset()  # normalized title words

    def __bool__(self) -> bool:
        return bool(self.segments or self.words)


def learn_decorations(records: Iterable[Event]) -> dict[str, Decoration]:
    """source id -> its decoration, for the sources that decorate their titles."""
    titles: dict[str, set[str]] = defaultdict(set)
    normalized: dict[str, set[str]] = defaultdict(set)
    # A source repeats its titles (a monthly meeting), and sources share titles: each title is read once.
    given: dict[str, set[str]] = defaultdict(set)
    for ev in records:
        given[ev.sources[0].source if ev.sources else ""].add(ev.title or "")
    read: dict[str, tuple[str, str]] = {}
    for source, distinct_given in given.items():
        stripped, normed = titles[source], normalized[source]
        for title in distinct_given:
            pair = read.get(title)
            if pair is None:
                pair = read[title] = (strip_prefixes(title), norm_title(title))
            stripped.add(pair[0])
            normed.add(pair[1])
    # How many sources' titles carry each word and each end segment, to tell a source's own
    # decoration from words everyone uses.
    words_of = {t: frozenset(t.split()) for t in set().union(*normalized.values())}
    word_titles: Counter[str] = Counter()
    for t, n in Counter(t for normed in normalized.values() for t in normed).items():
        for w in words_of[t]:
            word_titles[w] += n
    segment_titles: dict[str, int] = defaultdict(int)
    ends_of: dict[str, list[frozenset[str]]] = {}
    # a title's end segments and its leading one, read once per title (sources share titles)
    title_ends: dict[str, tuple[frozenset[str], str] | None] = {}
    leads_of: dict[str, Counter[str]] = defaultdict(Counter)
    lead_titles: dict[str, int] = defaultdict(int)
    for source, distinct in titles.items():
        per_title = []
        for t in distinct:
            if t in title_ends:
                read = title_ends[t]
            else:
                ends = _end_segments(t)
                read = title_ends[t] = None if ends is None else (ends, _lead_segment(t))
            if read is not None:
                ends, lead = read
                per_title.append(ends)
                for s in ends:
                    segment_titles[s] += 1
                leads_of[source][lead] += 1
                lead_titles[lead] += 1
        ends_of[source] = per_title
    total = sum(len(n) for n in normalized.values())
    out: dict[str, Decoration] = {}
    for source, distinct in titles.items():
        normed = normalized[source]
        if len(distinct) < MIN_SEGMENT_TITLES:
            continue
        others = max(1, total - len(normed))
        ends = Counter(chain.from_iterable(ends_of[source]))
        segments = {s for s, n in ends.items()
                    if s and n >= SHARE * len(distinct) and (segment_titles[s] - n) <= ELSEWHERE * others}
        segments |= {s for s, n in leads_of[source].items()
                     if s and n >= MIN_REPEATED_LEAD and lead_titles[s] - n < n}
        segments = tuple(sorted(segments))
        words = Counter(chain.from_iterable(map(words_of.__getitem__, normed))) if len(normed) >= MIN_TITLES \
            else Counter()
        common = frozenset(w for w, n in words.items()
                           if n >= SHARE * len(normed) and (word_titles[w] - n) <= ELSEWHERE * others)
        # A word on most titles is the source's, unless it is all that tells titles apart.
        if common and any(len(words_of[t] - common) == 0 for t in normed):
            common = frozenset()
        if segments or common:
            out[source] = Decoration(segments, common)
    return out


def _lead_segment(title: str) -> str:
    """The folded first segment of a title made of several (called only for those)."""
    return _fold(next(p for p in _SEGMENT.split(title) if p.strip())).strip()


def _end_segments(title: str) -> frozenset[str] | None:
    """The folded first and last segments of a title made of several ("Boston LMT Network - ..."), or None."""
    if not _MAY_HAVE_SEGMENTS.search(title):
        return None
    parts = [p for p in _SEGMENT.split(title) if p.strip()]
    if len(parts) < 2:
        return None
    return frozenset((_fold(parts[0]).strip(), _fold(parts[-1]).strip()))
