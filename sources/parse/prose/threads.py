"""Many posts: replies, reminders and forwards of one announcement collapse into one record."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aggregator.model import RawEvent, Status
from sources.base import Skipped
from sources.parse.prose.post import _NOT_EVENT_SUBJECTS, Post, Reading, read_post
from sources.parse.prose.text import _CANCEL_SUFFIX_RE, clean_subject, strip_quotes, subject_key
from sources.parse.prose.when import _MONTH_RE, _WD_RE

def _significant(subject: str) -> set[str]:
    stop = {"the", "and", "for", "with", "our", "your", "this", "next", "event", "meeting", "reminder",
            "join", "monthly", "night", "evening", "from", "about", "update", "updated", "cancelled",
            "canceled", "tonight", "tomorrow", "week", "massage", "therapists", "therapist", "chapter"}
    return {w for w in re.findall(r"[a-z]{4,}", clean_subject(subject).lower()) if w not in stop}


_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                 "i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "first": "1", "second": "2",
                 "third": "3"}
_SESSION_RE = re.compile(
    r"\b(?:(?P<half>morning|afternoon|evening|night|am|pm|a\.m\.|p\.m\.|daytime|weekday|weekend)"
    r"\s+(?:session|class|section|group|workshop|shift|cohort|edition)s?\b"
    r"|(?P<label>session|part|day|week|module|level|section|group|cohort|unit)\s*(?:#\s*)?"
    r"(?P<n>\d{1,2}|[ivx]{1,4}|one|two|three|four|five|six|first|second|third|[a-d])(?![\w'’])"
    r"|[(\-–:]\s*(?P<bare>morning|afternoon|evening)\s*\)?\s*$)",
    re.I,
)
_UPDATE_SUBJECT_RE = re.compile(r"^\W*(?:\[[^\]]{1,40}\]\s*)?(?:re\s*:\s*)?(?:update[ds]?|correction|corrected|change[ds]?|"
                                r"time\s+change|new\s+time|rescheduled|moved|revised)\b", re.I)
_UPDATE_BODY_RE = re.compile(r"\b(?:now\s+(?:starts?|begins?|at|from)|(?:moved|changed|pushed|bumped)\s+(?:back\s+|up\s+)?to"
                             r"|new\s+(?:start\s+)?time|rescheduled|correction|instead\s+of)\b", re.I)
_STREET_NUMBER_RE = re.compile(r"(?<![\w#])(\d{1,6})\s+(?:[NSEW]\.?\s+)?[A-Za-z]")
# Starts this far apart on one day are two events, not one event restated (a reminder that names
# the doors-open time half an hour early is still the same event) ...
CLEARLY_DIFFERENT = timedelta(hours=1)
# ... or half an hour apart when both posts are announcements (no Reminder:/Re:/Fwd:) under
# different subjects: "Atlanta Bodywork Exchange" at 7 and "Savannah Bodywork Exchange" at 6:30.
DIFFERENT_ANNOUNCEMENTS = timedelta(minutes=30)
_FOLLOWUP_RE = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:re|aw|sv|fwd?|fw|tr|wg|reminder|friendly\s+reminder|last\s+call|update[ds]?"
    r"|correction|change|new\s+date|tonight|tomorrow|this\s+week|reminder\s*[-–])\s*(?:\[\d+\])?\s*[:!–-]", re.I)


def _session(subject: str) -> str | None:
    """The session a subject names ("Morning Session", "Part 2", "Day 1", "Session B"), canonical, or None."""
    m = _SESSION_RE.search(clean_subject(subject))
    if not m:
        return None
    if m.group("half") or m.group("bare"):
        half = (m.group("half") or m.group("bare")).lower().replace(".", "")
        return {"am": "morning", "pm": "afternoon", "daytime": "morning"}.get(half, half)
    n = m.group("n").lower()
    if len(n) == 1 and n.isalpha() and n not in "iv" and not m.group("n").isupper():
        return None  # "group a", lowercase: a word, not a section letter
    return f"{m.group('label').lower()} {_NUMBER_WORDS.get(n, n)}"


def _is_update(post: Post) -> bool:
    """A post announcing that the event's time changed ("Update: mixer now starts at 7")."""
    return bool(_UPDATE_SUBJECT_RE.search(post.subject) or _UPDATE_BODY_RE.search(strip_quotes(post.body)[:2000]))


