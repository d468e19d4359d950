"""The place a post names: "Location:/Where:/Venue:" lines, "at Cafe Lula, 2537 N Kedzie", a street-address line."""

from __future__ import annotations

import functools
import math
import re

from sources.parse.prose.when import _MONTH_RE, _TIME_RE, _WD_FULL_RE, _WD_RE


def _starting_with(chars: str, pattern: str) -> re.Pattern:
    """`pattern` behind a lookahead naming the characters its matches can start with: the engine passes
    over every other position of a post at once instead of trying the pattern there (same matches)."""
    return re.compile(f"(?=[{chars}])(?:{pattern})")


_PLACE_LABEL_RE = re.compile(r"(?:^|;)\s*(?:location|where|venue|place|address|ort|lieu|adresse)\s*[:\-–]\s*(?P<place>.+?)\s*$", re.I | re.M)
# A calendar card's label alone on its line, the place on the next: "Where\nMicrosoft Teams Meeting"
_PLACE_LABEL_LINE_RE = re.compile(r"^[ \t]*(?:where|location)[ \t]*\n[ \t]*(?P<place>\S[^\n]*?)[ \t]*$", re.I | re.M)
_STREET_WORDS = (r"(?:st|street|ave|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|pl|place|ct|court|pkwy|parkway"
                 r"|hwy|highway|sq|square|ter|terrace|cir|circle|broadway)")
_ADDRESS_LINE_RE = re.compile(
    rf"^[ \t]*(?P<addr>(?:[A-Z][\w'’&. -]{{1,60}},[ \t]*)?\d{{1,6}}[ \t]+(?:[NSEW]\.?[ \t]+)?[A-Z0-9][\w.'-]*"
    rf"(?:[ \t]+[\w.'-]+){{0,4}}[ \t]+{_STREET_WORDS}\b\.?[^\n]*?)[ \t]*$",  # one line: never "2026\n367 Jefferson"
    re.I | re.M,
)
_VENUE_WORD = r"[A-Z][\w'’&.-]*"
# A street address as a phrase: "2537 N Kedzie Blvd", "6000 N Broadway", "172 Boulevard Saint-Germain",
# with what may follow it: ", Suite 200", ", Chicago", ", Bloomington MN".
_ADDRESS = (r"(?:\d{1,6},?\s+(?i:rue|boulevard|bd|avenue|quai|chemin|all[ée]e)\s+[A-Z][\w'’-]*(?:[ -][A-Z][\w'’-]*)*"
            rf"|\d{{1,6}}\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w.'’-]*\s+){{0,4}}(?i:{_STREET_WORDS})\b\.?)"
            # the suite may wrap to the next line ("600 W Van Buren St,\nSuite 310"); it is never a city
            r"(?:,?[ ]*\n?[ ]*(?:Suite|Ste\.?|Unit|#)[ ]*\w+)?"
            r"(?:,[ ]*\n?[ ]*(?!(?:Suite|Ste|Unit)\b)[A-Z][\w'’-]*(?:[ ][A-Z][\w'’-]*){0,2}(?:,?[ ]+[A-Z]{2}\b)?)?")
# "at the Edgewater library, 6000 N Broadway": after "at", a name of a few words (any case) and an address
# "at the chapter office, 180 N Michigan Ave", "from the Chautauqua trailhead, 900 Baseline Rd": after "the" the
# name may be common nouns
_AT_ADDRESS_RE = _starting_with("AaFf@",
    # "at The Healing Loft, 2nd floor, 1935 W Irving Park Rd": a floor or room between name and address
    # ("Seattle Public Library, Meeting Room B, 1446 Market Dr")
    rf"(?:(?:\b[Aa]t|@)\s+(?P<place>(?:the\s+)?[A-Z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,5}}?"
    rf"(?:,\s*(?:\d{{1,2}}(?:st|nd|rd|th)\s+floor|(?:[A-Z][a-z]+\s+)?(?i:floor|room|suite)\s+\w+))?,\s*{_ADDRESS})"
    # "at the chapter office (53 W Jackson Blvd, Suite 1210)": the address may stand in parentheses
    rf"|\b(?:[Aa]t|[Ff]rom)\s+the\s+(?P<common>[A-Za-z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,4}}?(?:,\s*|\s*\(\s*){_ADDRESS}))")
