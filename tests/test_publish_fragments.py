"""Publishing again renders only the events that changed, and writes exactly what a full render writes."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import pytest

from aggregator.config.settings import load_config
from aggregator.merge.normalize import safe_url
from aggregator.pipeline import publish_events
from aggregator.publish import outputs
from aggregator.publish.fragments import Fragments
from aggregator.publish.json import render_json
from aggregator.store.database import Store
from tests.builders import CHICAGO, rec

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def config(make_config):
    return load_config(make_config("""
        calendar:
          name: Test Calendar
          timezone: America/Chicago
        sources:
          - id: amta-il
            name: AMTA Illinois
            type: ical
            url: https://example.org/amta.ics
            region: IL
          - id: chi-meetup
            type: jsonld
            url: https://example.org/meetup/
        feeds:
          - name: Illinois
            path: feeds/il.ics
            region: IL
    """))


def _events(n: int = 40):
    start = datetime(2026, 3, 2, 18, 30, tzinfo=CHICAGO)
    events = []
    for i in range(n):
        e = rec("amta-il" if i % 2 else "chi-meetup", f"ev-{i}@example.org", f"Massage meetup {i} & friends",
                start + timedelta(days=i, hours=i % 3), end=start + timedelta(days=i, hours=2 + i % 3),
                url=f"https://example.org/events/{i}", description=f"Bring a friend.\n\nRoom {i}",
                tags=("ce",) if i % 5 == 0 else ())
        events.append(replace(e, uid=f"uid-{i}@massage-events"))
    return events


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_kept_pieces_give_the_same_bytes_as_a_full_render(config, tmp_path):
    events = _events()
    outputs.publish(tmp_path / "full", config, events, NOW)
    kept = Fragments()
    outputs.publish(tmp_path / "first", config, events, NOW, fragments=kept)
    again = Fragments(kept.used)
    outputs.publish(tmp_path / "again", config, events, NOW, fragments=again)
    assert again.rendered == 0, "nothing changed: no event is rendered again"
    full = _files(tmp_path / "full")
    assert _files(tmp_path / "first") == full and _files(tmp_path / "again") == full
    assert {"calendar.ics", "events.json", "index.html", "feeds/il.ics"} <= full.keys()


def test_events_json_is_laid_out_exactly_as_json_dumps_lays_it_out(config, tmp_path):
    """Consumers diff and hash events.json: its bytes are json.dumps(..., indent=1)'s, whether the
    entries are rendered or kept, whatever the text holds."""
    odd = ["Quote \" backslash \\ tab\t", "Café 💆 \u2028 line separator", "", "</script>&amp;"]
    events = [replace(e, title=odd[i % 4] or "untitled", description=odd[(i + 1) % 4],
                      location=odd[(i + 2) % 4] or None, tags=("ce", odd[i % 4]) if i % 3 else ())
              for i, e in enumerate(_events(12))]
    for fragments in (None, Fragments(), "again"):
        if fragments == "again":
            kept = Fragments()
            render_json(events, NOW, fragments=kept)
            fragments = Fragments(kept.used)
        text = render_json(events, NOW, fragments=fragments).decode("utf-8")
        assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=1) + "\n"
        assert [e["title"] for e in json.loads(text)["events"]] == [e.title for e in events]


def test_an_events_pieces_are_found_again_by_the_next_run_in_another_process(db_location):
    """Pieces are keyed by a digest of the event as the store gives it back: a later run (another
    process, other object addresses, another hash seed) computes the same keys, or it would
    render every event again."""
    with Store(db_location) as store:
        events = store.save_events(_events(3), {}, NOW)
    here = [Fragments().digest(e) for e in events]
    code = ("import sys; from aggregator.store.database import Store; from aggregator.publish.fragments import "
            "Fragments; print(*[Fragments().digest(e) for e in Store(sys.argv[1]).published_events()])")
    done = subprocess.run([sys.executable, "-c", code, str(db_location)], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert done.stdout.split() == here


def test_a_changed_event_is_rendered_again_and_shows_its_change(config, tmp_path):
    events = _events()
    kept = Fragments()
    outputs.publish(tmp_path / "out", config, events, NOW, fragments=kept)
    moved = replace(events[7], title="Massage meetup 7 (moved)", start=events[7].start + timedelta(days=1),
                    end=events[7].end + timedelta(days=1), sequence=1)
    changed = events[:7] + [moved] + events[8:]
    again = Fragments(kept.used)
    outputs.publish(tmp_path / "out", config, changed, NOW, fragments=again)
    assert again.rendered == 3, "one event: its VEVENT, its events.json entry and its card"
    outputs.publish(tmp_path / "full", config, changed, NOW)
    assert _files(tmp_path / "out") == _files(tmp_path / "full")
    assert b"Massage meetup 7 (moved)" in (tmp_path / "out" / "index.html").read_bytes()


def test_the_pipeline_keeps_pieces_in_the_store_and_drops_those_of_events_gone(config, tmp_path, db_location):
    events = _events(10)
    with Store(db_location) as store:
        publish_events(config, store, tmp_path / "out", events, NOW)
        first = store.publish_fragments()
        assert len(first) == 30, "three pieces per event (the Illinois feed reuses the calendar's VEVENTs)"
        publish_events(config, store, tmp_path / "out", events[:4], NOW)
        assert set(store.publish_fragments()) < set(first), "pieces of events no longer published are dropped"
        store.save_events(events, {}, NOW)
        assert store.published_count() == len(store.published_events()) == 10, \
            "a run that publishes nothing reports the count without decoding the events"


TRICKY_URLS = [
    "https://example.org/a?b=1#c", "http://example.org", "HTTP://Example.org/x", "https://example.org/?",
    "https://example.org/p#", "https://example.org/p?#frag", "https://example.org/p#f?", " https://x.org/a ",
    "https://x.org/a b", "https://[::1]/x", "javascript:alert(1)", "//example.org/x", "https:///nohost",
    "https://user@x.org:8080/p;q?r#s", "https://x.org//double", "https://x.org/\x00p", "data:text/html,hi",
]


@pytest.mark.parametrize("url", TRICKY_URLS + [
    "".join(random.Random(seed).choice("ab:/?#@[]% .\t-") for _ in range(12)) for seed in range(40)])
def test_a_link_is_published_as_urllib_would_clean_it(url):
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", url.strip())
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        with pytest.raises(ValueError):
            safe_url(url)
        return
    expected = urlunsplit(parts._replace(scheme=parts.scheme.lower())) \
        if parts.scheme.lower() in ("http", "https") and parts.netloc else None
    assert safe_url(url) == expected
