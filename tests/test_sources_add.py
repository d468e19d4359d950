"""`massage-events sources add URL`: detects what the URL is, previews it, and appends a valid entry
to sources.yaml (comments and order kept) that a run then reads."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import time_machine

from aggregator.app.cli import main
from aggregator.app.discover import Detection, append_source, choose_id, detect
from aggregator.collect.fetch import HttpFetcher
from aggregator.config.settings import load_config

NOW = datetime(2027, 2, 1, 12, tzinfo=timezone.utc)

EXISTING = """\
# Our chapter's sources. Keep this comment!
calendar:
  name: Test Calendar
  timezone: America/Chicago   # the chapter's zone

sources:
  # the state chapter feed
  - id: chapter-il
    type: ical
    url: {ical}

# global keyword rules stay below the list
filters:
  exclude: [webinar-spam]
"""


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def config_file(make_config, http) -> Path:
    return make_config(EXISTING.format(ical=http.url("/files/ical/dst_crossing_chicago.ics")))


def add(capsys, config: Path, url: str, *extra: str) -> tuple[int, str]:
    code = main(["sources", "add", "--config", str(config), url, "--yes", *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("fixture", "type_name"), [
    ("ical/rrule_exdate_recurid.ics", "ical"),
    ("jsonld/graph_itemlist_subtypes.html", "jsonld"),
    ("jsonld/microdata_event.html", "jsonld"),
    ("jsonld/hevent_microformats.html", "jsonld"),
    ("rss/list_archive_rss20.xml", "rss"),
    ("rss/list_archive_atom.xml", "rss"),
    ("html/chapter_listing_formats.html", "html"),
    ("listings/day_headings.html", "html"),
    ("jsonld/no_events_organization.html", None),
    ("listings/product_page.html", None),
    ("listings/article.html", None),
])
def test_detects_each_kind_of_source(http, fixture, type_name):
    page = HttpFetcher().get(http.url(f"/files/{fixture}"))
    assert detect(page).type_name == type_name


def test_page_linking_its_calendar_feed_adds_the_feed(http):
    page = HttpFetcher().get(http.url("/files/html/links_its_ical_feed.html"))
    found = detect(page)
    assert found.type_name == "ical" and found.url == http.url("/files/ical/all_day_and_multi_day.ics")


def test_added_entry_loads_and_a_run_yields_the_previewed_events(config_file, http, capsys, tmp_path):
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    before = config_file.read_text()
    code, out = add(capsys, config_file, http.url("/files/jsonld/graph_itemlist_subtypes.html"))
    assert code == 0, out
    assert "type jsonld" in out
    previewed = {"Therapist Coffee Social", "Building a Private Practice", "Table Massage Exchange",
                 "Nested Open House"}
    assert all(title in out for title in previewed)

    after = config_file.read_text()
    # everything that was there is still there, in order; the entry sits at the end of the list
    assert after.startswith(before.split("\n# global")[0])
    assert "# global keyword rules stay below the list\nfilters:\n  exclude: [webinar-spam]\n" in after
    assert "# Our chapter's sources. Keep this comment!" in after
    config = load_config(config_file)
    assert [s.id for s in config.sources] == ["chapter-il", "chicago-bodywork-meetup"]
    added = config.source("chicago-bodywork-meetup")
    assert added.type == "jsonld" and added.name == "Chicago Bodywork Meetup"

    store = Store(tmp_path / "events.db")
    run(config, store, tmp_path / "out", now=NOW)
    published = {e.title for e in store.published_events()
                 if any(s.source == "chicago-bodywork-meetup" for s in e.sources)}
    assert published == previewed


def test_second_add_of_a_similar_site_gets_a_unique_id(config_file, http, capsys):
    url = http.url("/files/jsonld/graph_itemlist_subtypes.html")
    assert add(capsys, config_file, url)[0] == 0
    assert add(capsys, config_file, url)[0] == 0
    ids = [s.id for s in load_config(config_file).sources]
    assert ids == ["chapter-il", "chicago-bodywork-meetup", "chicago-bodywork-meetup-2"]


def test_explicit_id_is_used(config_file, http, capsys):
    code, _ = add(capsys, config_file, http.url("/files/jsonld/microdata_event.html"), "--id", "tx-chapter")
    assert code == 0
    assert load_config(config_file).source("tx-chapter").type == "jsonld"


def test_plain_listing_is_added_with_the_selectors_found_on_it(config_file, http, capsys):
    code, out = add(capsys, config_file, http.url("/files/listings/cards.html"), "--id", "tx-chapter")
    assert code == 0, out
    # the preview shows the events it read, and the mapping it will write
    assert "Austin Therapist Social" in out and "Spring Self-Care Retreat" in out and "4 records" in out
    assert "event: div.event-card" in out
    text = config_file.read_text()
    assert "# Our chapter's sources. Keep this comment!" in text  # comments kept
    assert '      start: "span.event-card__date, span.event-card__time"\n' in text
    added = load_config(config_file).source("tx-chapter")
    assert added.type == "html" and added.selectors.event == "div.event-card"
    # the addresses are in Texas: Central time is proposed, and Texas's split is pointed out
    assert added.timezone == "America/Chicago" and "El Paso" in text


def test_the_added_entry_is_read_by_sources_check_as_previewed(config_file, http, capsys):
    import json

    code, out = add(capsys, config_file, http.url("/files/listings/table.html"), "--id", "oh-chapter")
    assert code == 0, out
    assert "America/New_York" in out  # Ohio addresses
    assert main(["sources", "check", "oh-chapter", "--config", str(config_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in data["records"]] == [
        "Ethics for Massage Therapists (3 CE)", "Cleveland District Meeting",
        "Sports Massage at the Marathon Expo", "Webinar: Marketing Your Practice", "Annual Convention"]
    assert data["records"][0]["start"] == "2027-03-06T09:00:00-05:00"
    assert data["skipped"] == [] and data["error"] is None


def test_auto_writes_selectors_auto_and_check_shows_the_mapping_it_chose(config_file, http, capsys):
    import json

    code, out = add(capsys, config_file, http.url("/files/listings/day_headings.html"), "--id", "studio",
                    "--auto")
    assert code == 0, out
    assert "    selectors: auto" in config_file.read_text()
    assert load_config(config_file).source("studio").selectors == "auto"
    assert main(["sources", "check", "studio", "--config", str(config_file)]) == 0
    shown = capsys.readouterr().out
    assert "selectors: auto chose" in shown and "day: h2.day" in shown and "6 records" in shown
    assert main(["sources", "check", "studio", "--config", str(config_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["selectors"]["day"] == "h2.day"


@pytest.mark.parametrize(("fixture", "says"), [
    # dated reviews repeat, but all long past: nothing to come
    ("listings/product_page.html", "lists nothing to come: the blocks of it that repeat with a date are all in "
                                   "the past (the latest August 2, 2025)"),
    ("listings/article.html", "does not look like an event listing: no block of it repeats with a date"),
    ("jsonld/no_events_organization.html", "does not look like an event listing"),
])
def test_a_page_with_no_events_is_refused_in_one_sentence_and_nothing_written(config_file, http, capsys,
                                                                               fixture, says):
    before = config_file.read_text()
    code, out = add(capsys, config_file, http.url(f"/files/{fixture}"))
    assert code == 1
    assert out.count("\n") == 1 and says in out and out.rstrip().endswith("so nothing was added.")
    assert config_file.read_text() == before


def test_without_yes_and_no_answer_nothing_is_written(config_file, http, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    before = config_file.read_text()
    code = main(["sources", "add", "--config", str(config_file), http.url("/files/jsonld/microdata_event.html")])
    assert code == 1 and config_file.read_text() == before
    assert "Nothing written." in capsys.readouterr().out


def test_add_creates_sources_yaml_when_there_is_none(tmp_path, http, capsys):
    path = tmp_path / "sources.yaml"
    code, _ = add(capsys, path, http.url("/files/ical/rrule_exdate_recurid.ics"))
    assert code == 0
    [source] = load_config(path).sources
    assert source.type == "ical"


@pytest.mark.parametrize("text", [
    "calendar: {timezone: UTC}\nsources: []\n# end\n",
    "calendar: {timezone: UTC}\nsources:\n",
    "calendar: {timezone: UTC}\nsources:\n- id: a\n  type: ical\n  url: https://a.example/a.ics\n  name: |\n"
    "    two\n    lines\n",
])
def test_append_keeps_the_file_valid_in_every_list_style(text, tmp_path):
    new = append_source(text, "new-one", Detection("ical", "https://b.example/b.ics", "B"))
    path = tmp_path / "sources.yaml"
    path.write_text(new)
    assert load_config(path).sources[-1].id == "new-one"
    assert new.startswith(text.split("sources:")[0])


def test_id_comes_from_the_site_name_or_host():
    assert choose_id(Detection("ical", "https://www.amta-il.example/cal.ics", "AMTA Illinois | Events"),
                     set()) == "amta-illinois-events"
    assert choose_id(Detection("ical", "https://www.amta-il.example/cal.ics", None), {"x"}) == "amta-il-cal-ics"


def test_check_of_a_plain_listing_by_url_finds_its_selectors(http, capsys, tmp_path):
    code = main(["sources", "check", "--config", str(tmp_path / "none.yaml"), "--type", "html",
                 http.url("/files/listings/date_badge_list.html")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "selectors: auto chose" in out and "start: div.badge, p.events-list__when" in out
    assert "Atlanta Networking Night" in out and "4 records" in out


def test_a_listing_across_the_country_gets_no_timezone_proposed(config_file, http, capsys):
    from tests.servers import Doc

    rows = "".join(f'<div class="ev"><h3>{title}</h3><p class="when">{when}</p><p class="where">{where}</p></div>'
                   for title, when, where in [
                       ("Boston Social", "March 9, 2027, 6 pm", "12 Main St, Boston, MA"),
                       ("Denver CE Day", "March 20, 2027, 9 am", "40 Elm St, Denver, CO"),
                       ("Seattle Mixer", "April 2, 2027, 7 pm", "9 Pine St, Seattle, WA"),
                       ("Austin Meetup", "April 9, 2027, 7 pm", "3 Oak St, Austin, TX")])
    http.documents["national"] = Doc(f"<html><body>{rows}</body></html>".encode(), "text/html; charset=utf-8")
    code, out = add(capsys, config_file, http.url("/doc/national"), "--id", "national")
    assert code == 0, out
    assert "No timezone proposed" in out and "others are in" in out
    assert load_config(config_file).source("national").timezone is None  # read in the calendar's zone
