"""Find the events of a plain HTML listing without hand-written selectors.

`infer_listing(html, reference=...)` looks for the structure a page repeats once per event and
says it as the html adapter's CSS `selectors:` mapping, so a curator can read and adjust it:

1. every short element whose text sources.parse.dates reads as a date (or a `<time datetime>`)
   is a *date mark*; a short text that is only a time ("6:30 - 8 pm") is a *time mark*;
2. candidate structures are (a) the elements sharing one tag-and-class path from <body>
   (cards, list items, table rows), (b) runs of siblings that start at a repeated element and
   stop at the next one (a heading, then its date and place paragraphs; <dt>/<dd> pairs), and
   (c) either of these holding only a time while a date heading stands above them ("day
   headings" over several events);
3. each candidate is scored by how many of its members hold a date, weighed by the evidence
   that a member is an event and not just a date: it holds more text than the date, a title
   (a heading, a link, a "title" class), one date rather than many. The best wins, and the
   runner-up is kept to explain the choice;
4. within the winner's members the title, start (a date element, plus a separate time element
   when the date has none), end, location (a "venue"/"where" class or address-like text),
   link and description are found member by member and the selector most members agree on is
   kept.

Pure functions over a BeautifulSoup tree: no I/O. Nothing is returned (None, with the reason
in `refusal`) for a page with no repeated dated structure, such as a product page or an article.

Libraries looked at: autoscraper and scrapely learn a page from values a person marks on it
(what a curator who cannot write CSS cannot give either), and mdr (data-record mining) has not
been released since 2014; the dates are read by the project's own sources.parse.dates, so a
listing and its hand-written selectors agree on every date format.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bs4 import BeautifulSoup, Tag

from sources.parse import tree
from sources.parse.dates import parse_when

__all__ = ["Inference", "infer_listing", "refusal", "date_head", "fragment_text"]

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "title", "meta", "link", "iframe", "select",
         "option", "button", "form", "input", "textarea"}
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_MAX_MARK = 90  # a date mark is short: a whole paragraph that happens to hold a date is not one
_TIME_ONLY = re.compile(
    r"^\W*(?:(?:at|from|time|starts?)\s*:?\s*)?"
    r"(?:(?:\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?\s?m\.?)?|noon|midnight)"
    r"(?:\s*(?:-|–|—|to|until|till)\s*(?:\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?\s?m\.?)?|noon|midnight))?)"
    r"\s*(?:\(?[A-Z]{1,4}T?\)?|(?:GMT|UTC)\s*[+-]\d{1,2}(?::?\d{2})?|"
    r"(?:pacific|mountain|central|eastern|hawaii|alaska)(?:\s+(?:standard|daylight))?(?:\s+time)?)?\W*$", re.I)
_HAS_CLOCK = re.compile(r"\d[:.]\d{2}|\d\s*[ap]\.?\s?m\b|\bnoon\b", re.I)
_STABLE_CLASS = re.compile(r"^[A-Za-z_][-\w]*$")
_VOLATILE_CLASS = re.compile(r"\d{2,}|^(?:odd|even|first|last|active|current|selected|clearfix|row|col.*|"
                             r"is-.*|has-.*|js-.*|ng-.*|wp-block.*|elementor-element.*)$")
_TITLE_CLASS = re.compile(r"title|name|summary|heading|headline|subject", re.I)
_LOCATION_CLASS = re.compile(r"locat|venue|where|address|place|\bcity\b|region|adr", re.I)
_DESC_CLASS = re.compile(r"desc|summary|excerpt|detail|content|body|blurb|teaser|about|text|info", re.I)
_STREET = re.compile(r"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?[A-Z0-9][\w.'-]*(?:\s+[A-Z0-9][\w.'-]*){0,4}\s+"
                     r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|Pl|Place|Ct|Court|"
                     r"Pkwy|Parkway|Hwy|Highway|Sq|Square|Ter|Terrace|Cir|Circle|Trl|Trail)\b\.?")
_CITY_STATE = re.compile(r"\b[A-Z][a-zA-Z.' -]+,\s*(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|"
                         r"N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\b(?:\s+\d{5})?")
_WHERE_WORD = re.compile(r"^\s*(?:where|location|venue|place|address)\s*:", re.I)
_LINK_NOISE = re.compile(r"^(?:more|details?|read more|learn more|register|rsvp|tickets?|info|more info|"
                         r"view|view event|sign up|buy|book|add to calendar|google|ical|outlook)\b", re.I)


@dataclass
class Candidate:
    """One repeated structure: its member elements and how an event unit is cut from each."""

    event_css: str
    members: list[Tag]
    mode: str  # "block": fields inside the member; "run": the member and its following siblings
    day_css: str | None = None
    days: dict[int, Tag] = field(default_factory=dict)  # id(member) -> its day heading (day mode)
    dated: int = 0
    score: float = 0.0
    why: str = ""


@dataclass
class Inference:
    """The mapping chosen for a page, in the html adapter's terms, and why."""

    selectors: dict[str, str]
    blocks: int  # elements the event selector matches
    dated: int  # of which hold a date
    explanation: list[str]
    locations: list[str] = field(default_factory=list)  # the location texts found (for a zone guess)


