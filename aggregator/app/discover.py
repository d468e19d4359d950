"""`massage-events sources add URL`: find out what a URL is, preview it, append it to sources.yaml.

    massage-events sources add https://example.org/chapter/events/ [--id ID] [--yes]

1. fetch the URL once;
2. detect what it is: an iCalendar feed (type ical), a page with schema.org
   Events in JSON-LD / microdata / h-event (type jsonld), an RSS/Atom feed
   (type rss); a page without structured events that links its own iCalendar
   feed is added as that feed; a plain HTML listing (blocks that repeat with a
   date in each: cards, table rows, list items, day headings over events) is
   added as type html with the selectors found for it (sources.parse.listing),
   or `selectors: auto` with --auto, and a `timezone:` proposed from its US
   addresses. Anything else is refused in one sentence, nothing written;
3. preview the events exactly as `sources check` would (same adapter, same
   normalize), storing nothing;
4. append one entry to sources.yaml *as text*, at the end of the `sources:`
   list, so the file's comments, order and formatting stay as they were; the
   new file is validated with the config loader before it replaces the old one.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO
from urllib.parse import urljoin, urlsplit

import yaml
from bs4 import BeautifulSoup

from aggregator.app.check import _fetcher, check_source, check_window, print_table
from aggregator.config.settings import (
    CalendarSettings,
    Config,
    load_config,
    parse_config,
)
from aggregator.config.yamlfile import loads_yaml
from aggregator.errors import ConfigError, MassageEventsError, ParseError, Problem
from sources.base import Fetched
from sources.parse.listing import Inference, infer_listing, refusal
from sources.parse.places import ZoneGuess, zone_from_addresses
from sources.registry import adapter_for, available_types

ACCEPT = "text/calendar, application/rss+xml, application/atom+xml, text/html;q=0.9, */*;q=0.5"


@dataclass
class Detection:
    type_name: str | None  # None: none of the kinds we read by ourselves
    url: str  # what to put in sources.yaml (a page may point at its own feed)
    title: str | None = None
    why: str = ""
    events_found: int = 0
    notes: list[str] = field(default_factory=list)
    listing: Inference | None = None  # type html: the mapping found on the page
    zone: ZoneGuess | None = None  # type html: the zone its addresses name
    auto: bool = False  # type html: write `selectors: auto` instead of the mapping
    latest_past: date | None = None  # refused: its only dated listing ended then


def _is_ical(page: Fetched) -> bool:
    head = page.content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return head.startswith(b"BEGIN:VCALENDAR")


def _is_feed(page: Fetched) -> bool:
    head = page.content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return bool(re.search(rb"<(rss|feed|rdf:RDF)\b", head[:4096])) and not re.search(rb"<html\b", head[:1024], re.I)


def _feed_title(page: Fetched) -> str | None:
    try:
        import feedparser

        parsed = feedparser.parse(page.content)
        return (parsed.feed.get("title") or "").strip() or None
    except Exception:  # noqa: BLE001 - a title is a nicety
        return None


def _ical_title(page: Fetched) -> str | None:
    m = re.search(r"^X-WR-CALNAME[^:]*:(.+)$", page.text, re.M)
    return m.group(1).strip() if m else None


def _page_title(soup: BeautifulSoup) -> str | None:
    for attrs in ({"property": "og:site_name"}, {"property": "og:title"}):
        tag = soup.find("meta", attrs=attrs)
        if tag and tag.get("content"):
            return tag["content"].strip()
    if soup.title and soup.title.string:
        return re.sub(r"\s+", " ", soup.title.string).strip() or None
    return None


def detect(page: Fetched) -> Detection:
    """What a fetched URL is, as a source type (or None with the reason)."""
    if _is_ical(page):
        return Detection("ical", page.url, _ical_title(page), "an iCalendar feed")
    if _is_feed(page):
        return Detection("rss", page.url, _feed_title(page), "an RSS/Atom feed")
    from sources.jsonld import (
        extract_events,  # the same extractor the jsonld adapter reads with
    )
    from sources.parse.pages import check_page

    try:
        check_page(page)
    except ParseError as e:
        return Detection(None, page.url, None, e.message)
    soup = BeautifulSoup(page.text, "lxml")
    title = _page_title(soup)
    events = extract_events(page.text, page.url)
    if events:
        kinds = sorted({str(e.get("_syntax", "schema.org")) for e in events})
        found = Detection("jsonld", page.url, title,
                          f"a page with {len(events)} event{'s' if len(events) != 1 else ''} in "
                          f"structured data ({', '.join(kinds)})", events_found=len(events))
        feed = _calendar_link(soup, page.url)
        if feed:
            found.notes.append(f"the page also links an iCalendar feed, {feed}; it may list more events "
                               f"(`massage-events sources check --type ical {feed}` shows them)")
        return found
    # A page without structured events that links its own calendar feed: subscribe to the feed.
    detection = Detection(None, page.url, title, "a web page without schema.org events, h-event or a feed")
    feed = _calendar_link(soup, page.url)
    if feed:
        return Detection("ical", feed, title, f"a page linking its iCalendar feed {feed}")
    feeds = []
    for link in soup.find_all("link", rel=lambda v: v and "alternate" in v):
        kind = (link.get("type") or "").lower()
        if link.get("href") and kind in ("application/rss+xml", "application/atom+xml"):
            target = urljoin(page.url, link["href"])
            feeds.append(f"it links a feed at {target}: `massage-events sources add {target}` "
                         "reads event dates from its posts")
    from sources.parse.pages import page_date

    past: list = []
    listing = infer_listing(soup, reference=page_date(page), past=past)
    if listing is not None:
        found = Detection("html", page.url, title,
                          f"a plain HTML listing ({listing.dated} blocks with a date, "
                          f"`{listing.selectors['event']}`)", events_found=listing.dated, listing=listing)
        found.zone = zone_from_addresses(listing.locations)
        if found.zone is None:  # no place per event: the page's own address ("All classes at ...")
            lines = [line.strip() for line in soup.get_text("\n").splitlines()]
            found.zone = zone_from_addresses([line for line in lines if 0 < len(line) <= 160])
        return found
    detection.notes.extend(feeds)
    detection.latest_past = past[0] if past else None
    return detection


def _calendar_link(soup: BeautifulSoup, base: str) -> str | None:
    """The iCalendar feed a page links (<link rel=alternate type=text/calendar>, webcal:, .ics), or None."""
    for link in soup.find_all("link", rel=lambda v: v and "alternate" in v):
        if (link.get("type") or "").lower() == "text/calendar" and link.get("href"):
            return urljoin(base, link["href"].replace("webcal://", "https://", 1))
    for a in soup.find_all("a", href=True):
        href = a["href"].strip()
        if href.lower().startswith("webcal://") or re.search(r"\.ics(\?|#|$)", href, re.I):
            target = urljoin(base, re.sub(r"^webcal://", "https://", href, flags=re.I))
            if urlsplit(target).scheme in ("http", "https"):
                return target
    return None


def slugify(text: str, limit: int = 40) -> str:
    text = text.lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(text) > limit:
        text = text[:limit].rsplit("-", 1)[0] or text[:limit]
    return text or "source"


def choose_id(detection: Detection, taken: set[str]) -> str:
    """A unique slug from the site's name (or its host and path)."""
    parts = urlsplit(detection.url)
    host = (parts.hostname or "").removeprefix("www.")
    title = detection.title
    if title:
        title = re.split(r"\s+[|–—-]\s+|\s+::\s+", title)[0] if len(title) > 30 else title
    base = slugify(title) if title and slugify(title) != "source" else slugify(
        host.split(".")[0] + "-" + "-".join(p for p in parts.path.split("/") if p)[:30])
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


