"""Events read from the prose of mailing-list posts (rss, mbox, maildir and imap use it).

A post is an announcement when its subject and body name a date AND a time (or "all day")
for something after the post was sent:

    "Reminder: spring mixer next Tuesday at 6:30 at Cafe Lula, 2537 N Kedzie"

Dates: "March 10", "Tue, Mar. 10th", "10 March 2026", "3/10", "2026-03-10", "10.03.2026",
"today", "tonight", "tomorrow", "this Saturday", "next Tuesday", "on Friday". Relative
dates are resolved against the post's own date; a date without a year is the first such
day not before the post (a day of tolerance). Times: "6:30pm", "8.30 p.m.", "6:30-8:30 PM",
"6:30-8", "11–12:30", "from 6 to 8 pm", "between 8 and 10 pm", "18:30", "noon" (a day number
is never read as an hour: "February 3 - 6:30 pm"), with a zone when the post names one ("7pm ET",
"6:30 PM Pacific", "18:30 CET"; a word for the source's own region keeps the source's zone, so
"MST" on an Arizona list stays Phoenix time), else the source's zone. Place: "Location:/Where:/Venue:"
lines, "at Cafe Lula, 2537 N Kedzie", or a street-address line.

Not events (returned as a reason): chatter and replies that name no date and time, job
ads, things for sale, meeting minutes, dues/renewal deadlines ("due by March 1"), office
closures, and dates already past when the post was sent.

`records_from_posts` collapses replies, reminders and forwards of one announcement into
one record (threading by In-Reply-To/References and by subject + event date) whose details
come from the most complete post; a cancellation post marks it CANCELLED; an update that
moves the time ("Update: mixer now starts at 7") moves the record. Posts outside one reply
thread stay separate events when their subjects name different sessions ("Morning Session" /
"Afternoon Session", "Part 1" / "Part 2"), when their starts are an hour or more apart (half an
hour for two announcements under different subjects), or when their street addresses differ.

Pure functions, no I/O. Imports only the model and the zone helpers. One module per job:
when (dates, times, zone words), places, text (a post's own words), post (reading one post),
threads (many posts into records).
"""

from sources.parse.prose.places import find_place
from sources.parse.prose.post import MAX_SCAN, Post, Reading, read_post
from sources.parse.prose.text import clean_subject, html_to_text, strip_quotes, subject_key
from sources.parse.prose.threads import post_id, records_from_posts
from sources.parse.prose.when import ZONE_WORDS

__all__ = ["Post", "html_to_text", "Reading", "read_post", "records_from_posts", "clean_subject", "strip_quotes",
           "find_place", "post_id", "ZONE_WORDS", "subject_key", "MAX_SCAN"]
