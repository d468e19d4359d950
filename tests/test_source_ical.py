"""The ical adapter on fixture files written for what they exercise (tests/fixtures/ical/)."""

from __future__ import annotations

from tests.adapter_contract import AdapterContract
from sources.ical import ICalAdapter


class TestICalContract(AdapterContract):
    adapter = ICalAdapter
    good_fixture = "ical/rrule_exdate_recurid.ics"
