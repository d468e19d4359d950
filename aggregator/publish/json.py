"""events -> events.json, field for field the contract in ARCHITECTURE.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from aggregator.codec import event_to_dict
from aggregator.model import Event


def render_json(events: Sequence[Event], generated: datetime) -> bytes:
    document = {
        "generated": generated.astimezone(timezone.utc).replace(microsecond=0).isoformat(),
        "events": [event_to_dict(e, revision=False) for e in events],
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
