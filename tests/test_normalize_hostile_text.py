"""Hostile text from a source reaches no output as it came: bidirectional overrides are removed
from every text field, and a URL is percent-encoded so a `"` can never close a quoted value."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from icalendar import Calendar

from aggregator.config.settings import CalendarSettings
from aggregator.merge.normalize import normalize, safe_url
from aggregator.model import RawEvent, Window
from sources.base import SourceOptions
from sources.ical import read_ical_bytes
from tests.site_fixture import publish_site

RLO, PDF, RLI, PDI = "\u202e", "\u202c", "\u2067", "\u2069"

HOSTILE_ICS = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//hostile//EN
BEGIN:VEVENT
UID:hostile-1@example.org
DTSTAMP:20260301T000000Z
DTSTART:20260310T230000Z
DTEND:20260311T010000Z
SUMMARY:Spring {RLO}gpj.exe{PDF} social
LOCATION:{RLI}Room 4{PDI}, Chicago
DESCRIPTION:Bring {RLO}cash{PDF}.
URL:https://example.org/e?name="><script>alert(1)</script>
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n").encode("utf-8")


@pytest.fixture
def published(tmp_path):
    options = SourceOptions(id="amta-il", type="ical", url="https://example.org/il.ics")
    window = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))
    settings = CalendarSettings(timezone="America/Chicago")
    events = [replace(normalize(raw, options, settings, window), last_modified=datetime(2026, 3, 1, tzinfo=timezone.utc))
              for raw in read_ical_bytes(HOSTILE_ICS, options, window, origin="hostile.ics")
              if isinstance(raw, RawEvent)]
    assert len(events) == 1
    _, out = publish_site(tmp_path, events)
    return events[0], out


def test_bidi_overrides_are_removed_from_title_place_and_description(published):
    event, out = published
    assert event.title == "Spring gpj.exe social"
    assert event.location == "Room 4, Chicago" and event.description == "Bring cash."
    for name in ("events.json", "calendar.ics", "index.html"):
        text = (out / name).read_text(encoding="utf-8")
        for mark in (RLO, PDF, RLI, PDI):
            assert mark not in text and json.dumps(mark)[1:-1] not in text, (name, hex(ord(mark)))


def test_a_quote_in_a_url_never_reaches_events_json_or_the_calendar_raw(published):
    event, out = published
    assert event.url == "https://example.org/e?name=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
    document = json.loads((out / "events.json").read_text(encoding="utf-8"))
    (published_event,) = document["events"]
    assert '"' not in published_event["url"] and "<" not in published_event["url"]
    assert all('"' not in (s["url"] or "") for s in published_event["sources"])
    (vevent,) = Calendar.from_ical((out / "calendar.ics").read_bytes()).walk("VEVENT")
    assert str(vevent["URL"]) == event.url


@pytest.mark.parametrize("url, expected", [
    ('https://example.org/a"b', "https://example.org/a%22b"),
    ("https://example.org/{x}|y^z`", "https://example.org/%7Bx%7D%7Cy%5Ez%60"),
    ("https://example.org/already%20escaped?a=1&b=c#top", "https://example.org/already%20escaped?a=1&b=c#top"),
    ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
    ("https://example.org:notaport/", None),
    ('https://example.org"onmouseover="x/', None),
    ("https://", None),
    ("JaVaScRiPt:alert(1)", None),
])
def test_safe_url_escapes_or_refuses(url, expected):
    assert safe_url(url) == expected


def test_an_event_stored_before_links_were_escaped_is_published_escaped(tmp_path):
    """A record kept from an older version still holds its raw link until its source changes:
    events.json cleans links again on the way out, as calendar.ics and the page do."""
    options = SourceOptions(id="amta-il", type="ical", url="https://example.org/il.ics")
    window = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))
    (raw,) = [r for r in read_ical_bytes(HOSTILE_ICS, options, window, origin="hostile.ics") if isinstance(r, RawEvent)]
    event = normalize(raw, options, CalendarSettings(timezone="America/Chicago"), window)
    stored = replace(event, url='https://example.org/e?name="x"', last_modified=datetime(2026, 3, 1, tzinfo=timezone.utc),
                     sources=tuple(replace(ref, url='https://example.org/e?name="x"') for ref in event.sources))
    _, out = publish_site(tmp_path, [stored])
    (published_event,) = json.loads((out / "events.json").read_text(encoding="utf-8"))["events"]
    assert published_event["url"] == "https://example.org/e?name=%22x%22"
    assert [s["url"] for s in published_event["sources"]] == ["https://example.org/e?name=%22x%22"]
