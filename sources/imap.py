"""Type "imap": a mailbox subscribed to a list, read over IMAP (read-only: nothing is marked seen).

    - id: list-inbox
      type: imap
      host: imap.example.org
      port: 993                  # default: 993 with tls: ssl, else 143
      tls: ssl                   # ssl | starttls | none (none only for a server on this machine)
      folder: Lists/lmt-chicago  # default INBOX
      username: curator@example.org
      password_env: LIST_IMAP_PASSWORD   # the NAME of an environment variable holding the password

The password is never written in sources.yaml: a missing variable is a clear source error
naming it. Messages are read as list posts (sources/parse/prose.py); text/calendar invitations
as iCalendar (METHOD:CANCEL cancels). `url` is optional for this type.

IMAP is not HTTP, so this adapter opens its own connection (imaplib) with a timeout,
instead of going through the shared HTTP fetcher.
"""

from __future__ import annotations

import imaplib
import os
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from aggregator.errors import FetchRefused, ParseError, RetryableFetchError, SourceError
from aggregator.model import RawEvent, Window
from sources.base import AUTHORITY_MAIL, Fetcher, Skipped, SourceAdapter, SourceOptions
from sources.parse.mail import MAX_MESSAGE_BYTES, read_messages

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ImapOptions(SourceOptions):
    url: str | None = Field(None, description="not used by imap sources (give host:)")
    host: str = Field(description="the IMAP server's host name")
    port: int | None = Field(None, ge=1, le=65535, description="default 993 (tls: ssl) or 143")
    tls: Literal["ssl", "starttls", "none"] = Field("ssl", description="ssl, starttls, or none (loopback only)")
    folder: str = Field("INBOX", description="the mailbox folder the list is delivered to")
    username: str = Field(description="the IMAP login name")
    password_env: str = Field(description="NAME of the environment variable holding the password")
    max_messages: int = Field(500, ge=1, le=20_000, description="read at most this many of the newest messages")
    since_days: int = Field(120, ge=1, le=3660, description="read messages from this many days before the window")
    timeout: float = Field(30, gt=0, le=600, description="seconds for the connection and each command")

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value or ""):
            raise ValueError(f'"{value}" is not an environment variable name; write the variable\'s NAME, '
                             "e.g. LIST_IMAP_PASSWORD, never the password itself")
        return value

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "ssl" else 143)


def _imap_date(value) -> str:
    return value.strftime("%d-%b-%Y")


class ImapAdapter(SourceAdapter):
    """Reads list posts from an IMAP folder."""

    type_name = "imap"
    authority = AUTHORITY_MAIL
    Options = ImapOptions

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        assert isinstance(options, ImapOptions)
        raws, skipped = self.fetch_messages(options, window)
        yield from skipped
        yield from read_messages(raws, options, window, origin=f"imap://{options.host}/{options.folder}")

    def fetch_messages(self, options: ImapOptions, window: Window) -> tuple[list[bytes], list[Skipped]]:
        sid = options.id
        where = f"{options.host}:{options.effective_port}"
        password = os.environ.get(options.password_env)
        if password is None:
            raise SourceError(f"the environment variable {options.password_env} (password_env) is not set; "
                              f"set it to the IMAP password of {options.username} before running",
                              source_id=sid, reason="missing_password")
        if options.tls == "none" and options.host not in _LOOPBACK:
            raise FetchRefused(f"IMAP without TLS to {where} would send the password in the clear; use tls: ssl "
                               "or starttls (tls: none is only for a server on this machine)",
                               source_id=sid, reason="insecure")
        conn = None
        try:
            if options.tls == "ssl":
                conn = imaplib.IMAP4_SSL(options.host, options.effective_port, timeout=options.timeout,
                                         ssl_context=ssl.create_default_context())
            else:
                conn = imaplib.IMAP4(options.host, options.effective_port, timeout=options.timeout)
                if options.tls == "starttls":
                    conn.starttls(ssl_context=ssl.create_default_context())
            try:
                conn.login(options.username, password)
            except imaplib.IMAP4.error:
                raise FetchRefused(f"IMAP login refused for user {options.username} at {where}; check that "
                                   f"password_env ({options.password_env}) holds the right password",
                                   source_id=sid, reason="login_refused") from None
            status, _ = conn.select(_quote(options.folder), readonly=True)
            if status != "OK":
                folders = _folders(conn)
                raise FetchRefused(f'IMAP folder "{options.folder}" does not exist at {where}; '
                                   f"folders there: {', '.join(folders) or 'none'}",
                                   source_id=sid, reason="no_folder")
            since = window.start - timedelta(days=options.since_days)
            status, data = conn.uid("SEARCH", None, "SINCE", _imap_date(since))
            if status != "OK":
                raise ParseError(f"IMAP server {where} refused to search {options.folder}", source_id=sid,
                                 reason="imap_search")
            uids = (data[0] or b"").split()
            skipped = []
            if len(uids) > options.max_messages:
                skipped.append(Skipped(item=f"{len(uids) - options.max_messages} older messages in {options.folder}",
                                       reason=f"only the newest {options.max_messages} are read (max_messages)"))
                uids = uids[-options.max_messages:]
            raws = []
            for uid in uids:
                status, data = conn.uid("FETCH", uid, "(RFC822.SIZE)")
                size = _size(data)
                if size is not None and size > MAX_MESSAGE_BYTES:
                    skipped.append(Skipped(item=f"message UID {uid.decode()} in {options.folder}",
                                           reason=f"larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB; not read"))
                    continue
                status, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                if status != "OK":
                    continue
                for part in data or []:
                    if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
                        raws.append(part[1])
            return raws, skipped
        except SourceError:
            raise
        except ssl.SSLError as e:
            raise FetchRefused(f"TLS with the IMAP server {where} failed ({e.reason or e}); check tls: and port:",
                               source_id=sid, reason="tls") from None
        except (socket.timeout, TimeoutError):
            raise RetryableFetchError(f"the IMAP server {where} did not answer in time", source_id=sid,
                                      reason="timeout") from None
        except (ConnectionError, OSError) as e:
            raise RetryableFetchError(f"the IMAP server {where} could not be reached ({e.strerror or e})",
                                      source_id=sid, reason="connection") from None
        except imaplib.IMAP4.error as e:
            raise ParseError(f"the IMAP server {where} answered something unexpected ({e})", source_id=sid,
                             reason="imap_protocol") from None
        finally:
            if conn is not None:
                try:
                    conn.logout()
                except Exception:
                    pass


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _folders(conn) -> list[str]:
    try:
        status, data = conn.list()
    except Exception:
        return []
    names = []
    for line in data or []:
        if isinstance(line, bytes):
            m = re.search(rb'"?([^"]+)"?\s*$', line)
            if m:
                names.append(m.group(1).decode("utf-8", "replace"))
    return names


def _size(data) -> int | None:
    for part in data or []:
        text = part if isinstance(part, bytes) else (part[0] if isinstance(part, tuple) else b"")
        m = re.search(rb"RFC822\.SIZE (\d+)", text or b"")
        if m:
            return int(m.group(1))
    return None
