"""Digest periods: a period is named by the local date of its scheduled slot (digest.day at
digest.time in calendar.timezone), e.g. "2026-11-23"."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aggregator.config.settings import Config

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def calendar_zone(config: Config) -> ZoneInfo:
    return ZoneInfo(config.calendar.timezone)


def slot_time(config: Config) -> time:
    hour, minute = (int(x) for x in config.digest.time.split(":"))
    return time(hour, minute)


def period_slot(config: Config, now: datetime) -> datetime:
    """The latest scheduled digest moment at or before `now` (aware, calendar zone)."""
    zone = calendar_zone(config)
    local = now.astimezone(zone)
    weekday = WEEKDAYS.index(config.digest.day)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, slot_time(config), tzinfo=zone)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), slot_time(config), tzinfo=zone)
    # A wall time that does not exist (spring forward) is read with fold=0 by zoneinfo: fine.
    return slot


def period_of(config: Config, now: datetime) -> str:
    return period_slot(config, now).date().isoformat()
