"""Spans of days as posts write them: "from May 30 to June 1, 2025", "October 14-17", "Sat–Sun, Sept 12–13",
"from Friday, September 25 to Sunday the 27th", "10–16 June 2025", "Nov. 14th & 15th",
"2026-06-12 to 2026-06-14", "3/14-3/15"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sources.parse.prose.when import (
    _MONTH_RE, _MONTHS, _STARTS_DIGIT, _STARTS_WEEKDAY_DIGIT, _STARTS_WEEKDAY_MONTH, _WD_RE, DAY_FIRST_RE, ISO_DATE_RE,
    MAX_HITS, US_DATE_RE, _is_deadline, _year_for, holds,
)


# Longer than this, a span of days is opening hours, a season or an absence, not one event.
MAX_SPAN_DAYS = 16

_SPAN_SEP = r"\s*(?:-|–|—|to|through|thru|until|till|(?P<both>&|and))\s*"
_WD_OPT = rf"(?:{_WD_RE}\.?,?\s+)?"
_ORD = r"(?:st|nd|rd|th)?"
# Every match of the first pattern below holds its middle, from the first day's last digit to the second
# day's first ("10 - 11", "30th to June 1"): searched for first, starting at digits, it spares most posts
# the scan from every letter a month or weekday can start with
_MONTH_FIRST_MIDDLE = re.compile(rf"\d{_ORD}(?:,?\s+20\d\d)?{_SPAN_SEP}{_WD_OPT}(?:{_MONTH_RE}\.?\s+|the\s+)?\d", re.I)
# Each with a piece every match of it holds, searched for before the scan (as when._DATE_PATTERNS): the
# first's middle (above), and when.py's pieces of a day before its month, an ISO and a US date
_SPAN_PATTERNS = [
    (re.compile(rf"{_STARTS_WEEKDAY_MONTH}(?<![\w/])(?:from\s+)?{_WD_OPT}(?P<m1>{_MONTH_RE})\.?\s+(?P<d1>\d{{1,2}}){_ORD}(?:,?\s+(?P<y1>20\d\d))?"
                rf"{_SPAN_SEP}{_WD_OPT}(?:(?P<m2>{_MONTH_RE})\.?\s+|the\s+)?(?P<d2>\d{{1,2}}){_ORD}(?![\d:])"
                rf"(?:,?\s+(?P<y2>20\d\d))?(?!\s*(?:[ap]\.?\s?m\b|[:.]\d))", re.I), _MONTH_FIRST_MIDDLE),
    (re.compile(rf"{_STARTS_DIGIT}(?<![\w/])(?P<d1>\d{{1,2}}){_ORD}(?:\s+(?P<m1>{_MONTH_RE})\.?)?{_SPAN_SEP}(?P<d2>\d{{1,2}}){_ORD}"
                rf"\s+(?P<m2>{_MONTH_RE})\b\.?(?:,?\s+(?P<y2>20\d\d))?", re.I), DAY_FIRST_RE),
    (re.compile(rf"(?<![\w/.-])(?P<iso1>20\d\d-\d\d-\d\d){_SPAN_SEP}(?P<iso2>20\d\d-\d\d-\d\d)(?!\d)", re.I), ISO_DATE_RE),
    # "3/14-3/15", "Sat 3/14 - Sun 3/15", "3/30 - 4/2/2026", "6/12-14" (US order, as the single dates are read)
    (re.compile(rf"{_STARTS_WEEKDAY_DIGIT}(?<![\w/.])(?:{_WD_RE}\.?,?\s+)?(?P<n1>1[0-2]|0?[1-9])/(?P<d1>3[01]|[12]\d|0?[1-9]){_SPAN_SEP}"
                rf"{_WD_OPT}(?:(?P<n2>1[0-2]|0?[1-9])/)?(?P<d2>3[01]|[12]\d|0?[1-9])(?:/(?P<y2>(?:20)?\d\d))?(?![\d/:]|\s*[ap]\.?m\b)", re.I), US_DATE_RE),
]

# "this weekend — Sat + Sun", "next weekend: Saturday & Sunday": the coming weekend, named with its days. Without
# "weekend" or this/next before it, "Sat & Sun 10-4" is a shop's opening hours.
_WEEKEND_RE = re.compile(r"(?=[cnt])\b(?P<rel>this|next|coming)\s+weekend\b[\s—–:,-]{0,6}(?:\(\s*)?"  # see when._STARTS_*
                         r"sat(?:urday)?\.?\s*(?:\+|&|and|-|–|/)\s*sun(?:day)?\b", re.I)


@dataclass
class _SpanHit:
    pos: int
    end: int
    first: date
    last: date  # inclusive


def _month(word: str | None) -> int | None:
    return _MONTHS[word[:3].lower()] if word else None


def _find_spans(text: str, sent_local: date, seen: dict | None = None) -> list[_SpanHit]:
    """Spans of two to MAX_SPAN_DAYS days the text names, in order. `seen`: as when.holds() takes it."""
    spans: list[_SpanHit] = []
    for pattern, piece in _SPAN_PATTERNS:
        if not holds(piece, text, seen):
            continue
        for m in pattern.finditer(text):
            if len(spans) >= MAX_HITS:
                break
            if any(not (m.end() <= s.pos or m.start() >= s.end) for s in spans):
                continue
            g = m.groupdict()
            try:
                if g.get("iso1"):
                    first, last = date.fromisoformat(g["iso1"]), date.fromisoformat(g["iso2"])
                else:
                    if any(w and w.lower() == "may" and not w[0].isupper() for w in (g.get("m1"), g.get("m2"))):
                        continue  # "may": the verb
                    if g.get("n1"):
                        m1 = int(g["n1"])
                        m2 = int(g["n2"]) if g.get("n2") else m1
                    else:
                        m1 = _month(g.get("m1")) or _month(g.get("m2"))
                        m2 = _month(g.get("m2")) or m1
                    d1, d2 = int(g["d1"]), int(g["d2"])
                    year = g.get("y2") or g.get("y1")
                    if year:
                        last = date(int(year) + (2000 if int(year) < 100 else 0), m2, d2)
                        first = date(last.year if (m1, d1) <= (m2, d2) else last.year - 1, m1, d1)
                    else:
                        found = _year_for(m1, d1, sent_local)
                        if found is None:
                            continue
                        first = found
                        last = date(first.year if (m2, d2) >= (m1, d1) else first.year + 1, m2, d2)
            except ValueError:
                continue
            if not 1 <= (last - first).days <= MAX_SPAN_DAYS - 1:
                continue
            if g.get("both") and (last - first).days != 1:
                continue  # "March 3 and 10": two days, not the days between
            spans.append(_SpanHit(m.start(), m.end(), first, last))
    # every match says "weekend": an ASCII text that does not (most) is not scanned for one
    weekend = not text.isascii() or "weekend" in text.lower()
    for m in _WEEKEND_RE.finditer(text) if weekend else ():
        if any(not (m.end() <= s.pos or m.start() >= s.end) for s in spans):
            continue
        saturday = sent_local + timedelta(days=(5 - sent_local.weekday()) % 7)
        if m.group("rel").lower() == "next" and (saturday - sent_local).days < 7 and sent_local.weekday() >= 5:
            saturday += timedelta(days=7)  # "next weekend" said on a weekend: the one after
        spans.append(_SpanHit(m.start(), m.end(), saturday, saturday + timedelta(days=1)))
    spans.sort(key=lambda s: s.pos)
    for span in spans:  # "until June 1 - June 3" etc. never; a deadline's span is no event either
        before = text[max(0, span.pos - 40):span.pos].split("\n")[-1]
        if _is_deadline(before):
            span.first = span.last = date.min
    return [s for s in spans if s.first != date.min]
