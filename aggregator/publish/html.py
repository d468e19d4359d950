"""events -> index.html: upcoming events by day and by month, filters, subscribe links.

Security (docs/reliability.md D): the jinja2 environment autoescapes everything;
`|safe` is used only on descriptions that went through nh3 (tags p br a ul ol li
strong em; http/https/mailto; rel="noopener noreferrer nofollow"); event links are
shown as links only when they are http(s) after C0/space stripping, otherwise as
plain text. The page works without JavaScript when served (filters are query
links the server applies); on a static host a little script applies the same
query to the list. The served page loads its CSS and script from /static/ so the
CSP `default-src 'self'` holds; the static file inlines them.
"""

from __future__ import annotations

import calendar as calmod
import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import jinja2
import jinja2.bccache
import nh3
from markupsafe import Markup

from aggregator.merge.normalize import safe_url
from aggregator.model import Event, Status
from aggregator.publish.feeds import (
    FeedFilter,
    event_ics_path,
    event_region,
    feed_filter,
    google_add_link,
    quote_plus_all,
    regions_and_tags,
    subscribe_links,
)
from aggregator.publish.fragments import Fragments, cached_all, salt
from aggregator.resources import static_dir, templates_dir
from aggregator.timezones import resolve_zone
from aggregator.config.settings import Config

ALLOWED_TAGS = {"p", "br", "a", "ul", "ol", "li", "strong", "em"}
LINK_REL = "noopener noreferrer nofollow"
_URL_IN_TEXT = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_NOT_IN_ANCHOR = re.compile(r"[^A-Za-z0-9_-]")


# What the templates are compiled with: part of the name of their compiled copies (jinja checks a
# copy against its template's source only).
_COMPILE_OPTIONS = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The page's jinja2 environment: autoescape on for every template."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), undefined=jinja2.StrictUndefined,
                             bytecode_cache=_bytecode_cache(), **_COMPILE_OPTIONS)
    return env


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """jinja's cache of compiled templates in a folder, where a folder we may not write (a read-only
    install) or a copy we cannot read only means compiling the template, as without a cache."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept beside them in __pycache__, as Python keeps compiled modules:
    compiling the page's templates costs ~20 ms of CPU in every process that renders it (a run,
    serve). jinja checks each copy against its template's source and writes it atomically. None
    where the folder cannot be made."""
    folder = templates_dir() / "__pycache__"
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    options = hashlib.sha256(repr(sorted(_COMPILE_OPTIONS.items())).encode()).hexdigest()[:8]
    return _CompiledTemplates(str(folder), pattern=f"__jinja2_%s.{options}.cache")


def sanitize_html(fragment: str) -> str:
    """HTML kept to p br a ul ol li strong em, links http/https/mailto with rel=noopener noreferrer nofollow."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"}, link_rel=LINK_REL, strip_comments=True)


def description_html(text: str) -> str:
    """A plain-text description as safe HTML: escaped, paragraphs and line breaks kept, http(s) URLs linked."""
    if not text:
        return ""
    return sanitize_html(_description_markup(text))


def descriptions_html(texts: Sequence[str]) -> list[str]:
    """description_html() of each text, with ONE nh3 call for all of them: a call costs more than
    cleaning a short description, and a first publish cleans a thousand. The markup of each is
    whole (p, br and a elements closed around escaped text), so it parses alone as beside the
    others, and _APART (an element nh3 keeps, which that markup never holds) marks where one ends."""
    markup = [_description_markup(text) if text else "" for text in texts]
    shown = [i for i, piece in enumerate(markup) if piece]
    cleaned = sanitize_html(_APART.join(markup[i] for i in shown)).split(_APART) if shown else []
    if len(cleaned) != len(shown):  # never expected; one call each is the same text
        cleaned = [sanitize_html(markup[i]) for i in shown]
    out = [""] * len(texts)
    for i, piece in zip(shown, cleaned):
        out[i] = piece
    return out


_APART = "<ul></ul>"


def _description_markup(text: str) -> str:
    """A description's paragraphs, escaped and linked, before nh3."""
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(text.strip()):
        escaped = html.escape(block, quote=True)
        # Most paragraphs hold no link, and a search for the literal costs a fifth of the pattern's.
        linked = _URL_IN_TEXT.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped) \
            if "http" in escaped else escaped
        paragraphs.append("<p>" + linked.replace("\n", "<br>") + "</p>")
    return "".join(paragraphs)


# --- views -------------------------------------------------------------------------------------

