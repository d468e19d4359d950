"""Scoring a run over the variant farm: every figure of the accuracy issue, from the store and events.json.

Pure functions over plain values (`score_run` reads the store and events.json, then calls them).

Every record the run stored is placed on its truth record by (source, external_id), else by
(source, url). A *reading unit* is what a reader must get right once:

- for a calendar, a JSON-LD page or a listing: one record;
- for a mailing list: one (list, event) pair — the list may have announced it, reminded of it,
  forwarded it and cancelled it, and the reader rightly collapses those posts into one record.

A unit is *read right* when some stored record from it has the event's exact start (the UTC
instant; the date for an all-day event). The figures:

- de-duplication: pairwise precision, recall and F1 of events.json's `sources` groups over the
  stored records that belong to an event (posts that are not events are left out);
- events published exactly right: one published event holds the event's records and no other
  event's; its start, end, all_day and status are the truth's; its location names the venue
  (its street number or its name) or, online, says so. A missing end is right only when no
  stored copy stated one; an all-day end may be the last day or the day after it;
- mailing-list recall: mail units read right / mail units;
- relative-date recall: the same over mail units whose every dated post names the day relatively
  ("this Saturday", "tomorrow at 7");
- zone-word recall: units whose time is written with a zone word or abbreviation, read right;
  "off by whole hours" counts those read a whole number of hours off;
- cancelled shown as confirmed: cancelled events published with a status other than cancelled;
- confirmed shown as cancelled: confirmed events published as cancelled, % of those published;
- non-events published: published events none of whose records belong to an event.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from benchmarks.metrics import pairwise_scores

UTC = timezone.utc
MAIL = ("rss", "mbox", "maildir", "imap")
DATED_ROLES = ("announcement", "reminder", "forward", "cancellation")


@dataclass
class Stored:
    """One record as the run stored it (normalized)."""

    source: str
    external_id: str
    url: str | None
    start: datetime | date | str | None
    end: datetime | date | str | None
    all_day: bool
    status: str
    title: str = ""


def _parse(value, all_day: bool | None = None):
    if value is None or isinstance(value, (datetime, date)):
        return value
    text = str(value)
    if len(text) == 10:
        return date.fromisoformat(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def same_start(value, truth_start: str) -> bool:
    got, want = _parse(value), _parse(truth_start)
    if isinstance(want, datetime):
        return isinstance(got, datetime) and got.tzinfo is not None and got.astimezone(UTC) == want.astimezone(UTC)
    return isinstance(got, date) and not isinstance(got, datetime) and got == want


def hours_off(value, truth_start: str) -> float | None:
    got, want = _parse(value), _parse(truth_start)
    if isinstance(want, datetime) and isinstance(got, datetime) and got.tzinfo is not None:
        return (got.astimezone(UTC) - want.astimezone(UTC)).total_seconds() / 3600
    return None


def end_right(value, event: dict, some_copy_wrote_end: bool) -> bool:
    got = _parse(value)
    want = _parse(event["end"])
    if event["all_day"]:
        start = _parse(event["start"])
        last = want or start
        if got is None:
            return want is None
        return isinstance(got, date) and not isinstance(got, datetime) and got in (last, last + timedelta(days=1))
    if got is None:
        return not some_copy_wrote_end
    return isinstance(got, datetime) and got.tzinfo is not None and got.astimezone(UTC) == want.astimezone(UTC)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "of", "at", "a", "an", "and"}


def location_right(location: str | None, event: dict) -> bool:
    text = (location or "").lower()
    if event["online"]:
        return not text or bool(re.search(r"online|zoom|virtual|webinar|https?://", text))
    place = event["place"]
    words = set(_WORD.findall(text))
    if str(place["number"]) in words:
        return True
    name = {w for w in _WORD.findall(place["name"].lower().replace("center", "").replace("ctr", ""))} - _STOP
    return bool(name) and name <= words


class Placement:
    """Stored records placed on the truth."""

    def __init__(self, truth: dict, stored: list[Stored]):
        self.truth = truth
        self.by_key = {(r["source"], r["external_id"]): r for r in truth["records"]}
        urls: dict = defaultdict(list)
        for r in truth["records"]:
            urls[(r["source"], r["url"])].append(r)
        self.by_url = {k: v[0] for k, v in urls.items() if len(v) == 1}
        self.stored = stored
        self.of: dict[tuple[str, str], dict | None] = {}
        for s in stored:
            rec = self.by_key.get((s.source, s.external_id)) or self.by_url.get((s.source, s.url or ""))
            self.of[(s.source, s.external_id)] = rec

    def event_of(self, key) -> str | None:
        rec = self.of.get(tuple(key))
        return rec["event"] if rec else None


def _units(truth: dict) -> dict[tuple, dict]:
    """Reading units: a record (calendars, pages, listings) or a (list, event) pair (mail)."""
    units: dict[tuple, dict] = {}
    for r in truth["records"]:
        if r["event"] is None:
            continue
        if r["type"] in MAIL:
            if r["role"] not in DATED_ROLES:
                continue
            key = ("mail", r["source"], r["event"])
            u = units.setdefault(key, {"source": r["source"], "type": r["type"], "event": r["event"], "posts": [],
                                       "mail": True})
            u["posts"].append(r)
        else:
            units[("rec", r["source"], r["external_id"])] = {"source": r["source"], "type": r["type"],
                                                            "event": r["event"], "posts": [r], "mail": False}
    for u in units.values():
        dated = [p for p in u["posts"] if p["role"] != "cancellation"] or u["posts"]
        primary = next((p for p in dated if p["role"] == "announcement"), dated[0])
        u["time_form"], u["zone_word"], u["date_form"] = primary["time_form"], primary["zone_word"], \
            primary["date_form"]
        u["relative_only"] = all(p["date_form"] == "relative" for p in dated)
        u["ids"] = {(p["source"], p["external_id"]) for p in u["posts"]}
        u["urls"] = {(p["source"], p["url"]) for p in u["posts"]}
    return units


def score(truth: dict, stored: list[Stored], published: list[dict]) -> dict:
    place = Placement(truth, stored)
    events = truth["events"]

    # -- de-duplication, over stored records that belong to an event
    items = {k: rec["event"] for k, rec in place.of.items() if rec and rec["event"]}
    groups = [[(s["source"], s["external_id"]) for s in ev.get("sources", [])] for ev in published]
    dedupe = pairwise_scores(groups, items).as_dict()

    # -- reading units
    units = _units(truth)
    stored_by_unit: dict[tuple, list[Stored]] = defaultdict(list)
    for s in place.stored:
        rec = place.of.get((s.source, s.external_id))
        if rec is None or rec["event"] is None:
            continue
        key = ("mail", s.source, rec["event"]) if rec["type"] in MAIL else ("rec", s.source, rec["external_id"])
        if key in units:
            stored_by_unit[key].append(s)
    results: dict[tuple, str] = {}
    off_hours: Counter = Counter()
    for key, u in units.items():
        want = events[u["event"]]["start"]
        got = stored_by_unit.get(key, [])
        if any(same_start(s.start, want) for s in got):
            results[key] = "right"
        elif got:
            results[key] = "wrong"
            h = hours_off(got[0].start, want)
            if h is not None and h != 0 and float(h).is_integer():
                off_hours[key] = int(h)
        else:
            results[key] = "missed"

    def recall(pred) -> dict:
        keys = [k for k, u in units.items() if pred(u)]
        right = sum(1 for k in keys if results[k] == "right")
        return {"recall": round(right / len(keys), 4) if keys else None, "right": right, "units": len(keys),
                "wrong": sum(1 for k in keys if results[k] == "wrong"),
                "missed": sum(1 for k in keys if results[k] == "missed"),
                "off_by_whole_hours": sum(1 for k in keys if k in off_hours)}

    mail = recall(lambda u: u["mail"])
    relative = recall(lambda u: u["mail"] and u["relative_only"])
    zone_word = recall(lambda u: u["zone_word"] is not None)
    by_time_form = {form: recall(lambda u, f=form: u["time_form"] == f)
                    for form in sorted({u["time_form"] or "?" for u in units.values()})}
    by_type = {t: recall(lambda u, t=t: u["type"] == t) for t in sorted({u["type"] for u in units.values()})}
    by_word = {w: recall(lambda u, w=w: u["zone_word"] == w)
               for w in sorted({u["zone_word"] for u in units.values() if u["zone_word"]})}
    mail_by_date_form = {f: recall(lambda u, f=f: u["mail"] and u["date_form"] == f)
                         for f in sorted({u["date_form"] or "?" for u in units.values() if u["mail"]})}

    # -- published events against the real ones
    holders: dict[str, list[int]] = defaultdict(list)
    members: list[set] = []
    for i, ev in enumerate(published):
        ids = {place.event_of((s["source"], s["external_id"])) for s in ev.get("sources", [])}
        ids.discard(None)
        members.append(ids)
        for e in ids:
            holders[e].append(i)
    end_of = {(s.source, s.external_id): s.end for s in place.stored}
    failures: Counter = Counter()
    right_events = 0
    examples: list[str] = []
    for eid, ev in events.items():
        hs = holders.get(eid, [])
        why = []
        if not hs:
            why.append("not_published")
        else:
            if len(hs) > 1:
                why.append("split")
            p = published[hs[0]]
            if members[hs[0]] - {eid}:
                why.append("merged_with_another")
            if bool(p.get("all_day")) != ev["all_day"]:
                why.append("all_day")
            if not same_start(p.get("start"), ev["start"]):
                why.append("start")
            elif not end_right(p.get("end"), ev, any(  # a copy merged into it stated an end
                    end_of.get((x["source"], x["external_id"])) is not None for x in p.get("sources", [])
                    if place.event_of((x["source"], x["external_id"])) == eid)):
                why.append("end")
            if (p.get("status") == "cancelled") != (ev["status"] == "cancelled"):
                why.append("status")
            if not location_right(p.get("location"), ev):
                why.append("location")
        if why:
            failures.update(why)
            if len(examples) < 12:
                p = published[hs[0]] if hs else {}
                examples.append(f"{eid} {ev['title']!r} {ev['start']}: {', '.join(why)}; published "
                                f"{p.get('title')!r} {p.get('start')} {p.get('end')} {p.get('status')} "
                                f"{p.get('location')!r}" if hs else f"{eid} {ev['title']!r} {ev['start']}: not published")
        else:
            right_events += 1
    cancelled = [e for e, ev in events.items() if ev["status"] == "cancelled"]
    confirmed = [e for e, ev in events.items() if ev["status"] != "cancelled"]
    cancelled_as_confirmed = [e for e in cancelled
                              if any(published[i].get("status") != "cancelled" for i in holders.get(e, []))]
    confirmed_published = [e for e in confirmed if holders.get(e)]
    confirmed_as_cancelled = [e for e in confirmed_published
                              if any(published[i].get("status") == "cancelled" for i in holders[e])]
    non_events = [i for i, ids in enumerate(members) if not ids]
    non_event_kinds: Counter = Counter()
    for i in non_events:
        roles = {(place.of.get((s["source"], s["external_id"])) or {}).get("role", "unknown")
                 for s in published[i].get("sources", [])}
        non_event_kinds.update(roles)
    return {
        "truth_events": len(events),
        "truth_records": len(truth["records"]),
        "truth_non_event_posts": sum(1 for r in truth["records"] if r["event"] is None),
        "records_stored": len(stored),
        "records_stored_not_in_truth": sum(1 for v in place.of.values() if v is None),
        "events_published": len(published),
        "dedupe": dedupe,
        "events_exactly_right": {"share": round(right_events / len(events), 4) if events else None,
                                 "right": right_events, "events": len(events),
                                 "failures": dict(failures.most_common()), "examples": examples},
        "mailing_list_recall": mail,
        "relative_date_recall": relative,
        "zone_word_recall": zone_word,
        "recall_by_time_form": by_time_form,
        "recall_by_type": by_type,
        "zone_word_recall_by_word": by_word,
        "mailing_list_recall_by_date_form": mail_by_date_form,
        "dedupe_errors": dedupe_errors(groups, place, events),
        "cancelled_shown_as_confirmed": {"count": len(cancelled_as_confirmed), "cancelled_events": len(cancelled),
                                         "by_mode": dict(Counter(events[e]["cancel_mode"]
                                                                 for e in cancelled_as_confirmed)),
                                         "examples": cancelled_as_confirmed[:8]},
        "confirmed_shown_as_cancelled": {"count": len(confirmed_as_cancelled),
                                         "share": round(len(confirmed_as_cancelled) / len(confirmed_published), 5)
                                         if confirmed_published else 0.0,
                                         "confirmed_published": len(confirmed_published),
                                         "examples": confirmed_as_cancelled[:8]},
        "non_events_published": {"count": len(non_events), "by_role": dict(non_event_kinds.most_common()),
                                 "examples": [f"{published[i].get('title')!r} {published[i].get('start')} "
                                              f"{[s['external_id'] for s in published[i].get('sources', [])][:2]}"
                                              for i in non_events[:8]]},
    }


def dedupe_errors(groups: list[list[tuple[str, str]]], place: Placement, events: dict) -> dict:
    """Wrong merges by the near-miss they joined, missed pairs by the variations of the two copies."""
    wrong: Counter = Counter()
    group_of: dict = {}
    for n, group in enumerate(groups):
        ids = sorted({e for e in (place.event_of(k) for k in group) if e})
        for k in group:
            group_of[tuple(k)] = n
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                ea = events[a]
                wrong[ea["kind"] if ea.get("pair") == b else "other"] += 1
    members: dict = defaultdict(list)
    for key, rec in place.of.items():
        if rec and rec["event"]:
            members[rec["event"]].append((key, rec))
    missed: Counter = Counter()
    for copies in members.values():
        for i, (ka, ra) in enumerate(copies):
            for kb, rb in copies[i + 1:]:
                if group_of.get(ka, ("a", ka)) == group_of.get(kb, ("b", kb)) or ka[0] == kb[0]:
                    continue  # merged, or two posts of one list (the list's reader collapses those)
                labels = {v for v in ra.get("variations", []) + rb.get("variations", [])
                          if v.startswith(("title_", "venue_", "place_", "online", "shared_url", "time_"))}
                for label in sorted(labels) or ["none"]:
                    missed[label] += 1
    return {"wrong_merges_by_near_miss": dict(wrong.most_common()),
            "missed_pairs_by_variation": dict(missed.most_common())}


def score_run(db_path: Path, out_dir: Path, truth: dict) -> dict:
    """Read the store's records and events.json (the contract file, as subscribers get it) and score them."""
    from aggregator.store.database import Store

    with Store(db_path) as store:
        stored = [Stored(e.sources[0].source, e.sources[0].external_id, e.sources[0].url or e.url, e.start, e.end,
                         e.all_day, str(getattr(e.status, "value", e.status)), e.title) for e in store.records()]
    published = json.loads((out_dir / "events.json").read_text(encoding="utf-8"))["events"]
    return score(truth, stored, published)


