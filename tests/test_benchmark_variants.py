"""The variant farm (benchmarks/variants): what a user of the benchmark relies on.

Its truth is consistent with what it wrote, a seed names one farm, its authors really write
differently, every class of the catalogue shows up, and its scores count what they say they
count. One tiny farm also runs through the real pipeline (behaviour, never speed or accuracy:
the accuracy figures are the benchmark's to report, not a test's to pin).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, datetime, timezone

import pytest

from benchmarks.variants import generate as gen
from benchmarks.variants.score import Stored, end_right, score

ALL_TYPES = ["ical", "jsonld", "html", "rss", "mbox", "maildir"]
EVENT_ROLES = {"listing", "announcement", "reminder", "forward", "cancellation"}
NON_EVENT_ROLES = {"reply", "chatter", "job", "forsale", "minutes", "dues", "digest", "newsletter"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("variants")
    gen.generate(out, seed=11, n_sources=36, types=ALL_TYPES, n_hosts=2, events_per_source=5)
    return out, json.loads((out / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def planned():
    """A full-size farm in memory only (no files): enough records for every class to appear."""
    return gen.truth_dict(gen.plan(seed=5, n_sources=150, types=ALL_TYPES))


# -- the truth ------------------------------------------------------------------------


def test_every_record_belongs_to_a_truth_event_or_is_a_named_non_event(tiny):
    _, truth = tiny
    events = truth["events"]
    for r in truth["records"]:
        if r["event"] is None:
            assert r["role"] in NON_EVENT_ROLES, r
        else:
            assert r["event"] in events, r
            assert r["role"] in EVENT_ROLES, r
            assert r["start"] == events[r["event"]]["start"]
    listed = {r["event"] for r in truth["records"] if r["event"]}
    assert listed == set(events), "every real-world event in the truth is written by at least one source"
    keys = [(r["source"], r["external_id"]) for r in truth["records"]]
    assert len(keys) == len(set(keys)), "a record's (source, external_id) names it alone"


def test_every_source_in_farm_json_has_its_file_and_html_listings_carry_selectors(tiny):
    out, _ = tiny
    meta = json.loads((out / "farm.json").read_text(encoding="utf-8"))
    assert {s["type"] for s in meta["sources"]} == set(ALL_TYPES)
    for s in meta["sources"]:
        assert (out / "files" / s["path"]).exists(), s["path"]
        if s["type"] == "html":
            assert set(s["options"]["selectors"]) >= {"event", "title", "start"}


def test_files_look_written_on_the_farms_today_not_on_the_day_the_benchmark_runs(tiny):
    """The server's Last-Modified is a file's mtime, and a listing reads "May 5" as the May 5 nearest to it."""
    out, truth = tiny
    anchor = datetime.fromisoformat(truth["anchor"]).timestamp()
    stamps = {p.stat().st_mtime for p in (out / "files").rglob("*")}
    assert stamps and all(anchor - 2 * 3600 <= t <= anchor for t in stamps)


def test_the_same_seed_writes_the_same_farm_and_another_seed_another(tmp_path):
    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        gen.generate(tmp_path / name, seed=seed, n_sources=14, types=ALL_TYPES, n_hosts=2, events_per_source=4)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert (tmp_path / "a" / "truth.json").read_bytes() != (tmp_path / "c" / "truth.json").read_bytes()


def test_copies_of_one_event_are_written_differently_by_their_authors(planned):
    copies = defaultdict(list)
    for r in planned["records"]:
        if r["role"] in ("listing", "announcement"):
            copies[r["event"]].append(r)
    multi = [rs for rs in copies.values() if len(rs) >= 2]
    assert len(multi) > 50
    differ = sum(1 for rs in multi if len({r["title"] for r in rs}) > 1)
    assert differ / len(multi) > 0.6, "most copies of one event carry differently decorated titles"
    authors = [json.dumps(a, sort_keys=True) for s, a in planned["authors"].items() if "-html-" in s]
    assert len(set(authors)) == len(authors), "no two listing authors share every habit"


def test_every_class_of_the_catalogue_appears_in_a_full_size_farm(planned):
    records, events = planned["records"], planned["events"].values()
    labels = {v for r in records for v in r["variations"]}
    assert {"title_group_prefix", "title_venue_suffix", "title_date_suffix", "title_emphasis", "title_aside",
            "title_case", "title_online_marker"} <= labels
    assert {"place_name_paren_addr", "place_name_comma_addr", "place_addr_only", "venue_spelling"} <= labels
    assert {"quote_gmail", "quote_outlook", "quote_pipermail", "forward", "cancellation_post"} <= labels
    assert {"schedule_tec", "two_zones", "time_no_meridiem", "date_span", "date_all_day"} <= labels
    assert {r["time_form"] for r in records} >= {"tzid", "utc", "floating", "offset", "naive", "default",
                                                  "zone_word", "date_only"}
    words = {r["zone_word"] for r in records if r["zone_word"]}
    assert {"HST", "MST"} <= words and words & {"ET", "EST", "EDT", "Eastern", "Eastern Time"}
    assert words & {"AKST", "AKDT", "Alaska time"} and words & {"PT", "PST", "PDT", "Pacific", "Pacific Time"}
    assert {r["date_form"] for r in records} >= {"absolute", "relative", "span", "date_only"}
    assert {r["role"] for r in records} >= EVENT_ROLES | {"reply", "digest", "chatter"}
    assert {e["kind"] for e in events} == {"in_person", "online", "online_pair", "all_day", "multi_day",
                                           "venue_day", "same_title_cities"}
    assert {e["cancel_mode"] for e in events if e["status"] == "cancelled"} == {"one", "all"}


_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\.?"
_REL = re.compile(r"\b(tonight|today|tomorrow|(?:this coming|this|on) " + _WEEKDAY + r"|on the (\d{1,2})(?:st|nd|rd|th)"
                  r"|" + _WEEKDAY + r")(?![a-z])", re.I)


def test_a_reminder_names_the_events_day_relative_to_its_own_date(tiny):
    """Read back independently: the relative phrase, resolved from the post's Date, lands on the event's day."""
    import mailbox
    from email.utils import parsedate_to_datetime
    from zoneinfo import ZoneInfo

    out, truth = tiny
    checked = 0
    for s in json.loads((out / "farm.json").read_text(encoding="utf-8"))["sources"]:
        if s["type"] != "mbox":
            continue
        posts = {m["Message-ID"]: m for m in mailbox.mbox(out / "files" / s["path"])}
        for r in truth["records"]:
            if r["source"] != s["id"] or r["date_form"] != "relative":
                continue
            msg = posts[r["external_id"]]
            sent = parsedate_to_datetime(msg["Date"])
            text = msg["Subject"] + " " + msg.get_payload(decode=True).decode("utf-8")
            m = _REL.search(text)
            assert m, text
            ev = truth["events"][r["event"]]
            start = ev["start"]
            day = date.fromisoformat(start) if len(start) == 10 else \
                datetime.fromisoformat(start).astimezone(ZoneInfo(ev["timezone"])).date()
            word = m.group(1).lower()
            delta = (day - sent.date()).days
            named = m.group(2) or m.group(4)
            if word in ("tonight", "today"):
                assert delta == 0
            elif word == "tomorrow":
                assert delta == 1
            elif m.group(3):
                assert day.day == int(m.group(3)) and 2 <= delta <= 6
            else:
                assert day.strftime("%a").lower() == named.lower()[:3] and 2 <= delta <= 6, text
            checked += 1
    assert checked > 0


# -- the scores -----------------------------------------------------------------------

def _truth() -> dict:
    place = {"name": "The Bodywork Institute", "number": 3043, "street": "Oak", "kind": ["St", "Street"],
             "suite": None, "city": "Chicago", "region": "IL", "zip": "60601"}

    def ev(start, end, status="confirmed", all_day=False):
        return {"title": "T", "kind": "in_person", "start": start, "end": end, "all_day": all_day,
                "timezone": "America/Chicago", "status": status, "cancel_mode": "one" if status != "confirmed"
                else None, "online": False, "link": None, "place": place}

    def rec(source, xid, event, role="listing", type_="ical", zone_word=None, date_form="absolute"):
        return {"source": source, "type": type_, "external_id": xid, "url": f"https://{source}/{xid}",
                "event": event, "role": role, "time_form": "zone_word" if zone_word else "tzid",
                "zone_word": zone_word, "date_form": date_form}

    return {"events": {"A": ev("2026-03-10T00:30:00+00:00", "2026-03-10T02:30:00+00:00"),
                       "B": ev("2026-03-12T00:30:00+00:00", "2026-03-12T02:30:00+00:00", status="cancelled"),
                       "C": ev("2026-04-11", None, all_day=True)},
            "records": [rec("s1", "a1", "A"), rec("s2", "a2", "A", type_="html", zone_word="CT"),
                        rec("s1", "b1", "B"), rec("m1", "<b2>", "B", role="announcement", type_="mbox"),
                        rec("m1", "<r1>", None, role="reply", type_="mbox"), rec("s1", "c1", "C")]}


def _stored(source, xid, start, end=None, all_day=False, status="confirmed"):
    return Stored(source, xid, f"https://{source}/{xid}", start, end, all_day, status)


def _pub(refs, start, end=None, status="confirmed", all_day=False, location="The Bodywork Institute, 3043 Oak St"):
    return {"title": "T", "start": start, "end": end, "all_day": all_day, "status": status, "location": location,
            "sources": [{"source": s, "external_id": x} for s, x in refs]}


def test_scores_count_a_split_an_hour_off_zone_word_a_live_cancelled_event_and_a_published_reply():
    t = _truth()
    stored = [_stored("s1", "a1", datetime(2026, 3, 10, 0, 30, tzinfo=timezone.utc)),
              _stored("s2", "a2", "2026-03-09T18:30:00-05:00"),  # "6:30 PM CT" read as Eastern: an hour off
              _stored("s1", "b1", "2026-03-11T18:30:00-06:00", status="cancelled"),
              _stored("m1", "<b2>", "2026-03-11T18:30:00-06:00"),
              _stored("m1", "<r1>", "2026-02-21T09:54:00-06:00"),  # the reply's attribution line, read as a date
              _stored("s1", "c1", "2026-04-11", "2026-04-12", all_day=True)]
    published = [_pub([("s1", "a1")], "2026-03-09T18:30:00-06:00"),
                 _pub([("s2", "a2")], "2026-03-09T18:30:00-05:00"),  # split from its copy
                 _pub([("s1", "b1"), ("m1", "<b2>")], "2026-03-11T18:30:00-06:00", status="confirmed"),
                 _pub([("m1", "<r1>")], "2026-02-21T09:54:00-06:00"),
                 _pub([("s1", "c1")], "2026-04-11", "2026-04-12", all_day=True)]
    q = score(t, stored, published)
    assert q["dedupe"]["true_pairs"] == 2 and q["dedupe"]["correct_pairs"] == 1 and q["dedupe"]["precision"] == 1.0
    right = q["events_exactly_right"]
    assert right["right"] == 1 and right["failures"] == {"split": 1, "status": 1}
    assert q["zone_word_recall"] == {"recall": 0.0, "right": 0, "units": 1, "wrong": 1, "missed": 0,
                                     "off_by_whole_hours": 1}
    assert q["mailing_list_recall"]["recall"] == 1.0 and q["mailing_list_recall"]["units"] == 1
    assert q["cancelled_shown_as_confirmed"]["count"] == 1
    assert q["confirmed_shown_as_cancelled"]["count"] == 0
    assert q["non_events_published"]["count"] == 1 and q["non_events_published"]["by_role"] == {"reply": 1}


def test_a_wrong_merge_with_a_cancelled_event_shows_a_confirmed_one_as_cancelled():
    t = _truth()
    stored = [_stored("s1", "a1", "2026-03-09T18:30:00-06:00"), _stored("s1", "b1", "2026-03-11T18:30:00-06:00")]
    published = [_pub([("s1", "a1"), ("s1", "b1")], "2026-03-09T18:30:00-06:00", status="cancelled")]
    q = score(t, stored, published)
    assert q["confirmed_shown_as_cancelled"]["count"] == 1
    assert q["confirmed_shown_as_cancelled"]["share"] == 1.0
    assert q["dedupe"]["precision"] == 0.0
    assert q["events_exactly_right"]["failures"]["merged_with_another"] == 2


def test_an_all_day_end_may_be_the_last_day_or_the_day_after_but_a_span_needs_one():
    one_day = {"all_day": True, "start": "2026-04-11", "end": None}
    assert end_right(None, one_day, False)
    assert end_right("2026-04-12", one_day, True) and end_right("2026-04-11", one_day, True)
    assert not end_right("2026-04-13", one_day, True)
    span = {"all_day": True, "start": "2026-05-30", "end": "2026-06-01"}
    assert not end_right(None, span, False)
    assert end_right("2026-06-01", span, True) and end_right("2026-06-02", span, True)
    timed = {"all_day": False, "start": "2026-03-10T00:30:00+00:00", "end": "2026-03-10T02:30:00+00:00"}
    assert end_right(None, timed, False) and not end_right(None, timed, True)
    assert end_right("2026-03-09T20:30:00-06:00", timed, True)


# -- end to end -----------------------------------------------------------------------

def test_a_tiny_variant_farm_runs_through_the_real_pipeline_and_every_figure_is_scored(tmp_path):
    from benchmarks.variants.run import run_seed
    from benchmarks.variants.score import FIGURES

    result = run_seed(21, workdir=tmp_path, sources=12, hosts=2, events_per_source=3, in_process=True,
                      log=lambda m: None)
    q = result["quality"]
    assert result["run"]["sources_failed"] == 0, result["run"]["failures"]
    assert q["records_stored"] > 0 and q["records_stored_not_in_truth"] == 0, \
        "every record the run stored is placed on the truth"
    assert q["dedupe"]["items"] > 0 and q["events_exactly_right"]["events"] == q["truth_events"]
    assert set(result["figures"]) == {name.strip() for name, _, _ in FIGURES}
    for name in ("de-duplication F1", "events published exactly right", "mailing-list recall"):
        assert 0.0 <= result["figures"][name] <= 1.0
    removal = q["removed_shown_as_confirmed"]  # the second run, after a few events left their only source
    assert removal["removed"] >= 1
    assert removal["published_cancelled"] + removal["dropped"] + removal["count"] == removal["removed"]
    json.dumps(result)  # the results file is plain JSON


_WORD_ZONES = {"ET": ["America/New_York"], "EST": ["America/New_York"], "EDT": ["America/New_York"],
               "Eastern": ["America/New_York"], "Eastern Time": ["America/New_York"],
               "CT": ["America/Chicago"], "CST": ["America/Chicago"], "CDT": ["America/Chicago"],
               "Central": ["America/Chicago"], "Central Time": ["America/Chicago"],
               "MT": ["America/Denver"], "MDT": ["America/Denver"], "Mountain": ["America/Denver"],
               "Mountain Time": ["America/Denver"], "MST": ["America/Denver", "America/Phoenix"],
               "Arizona time": ["America/Phoenix"], "PT": ["America/Los_Angeles"], "PST": ["America/Los_Angeles"],
               "PDT": ["America/Los_Angeles"], "Pacific": ["America/Los_Angeles"],
               "Pacific Time": ["America/Los_Angeles"], "HST": ["Pacific/Honolulu"], "Hawaii time": ["Pacific/Honolulu"],
               "AKST": ["America/Anchorage"], "AKDT": ["America/Anchorage"], "Alaska time": ["America/Anchorage"]}
_DATES = re.compile(r"\d{1,2}/\d{1,2}/\d{4}|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
                    r"(?:st|nd|rd|th)?(?:,\s*\d{4})?|\b\d{4}\b", re.I)
_START = re.compile(r"(?<!\d)(\d{1,2})(?:[:.](\d{2}))?(?!\d)")
_MERIDIEM = re.compile(r"(?<![a-z])([ap])\.?\s?m\b", re.I)


def test_a_listing_writes_the_local_time_of_the_zone_its_zone_word_names(tmp_path):
    """Read back independently: the clock printed before a zone word is the event's time in that word's zone."""
    from zoneinfo import ZoneInfo

    from bs4 import BeautifulSoup

    gen.generate(tmp_path, seed=8, n_sources=36, types=["html"], n_hosts=1, events_per_source=5)
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    meta = {s["id"]: s for s in json.loads((tmp_path / "farm.json").read_text(encoding="utf-8"))["sources"]}
    checked = 0
    blocks: dict[str, dict] = {}
    for r in truth["records"]:
        if not r["zone_word"]:
            continue
        sel = meta[r["source"]]["options"]["selectors"]
        if r["source"] not in blocks:  # each page parsed once: its event blocks by their link
            soup = BeautifulSoup((tmp_path / "files" / meta[r["source"]]["path"]).read_text(encoding="utf-8"), "lxml")
            blocks[r["source"]] = {b.select_one("a[href]")["href"]: b for b in soup.select(sel["event"])}
        block = blocks[r["source"]][r["url"]]
        text = " ".join(x.get_text(" ", strip=True) for x in block.select(sel["start"]))
        assert r["zone_word"] in text, text
        clock = _DATES.sub(" ", text)  # the dates out of the way, the first number is the start's hour
        m, meridiem = _START.search(clock), _MERIDIEM.search(clock)
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if meridiem and meridiem.group(1).lower() == "p" and hour != 12:
            hour += 12
        elif meridiem and meridiem.group(1).lower() == "a" and hour == 12:
            hour = 0
        start = datetime.fromisoformat(truth["events"][r["event"]]["start"])
        locals_ = [start.astimezone(ZoneInfo(z)) for z in _WORD_ZONES[r["zone_word"]]]
        assert any((t.hour, t.minute) == (hour, minute) for t in locals_), (text, r["zone_word"], locals_)
        checked += 1
    assert checked > 20


def test_compare_prints_each_results_files_figures_side_by_side_with_the_targets(tmp_path):
    from benchmarks.variants.run import compare
    from benchmarks.variants.score import FIGURES

    for name, f1 in (("before", 0.85), ("after", 0.99)):
        figs = {n.strip(): 0.5 for n, _, _ in FIGURES} | {"de-duplication F1": f1}
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"seeds": [1001], "mean": figs, "per_seed": {"1001": {"figures": figs}}}), encoding="utf-8")
    table = compare([tmp_path / "before.json", tmp_path / "after.json"])
    row = next(line for line in table.splitlines() if line.startswith("| de-duplication F1"))
    assert "0.850 (0.850)" in row and "0.990 (0.990)" in row and row.endswith("≥ 0.98 |")
    assert len(table.splitlines()) == 2 + len(FIGURES)