@dataclass
class EventView:
    uid: str
    anchor: str
    title: str
    cancelled: bool
    tentative: bool
    day: date
    when: str
    zone_label: str
    iso_start: str
    location: str | None
    url: str | None
    unsafe_url: str | None
    description: str  # sanitised HTML
    sources: list[tuple[str, str | None]]
    region: str | None
    tags: tuple[str, ...]
    google: str
    ics: str
    map_query: str | None = None
    card: Markup = Markup("")  # the event's <article>, rendered from event_card.html.j2 (autoescaped)


@dataclass
class MonthView:
    label: str
    weeks: list[list[dict]] = field(default_factory=list)
    count: int = 0


def _local(value: datetime, event: Event) -> datetime:
    zone = resolve_zone(event.timezone)
    return value.astimezone(zone) if zone is not None else value


def _time(value: datetime) -> str:
    return value.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")


def _long_day(value: date) -> str:
    return f"{value:%A}, {value:%B} {value.day}, {value.year}"


def _short_day(value: date) -> str:
    return f"{value:%a}, {value:%b} {value.day}"


def when_text(event: Event) -> tuple[date, str, str]:
    """(the day it is listed under, the time text, the zone label), in the event's own zone."""
    if event.all_day or not isinstance(event.start, datetime):
        start = event.start.date() if isinstance(event.start, datetime) else event.start
        end = event.end.date() if isinstance(event.end, datetime) else event.end
        last = (end - timedelta(days=1)) if end and end > start + timedelta(days=1) else None
        if last:
            days = (last - start).days + 1
            return start, f"All day, {_short_day(start)} – {_short_day(last)} ({days} days)", ""
        return start, "All day", ""
    start = _local(event.start, event)
    text = _time(start)
    if isinstance(event.end, datetime) and event.end > event.start:
        end = _local(event.end, event)
        text += " – " + (_time(end) if end.date() == start.date() else f"{_short_day(end.date())}, {_time(end)}")
    return start.date(), text, f"{start.tzname()} ({event.timezone})" if event.timezone else (start.tzname() or "")


def _end_instant(event: Event) -> datetime:
    if isinstance(event.start, datetime):
        end = event.end if isinstance(event.end, datetime) and event.end > event.start else event.start
        return end.astimezone(timezone.utc)
    zone = resolve_zone(event.timezone) or timezone.utc
    last = event.end if isinstance(event.end, date) and event.end > event.start else event.start + timedelta(days=1)
    return datetime.combine(last, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)


def _start_instant(event: Event) -> datetime:
    if isinstance(event.start, datetime):
        return event.start.astimezone(timezone.utc)
    zone = resolve_zone(event.timezone) or timezone.utc
    return datetime.combine(event.start, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)


def upcoming(events: Sequence[Event], now: datetime) -> list[Event]:
    """Events not yet over at `now`, by start then uid."""
    return sorted((e for e in events if _end_instant(e) >= now), key=lambda e: (_start_instant(e), e.uid))


@lru_cache(maxsize=1)
def _card_macro():
    # The card is a macro: one call per card costs a third less than rendering a template per card
    # (no new context each time). Looked up once: get_template() checks the file on disk at every call.
    return environment().get_template("event_card.html.j2").module.card


def _cards(views: Sequence[EventView]) -> list[str]:
    card = _card_macro()
    return [str(card(v)) for v in views]


def _light_view(event: Event, card: str) -> EventView:
    """What the day list and the month grid need of an event whose card was kept (cheap fields only)."""
    if event.all_day or not isinstance(event.start, datetime):
        day = event.start.date() if isinstance(event.start, datetime) else event.start
    else:
        day = _local(event.start, event).date()  # the day when_text() lists it under, without its words
    return EventView(
        uid=event.uid, anchor="e-" + _NOT_IN_ANCHOR.sub("-", event.uid), title=event.title,
        cancelled=event.status == Status.CANCELLED, tentative=event.status == Status.TENTATIVE,
        day=day, when="", zone_label="", iso_start="", location=event.location, url=None, unsafe_url=None,
        description="", sources=[], region=event_region(event), tags=tuple(event.tags), google="", ics="",
        card=Markup(card))


def event_views(events: Sequence[Event], source_names: dict[str, str],
                fragments: Fragments | None = None) -> list[EventView]:
    """The views of `events` with their cards; a card kept in `fragments` is not rendered again,
    and the cards missing are rendered together (their descriptions cleaned in one nh3 call)."""
    full: dict[int, EventView] = {}  # id(event) -> the full view of an event whose card was rendered

    def render(missing: list[Event]) -> list[str]:
        descriptions = descriptions_html([e.description for e in missing])
        views = [event_view(e, source_names, description=d) for e, d in zip(missing, descriptions)]
        full.update(zip(map(id, missing), views))
        return _cards(views)

    piece_salt = salt("card", source_names) if fragments is not None else ""
    views = []
    for event, card in zip(events, cached_all(fragments, "card", events, piece_salt, render)):
        view = full.get(id(event))
        if view is None:
            views.append(_light_view(event, card))
        else:
            view.card = Markup(card)
            views.append(view)
    return views


