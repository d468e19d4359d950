"""Title decorations learned from the data: what one source puts on most of its titles.

A list's name as a prefix ("Chicago Bodywork Circle: ..."), a venue or city suffix
("... | Downtown Studio"), a word every title of a source carries ("... Meetup"): such
text tells which source wrote the title, not which event it is, and it is missing from
the other sources' copies. No list of such words is kept: a source's decoration is
found among its own titles, as the leading or trailing segment, or the word, that most
of its distinct titles share.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.merge.dedupe.keys import _SEGMENT, _fold, norm_title, strip_prefixes
from aggregator.model import Event

#: A source needs this many distinct titles before anything is called its decoration.
MIN_TITLES = 4
#: ... and a segment or word must be on at least this share of them.
SHARE = 0.6


@dataclass(frozen=True, slots=True)
class Decoration:
    segments: tuple[str, ...] = ()  # folded leading/trailing segments
    words: frozenset[str] = frozenset()  # normalized title words

    def __bool__(self) -> bool:
        return bool(self.segments or self.words)


def learn_decorations(records: Iterable[Event]) -> dict[str, Decoration]:
    """source id -> its decoration, for the sources that decorate their titles."""
    titles: dict[str, set[str]] = defaultdict(set)
    for ev in records:
        source = ev.sources[0].source if ev.sources else ""
        titles[source].add(strip_prefixes(ev.title or ""))
    out: dict[str, Decoration] = {}
    for source, distinct in titles.items():
        if len(distinct) < MIN_TITLES:
            continue
        need = SHARE * len(distinct)
        ends: Counter[str] = Counter()
        for t in distinct:
            parts = [p for p in _SEGMENT.split(t) if p.strip()]
            if len(parts) >= 2:
                ends.update({_fold(parts[0]).strip(), _fold(parts[-1]).strip()})
        segments = tuple(sorted(s for s, n in ends.items() if n >= need and s))
        words: Counter[str] = Counter()
        normed = {norm_title(t) for t in distinct}
        if len(normed) >= MIN_TITLES:
            for t in normed:
                words.update(set(t.split()))
            # A word on most titles is the source's, unless it is all that tells titles apart.
            common = frozenset(w for w, n in words.items() if n >= SHARE * len(normed))
            if any(len(set(t.split()) - common) == 0 for t in normed):
                common = frozenset()
        else:
            common = frozenset()
        if segments or common:
            out[source] = Decoration(segments, common)
    return out
