"""benchmarks/parse_cost.py, the adapters' CPU yardstick: it reads a farm from its files (no server),
every source through the real adapters and normalize, the naive reader's readers on the same
bodies, and its dump is the same from one reading to the next (so a diff shows a change)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from benchmarks import farm as farm_mod
from benchmarks import parse_cost

TYPES = ["ical", "jsonld", "html", "rss", "mbox", "maildir"]


@pytest.fixture(scope="module")
def farm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("farm")
    farm_mod.generate(out, n_sources=12, seed=5, anchor=date(2026, 3, 2), types=TYPES, n_hosts=2, follow=1)
    farm_mod.write_sources_yaml(out, ["http://127.0.0.1:9"])  # nothing listens there: files are read
    return out


def test_every_source_of_a_farm_is_read_from_its_files_with_records(farm_dir, tmp_path, capsys):
    dump = tmp_path / "records.json"
    assert parse_cost.main([str(farm_dir), "--repeat", "1", "--dump", str(dump), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert sorted(figures["best"]) == sorted(TYPES)
    read = json.loads(dump.read_text(encoding="utf-8"))
    assert len(read) == 12
    assert all(source["error"] is None and source["records"] for source in read.values())


def test_the_dump_is_the_same_from_one_reading_to_the_next(farm_dir, tmp_path, capsys):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    parse_cost.main([str(farm_dir), "--repeat", "1", "--dump", str(first)])
    parse_cost.main([str(farm_dir), "--repeat", "1", "--dump", str(second)])
    assert first.read_bytes() == second.read_bytes()


def test_the_naive_reader_is_timed_on_the_same_bodies(farm_dir, capsys):
    assert parse_cost.main([str(farm_dir), "--repeat", "1", "--naive", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["reader"] == "naive" and sorted(figures["best"]) == sorted(TYPES)
