"""Reading one post: the event it announces, or why it is not an announcement."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aggregator.text import CANCEL_WORDS
from sources.parse.places import venue_zone
from sources.parse.prose.places import find_place, place_after_time
from sources.parse.prose.text import clean_subject, is_reply, strip_quotes
from sources.parse.prose.spans import _find_spans, _SpanHit
from sources.parse.prose.when import (
    _ALL_DAY_RE, _DATE_LABEL, _RANGE_START, _DateHit, _find_dates, _find_times, _named_zone, _TimeHit,
)

# An announcement states its date near the top; a huge post is scanned only this far (characters).
MAX_SCAN = 20_000

_NOT_EVENT_SUBJECTS = [
    (re.compile(r"\bminutes\b", re.I), "meeting minutes, not an announcement"),
    (re.compile(r"\bdigest\b", re.I), "a list digest; its messages are read as posts of their own"),
    (re.compile(r"\bfor\s+sale\b|\bsale\s*:|\b(?:moving|garage|yard|estate|clearance)\s+sale\b|\bselling\b|^\W*(?:fs|wts|wtb)\b|\bused\s+table\b", re.I), "something for sale, not an event"),
    (re.compile(r"\blooking\s+for\s+(?:an?\s+)?(?:sub|substitute|lmt|therapist)\b|\bcover(?:ing)?\s+(?:for\s+)?my\s+"
                r"(?:clients|shifts?|regulars|appointments)\b", re.I), "a request for cover, not an event"),
    (re.compile(r"\b(?:job(?!['’])|jobs|hiring|position|positions|opening|openings|employment|help\s+wanted|seeking\s+(?:a\s+)?(?:lmt|therapist|massage)|now\s+hiring|career)\b", re.I),
     "a job ad, not an event"),
    (re.compile(r"\b(?:dues|renewal|renew|membership\s+fees?)\b", re.I), "a renewal deadline, not an event"),
    (re.compile(r"\bfor\s+rent\b|\brental\b|\bsublet\b|\bsublease\b|\broom\s+(?:available|share)\b", re.I),
     "a room to rent, not an event"),
    (re.compile(r"\boffice\b.*\bclos|\bclos(?:ed|ure|ing)\b.*\b(?:holiday|office)|\bholiday\s+hours\b"
                # "Clinic closed Monday 9/7": a business closed for a day
                r"|\b(?:clinic|office|studio|spa|center|centre)\s+(?:will\s+be\s+|is\s+)?closed\b"
                r"(?!.*\b(?:meeting|class|moved?|moves|instead|venue|location)\b)", re.I),
     "an office closure, not an event"),
    (re.compile(r"\bcar\s*-?pool|\bride\s*-?share\b|\brides?\s+(?:needed|wanted|offered)\b|\bneed\s+a\s+ride\b", re.I),
     "a ride offered or asked for, not an event"),
    (re.compile(r"\b(?:room|space|venue|hall)\s+(?:booking|reservation|request|availability)\b", re.I),
     "a room booking, not an event"),
]
# All of them at once, searched first: most titles match none, and one search costs less than ten
_ANY_NOT_EVENT_SUBJECT = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in _NOT_EVENT_SUBJECTS), re.I)
# Words without which a pattern below cannot match, looked for in the lower-cased text first (a substring
# test is far cheaper than a case-blind scan). None holds an "i", "k" or "s", the letters a case-blind
# pattern also matches in other scripts' forms ("ſ", "K"), so a match always holds one of them.
_CANCELLED_BODY_WORDS = ("cancel", "called", "tponed")
_MOVED_WORDS = ("moved", "tponed", "hed", "changed")  # "pushed", "rescheduled": "hed"
_ALL_DAY_WORDS = ("all-day", "all day")

# An autoreply answers every post the list sends; its span of days is the writer's absence.
_AUTOREPLY_SUBJECT = re.compile(r"^\W*(?:automatic\s+reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply"
                                r"|out\s+of\s+(?:the\s+)?office|r[ée]ponse\s+automatique|abwesenheitsnotiz)\b", re.I)
_AUTOREPLY_BODY = re.compile(r"^\W*(?:I\s+am|I['’]m|I\s+will\s+be)\s+(?:currently\s+)?(?:out\s+of\s+(?:the\s+)?office"
                             r"|away\s+from\s+(?:the\s+|my\s+)?(?:office|desk)|on\s+(?:vacation|leave|holiday))\b", re.I)
# "YEA = move the meeting to 12/3 / NAY = keep 12/10": a vote on a date, not the event
_VOTE_LINE = re.compile(r"^\s*(?:yea|nay|aye|option\s+[a-c1-3])\s*[=:]\s*\S", re.I | re.M)
_CANCEL_RE = re.compile(r"\b(?:cancel+ed|cancel+ing|cancel+ation|called\s+off)\b", re.I)
_DIGEST_BODY_RE = re.compile(r"^\s*(?:today's\s+topics\s*:|topic\s+digest\b)", re.I | re.M)
# Words that make a dated sentence an event's announcement when no time is given: "the meetup is
# on November 14th", "the convention runs October 14-17". Without one, a date and no time is a
# deadline, an absence or chatter ("I'll be away June 1-14").
_EVENT_NOUN = re.compile(
    r"\b(?:meet-?ups?|meetings?|conferences?|conventions?|retreats?|intensives?|expos?|exposition|summits?|symposi(?:um|a)"
    r"|workshops?|class(?:es)?|courses?|trainings?|seminars?|fairs?|festivals?|camps?|gatherings?|socials?|mixers?"
    r"|part(?:y|ies)|picnics?|potlucks?|clinics?|booths?|open\s+house|exchanges?|swaps?|reunions?|celebrations?"
    r"|galas?|dinners?|luncheons?|brunch(?:es)?|happy\s+hours?|lobby\s+day|webinars?|demos?|field\s+trips?|outings?"
    r"|events?|sessions?|certifications?|(?:one|two|three|four|five|[1-5])[- ]day"
    # "Hands for Hope chair massage day is Sunday, April 26": a day named for what is done on it (not "tax day")
    r"|(?:massage|volunteer(?:ing)?|service|clinic|awareness|appreciation|community|wellness|health|spa|self[- ]care"
    r"|education|advocacy|demo|work|field|fun)\s+day)\b", re.I)
_MOVED_RE = re.compile(r"\b(?:moved|rescheduled|postponed|pushed(?:\s+back)?|changed)\b(?:\s+from\s+[^.\n]{3,40}?)?"
                       r"\s+(?:to|until|till)\s+", re.I)
# In a reply, "I'll call them Monday at 9am" or "my 9am client on Tuesday" is the writer's own day.
_PERSONAL_PLAN_RE = re.compile(r"\bI(?:['’]ll|['’]m|\s+will|\s+am|\s+can|\s+could|\s+usually|\s+have)\b|\bmy\b", re.I)
# A reminder of a day: "we meet Sunday at ...", "Don't forget - Awareness Day this Thursday"
_REMINDER = r"we(?:['’]ll)?\s+meet|(?:just\s+a|friendly|quick)\s+reminder|don['’]?t\s+forget"
_REMINDER_RE = re.compile(rf"\b(?:{_REMINDER})\b", re.I)
# ... or words that say something takes place: "Reiki Level 2 runs Nov. 14th & 15th"
_EVENT_VERB = re.compile(r"\b(?:runs|will\s+run|takes?\s+place|will\s+take\s+place|(?:will\s+be|is\s+being)\s+held"
                         r"|is\s+happening|join\s+us|save\s+the\s+date|mark\s+your\s+calendars?|block\s+(?:out|off)"
                         r"|{reminder})\b".format(reminder=_REMINDER), re.I)
# ... but a price cut over some days is a sale: "20% off all courses from April 1 to April 10"
_SALE_RE = re.compile(r"\b\d+\s*%\s*off\b|\b(?:use|promo|discount)\s+code\b|\bdiscount(?:ed)?\b", re.I)
# A question about a date asks, it does not announce, unless it invites: "Want to learn cupping? Join us ..."
_INVITING_RE = re.compile(r"\b(?:join|come|coming|will\s+you|won['’]?t\s+you|want\s+to\s+(?:learn|join|come)|interested\s+in"
                          r"|ready\s+to|who['’]?s\s+in)\b", re.I)


def _asked(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") and not _INVITING_RE.search(sentence)


_CANCEL_SUBJECT_RE = re.compile(r"\b(?:" + CANCEL_WORDS + r")\b", re.I)
_CANCELLED_BODY_RE = re.compile(r"\b(?:is|has\s+been|have\s+been|been|are|was|will\s+be)\s+(?:cancel+ed|called\s+off|postponed)\b",
                                re.I)
# Where a sentence stops: its end mark before a space, or a blank line
_SENTENCE_STOP = re.compile(r"[.!?](?=\s|$)|\n\n")



@dataclass(frozen=True, slots=True)
class Post:
    """One list post as a feed, mbox or mailbox gave it."""

    id: str  # Message-ID or the feed entry's id/guid
    subject: str
    body: str  # plain text (HTML already turned into text)
    sent: datetime  # aware
    author: str = ""
    url: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """What one post says: an event (start set) or why it is not one (reason set)."""

    start: datetime | date | None = None
    end: datetime | date | None = None
    timezone: str | None = None
    location: str | None = None
    cancelled: bool = False
    reason: str | None = None
    score: int = 0  # how complete: used to pick the best post of a thread

    @property
    def is_event(self) -> bool:
        return self.start is not None



def read_post(subject: str, body: str, sent: datetime, zone: ZoneInfo, *, strip=strip_quotes) -> Reading:
    """Read one post: the event it announces, or the reason it is not an announcement. (`strip` is
    strip_quotes, or one that remembers what it returned: records_from_posts reads a body twice.)"""
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=zone)
    sent_local = sent.astimezone(zone)
    title = clean_subject(subject)
    if _ANY_NOT_EVENT_SUBJECT.search(title):
        for pattern, reason in _NOT_EVENT_SUBJECTS:
            if pattern.search(title):
                return Reading(reason=reason)

    if _AUTOREPLY_SUBJECT.search(subject or ""):
        return Reading(reason="an automatic reply, not an announcement")
    reply = is_reply(subject)
    own = strip((body or "")[:MAX_SCAN * 10], reply=reply)[:MAX_SCAN]
    if _AUTOREPLY_BODY.search(own[:300]):
        return Reading(reason="an automatic reply, not an announcement")
    if len(_VOTE_LINE.findall(own[:4000])) >= 2:
        return Reading(reason="a vote on a date, not an announcement")
    low_own = own.lower()
    cancelled = bool(_CANCEL_SUBJECT_RE.search(subject)) or \
        (any(word in low_own for word in _CANCELLED_BODY_WORDS) and bool(_CANCELLED_BODY_RE.search(own)))
    if _DIGEST_BODY_RE.search(own[:2000]):
        return Reading(reason="a list digest; its messages are read as posts of their own")
    # A reply's subject repeats the announcement it answers: its date is the reply's news only when
    # the reply itself names a time ("Correction: it starts at 7:00 pm") or cancels.
    head = f"{subject.strip()[:500]}\n"
    if reply and not cancelled and not _find_times(own):
        head = ""
    text = head + own
    low_text = head.lower() + low_own  # text.lower(): only looked in for words of ASCII letters

    seen: dict = {}  # the pieces of dates the text holds, found for _find_dates and used again by _find_spans
    dates = _find_dates(text, len(head), sent_local.date(), seen)
    times = _find_times(text, [(d.pos, d.end) for d in dates])
    # "moved from March 7 to Saturday, March 21", "postponed to May 2": the new date is the event's,
    # the old one is not, and a post that names the new date does not cancel the event
    moves = []
    for m in _MOVED_RE.finditer(text) if any(word in low_text for word in _MOVED_WORDS) else ():
        if any(0 <= d.pos - m.end() < 40 for d in dates):
            moves.append((m.start(), m.end()))
            for d in dates:
                if m.start() <= d.pos < m.end():
                    d.deadline = True
    if moves and not re.search(r"\bcancel", text, re.I):
        cancelled = False
    upcoming = [d for d in dates if not d.deadline and d.day >= sent_local.date()]
    upcoming.sort(key=lambda d: (d.weak, d.pos))  # explicit dates before bare weekdays
    if not upcoming:
        if any(d.deadline for d in dates):
            return Reading(reason="names only a deadline, not an event", cancelled=cancelled)
        if dates:
            return Reading(reason="names only dates already past when it was sent", cancelled=cancelled)
        return Reading(reason="names no date and time for an event", cancelled=cancelled)

    usable_times = [t for t in times if not t.deadline]
    all_day = any(word in low_text for word in _ALL_DAY_WORDS) and bool(_ALL_DAY_RE.search(text))
    cue: list[bool] = []  # whether the subject names an event: looked up the first time it is asked

    def subject_cue() -> bool:
        if not cue:
            cue.append(not reply and bool(_EVENT_NOUN.search(title)))
        return cue[0]

    def announced(pos: int, end: int) -> bool:
        """Whether a date with no time of its own is an event's: on a Date:/When: line, or in a sentence
        (not a question) that names an event, or under a subject that does."""
        if _DATE_LABEL.search(text[max(0, pos - 40):pos]):
            return True
        sentence = _sentence(text, pos, end)
        if sentence.rstrip().endswith("?") or _SALE_RE.search(sentence):
            return False
        return all_day or subject_cue() or bool(_EVENT_NOUN.search(sentence) or _EVENT_VERB.search(sentence))

    def hours_given(sp: _SpanHit) -> bool:
        """A range of hours in the span's paragraph: a schedule, an event whatever its words."""
        para_start, para_end = text.rfind("\n\n", 0, sp.pos), text.find("\n\n", sp.end)
        return any(t.stop is not None and para_start <= t.pos and (para_end < 0 or t.end <= para_end)
                   for t in usable_times)

    span = next((sp for sp in _find_spans(text, sent_local.date(), seen)
                 if sp.last >= sent_local.date() and not any(a <= sp.pos < b for a, b in moves)
                 and (announced(sp.pos, sp.end) or hours_given(sp))), None)
    chosen: tuple[_DateHit, _TimeHit | None] | None = None
    spent: list[_TimeHit] = []  # times that put an earlier date in the past ("Great turnout tonight")
    for d in upcoming:
        if _asked(_sentence(text, d.pos, d.end)):
            continue  # "Does anyone know if the Jan 15 class counts?", "Tuesday the 7th or Wednesday the 8th?"
        # the time closest to this date: first one after it in the same paragraph, else the nearest before
        free_times = [t for t in usable_times if t not in spent]
        after = [t for t in free_times if t.pos >= d.end and "\n\n" not in text[d.end:t.pos]]
        before = [t for t in free_times if t.end <= d.pos and "\n\n" not in text[t.end:d.pos]]
        near = after[0] if after else (before[-1] if before else None)
        if near is None and free_times and len(upcoming) == 1:
            near = free_times[0]
        if near is not None and datetime.combine(d.day, near.start, tzinfo=zone) < sent - timedelta(hours=1):
            # "Great turnout tonight, thank you! Next session is on the 19th, same time (6:30pm)": a date
            # already over when the post was sent gives way to a later one; a time said in the past
            # date's own sentence ("Thanks for coming tonight at 7!") is that date's, not the later one's
            first, last = _sentence_bounds(text, d.pos, d.end)
            if first <= near.pos and near.end <= last:
                spent.append(near)
            continue
        if near is not None or all_day:
            chosen = (d, near)
            break
    if chosen is None and spent and span is None:
        return Reading(reason="names only dates already past when it was sent", cancelled=cancelled)
    if span is not None and (chosen is None or span.first <= chosen[0].day <= span.last or span.pos <= chosen[0].pos):
        return _span_reading(span, text, own, subject, usable_times, zone, cancelled)
    if chosen is None:
        # "Date: 10–16 June 2025" on a labelled line: an all-day (maybe multi-day) event
        for d in upcoming:
            if d.weak or not _DATE_LABEL.search(text[max(0, d.pos - 40):d.pos]):
                continue
            line_times = [t for t in times if text.rfind("\n", 0, t.pos) == text.rfind("\n", 0, d.pos)]
            if line_times:
                continue
            start_day, end_day = d.day, None
            before = _RANGE_START.search(text[max(0, d.pos - 12):d.pos])
            after = re.match(r"\s*(?:-|–|—|to|until|through|thru)\s*(\d{1,2})(?!\d|:)", text[d.end:d.end + 12])
            try:
                if before:
                    start_day, end_day = d.day.replace(day=int(before.group(1))), d.day
                elif after:
                    end_day = d.day.replace(day=int(after.group(1)))
            except ValueError:
                start_day, end_day = d.day, None
            if end_day is not None and end_day < start_day:
                start_day, end_day = d.day, None
            place = find_place(own, title=title) or find_place(subject)
            return Reading(start=start_day, end=(end_day + timedelta(days=1)) if end_day else None,
                           timezone=zone.key, location=place, cancelled=cancelled, score=2 + (2 if place else 0))
        # "the meetup is on November 14th": a day named for an event, with no time: all day
        # a bare weekday or "on the 6th" counts only in a post that names no other day, in a
        # sentence that reminds of it ("Friendly reminder: we meet Sunday at Lakeview Healing Arts")
        lone = not reply and not any(not d.weak for d in upcoming)
        for d in upcoming:
            if (not d.weak or (lone and _REMINDER_RE.search(_sentence(text, d.pos, d.end)))) \
                    and announced(d.pos, d.end):
                place = find_place(own, fallbacks=False, title=title) \
                    or place_after_time(text[d.end:d.end + 120]) or find_place(own, title=title) or find_place(head)
                return Reading(start=d.day, timezone=zone.key, location=place, cancelled=cancelled,
                               score=2 + (2 if place else 0))
        strong = [d for d in upcoming if not d.weak]
        if cancelled and strong:
            return Reading(start=strong[0].day, cancelled=True, location=find_place(own or subject, title=title),
                           score=1, timezone=zone.key)
        if cancelled:
            return Reading(reason="a cancellation that names no date and time", cancelled=True)
        return Reading(reason="names a date but no time for an event", cancelled=cancelled)

    day_hit, time_hit = chosen
    if time_hit is None:
        place = find_place(own, fallbacks=False, title=title) \
            or place_after_time(text[day_hit.end:day_hit.end + 120]) or find_place(text, title=title)
        return Reading(start=day_hit.day, end=None, timezone=zone.key, location=place, cancelled=cancelled, score=2)
    said = _sentence(text, min(day_hit.pos, time_hit.pos), max(day_hit.end, time_hit.end))
    if reply and (_PERSONAL_PLAN_RE.search(said) or said.rstrip().endswith("?")):
        # "I'll call them Monday at 9am", "Want to grab coffee Friday at 10?": one person to another
        return Reading(reason="a reply about the writer's own plans, not an announcement", cancelled=cancelled)
    event_zone = _named_zone(time_hit.zone, zone, day_hit.day, time_hit.start, time_hit.also) if time_hit.zone \
        else zone
    start = datetime.combine(day_hit.day, time_hit.start, tzinfo=event_zone)
    if start < sent - timedelta(hours=1):
        return Reading(reason="names only dates already past when it was sent", cancelled=cancelled)
    end = None
    if time_hit.stop is not None:
        end = datetime.combine(day_hit.day, time_hit.stop, tzinfo=event_zone)
        if end <= start:
            end += timedelta(days=1)
    after_time = place_after_time(text[time_hit.end:time_hit.end + 120])
    # "@ 11:00 am, Denver Library, Meeting Room B, 846 Lake Ave": a name and address right after the time is
    # the whole place (a search elsewhere would take the name nearest the address, "Meeting Room B")
    named = after_time and re.search(r"\d", after_time) and re.match(r"[A-Z0-9][\w'’&.-]*(?: [A-Z0-9][\w'’&.-]*)*(?:,|$)", after_time)
    location = (after_time if named else None) \
        or find_place(own, fallbacks=False, title=title) or after_time or find_place(own, title=title) \
        or find_place(subject)
    member = venue_zone(event_zone, location, day_hit.day)  # "MST" for a Phoenix venue: Arizona's time
    if member is not event_zone and member.key != event_zone.key:
        event_zone, start = member, start.replace(tzinfo=member)
        end = end.replace(tzinfo=member) if end is not None else None
    score = 3 + (2 if location else 0) + (1 if location and re.search(r"\d", location) else 0) \
        + (1 if end else 0) + min(len(own) // 200, 3)
    return Reading(start=start, end=end, timezone=event_zone.key, location=location,
                   cancelled=cancelled, score=score)


def _sentence_bounds(text: str, pos: int, end: int) -> tuple[int, int]:
    """Where the sentence around text[pos:end] starts and stops (a sentence end or a blank line)."""
    start = max(text.rfind(sep, 0, pos) for sep in (". ", "! ", "? ", "\n\n")) + 1
    m = _SENTENCE_STOP.search(text[end:])
    return max(start, 0), end + (m.end() if m else len(text) - end)


def _sentence(text: str, pos: int, end: int) -> str:
    """The sentence around text[pos:end] (from the previous sentence end or blank line to the next)."""
    first, last = _sentence_bounds(text, pos, end)
    return text[first:last]


def _span_reading(span: _SpanHit, text: str, own: str, subject: str, times: list[_TimeHit], zone: ZoneInfo,
                  cancelled: bool) -> Reading:
    """An event over several days: all day, or from the first day's start to the last day's end when the
    paragraph gives the hours ("April 11-12, 9am-5pm both days", "Friday 6pm through Sunday 2pm, June 5-7")."""
    para_start = text.rfind("\n\n", 0, span.pos)
    para_end = text.find("\n\n", span.end)
    near = [t for t in times if para_start <= t.pos and (para_end < 0 or t.end <= para_end)]
    title = clean_subject(subject)
    # "May 19–21, 2026, St. Luke's Parish Hall, Seattle": the place written right after the days
    place = find_place(own, fallbacks=False, title=title) or place_after_time(text[span.end:span.end + 120]) \
        or find_place(own, title=title) or find_place(subject)
    score = 3 + (2 if place else 0)
    ranged = next((t for t in near if t.stop is not None), None)
    if ranged is not None or len(near) >= 2:
        first_t, last_t = (ranged.start, ranged.stop) if ranged else (near[0].start, near[1].start)
        hit = ranged or near[0]
        event_zone = _named_zone(hit.zone, zone, span.first) if hit.zone else zone
        start = datetime.combine(span.first, first_t, tzinfo=event_zone)
        end = datetime.combine(span.last, last_t, tzinfo=event_zone)
        if end > start:
            return Reading(start=start, end=end, timezone=event_zone.key, location=place, cancelled=cancelled,
                           score=score + 1)
    return Reading(start=span.first, end=span.last + timedelta(days=1), timezone=zone.key, location=place,
                   cancelled=cancelled, score=score)
