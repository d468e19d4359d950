"""Tags by keyword rules (defaults and sources.yaml `tags:`), and relevance for broad sources."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.config.settings import parse_config
from aggregator.errors import ConfigError, RecordRejected
from aggregator.merge.tagging import apply_tags, tag_or_reject, tags_for, why_dropped
from sources.base import SourceOptions
from tests.builders import CHICAGO, rec

START = datetime(2026, 3, 3, 18, 30, tzinfo=CHICAGO)
TRUSTED = SourceOptions(id="amta-il", type="ical", url="https://amta-il.org/events.ics")
BROAD = SourceOptions(id="city-wellness", type="ical", url="https://city.example.org/all.ics", broad=True)


def _event(title, description="", location=None, tags=()):
    return rec("city-wellness", title, title, START, description=description, location=location, tags=tags)


@pytest.mark.parametrize("title, description, tag", [
    ("Spring Networking Mixer", "", "networking"),
    ("LMT Coffee Meet-up", "", "networking"),
    ("Cupping for Athletes", "Earn 3 CE hours approved by NCBTMB.", "ce"),
    ("Cupping for Athletes", "Continuing education credit available", "ce"),
    ("IL Chapter Meeting", "", "chapter-meeting"),
    ("Chair Massage at the Marathon", "We need volunteers!", "volunteer"),
    ("Hot Stone Workshops", "", "workshop"),
    ("Ethics Webinar", "Join on Zoom", "online"),
])
def test_default_rules_tag_events(title, description, tag):
    assert tag in tags_for(_event(title, description))


def test_keywords_match_whole_words_only():
    assert "ce" not in tags_for(_event("Practice Space Open House", "Bring a piece of cake"))
    assert "online" not in tags_for(_event("Massage for Onlookers"))


def test_apply_tags_keeps_the_source_tags_and_adds_the_rules():
    tagged = apply_tags(_event("Networking Night", tags=("il",)), TRUSTED, None)
    assert tagged.tags == ("il", "networking")


def test_curator_rules_add_tags_and_turn_defaults_off(make_config):
    config = parse_config({"calendar": {}, "tags": {"sports": ["marathon", "athletes"], "networking": []}})
    tagged = apply_tags(_event("Networking for Athletes"), TRUSTED, config.tags)
    assert "sports" in tagged.tags and "networking" not in tagged.tags


def test_a_broad_source_drops_events_not_about_massage_and_says_why():
    yoga = _event("Sunrise Yoga in the Park", "Bring a mat.")
    assert apply_tags(yoga, BROAD, None) is None
    assert "does not look like a massage or bodywork event" in why_dropped(yoga, BROAD, None)
    with pytest.raises(RecordRejected) as caught:
        tag_or_reject(yoga, BROAD, None)
    assert caught.value.reason == "not_relevant" and caught.value.source_id == "city-wellness"


def test_a_broad_source_keeps_massage_events():
    assert apply_tags(_event("Chair Massage Social", "Meet local LMTs"), BROAD, None) is not None
    assert apply_tags(_event("Wellness Fair", "Free reflexology and shiatsu demos"), BROAD, None) is not None


def test_a_trusted_source_is_never_dropped_for_its_wording():
    assert apply_tags(_event("Sunrise Yoga in the Park"), TRUSTED, None) is not None


def test_curator_relevance_words_replace_the_defaults():
    config = parse_config({"calendar": {}, "tags": {"relevance": ["yoga"]}})
    assert apply_tags(_event("Sunrise Yoga in the Park"), BROAD, config.tags) is not None
    assert apply_tags(_event("Chair Massage Social"), BROAD, config.tags) is None


def test_a_tag_rule_that_is_not_a_list_is_a_config_error_naming_the_fix():
    with pytest.raises(ConfigError) as caught:
        parse_config({"calendar": {}, "tags": {"networking": "mixer"}})
    assert 'tag "networking" must be a list of keywords' in str(caught.value)


def test_merge_overrides_are_validated_with_the_fix():
    with pytest.raises(ConfigError) as caught:
        parse_config({"calendar": {}, "merge": {"same": [["amta-il:1"]], "hid": ["x"]}})
    text = str(caught.value)
    assert "names fewer than two records" in text and 'did you mean "hide"?' in text
    ok = parse_config({"calendar": {}, "merge": {"same": [["a:1", "b:2"]], "never": [], "hide": ["u@x"]}})
    assert ok.merge.same == (("a:1", "b:2"),) and ok.merge.hide == ("u@x",)


_WORDS = ["Networking", "meet-up", "Meet  Up", "CE", "ceu", "credit", "Hours", "hands", "on", "ONLINE",
          "workshops", "classes", "Zoom", "massage", "x", "ce-hours", "peer", "support", ",", "\n", "é"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=30), st.lists(st.sampled_from(["", " ", "-", "  "]), max_size=30))
def test_the_quick_precheck_finds_exactly_the_tags_the_keyword_patterns_find(words, gaps):
    from aggregator.merge.tagging import DEFAULT_TAGS, _compiled

    text = "".join(w + (gaps[i] if i < len(gaps) else " ") for i, w in enumerate(words))
    for tag, keywords in DEFAULT_TAGS.items():
        compiled = _compiled(keywords)
        assert compiled.search(text) == (compiled.pattern.search(text) is not None), (tag, text)