# --------------------------------------------------------------------------- marks


class _Marks:
    """Which elements are date marks and time marks (cached by text)."""

    def __init__(self, soup: BeautifulSoup, reference: date, dayfirst: bool) -> None:
        self.reference = reference
        self.dayfirst = dayfirst
        self._cache: dict[str, object] = {}
        self.lines: dict[int, str] = {}  # id(mark) -> the line of it holding the date
        self.date_marks: list[Tag] = []
        self.time_marks: list[Tag] = []
        body = soup.body or soup
        for el in body.find_all(True):
            if el.name in _SKIP or any(p.name in _SKIP for p in el.parents if isinstance(p, Tag)):
                continue
            if el.name == "time" and el.get("datetime") and parse_when(str(el["datetime"])) is not None:
                self.date_marks.append(el)
                continue
            text = _text(el)
            if not text:
                continue
            if len(text) > _MAX_MARK:
                if el.find("br", recursive=False) is not None:  # a date on one line of a longer block
                    line = next((x for x in _own_lines(el) if len(x) <= _MAX_MARK and self.parse(x)), None)
                    if line:
                        self.lines[id(el)] = line
                        self.date_marks.append(el)
                        continue
                if len(text) <= 2 * _MAX_MARK and (head := date_head(text, reference=reference,
                                                                     dayfirst=dayfirst)):
                    self.lines[id(el)] = head[0]  # "March 4, 7 pm – Guild Meeting, Burlington Library"
                    self.date_marks.append(el)
                continue
            if self.parse(text) is not None:
                self.date_marks.append(el)
            elif _TIME_ONLY.match(text) and _HAS_CLOCK.search(text):
                self.time_marks.append(el)
            elif head := date_head(text, reference=reference, dayfirst=dayfirst):
                self.lines[id(el)] = head[0]
                self.date_marks.append(el)
        # A <time datetime> speaks for the words inside it; elsewhere keep the innermost mark
        # (a <p> holding only a <span> date is not a second mark).
        machine = [m for m in self.date_marks if m.name == "time" and m.get("datetime")]
        inner = {id(d) for m in machine for d in m.find_all(True)}
        self.date_marks = _innermost([m for m in self.date_marks if id(m) not in inner])
        self.time_marks = [m for m in self.time_marks if id(m) not in inner]
        self.time_marks = _innermost(self.time_marks)
        self.date_ids = {id(e) for e in self.date_marks}
        self.time_ids = {id(e) for e in self.time_marks}

    def text(self, el: Tag) -> str:
        """A mark's date text: the line of it that holds the date, when the date is one line of a
        longer element ("<b>Title</b><br>March 11, 6 pm<br>Place")."""
        return self.lines.get(id(el)) or _mark_text(el)

    def when(self, el: Tag):
        return self.parse(self.text(el))

    def parse(self, text: str):
        if text not in self._cache:
            try:
                self._cache[text] = parse_when(text, reference=self.reference, dayfirst=self.dayfirst)
            except Exception:  # noqa: BLE001 - a date the parser chokes on is simply not a date
                self._cache[text] = None
        return self._cache[text]