# "(Lincoln Square branch library, 4681 N Lincoln Ave)": a name and its address, in parentheses
_PAREN_NAME_ADDRESS_RE = re.compile(rf"\(\s*(?P<place>[A-Z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,5}}?,\s*{_ADDRESS})\s*\)")
# "Same place as always: Cafe Lula, 2537 N Kedzie Blvd", "back room of Cafe Lula, 2537 ...": a name, then an address
_NAME_ADDRESS_RE = _starting_with("A-Z",
    rf"(?<![\w'’&.-])(?P<place>{_VENUE_WORD}(?:[ ]+(?:{_VENUE_WORD}|of|the|and|&|de|du|la|on)){{0,5}},\s*{_ADDRESS})")
# "at 2558 Lake Dr, #420, Cambridge": an address with no name before it
_AT_BARE_ADDRESS_RE = _starting_with("Aa@", rf"(?:\b[Aa]t|@)\s+(?P<place>{_ADDRESS})")
# "meet at the medical tent in Grant Park": a common noun placed by a proper one
_AT_THE_PART_OF_RE = _starting_with("Aa",
    rf"(?:\b[Aa]t)\s+the\s+(?P<place>(?!(?:moment|time|end|start|beginning|latest|earliest|least|most|same|door|last|next)\b)"
    rf"[a-z]+(?:\s+[a-z]+){{0,2}}\s+(?:in|at|near|by|of)\s+(?:the\s+)?{_VENUE_WORD}(?:\s+{_VENUE_WORD}){{0,3}})"
    rf"(?=\s*(?:[.;!\n)(,—–]|$))")
# "medical tent by the finish line in Lincoln Park": a common noun placed by a proper one
_PART_OF_RE = re.compile(rf"^[a-z]+(?:\s+[a-z]+){{0,6}}\s+(?:in|at|near|by|of)\s+(?:the\s+)?{_VENUE_WORD}(?:\s+{_VENUE_WORD}){{0,3}}$")
# "Potluck Saturday 5/9, 1-4pm, Dolores Park (near the playground)": what follows a time after a comma,
# when it is a name (capitalized words) or holds a street address
# ("St. Luke's Parish Hall": an abbreviation's period does not end it); "(all day)" before the comma is skipped
_AFTER_TIME_RE = re.compile(r"^(?:\s*\(?\s*all[- ]day\s*\)?)?\s*,\s*"
                            r"(?P<place>(?:[^.\n!?;()]|(?<=\bSt)\.|(?<=\bMt)\.|(?<=\bFt)\.){3,90}?)"
                            r"(?=\s*(?:[.!?;(\n]|$))", re.I)
# "(537 N Wells St)" after a place's name; with a city or more after the address ("(1479 Market St, Savannah,
# Georgia)") after a time's place
_PAREN_ADDRESS = re.compile(rf"\s*\(\s*(?P<addr>{_ADDRESS})\s*\)")
_PAREN_ADDRESS_AND_MORE = re.compile(rf"\s*\(\s*(?P<addr>{_ADDRESS}[^()\n]{{0,40}}?)\s*\)")
_NAME_ONLY_RE = re.compile(rf"^{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&)){{0,5}}$")
# The US state and territory codes: "in Practice CE" (a title's words) names no state.
_US_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY"
              "|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI")
# "in Louisville, KY", "in Richmond VA": a city and a US state, when nothing closer is named
_IN_CITY_RE = _starting_with("i", rf"\bin\s+(?P<place>[A-Z][a-z]+(?:\s+[A-Z][a-z]+){{0,2}},?\s+(?:{_US_STATES}))\b(?![\w'])")
# A meeting room's link is where an online event is: "Zoom: https://us05web.zoom.us/j/42", "Join: meet.google.com/x"
_MEETING_LINK_RE = re.compile(r"\b(?:https?://)?(?:[\w-]+\.)*(?:zoom\.us/[jw]/|meet\.google\.com/|teams\.microsoft\.com/"
                              r"|teams\.live\.com/|[\w-]+\.webex\.com/)\S*", re.I)
