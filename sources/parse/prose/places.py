"""The place a post names: "Location:/Where:/Venue:" lines, "at Cafe Lula, 2537 N Kedzie", a street-address line."""

from __future__ import annotations

import re

from sources.parse.prose.when import _MONTH_RE, _TIME_RE, _WD_RE

_PLACE_LABEL_RE = re.compile(r"(?:^|;)\s*(?:location|where|venue|place|address|ort|lieu|adresse)\s*[:\-–]\s*(?P<place>.+?)\s*$", re.I | re.M)
# A calendar card's label alone on its line, the place on the next: "Where\nMicrosoft Teams Meeting"
_PLACE_LABEL_LINE_RE = re.compile(r"^[ \t]*(?:where|location)[ \t]*\n[ \t]*(?P<place>\S[^\n]*?)[ \t]*$", re.I | re.M)
_STREET_WORDS = (r"(?:st|street|ave|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|pl|place|ct|court|pkwy|parkway"
                 r"|hwy|highway|sq|square|ter|terrace|cir|circle|broadway)")
_ADDRESS_LINE_RE = re.compile(
    rf"^\s*(?P<addr>(?:[A-Z][\w'’&. -]{{1,60}},\s*)?\d{{1,6}}\s+(?:[NSEW]\.?\s+)?[A-Z0-9][\w.'-]*(?:\s+[\w.'-]+){{0,4}}\s+{_STREET_WORDS}\b\.?[^\n]*?)\s*$",
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
_AT_ADDRESS_RE = re.compile(
    # "at The Healing Loft, 2nd floor, 1935 W Irving Park Rd": a floor or room between name and address
    rf"(?:(?:\b[Aa]t|@)\s+(?P<place>(?:the\s+)?[A-Z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,5}}?"
    rf"(?:,\s*(?:\d{{1,2}}(?:st|nd|rd|th)\s+floor|(?:floor|room|suite)\s+\w+))?,\s*{_ADDRESS})"
    # "at the chapter office (53 W Jackson Blvd, Suite 1210)": the address may stand in parentheses
    rf"|\b(?:[Aa]t|[Ff]rom)\s+the\s+(?P<common>[A-Za-z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,4}}?(?:,\s*|\s*\(\s*){_ADDRESS}))")
# "(Lincoln Square branch library, 4681 N Lincoln Ave)": a name and its address, in parentheses
_PAREN_NAME_ADDRESS_RE = re.compile(rf"\(\s*(?P<place>[A-Z][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,5}}?,\s*{_ADDRESS})\s*\)")
# "Same place as always: Cafe Lula, 2537 N Kedzie Blvd", "back room of Cafe Lula, 2537 ...": a name, then an address
_NAME_ADDRESS_RE = re.compile(
    rf"(?<![\w'’&.-])(?P<place>{_VENUE_WORD}(?:[ ]+(?:{_VENUE_WORD}|of|the|and|&|de|du|la|on)){{0,5}},\s*{_ADDRESS})")
# "meet at the medical tent in Grant Park": a common noun placed by a proper one
_AT_THE_PART_OF_RE = re.compile(
    rf"(?:\b[Aa]t)\s+the\s+(?P<place>(?!(?:moment|time|end|start|beginning|latest|earliest|least|most|same|door|last|next)\b)"
    rf"[a-z]+(?:\s+[a-z]+){{0,2}}\s+(?:in|at|near|by|of)\s+(?:the\s+)?{_VENUE_WORD}(?:\s+{_VENUE_WORD}){{0,3}})"
    rf"(?=\s*(?:[.;!\n)(,—–]|$))")
# "medical tent by the finish line in Lincoln Park": a common noun placed by a proper one
_PART_OF_RE = re.compile(rf"^[a-z]+(?:\s+[a-z]+){{0,6}}\s+(?:in|at|near|by|of)\s+(?:the\s+)?{_VENUE_WORD}(?:\s+{_VENUE_WORD}){{0,3}}$")
# "Potluck Saturday 5/9, 1-4pm, Dolores Park (near the playground)": what follows a time after a comma,
# when it is a name (capitalized words) or holds a street address
_AFTER_TIME_RE = re.compile(r"^\s*,\s*(?P<place>[^.\n!?;()]{3,90}?)(?=\s*(?:[.!?;(\n]|$))")
_NAME_ONLY_RE = re.compile(rf"^{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&)){{0,5}}$")
# "in Louisville, KY", "in Richmond VA": a city and a US state, when nothing closer is named
_IN_CITY_RE = re.compile(r"\bin\s+(?P<place>[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2},?\s+[A-Z]{2})\b(?![\w'])")
_AT_PLACE_RE = re.compile(
    rf"(?:\b[Aa]t|@)\s+(?P<place>(?:the\s+)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&|on|de|la|\d+[A-Za-z]*))*"
    rf"(?:\s*,\s*(?:\d{{1,6}}\s+[^\n,;()]+?|Suite\s+\w+|[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+)*))*"
    # "the Griffith Park Observatory lot", "the Rogers Park studio": a named place and the part of it
    rf"(?:\s+(?:parking|lot|studio|room|library|community|conference|meeting|lobby|entrance|pavilion|shelter|lawn"
    rf"|campus|hall)){{0,3}})"
    rf"(?=\s*(?:[.;!\n)(—–]|\s*,\s|\s-\s|\s+on\s|\s+from\s|\s+at\s|\s+in\s|\s+this\s|\s+next\s|\s+to\s|\s+starting\s|\s+(?:is|will|has|was)\s|\s*,\s*(?:from|starting|on|at)\s|$))",
)
_ONLINE_RE = re.compile(r"\b(?:on\s+zoom|via\s+zoom|zoom\s+(?:meeting|call|link)|online\s+via|google\s+meet|webinar"
                        r"|online\s+event|virtual)\b|\(\s*zoom\s*\)|\bzoom\s*:"
                        # a meeting's own link: "https://us02web.zoom.us/j/845...", "meet.google.com/abc-defg-hij"
                        r"|\b(?:zoom\.us/[jw]/|meet\.google\.com/|teams\.microsoft\.com/l/meetup-join|webex\.com/(?:meet|join)"
                        r"|meet\.jit\.si/)"
                        # "7 p.m. Eastern, online.": the word closing a clause, not "register online."
                        r"|(?<!register\s)(?<!registration\s)(?<!rsvp\s)(?<!up\s)(?<!available\s)(?<!tickets\s)(?<!pay\s)"
                        r"(?<!buy\s)(?<!order\s)\bonline(?=\s*(?:[.;!)\n]|$))", re.I)
# A meeting service named as the place: the event is online
_PLATFORM_RE = re.compile(r"^(?:zoom|(?:microsoft\s+)?teams|google\s+meet|webex|jitsi|skype|youtube(?:\s+live)?"
                          # "Microsoft Teams Meeting", "Zoom (link below)": the service with its word or an aside
                          r"|facebook\s+live)(?:\s+(?:meeting|call|webinar))?(?:\s*\([^()]*\))?$", re.I)
# A street address with a direction, anywhere: "my place — 1918 W Cortland St"
_BARE_ADDRESS_RE = re.compile(rf"(?<![\w#])(?P<place>\d{{1,6}}\s+[NSEW]\.?\s+(?:[A-Z0-9][\w.'’-]*\s+){{0,3}}(?i:{_STREET_WORDS})\b)")
_NOT_PLACES = re.compile(
    rf"^(?:the\s+)?(?:noon|midnight|{_WD_RE}|{_MONTH_RE}|least|all|this|that|our|your|my|it|which|which\s+time|home|work|"
    r"first|last|once|any|some|no|one|what|eastern|central|mountain|pacific|least\s+\w+)\b",
    re.I,
)
_ZONE_ONLY = re.compile(r"^(?:[ECMP][SD]?T|AK[SD]T|HST|CES?T|GMT|UTC|BST)$")
_IN_PLACE_RE = re.compile(
    rf"\bin\s+(?P<place>(?:the\s+)?(?:[a-z]+\s+of\s+(?:the\s+)?)?{_VENUE_WORD}(?:\s+(?:{_VENUE_WORD}|of|the|and|&))*"
    rf"\s*,\s*\d{{1,6}}\s+[^\n,;()]+?)(?=\s*(?:[.;!\n)(]|$))",
)



# Prose wrapped by a mail client runs to about 72 characters a line; a line much shorter than that ended on purpose.
SHORT_LINE = 50
_ABBREVIATIONS = {"st", "dr", "mt", "ft", "jr", "sr", "mr", "mrs", "ms", "ste", "ave", "blvd", "rd", "no", "inc", "co",
                  "corp", "bldg", "univ", "hosp", "ctr"}


def _clean_place(place: str) -> str | None:
    place = re.sub(r"\s+", " ", place).strip(" .,;:-–")
    depth = 0
    for i, ch in enumerate(place):  # "same place: Core Studio, 455 W North Ave). If you can't ...": ends at ")"
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            place = place[:i].strip(" .,;:-–")
            break
    place = re.sub(r"^(?:the\s+)?(?:location|venue)\s+(?:is|will\s+be)\s+", "", place, flags=re.I)
    place = re.sub(r"^the\s+(?=[A-Z])", "", place)  # "at the Richmond Marriott"; "The Hopleaf" keeps its capital
    # A place never runs over a sentence's end (not "St." or "Dr." in "St. Mary's Hall"): "with Coach Dee.
    # Harmony Massage School, 582 Park Street" starts after it, before a street address; "Muse Coworking,
    # Phoenix. Parking is free" stops at it
    ends = [m for m in re.finditer(r"\b(\w+)\.\s+(?=[A-Z])", place) if len(m.group(1)) > 1
            and m.group(1).lower() not in _ABBREVIATIONS]
    if ends:
        after = [m for m in ends if re.search(r"\d", place[m.end():])]
        place = place[after[-1].end():] if after else place[:ends[0].start(1) + len(ends[0].group(1))]
    if not place or len(place) < 3 or _NOT_PLACES.match(place) or _ZONE_ONLY.match(place):
        return None
    if _PLATFORM_RE.match(place):
        return "Online"
    if _TIME_RE.fullmatch(place):
        return None
    return place[:200]


def find_place(text: str, *, fallbacks: bool = True) -> str | None:
    """The event's place as the post writes it, or None. Without `fallbacks`, the weak last resorts
    (a bare street address anywhere, "in Louisville, KY", an online hint) are not tried."""
    m = _PLACE_LABEL_RE.search(text) or _PLACE_LABEL_LINE_RE.search(text)
    if m:
        place = _clean_place(m.group("place"))
        if place:
            # a label line followed by an address line: "Where: Cafe Lula\n2537 N Kedzie Ave"
            after = text[m.end():].lstrip("\n").split("\n", 1)[0]
            if _ADDRESS_LINE_RE.match(after) and not re.search(r"\d", place):
                place = f"{place}, {after.strip()}"
            return place
    for m in _AT_ADDRESS_RE.finditer(text):
        place = _clean_place(m.group("place") or re.sub(r"\s*\(\s*", ", ", m.group("common"), count=1))
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
            paren = re.match(rf"\s*\(\s*(?P<addr>{_ADDRESS})\s*\)", text[m.end():])
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
    if not fallbacks:
        return None
    m = _BARE_ADDRESS_RE.search(text)
    if m:
        return _clean_place(m.group("place"))
    m = _IN_CITY_RE.search(text)
    if m and _clean_place(m.group("place")):
        return _clean_place(m.group("place"))
    if _ONLINE_RE.search(text):
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
    if _NAME_ONLY_RE.match(place) or re.search(_ADDRESS, place) or _PART_OF_RE.match(place) \
            or _NAME_ONLY_RE.match(place.split(",")[0].strip()) and len(place.split(",")[0].split()) >= 2:
        return _clean_place(place)  # "Ala Moana Beach Park, Magic Island lagoon": a name, then the spot in it
    return None
