"""type "jsonld": schema.org Events embedded in web pages.

Reads every schema.org Event (and subtype: EducationEvent, SocialEvent,
BusinessEvent, MusicEvent...) a page states, in any of the three syntaxes pages
use: JSON-LD (single objects, arrays, @graph, ItemList, events nested in other
things), microdata, and h-event / hCalendar microformats. Parsing is done by
extruct (JSON-LD, microdata) and mf2py (microformats), from the fetched bytes:
neither ever fetches anything itself.

    - id: chi-meetup
      type: jsonld
      url: https://example.org/g/events/
      follow: "a.event-link"    # optional: links of event pages to read too
      follow_limit: 50          # optional: at most this many of them

A page with no events yields none; a body that is not a web page at all
(empty, binary, a feed) is a ParseError.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from functools import lru_cache
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import jstyleson
import lxml.etree
import lxml.html
import soupsieve
from bs4 import BeautifulSoup
from dateutil.rrule import (
    DAILY,
    FR,
    MO,
    MONTHLY,
    SA,
    SU,
    TH,
    TU,
    WE,
    WEEKLY,
    YEARLY,
    rrule,
)
from pydantic import Field, field_validator

from aggregator.errors import ParseError, SourceError
from aggregator.model import RawEvent, Status, Window
from aggregator.timezones import resolve_zone
from sources.base import AUTHORITY_STRUCTURED_PAGE, Fetched, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse import tree as html_tree
from sources.parse.dates import parse_iso, parse_when
from sources.parse.pages import (
    absolute,
    check_page,
    page_date,
    settle_ids,
    start_key,
    text_hash,
)

log = logging.getLogger(__name__)

ACCEPT = "text/html,application/xhtml+xml;q=0.9,application/ld+json;q=0.8,*/*;q=0.5"
_NOT_EVENTS = {"EventSeries", "EventVenue", "EventReservation", "EventStatusType", "EventAttendanceModeEnumeration"}


class JsonLdOptions(SourceOptions):
    follow: str | None = Field(None, description="CSS selector of links to event pages to fetch too")
    follow_limit: int = Field(50, ge=1, le=1000, description="at most this many followed pages")

    @field_validator("follow")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("follow is empty; write a CSS selector such as \"a.event-link\"")
        try:
            soupsieve.compile(value)
        except Exception as e:  # soupsieve.SelectorSyntaxError and friends
            raise ValueError(f'follow "{value}" is not a valid CSS selector ({_first_line(e)})') from None
        return value


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


# ---------------------------------------------------------------- extraction


def _type_names(thing: dict) -> list[str]:
    value = thing.get("@type", thing.get("type"))
    values = value if isinstance(value, list) else [value]
    return [_type_name(v) for v in values if isinstance(v, str) and v]


@lru_cache(maxsize=512)  # a few type names, asked for at every node of every page
def _type_name(value: str) -> str:
    """ "https://schema.org/Event" -> "Event"."""
    return re.split(r"[/#:]", value.strip())[-1]


def is_event(thing: Any) -> bool:
    if not isinstance(thing, dict):
        return False
    return any(n.endswith("Event") and n not in _NOT_EVENTS for n in _type_names(thing))


def _walk(node: Any, found: list[dict], depth: int = 0) -> None:
    """Every Event object at any depth: @graph, ItemList, arrays, events of an Organization..."""
    if depth > 40:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, found, depth + 1)
        return
    if not isinstance(node, dict):
        return
    if is_event(node):
        found.append(node)
    for key, value in node.items():
        if key in ("superEvent", "@context"):
            continue  # the festival a workshop belongs to is not one of the page's events
        if isinstance(value, (dict, list)):
            _walk(value, found, depth + 1)


_LD_SCRIPTS = lxml.etree.XPath('//script[translate(@type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", '
                               '"abcdefghijklmnopqrstuvwxyz")="application/ld+json"]')


def _readings(script: str) -> Iterator[str]:
    """The script as written, then without comment lines, then unescaped: each made only when needed."""
    yield script
    yield re.sub(r"^\s*(//.*|<!--.*-->)\s*$", "", script, flags=re.M)
    yield html.unescape(script)


def _jsonld_blocks(tree) -> list[Any]:
    blocks = []
    for node in _LD_SCRIPTS(tree):
        script = node.text_content() if hasattr(node, "text_content") else node.xpath("string()")
        script = (script or "").strip()
        if not script:
            continue
        for attempt in _readings(script):
            try:
                blocks.append(json.loads(attempt, strict=False))
                break
            except ValueError:
                try:
                    blocks.append(jstyleson.loads(attempt, strict=False))
                    break
                except Exception:  # noqa: BLE001 - jstyleson raises many kinds
                    continue
        else:
            log.warning("a JSON-LD block could not be read; skipped")
    return blocks


def _microdata_to_jsonld(item: Any) -> Any:
    """extruct's microdata item {"type", "properties"} as a JSON-LD-like dict."""
    if isinstance(item, list):
        return [_microdata_to_jsonld(i) for i in item]
    if not isinstance(item, dict):
        return item
    if "properties" in item or "type" in item:
        out: dict[str, Any] = {}
        types = item.get("type")
        if types:
            out["@type"] = types
        if item.get("id"):
            out["@id"] = item["id"]
        for key, value in (item.get("properties") or {}).items():
            out[key] = _microdata_to_jsonld(value)
        if "value" in item and "name" not in out:
            out["name"] = item["value"]
        return out
    return item