def _street_numbers(place: str | None) -> set[str]:
    return set(_STREET_NUMBER_RE.findall(place or ""))


_ASIDE = re.compile(r"\([^()]{0,40}\)")  # "($10 at the door)", "(3 CEs)": an aside, not the event's name
# "NY Chapter Meeting @ Brooklyn Wellness Center – June 21": the venue a subject adds is not the name either
_AT_VENUE = re.compile(r"\s@\s[^–—|]*")


# The day a subject names ("- Wed, May 6!!!", "on May 6", "- 3/7") is not part of the event's name
_DAY_WORDS = re.compile(rf"\b(?:{_WD_RE}|{_MONTH_RE}|on|the|\d{{1,4}}(?:st|nd|rd|th)?)\b", re.I)
_CANCEL_WORD = re.compile(r"\b(?:(?:has|have|is|are)\s+(?:been\s+)?)?(?:cancel+ed|postponed|called\s+off)\b", re.I)


def _name_key(subject: str) -> str:
    """A subject's words without its asides, the day it names or a cancellation marker: "Cancelled: NY
    Chapter Meeting on May 6" and "NY Chapter Meeting - Wed, May 6!!!" name one event."""
    bare = _AT_VENUE.sub(" ", _ASIDE.sub(" ", subject))
    return " ".join(_DAY_WORDS.sub(" ", _CANCEL_WORD.sub(" ", subject_key(bare))).split())


def _similar_subjects(a: str, b: str) -> bool:
    """Subjects of one event: the same words, or at least half of the shorter one's significant words
    shared ("Craniosacral Therapy Certification Course" and "MA Massage Therapy Conference" share only
    "therapy": two events that day)."""
    if subject_key(a) == subject_key(b) or _name_key(a) == _name_key(b) != "":
        return True
    # "NY Chapter Meeting" and "NY Chapter Meeting at Riverside Community Center": a name and the same
    # name with the place it is held at
    short, long = sorted((_name_key(a), _name_key(b)), key=len)
    if len(short.split()) >= 2 and re.match(rf"{re.escape(short)} (?:at|in) \w", long):
        return True
    mine, theirs = _significant(a), _significant(b)
    shared = len(mine & theirs)
    # one word in common is enough only for a one-word name ("Intro to Craniosacral Therapy" and "WI Massage
    # Therapy Conference" share "therapy": two events that day)
    return bool(mine and theirs) and shared * 2 >= min(len(mine), len(theirs)) \
        and (shared >= 2 or min(len(mine), len(theirs)) == 1)


_GENERIC_PLACE_WORDS = frozenset(("street", "avenue", "road", "drive", "boulevard", "suite", "unit", "center", "centre",
                                  "library", "public", "meeting", "room", "hall", "online", "zoom"))


def _other_place(a: str, b: str) -> bool:
    """Two places that share no word of their names or addresses ("Oak Street Clinic, Spokane" and
    "Evergreen Chiropractic, Tucson"); one written in full and in short ("Harmony Massage School") share one."""
    words = [set(re.findall(r"[a-z]{4,}", x.lower())) - _GENERIC_PLACE_WORDS for x in (a, b)]
    return all(words) and not (words[0] & words[1])