_AT_PLACE_RE = _starting_with("Aa@",
    rf"(?:\b[Aa]t|@)\s+(?P<place>(?:the\s+)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&|on|de|la|\d+[A-Za-z]*))*"
    # "..., Meeting Room B, Tucson": a room ("Room B", "Room 3B") and the city after the name
    rf"(?:\s*,\s*(?:\d{{1,6}}\s+[^\n,;()]+?|Suite\s+\w+|[A-Z][\w.'-]+(?:\s+(?:[A-Z][\w.'-]*|\d+[A-Za-z]?))*))*"
    # "Muse Coworking - 1031 Cedar Dr., Ste. 300, Phoenix": a name, a dash and its address
    rf"(?:\s+[-–—]\s+{_ADDRESS})?"
    # "the Griffith Park Observatory lot", "the Rogers Park studio": a named place and the part of it
    rf"(?:\s+(?:parking|lot|studio|room|library|community|conference|meeting|lobby|entrance|pavilion|shelter|lawn"
    rf"|campus|hall)){{0,3}})"
    rf"(?=\s*(?:[.;!\n)(—–]|\s*,\s|\s-\s|\s+on\s|\s+from\s|\s+at\s|\s+in\s|\s+this\s|\s+next\s|\s+to\s|\s+starting\s|\s+(?:is|will|has|was)\s|\s*,\s*(?:from|starting|on|at)\s|$))",
)
# (the lookahead names the characters a match can start with: see when._STARTS_WEEKDAY_MONTH)
_ONLINE_RE = re.compile(r"(?=[(gmotvwz])(?:\b(?:on\s+zoom|via\s+zoom|zoom\s+(?:meeting|call|link)|online\s+via|google\s+meet|webinar"
                        r"|online\s+event|virtual)\b|\(\s*zoom\s*\)|\bzoom\s*:"
                        # a meeting's own link: "https://us02web.zoom.us/j/845...", "meet.google.com/abc-defg-hij"
                        r"|\b(?:zoom\.us/[jw]/|meet\.google\.com/|teams\.microsoft\.com/l/meetup-join|webex\.com/(?:meet|join)"
                        r"|meet\.jit\.si/)"
                        # "7 p.m. Eastern, online.": the word closing a clause, not "register online."
                        r"|(?<!register\s)(?<!registration\s)(?<!rsvp\s)(?<!up\s)(?<!available\s)(?<!tickets\s)(?<!pay\s)"
                        r"(?<!buy\s)(?<!order\s)\bonline(?=\s*(?:[.;!)\n]|$)))", re.I)
# A meeting service named as the place: the event is online
_PLATFORM_RE = re.compile(r"^(?:zoom|(?:microsoft\s+)?teams|google\s+meet|webex|jitsi|skype|youtube(?:\s+live)?"
                          # "Microsoft Teams Meeting", "Zoom (link below)": the service with its word or an aside
                          r"|facebook\s+live)(?:\s+(?:meeting|call|webinar))?(?:\s*\([^()]*\))?$", re.I)
# A street address with a direction, anywhere: "my place — 1918 W Cortland St"
_BARE_ADDRESS_RE = _starting_with(r"\d", rf"(?<![\w#])(?P<place>\d{{1,6}}\s+[NSEW]\.?\s+(?:[A-Z0-9][\w.'’-]*\s+){{0,3}}(?i:{_STREET_WORDS})\b)")
_NOT_PLACES = re.compile(
    rf"^(?:the\s+)?(?:noon|midnight|{_WD_RE}|{_MONTH_RE}|least|all|this|that|our|your|my|it|which|which\s+time|home|work|"
    r"first|last|once|any|some|no|one|what|eastern|central|mountain|pacific|least\s+\w+|door)\b",
    re.I,
)
_ZONE_ONLY = re.compile(r"^(?:[ECMP][SD]?T|AK[SD]T|HST|CES?T|GMT|UTC|BST)$")
_IN_PLACE_RE = _starting_with("i",
    rf"\bin\s+(?P<place>(?:the\s+)?(?:[a-z]+\s+of\s+(?:the\s+)?)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&))*"
    rf"\s*,\s*\d{{1,6}}\s+[^\n,;()]+?)(?=\s*(?:[.;!\n)(]|$))",
)



# Prose wrapped by a mail client runs to about 72 characters a line; a line much shorter than that ended on purpose.
SHORT_LINE = 50
_ABBREVIATIONS = {"st", "dr", "mt", "ft", "jr", "sr", "mr", "mrs", "ms", "ste", "ave", "blvd", "rd", "no", "inc", "co",
                  "corp", "bldg", "univ", "hosp", "ctr"}

