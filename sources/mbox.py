"""Type "mbox": a mailing list's mbox archive (a file or a URL), or a single .eml message.

    - id: list-archive
      type: mbox
      url: https://lists.example.org/pipermail/lmt-chicago/2026-March.txt   # or .txt.gz
    - id: saved-announcements
      type: mbox
      url: /srv/mail/announcements.mbox        # a local path is allowed for this type

Each message is read as a list post (sources/parse/prose.py); a text/calendar part (an
invitation) is read exactly like an iCalendar source, METHOD:CANCEL cancelling the event.
Gzipped monthly archives (Pipermail's .txt.gz) are inflated, with a size cap.
"""

from __future__ import annotations

from collections.abc import Iterator

from aggregator.model import RawEvent, Window
from sources.base import AUTHORITY_MAIL, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.mail import read_mailbox_bytes

ACCEPT = "application/mbox, message/rfc822, text/plain;q=0.9, application/gzip;q=0.8, */*;q=0.1"


class MboxOptions(SourceOptions):
    allows_local_path = True


class MboxAdapter(SourceAdapter):
    """Reads an mbox archive or one .eml message, fetched (or read from disk) by the shared fetcher."""

    type_name = "mbox"
    authority = AUTHORITY_MAIL
    Options = MboxOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        fetched = fetcher.get(options.url, accept=ACCEPT)
        yield from read_mailbox_bytes(fetched.content, options, window, origin=fetched.url or options.url)