def _microdata(tree, base_url: str) -> list[Any]:
    from extruct.w3cmicrodata import MicrodataExtractor

    try:
        return [_microdata_to_jsonld(i) for i in MicrodataExtractor().extract_items(tree, base_url)]
    except Exception as e:  # noqa: BLE001 - a broken microdata tree must not sink the page
        log.warning("microdata could not be read (%s); skipped", e)
        return []


_EVENT_ROOTS = lxml.etree.XPath(
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' h-event ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' vevent ')]")


def _event_fragments(tree) -> str | None:
    """Only the h-event / vevent elements of a page, as a small document for mf2py.

    mf2py's hCalendar back-compat copies the whole tree for each rule; handing it just the
    event elements (with everything nested in them) reads a 30 KB page in milliseconds
    instead of a second. None when there are none (or a fragment cannot be serialized).
    """
    roots = _EVENT_ROOTS(tree)
    outer = [r for r in roots if not any(a in roots for a in r.iterancestors())]
    if not outer or len(outer) > 2000:
        return None
    try:
        parts = [lxml.html.tostring(r, encoding="unicode") for r in outer]
    except (ValueError, TypeError):
        return None
    return "<!DOCTYPE html><html><body>" + "\n".join(parts) + "</body></html>"


def _hevents(text: str, base_url: str) -> list[dict]:
    import mf2py  # here: only pages with microformats need it, and a run that parses nothing never does

    try:
        parsed = mf2py.parse(doc=text, url=base_url or None, html_parser="lxml", metaformats=False)
    except Exception as e:  # noqa: BLE001
        log.warning("microformats could not be read (%s); skipped", e)
        return []
    found: list[dict] = []

    def walk(items: list, depth: int = 0) -> None:
        for item in items or []:
            if not isinstance(item, dict) or depth > 20:
                continue
            if "h-event" in item.get("type", []):
                found.append(_hevent_to_jsonld(item))
            walk(item.get("children", []), depth + 1)
            for values in (item.get("properties") or {}).values():
                walk([v for v in values if isinstance(v, dict) and "type" in v], depth + 1)

    walk(parsed.get("items", []))
    return found


def _mf_value(values: Any) -> Any:
    if not values:
        return None
    value = values[0] if isinstance(values, list) else values
    if isinstance(value, dict):
        if "html" in value and "type" not in value:
            return value.get("html") or value.get("value")
        return value
    return value


def _hevent_to_jsonld(item: dict) -> dict:
    props = item.get("properties") or {}
    out: dict[str, Any] = {"@type": "Event", "_syntax": "h-event"}
    out["name"] = _mf_value(props.get("name"))
    out["startDate"] = _mf_value(props.get("start"))
    out["endDate"] = _mf_value(props.get("end"))
    url = _mf_value(props.get("url"))
    out["url"] = url.get("value") if isinstance(url, dict) else url
    description = _mf_value(props.get("description")) or _mf_value(props.get("summary"))
    content = _mf_value(props.get("content"))
    if isinstance(description, dict):
        description = description.get("value")
    if not description and content:
        description = content.get("html") if isinstance(content, dict) else content
    out["description"] = description
    loc = _mf_value(props.get("location"))
    if isinstance(loc, dict):
        p = loc.get("properties") or {}
        name = _mf_value(p.get("name")) or loc.get("value")
        address = {"streetAddress": _mf_value(p.get("street-address")),
                   "addressLocality": _mf_value(p.get("locality")),
                   "addressRegion": _mf_value(p.get("region")),
                   "postalCode": _mf_value(p.get("postal-code"))}
        adr = _mf_value(p.get("adr"))
        if isinstance(adr, dict):
            ap = adr.get("properties") or {}
            address = {"streetAddress": _mf_value(ap.get("street-address")),
                       "addressLocality": _mf_value(ap.get("locality")),
                       "addressRegion": _mf_value(ap.get("region")),
                       "postalCode": _mf_value(ap.get("postal-code"))}
        out["location"] = {"@type": "Place", "name": name, "address": address}
    else:
        out["location"] = loc
    categories = props.get("category") or []
    out["keywords"] = [c for c in categories if isinstance(c, str)]
    return {k: v for k, v in out.items() if v not in (None, "", [])}


def _mentions_itemscope(text: str) -> bool:
    """re.search(r"\bitemscope\b", text, re.I), the case-blind scan (most of the cost on a small page)
    skipped where the word is not there: for ASCII text, its lowercase must hold it."""
    if text.isascii() and "itemscope" not in text.lower():
        return False
    return re.search(r"\bitemscope\b", text, re.I) is not None


def extract_events(page_text: str, base_url: str) -> list[dict]:
    """Every schema.org Event the page states, as JSON-LD-like dicts (JSON-LD, then microdata, then h-event).

    Raises ParseError only when the text cannot be parsed as HTML at all.
    """
    body = page_text.encode("utf-8", "surrogatepass")
    stripped = page_text.strip()
    found: list[dict] = []
    if stripped[:1] in ("{", "["):  # served as application/ld+json itself
        try:
            _walk(json.loads(stripped, strict=False), found)
            return found
        except ValueError:
            pass
    try:
        tree = lxml.html.fromstring(body, parser=lxml.html.HTMLParser(encoding="utf-8", recover=True))
    except (lxml.etree.ParserError, ValueError) as e:
        raise ParseError(f"the page cannot be parsed as HTML ({_first_line(e)})", reason="not_a_page") from None
    for block in _jsonld_blocks(tree):
        _walk(block, found)
    if _mentions_itemscope(page_text):
        for item in _microdata(tree, base_url):
            _walk(item, found)
    if not found and ("h-event" in page_text or "vevent" in page_text) \
            and re.search(r"\b(h-event|vevent)\b", page_text):
        found.extend(_hevents(_event_fragments(tree) or page_text, base_url))
    return found


# ---------------------------------------------------------------- mapping to RawEvent


def _first(value: Any) -> Any:
    while isinstance(value, list):
        value = value[0] if value else None
    return value


def _text(value: Any) -> str | None:
    if type(value) is str:  # most values: a plain string (the general way below gives the same)
        text = (html.unescape(value) if "&" in value else value).strip()
        return text or None
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("@value", value.get("name", value.get("value")))
        value = _first(value)
    if value is None or isinstance(value, (dict, list)):
        return None
    text = html.unescape(str(value)).strip()
    return text or None


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        t = _text(item.get("name") if isinstance(item, dict) else item)
        if t and t not in out:
            out.append(t)
    return out


def _address(addr: Any) -> str | None:
    addr = _first(addr)
    if isinstance(addr, str):
        return html.unescape(addr).strip() or None
    if not isinstance(addr, dict):
        return None
    locality_region = " ".join(p for p in (_text(addr.get("addressRegion")), _text(addr.get("postalCode"))) if p)
    parts = [_text(addr.get("streetAddress")), _text(addr.get("addressLocality")), locality_region or None]
    country = _text(addr.get("addressCountry"))
    if country and len(country) > 3:
        parts.append(country)
    return ", ".join(p for p in parts if p) or None


def _place(place: Any) -> tuple[str | None, str | None]:
    """(text of a physical place, URL of a virtual one)."""
    if isinstance(place, str):
        text = html.unescape(place).strip()
        if re.match(r"https?://", text):
            return None, text
        return text or None, None
    if not isinstance(place, dict):
        return None, None
    names = _type_names(place)
    if "VirtualLocation" in names:
        return None, _text(place.get("url"))
    name = _text(place.get("name"))
    address = _address(place.get("address"))
    if name and address and address.lower().startswith(name.lower()):
        name = None
    text = ", ".join(p for p in (name, address) if p) or None
    return text, None


def _location(event: dict, base: str) -> tuple[str | None, bool]:
    """(location text, is online)."""
    places = event.get("location")
    places = places if isinstance(places, list) else [places]
    physical, virtual = [], []
    for place in places:
        text, url = _place(place)
        if text:
            physical.append(text)
        if url:
            virtual.append(absolute(url, base) or url)
    mode = str(_first(event.get("eventAttendanceMode")) or "")
    online = mode.endswith("OnlineEventAttendanceMode") or (bool(virtual) and not physical)
    if online:
        return (virtual[0] if virtual else (physical[0] if physical else "Online")), True
    text = physical[0] if physical else None
    if virtual and text:
        text += f" (also online: {virtual[0]})"
    return text, False


def _amount(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(re.sub(r"[^\d.]", "", text.replace(",", "")) or "nan")
    except ValueError:
        return None


def _price(offers: Any) -> str | None:
    """What it costs, from Offer / AggregateOffer (a list of them: the cheapest to the dearest)."""
    items = offers if isinstance(offers, list) else [offers]
    amounts: list[tuple[float, str, str]] = []
    for offer in items:
        if not isinstance(offer, dict):
            continue
        currency = (_text(offer.get("priceCurrency")) or "").upper()
        for key in ("price", "lowPrice", "highPrice"):
            text = _text(offer.get(key))
            value = _amount(text)
            if text is not None and value is not None and value == value:  # not NaN
                amounts.append((value, text, currency))
        if not amounts and _text(offer.get("price")):
            return _text(offer.get("price"))  # "Free", "Donation": as written
    if not amounts:
        return None
    low, high = min(amounts), max(amounts)

    def show(amount: tuple[float, str, str]) -> str:
        value, text, currency = amount
        if value == 0:
            return "Free"
        return ("$" + text if currency in ("USD", "") and not text.startswith("$") else f"{currency} {text}").strip()

    if low[0] == high[0]:
        return show(low)
    return f"{show(low)}–{show(high)}" if low[0] else f"Free–{show(high)}"


def _status(event: dict) -> tuple[Status, str | None]:
    value = str(_first(event.get("eventStatus")) or "")
    name = re.split(r"[/#:]", value)[-1]
    if name == "EventCancelled":
        return Status.CANCELLED, None
    if name == "EventPostponed":
        return Status.TENTATIVE, "Postponed: a new date is to be announced."
    if name == "EventRescheduled":
        previous = _text(event.get("previousStartDate"))
        note = "Rescheduled" + (f" (it was planned for {previous})." if previous else ".")
        return Status.TENTATIVE, note
    if name == "EventMovedOnline":
        return Status.CONFIRMED, "Moved online."
    return Status.CONFIRMED, None


def _time(value: Any, zone_name: str | None, reference: date):
    text = _text(value)
    if not text:
        return None
    parsed = parse_iso(text)
    if parsed is None:
        when = parse_when(text, reference=reference)
        parsed = when.start if when else None
    if isinstance(parsed, datetime):
        zone = resolve_zone(zone_name) if zone_name else None
        if parsed.tzinfo is None:
            if zone is not None:
                parsed = parsed.replace(tzinfo=zone)
        elif zone is not None and not isinstance(parsed.tzinfo, ZoneInfo):
            # A bare offset (or Z) names no zone: the same instant, shown in the source's zone.
            parsed = parsed.astimezone(zone)
    return parsed


def to_raw_event(event: dict, base: str, zone_name: str | None, reference: date) -> RawEvent | Skipped:
    """One schema.org Event dict as a RawEvent (external_id is provisional: see `read_page`)."""
    title = _text(event.get("name")) or _text(event.get("headline")) or _text(event.get("summary"))
    if not title:
        return Skipped(item=_text(event.get("url")) or "an event without a name", reason="no title found")
    start = _time(event.get("startDate"), zone_name, reference)
    if start is None:
        return Skipped(item=title, reason="no date found")
    end = _time(event.get("endDate"), zone_name, reference)
    if isinstance(start, datetime) and isinstance(end, date) and not isinstance(end, datetime):
        end = None if end <= start.date() else datetime.combine(end, start.timetz())
    elif not isinstance(start, datetime) and end is not None:
        # schema.org's endDate is the last day; the calendar's end is the day after (iCalendar DTEND)
        last = end.date() if isinstance(end, datetime) else end
        end = last + timedelta(days=1) if last > start else None
    if end is not None and isinstance(start, datetime) and isinstance(end, datetime):
        if (start.tzinfo is None) != (end.tzinfo is None) or end < start:
            end = None

    url = absolute(_text(event.get("url")), base)
    ident = _text(event.get("@id"))
    ident = absolute(ident, base) if ident and not ident.startswith("_:") else None
    location, online = _location(event, base)
    status, note = _status(event)

    lines = []
    if note:
        lines.append(note)
    description = _text(event.get("description"))
    if description:
        lines.append(description)
    organizers = _names(event.get("organizer"))
    if organizers:
        lines.append("Organizer: " + ", ".join(organizers))
    price = _price(event.get("offers"))
    if price or event.get("isAccessibleForFree") in (True, "true", "True"):
        lines.append("Price: " + (price or "Free"))
    if online and location and location != "Online":
        lines.append(f"Online: {location}")

    extra: dict[str, str] = {}
    image = _first(event.get("image"))
    image = image.get("url") if isinstance(image, dict) else image
    image = absolute(_text(image), base)
    if image:
        extra["image"] = image
    if organizers:
        extra["organizer"] = ", ".join(organizers)
    if price:
        extra["price"] = price
    extra["syntax"] = str(event.get("_syntax", "schema.org"))
    extra["type"] = (_type_names(event) or ["Event"])[0]

    keywords = event.get("keywords")
    if isinstance(keywords, str):
        keywords = [k for k in re.split(r"\s*,\s*", keywords) if k]
    tags = tuple(str(k).strip() for k in (keywords or []) if isinstance(k, str) and k.strip())[:10]

    key = ident or url or text_hash(title, start.isoformat())
    return RawEvent(external_id=key, title=title, start=start, end=end,
                    timezone=None,
                    location=location, url=url or (ident if ident and ident.startswith("http") and "#" not in ident
                                                   else None),
                    description="\n\n".join(lines) or None, status=status, tags=tags, extra=extra)


def read_page(page: Fetched, zone_name: str | None, source_id: str | None = None,
              window: Window | None = None) -> list[RawEvent | Skipped]:
    """Every event (or Skipped) of one fetched page, with external ids unique within it."""
    if not _is_json_document(page):  # a bare JSON-LD document (application/ld+json) is read as is
        check_page(page, source_id)
    try:
        found = extract_events(page.text, page.url)
    except ParseError as e:
        e.source_id = source_id
        raise
    reference = page_date(page)
    items: list[RawEvent | Skipped] = []
    for event in found:
        if event.get("eventSchedule") and window is not None:
            items += _schedule_events(event, page.url, zone_name, reference, window)
        else:
            items.append(to_raw_event(event, page.url, zone_name, reference))
    return settle_ids(items)


# ---------------------------------------------------------------- eventSchedule (repeating events)

_FREQ_WORDS = {"daily": (DAILY, 1), "weekly": (WEEKLY, 1), "monthly": (MONTHLY, 1), "yearly": (YEARLY, 1),
               "annually": (YEARLY, 1), "biweekly": (WEEKLY, 2), "fortnightly": (WEEKLY, 2)}
_DAYS = {"monday": MO, "tuesday": TU, "wednesday": WE, "thursday": TH, "friday": FR, "saturday": SA, "sunday": SU}
MAX_OCCURRENCES = 500


def _frequency(value: Any) -> tuple[int, int] | None:
    text = (_text(value) or "").strip()
    if text.lower().split("/")[-1] in _FREQ_WORDS:
        return _FREQ_WORDS[text.lower().split("/")[-1]]
    m = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", text.upper())
    if not m or not any(m.groups()):
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in m.groups())
    for amount, freq in ((years, YEARLY), (months, MONTHLY), (weeks, WEEKLY), (days, DAILY)):
        if amount:
            return freq, amount
    return None


def _clock(value: Any) -> tuple[int, int] | None:
    m = re.match(r"(\d{1,2}):(\d{2})", _text(value) or "")
    return (int(m.group(1)), int(m.group(2))) if m and int(m.group(1)) < 24 and int(m.group(2)) < 60 else None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else ([] if value is None else [value])


def _schedule_events(event: dict, base: str, zone_name: str | None, reference: date,
                     window: Window) -> list[RawEvent | Skipped]:
    """A schema.org Event with an eventSchedule, expanded into one record per occurrence in the window."""
    title = _text(event.get("name")) or "an event"
    out: list[RawEvent | Skipped] = []
    for schedule in _as_list(event.get("eventSchedule")):
        if not isinstance(schedule, dict):
            continue
        freq = _frequency(schedule.get("repeatFrequency"))
        first = _time(schedule.get("startDate") or event.get("startDate"), None, reference)
        if freq is None or first is None:
            out.append(Skipped(item=title, reason="repeating event with a schedule we cannot read"))
            continue
        zone = resolve_zone(_text(schedule.get("scheduleTimezone")) or zone_name or "UTC")
        day = first.date() if isinstance(first, datetime) else first
        at = _clock(schedule.get("startTime")) or ((first.hour, first.minute) if isinstance(first, datetime)
                                                    else None)
        until = _time(schedule.get("endDate"), None, reference)
        until_day = until.date() if isinstance(until, datetime) else until
        byweekday = []
        week = _text(schedule.get("byMonthWeek"))
        bymonthday = [int(x) for x in _as_list(schedule.get("byMonthDay")) if str(x).lstrip("-").isdigit()]
        bymonth = [int(x) for x in _as_list(schedule.get("byMonth")) if str(x).isdigit()]
        count = schedule.get("repeatCount")
        start_dt = datetime.combine(day, dt_time(*at)) if at else datetime.combine(day, dt_time(0))
        try:  # dateutil refuses what schema.org allows to be written: byMonthWeek 0, byMonth 13, ...
            for d in _as_list(schedule.get("byDay")):
                name = (_text(d) or "").split("/")[-1].lower()
                if name in _DAYS:
                    byweekday.append(_DAYS[name](int(week)) if week and week.lstrip("-").isdigit() else _DAYS[name])
            rule = rrule(freq[0], interval=freq[1], dtstart=start_dt,
                         until=datetime.combine(until_day, dt_time(23, 59)) if until_day else None,
                         count=int(count) if isinstance(count, int) or str(count).isdigit() else None,
                         byweekday=byweekday or None, bymonthday=bymonthday or None, bymonth=bymonth or None)
        except (ValueError, OverflowError) as e:
            out.append(Skipped(item=title, reason=f"repeating event with a schedule we cannot read ({e})"))
            continue
        except_days = set()
        for x in _as_list(schedule.get("exceptDate")):
            parsed = _time(x, None, reference)
            if parsed is not None:
                except_days.add(parsed.date() if isinstance(parsed, datetime) else parsed)
        end_clock = _clock(schedule.get("endTime"))
        lo = window.start.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        hi = window.end.astimezone(zone).replace(tzinfo=None)
        occurrences = rule.between(lo, hi, inc=True)[:MAX_OCCURRENCES]
        template = to_raw_event({**event, "startDate": start_dt.isoformat() if at else day.isoformat()},
                                base, zone_name, reference)
        if isinstance(template, Skipped):
            out.append(template)
            continue
        for occ in occurrences:
            if occ.date() in except_days:
                continue
            if at:
                start: datetime | date = occ.replace(tzinfo=zone)
                end = occ.replace(hour=end_clock[0], minute=end_clock[1], tzinfo=zone) if end_clock else None
                if end is not None and end <= start:
                    end += timedelta(days=1)
            else:
                start, end = occ.date(), None
            out.append(replace(template, start=start, end=end,
                               external_id=f"{template.external_id}#{start_key(start)}"))
    return out


def _is_json_document(page: Fetched) -> bool:
    text = page.text.lstrip("\ufeff \t\r\n")
    if text[:1] not in ("{", "["):
        return False
    try:
        json.loads(text, strict=False)
    except ValueError:
        return False
    return True


def _hrefs(text: str, selector: str) -> list[str | None]:
    """The href of each element the selector picks (else of the first link inside it), page order:
    from one lxml tree (sources.parse.tree) where its reading is soupsieve's, else from BeautifulSoup."""
    try:
        out = []
        for element in html_tree.select(html_tree.parse(text), selector):
            href = html_tree.attr(element, "href")
            if not href:
                inner = html_tree.first_link(element)
                href = html_tree.attr(inner, "href") if inner is not None else None
            out.append(href)
        return out
    except html_tree.Unsure:
        pass
    out = []
    for element in BeautifulSoup(text, "lxml").select(selector):
        href = element.get("href")
        if not href:
            inner = element.find("a", href=True)
            href = inner.get("href") if inner else None
        out.append(href)
    return out


def follow_links(page: Fetched, selector: str) -> list[str]:
    """Absolute http(s) links the selector picks on the page, in order, without repeats."""
    links: list[str] = []
    for href in _hrefs(page.text, selector):
        url = absolute(href, page.url) if href else None
        if url:
            url = url.split("#", 1)[0]
        if url and url.startswith(("http://", "https://")) and url not in links and url != page.url:
            links.append(url)
    return links


class JsonLdAdapter(SourceAdapter):
    type_name: ClassVar[str] = "jsonld"
    authority = AUTHORITY_STRUCTURED_PAGE
    Options: ClassVar[type[SourceOptions]] = JsonLdOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        page = fetcher.get(options.url, accept=ACCEPT)
        zone = options.timezone
        items = read_page(page, zone, options.id, window)
        follow = getattr(options, "follow", None)
        if follow:
            by_id: dict[str, RawEvent] = {}
            skipped: list[Skipped] = []
            for item in items:
                if isinstance(item, RawEvent):
                    by_id[item.external_id] = item
                else:
                    skipped.append(item)
            links = follow_links(page, follow)
            limit = getattr(options, "follow_limit", 50)
            if len(links) > limit:
                skipped.append(Skipped(item=f"{len(links) - limit} more event pages",
                                       reason=f"not followed: follow_limit is {limit}"))
            fetched = {page.url, options.url}
            for link in links[:limit]:
                if link in fetched:
                    continue
                fetched.add(link)
                try:
                    sub = fetcher.get(link, accept=ACCEPT, discovered=True)
                    fetched.add(sub.url)
                    sub_items = read_page(sub, zone, options.id, window)
                except SourceError as e:
                    reason = e.message.replace(link, "it").replace("; check the URL in sources.yaml", "")
                    skipped.append(Skipped(item=link, reason=f"followed page not read: {reason}"))
                    continue
                for item in sub_items:
                    if isinstance(item, RawEvent):
                        by_id[item.external_id] = item  # the event's own page says more than the index
                    else:
                        skipped.append(item)
            yield from by_id.values()
            yield from skipped
            return
        yield from items