def _same_event(post: Post, reading: Reading, cluster: list[tuple[Post, Reading]]) -> bool:
    """Whether a post with a similar subject on the cluster's day restates the cluster's event.

    Not when the subjects name different sessions ("Morning Session" / "Afternoon Session",
    "Part 1" / "Part 2"), when both give starts clearly apart (unless the post announces a time
    change), or when both give street addresses that differ (one title, two cities, one evening).
    Posts of one reply thread are not asked: the caller joins them whatever they say.
    """
    mine = _session(post.subject)
    if mine and any((theirs := _session(p.subject)) and theirs != mine for p, _ in cluster):
        return False
    timed = [(p, r) for p, r in cluster if isinstance(r.start, datetime)]
    if isinstance(reading.start, datetime) and timed and not _is_update(post):
        def apart(p: Post, r: Reading) -> bool:
            both_announcements = not _FOLLOWUP_RE.match(post.subject) and not _FOLLOWUP_RE.match(p.subject) \
                and subject_key(post.subject) != subject_key(p.subject)
            return abs(r.start - reading.start) >= (DIFFERENT_ANNOUNCEMENTS if both_announcements else CLEARLY_DIFFERENT)
        if all(apart(p, r) for p, r in timed):
            return False
    if isinstance(reading.start, datetime) and timed and reading.location and all(
            r.location and _other_place(r.location, reading.location) and r.start == reading.start
            and (r.timezone and reading.timezone and r.timezone != reading.timezone
                 or not re.search(r"\d", r.location + reading.location)) for _, r in timed):
        # one instant at two places named in full ("Evergreen Chiropractic, Spokane", "Los Angeles School
        # of Massage"), or in two zones ("6:30 PM PT" in Spokane, "6:30 PM MST" in Tucson): one title in
        # two cities that evening, not one event restated
        return False
    numbers = _street_numbers(reading.location)
    known = [_street_numbers(r.location) for _, r in cluster if _street_numbers(r.location)]
    if numbers and known and all(not (numbers & theirs) for theirs in known):
        return False
    return True


