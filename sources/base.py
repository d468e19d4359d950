"""What every source adapter is handed and what it must provide.

An adapter is one module in sources/, named after its `type:`, exposing one class
with `type_name`, `Options`, `authority`, `read()` and `version()` (SourceAdapter). It imports only aggregator.model,
aggregator.errors, aggregator.timezones and this module. It fetches only through
the Fetcher it is handed, yields RawEvent (and Skipped, to say what it passed
over and why) and raises a SourceError subclass when the source as a whole
cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from aggregator.model import RawEvent, Window


# Authorities of the built-in kinds of source (lower is more trusted); see SourceAdapter.authority.
AUTHORITY_CALENDAR = 0  # iCalendar: the organiser's own structured record
AUTHORITY_STRUCTURED_PAGE = 1  # schema.org / h-event data in a page
AUTHORITY_PAGE = 2  # a plain HTML listing read through selectors
AUTHORITY_FEED = 3  # posts of a feed, read as prose
AUTHORITY_MAIL = 4  # list mail, read as prose
AUTHORITY_UNKNOWN = 5  # an adapter that does not say


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # final URL after redirects
    status: int
    content: bytes
    text: str  # decoded from bytes: BOM, then declared charset, then HTTP charset, then UTF-8
    content_type: str
    from_cache: bool = False  # unchanged since last run (304, or same body): may skip re-parsing
    last_modified: str | None = None  # the Last-Modified header, for year-less dates
    fingerprint: str | None = None  # the fetcher's hash of `content` (volatile lines aside), when it made one


class Fetcher(Protocol):
    def get(self, url: str, *, accept: str | None = None, discovered: bool = False) -> Fetched:
        """Fetch url. `discovered=True` for links found in fetched content (SSRF-checked)."""
        ...


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something a source held that is not an event we publish, and why (shown by `sources check`)."""

    item: str
    reason: str


class SourceOptions(BaseModel):
    """The keys every source accepts; an adapter's Options subclass adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="unique slug, stable: it appears in events.json")
    type: str = Field(description="the adapter: ical, jsonld, html, rss, mbox, maildir, imap")
    url: str = Field(description="where the source is read from")
    name: str | None = Field(None, description="a human name for the source")
    timezone: str | None = Field(None, description="zone for times the source gives without one")
    region: str | None = Field(None, description="region tag for every event, e.g. a US state: IL")
    tags: tuple[str, ...] = Field((), description="tags added to every event of this source")
    include: tuple[str, ...] = Field((), description="keep only items mentioning one of these words")
    exclude: tuple[str, ...] = Field((), description="drop items mentioning any of these words")
    broad: bool = Field(False, description="a general calendar: keep only massage/bodywork events")
    refresh_minutes: int | None = Field(None, ge=5, description="how often serve refreshes it")
    enabled: bool = Field(True, description="false: keep the entry but do not fetch it")

    # Whether this type may read a local path (mbox/maildir archives do; web types don't).
    allows_local_path: ClassVar[bool] = False


class SourceAdapter(Protocol):
    """What an adapter is. Built-ins subclass this to inherit the defaults; a third-party adapter may
    too, or declare the same names itself (the registry checks them when it loads the adapter)."""

    type_name: ClassVar[str]  # the `type:` value == entry-point name
    Options: ClassVar[type[SourceOptions]]  # this type's keys; validated before any fetch
    # How far a merged event trusts this type's values, 0 = most: a calendar's own VEVENT beats a
    # page's schema.org data, which beats a plain-HTML listing, which beats prose read from mail.
    authority: ClassVar[int] = AUTHORITY_UNKNOWN

    def read(self, options: SourceOptions, fetcher: Fetcher, window: Window) -> Iterator[RawEvent | Skipped]:
        """Yield the source's events inside window (and Skipped items).

        Raise a SourceError subclass when the source as a whole can't be read.
        `options.timezone` is already the source's or else the calendar's zone.
        """
        ...

    def version(self, options: SourceOptions) -> str | None:
        """A cheap token that changes whenever the source's input does (a local folder's listing).
        The pipeline skips reading a source whose version is what it was at its last good read.
        None (the default): no such token; sources read through the fetcher need none, since
        their bodies are compared instead."""
        return None