_SEPARATOR = re.compile(r"\s+[-–—|·]\s+")


def date_head(text: str, *, reference: date, dayfirst: bool = False, end_text: str | None = None):
    """("March 4, 7 pm", When, "Guild Meeting, Burlington") for "March 4, 7 pm – Guild Meeting,
    Burlington": a date written before a dash, then the rest. The longest such head that reads
    as a date wins ("March 3 - 5 – Conference" keeps its range); None when none does."""
    cuts = [m for m in _SEPARATOR.finditer(text) if 4 <= m.start() <= 60]
    for m in reversed(cuts):
        head = text[:m.start()].strip()
        try:
            when = parse_when(head, end_text, reference=reference, dayfirst=dayfirst)
        except Exception:  # noqa: BLE001 - a head the parser chokes on is not a date
            when = None
        if when is not None:
            return head, when, text[m.end():].strip()
    return None


def _own_lines(el: Tag) -> list[str]:
    """An element's text cut at its <br>s."""
    out = []
    for part in re.split(r"<br\s*/?>", el.decode_contents(), flags=re.I):
        text = re.sub(r"\s+", " ", fragment_text(part)).strip()
        if text:
            out.append(text)
    return out


def fragment_text(markup: str) -> str:
    """BeautifulSoup(markup, "lxml").get_text(" ", strip=True), read from an lxml tree where that is
    the same reading (sources.parse.tree): a tree per line of a block is what reading the lines cost."""
    try:
        return tree.fragment_text(markup)
    except tree.Unsure:
        return BeautifulSoup(markup, "lxml").get_text(" ", strip=True)


def _innermost(marks: list[Tag]) -> list[Tag]:
    ids = {id(m) for m in marks}
    out = []
    for m in marks:
        if any(id(d) in ids for d in m.find_all(True)):
            continue
        out.append(m)
    return out


def _text(el: Tag) -> str:
    return re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()


# --------------------------------------------------------------------------- selectors


def _classes(el: Tag) -> list[str]:
    return [c for c in (el.get("class") or []) if _STABLE_CLASS.match(c) and not _VOLATILE_CLASS.search(c)]


def _step(el: Tag) -> str:
    classes = _classes(el)
    return el.name + (f".{classes[0]}" if classes else "")


def _path_key(el: Tag) -> tuple[str, ...]:
    steps = []
    node: Tag | None = el
    while isinstance(node, Tag) and node.name not in ("body", "html", "[document]"):
        steps.append(_step(node))
        node = node.parent
    return tuple(reversed(steps))


