"""type "html": plain event listings with no structured data, mapped by CSS selectors.

    - id: chapter-page
      type: html
      url: https://example.org/chapter/calendar.html
      selectors:
        event: "div.event"          # one element per event (required)
        title: "h3"                 # inside it (required)
        start: ".when"              # required; "time@datetime" reads an attribute
        end: ".until"               # optional: a time ("8:00 pm") or a date
        location: ".where"          # optional
        link: "a@href"              # optional; relative links are made absolute
        description: ".desc"        # optional
        day: "h2.day"               # optional: a heading above several events giving their date
      dayfirst: false               # optional: read 3/4/2026 as 3 April

`selectors: auto` finds the mapping on the page at every read (sources.parse.listing: the
repeated blocks that each hold a date), so a wrapper div added or a class renamed does not
break the source; `massage-events sources check ID` shows the mapping it chose, and
`sources add URL` writes the inferred mapping for the curator to adjust.

With `day:`, an event whose own start text holds no date (only "6:30 pm") takes its date
from the nearest day heading before it in the page ("Saturday, March 6").

A selector may end in `@attr` to read an attribute instead of the text
("a@href", "time@datetime"); a bare `@attr` reads the event element's own
attribute, and ":scope" the event element itself. Pages that write each event
as a run of siblings with no wrapper (<h3>title</h3><p>date</p><p>place</p>...)
are read with event: "h3", title: ":scope" and fields starting with "+" (the
very next element) or "~" (a following sibling before the next event element):
start: "~ p.date". When the start selector matches several elements in one event
(".date, .time"), their texts are read together, so a date in one element and
a time range in another make one start and end. A <time datetime> element is
read by its machine-readable attribute.

Dates are read by sources.parse.dates: "Tue, March 3 · 6:30 PM", "3/3/2026 18:30",
"March 3rd, 6:30pm-8pm", ISO 8601; a year missing is read as the nearest such
day to the page's Last-Modified date, else today. An event block whose date
cannot be read is reported as Skipped(title, "no date found").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

import lxml.etree
import soupsieve
from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator.errors import ParseError
from aggregator.model import RawEvent, Window
from aggregator.timezones import resolve_zone, same_family
from sources.base import AUTHORITY_PAGE, Fetched, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.dates import parse_when
from sources.parse.places import venue_zone
from sources.parse.listing import Inference, date_head, fragment_text, infer_listing
from sources.parse import tree
from sources.parse.pages import absolute, check_page, page_date, settle_ids, text_hash

ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
REQUIRED = ("event", "title", "start")
OPTIONAL = ("end", "location", "link", "description", "day")
_ATTR = re.compile(r"^(?P<css>.*?)\s*@(?P<attr>[A-Za-z_:][-\w:.]*)$")


class Selectors(BaseModel):
    """Where each field of an event is found on the page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(description="CSS selector of one element per event")
    title: str = Field(description="the title, inside the event element")
    start: str = Field(description="the date and time it starts")
    end: str | None = Field(None, description="when it ends: a time or a date")
    location: str | None = Field(None, description="the place")
    link: str | None = Field(None, description='the event\'s own page, e.g. "a@href"')
    description: str | None = Field(None, description="a longer text")
    day: str | None = Field(None, description="a day heading above several events that gives their date")


@lru_cache(maxsize=1024)  # a source's few selectors are split once per block and field otherwise
def split_selector(value: str) -> tuple[str, str | None]:
    """'a@href' -> ('a', 'href'); 'h3' -> ('h3', None); '@href' -> ('', 'href')."""
    value = value.strip()
    m = _ATTR.match(value)
    if m and m.group("css").count("[") == m.group("css").count("]"):
        return m.group("css").strip(), m.group("attr")
    return value, None


