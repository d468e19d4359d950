"""Rendered pieces of single events, kept between runs so an unchanged event is not rendered again.

Publishing 2,000 events renders each one three times (a VEVENT, an events.json entry, a card of
the page), and most of a re-run's events are what they were. Each piece is keyed by a digest of
everything it is rendered from: the event as the store keeps it (revision fields included) and
a salt naming the rest (the renderer's version, the source names, the page's settings). A key
that matches is the same bytes, so the files written are byte for byte what a full render writes.

`Fragments` is a plain mapping the publishers read and fill; the pipeline loads it from the store
before publishing and saves what was used after, so pieces of events gone are dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

from aggregator import __version__
from aggregator.model import Event

# Bump when a renderer's output for the same event changes without a version change.
RENDER_VERSION = "1"


def salt(*parts: object) -> str:
    """A short stable digest of what else a piece is rendered from."""
    text = "\x00".join([__version__, RENDER_VERSION, *(json.dumps(p, sort_keys=True, default=str) for p in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Fragments:
    """kind + event digest + salt -> rendered text; remembers which pieces this publish used."""

    def __init__(self, stored: Mapping[str, str] | None = None) -> None:
        self.stored = dict(stored or {})
        self.used: dict[str, str] = {}
        self.rendered = 0  # pieces rendered (not found) in this publish
        self._digests: dict[int, str] = {}

    def digest(self, event: Event) -> str:
        """The event's digest (computed once per event object per publish). Of its repr: every
        field, zones by name, the same in every process, and cheaper than JSON (the pieces of a
        publish are looked up by 2,000 digests)."""
        found = self._digests.get(id(event))
        if found is None:
            found = self._digests[id(event)] = hashlib.sha256(repr(event).encode()).hexdigest()[:32]
        return found

    def get(self, kind: str, event: Event, piece_salt: str, render: Callable[[], str]) -> str:
        key = f"{kind}:{self.digest(event)}:{piece_salt}"
        text = self.used.get(key)
        if text is None:
            text = self.stored.get(key)
            if text is None:
                text = render()
                self.rendered += 1
            self.used[key] = text
        return text

    def get_all(self, kind: str, events: Sequence[Event], piece_salt: str,
                render: Callable[[list[Event]], list[str]]) -> list[str]:
        """get() for every event, with the pieces not found rendered by ONE call, render(missing)
        (one piece per event, in order): a first publish renders them together, which costs less
        than one call each. Pieces are kept in the order get() would keep them."""
        keys = [f"{kind}:{self.digest(event)}:{piece_salt}" for event in events]
        missing: dict[str, Event] = {}
        for key, event in zip(keys, events):
            if key not in self.used and key not in self.stored and key not in missing:
                missing[key] = event
        if missing:
            texts = render(list(missing.values()))
            if len(texts) != len(missing):
                raise ValueError(f"{kind}: {len(texts)} pieces rendered for {len(missing)} events")
            fresh = dict(zip(missing, texts))
            self.rendered += len(fresh)
        else:
            fresh = {}
        out = []
        for key in keys:
            text = self.used.get(key)
            if text is None:
                text = fresh.get(key)
                if text is None:
                    text = self.stored[key]
                self.used[key] = text
            out.append(text)
        return out

    @property
    def changed(self) -> bool:
        """True when what should be kept differs from what was loaded."""
        return self.used.keys() != self.stored.keys()


def cached(fragments: Fragments | None, kind: str, event: Event, piece_salt: str, render: Callable[[], str]) -> str:
    """render(), or the piece kept from an earlier publish when there is one."""
    if fragments is None:
        return render()
    return fragments.get(kind, event, piece_salt, render)


def cached_all(fragments: Fragments | None, kind: str, events: Sequence[Event], piece_salt: str,
               render: Callable[[list[Event]], list[str]]) -> list[str]:
    """render(events), or with `fragments` only the pieces not kept from an earlier publish."""
    if fragments is None:
        return render(list(events))
    return fragments.get_all(kind, events, piece_salt, render)
