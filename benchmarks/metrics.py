"""Scoring a run against the farm's truth: extraction precision/recall and pairwise
de-duplication precision/recall/F1. Pure functions over plain values."""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

UTC = timezone.utc


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    true_pairs: int  # pairs of items that are the same real-world event
    predicted_pairs: int  # pairs of items put in one published event
    correct_pairs: int
    items: int

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "true_pairs": self.true_pairs, "predicted_pairs": self.predicted_pairs,
                "correct_pairs": self.correct_pairs, "items": self.items}


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_scores(predicted: Iterable[Iterable[Hashable]], truth: Mapping[Hashable, Hashable]) -> PairScores:
    """Pairwise precision, recall and F1 of a clustering against the true clusters.

    `predicted` is the clustering (each group the items merged into one event); `truth` maps
    each item to its true cluster. Only items that `truth` knows are scored; a known item that
    no predicted group holds is a singleton. An item in two groups counts in the first only.
    With no predicted pairs precision is 1; with no true pairs recall is 1.
    """
    placed: set = set()
    groups: list[list] = []
    for group in predicted:
        members = [x for x in dict.fromkeys(group) if x in truth and x not in placed]
        placed.update(members)
        groups.append(members)
    predicted_pairs = sum(_pairs(len(g)) for g in groups)
    correct = sum(_pairs(n) for g in groups for n in Counter(truth[x] for x in g).values())
    true_pairs = sum(_pairs(n) for n in Counter(truth.values()).values())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(precision, recall, f1, true_pairs, predicted_pairs, correct, len(truth))


# The farm's noise prefixes: an adapter that strips them (mail adapters drop "Reminder:" as
# they drop "Re:") read the title right.
_NOISE = re.compile(r"^(?:(?:reminder|amta-[a-z]{2})\s*:\s*|\[[a-z]{2} chapter\]\s*)+", re.I)


def norm_title(title: str | None) -> str:
    """A title for comparison: entities decoded, spacing and case ignored, the farm's prefixes dropped."""
    text = " ".join(html.unescape(title or "").split()).casefold()
    return _NOISE.sub("", text)


def utc_iso(value: datetime | date | str | None) -> str | None:
    """A start as a UTC ISO instant (dates and naive times cannot match a timed truth)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return "naive:" + value.isoformat()
        return value.astimezone(UTC).isoformat()
    return "date:" + value.isoformat()


@dataclass
class Extracted:
    """One record as the run stored it."""

    source: str
    external_id: str
    title: str
    start: datetime | date | str | None
    url: str | None = None


@dataclass
class Matching:
    truth_of: dict  # (source, external_id) -> index into truth records, for records we could place
    correct: set  # (source, external_id) of records whose title and start are right
    found: set  # indexes of truth records extracted correctly
    extracted: int
    expected: int
    missed_by_source: Counter
    wrong: list  # a few (source, external_id, why) for the report

    @property
    def precision(self) -> float:
        return len(self.correct) / self.extracted if self.extracted else 1.0

    @property
    def recall(self) -> float:
        return len(self.found) / self.expected if self.expected else 1.0


def match_records(extracted: Iterable[Extracted], truth_records: list[dict]) -> Matching:
    """Place each extracted record on its truth record: by (source, url), else by (source, title, start).

    A record is *correct* when its title (case and spacing aside) and its start instant are
    what the source wrote. A record placed by url but wrong in title or start still counts
    for de-duplication (it is that record), not for extraction.
    """
    by_url: dict = {}
    by_text: dict = {}
    for i, r in enumerate(truth_records):
        by_url.setdefault((r["source"], r["url"]), []).append(i)  # a series' occurrences share a url
        by_text[(r["source"], norm_title(r["title"]), utc_iso(r["start"]))] = i
    truth_of: dict = {}
    correct: set = set()
    found: set = set()
    wrong: list = []
    count = 0
    for rec in extracted:
        count += 1
        key = (rec.source, rec.external_id)
        text_key = (rec.source, norm_title(rec.title), utc_iso(rec.start))
        hit = by_text.get(text_key)
        if hit is not None and hit not in found:
            truth_of[key] = hit
            correct.add(key)
            found.add(hit)
            continue
        candidates = [i for i in by_url.get((rec.source, rec.url), []) if i not in found]
        if candidates:
            start = utc_iso(rec.start)
            i = next((c for c in candidates if utc_iso(truth_records[c]["start"]) == start), candidates[0])
            truth_of[key] = i
            t = truth_records[i]
            why = "title" if norm_title(t["title"]) != norm_title(rec.title) else "start"
            if len(wrong) < 40:
                wrong.append((rec.source, rec.external_id, f"{why}: got {rec.title!r} {utc_iso(rec.start)}, "
                                                            f"want {t['title']!r} {t['start']}"))
        elif len(wrong) < 40:
            wrong.append((rec.source, rec.external_id, f"not in the truth: {rec.title!r} {utc_iso(rec.start)}"))
    missed = Counter(truth_records[i]["source"] for i in range(len(truth_records)) if i not in found)
    return Matching(truth_of, correct, found, count, len(truth_records), missed, wrong)


def dedupe_scores(published_sources: Iterable[Iterable[tuple[str, str]]], matching: Matching,
                  truth_records: list[dict]) -> PairScores:
    """Pairwise scores of the published events' `sources` against the true events."""
    truth = {key: truth_records[i]["event"] for key, i in matching.truth_of.items()}
    return pairwise_scores(published_sources, truth)


def merge_errors(published_sources: Iterable[Iterable[tuple[str, str]]], matching: Matching,
                 truth: dict) -> dict:
    """Wrong merges counted by the kind of near-miss they joined, and missed merges by variation."""
    records = truth["records"]
    events = truth["events"]
    wrong_merges: Counter = Counter()
    placed: dict = {}
    for n, group in enumerate(published_sources):
        ids = sorted({records[matching.truth_of[k]]["event"] for k in group if k in matching.truth_of})
        for k in group:
            placed[k] = n
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                ea, eb = events.get(ids[a], {}), events.get(ids[b], {})
                if ea.get("series") and ea.get("series") == eb.get("series"):
                    kind = "series_occurrences"
                elif ea.get("kind") == eb.get("kind") == "venue_day" and ea.get("start", "")[:10] == eb.get("start", "")[:10]:
                    kind = "same_venue_same_day"
                elif norm_title(ea.get("title")) == norm_title(eb.get("title")) and ea.get("city") != eb.get("city"):
                    kind = "same_title_other_city"
                else:
                    kind = "other"
                wrong_merges[kind] += 1
    members: dict = defaultdict(list)
    for key, i in matching.truth_of.items():
        members[records[i]["event"]].append(key)
    missed: Counter = Counter()
    for keys in members.values():
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                if placed.get(keys[a], ("a", keys[a])) == placed.get(keys[b], ("b", keys[b])):
                    continue
                ra, rb = records[matching.truth_of[keys[a]]], records[matching.truth_of[keys[b]]]
                for label in sorted(set(ra.get("variations", [])) | set(rb.get("variations", []))) or ["none"]:
                    missed[label] += 1
    return {"wrong_merges_by_near_miss": dict(wrong_merges.most_common()),
            "missed_pairs_by_variation": dict(missed.most_common())}