def _check_selectors(value: Any) -> Any:
    if isinstance(value, Selectors):
        return value
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if not isinstance(value, dict):
        raise ValueError('selectors must be "auto" (found on the page at each read) or a mapping, e.g. '
                         '{event: "div.event", title: "h3", start: ".when"}')
    known = REQUIRED + OPTIONAL
    unknown = [k for k in value if k not in known]
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hints.append(f'"{key}"' + (f' (did you mean "{close[0]}"?)' if close else ""))
        raise ValueError(f"unknown selector {', '.join(hints)}; the selectors are: {', '.join(known)}")
    missing = [k for k in REQUIRED if not value.get(k)]
    if missing:
        raise ValueError("selectors must name " + ", ".join(f'"{k}"' for k in missing)
                         + ' (event, title and start are required), e.g. {event: "div.event", title: "h3", '
                         'start: ".when"}')
    for key, selector in value.items():
        if selector is None:
            continue
        if not isinstance(selector, str):
            raise ValueError(f'selector "{key}" must be text, e.g. "h3" or "a@href"')
        css, _attr = split_selector(selector)
        if key == "event" and not css:
            raise ValueError('selector "event" must be a CSS selector, e.g. "div.event"')
        if css and css not in (":scope", "&"):
            if key == "event" and _relative(css)[0]:
                raise ValueError('selector "event" must select elements of the page, not siblings ("+"/"~")')
            try:
                soupsieve.compile(_relative(css)[1])
            except Exception as e:  # noqa: BLE001 - soupsieve.SelectorSyntaxError
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(f'selector "{key}": "{selector}" is not a valid CSS selector ({first})') from None
    return value


class HtmlOptions(SourceOptions):
    selectors: Selectors | Literal["auto"] = Field(
        description='CSS selectors of the event blocks and their fields, or "auto" to find them at each read')
    dayfirst: bool = Field(False, description="read 3/4/2026 as 3 April (day first), not March 4")

    @field_validator("selectors", mode="before")
    @classmethod
    def _selectors(cls, value: Any) -> Any:
        return _check_selectors(value)


@dataclass(frozen=True, slots=True)
class _Field:
    css: str
    attr: str | None


@lru_cache(maxsize=1024)
def _relative(css: str) -> tuple[str | None, str]:
    """("+", "p.when") for "+ p.when", ("~", "p") for "~ p", (None, css) otherwise."""
    m = re.match(r"^\s*([+~])\s*(.+)$", css)
    return (m.group(1), m.group(2).strip()) if m else (None, css.strip())


def _elements(block: Tag, css: str, event_css: str | None, all_matches: bool) -> list[Tag | None]:
    if not css or css in (":scope", "&"):
        return [block]
    combinator, rest = _relative(css)
    if combinator == "+":  # the very next element (or what matches inside it)
        nxt = block.find_next_sibling()
        if nxt is None:
            return []
        return [nxt] if soupsieve.match(rest, nxt) else [nxt.select_one(rest)]
    if combinator == "~":  # in the following siblings, up to the next event element
        found = []
        for sibling in block.find_next_siblings():
            if event_css and soupsieve.match(event_css, sibling):
                break
            hit = sibling if soupsieve.match(rest, sibling) else sibling.select_one(rest)
            if hit is not None:
                found.append(hit)
                if not all_matches:
                    break
        return found
    pattern = _compiled(css, tuple(block._namespaces.items()))
    return list(pattern.select(block)) if all_matches else [pattern.select_one(block)]


@lru_cache(maxsize=1024)
def _compiled(css: str, namespaces: tuple) -> soupsieve.SoupSieve:
    """What Tag.select(css) compiles, kept: bs4 rebuilds soupsieve's namespace map on every call,
    a fifth of the cost of picking a field out of a small event block."""
    return soupsieve.compile(css, namespaces=dict(namespaces))


def _pick(block: Tag, selector: str | None, *, html_out: bool = False, all_matches: bool = False,
          event_css: str | None = None) -> str | None:
    if not selector:
        return None
    css, attr = split_selector(selector)
    elements = _elements(block, css, event_css, all_matches)
    values = []
    for el in elements:
        if el is None:
            continue
        if attr:
            value = el.get(attr)
            if isinstance(value, list):
                value = " ".join(value)
        elif html_out:
            value = el.decode_contents()
        else:
            value = _text_of(el)
        if value and str(value).strip():
            values.append(str(value).strip())
    return " ".join(values) if values else None


