"""The scheduler: job settings, the digest at local time across DST, catch-up, one scheduler per database,
and a clean stop mid-send. Clocks are controlled; nothing sleeps for the schedule."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aggregator.app.scheduler import Scheduler, digest_trigger, refresh_minutes
from aggregator.mail import digest, subscribers
from aggregator.store.database import Store
from aggregator.store.job_problems import last_problems
from tests.smtp_server import FaultySMTP, digest_config, make_event, migrated_db  # noqa: F401 (autouse)

CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc


def fire_times(trigger, start: datetime, n: int) -> list[datetime]:
    out, prev, now = [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt.astimezone(UTC))
        prev, now = nxt, nxt + timedelta(microseconds=1)
    return out


@pytest.mark.timeout(5)
def test_digest_fires_at_8am_chicago_across_the_march_change(tmp_path):
    trigger = digest_trigger(digest_config(tmp_path))  # Monday 08:00
    assert fire_times(trigger, datetime(2026, 3, 1, tzinfo=CHICAGO), 3) == [
        datetime(2026, 3, 2, 14, 0, tzinfo=UTC),   # CST, UTC-6
        datetime(2026, 3, 9, 13, 0, tzinfo=UTC),   # CDT, UTC-5 (clocks changed on Sunday 8 March)
        datetime(2026, 3, 16, 13, 0, tzinfo=UTC),
    ]


@pytest.mark.timeout(5)
def test_digest_fires_at_8am_chicago_across_the_november_change(tmp_path):
    trigger = digest_trigger(digest_config(tmp_path))
    assert fire_times(trigger, datetime(2026, 10, 25, tzinfo=CHICAGO), 3) == [
        datetime(2026, 10, 26, 13, 0, tzinfo=UTC),  # CDT
        datetime(2026, 11, 2, 14, 0, tzinfo=UTC),   # CST (clocks changed on Sunday 1 November)
        datetime(2026, 11, 9, 14, 0, tzinfo=UTC),
    ]


@pytest.mark.timeout(5)
def test_a_0230_digest_on_spring_forward_day_fires_once_an_hour_later(tmp_path):
    config = digest_config(tmp_path, digest={"day": "sun", "time": "02:30"})
    (first, second) = fire_times(digest_trigger(config), datetime(2026, 3, 7, tzinfo=CHICAGO), 2)
    assert first == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)  # 02:30 does not exist: 03:30 CDT
    assert second == datetime(2026, 3, 15, 7, 30, tzinfo=UTC)
    assert digest.period_of(config, first) == "2026-03-08"


@pytest.mark.timeout(5)
def test_a_0130_digest_on_fall_back_day_fires_twice_but_is_one_period(tmp_path):
    config = digest_config(tmp_path, digest={"day": "sun", "time": "01:30"})
    first, second, _ = fire_times(digest_trigger(config), datetime(2026, 10, 31, tzinfo=CHICAGO), 3)
    assert (first, second) == (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 30, tzinfo=UTC))
    assert digest.period_of(config, first) == digest.period_of(config, second) == "2026-11-01"
    db_path, out = tmp_path / "db.sqlite", tmp_path / "out"
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org", send_empty=True)
    assert digest.send_due(config, db_path, out, now=first, retry_delays=()).sent == 1
    assert digest.send_due(config, db_path, out, now=second, retry_delays=()) is None
    assert len(list((out / "outbox").glob("*.eml"))) == 1


def test_job_defaults_and_explicit_ids_survive_restarts(tmp_path):
    config = digest_config(tmp_path, schedule={"refresh_minutes": 30})
    for _ in range(3):
        sched = Scheduler(config, tmp_path / "db.sqlite", tmp_path / "out").start(catch_up=False)
        try:
            jobs = sched.aps.get_jobs()
            assert sorted(j.id for j in jobs) == ["digest", "digest-retry", "lease", "refresh"]
            refresh, daily = sched.aps.get_job("refresh"), sched.aps.get_job("digest")
            assert refresh.coalesce and refresh.max_instances == 1 and refresh.misfire_grace_time == 30 * 60
            assert daily.coalesce and daily.max_instances == 1 and daily.misfire_grace_time == 6 * 3600
            assert str(daily.trigger.timezone) == "America/Chicago"
        finally:
            sched.shutdown()


def test_refresh_interval_is_the_smallest_asked_for(tmp_path):
    config = digest_config(tmp_path, schedule={"refresh_minutes": 120})
    assert refresh_minutes(config) == 120


def seed(db_path, n=3):
    with Store(db_path) as store:
        store.save_events([make_event("e", "Mixer", datetime(2026, 3, 3, 18, 0))], {},
                          datetime(2026, 3, 1, tzinfo=UTC))
        for i in range(n):
            subscribers.add_active(store.db, f"p{i}@example.org")


def outbox(tmp_path):
    return list((tmp_path / "out" / "outbox").glob("*.eml"))


def test_catch_up_sends_a_missed_period_once_and_a_restart_sends_nothing(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    seed(db_path)
    three_hours_late = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # Monday 11:00 in Chicago
    with time_machine.travel(three_hours_late, tick=False):
        first = Scheduler(config, db_path, tmp_path / "out")
        report = first.catch_up()
        first.shutdown()
        assert report.sent == 3 and report.complete
        second = Scheduler(config, db_path, tmp_path / "out")
        assert second.catch_up() is None
        second.shutdown()
    assert len(outbox(tmp_path)) == 3


def test_no_catch_up_once_the_grace_period_has_passed(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    seed(db_path)
    with time_machine.travel(datetime(2026, 3, 2, 21, 0, tzinfo=UTC), tick=False):  # 7 h late
        sched = Scheduler(config, db_path, tmp_path / "out")
        assert sched.catch_up() is None
        sched.shutdown()
    assert outbox(tmp_path) == []


def test_two_schedulers_on_one_database_send_each_digest_once(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    seed(db_path)
    with time_machine.travel(datetime(2026, 3, 2, 14, 0, 30, tzinfo=UTC), tick=False):
        a = Scheduler(config, db_path, tmp_path / "out")
        b = Scheduler(config, db_path, tmp_path / "out")
        assert a.holds_lease() and not b.holds_lease()
        assert b.send_digest() is None
        assert a.send_digest().sent == 3
        assert b.send_digest() is None and a.send_digest() is None
        a.shutdown()
        assert b.holds_lease()  # released on shutdown: the other process takes over
        b.shutdown()
    assert len(outbox(tmp_path)) == 3


def test_stop_mid_send_finishes_the_message_in_hand_and_a_rerun_sends_the_rest(tmp_path):
    db_path = tmp_path / "db.sqlite"
    with FaultySMTP() as smtp:
        now = datetime.now(UTC)
        local = (now - timedelta(minutes=1)).astimezone(CHICAGO)
        config = digest_config(tmp_path, smtp=smtp, digest={
            "day": ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()],
            "time": f"{local.hour:02d}:{local.minute:02d}"})
        with Store(db_path) as store:
            for i in range(5):
                subscribers.add_active(store.db, f"p{i}@example.org", send_empty=True)
        smtp.block_at, smtp.abort_blocked = 2, False
        sched = Scheduler(config, db_path, tmp_path / "out").start()  # the catch-up job starts sending
        assert smtp.blocked.wait(10)
        stopper = threading.Thread(target=sched.shutdown)
        stopper.start()
        deadline = time.monotonic() + 5
        while not sched.stop_event.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        smtp.release.set()  # the message in hand is accepted...
        stopper.join(10)
        assert not stopper.is_alive()
        assert len(smtp.messages) == 2  # ...and nothing after it was started
        with Store(db_path) as store:
            states = [r[0] for r in store.db.execute("SELECT status FROM deliveries ORDER BY subscriber")]
        assert states == ["sent", "sent", "queued", "queued", "queued"]
        smtp.block_at = None
        report = digest.send_due(config, db_path, tmp_path / "out", retry_delays=())
        assert report.sent == 3 and report.complete
        assert sorted(smtp.recipients()) == [f"p{i}@example.org" for i in range(5)]


def test_a_missed_job_is_logged_and_kept_for_status(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    Store(db_path).close()
    sched = Scheduler(config, db_path, tmp_path / "out")
    sched.aps.add_job(lambda: None, "date", run_date=datetime.now(UTC) - timedelta(hours=1), id="late",
                      misfire_grace_time=1)
    sched.start(catch_up=False)
    try:
        deadline = time.monotonic() + 5
        problems = []
        while not problems and time.monotonic() < deadline:
            time.sleep(0.05)
            with Store(db_path) as store:
                problems = last_problems(store.db)
    finally:
        sched.shutdown()
    assert problems and problems[0]["job"] == "late" and problems[0]["kind"] == "missed"


def test_the_refresh_job_runs_the_pipeline_and_alerts_the_curator(tmp_path, http):
    from aggregator.config.settings import parse_config

    config = parse_config({
        "calendar": {"timezone": "America/Chicago", "curator_email": "curator@example.org"},
        "alerts": {"after_failures": 1},
        "sources": [{"id": "good", "type": "ical", "url": http.url("/files/ical/dst_crossing_chicago.ics")},
                    {"id": "broken", "type": "ical", "url": http.url("/status/404")}],
    }, str(tmp_path / "sources.yaml"))
    out = tmp_path / "out"
    sched = Scheduler(config, tmp_path / "db.sqlite", out)
    try:
        sched.refresh()
    finally:
        sched.shutdown()
    assert (out / "calendar.ics").exists() and (out / "events.json").exists()
    (alert,) = (out / "outbox").glob("*.eml")
    assert b"Subject: broken: the source is failing" in alert.read_bytes()


SERVE_LIKE = """
import sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo
from tests.smtp_server import digest_config
from aggregator.app.scheduler import Scheduler
from aggregator.store.database import Store
tmp, port, day, hhmm = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
class S: pass
s = S(); s.port = port
config = digest_config(tmp, smtp=s, digest={"day": day, "time": hhmm})
sched = Scheduler(config, tmp / "db.sqlite", tmp / "out")
print("lease", sched.holds_lease(), flush=True)
sched.start()
deadline = time.monotonic() + 8
while time.monotonic() < deadline:
    with Store(tmp / "db.sqlite") as store:
        row = store.db.execute("SELECT completed FROM digest_periods").fetchone()
    if row and row[0]:
        break
    time.sleep(0.05)
time.sleep(0.3)
sched.shutdown()
"""


def test_two_serve_processes_on_one_database_deliver_one_message_each(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    db_path = tmp_path / "db.sqlite"
    with Store(db_path) as store:
        for i in range(6):
            subscribers.add_active(store.db, f"p{i}@example.org", send_empty=True)
    local = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(CHICAGO)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    root = Path(__file__).resolve().parents[1]
    with FaultySMTP() as smtp:
        args = [str(tmp_path), str(smtp.port), day, f"{local.hour:02d}:{local.minute:02d}"]
        procs = [subprocess.Popen([sys.executable, "-c", SERVE_LIKE, *args], cwd=root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=30) for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        assert sorted(o[0].split()[1] for o in outputs) == ["False", "True"]  # one holds the lease
        assert sorted(smtp.recipients()) == [f"p{i}@example.org" for i in range(6)]
