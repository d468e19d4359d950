"""Events that exercise what calendar clients get wrong, for the publisher and cross-parser tests.

`hard_cases()` is one event per case; `generated_events(n)` cycles through them (and through
zones and dates) to build a large calendar with every case many times over.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aggregator.model import Event, SourceRef, Status

CHI = ZoneInfo("America/Chicago")
NYC = ZoneInfo("America/New_York")
BER = ZoneInfo("Europe/Berlin")
LON = ZoneInfo("Europe/London")
TYO = ZoneInfo("Asia/Tokyo")
UTC = timezone.utc
REVISION = datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC)

INJECTION = "Bring a mat.\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:injected"
PUNCTUATION = "A, B; C\\D \\N\nsecond line; with, commas \\, and a tab\there"
CJK = "マッサージ療法士の交流会・東京支部の年次総会とワークショップ（初心者歓迎）按摩治疗师交流会"
EMOJI = "Relax 💆‍♀️💆🏽‍♂️ family 👨‍👩‍👧‍👦 flags 🇺🇸🇩🇪 hands 🙌🏾 done ✅"
ACCENTS = "Soirée réseau à Montréal — Ökologie, naïve café, e\u0301te\u0301 (combining), Ångström, Žilina"
LONG = ("Long workshop description that goes on and on, covering myofascial release, lymphatic "
        "drainage, trigger points and ethics; ") * 8


def ev(uid: str, title: str, start, end=None, *, tz: str | None = None, description: str = "",
       location: str | None = None, url: str | None = None, status: Status = Status.CONFIRMED,
       sequence: int = 0, region: str | None = None, tags: tuple[str, ...] = (),
       sources: tuple[SourceRef, ...] | None = None) -> Event:
    all_day = not isinstance(start, datetime)
    if tz is None:
        tz = start.tzinfo.key if isinstance(start, datetime) and hasattr(start.tzinfo, "key") else "America/Chicago"
    return Event(uid=uid, title=title, start=start, end=end, all_day=all_day, timezone=tz,
                 location=location, url=url, description=description, status=status, region=region,
                 tags=tags, sources=sources or (SourceRef("amta-il", uid, "https://example.org/e/" + uid),),
                 sequence=sequence, last_modified=REVISION)


def hard_cases(year: int = 2026, prefix: str = "case") -> list[Event]:
    """One event per thing clients get wrong. Dates are in `year` (DST days computed for 2026-like rules)."""

    def d(month, day, hour=0, minute=0, zone=CHI, fold=0):
        return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold)

    us_spring = _nth_sunday(year, 3, 2)
    us_fall = _nth_sunday(year, 11, 1)
    eu_spring = _last_sunday(year, 3)
    eu_fall = _last_sunday(year, 10)
    u = lambda name: f"{prefix}-{name}@massage-events"  # noqa: E731
    return [
        ev(u("us-fallback-0130-first"), "Fall-back 01:30 (first)",
           d(11, us_fall.day, 1, 30), d(11, us_fall.day, 2, 30), location="Chicago, IL 60614"),
        ev(u("us-fallback-0130-second"), "Fall-back 01:30 (second)",
           d(11, us_fall.day, 1, 30, fold=1), d(11, us_fall.day, 3, 0), location="Chicago, IL"),
        ev(u("us-fallback-across"), "Across the fall-back hour",
           d(11, us_fall.day, 0, 30, zone=NYC), d(11, us_fall.day, 4, 0, zone=NYC), location="Albany, NY 12207"),
        ev(u("us-spring-across"), "Across the spring-forward gap",
           d(3, us_spring.day, 1, 0), d(3, us_spring.day, 4, 0)),
        ev(u("us-spring-after"), "Right after spring-forward", d(3, us_spring.day, 3, 0), d(3, us_spring.day, 3, 30)),
        ev(u("us-spring-evening"), "Evening of spring-forward day",
           d(3, us_spring.day, 18, 30), d(3, us_spring.day, 20, 30)),
        ev(u("eu-fallback-0230"), "EU fall-back 02:30", d(10, eu_fall.day, 2, 30, zone=BER),
           d(10, eu_fall.day, 4, 0, zone=BER), tz="Europe/Berlin"),
        ev(u("eu-fallback-london"), "London fall-back 01:30", d(10, eu_fall.day, 1, 30, zone=LON),
           d(10, eu_fall.day, 2, 30, zone=LON), tz="Europe/London"),
        ev(u("eu-spring-across"), "EU spring-forward across", d(3, eu_spring.day, 1, 30, zone=BER),
           d(3, eu_spring.day, 4, 0, zone=BER), tz="Europe/Berlin"),
        ev(u("tokyo"), CJK, d(6, 1, 19, 0, zone=TYO), d(6, 1, 21, 0, zone=TYO), tz="Asia/Tokyo",
           description=CJK * 3, location="東京都渋谷区"),
        ev(u("utc"), "A UTC meeting", d(7, 1, 15, 0, zone=UTC), d(7, 1, 16, 0, zone=UTC), tz="UTC"),
        ev(u("all-day"), "All-day open house", date(year, 4, 18)),
        ev(u("all-day-end"), "All-day with end", date(year, 4, 19), date(year, 4, 20)),
        ev(u("multi-day"), "Three-day conference", date(year, 9, 10), date(year, 9, 13),
           location="Rosemont, Illinois", tags=("conference", "ce")),
        ev(u("no-end"), "Timed without end", d(5, 5, 18, 0)),
        ev(u("punctuation"), "A, B; C\\D", d(5, 6, 18, 0), d(5, 6, 19, 0), description=PUNCTUATION,
           location="Room 1; Floor 2, Suite \\3"),
        ev(u("injection"), "Injection attempt", d(5, 7, 18, 0), d(5, 7, 19, 0), description=INJECTION),
        ev(u("emoji"), EMOJI, d(5, 8, 18, 0), d(5, 8, 19, 0), description=EMOJI * 4),
        ev(u("accents"), ACCENTS, d(5, 9, 18, 0), d(5, 9, 19, 0), description=ACCENTS * 3,
           location="Montréal, Québec"),
        ev(u("long"), "A very long title " * 8, d(5, 10, 9, 0), d(5, 10, 17, 0), description=LONG),
        ev(u("cancelled"), "Cancelled: Spring mixer", d(5, 11, 18, 0), d(5, 11, 20, 0),
           status=Status.CANCELLED, sequence=1),
        ev(u("updated"), "Moved: CE workshop (now at 7)", d(5, 12, 19, 0), d(5, 12, 21, 0), sequence=3,
           tags=("ce",), region="IL"),
        ev(u("tentative"), "Maybe: picnic", d(6, 13, 12, 0), d(6, 13, 15, 0), status=Status.TENTATIVE),
        ev(u("merged"), "Merged from two sources", d(6, 14, 18, 0), d(6, 14, 20, 0),
           sources=(SourceRef("amta-il", "a1", "https://example.org/a1"),
                    SourceRef("chi-meetup", "https://meetup.example/e/1", "https://meetup.example/e/1"))),
        ev(u("bad-url"), "Hostile link", d(6, 15, 18, 0), d(6, 15, 19, 0), url="javascript:alert(1)"),
    ]


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _last_sunday(year: int, month: int) -> date:
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def generated_events(n: int = 1000) -> list[Event]:
    """n events: every hard case, repeated over several years, plus ordinary events around them."""
    events: list[Event] = []
    year = 2026
    round_ = 0
    while len(events) < n // 3:
        events += hard_cases(year + round_ % 3, prefix=f"r{round_}")
        round_ += 1
    zones = (CHI, NYC, BER, LON, TYO, UTC)
    i = 0
    while len(events) < n:
        zone = zones[i % len(zones)]
        start = datetime(2026, 1, 1, 9, tzinfo=zone) + timedelta(days=i % 700, hours=i % 11, minutes=15 * (i % 4))
        events.append(ev(f"plain-{i}@massage-events", f"Meetup #{i}, {['ce', 'social'][i % 2]}", start,
                         start + timedelta(hours=2), tz=getattr(zone, "key", "UTC"),
                         location=f"{i} Main St, Springfield, IL 6270{i % 10}", tags=(["ce", "social"][i % 2],)))
        i += 1
    return events
