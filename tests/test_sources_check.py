"""`massage-events sources check`: what one source yields and skips, with reasons; nothing stored."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import time_machine

from aggregator.app.cli import main

NOW = datetime(2027, 2, 1, 12, tzinfo=timezone.utc)
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def sources_yaml(make_config, http) -> Path:
    return make_config(f"""
        calendar:
          timezone: America/Chicago
        sources:
          - id: meetup
            type: jsonld
            url: {http.url('/files/jsonld/no_offset_status_online.html')}
            timezone: America/New_York
          - id: chapter
            type: html
            url: {http.url('/files/html/chapter_listing_formats.html')}
            selectors: {{event: "div.event", title: "h3", start: ".when", location: ".where", link: "a@href"}}
          - id: broken
            type: jsonld
            url: {http.url('/status/404')}
        """)


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main(["sources", "check", *args])
    return code, capsys.readouterr().out


def test_json_is_the_contract_object(make_config, http, capsys):
    path = sources_yaml(make_config, http)
    code, out = run_cli(capsys, "--config", str(path), "meetup", "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"records", "skipped", "error"} and data["error"] is None
    record = next(r for r in data["records"] if r["title"] == "Spring Sports Massage Clinic")
    assert set(record) == {"external_id", "title", "start", "end", "all_day", "timezone", "location", "url",
                           "description", "status"}
    assert record["start"] == "2027-03-14T10:00:00-04:00" and record["timezone"] == "America/New_York"
    assert record["external_id"] == "https://nymn.example/e/clinic"
    convention = next(r for r in data["records"] if r["title"] == "State Convention")
    assert (convention["start"], convention["all_day"]) == ("2027-04-09", True)
    assert {"item": "Date To Be Announced", "reason": "no date found"} in data["skipped"]


def test_table_lists_records_and_skipped_with_reasons(make_config, http, capsys):
    path = sources_yaml(make_config, http)
    code, out = run_cli(capsys, "--config", str(path), "chapter")
    assert code == 0
    assert "Prenatal Massage Talk" in out and "2027-03-17 18:30–20:00 CDT" in out
    assert "Skipped:" in out and "Summer Retreat: no date found" in out
    assert "5 records, 1 skipped" in out


def test_window_options_skip_what_falls_outside(make_config, http, capsys):
    path = sources_yaml(make_config, http)
    code, out = run_cli(capsys, "--config", str(path), "chapter", "--since", "2027-03-15", "--until",
                        "2027-03-31", "--json")
    data = json.loads(out)
    assert sorted(r["title"] for r in data["records"]) == ["Board Meeting", "Prenatal Massage Talk"]
    reasons = {s["item"]: s["reason"] for s in data["skipped"]}
    assert "ended before 2027-03-15" in reasons["Evening Networking"]
    assert "after the horizon" in reasons["Spring Conference"]


def test_refused_source_exits_1_and_still_prints_the_object(make_config, http, capsys):
    path = sources_yaml(make_config, http)
    code, out = run_cli(capsys, "--config", str(path), "broken", "--json")
    data = json.loads(out)
    assert code == 1
    assert data["records"] == [] and "404" in data["error"] and data["error"].startswith("broken: ")


def test_type_and_url_without_sources_yaml(tmp_path, http, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no sources.yaml here: calendar defaults
    code, out = run_cli(capsys, "--type", "jsonld", http.url("/files/jsonld/other_zone_tokyo.html"), "--json")
    [record] = json.loads(out)["records"]
    assert code == 0
    assert datetime.fromisoformat(record["start"]) == datetime(2027, 3, 10, 10, tzinfo=timezone.utc)


def test_local_path_is_read_as_the_url_would_be(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = FIXTURES / "jsonld" / "graph_itemlist_subtypes.html"
    code, out = run_cli(capsys, "--type", "jsonld", str(local), "--json")
    assert code == 0
    assert len(json.loads(out)["records"]) == 4


def test_html_type_on_the_command_line_finds_the_listings_selectors(tmp_path, http, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sources", "check", "--type", "html", http.url("/files/html/chapter_listing_formats.html")])
    said = capsys.readouterr()
    assert code == 0, said.err
    assert "selectors: auto chose" in said.out and "event: div.event" in said.out


def test_check_stores_nothing(make_config, http, capsys, tmp_path):
    path = sources_yaml(make_config, http)
    before = sorted(p.name for p in tmp_path.iterdir())
    run_cli(capsys, "--config", str(path), "meetup")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("source_id", "titles", "skipped"), [
    ("chi-bodywork-meetup", {"LMT Coffee & Conversation", "Online: Ethics for Massage Therapists (2 CE hours)",
                             "Lakefront Walk & Stretch"}, "followed page not read"),
    ("amta-wi", {"Madison Networking Night", "Milwaukee CE Day: Myofascial Techniques",
                 "Chapter Board Meeting (members welcome)"}, "no date found"),
])
def test_demo_page_sources_yield_their_events(tmp_path, capsys, source_id, titles, skipped):
    from aggregator.app.demo import DemoServer, write_demo_config

    with DemoServer(today=NOW.date()) as samples:
        path = write_demo_config(tmp_path, samples.base_url)
        code, out = run_cli(capsys, "--config", str(path), source_id, "--json")
    data = json.loads(out)
    assert code == 0 and data["error"] is None
    assert {r["title"] for r in data["records"]} == titles
    assert any(skipped in s["reason"] for s in data["skipped"])
    by_title = {r["title"]: r for r in data["records"]}
    if source_id == "amta-wi":
        ce = by_title["Milwaukee CE Day: Myofascial Techniques"]  # date and time range in two elements
        assert ce["start"] == "2027-02-21T09:00:00-06:00" and ce["end"] == "2027-02-21T16:00:00-06:00"
    else:
        assert by_title["Lakefront Walk & Stretch"]["status"] == "cancelled"
        assert "Price: $20.00" in by_title["Online: Ethics for Massage Therapists (2 CE hours)"]["description"]


@pytest.mark.parametrize(("type_name", "fixture"), [
    ("ical", "ical/rrule_exdate_recurid.ics"),
    ("jsonld", "jsonld/microdata_event.html"),
    ("rss", "rss/list_archive_rss20.xml"),
])
def test_every_type_can_be_checked_by_url(tmp_path, http, capsys, monkeypatch, type_name, fixture):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(capsys, "--type", type_name, http.url(f"/files/{fixture}"), "--since", "2020-01-01",
                        "--until", "2030-01-01", "--json")
    data = json.loads(out)
    assert code == 0 and data["error"] is None, data["error"]
    assert data["records"], f"{fixture} read as {type_name} gave no records"
    assert all(r["external_id"] and r["start"] for r in data["records"])


def test_wrong_type_for_the_url_exits_1_with_the_reason(tmp_path, http, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(capsys, "--type", "jsonld", http.url("/files/ical/rrule_exdate_recurid.ics"), "--json")
    assert code == 1 and "type: ical" in json.loads(out)["error"]


def test_keyword_rule_skips_are_listed_with_the_word(make_config, http, capsys):
    path = make_config(f"""
        calendar:
          timezone: America/Chicago
        sources:
          - id: meetup
            type: jsonld
            url: {http.url('/files/jsonld/no_offset_status_online.html')}
            exclude: [cupping]
        """)
    code, out = run_cli(capsys, "--config", str(path), "meetup", "--json")
    skipped = {s["item"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert code == 0
    assert skipped["Cancelled: Cupping Demo"] == '"Cancelled: Cupping Demo" mentions the excluded word "cupping"'


def test_sources_in_other_zones_than_the_calendar_keep_their_instants(make_config, http, capsys):
    path = make_config(f"""
        calendar:
          timezone: America/Chicago
        sources:
          - id: tokyo
            type: jsonld
            url: {http.url('/files/jsonld/other_zone_tokyo.html')}
          - id: denver-chapter
            type: html
            url: {http.url('/files/html/chapter_listing_formats.html')}
            timezone: America/Denver
            selectors: {{event: "div.event", title: "h3", start: ".when"}}
        """)
    code, out = run_cli(capsys, "--config", str(path), "tokyo", "--json")
    [record] = json.loads(out)["records"]
    assert code == 0
    assert datetime.fromisoformat(record["start"]) == datetime(2027, 3, 10, 10, tzinfo=timezone.utc)
    code, out = run_cli(capsys, "--config", str(path), "denver-chapter", "--json")
    talk = next(r for r in json.loads(out)["records"] if r["title"] == "Prenatal Massage Talk")
    assert (talk["start"], talk["timezone"]) == ("2027-03-17T18:30:00-06:00", "America/Denver")