# --------------------------------------------------------------------------- writing sources.yaml


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def entry_lines(source_id: str, detection: Detection, indent: int) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}- id: {source_id}"]
    if detection.title:
        lines.append(f"{pad}  name: {_quote(detection.title)}")
    lines.append(f"{pad}  type: {detection.type_name}")
    lines.append(f"{pad}  url: {_quote(detection.url)}")
    if detection.type_name == "html" and detection.listing is not None:
        if detection.zone is not None and detection.zone.confident:
            lines.append(f"{pad}  timezone: {detection.zone.zone}  # proposed: {detection.zone.note}")
        if detection.auto:
            lines.append(f"{pad}  selectors: auto  # found on the page at each run")
        else:
            lines.append(f"{pad}  selectors:  # inferred from the page; adjust them, or write `selectors: auto`")
            for key, value in detection.listing.selectors.items():
                lines.append(f"{pad}    {key}: {_quote(value)}")
    return lines


def _last_line(node: yaml.Node) -> int:
    """The 0-based last line holding content of node (its last scalar)."""
    if isinstance(node, yaml.ScalarNode):
        end = node.end_mark
        line = end.line if end.column > 0 else end.line - 1
        return max(line, node.start_mark.line)
    children = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    return max([_last_line(c) for c in children] or [node.start_mark.line])


def append_source(text: str, source_id: str, detection: Detection) -> str:
    """The sources.yaml text with one entry appended to the `sources:` list, all else untouched."""
    newline = "\r\n" if "\r\n" in text else "\n"
    entry = newline.join(entry_lines(source_id, detection, 2))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        raise ConfigError([Problem("sources.yaml", None, "cannot be read as YAML",
                                   "fix it first: `massage-events sources check` shows the problem")]) from None
    if root is None:
        return (text.rstrip() + newline if text.strip() else "") + "sources:" + newline + entry + newline
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([Problem("sources.yaml", 1, "the file must be a mapping", 'start it with "sources:"')])
    for key, value in root.value:
        if key.value != "sources":
            continue
        if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
            rows = text.splitlines(keepends=True)
            line = key.start_mark.line
            rows[line] = rows[line].rstrip("\r\n").split("#")[0].rstrip()
            rows[line] = re.sub(r":\s*(~|null)?\s*$", ":", rows[line]) + newline + entry + newline
            return "".join(rows)
        if not isinstance(value, yaml.SequenceNode):
            raise ConfigError([Problem("sources.yaml", key.start_mark.line + 1, '"sources" must be a list',
                                       'write each source as "- id: ..." under "sources:"')])
        if value.flow_style:
            if value.value:
                raise ConfigError([Problem("sources.yaml", key.start_mark.line + 1,
                                           '"sources" is written in [flow, style]',
                                           "write it as a block list (one \"- id:\" per source) to add to it")])
            start, end = value.start_mark.index, value.end_mark.index  # "[]"
            return text[:start].rstrip(" ") + newline + entry + text[end:]
        if not value.value:
            break
        entry = newline.join(entry_lines(source_id, detection, value.start_mark.column))  # the items' "-" column
        last = _last_line(value)
        rows = text.splitlines(keepends=True)
        if last < len(rows) and not rows[last].endswith(("\n", "\r")):
            rows[last] += newline
        rows.insert(last + 1, entry + newline)
        return "".join(rows)
    return text.rstrip() + newline + "sources:" + newline + entry + newline