def _lines(block: Tag, selector: str, event_css: str | None) -> list[str]:
    """The text lines (cut at <br>) of what a selector picks in a block."""
    css, _attr = split_selector(selector)
    out = []
    for el in _elements(block, css, event_css, True):
        if el is None:
            continue
        for part in re.split(r"<br\s*/?>", el.decode_contents(), flags=re.I):
            text = fragment_text(part)
            if text:
                out.append(re.sub(r"\s+", " ", text))
    return out


_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:])")


def _text_of(el: Tag) -> str:
    """An element's text; a <time datetime> (itself or its only one) speaks by its attribute."""
    times = [el] if el.name == "time" else _timed(el)
    return _spoken(el.get_text(" ", strip=True), [str(t.get("datetime") or "") for t in times])


def _spoken(text: str, machines: list[str]) -> str:
    """An element's text (no space before punctuation), given the datetime attributes of its first
    two <time> elements (or its own): exactly one speaks for it."""
    text = _BEFORE_PUNCTUATION.sub(r"\1", text)
    if len(machines) == 1 and machines[0]:
        machine = machines[0].strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", machine):
            return f"{machine} {text}"  # the date from the attribute, the time from the words
        if re.match(r"\d{4}-\d{2}-\d{2}[T ]\d", machine):
            return machine
    return text


def _timed(el: Tag) -> list[Tag]:
    """The first two <time datetime> elements inside el: what find_all("time", attrs={"datetime": True},
    limit=2) finds, walked by hand (find_all builds its filters anew on every call, for each field)."""
    found = []
    for node in el.descendants:
        if isinstance(node, Tag) and node.name == "time" and node.get("datetime") is not None:
            found.append(node)
            if len(found) == 2:
                break
    return found


def infer_page(page: Fetched, options: HtmlOptions, soup: BeautifulSoup | None = None) -> Inference:
    """The mapping `selectors: auto` reads this page with; ParseError when the page has none."""
    check_page(page, options.id)
    soup = soup if soup is not None else BeautifulSoup(page.text, "lxml")
    found = infer_listing(soup, reference=page_date(page), dayfirst=options.dayfirst)
    if found is None:
        raise ParseError("selectors: auto found no event listing on the page (no block of it repeats with a "
                         "date in each); write the selectors by hand (see `massage-events sources check`), or "
                         "check that the URL is still the events page", source_id=options.id,
                         reason="no_listing")
    return found


def _days(soup: BeautifulSoup, day_css: str, blocks: list[Tag]) -> dict[int, str]:
    """id(event block) -> the text of the nearest day heading before it in the page."""
    heads = {id(h) for h in soup.select(day_css)}
    events = {id(e) for e in blocks}
    out: dict[int, str] = {}
    current: str | None = None
    for el in soup.find_all(True):
        if id(el) in heads:
            current = _text_of(el)
        elif id(el) in events and current:
            out[id(el)] = current
    return out


class _SoupReader:
    """The page as BeautifulSoup reads it: every selector soupsieve knows, "+"/"~" siblings, auto."""

    def __init__(self, soup: BeautifulSoup, sel: Selectors) -> None:
        self.soup, self.sel = soup, sel
        self.blocks = soup.select(sel.event)
        self._days = _days(soup, sel.day, self.blocks) if sel.day else {}

    def pick(self, block: Tag, selector: str | None, **kw: Any) -> str | None:
        return _pick(block, selector, event_css=self.sel.event, **kw)

    def lines(self, block: Tag, selector: str) -> list[str]:
        return _lines(block, selector, self.sel.event)

    def day(self, block: Tag) -> str | None:
        return self._days.get(id(block))

    def snippet(self, block: Tag) -> str:
        return block.get_text(" ", strip=True)[:60] or str(block)[:60]

    def first_link(self, block: Tag) -> str | None:
        anchor = block.select_one("a[href]") if block.name != "a" else block
        return anchor.get("href") if anchor is not None else None


