"""The adapter protocol carries what the merge needs to know of a type: its authority and its
version hook. Nothing downstream lists the built-in types by name, so a third-party adapter ranks
where it says it belongs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aggregator.errors import UnknownSourceType
from aggregator.merge import dedupe
from sources import registry
from sources.base import AUTHORITY_UNKNOWN, SourceAdapter, SourceOptions


def test_built_in_types_rank_calendar_then_page_data_then_listing_then_prose():
    ranks = [dedupe.type_authority(t) for t in ("ical", "jsonld", "html", "rss", "mbox")]
    assert ranks == sorted(ranks) and len(set(ranks[:4])) == 4
    assert dedupe.type_authority("maildir") == dedupe.type_authority("imap") == dedupe.type_authority("mbox")


class _Calendly(SourceAdapter):
    type_name = "calendly"
    Options = SourceOptions
    authority = 0  # the organiser's own booking system: as good as a calendar

    def read(self, options, fetcher, window):
        return iter(())


class _Bare:
    type_name = "bare"
    Options = SourceOptions

    def read(self, options, fetcher, window):
        return iter(())


@pytest.fixture
def third_party(monkeypatch):
    points = dict(registry._entry_points())
    points["calendly"] = SimpleNamespace(load=lambda: _Calendly)  # what an installed plugin's entry point gives
    points["bare"] = SimpleNamespace(load=lambda: _Bare)
    monkeypatch.setattr(registry, "_entry_points", lambda: points)
    registry.adapter_for.cache_clear()
    dedupe.type_authority.cache_clear()
    yield
    registry.adapter_for.cache_clear()
    dedupe.type_authority.cache_clear()


def test_a_third_party_adapter_ranks_by_the_authority_it_declares(third_party):
    assert dedupe.type_authority("calendly") == 0 < dedupe.type_authority("jsonld")
    assert _Calendly().version(None) is None  # the protocol's default: no version token


def test_an_adapter_missing_the_protocol_is_refused_with_the_fix(third_party):
    with pytest.raises(UnknownSourceType, match="lacks authority, version; subclass sources.base.SourceAdapter"):
        registry.adapter_for("bare")
    assert dedupe.type_authority("bare") == AUTHORITY_UNKNOWN
