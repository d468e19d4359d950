"""sources.yaml is refused before any fetch, with file, line and fix — each message checked word for word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.config.settings import load_config
from aggregator.errors import ConfigError
from sources.registry import available_types

CONFIG_FIXTURES = Path(__file__).parent / "fixtures" / "config"
BAD_CONFIGS = sorted(CONFIG_FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("fixture", BAD_CONFIGS, ids=[p.stem for p in BAD_CONFIGS])
def test_bad_config_is_refused_with_the_expected_message(fixture, tmp_path, monkeypatch):
    shutil.copy(fixture, tmp_path / "sources.yaml")
    monkeypatch.chdir(tmp_path)
    expected = fixture.with_suffix(".expected").read_text(encoding="utf-8").strip()
    expected = expected.replace("{types}", ", ".join(available_types()))
    with pytest.raises(ConfigError) as caught:
        load_config("sources.yaml")
    assert str(caught.value) == expected


def test_python_tag_in_config_runs_nothing(tmp_path, monkeypatch):
    marker = Path("/tmp/massage-events-pwned")
    marker.unlink(missing_ok=True)
    shutil.copy(CONFIG_FIXTURES / "python_tag_refused.yaml", tmp_path / "sources.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        load_config("sources.yaml")
    assert not marker.exists(), "a YAML tag executed code"


def test_every_problem_is_listed_not_just_the_first():
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG_FIXTURES / "several_problems.yaml")
    assert len(caught.value.problems) == 4
    assert [p.line for p in caught.value.problems] == [8, 9, 10, 14]


def test_valid_config_loads_with_defaults_filled(make_config):
    path = make_config("""
        calendar:
          name: Chapter Events
          timezone: America/Chicago
        sources:
          - id: amta-il
            type: ical
            url: https://example.org/chapter/events.ics
            region: IL
            tags: [chapter]
    """)
    config = load_config(path)
    assert config.calendar.name == "Chapter Events"
    assert config.calendar.horizon_days == 365
    assert config.calendar.base_url == "http://127.0.0.1:8000"
    (source,) = config.sources
    assert (source.id, source.type, source.region, source.tags) == ("amta-il", "ical", "IL", ("chapter",))
    assert source.timezone is None  # the calendar's zone applies at read time


def test_windows_zone_name_is_accepted_for_a_source(make_config):
    path = make_config("""
        sources:
          - id: outlook-cal
            type: ical
            url: https://example.org/outlook.ics
            timezone: Central Standard Time
    """)
    assert load_config(path).sources[0].timezone == "Central Standard Time"


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in str(caught.value) and "--config" in str(caught.value)


def test_empty_file_is_a_calendar_with_no_sources(make_config):
    config = load_config(make_config(""))
    assert config.sources == ()