class _TreeReader:
    """The same readings from one lxml tree (sources.parse.tree), several times cheaper than building
    BeautifulSoup's; raises tree.Unsure where it could read otherwise, and the page is read by _SoupReader."""

    def __init__(self, text: str, sel: Selectors) -> None:
        for key in ("title", "start", "end", "location", "link", "description"):
            css = split_selector(getattr(sel, key) or "")[0]
            if css and css not in (":scope", "&") and not tree.can_select(css, scoped=True):
                raise tree.Unsure(f"selector {css!r}")  # "+ p", ":scope > td", ...: soupsieve reads them
        if not tree.can_select(sel.event, scoped=False) or (sel.day and not tree.can_select(sel.day, scoped=False)):
            raise tree.Unsure("event or day selector")
        self.root = tree.parse(text)
        self.blocks = tree.select(self.root, sel.event)
        self._days: dict = {}
        if sel.day:  # the nearest day heading before each event block, in page order
            heads, events, current = set(tree.select(self.root, sel.day)), set(self.blocks), None
            for el in self.root.iter(tag=lxml.etree.Element):
                if el in heads:
                    current = self._text_of(el)
                elif el in events and current:
                    self._days[el] = current

    def _elements(self, block, css: str, all_matches: bool) -> list:
        if not css or css in (":scope", "&"):
            return [block]
        hits = tree.select_in(block, css)
        return hits if all_matches else [hits[0] if hits else None]

    def pick(self, block, selector: str | None, *, html_out: bool = False, all_matches: bool = False) -> str | None:
        if not selector:
            return None
        css, attr = split_selector(selector)
        values = []
        for el in self._elements(block, css, all_matches):
            if el is None:
                continue
            if attr:
                value = tree.attr(el, attr)
            elif html_out:
                value = tree.decode_contents(el)
            else:
                value = self._text_of(el)
            if value and value.strip():
                values.append(value.strip())
        return " ".join(values) if values else None

    @staticmethod
    def _text_of(el) -> str:
        """_text_of() over the lxml tree."""
        times = [el] if el.tag == "time" else _TIMED(el)[:2]
        return _spoken(tree.text(el), [t.get("datetime") or "" for t in times])

    def lines(self, block, selector: str) -> list[str]:
        css, _attr = split_selector(selector)
        return [re.sub(r"\s+", " ", line) for el in self._elements(block, css, True) if el is not None
                for line in tree.lines(el)]

    def day(self, block) -> str | None:
        return self._days.get(block)

    def snippet(self, block) -> str:
        return tree.text(block)[:60] or tree.decode(block)[:60]

    def first_link(self, block) -> str | None:
        anchor = block if block.tag == "a" else tree.first_link(block)
        return tree.attr(anchor, "href") if anchor is not None else None


_TIMED = lxml.etree.XPath("descendant::time[@datetime]")


def read_listing(page: Fetched, options: HtmlOptions) -> list[RawEvent | Skipped]:
    """The events of one listing page, in page order."""
    check_page(page, options.id)
    sel = options.selectors
    if sel != "auto":
        try:
            return _read_blocks(page, options, sel, _TreeReader(page.text, sel))
        except tree.Unsure:
            pass  # read by BeautifulSoup, as the selectors or the page need
    soup = BeautifulSoup(page.text, "lxml")
    if sel == "auto":
        sel = Selectors(**infer_page(page, options, soup).selectors)
    return _read_blocks(page, options, sel, _SoupReader(soup, sel))


