"""Stage 5: the published files: calendar.ics and filtered feeds, events.json, index.html."""