def _css_for(members: list[Tag], soup: BeautifulSoup) -> str:
    """The shortest tag.class path (from the end) that selects these members and few others."""
    want = {id(m) for m in members}
    key = _path_key(members[0])
    best = " > ".join(key)
    for n in range(1, len(key) + 1):
        css = " > ".join(key[-n:])
        try:
            got = soup.select(css)
        except Exception:  # noqa: BLE001 - an odd class name: try a longer path
            continue
        ids = {id(g) for g in got}
        if want <= ids and len(ids - want) <= max(0, len(want) // 10):
            return css
    return best


def _relative(el: Tag, block: Tag) -> str:
    """A selector that finds el inside block: "h3", "span.date", ":scope > td:nth-of-type(2)"."""
    if el is block:
        return ":scope"
    classes = _classes(el)
    tries = []
    if classes:
        tries += [f"{el.name}.{classes[0]}", f".{classes[0]}"]
    tries.append(el.name)
    for css in tries:
        try:
            hits = block.select(css)
        except Exception:  # noqa: BLE001
            continue
        if len(hits) == 1 and hits[0] is el:  # one and only: it is read with others (".date, .time")
            return css
    steps = []
    node = el
    while node is not None and node is not block:
        step = _step(node)
        parent = node.parent
        if parent is not None:
            same = parent.find_all(node.name, recursive=False)
            if len(same) > 1:
                nth = next(i for i, s in enumerate(same) if s is node) + 1
                step = f"{node.name}:nth-of-type({nth})"
                if _classes(node):
                    step = f"{node.name}.{_classes(node)[0]}:nth-of-type({nth})"
        steps.append(step)
        node = parent
    return ":scope > " + " > ".join(reversed(steps))


# --------------------------------------------------------------------------- candidates


def _candidates(soup: BeautifulSoup, marks: _Marks) -> list[Candidate]:
    body = soup.body or soup
    found: list[Candidate] = []
    # (a) blocks: ancestors of date/time marks, grouped by their tag.class path from <body>
    groups: dict[tuple[str, ...], list[Tag]] = {}
    seen: set[int] = set()
    for mark in marks.date_marks + marks.time_marks:
        for anc in [mark, *mark.parents]:
            if not isinstance(anc, Tag) or anc.name in ("body", "html", "[document]"):
                break
            if id(anc) in seen:
                continue
            seen.add(id(anc))
            groups.setdefault(_path_key(anc), [])
    if groups:
        keys: dict[int, tuple[str, ...]] = {}  # parents come before children in document order
        for el in body.find_all(True):
            parent = el.parent
            key = keys.get(id(parent), _path_key(parent) if parent is not body else ()) + (_step(el),)
            keys[id(el)] = key
            if key in groups:
                groups[key].append(el)
    for key, members in groups.items():
        if len(members) >= 2:
            found.append(Candidate(" > ".join(key), members, "block"))
    # (b) runs of siblings: the first repeated child of a parent starts each run
    for parent in [body, *body.find_all(True)]:
        if parent.name in _SKIP:
            continue
        children = [c for c in parent.find_all(True, recursive=False)]
        if len(children) < 4:
            continue
        counts = Counter(_step(c) for c in children)
        repeated = [c for c in children if counts[_step(c)] >= 2]
        if not repeated:
            continue
        lead = _step(repeated[0])
        members = [c for c in children if _step(c) == lead]
        if all(c.find_next_sibling() is None or _step(c.find_next_sibling()) == lead for c in members):
            continue  # nothing between the members: that is a block list, seen above
        found.append(Candidate(" > ".join(_path_key(members[0])), members, "run"))
    return found


def _unit(candidate: Candidate, member: Tag) -> list[Tag]:
    """The elements that make up one event: the member, or the member and the siblings it leads."""
    if candidate.mode == "block":
        return [member]
    ids = {id(m) for m in candidate.members}
    out = [member]
    for sib in member.find_next_siblings():
        if id(sib) in ids:
            break
        out.append(sib)
    return out


def _within(unit: list[Tag], ids: set[int]) -> list[Tag]:
    found = []
    for top in unit:
        if id(top) in ids:
            found.append(top)
        found.extend(d for d in top.find_all(True) if id(d) in ids)
    return found


def _title_element(unit: list[Tag], exclude: set[int]) -> Tag | None:
    """The event's title: a heading, a "title" class, a link's text, bold text."""
    pools = []
    for top in unit:
        pools.append([top, *top.find_all(True)])
    flat = [el for pool in pools for el in pool]

    def usable(el: Tag) -> bool:
        text = _text(el)
        return (id(el) not in exclude and 3 <= len(text) <= 200 and not _LINK_NOISE.match(text)
                and not any(id(d) in exclude for d in el.find_all(True)))

    for test in (lambda e: e.name in _HEADINGS,
                 lambda e: any(_TITLE_CLASS.search(c) for c in e.get("class") or []),
                 lambda e: e.name == "a" and e.get("href"),
                 lambda e: e.name in ("strong", "b")):
        for el in flat:
            if test(el) and usable(el):
                return el
    return None


def _evaluate(candidate: Candidate, marks: _Marks, soup: BeautifulSoup) -> None:
    members = candidate.members
    dated = titled = fuller = many = 0
    dates: list[object] = []
    timed_only: list[Tag] = []
    for member in members:
        unit = _unit(candidate, member)
        date_marks = _within(unit, marks.date_ids)
        if not date_marks:
            if _within(unit, marks.time_ids):
                timed_only.append(member)
            continue
        dated += 1
        first = marks.when(date_marks[0])
        dates.append(first.start if first is not None else None)
        if len({marks.text(d) for d in date_marks}) > 2:
            many += 1
        unit_text = " ".join(_text(u) for u in unit)
        mark_text = " ".join(marks.text(d) for d in date_marks)
        if len(unit_text) - len(mark_text) >= 8:
            fuller += 1
        if _title_element(unit, {id(d) for d in date_marks}) is not None:
            titled += 1
    # (c) day headings: members with a time but no date, under a date mark that is not theirs
    if dated < 2 and len(timed_only) >= 2:
        day_of = _days_above(timed_only, marks, candidate)
        if len(day_of) >= max(2, int(0.6 * len(timed_only))):
            heads = list({id(h): h for h in day_of.values()}.values())
            candidate.day_css = _css_for(heads, soup)
            candidate.days = day_of
            dated = len(day_of)
            titled = fuller = 0
            for member in timed_only:
                if id(member) not in day_of:
                    continue
                unit = _unit(candidate, member)
                times = {id(t) for t in _within(unit, marks.time_ids)}
                if _title_element(unit, times) is not None:
                    titled += 1
                if len(" ".join(_text(u) for u in unit)) >= 12:
                    fuller += 1
                head = marks.when(day_of[id(member)])
                dates.append(head.start if head is not None else None)
    candidate.dated = dated
    if dated < 2:
        candidate.score = 0.0
        return
    title_share, fuller_share = titled / dated, fuller / dated
    score = dated * (0.4 + 0.6 * title_share) * (0.25 + 0.75 * fuller_share)
    if many > dated / 2:
        score /= 3  # each member holds many dates: a container of events, not an event
    if dated < len(members) / 3:
        score *= dated / len(members) * 3  # most members hold no date: not an event list
    if candidate.mode == "run" and _title_element([candidate.members[0]], set()) is None:
        score *= 0.8  # a run should start at its title
    days = [d.date() if isinstance(d, datetime) else d for d in dates if d is not None]
    coming = sum(1 for d in days if d >= marks.reference - timedelta(days=1))
    if days:  # a listing looks ahead; news items and comments look back
        score *= 0.15 + 0.85 * coming / len(days)
    candidate.score = score
    candidate.why = (f"{len(members)} element{'s' if len(members) != 1 else ''} `{candidate.event_css}`, "
                     f"{dated} with a date ({coming} to come), {titled} with a title")


def _mark_text(el: Tag) -> str:
    """A mark's text as the adapter reads it: a <time datetime> by its attribute (with its words
    when the attribute is a bare date, for the time they may add)."""
    if el.name == "time" and el.get("datetime"):
        machine = str(el["datetime"]).strip()
        return f"{machine} {_text(el)}" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", machine) else machine
    return _text(el)


def _richest(marks: _Marks, found: list[Tag]) -> list[Tag]:
    """The unit's date marks, best first: not a title that mentions its date ("Social – Sat, Jul 25"),
    then one that also gives a time, then the one with the least text besides the date."""
    def rank(el: Tag) -> tuple[int, int, int]:
        when = marks.when(el)
        title_like = el.name in _HEADINGS or el.name == "a" or bool(el.find_parent(_HEADINGS)) or any(
            _TITLE_CLASS.search(c) for c in el.get("class") or [])
        return (int(title_like), 0 if when is not None and isinstance(when.start, datetime) else 1,
                len(_text(el)) - len(marks.text(el)) if id(el) not in marks.lines else len(_text(el)))
    return sorted(found, key=rank)


def _days_above(members: list[Tag], marks: _Marks, candidate: Candidate) -> dict[int, Tag]:
    """For each member, the nearest date mark before it in the page that lies outside every member."""
    inside: set[int] = set()
    for m in candidate.members:
        for top in _unit(candidate, m):
            inside.add(id(top))
            inside.update(id(d) for d in top.find_all(True))
    wanted = {id(m) for m in members}
    out: dict[int, Tag] = {}
    current: Tag | None = None
    root = members[0].find_parent("body") or members[0].find_parents()[-1]
    for el in root.find_all(True):
        if id(el) in marks.date_ids and id(el) not in inside:
            current = el
        elif id(el) in wanted and current is not None:
            out[id(el)] = current
    return out


# --------------------------------------------------------------------------- fields


def _vote(values: list[str | None], minimum: float = 0.4) -> str | None:
    real = [v for v in values if v]
    if not real:
        return None
    value, n = Counter(real).most_common(1)[0]
    return value if n >= max(1, minimum * len(values)) else None


def _field_selector(el: Tag, unit: list[Tag], mode: str) -> str:
    member = unit[0]
    if mode == "block" or _inside(el, member):
        return _relative(el, member)
    for sib in unit[1:]:
        if _inside(el, sib):
            css = _relative(el, sib)
            if css == ":scope":
                css = _step(el)
            elif css.startswith(":scope > "):
                css = _step(sib) + " > " + css[len(":scope > "):]
            return "~ " + css
    return _relative(el, member)


def _inside(el: Tag, top: Tag) -> bool:
    """el is top or one of its descendants (by identity: bs4 compares tags by their markup)."""
    return el is top or any(p is top for p in el.parents)


def _location_element(unit: list[Tag], exclude: set[int]) -> Tag | None:
    flat = [el for top in unit for el in [top, *top.find_all(True)] if id(el) not in exclude]
    for el in flat:
        if any(_LOCATION_CLASS.search(c) for c in el.get("class") or []) and _text(el):
            return el
    best = None
    for el in flat:
        text = _text(el)
        if not text or len(text) > 160 or any(id(d) in exclude for d in el.find_all(True)):
            continue
        if _STREET.search(text) or _CITY_STATE.search(text) or _WHERE_WORD.match(text):
            if best is None or len(text) <= len(_text(best)):
                best = el
    return best if best is not None and best is not unit[0] else None


def _description_element(unit: list[Tag], exclude: set[int]) -> Tag | None:
    flat = [el for top in unit for el in [top, *top.find_all(True)] if id(el) not in exclude]
    for el in flat:
        if any(_DESC_CLASS.search(c) for c in el.get("class") or []) and len(_text(el)) >= 20 \
                and not any(id(d) in exclude for d in el.find_all(True)):
            return el
    for el in flat:
        if el.name in ("p", "div", "td", "dd") and len(_text(el)) >= 40 \
                and not any(id(d) in exclude for d in el.find_all(True)) and el is not unit[0]:
            return el
    return None


def _map_fields(candidate: Candidate, marks: _Marks) -> tuple[dict[str, str], list[str], list[str]]:
    starts, ends, titles, links, locations, descriptions = [], [], [], [], [], []
    clock: list[str | None] = []  # the time element apart from the date, unit by unit
    location_texts: list[str] = []
    notes: list[str] = []
    for member in candidate.members:
        unit = _unit(candidate, member)
        if candidate.day_css:
            if id(member) not in candidate.days:
                continue
            date_marks = []
            time_marks = _within(unit, marks.time_ids)
        else:
            date_marks = _richest(marks, _within(unit, marks.date_ids))
            time_marks = _within(unit, marks.time_ids)
            if not date_marks:
                continue
        used: set[int] = set()
        start_parts = []
        if date_marks:
            first = date_marks[0]
            start_parts.append(_field_selector(first, unit, candidate.mode))
            used.add(id(first))
            when = marks.when(first)
            if time_marks and not _inside(time_marks[0], first):
                # the time apart from the date ("July 25" + "11:30 am - 12:30 pm"): read together
                clock.append(_field_selector(time_marks[0], unit, candidate.mode))
                used.add(id(time_marks[0]))
            else:
                clock.append(None)
            if len(date_marks) > 1:
                second = marks.when(date_marks[1])
                if when is not None and second is not None and _later(second.start, when.start):
                    ends.append(_field_selector(date_marks[1], unit, candidate.mode))
                    used.add(id(date_marks[1]))
                else:
                    ends.append(None)
            else:
                ends.append(None)
        elif time_marks:
            start_parts.append(_field_selector(time_marks[0], unit, candidate.mode))
            used.add(id(time_marks[0]))
            ends.append(None)
            clock.append(None)
        starts.append(", ".join(start_parts) if start_parts else None)
        title = _title_element(unit, used)
        titles.append(_field_selector(title, unit, candidate.mode) if title is not None else None)
        if title is not None:
            used.add(id(title))
        anchor = None
        if title is not None:
            anchor = title if title.name == "a" and title.get("href") else (
                title.find("a", href=True) or title.find_parent("a", href=True))
        if anchor is None:
            anchor = next((a for top in unit for a in ([top] if top.name == "a" else top.find_all("a", href=True))
                           if a.get("href") and not str(a["href"]).startswith(("#", "mailto:", "tel:",
                                                                                   "javascript:"))), None)
        links.append(_field_selector(anchor, unit, candidate.mode) + "@href" if anchor is not None else None)
        location = _location_element(unit, used)
        locations.append(_field_selector(location, unit, candidate.mode) if location is not None else None)
        if location is not None:
            used.add(id(location))
            location_texts.append(_text(location))
        if title is not None:
            used.update(id(d) for d in title.find_all(True))
        description = _description_element(unit, used)
        descriptions.append(_field_selector(description, unit, candidate.mode) if description is not None
                            else None)

    selectors: dict[str, str] = {"event": candidate.event_css}
    title = _vote(titles, 0.5)
    start = _vote(starts, 0.3)
    apart = _vote(clock, 0.1)  # where any units write the time apart, all may: an empty match adds nothing
    if start and apart and apart != start and not candidate.day_css:
        start = f"{start}, {apart}"
    selectors["title"] = title or ":scope"
    selectors["start"] = start or ":scope"
    if candidate.day_css:
        selectors["day"] = candidate.day_css
    for key, values in (("end", ends), ("location", locations), ("link", links), ("description", descriptions)):
        chosen = _vote(values, 0.3)
        if chosen and chosen != selectors.get("title"):
            selectors[key] = chosen
    if ":scope" == selectors["title"]:
        notes.append("no separate title element: the title is the block's own text")
    return selectors, location_texts, notes


def _later(a, b) -> bool:
    try:
        if isinstance(a, datetime) != isinstance(b, datetime):
            a = a.date() if isinstance(a, datetime) else a
            b = b.date() if isinstance(b, datetime) else b
        if isinstance(a, datetime) and (a.tzinfo is None) != (b.tzinfo is None):
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        return a > b
    except TypeError:
        return False


# --------------------------------------------------------------------------- the entry point


def _refine_event_css(candidate: Candidate, soup: BeautifulSoup, marks: _Marks) -> None:
    """Table rows: leave the header row out when only data rows hold cells."""
    css = _css_for(candidate.members, soup)
    members = candidate.members
    if candidate.members[0].name == "tr":
        undated = [m for m in members if not _within([m], marks.date_ids | marks.time_ids)]
        if undated and all(m.find("td", recursive=False) is None for m in undated):
            css += ":has(> td)"
    candidate.event_css = css


def infer_listing(page: str | BeautifulSoup, *, reference: date | datetime | None = None,
                  dayfirst: bool = False, past: list[date] | None = None) -> Inference | None:
    """The listing's mapping, or None when the page repeats no dated structure (or, when its
    best one is all well in the past, None with the latest of those dates appended to `past`)."""
    soup = page if isinstance(page, BeautifulSoup) else BeautifulSoup(page, "lxml")
    if reference is None:
        reference = date.today()
    elif isinstance(reference, datetime):
        reference = reference.date()
    marks = _Marks(soup, reference, dayfirst)
    if len(marks.date_marks) < 2 and not (marks.date_marks and len(marks.time_marks) >= 2):
        return None
    candidates = _candidates(soup, marks)
    for c in candidates:
        _evaluate(c, marks, soup)
    ranked = sorted((c for c in candidates if c.score > 0), key=lambda c: (-c.score, -len(_path_key(c.members[0]))))
    if not ranked:
        return None
    best = _prefer_outer(ranked[0], ranked)
    latest = _latest_if_all_past(best, marks, reference)
    if latest is not None:
        if past is not None:
            past.append(latest)
        return None
    _refine_event_css(best, soup, marks)
    selectors, locations, notes = _map_fields(best, marks)
    explanation = [f"events are the {best.why}"
                   + (f" under the day headings `{best.day_css}`" if best.day_css else "")
                   + (" (each with the siblings that follow it)" if best.mode == "run" else "")]
    runner = next((c for c in ranked[1:] if c.event_css != best.event_css), None)
    if runner is not None:
        explanation.append(f"next best: {runner.why} (score {runner.score:.1f} against {best.score:.1f})")
    explanation.extend(notes)
    blocks = len(soup.select(selectors["event"])) if selectors["event"] else len(best.members)
    return Inference(selectors, blocks, best.dated, explanation, locations)


def _prefer_outer(best: Candidate, ranked: list[Candidate]) -> Candidate:
    """Between a block and the block around it, one for one and as well dated, take the outer:
    it holds the place and description that sit beside the date and title."""
    while True:
        outer = None
        for c in ranked:
            if c is best or c.mode != "block" or best.mode != "block" or c.day_css \
                    or c.score < 0.95 * best.score or c.dated < best.dated:
                continue
            ids = {id(m) for m in c.members}
            owners = []
            for m in best.members:
                owner = next((p for p in m.parents if id(p) in ids), None)
                if owner is None:
                    break
                owners.append(id(owner))
            else:
                if len(set(owners)) == len(owners):
                    outer = c
                    break
        if outer is None:
            return best
        best = outer


def _latest_if_all_past(candidate: Candidate, marks: _Marks, reference: date) -> date | None:
    """The latest date when every one is more than two months before the page's date (comments,
    reviews, an archive: nothing to come), else None."""
    cutoff = reference - timedelta(days=60)
    days = []
    for member in candidate.members:
        found = _within(_unit(candidate, member), marks.date_ids)
        if candidate.day_css and id(member) in candidate.days:
            found = [candidate.days[id(member)]]
        for mark in found[:1]:
            when = marks.when(mark)
            if when is not None:
                days.append(when.start.date() if isinstance(when.start, datetime) else when.start)
    if not days or max(days) >= cutoff:
        return None
    return max(days)


def refusal(url: str, latest_past: date | None = None) -> str:
    """The one sentence `sources add` prints for a page with no repeated dated structure."""
    if latest_past is not None:
        return (f"{url} lists nothing to come: the blocks of it that repeat with a date are all in the past "
                f"(the latest {latest_past:%B} {latest_past.day}, {latest_past.year}), so nothing was added.")
    return (f"{url} does not look like an event listing: no block of it repeats with a date in each "
            "(and it has no iCalendar feed, schema.org Event, h-event or RSS/Atom), so nothing was added.")
