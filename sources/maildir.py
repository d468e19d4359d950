"""Type "maildir": a local Maildir folder a list is delivered to (by fetchmail, getmail, offlineimap...).

    - id: list-mailbox
      type: maildir
      path: /home/curator/Maildir/.lists.lmt-chicago    # (url: is accepted as a synonym)

Messages in new/ and cur/ are read (never moved, never marked seen) as list posts
(sources/parse/prose.py), text/calendar invitations as iCalendar. Only the newest
`max_messages` messages are read.

`url` is optional for this type (there is no URL for a folder): give `path`, or a `url`
that is the folder's path or file:// URL.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator

from aggregator.errors import FetchRefused, ParseError
from aggregator.model import RawEvent, Window
from sources.base import AUTHORITY_MAIL, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.mail import MAX_MESSAGE_BYTES, read_messages


def message_files(folder: Path, *, source_id: str | None = None) -> list[tuple[float, str, int]]:
    """The message files of a Maildir folder as (mtime, path, size), newest first: new/ and cur/
    (a folder with only one of them is a Maildir too), never tmp/ or dot-files. Nothing is opened,
    moved or marked seen. FetchRefused when the folder is missing or unreadable, ParseError when it
    is not a Maildir. (The bounce reader, aggregator/mail/bounces.py, lists a folder with this too.)"""
    if not folder.exists():
        raise FetchRefused(f"Maildir folder {folder} does not exist; check path: in sources.yaml",
                           source_id=source_id, reason="not_found")
    if not folder.is_dir() or not ((folder / "cur").is_dir() or (folder / "new").is_dir()):
        raise ParseError(f"{folder} is not a Maildir (it has no cur/ or new/ folder); point path: at the "
                         "folder that holds cur/, new/ and tmp/", source_id=source_id, reason="not_a_maildir")
    files = []
    for sub in ("new", "cur"):
        directory = folder / sub
        if not directory.is_dir():
            continue
        try:
            for entry in os.scandir(directory):
                if entry.is_file() and not entry.name.startswith("."):
                    files.append((entry.stat().st_mtime, entry.path, entry.stat().st_size))
        except PermissionError:
            raise FetchRefused(f"{directory} cannot be read (permission denied); let massage-events read it",
                               source_id=source_id, reason="unreadable") from None
    files.sort(reverse=True)
    return files


class MaildirOptions(SourceOptions):
    allows_local_path = True

    url: str | None = Field(None, description="the Maildir folder as a path or file:// URL (or use path:)")
    path: str | None = Field(None, description="the Maildir folder (holding cur/, new/ and tmp/)")
    max_messages: int = Field(2000, ge=1, le=100_000, description="read at most this many of the newest messages")

    @model_validator(mode="after")
    def _one_place(self):
        if not (self.path or self.url):
            raise ValueError('a maildir source needs "path:" (the Maildir folder, holding cur/ and new/)')
        return self

    @property
    def folder(self) -> Path:
        where = self.path or self.url or ""
        if where.startswith("file:"):
            where = unquote(urlsplit(where).path)
        return Path(os.path.expanduser(where))


class MaildirAdapter(SourceAdapter):
    """Reads a local Maildir folder; the fetcher is not used (there is no network here)."""

    type_name = "maildir"
    authority = AUTHORITY_MAIL
    Options = MaildirOptions

    def version(self, options: SourceOptions) -> str | None:
        """The folder's listing (names, sizes, modification times): delivery, flagging and
        expunging all change it, so an unchanged listing means unchanged messages."""
        folder = options.folder if isinstance(options, MaildirOptions) else Path(options.url)
        digest = hashlib.sha256()
        try:
            for sub in ("new", "cur"):
                if not (folder / sub).is_dir():
                    continue  # a folder with only cur/ is a Maildir too
                entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                                 for e in os.scandir(folder / sub) if not e.name.startswith("."))
                digest.update(f"{sub}\x00{entries!r}".encode("utf-8", "surrogateescape"))
        except OSError:
            return None  # read() says what is wrong with the folder
        return digest.hexdigest()

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        folder = options.folder if isinstance(options, MaildirOptions) else Path(options.url)
        files = message_files(folder, source_id=options.id)
        limit = getattr(options, "max_messages", 2000)
        skipped_old = files[limit:]
        files = files[:limit]

        def raw_messages() -> Iterator[bytes]:
            for _, path, size in sorted(files):
                if size > MAX_MESSAGE_BYTES:
                    continue
                try:
                    with open(path, "rb") as handle:
                        yield handle.read()
                except OSError:
                    continue  # delivered and removed while we read: not an error

        for _, path, size in files:
            if size > MAX_MESSAGE_BYTES:
                yield Skipped(item=path, reason=f"larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB; not read")
        if skipped_old:
            yield Skipped(item=f"{len(skipped_old)} older messages in {folder}",
                          reason=f"only the newest {limit} messages are read (max_messages)")
        yield from read_messages(raw_messages(), options, window, origin=str(folder))
