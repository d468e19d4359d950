"""`massage-events explain UID`: which source records were merged into an event, and why.

Reads the store (events, records, links) and re-scores every pair of the event's
records with the same function merge uses (dedupe.score_pair, with the title decorations
learned from every stored record, as merge learns them), so what it reports is what the
current code decides. Each pair shows its match weight term by term: the prior, then each
comparison's level and the bits it adds or takes away. It also lists the near misses (records starting within
a day that were not merged, with the reason) and the curator overrides that name the
event, and says how to fix a wrong merge or a missed one in sources.yaml.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import combinations
from pathlib import Path

from aggregator.report import CommandReport
from aggregator.codec import event_from_dict
from aggregator.merge import dedupe
from aggregator.model import Event
from aggregator.store.database import Store
from aggregator.config.settings import Config

NEAR_MISSES = 5


def _when(event: Event) -> str:
    if isinstance(event.start, datetime):
        return event.start.strftime("%Y-%m-%d %H:%M %Z").strip()
    return event.start.isoformat() + " (all day)"


def _ref(source: str, external_id: str) -> str:
    return f"{source}:{external_id}"


def _records_by_key(store: Store) -> dict[tuple[str, str], Event]:
    rows = store.db.execute("SELECT source, external_id, data FROM records")
    return {(r["source"], r["external_id"]): event_from_dict(json.loads(r["data"])) for r in rows}


def _instant(event: Event) -> datetime:
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc)
    return datetime.combine(event.start, datetime.min.time(), tzinfo=timezone.utc)


def explain(store: Store, uid: str, *, source_types=None, overrides=None) -> dict:
    """What `explain` prints, as data: the event, its records, pair scores, near misses, overrides."""
    events = store.previous_events()
    event = events.get(uid)
    if event is None:
        row = store.db.execute("SELECT record_uid FROM links WHERE uid = ?", (uid,)).fetchone()
        return {"uid": uid, "found": False, "known": row is not None}
    records = _records_by_key(store)
    decorations = dedupe.learn_decorations(records.values())
    members = [(s.source, s.external_id) for s in event.sources]
    present = [k for k in members if k in records]
    pairs = [dedupe.score_pair(records[a], records[b], source_types=source_types, decorations=decorations).as_dict()
             for a, b in combinations(present, 2)]
    near: list[dict] = []
    if present:
        lo = min(_instant(records[k]) for k in present) - timedelta(days=1)
        hi = max(_instant(records[k]) for k in present) + timedelta(days=1)
        for key, other in records.items():
            if key in members or not (lo <= _instant(other) <= hi):
                continue
            scored = [dedupe.score_pair(records[k], other, source_types=source_types, decorations=decorations)
                      for k in present]
            best = max(scored, key=lambda p: (p.weight, p.score))
            entry = {**best.as_dict(), "record": _ref(*key), "record_title": other.title}
            failing = [p for p in scored if not p.match]
            if best.match and failing:
                # It matches one record but not every one: grouping is complete-linkage.
                worst = min(failing, key=lambda p: (p.weight, p.score))
                other_side = worst.a if worst.b == key else worst.b
                entry["reason"] = (f"it matches {':'.join(best.a if best.b == key else best.b)} but not "
                                   f"{':'.join(other_side)} ({worst.reason}); every record of an event must match "
                                   "every other")
                entry["match"] = False
            near.append(entry)
        near.sort(key=lambda d: (-d["weight"], -d["score"], d["record"]))
        near = near[:NEAR_MISSES]
    named = []
    for kind in ("same", "never"):
        for group in getattr(overrides, kind, ()) or ():
            if any(ref == uid or any(ref == _ref(*k) for k in members) for ref in group):
                named.append({"kind": kind, "refs": list(group)})
    for ref in getattr(overrides, "hide", ()) or ():
        if ref == uid or any(ref == _ref(*k) for k in members):
            named.append({"kind": "hide", "refs": [ref]})
    return {"uid": uid, "found": True, "event": event, "members": members, "records": records,
            "missing": [k for k in members if k not in records], "pairs": pairs, "near": near,
            "overrides": named}


def _contributions(pair: dict) -> list[str]:
    """The match weight of a pair, term by term (bits: log2 of how much likelier the level is
    among copies of one event than among different events)."""
    if not pair["comparisons"]:
        return []
    lines = [f"      match weight {pair['weight']:+.2f} bits (a match needs {pair['threshold']:+.2f}):",
             f"        {'prior':8} {'':18} {dedupe.PRIOR_WEIGHT:+6.2f}  (how often compared records are one event)"]
    for c in pair["comparisons"]:
        lines.append(f"        {c['field']:8} {c['level'].replace('_', ' '):18} {c['weight']:+6.2f}")
    return lines


def explain_report(config: Config, db_path: Path, uid: str) -> CommandReport:
    """Which records were merged into UID and why (the pair scores). Exit 0, or 1 for an unknown uid."""
    report = CommandReport()
    source_types = {s.id: s.type for s in config.sources}
    overrides = config.merge
    with Store(db_path) as store:
        info = explain(store, uid, source_types=source_types, overrides=overrides)
    if not info["found"]:
        if info["known"]:
            report.say(f"{uid} is no longer published: its records now belong to another event; "
                       "run `massage-events explain` on the uid shown for them in events.json.")
        else:
            report.say(f"no published event has uid {uid}; copy a uid from events.json or calendar.ics "
                       "(run `massage-events run` first if nothing is published yet).")
        return report.done(1)
    event: Event = info["event"]
    records = info["records"]
    report.say(f"{event.uid}")
    report.say(f"  {event.title}")
    report.say(f"  {_when(event)}  status {event.status}  sequence {event.sequence}")
    if event.location:
        report.say(f"  at {event.location}")
    count = len(info["members"])
    report.say(f"\nMerged from {count} record{'s' if count != 1 else ''}:")
    for key in info["members"]:
        r = records.get(key)
        if r is None:
            report.say(f"  - {_ref(*key)}  (no longer in the store: its source dropped it)")
            continue
        report.say(f"  - {_ref(*key)}")
        report.say(f"      \"{r.title}\"  {_when(r)}  at {r.location or 'no venue'}")
    if info["pairs"]:
        report.say("\nWhy (each pair of records):")
        for p in info["pairs"]:
            venue = "unknown" if p["venue"] is None else f"{p['venue']:.2f}"
            verdict = "match" if p["match"] else "no match on its own"
            report.say(f"  {p['a']}  +  {p['b']}")
            report.say(f"      score {p['score']:.2f}: title {p['title']:.2f}, time {p['time']}, venue {venue}, "
                       f"shared link {'yes' if p['shared_url'] else 'no'} -> {verdict}: {p['reason']}")
            for line in _contributions(p):
                report.say(line)
    if info["near"]:
        report.say("\nNot merged (the closest records within a day):")
        for p in info["near"]:
            report.say(f"  - {p['record']}  \"{p['record_title']}\"")
            report.say(f"      score {p['score']:.2f}, title {p['title']:.2f}, time {p['time']}: {p['reason']}")
            if p["comparisons"]:
                terms = ", ".join(f"{c['field']} {c['level'].replace('_', ' ')} {c['weight']:+.2f}"
                                  for c in p["comparisons"])
                report.say(f"      match weight {p['weight']:+.2f} (needs {p['threshold']:+.2f}): {terms}")
    for o in info["overrides"]:
        report.say(f"\nsources.yaml merge: {o['kind']}: {o['refs']} applies to this event.")
    members = [_ref(*k) for k in info["members"]]
    report.say("\nTo fix a wrong merge, add to sources.yaml:")
    if len(members) >= 2:
        report.say(f'  merge:\n    never:\n      - ["{members[0]}", "{members[1]}"]')
    else:
        report.say(f'  merge:\n    never:\n      - ["{members[0]}", "OTHER-SOURCE:EXTERNAL_ID"]')
    if info["near"]:
        report.say(f'To merge a missed record:\n  merge:\n    same:\n      - ["{members[0]}", "{info["near"][0]["record"]}"]')
    report.say(f'To hide the event:\n  merge:\n    hide: ["{event.uid}"]')
    return report.done(0)
