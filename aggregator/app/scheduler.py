"""What `massage-events serve` runs by itself (APScheduler 3.x, BackgroundScheduler).

Jobs, each with an explicit id (re-adding replaces, so restarts never duplicate them):

    refresh        every schedule.refresh_minutes (or the smallest per-source refresh_minutes):
                   aggregator.pipeline.run(config, store, out_dir), then curator alerts
    digest         CronTrigger at digest.day / digest.time in the calendar's ZoneInfo (DST-proof)
    digest-retry   every 15 minutes: finishes a period that is due but not complete (4xx
                   retries, a crash mid-send); does nothing otherwise
    catch-up       once, at start: a period whose slot passed less than digest.grace_hours ago
                   and that `deliveries` does not show complete is sent (the database decides,
                   not the scheduler's memory)
    lease          every schedule.lease_seconds / 3 (a minute by default): renews this process's
                   lease; a replica that takes the lease over (its holder died) runs the catch-up
                   at once, so a digest a dead replica left half-sent is finished within the lease

Job defaults: coalesce=True (a backlog of missed runs fires once), max_instances=1 (a job
never overlaps itself), misfire_grace_time = the refresh interval (the digest job: grace_hours).

One scheduler per database: jobs run only in the process holding the `scheduler` lease
(a row in table leases, expiring after schedule.lease_seconds (3 minutes) unless renewed),
so two `serve` processes (replicas on one PostgreSQL, or on one SQLite file) never both refresh
or send. A holder that was killed on the same host frees the lease at once; on another host
its lease expires. The digest sender also takes its own lease,
which keeps a cron `digest --send` from overlapping it.

Shutdown (SIGTERM in serve): `stop(scheduler)` stops new jobs, lets the digest finish the
message in hand (send_period checks the stop flag between messages), waits for the running
job, releases the lease. A refresh in progress finishes its sources (each has a deadline).
Missed and failed jobs are logged and kept for `status` (aggregator/store/job_problems.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.store import leases
from aggregator.store.job_problems import record_problem
from aggregator.config.settings import Config

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
DIGEST_RETRY_MINUTES = 15


def refresh_minutes(config: Config) -> int:
    """The refresh interval: schedule.refresh_minutes, or a smaller per-source refresh_minutes."""
    values = [config.schedule.refresh_minutes]
    values += [s.refresh_minutes for s in config.sources if s.enabled and getattr(s, "refresh_minutes", None)]
    return max(5, min(values))


def digest_trigger(config: Config) -> CronTrigger:
    hour, minute = (int(x) for x in config.digest.time.split(":"))
    return CronTrigger(day_of_week=config.digest.day, hour=hour, minute=minute,
                       timezone=ZoneInfo(config.calendar.timezone))


class Scheduler:
    def __init__(self, config: Config, db_path: Path, out_dir: Path, bucket=None) -> None:
        from aggregator.store.locator import as_database

        self.config = config
        self.bucket = bucket  # --out s3://...: each refresh copies the staging folder to the bucket
        self.db_path = as_database(db_path)
        self.out_dir = Path(out_dir)
        self.holder = leases.new_holder()
        self.stop_event = threading.Event()
        self.zone = ZoneInfo(config.calendar.timezone)
        minutes = refresh_minutes(config)
        self.aps = BackgroundScheduler(timezone=self.zone, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": minutes * 60})
        self.aps.add_job(self.refresh, IntervalTrigger(minutes=minutes, timezone=self.zone), id="refresh",
                         name="refresh sources", replace_existing=True)
        self.aps.add_job(self.send_digest, digest_trigger(config), id="digest", name="weekly digest",
                         replace_existing=True, misfire_grace_time=config.digest.grace_hours * 3600)
        self.aps.add_job(self.send_digest, IntervalTrigger(minutes=DIGEST_RETRY_MINUTES, timezone=self.zone),
                         id="digest-retry", name="finish a due digest", replace_existing=True)
        self.lease_ttl = float(config.schedule.lease_seconds)
        self._held = False
        self.aps.add_job(self.renew_lease, IntervalTrigger(seconds=max(1.0, self.lease_ttl / 3), timezone=self.zone),
                         id="lease",
                         name="renew the scheduler lease", replace_existing=True)
        self.aps.add_listener(self._on_problem, EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    # -- jobs ---------------------------------------------------------------------------

    def _store(self):
        from aggregator.store.database import Store

        return Store(self.db_path)

    def holds_lease(self) -> bool:
        with self._store() as store:
            return leases.acquire(store.db, LEASE_NAME, self.holder, self.lease_ttl)

    def renew_lease(self) -> None:
        held, self._held = self._held, self.holds_lease()
        if self._held and not held and not self.stop_event.is_set():
            # Taken over from a replica that died: finish whatever digest it left unfinished now.
            log.info("scheduler lease taken (%s); catching up", self.holder)
            self.aps.add_job(self.send_digest, id="takeover", name="finish a digest after a takeover",
                             replace_existing=True, next_run_time=datetime.now(self.zone))

    def refresh(self) -> None:
        if self.stop_event.is_set() or not self.holds_lease():
            return
        from aggregator.errors import RunInProgress
        from aggregator.mail import alerts
        from aggregator.pipeline import run

        with self._store() as store:
            try:
                report = run(self.config, store, self.out_dir)
            except RunInProgress as busy:  # a cron `run` is doing the same work right now
                log.info("refresh skipped: %s", busy)
                return
            if self.bucket is not None:
                log.info("refresh: %s", self.bucket.publish(self.out_dir).summary())
            log.info("refresh: %s", report.summary().splitlines()[0])
            alerts.notify_curator(self.config, store, report, report.finished or datetime.now(timezone.utc),
                                  out_dir=self.out_dir)

    def send_digest(self, now: datetime | None = None):
        """Send the due period if it is not complete (idempotent); the digest, retry and catch-up jobs."""
        if self.stop_event.is_set() or not self.holds_lease():
            return None
        from aggregator.mail.digest import send_due

        report = send_due(self.config, self.db_path, self.out_dir, now=now, stop=self.stop_event)
        if report is not None:
            log.info("%s", report.summary())
        return report

    catch_up = send_digest

    def _on_problem(self, event) -> None:
        kind = "missed" if event.code == EVENT_JOB_MISSED else "failed"
        message = (f"{type(event.exception).__name__}: {event.exception}" if getattr(event, "exception", None)
                   else f"missed its run at {event.scheduled_run_time}")
        if kind == "failed":
            log.error("scheduled job %s failed: %s", event.job_id, message, exc_info=event.exception)
        else:
            log.warning("scheduled job %s %s", event.job_id, message)
        try:
            with self._store() as store:
                record_problem(store.db, event.job_id, kind, message)
        except Exception:  # noqa: BLE001 - never let bookkeeping kill the scheduler thread
            log.exception("could not record the scheduler problem")

    # -- life cycle ---------------------------------------------------------------------

    def start(self, *, catch_up: bool = True) -> "Scheduler":
        self.aps.start()
        if catch_up:
            self.aps.add_job(self.send_digest, id="catch-up", name="send a missed digest",
                             replace_existing=True, next_run_time=datetime.now(self.zone))
        return self

    def shutdown(self, wait: bool = True) -> None:
        """Stop new jobs, let the running one finish its current message or source, release the lease."""
        self.stop_event.set()
        if self.aps.running:
            self.aps.shutdown(wait=wait)
        try:
            with self._store() as store:
                leases.release(store.db, LEASE_NAME, self.holder)
        except Exception:  # noqa: BLE001 - best effort; the lease expires anyway
            log.warning("could not release the scheduler lease; it expires in %d s", self.lease_ttl)


def start_scheduler(config: Config, db_path: Path, out_dir: Path, bucket=None) -> Scheduler:
    """Build and start the scheduler for `serve`; call stop(scheduler) (or .shutdown()) on SIGTERM."""
    return Scheduler(config, db_path, out_dir, bucket=bucket).start()


def stop(scheduler: Scheduler) -> None:
    scheduler.shutdown(wait=True)