def records_from_posts(posts: Iterable[Post], zone: ZoneInfo, *, source_id: str = "",
                       ) -> Iterator[RawEvent | Skipped]:
    """One RawEvent per announced event (replies, reminders, forwards collapsed), Skipped for the rest."""
    posts = sorted(posts, key=lambda p: (p.sent, p.id))
    # A post's own words are read for its reading and again for its record's description: once is enough
    own_words: dict[tuple[str, bool], str] = {}

    def strip(body: str, *, reply: bool = False) -> str:
        key = (body, reply)
        if key not in own_words:
            own_words[key] = strip_quotes(body, reply=reply)
        return own_words[key]

    readings = [(p, read_post(p.subject, p.body, p.sent, zone, strip=strip)) for p in posts]

    # Threads by Message-ID references.
    root_of: dict[str, str] = {}
    by_subject: dict[str, str] = {}  # feeds carry no In-Reply-To: "Re: X" joins the thread of "X"
    # ... and of two posts whose words match ("Meetup" in May, "Meetup!!" in April), the one whose
    # subject the reply quotes as written: a mail client copies the subject it replies to verbatim
    by_written: dict[str, str] = {}
    for post, _ in readings:
        parent = None
        for ref in (post.in_reply_to, *post.references):
            if ref and ref in root_of:
                parent = root_of[ref]
                break
        key = subject_key(post.subject)
        written = _written_subject(post.subject)
        if parent is None and key and re.match(r"^\s*(?:re|aw|sv|fwd?|fw)\s*:", post.subject, re.I):
            parent = by_written.get(written) or by_subject.get(key)
        root_of[post.id] = parent or post.id
        if key:
            by_subject.setdefault(key, root_of[post.id])
            by_written.setdefault(written, root_of[post.id])

    # Event clusters: same thread or similar subject, and the same event day.
    clusters: list[list[tuple[Post, Reading]]] = []
    for post, reading in readings:
        if not reading.is_event:
            continue
        day = reading.start if isinstance(reading.start, date) and not isinstance(reading.start, datetime) \
            else reading.start.date()
        home = None
        for cluster in clusters:  # its own thread's event first, then the first similar one that day
            first_post, first = cluster[0]
            first_day = first.start if not isinstance(first.start, datetime) else first.start.date()
            same_thread = root_of.get(post.id) == root_of.get(first_post.id)
            if first_day != day:
                # A reply cancelling the announcement may name the event's day as its writer's zone has
                # it ("we have to cancel it on Friday, May 29" of a Saturday 00:00 Eastern event): the
                # thread says which event it is, and the announcement keeps its date.
                if same_thread and reading.cancelled and root_of.get(post.id) != post.id \
                        and abs((first_day - day).days) == 1:
                    reading = replace(reading, start=None)
                    home = cluster
                    break
                continue
            if same_thread:
                home = cluster
                break
            similar = _similar_subjects(post.subject, first_post.subject)
            if home is None and similar and _same_event(post, reading, cluster):
                home = cluster
        if home is None:
            clusters.append([(post, reading)])
        else:
            home.append((post, reading))

    # A cancellation that names no date cancels the thread's upcoming event.
    clustered = {p.id for cluster in clusters for p, _ in cluster}
    for post, reading in readings:
        if post.id in clustered:
            continue
        if reading.cancelled and not reading.reason or (reading.cancelled and reading.reason and
                                                        "no date" in reading.reason):
            session = _session(post.subject)
            allowed = [c for c in clusters
                       if not (session and any(_session(p.subject) not in (None, session) for p, _ in c))]
            # its own thread's event first: a reply cancels what it replies to, not an earlier event
            # whose subject only shares a word with it ("networking")
            own_thread = [c for c in allowed if any(root_of.get(p.id) == root_of.get(post.id) for p, _ in c)]
            words = _significant(post.subject)
            # else the event whose subject shares the most words with it ("New Graduate Mixer @ St. Luke's
            # Parish Hall - CANCELLED" is the mixer's, not an earlier meeting's at the same hall); of two
            # alike ("Student and Alumni Meetup has been cancelled"), the next one to happen
            sent_day = post.sent.date()
            shared = sorted(((max(len(_significant(p.subject) & words) for p, _ in c), _day(c[0][1]) < sent_day,
                              _day(c[0][1]), i, c) for i, c in enumerate(allowed)),
                            key=lambda t: (-t[0], t[1], t[2], t[3]))
            # an event of the very name it gives ("CANCELLED: NY Chapter Meeting", whose words are all too
            # common to count) comes before one that only shares words with it
            name = _name_key(post.subject)
            same_name = [t for t in shared if name and any(_name_key(p.subject) == name for p, _ in t[-1])]
            # ... and of those, one whose subject it quotes as written ("CANCELLED: Community Massage Clinic
            # Volunteers" is the "New event: Community Massage Clinic Volunteers", not the "... - May 25"),
            # announced before the cancellation was sent
            written = _written_subject(post.subject)
            same_name.sort(key=lambda t: (all(_written_subject(p.subject) != written for p, _ in t[-1]),
                                          min(p.sent for p, _ in t[-1]) > post.sent))
            match = own_thread[0] if own_thread else next((c for *_, c in same_name), None) or \
                next((c for n, *_, c in shared if n), None)
            if match is not None:
                match.append((post, replace(reading, start=None)))
                clustered.add(post.id)
        if post.id not in clustered:
            reason = reading.reason or "not an event"
            thread_event = next((c[0][0].id for c in clusters
                                 if any(root_of.get(p.id) == root_of.get(post.id) for p, _ in c)), None)
            if thread_event and root_of.get(post.id) != post.id and not reading.cancelled and \
                    reading.reason not in [r for _, r in _NOT_EVENT_SUBJECTS]:
                yield Skipped(item=_item(post), reason=f"a reply in the thread of {thread_event}; "
                                                       "it names no event of its own")
                continue
            if root_of.get(post.id) != post.id or re.match(r"^\s*(?:re|aw|sv)\s*:", post.subject, re.I):
                if reason == "names no date and time for an event":
                    reason = "a reply that names no date and time for an event"
            yield Skipped(item=_item(post), reason=reason)

    for cluster in clusters:
        events = [(p, r) for p, r in cluster if r.is_event]
        # the announcement's reading carries the details: a cancellation restates the event, briefly
        best_post, best = max(events, key=lambda pr: (not pr[1].cancelled, pr[1].score, pr[0].sent))
        # a time change announced after the announcement: its time wins, the rest stays the best post's
        updates = [(p, r) for p, r in events[1:] if isinstance(r.start, datetime) and _is_update(p)
                   and isinstance(best.start, datetime) and r.start != best.start]
        if updates:
            _, latest = max(updates, key=lambda pr: pr[0].sent)
            best = replace(best, start=latest.start, end=latest.end, timezone=latest.timezone)
        root_post = cluster[0][0]
        cancelled = any(r.cancelled for _, r in cluster)
        location = best.location or next((r.location for _, r in sorted(events, key=lambda pr: pr[1].cancelled)
                                          if r.location), None)
        body_post = max((p for p, r in events if not r.cancelled), key=lambda p: len(p.body), default=best_post)
        title_post = next((p for p, r in events if not re.match(r"^\s*(?:re|aw|sv|fwd?|fw)\s*:", p.subject, re.I)),
                          root_post)
        title = clean_subject(title_post.subject)
        title = re.sub(r"^\s*(?:cancel+ed|canceled|postponed)\s*[:!-]?\s*", "", title, flags=re.I) or title
        title = _RELATIVE_TAIL.sub("", title) or title
        urls = [p.url for p, _ in cluster if p.url]
        yield RawEvent(
            external_id=root_post.id,
            title=title,
            start=best.start,
            end=best.end,
            timezone=best.timezone,
            location=location,
            url=urls[0] if urls else None,
            description=strip(body_post.body)[:4000],
            status=Status.CANCELLED if cancelled else Status.CONFIRMED,
            extra={"posts": ", ".join(p.id for p, _ in cluster)},
        )
        for post, _ in cluster:
            if post is not root_post:
                yield Skipped(item=_item(post), reason=f"the same announcement as {root_post.id}; collapsed into it")


