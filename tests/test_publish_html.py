"""index.html: autoescape on, descriptions through nh3, only http(s) links, times in the event's zone,
a list by day and a month view (RELIABILITY.md D1-D3)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from bs4 import BeautifulSoup

from aggregator.config.settings import load_config
from aggregator.publish.feeds import FeedFilter
from aggregator.publish.html import (
    description_html,
    descriptions_html,
    environment,
    render_page,
    sanitize_html,
    static_assets,
)
from tests.calendar_cases import CHI, NYC, TYO, ev
from tests.site_fixture import CONFIG, NOW, site_events


@pytest.fixture
def config(make_config):
    return load_config(make_config(CONFIG))


def soup_of(events, config, **kw):
    return BeautifulSoup(render_page(events, config, NOW, **kw).decode("utf-8"), "lxml")


def test_the_environment_autoescapes():
    env = environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_where_compiled_templates_cannot_be_kept_the_page_is_rendered_the_same(config, tmp_path, monkeypatch):
    """A read-only install: jinja can neither read nor write its compiled copies, and compiles instead."""
    from aggregator.publish import html

    expected = render_page(site_events(), config, NOW)
    monkeypatch.setattr(html, "_bytecode_cache", lambda: html._CompiledTemplates(str(tmp_path / "cannot-write")))
    html.environment.cache_clear()
    html._card_macro.cache_clear()
    try:
        assert render_page(site_events(), config, NOW) == expected
        assert not (tmp_path / "cannot-write").exists()
    finally:
        html.environment.cache_clear()
        html._card_macro.cache_clear()


@pytest.mark.parametrize("payload", [
    '<img src=x onerror="alert(1)">', "<svg onload=alert(1)>", '<a href="java&#x09;script:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>', "<style>body{display:none}</style>",
    '<a href="JaVaScRiPt:alert(1)">x</a>', '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>', "<script>alert(1)</script>",
])
def test_sanitizer_strips_active_content(payload):
    clean = sanitize_html(payload).lower()
    for bad in ("<img", "<svg", "<iframe", "<style", "<script", "javascript:", "vbscript:", "data:", "onerror", "onload"):
        assert bad not in clean, f"{bad} survived in {clean!r}"


def test_sanitizer_keeps_simple_formatting_and_marks_links():
    clean = sanitize_html('<p>Hi <strong>all</strong> <a href="https://x.org/a">x</a> <em>ok</em></p>')
    assert '<a href="https://x.org/a" rel="noopener noreferrer nofollow">x</a>' in clean
    assert "<strong>all</strong>" in clean and "<em>ok</em>" in clean


def test_plain_description_is_escaped_paragraphed_and_linked():
    out = description_html("Line one <b>not bold</b>\nline two\n\nSee https://example.org/ce.")
    assert "&lt;b&gt;not bold&lt;/b&gt;" in out and "<br>" in out and out.count("<p>") == 2
    assert '<a href="https://example.org/ce" rel="noopener noreferrer nofollow">https://example.org/ce</a>.' in out


# Text that sanitizers parse differently: entities, markup, NUL and CR, no-break and bidi marks, links at edges.
_ODD = ["Hi", " ", "\n", "\n\n", "\r\n", "\x00", "\x0b", "&amp;", "&#39;", "<b>", "</p>", "<ul></ul>", "<!-- x -->",
        "<a href=x>", "\u00a0", "\u202e", "é", "💆🏽", "\"", "'", "https://ex.org/a?b=1&c=2", "(http://x.y/z).",
        "mailto:a@b.c", "javascript:alert(1)", "\\", "<script>", "&nbsp;", "]]>", "\ufeff"]


def test_descriptions_cleaned_together_are_each_what_cleaning_it_alone_gives():
    """descriptions_html cleans a first publish's descriptions in one nh3 call; each must come out
    as description_html makes it alone, whatever its text, empty ones included."""
    import random

    rng = random.Random(5)
    texts = ["", "   ", *_ODD] + ["".join(rng.choice(_ODD) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    rng.shuffle(texts)
    assert descriptions_html(texts) == [description_html(t) for t in texts]
    assert descriptions_html([]) == []


@pytest.mark.parametrize("url", ["JaVaScRiPt:alert(1)", "\x01javascript:alert(1)", "java\nscript:alert(1)",
                                 "data:text/html,x", "vbscript:msgbox(1)"])
def test_unsafe_event_links_render_as_plain_text(config, url):
    e = ev("u@x", "Hostile link", datetime(2026, 3, 5, 18, tzinfo=CHI), url=url)
    soup = soup_of([e], config)
    article = soup.select_one("article.event")
    assert article.select_one("h4 a") is None, "the title is not a link"
    for a in soup.find_all("a", href=True):
        assert not a["href"].lower().lstrip("\x01 ").startswith(("javascript", "data", "vbscript", "java"))
    assert "not linked" in article.get_text()


def test_times_are_shown_in_each_events_own_zone(config):
    events = [ev("c@x", "Chicago", datetime(2026, 3, 5, 18, 30, tzinfo=CHI), datetime(2026, 3, 5, 20, tzinfo=CHI)),
              ev("n@x", "New York", datetime(2026, 3, 5, 18, 30, tzinfo=NYC), tz="America/New_York"),
              ev("t@x", "Tokyo", datetime(2026, 3, 6, 10, tzinfo=TYO).astimezone(timezone.utc), tz="Asia/Tokyo"),
              ev("a@x", "Conference", date(2026, 3, 10), date(2026, 3, 13))]
    soup = soup_of(events, config)
    when = {a.select_one("h4").get_text(strip=True): a.select_one(".when").get_text(" ", strip=True)
            for a in soup.select("section.list article.event")}
    assert when["Chicago"].startswith("6:30 PM – 8 PM CST")
    assert when["New York"].startswith("6:30 PM EST")
    assert when["Tokyo"].startswith("10 AM JST")
    assert when["Conference"].startswith("All day, Tue, Mar 10 – Thu, Mar 12 (3 days)")


def test_list_is_grouped_by_day_and_month_view_links_to_events(config):
    soup = soup_of(site_events(), config)
    days = [h.get_text(strip=True) for h in soup.select("section.day > h3")]
    assert days[0] == "Thursday, March 5, 2026" and len(days) == len(set(days))
    assert "Already over" not in soup.get_text(), "past events are left out"
    captions = [c.get_text() for c in soup.select("table.month-grid caption")]
    assert captions[0].startswith("March 2026") and captions[1].startswith("April 2026")
    targets = {a["href"][1:] for a in soup.select("table.month-grid a")}
    assert targets <= {a["id"] for a in soup.select("article.event")}


def test_each_event_lists_its_sources_and_offers_ics_and_google(config):
    soup = soup_of(site_events(), config)
    article = soup.select_one("article#e-il-ce-massage-events")
    assert "Listed on: AMTA Illinois Chapter" in article.select_one(".sources").get_text(" ", strip=True)
    actions = [a["href"] for a in article.select(".actions a")]
    assert actions[0] == "event/il-ce@massage-events.ics"
    assert actions[1].startswith("https://calendar.google.com/calendar/render?action=TEMPLATE&text=")


def test_served_page_applies_the_filter_and_links_external_assets(config):
    soup = soup_of(site_events(), config, selected=FeedFilter.of(regions=["NY"]), inline_assets=False)
    titles = [h.get_text(strip=True) for h in soup.select("article.event h4")]
    assert titles == ["NYC CE day: lymphatic drainage"]
    assert not soup.select("style") and [s["src"] for s in soup.select("script")] == ["/static/page.js"]
    assert soup.select_one("#feed-url")["value"] == "https://events.example.org/calendar.ics?region=NY"


def test_declared_feeds_are_offered_and_assets_ship_for_static_hosts(config):
    soup = soup_of(site_events(), config)
    assert "Illinois" in soup.select_one("ul.declared").get_text()
    assert "webcal://events.example.org/feeds/il.ics" in [a["href"] for a in soup.select("ul.declared a")]
    assert {name for name, _ in static_assets()} == {"static/page.css", "static/page.js"}


def test_static_file_embeds_its_css_and_script_verbatim(config):
    page = render_page(site_events(), config, NOW).decode("utf-8")
    for name, data in static_assets():
        assert data.decode("utf-8").strip() in page, f"{name} must be inlined unchanged (no jinja delimiters in it)"
