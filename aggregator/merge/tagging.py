"""Tags by keyword rules, and relevance for broad sources.

The pipeline calls ``apply_tags(event, source_options, rules)`` on every normalized
record (``rules`` is ``config.tags``, a ``TagRules``):

- every tag whose keywords appear in the title, description or venue is added
  (sources.yaml ``tags:`` maps tag -> keywords; the defaults are ``DEFAULT_TAGS``;
  a curator's entry for a default tag replaces its keywords, an empty list turns it off);
- for a source marked ``broad: true`` (a general wellness group, a city-wide calendar)
  an event that mentions none of the relevance words (``tags: relevance: [...]``,
  default ``RELEVANCE_WORDS``: massage, bodywork, LMT, ...) is dropped: apply_tags
  returns None. ``why_dropped`` gives the sentence, and ``tag_or_reject`` raises
  ``RecordRejected(reason="not_relevant")`` so that `sources check` lists it among the
  skipped records like any other rejection. Sources not marked broad are trusted:
  nothing of theirs is dropped for its wording.

Keywords match whole words, case-insensitively, a space in a keyword matching any run
of spaces or hyphens, and a final "s" being optional ("workshop" finds "Workshops").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache

from aggregator.errors import RecordRejected
from aggregator.model import Event

DEFAULT_TAGS: dict[str, tuple[str, ...]] = {
    "networking": ("networking", "network", "mixer", "meetup", "meet up", "meet-up", "social", "happy hour",
                   "meet and greet", "meet & greet", "coffee", "mingle", "peer support", "exchange"),
    "ce": ("ce", "ceu", "ceus", "ce hours", "ce credit", "ce credits", "continuing education", "ncbtmb",
           "approved provider", "contact hours", "credit hours"),
    "chapter-meeting": ("chapter meeting", "chapter meetings", "membership meeting", "member meeting",
                        "general meeting", "board meeting", "annual meeting", "business meeting",
                        "chapter monthly meeting", "town hall"),
    "volunteer": ("volunteer", "volunteers", "volunteering", "community clinic", "community service",
                  "outreach", "sports massage team", "charity"),
    "workshop": ("workshop", "hands-on", "hands on", "class", "training", "seminar", "course", "intensive",
                 "certification", "lunch and learn", "lunch & learn", "demo", "study group"),
    "online": ("online", "virtual", "webinar", "zoom", "livestream", "live stream", "google meet",
               "microsoft teams", "teams meeting", "remote"),
}

RELEVANCE_WORDS: tuple[str, ...] = (
    "massage", "massages", "bodywork", "bodyworker", "bodyworkers", "lmt", "lmts", "lmbt", "cmt", "rmt",
    "massage therapist", "massage therapy", "amta", "abmp", "ncbtmb", "fsmtb", "myofascial", "reflexology",
    "shiatsu", "thai massage", "tui na", "craniosacral", "lymphatic drainage", "manual lymphatic",
    "trigger point", "neuromuscular therapy", "deep tissue", "hot stone", "cupping", "sports massage",
    "soft tissue", "structural integration", "rolfing", "orthopedic massage", "chair massage",
    "prenatal massage", "oncology massage", "manual therapy", "touch therapy", "kinesiology taping",
)


def _body(word: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", word.strip().lower()) if p]
    body = r"[\s\-]+".join(parts)
    if parts and parts[-1][-1:].isalpha() and not word.endswith("s"):
        body += "s?"
    return body


def _pattern(word: str) -> str:
    return r"(?<![\w])" + _body(word) + r"(?![\w])"


class _Keywords:
    """Compiled keywords: the regex, and for ASCII keywords two shortcuts that find the same
    matches faster: the first word of each keyword as a pre-check (`in` scans in C), and one
    case-sensitive regex over the lowercased text (an ASCII text lowercases exactly as
    IGNORECASE compares)."""

    def __init__(self, words: tuple[str, ...]) -> None:
        ordered = sorted(set(words), key=len, reverse=True)
        self.pattern = re.compile("|".join(_pattern(w) for w in ordered), re.IGNORECASE)
        self.lowered = re.compile(r"(?<![\w])(?:" + "|".join(_body(w) for w in ordered) + r")(?![\w])")
        firsts = {re.split(r"[\s\-]+", w.strip().lower())[0] for w in words}
        ascii_words = all(w.isascii() for w in words) and all(firsts)
        self.needles = tuple(sorted(firsts)) if ascii_words else None

    def search(self, text: str, lowered: str | None = None) -> bool:
        if self.needles is None or not text.isascii():
            return self.pattern.search(text) is not None
        lowered = text.lower() if lowered is None else lowered
        for needle in self.needles:  # a plain loop: any() over a generator costs a frame per needle
            if needle in lowered:
                return self.lowered.search(lowered) is not None
        return False


@lru_cache(maxsize=1024)
def _compiled(words: tuple[str, ...]) -> _Keywords | None:
    words = tuple(w for w in words if w and w.strip())
    return _Keywords(words) if words else None


def _haystack(event: Event) -> str:
    return f"{event.title}\n{event.description}\n{event.location or ''}"


def rules_of(rules) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """(tag -> keywords, relevance words) from a TagRules, a plain mapping, or None (the defaults)."""
    if rules is None:
        return dict(DEFAULT_TAGS), RELEVANCE_WORDS
    if hasattr(rules, "custom"):  # config.TagRules
        mapping = dict(rules.custom())
        if getattr(rules, "relevance", ()):
            mapping["relevance"] = tuple(rules.relevance)
        rules = mapping
    if isinstance(rules, Mapping):
        merged = dict(DEFAULT_TAGS)
        relevance = RELEVANCE_WORDS
        for tag, words in rules.items():
            if tag == "relevance":
                relevance = tuple(words or ()) or RELEVANCE_WORDS
            elif words:
                merged[str(tag)] = tuple(words)
            else:
                merged.pop(str(tag), None)
        return merged, relevance
    raise TypeError(f"tag rules must be TagRules or a mapping, not {type(rules).__name__}")


def tags_for(event: Event, rules=None) -> tuple[str, ...]:
    """The tags whose keywords the event mentions (sorted)."""
    table, _ = rules_of(rules)
    text = _haystack(event)
    lowered = text.lower()
    return tuple(sorted(tag for tag, words in table.items()
                        if (p := _compiled(tuple(words))) and p.search(text, lowered)))


def why_dropped(event: Event, source_options, rules=None) -> str | None:
    """A sentence saying why a broad source's event is not published, or None when it is kept."""
    if not getattr(source_options, "broad", False):
        return None
    _, relevance = rules_of(rules)
    pattern = _compiled(tuple(relevance))
    if pattern is None or pattern.search(_haystack(event)):
        return None
    return (f'"{event.title}" does not look like a massage or bodywork event (the source is marked broad: '
            f"it mentions none of the relevance words); add a word to tags: relevance: to keep such events")


def tag_or_reject(event: Event, source_options, rules=None) -> Event:
    """The event with its tags added, or RecordRejected(reason="not_relevant") for a broad source's
    event that is not about massage or bodywork."""
    reason = why_dropped(event, source_options, rules)
    if reason is not None:
        sid = getattr(source_options, "id", None)
        ext = event.sources[0].external_id if event.sources else None
        raise RecordRejected(f"{sid}: {reason}" if sid else reason, source_id=sid, external_id=ext,
                             reason="not_relevant")
    found = tags_for(event, rules)
    tags = tuple(dict.fromkeys((*event.tags, *found)))
    return event if tags == event.tags else replace(event, tags=tags)


def apply_tags(event: Event, source_options, rules=None) -> Event | None:
    """The event with its tags added, or None when a broad source's event is not relevant
    (`why_dropped` says why; `tag_or_reject` raises RecordRejected instead)."""
    try:
        return tag_or_reject(event, source_options, rules)
    except RecordRejected:
        return None


def all_tags(rules=None) -> Iterable[str]:
    """Every tag the rules can give (for filtered feeds and the subscription form)."""
    table, _ = rules_of(rules)
    return sorted(table)
