"""Identity: published uids stable across runs (store links, oldest uid first, content match on UID churn)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from aggregator.merge.dedupe.compare import _Rec, _venue_similarity, title_similarity

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

def _mint(anchor: _Rec) -> str:
    digest = hashlib.sha256(f"event\x00{anchor.key[0]}\x00{anchor.key[1]}".encode()).hexdigest()[:20]
    return f"{digest}@massage-events"