def _read_blocks(page: Fetched, options: HtmlOptions, sel: Selectors,
                 reader: _SoupReader | _TreeReader) -> list[RawEvent | Skipped]:
    reference = page_date(page)
    zone = resolve_zone(options.timezone) if options.timezone else None
    out: list[RawEvent | Skipped] = []
    for block in reader.blocks:
        title = reader.pick(block, sel.title)
        if not title:
            out.append(Skipped(item=reader.snippet(block), reason="no title found"))
            continue
        start_text = reader.pick(block, sel.start, all_matches=True)
        end_text = reader.pick(block, sel.end, all_matches=True)
        when = parse_when(start_text, end_text, reference=reference, dayfirst=options.dayfirst)
        if when is None and start_text:  # "<b>Title</b><br>March 11, 6 pm<br>Place": the date is one line
            for line in reader.lines(block, sel.start):
                when = parse_when(line, end_text, reference=reference, dayfirst=options.dayfirst)
                if when is not None:
                    start_text = line
                    break
        if when is None and start_text:  # "April 17, 2027 – Reiki Workshop, Montpelier": the date, a dash, the rest
            head = date_head(start_text, reference=reference, dayfirst=options.dayfirst, end_text=end_text)
            if head is not None:
                start_text, when = head[0], head[1]
        if title and start_text and title.startswith(start_text):
            # the title and the date are one text ("March 4, 7 pm – Guild Meeting"): the title is the rest
            head = date_head(title, reference=reference, dayfirst=options.dayfirst)
            if head is not None and head[2]:
                title = head[2]
        day_text = reader.day(block)
        if when is None and day_text:  # "6:30 pm" under the heading "Saturday, March 6"
            when = parse_when(day_text, start_text, reference=reference, dayfirst=options.dayfirst)
            start_text = f"{day_text} {start_text or ''}".strip()
        if when is None:
            out.append(Skipped(item=title, reason="no date found" + (f' in "{start_text[:60]}"' if start_text
                                                                   else "")))
            continue
        start, end = when.start, when.end
        location = reader.pick(block, sel.location)
        start, end = _at_venue(start, end, zone, location)
        if zone is not None:
            start = _localize(start, zone)
            end = _localize(end, zone) if end is not None else None
        link = reader.pick(block, sel.link)
        if link is None and sel.link is None:
            link = reader.first_link(block)
        url = absolute(link, page.url) if link else None
        if url and not url.startswith(("http://", "https://")):
            url = None
        description = reader.pick(block, sel.description, html_out=True)
        key = url or text_hash(title, start.isoformat())
        if url and url.split("#", 1)[0] == page.url.split("#", 1)[0] and not url.partition("#")[2]:
            key = text_hash(page.url, title, start.isoformat())  # a link back to the listing names nothing
        event = RawEvent(external_id=key, title=title, start=start, end=end, location=location, url=url,
                         description=description, extra={"date_text": start_text or ""})
        out.append(event)
    return settle_ids(out)


def _at_venue(start, end, zone, location):
    """A time in a zone word's zone or the source's default is the venue's member of that zone family
    ("MST" or a Denver default for a Phoenix venue is Arizona time), else the source's own member ("MST"
    on an Arizona page); an explicit offset is kept."""
    if not isinstance(start, datetime):
        return start, end
    family = start.tzinfo or zone
    if not isinstance(family, ZoneInfo):
        return start, end
    if isinstance(zone, ZoneInfo) and family is not zone and same_family(family, zone, start.year):
        member = zone  # a word for the source's own region: "MST" on an Arizona page is Phoenix time
    else:
        member = family
    member = venue_zone(member, location, start.date()) if location else member
    if member is family or member.key == family.key:
        return start, end
    moved = [v.replace(tzinfo=member) if isinstance(v, datetime) and (v.tzinfo is None or v.tzinfo == family)
             else v for v in (start, end)]
    return moved[0], moved[1]


def _localize(value, zone):
    """Naive times are the source's local time; a bare offset ("GMT-6") is shown in the source's zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=zone)
        if not isinstance(value.tzinfo, ZoneInfo):
            return value.astimezone(zone)
    return value


class HtmlAdapter(SourceAdapter):
    type_name: ClassVar[str] = "html"
    authority = AUTHORITY_PAGE
    Options: ClassVar[type[SourceOptions]] = HtmlOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        page = fetcher.get(options.url, accept=ACCEPT)
        yield from read_listing(page, options)  # type: ignore[arg-type]
