"""The yardstick: the simplest reader a programmer would write for the same farm.

    .venv/bin/python -m benchmarks.naive FARM_DIR/sources.yaml [--json]

One process, one source after another, one request after another, no cache, built from the
core libraries every such script reaches for: requests (HTTP), BeautifulSoup (pages: JSON-LD
blocks, CSS selectors, followed links), feedparser (RSS), icalendar (calendars, RRULEs expanded
with dateutil) and the standard library's email and mailbox (mbox, Maildir). Dates in prose
("When: Tuesday, March 3, 2026 at 6:30 PM") are read with dateutil's parser.

It does what massage-events does up to the records, and no more: it neither merges nor
publishes, keeps no database and sends no conditional requests, so every figure of a run
(wall, CPU, requests) can be stated as a ratio to it (benchmarks/run.py measures both in one
run). It reads what the farm writes, not the world: it is a yardstick, not a product.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import mailbox
import re
import resource
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import requests
import yaml
from bs4 import BeautifulSoup
from dateutil import parser as date_parser
from dateutil.rrule import rrulestr

UTC = timezone.utc
_WHEN = re.compile(r"When:\s*(.+?)(?:\s+to\s+(\d{1,2}:\d{2}\s*[AP]M))?\s*$", re.M | re.I)
_WHERE = re.compile(r"Where:\s*(.+?)\s*$", re.M | re.I)


def _aware(value, zone: ZoneInfo):
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return value


def _prose(text: str, zone: ZoneInfo) -> tuple[datetime | None, datetime | None, str | None]:
    """Start, end and place from "When: ... / Where: ..." lines."""
    when = _WHEN.search(text)
    if not when:
        return None, None, None
    try:
        start = date_parser.parse(when.group(1).replace(" at ", " "), fuzzy=True)
    except (ValueError, OverflowError):
        return None, None, None
    start = start.replace(tzinfo=zone)
    end = None
    if when.group(2):
        end_time = date_parser.parse(when.group(2))
        end = start.replace(hour=end_time.hour, minute=end_time.minute)
    where = _WHERE.search(text)
    return start, end, where.group(1) if where else None


def read_ical(session: requests.Session, source: dict, window: tuple[datetime, datetime]) -> list[dict]:
    zone = ZoneInfo(source.get("timezone") or "UTC")
    calendar = icalendar.Calendar.from_ical(session.get(source["url"], timeout=30).content)
    out = []
    for vevent in calendar.walk("VEVENT"):
        start = _aware(vevent.decoded("dtstart"), zone)
        end = _aware(vevent.decoded("dtend"), zone) if "dtend" in vevent else None
        uid = str(vevent.get("uid"))
        starts = [start]
        if "rrule" in vevent and isinstance(start, datetime):
            rule = rrulestr(vevent["rrule"].to_ical().decode(), dtstart=start)
            starts = rule.between(window[0], window[1], inc=True)
        for occurrence in starts:
            out.append({"source": source["id"], "external_id": uid if occurrence == start else
                        f"{uid}#{occurrence:%Y%m%dT%H%M%S}", "title": str(vevent.get("summary", "")),
                        "start": occurrence, "end": end and occurrence + (end - start),
                        "location": str(vevent.get("location", "")) or None, "url": str(vevent.get("url", "")) or None})
    return out


def _jsonld_events(soup: BeautifulSoup, source: dict) -> list[dict]:
    out = []
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or "")
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict) or item.get("@type") != "Event":
                continue
            place = item.get("location") or {}
            address = place.get("address") or {} if isinstance(place, dict) else {}
            location = ", ".join(x for x in (place.get("name"), address.get("streetAddress"),
                                             address.get("addressLocality"), address.get("addressRegion"))
                                 if x) if isinstance(place, dict) else None
            out.append({"source": source["id"], "external_id": item.get("url") or item.get("@id"),
                        "title": item.get("name", ""), "start": datetime.fromisoformat(item["startDate"]),
                        "end": datetime.fromisoformat(item["endDate"]) if item.get("endDate") else None,
                        "location": location, "url": item.get("url")})
    return out


def read_jsonld(session: requests.Session, source: dict, window) -> list[dict]:
    response = session.get(source["url"], timeout=30)
    soup = BeautifulSoup(response.text, "lxml")
    out = _jsonld_events(soup, source)
    if source.get("follow"):
        for link in soup.select(source["follow"]):
            page = session.get(urljoin(response.url, link["href"]), timeout=30)
            out += _jsonld_events(BeautifulSoup(page.text, "lxml"), source)
    return out


def read_html(session: requests.Session, source: dict, window) -> list[dict]:
    zone = ZoneInfo(source.get("timezone") or "UTC")
    response = session.get(source["url"], timeout=30)
    soup = BeautifulSoup(response.text, "lxml")
    sel = source["selectors"]
    out = []
    for card in soup.select(sel["event"]):
        title = card.select_one(sel["title"])
        when = card.select_one(sel["start"])
        if title is None or when is None:
            continue
        text = when.get_text(" ", strip=True)
        try:
            start = date_parser.parse(text.replace(" at ", " "), fuzzy=True)
        except (ValueError, OverflowError):
            continue
        link_sel, _, attr = sel.get("link", "a@href").partition("@")
        link = card.select_one(link_sel)
        where = card.select_one(sel.get("location", ".where"))
        url = urljoin(response.url, link.get(attr or "href")) if link is not None else None
        out.append({"source": source["id"], "external_id": url, "title": title.get_text(" ", strip=True),
                    "start": _aware(start, zone), "end": None,
                    "location": where.get_text(" ", strip=True) if where is not None else None, "url": url})
    return out


def read_rss(session: requests.Session, source: dict, window) -> list[dict]:
    zone = ZoneInfo(source.get("timezone") or "UTC")
    feed = feedparser.parse(session.get(source["url"], timeout=30).content)
    out = []
    for entry in feed.entries:
        text = BeautifulSoup(entry.get("description", ""), "lxml").get_text("\n")
        start, end, where = _prose(text, zone)
        if start is None:
            continue
        out.append({"source": source["id"], "external_id": entry.get("id") or entry.get("link"),
                    "title": entry.get("title", ""), "start": start, "end": end, "location": where,
                    "url": entry.get("link")})
    return out


def _messages_to_records(messages, source: dict) -> list[dict]:
    zone = ZoneInfo(source.get("timezone") or "UTC")
    out = []
    for message in messages:
        part = message.get_body(("plain", "html")) if hasattr(message, "get_body") else message
        text = part.get_content() if part is not None else ""
        start, end, where = _prose(text, zone)
        if start is None:
            continue
        out.append({"source": source["id"], "external_id": str(message["Message-ID"] or "").strip("<>"),
                    "title": str(message["Subject"] or ""), "start": start, "end": end, "location": where,
                    "url": None})
    return out


def read_mbox(session: requests.Session, source: dict, window) -> list[dict]:
    content = session.get(source["url"], timeout=30).content
    chunks = re.split(rb"(?m)^From [^\n]*\n", content)
    messages = [email.message_from_bytes(c, policy=email.policy.default) for c in chunks if c.strip()]
    return _messages_to_records(messages, source)


def read_maildir(session: requests.Session, source: dict, window) -> list[dict]:
    box = mailbox.Maildir(source["url"], factory=None, create=False)
    messages = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.iterkeys()]
    return _messages_to_records(messages, source)


READERS = {"ical": read_ical, "jsonld": read_jsonld, "html": read_html, "rss": read_rss, "mbox": read_mbox,
           "maildir": read_maildir}


def read_all(config_path: Path, now: datetime | None = None) -> dict:
    """Read every source of a farm's sources.yaml in turn; what it cost and what it read."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    now = now or datetime.now(UTC)
    horizon = config.get("calendar", {}).get("horizon_days", 365)
    window = (now - timedelta(days=30), now + timedelta(days=horizon))
    records: list[dict] = []
    failed: dict[str, str] = {}
    cpu_by_type: dict[str, float] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with requests.Session() as session:
        session.headers["User-Agent"] = "naive-reader/1 (massage-events benchmark)"
        for source in config["sources"]:
            reader = READERS.get(source["type"])
            if reader is None:
                failed[source["id"]] = f"no naive reader for type {source['type']}"
                continue
            began = time.process_time()
            try:
                records += reader(session, source, window)
            except Exception as error:  # noqa: BLE001 - a yardstick notes a failure and goes on
                failed[source["id"]] = f"{type(error).__name__}: {error}"
            cpu_by_type[source["type"]] = cpu_by_type.get(source["type"], 0.0) + time.process_time() - began
    return {"wall_s": round(time.perf_counter() - wall0, 3), "cpu_s": round(time.process_time() - cpu0, 3),
            "sources": len(config["sources"]), "sources_failed": len(failed), "failures": dict(list(failed.items())[:5]),
            "records": len(records), "cpu_s_by_type": {k: round(v, 3) for k, v in sorted(cpu_by_type.items())},
            "_records": records}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.naive", description=__doc__.split("\n\n")[0])
    p.add_argument("config", type=Path, help="a farm's sources.yaml (benchmarks/serve_farm.py writes one)")
    p.add_argument("--now", type=datetime.fromisoformat, default=None, help="the farm's today (ISO date-time)")
    p.add_argument("--json", action="store_true", help="print the measurement as one JSON object")
    args = p.parse_args(argv)
    result = read_all(args.config, args.now)
    records = result.pop("_records")
    own = resource.getrusage(resource.RUSAGE_SELF)
    result["process_cpu_s"] = round(own.ru_utime + own.ru_stime, 3)  # imports included
    result["records_by_type"] = {}
    for r in records:
        kind = r["source"].split("-")[1] if r["source"].count("-") >= 2 else "?"
        result["records_by_type"][kind] = result["records_by_type"].get(kind, 0) + 1
    if args.json:
        result["extracted"] = [[r["source"], r["external_id"], r["title"], r["start"].isoformat()
                                if isinstance(r["start"], (date, datetime)) else r["start"], r["url"]]
                               for r in records]
        print(json.dumps(result))
    else:
        print(f"naive reader: {result['records']} records from {result['sources']} sources "
              f"({result['sources_failed']} failed) in {result['wall_s']:.2f} s wall, {result['cpu_s']:.2f} s CPU; "
              f"CPU by type: {result['cpu_s_by_type']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