# An announcement laid out as lines: the title, the day (and time), then the place on a line of its own:
# "Harmony Massage School, Cambridge", "Oak Street Clinic (12 Oak St, Tucson)", "Oak Street Clinic - 12 Oak St"
_DATED_LINE_RE = re.compile(rf"\b(?:{_MONTH_RE}|{_WD_RE})\b\.?|\b\d{{1,2}}/\d{{1,2}}\b", re.I)
_PLACE_LINE_RE = re.compile(
    rf"^(?:the\s+)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&|on))*"
    rf"(?:\s*,\s*[^\n]+|\s*\([^\n()]+\)|\s+[-–—]\s+\d[^\n]+)?$")


# A line that holds only the day and time ends with them: "Thursday, July 9, 2026 · 9:30am", "… 6-8 PM CT", "(all day)"
_DATE_LINE_END = re.compile(r"(?:\d|(?i:[ap]\.?m\.?|\b(?:time|day|noon|midnight|eastern|central|mountain|pacific|alaska"
                            r"|hawaii|arizona))|\b[A-Z]{2,4}|\))\s*$")
_PLACE_LABEL_WORD = re.compile(r"^(?:location|where|venue|place|address)\b", re.I)


def _place_line(text: str) -> str | None:
    """The line right after the post's first dated line, when it is a place's name (and address)."""
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        if not (_DATED_LINE_RE.search(line) and (_TIME_RE.search(line) or re.search(r"\d", line))):
            continue
        if not _DATE_LINE_END.search(line):  # a wrapped sentence goes on: "... at the Richmond\nMarriott, 500 E"
            return None
        after = lines[i + 1].strip()
        sentence_end = any(m.group(1).lower() not in _ABBREVIATIONS and len(m.group(1)) > 1
                           for m in re.finditer(r"(\w+)[.!?]\s", after))  # "St. Luke's" is no sentence
        if after and len(after) <= 150 and ":" not in after and not sentence_end and not after.endswith(("!", "?")) \
                and _PLACE_LINE_RE.match(after) and not _DATED_LINE_RE.match(after) \
                and (len(after.split()) >= 2 or re.search(r"[,(]", after)) and not _PLACE_LABEL_WORD.match(after):
            return _clean_place(after)
        return None
    return None


# A title that names a place in its own words: "Chair Massage at the Savannah Marathon"
_TITLE_PLACE_WORD = re.compile(r"\w\s+(?:at|in|@)\s+\w")


def _masked_title(text: str, title: str | None) -> str:
    """`text` with the event's title blanked where the post repeats it: the words of a title ("Chair Massage
    at the Savannah Marathon", "Aromatherapy in Practice CE") name no place of the event's."""
    if not title or len(title) < 12:
        return text
    low_title = title.lower()
    # the masked piece is part of the title: a title with no "at/in/@" between words has nothing to hide
    if not _TITLE_PLACE_WORD.search(low_title):
        return text
    low_text = text.lower()
    start, size = _longest_common_piece(low_title, low_text, max(12, math.ceil(0.4 * len(title.strip()))))
    if not size:
        return text
    piece = low_title[start:start + size]
    if not _TITLE_PLACE_WORD.search(piece):  # the title names no place: nothing to hide
        return text
    out, at = text, low_text.find(piece)
    while at >= 0:
        out = out[:at] + " " * len(piece) + out[at + len(piece):]
        at = low_text.find(piece, at + len(piece))
    return out


def _longest_common_piece(title: str, text: str, least: int) -> tuple[int, int]:
    """The longest piece of `title` that `text` holds, as (start in title, length), the earliest of equally
    long ones (what difflib's find_longest_match gives); (0, 0) when it is shorter than `least`. Each start
    only tries to beat the best so far, one character at a time, with a substring search (C speed): about
    len(title) searches instead of difflib's character-by-character table over the whole post."""
    best, best_start = least - 1, -1
    for start in range(len(title) - least + 1):
        while start + best < len(title) and title[start:start + best + 1] in text:
            best, best_start = best + 1, start
    return (best_start, best) if best_start >= 0 else (0, 0)


