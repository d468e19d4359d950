"""A re-run where nothing changed costs conditional requests and nothing more, for sources
that follow links to event pages too; a change on any one page is read."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

import sources.jsonld
from aggregator.config.settings import load_config
from aggregator.pipeline import FOLLOWED_KEY, run
from aggregator.store import health
from aggregator.store.database import Store
from tests.servers import Doc

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=timezone.utc)


def _event_page(name: str, title: str, start: str) -> Doc:
    block = json.dumps({"@context": "https://schema.org", "@type": "Event", "name": title, "startDate": start,
                        "url": f"https://example.org/events/{name}",
                        "location": {"@type": "Place", "name": "Studio", "address": "1 Main St, Chicago, IL"}})
    body = (f'<!doctype html><html><head><script type="application/ld+json">{block}</script></head>'
            f"<body><h1>{title}</h1></body></html>").encode()
    return Doc(body, "text/html; charset=utf-8")


@pytest.fixture
def meetup(http, make_config, request):
    """A Meetup-like group: a listing page that links two event pages, each with its JSON-LD."""
    key = request.node.name
    http.documents[f"{key}/list"] = Doc(
        (f'<!doctype html><html><body><ul><li><a class="event-link" href="/doc/{key}/a">A</a></li>'
         f'<li><a class="event-link" href="/doc/{key}/b">B</a></li></ul></body></html>').encode(),
        "text/html; charset=utf-8")
    http.documents[f"{key}/a"] = _event_page("a", "Sports Massage Workshop", "2027-01-20T18:30:00-06:00")
    http.documents[f"{key}/b"] = _event_page("b", "Chair Massage Meetup", "2027-02-03T18:30:00-06:00")
    config = load_config(make_config(f"""
        calendar:
          name: Test Calendar
          timezone: America/Chicago
        sources:
          - id: chi-meetup
            type: jsonld
            url: {http.url(f'/doc/{key}/list')}
            follow: "a.event-link"
    """))
    return key, config


@pytest.fixture
def parsed_pages(monkeypatch):
    """Every page the jsonld adapter parses, by URL (the adapter's own parser, counted)."""
    seen: list[str] = []
    original = sources.jsonld.read_page

    def counting(page, *args, **kwargs):
        seen.append(page.url)
        return original(page, *args, **kwargs)

    monkeypatch.setattr(sources.jsonld, "read_page", counting)
    return seen


def _run(config, tmp_path, now):
    with Store(tmp_path / "db.sqlite") as store:
        report = run(config, store, tmp_path / "out", now=now)
    events = json.loads((tmp_path / "out" / "events.json").read_text(encoding="utf-8"))["events"]
    return report, events


def test_a_followed_source_whose_every_page_answered_304_is_not_parsed_again(http, meetup, parsed_pages, tmp_path):
    key, config = meetup
    report, events = _run(config, tmp_path, NOW)
    assert sorted(e["title"] for e in events) == ["Chair Massage Meetup", "Sports Massage Workshop"]
    assert len(parsed_pages) == 3, "listing and both event pages are read on the first run"
    parsed_pages.clear()
    http.log.clear()

    report, _ = _run(config, tmp_path, NOW.replace(hour=13))
    paths = [r.path for r in http.log if r.path.startswith("/doc/")]
    assert sorted(paths) == sorted(f"/doc/{key}/{p}" for p in ("list", "a", "b")), "each page asked for once"
    assert all("If-None-Match" in r.headers for r in http.log if r.path.startswith("/doc/")), \
        "every page is revalidated with a conditional request"
    assert parsed_pages == [], "nothing of an unchanged source is parsed"
    assert report.sources[0].unchanged is True
    assert report.republished is False, "nothing changed: nothing is merged or published"


def test_a_change_on_one_followed_page_is_read_and_costs_no_second_request(http, meetup, parsed_pages, tmp_path):
    key, config = meetup
    _run(config, tmp_path, NOW)
    http.documents[f"{key}/b"] = _event_page("b", "Chair Massage Meetup (moved)", "2027-02-10T18:30:00-06:00")
    http.log.clear()

    report, events = _run(config, tmp_path, NOW.replace(hour=13))
    assert report.sources[0].unchanged is False
    assert "Chair Massage Meetup (moved)" in {e["title"] for e in events}
    paths = [r.path for r in http.log if r.path.startswith("/doc/")]
    assert sorted(paths) == sorted(f"/doc/{key}/{p}" for p in ("list", "a", "b")), \
        "pages fetched to check for changes are handed to the adapter, not fetched again"

    http.log.clear()
    parsed_pages.clear()
    report, _ = _run(config, tmp_path, NOW.replace(hour=14))
    assert report.sources[0].unchanged is True, "the changed page, once read, is the new baseline"
    assert parsed_pages == []


def test_a_new_link_on_the_listing_is_followed(http, meetup, tmp_path):
    key, config = meetup
    _run(config, tmp_path, NOW)
    http.documents[f"{key}/c"] = _event_page("c", "Hot Stone Demo", "2027-03-03T18:30:00-06:00")
    listing = http.documents[f"{key}/list"]
    http.documents[f"{key}/list"] = Doc(listing.body.replace(
        b"</ul>", f'<li><a class="event-link" href="/doc/{key}/c">C</a></li></ul>'.encode()), listing.content_type)

    report, events = _run(config, tmp_path, NOW.replace(hour=13))
    assert report.sources[0].unchanged is False
    assert "Hot Stone Demo" in {e["title"] for e in events}


def test_a_followed_page_that_failed_is_asked_for_again_and_read_once_it_answers(http, meetup, tmp_path):
    key, config = meetup
    page = http.documents.pop(f"{key}/b")  # the event page answers 404 on the first run
    _, events = _run(config, tmp_path, NOW)
    assert [e["title"] for e in events] == ["Sports Massage Workshop"]

    http.documents[f"{key}/b"] = page  # back, while the listing stays the same
    report, events = _run(config, tmp_path, NOW.replace(hour=13))
    assert report.sources[0].unchanged is False, "a source with a page missing is never taken as unchanged"
    assert "Chair Massage Meetup" in {e["title"] for e in events}


def test_a_source_is_stored_whole_or_not_at_all(http, meetup, parsed_pages, tmp_path, monkeypatch):
    """Its records, the pages they came from and its health (the fingerprint that lets a re-run skip
    it) are one commit: a run that dies storing them leaves none, and the next run reads it again."""
    _, config = meetup
    original = health.record_outcome

    def dies(*args, **kwargs):
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(health, "record_outcome", dies)
    with pytest.raises(RuntimeError):
        _run(config, tmp_path, NOW)
    with Store(tmp_path / "db.sqlite") as store:
        assert store.records("chi-meetup") == [] and health.stored_fingerprint(store, "chi-meetup") is None
        assert store.get_meta(FOLLOWED_KEY + "chi-meetup") is None
    monkeypatch.setattr(health, "record_outcome", original)
    parsed_pages.clear()
    report, events = _run(config, tmp_path, NOW)
    assert not report.failed and len(events) == 2
    assert len(parsed_pages) == 3, "the listing and both event pages are read again"