def event_view(event: Event, source_names: dict[str, str], base: str = "", *,
               description: str | None = None) -> EventView:
    """`description`: the event's description_html() when made already (descriptions_html)."""
    day, when, zone_label = when_text(event)
    url = safe_url(event.url)
    sources = []
    for ref in event.sources:
        sources.append((source_names.get(ref.source, ref.source), safe_url(ref.url)))
    return EventView(
        uid=event.uid, anchor="e-" + _NOT_IN_ANCHOR.sub("-", event.uid), title=event.title,
        cancelled=event.status == Status.CANCELLED, tentative=event.status == Status.TENTATIVE,
        day=day, when=when, zone_label=zone_label,
        iso_start=event.start.isoformat(), location=event.location, url=url,
        unsafe_url=None if url or not event.url else event.url,
        description=description_html(event.description) if description is None else description,
        sources=list(dict.fromkeys(sources)),
        region=event_region(event), tags=tuple(event.tags), google=google_add_link(event),
        ics=base + event_ics_path(event.uid),
        map_query=("https://www.openstreetmap.org/search?query=" + quote_plus_all(event.location))
        if event.location else None,
    )


def month_views(views: list[EventView], limit: int = 12) -> list[MonthView]:
    months: dict[tuple[int, int], list[EventView]] = {}
    for v in views:
        months.setdefault((v.day.year, v.day.month), []).append(v)
    out = []
    cal = calmod.Calendar(firstweekday=6)  # weeks start on Sunday, as US wall calendars do
    for (year, month), items in list(months.items())[:limit]:
        by_day: dict[int, list[EventView]] = {}
        for v in items:
            by_day.setdefault(v.day.day, []).append(v)
        mv = MonthView(label=f"{calmod.month_name[month]} {year}", count=len(items))
        for week in cal.monthdayscalendar(year, month):
            mv.weeks.append([{"day": d, "date": date(year, month, d) if d else None,
                              "events": by_day.get(d, []) if d else []} for d in week])
        out.append(mv)
    return out


def _toggle(selected: FeedFilter, kind: str, value: str) -> str:
    regions, tags = list(selected.regions), list(selected.tags)
    target = regions if kind == "region" else tags
    if value in target:
        target.remove(value)
    else:
        target[:] = [value]  # one value per kind at a time: simple and predictable
    query = FeedFilter(tuple(regions), tuple(tags), selected.sources).query()
    return "?" + query if query else "?"


def static_assets() -> list[tuple[str, bytes]]:
    """The page's CSS and script for a static host: ("static/page.css", bytes), ... (the served page links them)."""
    return [(f"static/{p.name}", p.read_bytes()) for p in sorted(static_dir().iterdir()) if p.is_file()]


def render_page(events: Sequence[Event], config: Config, generated: datetime, *, selected: FeedFilter | None = None,
                inline_assets: bool = True, subscribe_url: str | None = None,
                fragments: Fragments | None = None) -> bytes:
    """The page of upcoming events. `selected` is the filter the served page applies (query
    parameters); the static file is rendered with none and filters itself with a little script.
    `fragments`: event cards kept from an earlier publish (aggregator/publish/fragments.py)."""
    selected = selected or FeedFilter()
    now = generated if generated.tzinfo else generated.replace(tzinfo=timezone.utc)
    coming = upcoming(events, now)
    regions, tags = regions_and_tags(coming)
    shown = selected.select(coming)
    names = {s.id: (s.name or s.id) for s in config.sources}
    views = event_views(shown, names, fragments)
    days: list[tuple[date, str, list[EventView]]] = []
    for v in views:
        if not days or days[-1][0] != v.day:
            days.append((v.day, _long_day(v.day), []))
        days[-1][2].append(v)
    cal = config.calendar
    main_links = subscribe_links(cal.base_url, "calendar.ics", selected.query())
    declared = []
    for spec in config.feeds:
        declared.append((spec.name, subscribe_links(cal.base_url, spec.path), feed_filter(spec).label()))
    page = environment().get_template("page.html.j2").render(
        calendar=cal, generated=now, generated_text=now.strftime("%Y-%m-%d %H:%M UTC"),
        days=days, months=month_views(views), total=len(coming), shown=len(views),
        regions=[(r, _toggle(selected, "region", r), r in selected.regions) for r in regions],
        tags=[(t, _toggle(selected, "tag", t), t in selected.tags) for t in tags],
        selected=selected, filter_label=selected.label(), links=main_links, declared=declared,
        inline_assets=inline_assets, subscribe_url=subscribe_url,
    )
    return page.encode("utf-8")