# _clean_place's patterns, compiled once: it runs for every candidate place of every post
_SPACES = re.compile(r"\s+")
_LOCATION_IS = re.compile(r"^(?:the\s+)?(?:location|venue)\s+(?:is|will\s+be)\s+", re.I)
_LEADING_THE = re.compile(r"^the\s+(?=[A-Z])")
_TRAILING_WEEKDAY = re.compile(rf"(?<=\w)\s+{_WD_FULL_RE}$", re.I)
_ON_DATE = re.compile(rf"(?<=\w)\s+on\s+(?:{_WD_RE}\b|{_MONTH_RE}\.?\s+\d).*$", re.I)
_LEADING_MERIDIEM_ZONE = re.compile(r"^(?:(?:[AP]\.?M\.?|[ECMP][SD]?T|AK[SD]T|HST)\s*)+,\s*")
_SENTENCE_END = re.compile(r"\b(\w+)\.\s+(?=[A-Z])")
_DIGIT = re.compile(r"\d")


def _clean_place(place: str) -> str | None:
    place = _SPACES.sub(" ", place).strip(" .,;:-–")
    depth = 0
    for i, ch in enumerate(place):  # "same place: Core Studio, 455 W North Ave). If you can't ...": ends at ")"
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            place = place[:i].strip(" .,;:-–")
            break
    place = _LOCATION_IS.sub("", place)
    place = _LEADING_THE.sub("", place)  # "at the Richmond Marriott"; "The Hopleaf" keeps its capital
    # "at the Denver Marathon Friday at 9am": the day after a name is when, not part of the place
    place = _TRAILING_WEEKDAY.sub("", place)
    # "at the Chicago Marathon on Tuesday, June 9": a date after "on" ends the place
    place = _ON_DATE.sub("", place)
    # "6:30 PM MST, 4030 Pine Ave": the meridiem and the zone end the time, the place follows
    place = _LEADING_MERIDIEM_ZONE.sub("", place)
    # A place never runs over a sentence's end (not "St." or "Dr." in "St. Mary's Hall"): "with Coach Dee.
    # Harmony Massage School, 582 Park Street" starts after it, before a street address; "Muse Coworking,
    # Phoenix. Parking is free" stops at it
    ends = [m for m in _SENTENCE_END.finditer(place) if len(m.group(1)) > 1
            and m.group(1).lower() not in _ABBREVIATIONS]
    if ends:
        after = [m for m in ends if _DIGIT.search(place[m.end():])]
        place = place[after[-1].end():] if after else place[:ends[0].start(1) + len(ends[0].group(1))]
    if not place or len(place) < 3 or _NOT_PLACES.match(place) or _ZONE_ONLY.match(place):
        return None
    if _PLATFORM_RE.match(place):
        return "Online"
    if _TIME_RE.fullmatch(place):
        return None
    return place[:200]


def find_place(text: str, *, fallbacks: bool = True, title: str | None = None) -> str | None:
    """The event's place as the post writes it, or None. Without `fallbacks`, the weak last resorts
    (a bare street address anywhere, "in Louisville, KY", an online hint) are not tried. With the
    event's `title`, a place the post names outside its title wins over one in the title's words."""
    masked = _masked_title(text, title)
    if masked != text:
        place = _find_place(masked, fallbacks=fallbacks)
        if place:
            return place
    return _find_place(text, fallbacks=fallbacks)


def _find_place(text: str, *, fallbacks: bool = True) -> str | None:
    place = _named_place(text)
    if place is not _NOT_NAMED:
        return place
    return _fallback_place(text) if fallbacks else None


# What _named_place returns when nothing there decides, and the weak last resorts are next
_NOT_NAMED = object()


