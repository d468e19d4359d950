"""The time zone a listing's US addresses point to ("Austin, TX 78722" -> America/Chicago).

`zone_from_addresses(texts)` reads the two-letter state codes (and full state names) that
addresses end with, and a few large cities written without their state, and proposes the
zone most of them name. States that straddle two zones are answered with their main zone and
a note saying so (western Texas, the Florida panhandle...), so the curator checks it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from aggregator.timezones import same_family

__all__ = ["ZoneGuess", "STATE_ZONES", "venue_zone", "zone_from_addresses"]

# Each state's main zone: where most of its people live.
STATE_ZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
    "CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
    "DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
    "KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
    "MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
    "NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
    "NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
    "SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
    "UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver", "PR": "America/Puerto_Rico",
}
# States with part of their land in another zone: the main zone is proposed, with this warning.
SPLIT_STATES = {
    "AK": "the Aleutians west of 169.5°W are on Hawaii-Aleutian time",
    "FL": "the panhandle west of the Apalachicola River is on Central time",
    "ID": "the north (Coeur d'Alene, Moscow) is on Pacific time",
    "IN": "the northwest and southwest corners are on Central time",
    "KS": "four western counties are on Mountain time",
    "KY": "the western half is on Central time",
    "MI": "four Upper Peninsula counties are on Central time",
    "NE": "the western panhandle is on Mountain time",
    "ND": "the southwest is on Mountain time",
    "OR": "most of Malheur County is on Mountain time",
    "SD": "the western half is on Mountain time",
    "TN": "East Tennessee (Knoxville, Chattanooga) is on Eastern time",
    "TX": "El Paso and Hudspeth counties are on Mountain time",
}
STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID",
    "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
    "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN", "texas": "TX",
    "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY",
}
# Large cities pages often write without their state.
CITIES = {
    "new york city": "NY", "brooklyn": "NY", "manhattan": "NY", "chicago": "IL", "los angeles": "CA",
    "san francisco": "CA", "san diego": "CA", "houston": "TX", "dallas": "TX", "austin": "TX",
    "san antonio": "TX", "phoenix": "AZ", "philadelphia": "PA", "seattle": "WA", "denver": "CO",
    "boston": "MA", "atlanta": "GA", "miami": "FL", "minneapolis": "MN", "detroit": "MI", "portland": None,
    "las vegas": "NV", "nashville": "TN", "baltimore": "MD", "milwaukee": "WI", "salt lake city": "UT",
    "honolulu": "HI", "hilo": "HI", "kailua": "HI", "anchorage": "AK", "fairbanks": "AK", "juneau": "AK",
    "albuquerque": "NM", "tucson": "AZ", "oklahoma city": "OK", "new orleans": "LA", "st. louis": "MO",
    "kansas city": None, "indianapolis": "IN", "columbus": None, "charlotte": "NC", "pittsburgh": "PA",
}
_CODE = re.compile(r",\s*(" + "|".join(STATE_ZONES) + r")\b\.?(?:\s+\d{5}(?:-\d{4})?)?"
                   r"(?=\s*(?:$|[,;.)\]|]|\s+USA\b|\s+US\b))")
_NAME = re.compile(r",\s*(" + "|".join(sorted(STATE_NAMES, key=len, reverse=True)) + r")\b", re.I)
_CITY = re.compile(r"\b(" + "|".join(sorted(CITIES, key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True)
class ZoneGuess:
    zone: str
    states: tuple[str, ...]  # the states seen, most named first
    note: str  # how sure: "all 4 addresses are in TX" / "... but western Texas is on Mountain time"
    confident: bool = True  # False: the addresses span zones with no clear majority (a national list)


def _states_in(text: str) -> list[str]:
    found = [m.group(1).upper() for m in _CODE.finditer(text)]
    if not found:
        found = [STATE_NAMES[m.group(1).lower()] for m in _NAME.finditer(text)]
    if not found:
        found = [s for s in (CITIES[m.group(1).lower()] for m in _CITY.finditer(text)) if s]
    return found[-1:]  # an address ends with its state


def zone_from_addresses(texts: list[str]) -> ZoneGuess | None:
    """The zone most addresses name, or None when none names a US state or city."""
    states = Counter(s for text in texts for s in _states_in(text))
    if not states:
        return None
    zones = Counter()
    for state, n in states.items():
        zones[STATE_ZONES[state]] += n
    zone, n_zone = zones.most_common(1)[0]
    total = sum(states.values())
    ordered = tuple(s for s, _ in states.most_common())
    in_zone = [s for s in ordered if STATE_ZONES[s] == zone]
    if n_zone == total:
        note = f"{'the address is' if total == 1 else f'all {total} addresses are'} in {', '.join(in_zone)}"
    else:
        others = ", ".join(s for s in ordered if STATE_ZONES[s] != zone)
        note = f"{n_zone} of {total} addresses are in {', '.join(in_zone)}; others are in {others} (another zone)"
    split = [f"{s}: {SPLIT_STATES[s]}" for s in in_zone if s in SPLIT_STATES]
    if split:
        note += "; check it, as " + "; ".join(split)
    return ZoneGuess(zone, ordered, note, confident=n_zone / total >= 0.75)


@lru_cache(maxsize=4096)
def _venue_state_zone(location: str) -> str | None:
    states = _states_in(location)
    return STATE_ZONES[states[0]] if states else None


def venue_zone(zone: ZoneInfo, location: str | None, day: date) -> ZoneInfo:
    """The zone of the venue's state, when it keeps the same standard time as `zone`; else `zone`.

    A zone word names a family, not a place: "6:30 PM MST" for a venue in Phoenix is Arizona's time
    (no daylight saving), for one in Denver it is Denver's; a listing whose default is Denver's means
    Phoenix time for its Tucson events. The venue's address picks the member. A zone of another family
    ("8:30 PM ET" for a Denver event) was said on purpose and is kept.
    """
    if not location:
        return zone
    key = _venue_state_zone(location)
    if key is None or key == zone.key:
        return zone
    local = ZoneInfo(key)
    return local if same_family(local, zone, day.year) else zone