def _write_atomic(path: Path, text: str) -> None:
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


NEW_FILE = """# massage-events sources: see README for every key.
calendar:
  name: Massage Therapist Networking Events
  timezone: UTC                # set your zone, e.g. America/Chicago
sources:
"""


def _ask(question: str, out: TextIO) -> bool:
    out.write(question)
    out.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() in ("y", "yes")


def add_command(config_path: Path, url: str, source_id: str | None, yes: bool, out: TextIO,
                auto: bool = False) -> int:
    """`sources add URL`: detect, preview, append. 0 when added, 1 when not (with the reason)."""
    config_path = Path(config_path)
    config: Config | None = load_config(config_path) if config_path.is_file() else None
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ConfigError([Problem("sources add", None, f'"{url}" is not an http(s) URL',
                                   f"write it in full, e.g. https://{url.lstrip('/')}")])
    taken = {s.id for s in config.sources} if config else set()
    fetcher = _fetcher(config)
    page = fetcher.get(url, accept=ACCEPT)
    detection = detect(page)
    if detection.url == page.url:
        detection.url = url  # the address as the curator gave it; the fetcher follows redirects each run
    new_id = source_id or choose_id(detection, taken)
    if source_id and source_id in taken:
        raise ConfigError([Problem(str(config_path), None, f'a source with id "{source_id}" exists already',
                                   "choose another --id")])
    if detection.type_name is None:
        out.write(refusal(detection.url, detection.latest_past) + "\n")
        for note in detection.notes:
            out.write(f"Note: {note}\n")
        return 1
    detection.auto = auto
    if detection.type_name not in available_types():
        out.write(f"{url} is {detection.why}, but no adapter for type {detection.type_name} is installed "
                  f"(installed: {', '.join(available_types())}).\n")
        return 1

    out.write(f"{url} is {detection.why}: type {detection.type_name}.\n")
    for note in detection.notes:
        out.write(f"Note: {note}\n")
    out.write("\n")
    adapter = adapter_for(detection.type_name)
    extra = {}
    if detection.type_name == "html" and detection.listing is not None:
        extra["selectors"] = "auto" if auto else detection.listing.selectors
        if detection.zone is not None and detection.zone.confident:
            extra["timezone"] = detection.zone.zone
        out.write("Selectors found on the page:\n")
        for key, value in detection.listing.selectors.items():
            out.write(f"  {key}: {value}\n")
        for line in detection.listing.explanation:
            out.write(f"  ({line})\n")
        if detection.zone is not None and detection.zone.confident:
            out.write(f"Proposed timezone: {detection.zone.zone} ({detection.zone.note})\n")
        elif detection.zone is not None:
            out.write(f"No timezone proposed: {detection.zone.note}; times without a zone are read in the "
                      "calendar's zone (add `timezone:` to the entry if they are all in one)\n")
        out.write("\n")
    options = adapter.Options(id=new_id, type=detection.type_name, url=detection.url, name=detection.title,
                              **extra)
    calendar = config.calendar if config else CalendarSettings()
    outcome = check_source(config, options, check_window(calendar, None, None))
    print_table(outcome, options, check_window(calendar, None, None), out)
    if outcome.error is not None:
        out.write("\nNot added: the source could not be read.\n")
        return 1
    if not outcome.records:
        out.write("\nNote: it holds no upcoming events right now; it is added all the same, and `run` "
                  "will pick up what it lists later.\n")

    text = config_path.read_text(encoding="utf-8-sig") if config_path.is_file() else NEW_FILE
    new_text = append_source(text, new_id, detection)
    try:
        parse_config(loads_yaml(new_text, str(config_path)), str(config_path))
    except ConfigError as e:
        raise MassageEventsError(f"the entry for {url} would make {config_path} invalid, so it was not "
                                 f"written:\n{e}") from None
    out.write("\nWill append to " + str(config_path) + ":\n\n" + "\n".join(entry_lines(new_id, detection, 2))
              + "\n\n")
    if not yes and not _ask(f"Append this source to {config_path}? [y/N] ", out):
        out.write("Nothing written.\n")
        return 1
    _write_atomic(config_path, new_text)
    out.write(f'Added source "{new_id}" to {config_path}. `massage-events run` will read it.\n')
    return 0