# A post's place is asked for without the weak last resorts first, then with them (read_post): the
# answer of the first search is remembered for the second (for the last few texts; a pure function)
@functools.lru_cache(maxsize=32)
def _named_place(text: str):
    """The place a post names (a label, a place line, "at <name>, <address>" ...), None when what it names
    is no place, _NOT_NAMED when it names none of these ways."""
    m = _PLACE_LABEL_RE.search(text) or _PLACE_LABEL_LINE_RE.search(text)
    if m:
        place = _clean_place(m.group("place"))
        if place:
            # a label line followed by an address line: "Where: Cafe Lula\n2537 N Kedzie Ave"
            after = text[m.end():].lstrip("\n").split("\n", 1)[0]
            if _ADDRESS_LINE_RE.match(after) and not re.search(r"\d", place):
                place = f"{place}, {after.strip()}"
            return place
    place = _place_line(text)
    if place:
        return place
    for m in _AT_ADDRESS_RE.finditer(text):
        place = _clean_place(m.group("place") or re.sub(r"\s*\(\s*", ", ", m.group("common"), count=1))
        if place:
            return place
    for m in _AT_BARE_ADDRESS_RE.finditer(text):
        place = _clean_place(m.group("place"))
        if place:
            return place
    block = _address_block(text)
    for m in _AT_PLACE_RE.finditer(text):
        raw = m.group("place")
        line_start = text.rfind("\n", 0, m.start()) + 1
        if "\n" in raw and m.start("place") - line_start + raw.index("\n") < SHORT_LINE:
            # a short line is a layout's ("Massage swap at Heartwood\nThursday, March 12"): the name ends
            # with it; a long one is prose wrapped mid-name ("at the Marriott Marquis\nSan Diego")
            raw = raw[:raw.index("\n")]
        place = _clean_place(raw)
        if place:
            # "at Gilda's Club (537 N Wells St)": the address in parentheses is the place's
            paren = _PAREN_ADDRESS.match(text[m.end():])
            if paren:
                return _clean_place(f"{place}, {paren.group('addr')}")
            # "Massage swap at Heartwood" above a "Heartwood Collective" line and its address line: the fuller one
            if block and block.lower().startswith(place.lower()):
                return block
            return place
    m = _IN_PLACE_RE.search(text)
    if m and _clean_place(m.group("place")):
        return _clean_place(m.group("place"))
    for m in _NAME_ADDRESS_RE.finditer(text):
        place = _clean_place(m.group("place"))
        if place:
            return place
    for m in _PAREN_NAME_ADDRESS_RE.finditer(text):
        place = _clean_place(m.group("place"))
        if place:
            return place
    for m in _AT_THE_PART_OF_RE.finditer(text):
        place = _clean_place(m.group("place"))
        if place and not _NOT_PLACES.match(place.split()[-1]):
            return place
    if block:
        return block
    return _NOT_NAMED


def _fallback_place(text: str) -> str | None:
    """The weak last resorts: a bare street address anywhere, "in Louisville, KY", an online hint."""
    m = _BARE_ADDRESS_RE.search(text)
    if m:
        return _clean_place(m.group("place"))
    m = _IN_CITY_RE.search(text)
    if m and _clean_place(m.group("place")):
        return _clean_place(m.group("place"))
    if _ONLINE_RE.search(text) or _MEETING_LINK_RE.search(text):
        return "Online"
    return None



def _address_block(text: str) -> str | None:
    """A street-address line, with the name on the line above it when there is one ("Heartwood
    Collective\n2023 W Chicago Ave"), as notifications and signatures lay a place out."""
    m = _ADDRESS_LINE_RE.search(text)
    if not m:
        return None
    line_start = text.rfind("\n", 0, m.start("addr")) + 1
    previous = text[:max(0, line_start - 1)].rstrip("\n").split("\n")[-1].strip()
    addr = m.group("addr").strip()
    if previous and len(previous) < 60 and not re.search(r"[.:!?]$|\d", previous):
        return _clean_place(f"{previous}, {addr}")
    return _clean_place(addr)


def place_after_time(text: str) -> str | None:
    """The place written right after an event's time, following a comma: a name ("Dolores Park") or a
    phrase that holds a street address ("conference room 3B, 1 N State St"); None otherwise."""
    m = _AFTER_TIME_RE.match(text)
    if not m:
        return None
    place = m.group("place").strip()
    # "Savannah Library, Meeting Room B (1479 Market St, Savannah, Georgia)": the address in parentheses is
    # the place's
    paren = _PAREN_ADDRESS_AND_MORE.match(text[m.end():])
    if paren and not re.search(r"\d", place):
        place = f"{place}, {paren.group('addr')}"
    if _NAME_ONLY_RE.match(place) or re.search(_ADDRESS, place) or _PART_OF_RE.match(place) \
            or _NAME_ONLY_RE.match(place.split(",")[0].strip()) and len(place.split(",")[0].split()) >= 2:
        return _clean_place(place)  # "Ala Moana Beach Park, Magic Island lagoon": a name, then the spot in it
    return None
