"""`massage-events explain UID`: the records merged into an event, the pair scores, the near misses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from aggregator.app.explain import explain_report
from aggregator.merge import dedupe, lifecycle
from aggregator.merge.normalize import record_uid
from aggregator.store.database import Store
from tests.builders import CHICAGO, TYPES, chapter_meeting_copies, rec

NOW = datetime(2026, 2, 1, 12, tzinfo=timezone.utc)


def _config(**merge):
    return SimpleNamespace(sources=[SimpleNamespace(id=k, type=v) for k, v in TYPES.items()],
                           merge=SimpleNamespace(same=merge.get("same", ()), never=merge.get("never", ()),
                                                 hide=merge.get("hide", ())))


@pytest.fixture
def published(tmp_path):
    """A store after one run over the chapter meeting copies plus an unrelated event that evening."""
    db = tmp_path / "events.sqlite"
    records = chapter_meeting_copies() + [
        rec("chi-meetup", "https://www.meetup.com/chi-lmt/events/302/", "Hot Stone Workshop",
            datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)),
    ]
    with Store(db) as store:
        for source in sorted({r.sources[0].source for r in records}):
            store.replace_records(source, [r for r in records if r.sources[0].source == source], NOW)
        merged = dedupe.merge(store.records(), store.known_links(), source_types=TYPES)
        events = lifecycle.reconcile(merged, store.previous_events(), set(TYPES), NOW)
        links = {record_uid(s.source, s.external_id): e.uid for e in merged for s in e.sources}
        store.save_events(events, links, NOW)
    meeting = next(e for e in events if len(e.sources) > 1)
    return db, meeting


def test_explain_lists_the_merged_records_and_the_pair_scores(published):
    db, meeting = published
    report = explain_report(_config(), db, meeting.uid)
    assert report.exit_code == 0
    text = report.text()
    assert "Merged from 4 records" in text
    assert "amta-il:mtg-2026-03@amta-il.org" in text and "list-mail:<a2@list.example.org>" in text
    assert "score" in text and "time exact" in text and "-> match" in text


def test_explain_shows_the_near_miss_and_how_to_fix_it(published):
    db, meeting = published
    text = explain_report(_config(), db, meeting.uid).text()
    assert "Not merged" in text and "Hot Stone Workshop" in text and "is below" in text
    # The near miss says which comparison kept it out: its title, weighed against the others.
    near = text[text.index("Not merged"):]
    assert "title different -" in near
    assert "never:" in text and "same:" in text and f'hide: ["{meeting.uid}"]' in text


def test_explain_mentions_a_curator_override_naming_the_event(published):
    db, meeting = published
    text = explain_report(_config(never=[["amta-il:mtg-2026-03@amta-il.org", "x:1"]]), db, meeting.uid).text()
    assert "merge: never:" in text


def test_explain_of_an_unknown_uid_says_where_to_find_one(published):
    db, _ = published
    report = explain_report(_config(), db, "nope@massage-events")
    assert report.exit_code == 1
    text = report.text()
    assert "no published event has uid nope@massage-events" in text


def test_explain_reports_the_same_pair_scores_merge_used(published):
    db, meeting = published
    copies = chapter_meeting_copies()
    pair = dedupe.score_pair(copies[0], copies[1], source_types=TYPES)
    text = explain_report(_config(), db, meeting.uid).text()
    assert f"score {pair.score:.2f}: title {pair.title:.2f}" in text
    assert pair.match and timedelta(0) == copies[0].start - copies[1].start


def test_explain_shows_each_comparisons_contribution_to_the_match_weight(published):
    db, meeting = published
    copies = chapter_meeting_copies()
    pair = dedupe.score_pair(copies[0], copies[1], source_types=TYPES)
    text = explain_report(_config(), db, meeting.uid).text()
    assert f"match weight {pair.weight:+.2f} bits (a match needs {dedupe.THRESHOLD:+.2f})" in text
    for c in pair.comparisons:
        assert f"{c.field:8} {c.level.replace('_', ' '):18} {c.weight:+6.2f}" in text
    # The terms add up to the weight that decided the pair.
    assert abs(dedupe.PRIOR_WEIGHT + sum(c.weight for c in pair.comparisons) - pair.weight) < 1e-9
