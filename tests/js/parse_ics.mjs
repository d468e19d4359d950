// Reads an .ics file with ical.js (the parser Thunderbird uses) and prints its events as JSON,
// for tests/test_cross_parsers.py. Usage: node parse_ics.mjs FILE.ics
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2], "utf8");
const root = new ICAL.Component(ICAL.parse(text));

for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}

function when(t) {
  if (!t) return null;
  if (t.isDate) return { date: t.toString() };
  if (t.zone === ICAL.Timezone.localTimezone || t.zone == null) {
    return { floating: t.toString() };
  }
  return { utc: new Date(t.toUnixTime() * 1000).toISOString().replace(".000Z", "Z") };
}

const events = root.getAllSubcomponents("vevent").map((ve) => {
  const ev = new ICAL.Event(ve);
  const cats = [];
  for (const p of ve.getAllProperties("categories")) cats.push(...p.getValues());
  return {
    uid: ev.uid,
    summary: ev.summary,
    description: ev.description ?? null,
    location: ev.location ?? null,
    start: when(ev.startDate),
    end: ve.hasProperty("dtend") ? when(ev.endDate) : null,
    status: ve.getFirstPropertyValue("status"),
    sequence: ev.sequence,
    url: ve.getFirstPropertyValue("url"),
    categories: cats,
    tzid: ve.getFirstProperty("dtstart").getParameter("tzid") ?? null,
  };
});

const cal = {
  name: root.getFirstPropertyValue("x-wr-calname"),
  refresh: String(root.getFirstPropertyValue("refresh-interval") ?? ""),
  method: root.getFirstPropertyValue("method"),
  timezones: root.getAllSubcomponents("vtimezone").map((z) => z.getFirstPropertyValue("tzid")),
  events,
};
process.stdout.write(JSON.stringify(cal));
