"""Read an .ics with libical (through GObject introspection) and print its events as JSON.

Run by tests/test_cross_parsers.py with the system Python that has `gi` (Debian: python3-gi and
gir1.2-ical-3.0), not the project's venv: /usr/bin/python3 tests/libical_read.py FILE.ics
"""

import json
import sys
from datetime import datetime, timezone

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402


def when(cal, comp, kind, getter):
    prop = comp.get_first_property(kind)
    if prop is None:
        return None
    t = getter(comp)
    if t.is_date():
        return {"date": "%04d-%02d-%02d" % (t.get_year(), t.get_month(), t.get_day())}
    zone = None
    tzid = prop.get_parameter_as_string("TZID")
    if tzid:
        zone = cal.get_timezone(tzid)
        if zone is None:
            return {"floating": "unknown TZID " + tzid}
    elif not t.is_utc():
        return {"floating": t.as_ical_string()}
    else:
        zone = ICalGLib.Timezone.get_utc_timezone()
    stamp = t.as_timet_with_zone(zone)
    return {"utc": datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def main(path):
    with open(path, encoding="utf-8") as f:
        cal = ICalGLib.Component.new_from_string(f.read())
    kind = ICalGLib.ComponentKind.VEVENT_COMPONENT
    events = []
    comp = cal.get_first_component(kind)
    while comp is not None:
        events.append({
            "uid": comp.get_uid(),
            "summary": comp.get_summary(),
            "start": when(cal, comp, ICalGLib.PropertyKind.DTSTART_PROPERTY, lambda c: c.get_dtstart()),
            "end": when(cal, comp, ICalGLib.PropertyKind.DTEND_PROPERTY, lambda c: c.get_dtend()),
        })
        comp = cal.get_next_component(kind)
    json.dump({"events": events}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
