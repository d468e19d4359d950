"""Events read from the prose of mailing-list posts (rss, mbox, maildir and imap use it).

A post is an announcement when its own words (and, unless it is a reply, its subject) name a day
not past when it was sent, and a time for it, or no time but a day named for an event ("the meetup
is on November 11th", "Date: 10–16 June 2025", "all day Saturday"):

    "Reminder: spring mixer next Tuesday at 6:30 at Cafe Lula, 2537 N Kedzie"

Relative dates ("tomorrow at 7", "this Saturday", "Wednesday next week") count from the post's own
date; zone words ("7pm ET", "6:30 PM Pacific", "Arizona time", "HST") name the zone of the time, a
word for the list's own region keeping the list's zone; spans of days ("from May 30 to June 1, 2025")
are all-day events, or run from the first day's start to the last day's end when hours are given.
Quoted text, attribution lines ("On Tue, Feb 21, 2017 at 9:54 AM, X wrote:") and a reply's original
are never the post's own words; digests, job ads, sales, minutes, deadlines and closures are not
events (returned as a reason). docs/mail-prose.md says what is read and what is not.

`records_from_posts` collapses replies, reminders and forwards of one announcement into one record
(threading by In-Reply-To/References and by subject + event date) whose details come from the most
complete post; a cancellation post marks it CANCELLED; an update that moves the time moves the
record. Posts outside one reply thread stay separate events when their subjects name different
sessions, when their starts are clearly apart, or when their street addresses differ.

Pure functions, no I/O; imports only the core and sources/. One module per job: when (dates, times,
zone words), spans (spans of days), places, text (a post's own words), post (reading one post),
threads (many posts into records).
"""

from sources.parse.prose.places import find_place
from sources.parse.prose.post import MAX_SCAN, Post, Reading, read_post
from sources.parse.prose.text import clean_subject, html_to_text, strip_quotes, subject_key
from sources.parse.prose.threads import post_id, records_from_posts
from sources.parse.prose.when import ZONE_WORDS

__all__ = ["Post", "html_to_text", "Reading", "read_post", "records_from_posts", "clean_subject", "strip_quotes",
           "find_place", "post_id", "ZONE_WORDS", "subject_key", "MAX_SCAN"]