FIGURES = [
    ("de-duplication F1", lambda q: q["dedupe"]["f1"], "{:.3f}"),
    ("  precision", lambda q: q["dedupe"]["precision"], "{:.3f}"),
    ("  recall", lambda q: q["dedupe"]["recall"], "{:.3f}"),
    ("events published exactly right", lambda q: q["events_exactly_right"]["share"], "{:.1%}"),
    ("mailing-list recall", lambda q: q["mailing_list_recall"]["recall"], "{:.3f}"),
    ("relative-date recall", lambda q: q["relative_date_recall"]["recall"], "{:.3f}"),
    ("zone-word recall", lambda q: q["zone_word_recall"]["recall"], "{:.3f}"),
    ("  zone-word units off by whole hours", lambda q: q["zone_word_recall"]["off_by_whole_hours"], "{}"),
    ("cancelled shown as confirmed", lambda q: q["cancelled_shown_as_confirmed"]["count"], "{}"),
    ("confirmed shown as cancelled", lambda q: q["confirmed_shown_as_cancelled"]["share"], "{:.2%}"),
    ("non-events published", lambda q: q["non_events_published"]["count"], "{}"),
    ("removed events still shown as confirmed", lambda q: (q.get("removed_shown_as_confirmed") or {}).get("count"),
     "{}"),
]


def figures(q: dict) -> dict:
    """The issue's figures of one scored run, flat."""
    return {name.strip(): fn(q) for name, fn, _ in FIGURES}


def table(per_seed: dict[int, dict]) -> str:
    seeds = sorted(per_seed)
    width = max(len(n) for n, _, _ in FIGURES) + 2
    lines = ["figure".ljust(width) + "".join(f"seed {s}".rjust(12) for s in seeds)]
    for name, fn, fmt in FIGURES:
        cells = []
        for s in seeds:
            v = fn(per_seed[s])
            cells.append(("—" if v is None else fmt.format(v)).rjust(12))
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
