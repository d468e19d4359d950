"""The published calendar is read identically by icalendar, vobject, ical.js (Thunderbird's parser) and
libical (Evolution's, through gi, where the system has it):
same UIDs, same start and end instants, same all-day dates, summaries with the exact text.

ical.js runs with the machine's Node.js from tests/js (`npm ci --prefix tests/js`); where Node.js or
node_modules are absent those checks skip with a message saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import vobject
from icalendar import Calendar

from aggregator.config.settings import CalendarSettings
from aggregator.model import Event
from aggregator.publish.ics import render_calendar
from tests.calendar_cases import EMOJI, INJECTION, generated_events, hard_cases
from tests.conftest import corpus_files

JS_DIR = Path(__file__).parent / "js"
SETTINGS = CalendarSettings(timezone="America/Chicago", name="Cross-parser check, ünïcödé; 日本")


def _when(value) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"floating time {value} in the feed"
        return ("utc", value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return ("date", value.isoformat())


def read_icalendar(data: bytes) -> dict[str, dict]:
    cal = Calendar.from_ical(data)
    out = {}
    for ve in cal.walk("VEVENT"):
        end = ve.get("DTEND")
        out[str(ve["UID"])] = {
            "summary": str(ve["SUMMARY"]),
            "description": str(ve["DESCRIPTION"]) if "DESCRIPTION" in ve else None,
            "location": str(ve["LOCATION"]) if "LOCATION" in ve else None,
            "start": _when(ve["DTSTART"].dt),
            "end": _when(end.dt) if end is not None else None,
            "status": str(ve["STATUS"]),
            "sequence": int(ve["SEQUENCE"]),
        }
    return out


def _forget_vobject_zones() -> None:
    """vobject keeps the first VTIMEZONE it saw for a TZID for the whole process; a calendar app reads
    each feed with its own. Start every read afresh, as a client would."""
    import vobject.icalendar as vical

    registry = vical.__dict__["__tzidMap"]
    registry.clear()
    vical.registerTzid("UTC", vical.utc)


def read_vobject(data: bytes) -> dict[str, dict]:
    _forget_vobject_zones()
    cal = vobject.readOne(data.decode("utf-8"))
    out = {}
    for ve in cal.vevent_list:
        c = ve.contents
        out[ve.uid.value] = {
            "summary": ve.summary.value,
            "description": c["description"][0].value if "description" in c else None,
            "location": c["location"][0].value if "location" in c else None,
            "start": _when(ve.dtstart.value),
            "end": _when(ve.dtend.value) if "dtend" in c else None,
            "status": ve.status.value,
            "sequence": int(ve.sequence.value),
        }
    return out


def _node_ready() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs); ical.js checks skipped"
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        return "tests/js/node_modules is absent: run `npm ci --prefix tests/js`; ical.js checks skipped"
    return None


def read_icaljs(path: Path) -> tuple[dict, dict[str, dict]]:
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(["node", str(JS_DIR / "parse_ics.mjs"), str(path)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    cal = json.loads(done.stdout)
    out = {}
    for e in cal["events"]:
        def when(w, uid=e["uid"]):
            if w is None:
                return None
            assert "floating" not in w, f"ical.js read a floating time in {uid}: {w}"
            return ("utc", w["utc"]) if "utc" in w else ("date", w["date"])
        out[e["uid"]] = {
            "summary": e["summary"], "description": e["description"], "location": e["location"],
            "start": when(e["start"]), "end": when(e["end"]), "status": e["status"], "sequence": e["sequence"],
        }
    return cal, out


SYSTEM_PYTHON = "/usr/bin/python3"


def _libical_ready() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return "no system python3 for libical (gi); libical checks skipped"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return "libical through gi is absent (apt-get install python3-gi gir1.2-ical-3.0); libical checks skipped"
    return None


LIBICAL = _libical_ready()


def read_libical(path: Path) -> dict[str, dict]:
    done = subprocess.run([SYSTEM_PYTHON, str(Path(__file__).parent / "libical_read.py"), str(path)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    out = {}
    for e in json.loads(done.stdout)["events"]:
        def when(w, uid=e["uid"]):
            if w is None:
                return None
            assert "floating" not in w, f"libical read a floating time in {uid}: {w}"
            return ("utc", w["utc"]) if "utc" in w else ("date", w["date"])
        out[e["uid"]] = {"summary": e["summary"], "start": when(e["start"]), "end": when(e["end"])}
    return out


def expected(events: list[Event]) -> dict[str, dict]:
    """What every parser must read: the instants and dates of the events themselves."""
    out = {}
    for e in events:
        if e.all_day:
            end = e.end if e.end is not None and e.end > e.start else e.start + timedelta(days=1)
            start_end = (("date", e.start.isoformat()), ("date", end.isoformat()))
        else:
            start_end = (_when(e.start), _when(e.end) if e.end is not None and e.end > e.start else None)
        out[e.uid] = {"summary": e.title.strip(), "start": start_end[0], "end": start_end[1],
                      "status": str(e.status).upper(), "sequence": e.sequence}
    return out


def assert_all_agree(data: bytes, tmp_path: Path, events: list[Event] | None = None) -> dict[str, dict]:
    path = tmp_path / "calendar.ics"
    path.write_bytes(data)
    by_icalendar = read_icalendar(data)
    by_vobject = read_vobject(data)
    assert by_vobject == by_icalendar, _first_difference(by_icalendar, by_vobject, "vobject")
    if events is not None:
        want = expected(events)
        assert set(by_icalendar) == set(want), "the feed must hold exactly the published UIDs"
        for uid, fields in want.items():
            got = {k: by_icalendar[uid][k] for k in fields}
            assert got == fields, f"{uid}: icalendar read {got}, the event is {fields}"
    if _node_ready() is None:
        cal, by_icaljs = read_icaljs(path)
        assert cal["method"] is None, "a subscribed feed has no METHOD"
        assert by_icaljs == by_icalendar, _first_difference(by_icalendar, by_icaljs, "ical.js")
    if LIBICAL is None:
        by_libical = read_libical(path)
        core = {uid: {k: v[k] for k in ("summary", "start", "end")} for uid, v in by_icalendar.items()}
        assert by_libical == core, _first_difference(core, by_libical, "libical")
    return by_icalendar


def _first_difference(a: dict, b: dict, name: str) -> str:
    if set(a) != set(b):
        return f"{name} read UIDs {sorted(set(b) ^ set(a))[:5]} differently (missing or extra)"
    for uid in a:
        if a[uid] != b[uid]:
            diff = {k: (a[uid][k], b[uid].get(k)) for k in a[uid] if a[uid][k] != b[uid].get(k)}
            return f"{name} disagrees with icalendar on {uid}: {diff}"
    return "same"


@pytest.fixture(scope="module")
def hard_read(tmp_path_factory):
    """The hard cases rendered once and read by every parser (which must agree)."""
    events = hard_cases()
    return assert_all_agree(render_calendar(events, SETTINGS), tmp_path_factory.mktemp("hard"), events)


def test_hard_cases_read_identically_by_every_parser(hard_read):
    read = hard_read
    injection = read["case-injection@massage-events"]
    assert injection["description"].startswith(INJECTION.replace("\r\n", "\n")), \
        "the injected END:VEVENT must stay text inside the description"
    assert "evil" not in read, "no event may be injected through a description"
    assert read["case-emoji@massage-events"]["summary"] == EMOJI


def test_fall_back_and_spring_forward_instants_are_exact(hard_read):
    read = hard_read
    assert read["case-us-fallback-0130-first@massage-events"]["start"] == ("utc", "2026-11-01T06:30:00Z")
    assert read["case-us-fallback-0130-second@massage-events"]["start"] == ("utc", "2026-11-01T07:30:00Z")
    assert read["case-us-spring-after@massage-events"]["start"] == ("utc", "2026-03-08T08:00:00Z")
    assert read["case-eu-fallback-0230@massage-events"]["start"] == ("utc", "2026-10-25T00:30:00Z")
    assert read["case-eu-spring-across@massage-events"]["end"] == ("utc", "2026-03-29T02:00:00Z")


def test_multi_day_conference_spans_three_days_with_exclusive_end(hard_read):
    read = hard_read
    conf = read["case-multi-day@massage-events"]
    assert (conf["start"], conf["end"]) == (("date", "2026-09-10"), ("date", "2026-09-13"))
    single = read["case-all-day@massage-events"]
    assert (single["start"], single["end"]) == (("date", "2026-04-18"), ("date", "2026-04-19"))


def test_cancelled_and_updated_events_carry_status_and_sequence(hard_read):
    read = hard_read
    assert read["case-cancelled@massage-events"]["status"] == "CANCELLED"
    assert read["case-cancelled@massage-events"]["summary"].startswith("Cancelled: ")
    assert read["case-updated@massage-events"]["sequence"] == 3


def test_generated_calendar_of_1000_events_reads_identically(tmp_path):
    events = generated_events(1000)
    data = render_calendar(events, SETTINGS)
    read = assert_all_agree(data, tmp_path, events)
    assert len(read) == 1000


def test_ical_js_is_available_or_the_skip_says_why():
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    assert (JS_DIR / "package-lock.json").is_file(), "commit tests/js/package-lock.json so `npm ci` works"


def test_libical_is_available_or_the_skip_says_why():
    if LIBICAL:
        pytest.skip(LIBICAL)
    assert (Path(__file__).parent / "libical_read.py").is_file()


def test_demo_calendar_reads_identically_by_every_parser(tmp_path):
    try:
        from aggregator.app.demo import run_demo
    except ImportError:
        pytest.skip("aggregator.app.demo.run_demo is not there yet; the demo calendar check waits for it")
    out = tmp_path / "demo"
    run_demo(out)
    data = (out / "calendar.ics").read_bytes()
    read = assert_all_agree(data, tmp_path)
    assert read, "the demo calendar should hold events"
    for entry in read.values():
        assert entry["start"] is not None


def test_dates_in_expected_are_real_dates():
    # guards the helper: an all-day case must give date values, not datetimes
    assert isinstance(hard_cases()[11].start, date) and not isinstance(hard_cases()[11].start, datetime)


def _corpus_events(path: Path) -> list[Event]:
    """A corpus calendar read by our ical adapter and normalized, as the pipeline would publish it."""
    from dataclasses import replace

    from aggregator.errors import MassageEventsError
    from aggregator.merge.normalize import normalize
    from aggregator.model import RawEvent, Window
    from sources.base import SourceOptions
    from sources.ical import read_ical_bytes

    options = SourceOptions(id="corpus", type="ical", url="https://example.org/c.ics")
    window = Window(datetime(1995, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc))
    events = {}
    try:
        for raw in read_ical_bytes(path.read_bytes(), options, window, origin=path.name):
            if not isinstance(raw, RawEvent):
                continue
            try:
                e = normalize(raw, options, SETTINGS, window)
            except MassageEventsError:
                continue
            events[e.uid] = replace(e, last_modified=datetime(2026, 1, 1, tzinfo=timezone.utc))
            if len(events) >= 40:
                break
    except MassageEventsError:
        pass  # a calendar our adapter refuses publishes nothing
    return list(events.values())


def test_corpus_calendars_republished_read_identically(tmp_path):
    """Every real-world calendar of ../shared/corpus/ics, read by our adapter and published again
    (up to 40 events each, all in one feed), is read identically by every parser."""
    from dataclasses import replace

    files = corpus_files("ics")
    if not files:
        pytest.skip("../shared/corpus/ics is absent")
    events = []
    for path in files:
        events += [replace(e, uid=f"{path.stem}--{e.uid}") for e in _corpus_events(path)]
    assert len(events) > 500, "the corpus should give hundreds of events"
    read = assert_all_agree(render_calendar(events, SETTINGS), tmp_path, events)
    assert len(read) == len(events)


def test_zones_whose_rules_changed_read_identically(tmp_path):
    """US rules changed in 2007, Moscow dropped DST in 2011 and moved in 2014, Sao Paulo dropped DST in 2019:
    the VTIMEZONE must carry each era, and every parser must land on the same instants."""
    from zoneinfo import ZoneInfo

    from tests.calendar_cases import ev

    events = []
    for name, years in (("America/Los_Angeles", range(2005, 2010)), ("Europe/Moscow", range(2009, 2016)),
                        ("America/Sao_Paulo", range(2016, 2022))):
        zone = ZoneInfo(name)
        for year in years:
            for month in (1, 3, 4, 7, 10, 11, 12):
                start = datetime(year, month, 15, 18, 30, tzinfo=zone)
                events.append(ev(f"{name}-{year}-{month}@x", f"{name} {year}-{month}", start,
                                 start + timedelta(hours=2), tz=name))
    data = render_calendar(events, SETTINGS)
    assert b"UNTIL=" in data, "a rule that stopped is bounded"
    assert_all_agree(data, tmp_path, events)