# A reminder's subject names the day relatively after the title: "X is this coming Friday!", "X tomorrow
# (Tuesday)", "X is on the 5th": the day is the reading's, not part of the event's name.
_RELATIVE_TAIL = re.compile(
    rf"\s*[-–—,]?\s+(?:(?:is|are)\s+)?(?:(?:this\s+coming|this|next|coming|on)\s+(?:{_WD_RE}\.?|the\s+\d{{1,2}}(?:st|nd|rd|th))"
    rf"|(?:(?:is|are)\s+)?(?:on\s+)?(?:tonight|today|tomorrow|{_WD_RE}\.?(?=\s*\())"
    rf"|(?:is|are)\s+(?:on\s+)?{_WD_RE}\.?)"
    rf"(?:\s+(?:morning|afternoon|evening|night))?(?:\s*\([^)]{{0,20}}\))?\s*[!.]*\s*$", re.I)


def _written_subject(subject: str) -> str:
    """A subject as written, punctuation kept: without its reply prefixes, list tag and cancel marker."""
    return re.sub(r"\s+", " ", _CANCEL_SUFFIX_RE.sub("", clean_subject(subject))).strip().lower()


def _day(reading: Reading) -> date:
    return reading.start.date() if isinstance(reading.start, datetime) else reading.start


def _item(post: Post) -> str:
    ident = post.id if post.id.startswith("<") else f"<{post.id}>"
    return f"{post.subject.strip()[:120] or '(no subject)'} {ident}"


def post_id(*parts: str) -> str:
    """A stable id for a post that has none of its own."""
    return "post-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


