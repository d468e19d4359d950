"""The page in headless Chromium (Debian's `chromium`, driven by playwright with executable_path, never
`playwright install`): events render, a filter works, subscribe links agree, and no script runs from
hostile event data. Skipped with a message where chromium or playwright is absent."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.site_fixture import RunningSite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); browser checks skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]'); browser checks skipped")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,  # profile: a fresh --user-data-dir
            viewport={"width": 1200, "height": 900})
        yield context
        context.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with RunningSite(tmp_path_factory.mktemp("browser-site")) as running:
        yield running


def open_page(browser, url):
    page = browser.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    return page, dialogs, errors


def visible_titles(page) -> list[str]:
    return page.locator("section.list article.event:visible h4.title").all_inner_texts()


def test_events_render_and_hostile_text_runs_nothing(browser, site):
    page, dialogs, errors = open_page(browser, site.base + "/")
    titles = visible_titles(page)
    assert any("Chicago therapists mixer" in t for t in titles)
    assert any("<script>alert(1)</script>" in t for t in titles), "the hostile title shows as text"
    assert "Already over" not in " ".join(titles), "past events are not listed"
    assert page.locator("section.list a", has_text="Linked javascript: URL").count() == 0, "an unsafe URL is not a link"
    # open every details block (descriptions) and click the hostile event's title area
    for d in page.locator("details").all():
        d.evaluate("el => el.open = true")
    page.wait_for_timeout(300)
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert page.evaluate("document.querySelectorAll('img, iframe, svg, object').length") == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:", "webcal:", "mailto:"}, set(hrefs)
    assert errors == [], errors
    page.close()


def test_region_filter_link_works_without_and_with_script(browser, site):
    page, dialogs, _ = open_page(browser, site.base + "/")
    page.get_by_role("link", name="NY", exact=True).click()
    page.wait_for_load_state("load")
    titles = visible_titles(page)
    assert titles and all("NYC" in t for t in titles), titles
    assert page.locator("#feed-url").input_value().endswith("/calendar.ics?region=NY")
    page.close()


def test_static_file_filters_itself_with_its_script(browser, site):
    page, dialogs, errors = open_page(browser, (site.out / "index.html").as_uri() + "?tag=ce")
    titles = visible_titles(page)
    assert titles and len(titles) == 3, titles
    assert all(("CE" in t) or ("conference" in t.lower()) for t in titles), titles
    assert page.locator("#shown-count").inner_text() == "3"
    assert errors == [] and dialogs == []
    page.close()


def test_subscribe_links_point_at_the_same_feed(browser, site):
    page, _, _ = open_page(browser, site.base + "/")
    webcal = page.locator("#webcal-link").get_attribute("href")
    https = page.locator("#feed-url").input_value()
    google = page.locator("#google-link").get_attribute("href")
    assert webcal.startswith("webcal://") and https.startswith("https://")
    assert webcal.split("://", 1)[1] == https.split("://", 1)[1] == "events.example.org/calendar.ics"
    assert google.startswith("https://calendar.google.com/") and "webcal%3A%2F%2Fevents.example.org%2Fcalendar.ics" in google
    assert page.locator("#copy-button").is_visible(), "the copy button shows when script runs"
    assert page.get_by_text("From URL").count() >= 1, "Google 'From URL' instructions are on the page"
    page.close()


def test_keyboard_reaches_the_subscribe_button_first(browser, site):
    page, _, _ = open_page(browser, site.base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("Skip to the events")
    page.keyboard.press("Tab")
    assert "webcal" in page.evaluate("document.activeElement.getAttribute('href') || ''")
    page.close()


def test_phone_width_has_no_horizontal_scroll(browser, site):
    page = browser.new_page()
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site.base + "/", wait_until="load")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    page.close()


AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"


def test_page_has_no_serious_accessibility_violations(browser, site):
    """axe-core (WCAG 2.1 A/AA rules: contrast, names, landmarks, lists, tables) on the static page."""
    if not AXE.is_file():
        pytest.skip("tests/js/node_modules/axe-core is absent: run `npm ci --prefix tests/js`")
    page, _, _ = open_page(browser, (site.out / "index.html").as_uri())
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       first: v.nodes[0] && v.nodes[0].html.slice(0, 120)}));
    }""")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    page.close()
