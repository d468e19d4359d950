"""Score the prose reader on the labelled mail set (benchmarks/mailset/dev.yaml and heldout.yaml).

Each post goes through `records_from_posts` alone, as a list archive with one post in it would: what
comes out as a RawEvent is what would be published. Reported per part:

- detection: precision and recall of "is this an announcement" (tp, fp, fn, tn);
- exact reading: of the labelled events, how many are published with the right start (the instant,
  or the day for an all-day event), end, all-day flag, zone, place and status; and each field alone;
- per class: recall of relative dates, zone words, all-day and multi-day spans; for replies,
  attribution lines, quotes, digests and forwards, how many non-events were published.

`compare_libraries` reads the same posts' starts with dateparser, datefinder and ctparse (each
handed the same text the grammar reads: the subject and the post's own words), so the hand-written
grammar can be measured against them.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from aggregator.model import RawEvent, Status
from sources.parse.prose import Post, html_to_text, records_from_posts

HERE = Path(__file__).parent
PARTS = {"dev": HERE / "dev.yaml", "heldout": HERE / "heldout.yaml", "heldout2": HERE / "heldout2.yaml",
         "heldout3": HERE / "heldout3.yaml", "heldout4": HERE / "heldout4.yaml",
         "heldout5": HERE / "heldout5.yaml"}
DEFAULT_ZONE = "America/Chicago"
EVENT_CLASSES = ("relative", "zone", "allday", "multiday")
NON_EVENT_CLASSES = ("reply", "attribution", "quote", "digest", "forward", "chatter", "past")


def load(part: str) -> list[dict]:
    return yaml.safe_load(PARTS[part].read_text(encoding="utf-8"))["posts"]


@dataclass(frozen=True)
class Expected:
    event: bool
    start: datetime | date | None = None
    end: datetime | date | None = None  # exclusive day after the last for all-day, as iCalendar
    zones: tuple[str, ...] = ()
    places: tuple[str | None, ...] = (None,)
    cancelled: bool = False

    @property
    def all_day(self) -> bool:
        return self.start is not None and not isinstance(self.start, datetime)


def _when(text: str, zone: ZoneInfo, base: date | None = None) -> datetime | date:
    text = str(text).strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return date.fromisoformat(text)
    if re.fullmatch(r"\d\d?:\d\d", text) and base is not None:
        hh, mm = text.split(":")
        return datetime(base.year, base.month, base.day, int(hh), int(mm), tzinfo=zone)
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=zone)


def expected(post: dict) -> Expected:
    want = post["expect"]
    if not want["event"]:
        return Expected(event=False)
    tz = want.get("tz") or post.get("zone", DEFAULT_ZONE)
    zones = tuple(tz) if isinstance(tz, list) else (tz,)
    zone = ZoneInfo(zones[0])
    start = _when(want["start"], zone)
    end = None
    if want.get("end"):
        end = _when(want["end"], zone, base=start if isinstance(start, date) else None)
        if not isinstance(start, datetime):
            end = end + timedelta(days=1)  # labelled as the last day; published as the day after
    place = want.get("place")
    places = tuple(place) if isinstance(place, list) else (place,)
    return Expected(True, start, end, zones, places, want.get("status") == "cancelled")


def post_of(item: dict) -> tuple[Post, ZoneInfo]:
    body = html_to_text(item["body"]) if item.get("html") else item["body"]
    sent = datetime.fromisoformat(item["sent"])
    return Post(id=f"<{item['id']}@mailset>", subject=item["subject"], body=body, sent=sent), \
        ZoneInfo(item.get("zone", DEFAULT_ZONE))


def published(item: dict) -> RawEvent | None:
    """The record the pipeline would publish for this post alone, or None."""
    post, zone = post_of(item)
    events = [r for r in records_from_posts([post], zone, source_id="mailset") if isinstance(r, RawEvent)]
    return events[0] if events else None


def place_key(place: str | None) -> str | None:
    if not place:
        return None
    words = re.findall(r"\w+", place.lower())
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words) or None


def field_problems(want: Expected, got: RawEvent) -> dict[str, str]:
    """Fields read wrong, by name: start, end, all_day, zone, place, status."""
    problems = {}
    if want.all_day != (not isinstance(got.start, datetime)):
        problems["all_day"] = f"all_day expected {want.all_day}"
    if isinstance(want.start, datetime):
        if not isinstance(got.start, datetime) or got.start != want.start:
            problems["start"] = f"start expected {want.start.isoformat()}, read {got.start}"
    elif isinstance(got.start, datetime) or got.start != want.start:
        problems["start"] = f"start expected the day {want.start}, read {got.start}"
    if want.end != got.end or type(want.end) is not type(got.end):
        problems["end"] = f"end expected {want.end}, read {got.end}"
    if isinstance(want.start, datetime) and got.timezone not in want.zones:
        problems["zone"] = f"zone expected {'/'.join(want.zones)}, read {got.timezone}"
    if place_key(got.location) not in {place_key(p) for p in want.places}:
        problems["place"] = f"place expected {want.places[0]!r}, read {got.location!r}"
    if want.cancelled != (got.status == Status.CANCELLED):
        problems["status"] = f"status expected {'cancelled' if want.cancelled else 'confirmed'}, read {got.status}"
    return problems


FIELDS = ("start", "end", "all_day", "zone", "place", "status")


@dataclass
class Score:
    part: str
    posts: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    exact: int = 0
    field_right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    class_events: dict[str, list[int]] = field(default_factory=dict)  # class -> [labelled, read with the right start]
    class_published: dict[str, list[int]] = field(default_factory=dict)  # class -> [non-events, published]
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def exact_accuracy(self) -> float:
        labelled = self.tp + self.fn
        return self.exact / labelled if labelled else 1.0

    def class_recall(self, name: str) -> float | None:
        labelled, right = self.class_events.get(name, [0, 0])
        return right / labelled if labelled else None

    def as_dict(self) -> dict:
        return {
            "part": self.part, "posts": self.posts, "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "exact": self.exact, "exact_accuracy": round(self.exact_accuracy, 4),
            "field_accuracy": {k: round(v / (self.tp or 1), 4) for k, v in self.field_right.items()},
            "class_recall": {k: round(v[1] / v[0], 4) for k, v in self.class_events.items() if v[0]},
            "non_events_published": {k: v[1] for k, v in self.class_published.items()},
            "wrong": self.wrong,
        }


def score(part: str, items: list[dict] | None = None) -> Score:
    items = load(part) if items is None else items
    s = Score(part)
    began = _time.perf_counter()
    for item in items:
        s.posts += 1
        want = expected(item)
        got = published(item)
        classes = item.get("classes", [])
        if not want.event:
            for c in classes:
                s.class_published.setdefault(c, [0, 0])[0] += 1
            if got is None:
                s.tn += 1
            else:
                s.fp += 1
                for c in classes:
                    s.class_published[c][1] += 1
                s.wrong.append(f"{item['id']}: a non-event was published (start {got.start})")
            continue
        for c in classes:
            s.class_events.setdefault(c, [0, 0])[0] += 1
        if got is None:
            s.fn += 1
            s.wrong.append(f"{item['id']}: an event was not read")
            continue
        s.tp += 1
        problems = field_problems(want, got)
        for name in FIELDS:
            if name not in problems:
                s.field_right[name] += 1
        # a class counts as read when the start (and, for zone words, the zone) is right
        for c in classes:
            if "start" not in problems and "all_day" not in problems and (c != "zone" or "zone" not in problems) \
                    and (c != "multiday" or "end" not in problems):
                s.class_events[c][1] += 1
        if problems:
            s.wrong.append(f"{item['id']}: " + "; ".join(problems.values()))
        else:
            s.exact += 1
    s.seconds = _time.perf_counter() - began
    return s


def report(s: Score, verbose: bool = True) -> str:
    lines = [
        f"[{s.part}] {s.posts} posts: detection precision {s.precision:.3f}  recall {s.recall:.3f}  "
        f"(tp {s.tp}, fp {s.fp}, fn {s.fn}, tn {s.tn});  exact reading {s.exact}/{s.tp + s.fn} "
        f"= {s.exact_accuracy:.3f}  ({s.seconds * 1000 / max(s.posts, 1):.1f} ms/post)",
        "  fields right among detected events: " + ", ".join(
            f"{k} {v}/{s.tp}" for k, v in s.field_right.items()),
        "  class recall (start right; zone words: zone too; multi-day: end too): " + ", ".join(
            f"{c} {s.class_events[c][1]}/{s.class_events[c][0]}" for c in EVENT_CLASSES if c in s.class_events),
        "  non-events published, by class: " + ", ".join(
            f"{c} {s.class_published[c][1]}/{s.class_published[c][0]}" for c in NON_EVENT_CLASSES
            if c in s.class_published),
    ]
    if verbose:
        lines += [f"    wrong: {w}" for w in s.wrong]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The date libraries, read on the same text


def _library_text(item: dict) -> str:
    from sources.parse.prose import strip_quotes
    from sources.parse.prose.text import is_reply

    post, _ = post_of(item)
    return f"{post.subject}\n{strip_quotes(post.body, reply=is_reply(post.subject))}"


def _read_dateparser(text: str, sent_local: datetime) -> datetime | None:
    from dateparser.search import search_dates

    found = search_dates(text, languages=["en", "fr", "de", "es"], settings={
        "RELATIVE_BASE": sent_local.replace(tzinfo=None), "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False}) or []
    return _first_future([d for _, d in found], sent_local)


def _read_datefinder(text: str, sent_local: datetime) -> datetime | None:
    import datefinder

    try:
        found = list(datefinder.find_dates(text, base_date=sent_local.replace(tzinfo=None)))
    except Exception:  # datefinder raises on some strings (overflowing numbers); count as nothing read
        found = []
    return _first_future(found, sent_local)


def _read_ctparse(text: str, sent_local: datetime) -> datetime | None:
    import logging

    from ctparse import ctparse
    from ctparse.types import Interval, Time

    logging.getLogger("ctparse").setLevel(logging.ERROR)  # it logs every text it finds nothing in

    parsed = ctparse(text[:600], ts=sent_local.replace(tzinfo=None), timeout=1.0)
    if parsed is None:
        return None
    res = parsed.resolution
    if isinstance(res, Interval):
        res = res.t_from
    if not isinstance(res, Time) or res.year is None or res.month is None or res.day is None:
        return None
    return datetime(res.year, res.month, res.day, res.hour or 0, res.minute or 0)


def _first_future(found: list[datetime], sent_local: datetime) -> datetime | None:
    floor = sent_local.replace(tzinfo=None) - timedelta(days=1)
    for value in found:
        if isinstance(value, datetime) and value.replace(tzinfo=None) >= floor:
            return value.replace(tzinfo=None)
    return None


LIBRARIES = {"dateparser": _read_dateparser, "datefinder": _read_datefinder, "ctparse": _read_ctparse}


def compare_libraries(parts: list[str]) -> list[str]:
    """Each library's and the grammar's start on every labelled event (local wall time, or the day)."""
    lines = []
    for part in parts:
        items = load(part)
        events = [i for i in items if i["expect"]["event"]]
        rows = {}
        for name, reader in [("grammar (prose)", None), *LIBRARIES.items()]:
            right = detected = nonevent_dates = 0
            by_class: dict[str, list[int]] = {}
            began = _time.perf_counter()
            for item in items:
                want = expected(item)
                post, zone = post_of(item)
                sent_local = post.sent.astimezone(zone)
                if reader is None:
                    got_event = published(item)
                    got = got_event.start if got_event else None
                    if isinstance(got, datetime):
                        got = got.astimezone(ZoneInfo(want.zones[0])) if want.event else got
                        got = got.replace(tzinfo=None)
                else:
                    try:
                        got = reader(_library_text(item), sent_local)
                    except Exception as e:  # a library crashing on a post counts as nothing read
                        got = None
                        lines.append(f"  {name} raised {type(e).__name__} on {item['id']}")
                if not want.event:
                    nonevent_dates += got is not None
                    continue
                detected += got is not None
                ok = False
                if got is not None:
                    if want.all_day:
                        ok = (got.date() if isinstance(got, datetime) else got) == want.start
                    else:
                        ok = isinstance(got, datetime) and got == want.start.replace(tzinfo=None)
                right += ok
                for c in item.get("classes", []):
                    if c in EVENT_CLASSES:
                        by_class.setdefault(c, [0, 0])
                        by_class[c][0] += 1
                        by_class[c][1] += ok
            rows[name] = (right, detected, nonevent_dates, by_class, _time.perf_counter() - began)
        lines.append(f"[{part}] start read right (local wall time, or the day when all-day), of {len(events)} events; "
                     f"and non-events given a future date, of {len(items) - len(events)}:")
        for name, (right, detected, nonevent_dates, by_class, seconds) in rows.items():
            classes = ", ".join(f"{c} {v[1]}/{v[0]}" for c, v in sorted(by_class.items()))
            lines.append(f"  {name:16} {right:3}/{len(events)} right ({detected} dated); non-events dated "
                         f"{nonevent_dates}/{len(items) - len(events)};  {classes};  "
                         f"{seconds * 1000 / len(items):.1f} ms/post")
    return lines
