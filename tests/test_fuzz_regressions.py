"""Inputs the atheris harnesses (fuzz/, `make fuzz`) found crashing, kept as regressions (docs/reliability.md F4).

Each file in tests/fixtures/fuzz/<adapter>/ is run through the harness property
(fuzz.common.check): records, Skipped items or a typed SourceError, within 2 s. The seed
fixtures go through the same property too, so this module checks something even while
no crash has been found. atheris itself is not needed here.
"""

from __future__ import annotations

import pytest

from fuzz.common import REGRESSIONS, TARGETS, check, quiet, regression_files, seed_files

CRASHES = regression_files()
SEEDS = [(target, path) for target in TARGETS for path in seed_files(target, shared=False)]


@pytest.fixture(autouse=True)
def _quiet():
    quiet()
    yield
    import logging
    logging.disable(logging.NOTSET)


def test_every_regression_folder_names_a_harness():
    folders = {p.name for p in REGRESSIONS.glob("*") if p.is_dir()}
    assert folders <= set(TARGETS), f"tests/fixtures/fuzz/ has {sorted(folders - set(TARGETS))}; harnesses: {TARGETS}"


CASES = [pytest.param(p.parent.name, p, id=f"crash/{p.parent.name}/{p.name}") for p in CRASHES] + \
        [pytest.param(t, p, id=f"seed/{t}/{p.parent.name}/{p.name}") for t, p in SEEDS]


@pytest.mark.parametrize(("target", "path"), CASES)
def test_any_input_gives_records_or_a_typed_error_within_two_seconds(target, path):
    check(target, path.read_bytes())


def test_the_property_is_checked_on_something():
    assert SEEDS, "no seed fixtures found under tests/fixtures"
