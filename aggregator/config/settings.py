"""sources.yaml -> Config, validated before any network traffic.

Every problem is collected (not just the first) and reported with the file,
the line and the fix, e.g.

    sources.yaml:14: source "amta-il": unknown key "tiemzone"; did you mean "timezone"?

Top-level sections are pydantic models with extra="forbid"; each source entry is
validated by its adapter's own Options model, found through the registry.
"""

from __future__ import annotations

import difflib
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aggregator.config.yamlfile import MarkedDict, load_yaml
from aggregator.errors import ConfigError, Problem
from aggregator.timezones import is_valid_zone
from sources.base import SourceOptions
from sources.registry import UnknownSourceType, adapter_for, available_types


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSettings(_Section):
    name: str = Field("Massage Therapist Networking Events", description="the calendar's title")
    description: str = Field("Networking events for massage therapists, gathered from many sources.",
                             description="shown in calendar apps and on the page")
    timezone: str = Field("UTC", description="default zone for floating / zone-less times")
    base_url: str = Field("http://127.0.0.1:8000", description="where the site is served (links in emails)")
    horizon_days: int = Field(365, ge=1, le=3660, description="how far ahead events are kept")
    past_days: int = Field(30, ge=0, le=3660, description="how long past events stay published")
    refresh_hours: int = Field(6, ge=1, le=168, description="REFRESH-INTERVAL advertised to calendar apps")
    curator_email: str | None = Field(None, description="who is told when a source breaks")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_zone(value):
            raise ValueError(f'unknown time zone "{value}"; use an IANA name such as America/Chicago')
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f'"{value}" is not an http(s) URL; write e.g. https://events.example.org')
        return value.rstrip("/")


class FetchSettings(_Section):
    concurrency: int = Field(16, ge=1, le=256, description="sources fetched at once")
    per_host: int = Field(2, ge=1, le=16, description="connections at once to one host")
    workers: int = Field(0, ge=0, le=64, description="processes reading sources (Linux); 0: one per CPU (up to 4) "
                                                     "for 40 sources or more (in `run`; `serve` reads in threads), 1: all in the run's process")
    connect_timeout: float = Field(10, gt=0, description="seconds to connect")
    read_timeout: float = Field(30, gt=0, description="seconds between bytes")
    deadline: float = Field(120, gt=0, description="seconds for one source in all")
    max_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="largest response body, decoded")
    max_records: int = Field(5000, ge=1, description="most records (events, occurrences) one source may hold; "
                                                    "a source with more fails alone and keeps its last good events")
    retries: int = Field(2, ge=0, le=10, description="retries of a 429/5xx/timeout within a run")
    allow_private: tuple[str, ...] = Field((), description="networks discovered links may point into")
    respect_robots: bool = Field(True, description="obey robots.txt for page sources")
    user_agent_contact: str | None = Field(None, description="a URL or address put in the User-Agent")

    @field_validator("allow_private")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f'"{net}" is not a network; write e.g. 10.0.0.0/8') from None
        return value


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestSettings(_Section):
    """The weekly email digest (aggregator/mail/digest.py)."""

    day: str = Field("mon", description="weekday the digest is sent: mon, tue, ... sun")
    time: str = Field("08:00", description="local time (calendar timezone) it is sent, HH:MM")
    days_ahead: int = Field(7, ge=1, le=62, description="how many coming days each digest lists")
    from_address: str | None = Field(None, description="sender address; default digest@<base_url host>")
    from_name: str | None = Field(None, description="sender name; default the calendar's name")
    reply_to: str | None = Field(None, description="where replies go; default the curator's address")
    list_id: str | None = Field(None, description="List-Id, e.g. digest.events.example.org")
    send_empty: bool = Field(False, description="also mail subscribers with no matching events")
    secret_env: str = Field("MASSAGE_EVENTS_SECRET",
                            description="NAME of the environment variable holding the link-signing secret")
    grace_hours: int = Field(6, ge=1, le=72, description="a missed digest is still sent this many hours late")
    dkim_selector: str | None = Field(None, description="DKIM selector; set it with dkim_key_file to sign mail")
    dkim_key_file: str | None = Field(None, description="PEM file of the DKIM private key (RSA)")
    dkim_domain: str | None = Field(None, description="DKIM signing domain; default the from_address domain")

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        short = str(value).strip().lower()[:3]
        if short not in _DAYS:
            raise ValueError(f'"{value}" is not a weekday; write one of {", ".join(_DAYS)}')
        return short

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        parts = str(value).strip().split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise ValueError(f'"{value}" is not a time; write HH:MM, e.g. "08:00"')
        return f"{int(parts[0]):02d}:{int(parts[1]):02d}"

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and ("@" not in value or any(c in value for c in " <>\r\n,")):
            raise ValueError(f'"{value}" is not an email address; write e.g. digest@events.example.org')
        return value


class SmtpSettings(_Section):
    """Where mail goes. No host: every message is written to <out>/outbox/ as an .eml file."""

    host: str | None = Field(None, description="SMTP relay host; leave out to write mail to the outbox folder")
    port: int | None = Field(None, ge=1, le=65535, description="default 587 (starttls), 465 (tls), 25 (none)")
    security: str = Field("starttls", description="starttls | tls | none")
    username: str | None = Field(None, description="SMTP login")
    password_env: str | None = Field(None, description="NAME of the environment variable holding the password")
    timeout: float = Field(30, gt=0, description="seconds to wait on the SMTP server")
    connections: int = Field(1, ge=1, le=32, description="SMTP connections the digest sends over in parallel")
    max_per_second: float = Field(0, ge=0, description="at most this many digest messages a second, over all "
                                                       "connections (0: no limit); set it to the relay's limit")

    @field_validator("security")
    @classmethod
    def _security(cls, value: str) -> str:
        if value not in ("starttls", "tls", "none"):
            raise ValueError(f'"{value}" is not a security mode; write starttls, tls or none')
        return value


class ScheduleSettings(_Section):
    """What `serve` runs by itself (aggregator/app/scheduler.py)."""

    enabled: bool = Field(True, description="false: serve only serves; use cron with run / digest --send")
    refresh_minutes: int = Field(60, ge=5, le=10080, description="how often every source is refreshed")
    lease_seconds: int = Field(180, ge=3, le=3600, description="with several serve replicas: how long a dead "
                                                               "replica keeps the scheduler before another takes over")


class ServeSettings(_Section):
    """The web server of `massage-events serve` (aggregator/app/web/site.py), set for a public address.

    Slow and idle clients cost the server a socket each, never a thread: the limits below keep
    a few hundred of them from locking everyone else out (docs/deploy-nginx.md)."""

    threads: int = Field(8, ge=1, le=256, description="requests answered at once")
    connection_limit: int = Field(1000, ge=10, le=100_000,
                                  description="open connections at most (idle and slow ones included)")
    request_timeout: float = Field(20, gt=0, le=3600,
                                   description="seconds a client has to send one whole request (headers and body)")
    channel_timeout: float = Field(30, gt=0, le=3600,
                                   description="seconds an idle keep-alive connection stays open")
    cleanup_interval: float = Field(2, gt=0, le=600, description="how often timed-out connections are closed")
    backlog: int = Field(2048, ge=16, le=65535, description="connections the kernel queues before serve accepts them")
    trusted_proxies: tuple[str, ...] = Field(
        (), description="addresses or networks of your reverse proxies; only their X-Forwarded-For is believed")
    confirmations_per_day: int = Field(200, ge=1, le=1_000_000,
                                       description="confirmation emails sent in 24 hours at most; the curator "
                                                   "is told when the cap is reached")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            try:
                ipaddress.ip_network(str(net).strip(), strict=False)
            except ValueError:
                raise ValueError(f'"{net}" is not an address or network; write e.g. 127.0.0.1 or 10.0.0.0/8') \
                    from None
        return tuple(str(n).strip() for n in value)


class AlertSettings(_Section):
    """Emails to calendar.curator_email when a source breaks (aggregator/mail/alerts.py)."""

    after_failures: int = Field(3, ge=1, le=100, description="failed runs in a row before the curator is told")
    on_empty: bool = Field(True, description="also tell when a source that had events suddenly yields none")


class FeedSpec(_Section):
    """One filtered feed written as a static file (aggregator/publish/feeds.py), e.g. feeds/il.ics."""

    name: str = Field(description="its title in calendar apps, e.g. Illinois")
    path: str = Field(description="where it is written under the output folder, e.g. feeds/il.ics")
    region: tuple[str, ...] = Field((), description="regions kept, e.g. [IL, WI]; empty: any")
    tag: tuple[str, ...] = Field((), description="tags kept, e.g. [ce]; empty: any")
    source: tuple[str, ...] = Field((), description="source ids kept; empty: any")

    @field_validator("region", "tag", "source", mode="before")
    @classmethod
    def _listify(cls, value):
        return (value,) if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = value.replace("\\", "/").split("/")
        if value.startswith("/") or ".." in parts or not value.endswith(".ics") or any(not p for p in parts):
            raise ValueError(f'"{value}" must be a relative path ending in .ics, e.g. feeds/il.ics')
        return value


class FilterSettings(_Section):
    """Keyword rules for every source (a source's own include/exclude add to them)."""

    include: tuple[str, ...] = Field((), description="keep only items mentioning one of these words "
                                                     "(for sources without an include of their own)")
    exclude: tuple[str, ...] = Field((), description="drop items mentioning any of these words")


class MergeSettings(_Section):
    """Curator control of de-duplication (aggregator/merge/dedupe/). A reference is a published uid
    or a record as "source-id:EXTERNAL_ID" (the ids `massage-events explain UID` shows)."""

    same: tuple[tuple[str, ...], ...] = Field((), description="groups of records or events that are one event")
    never: tuple[tuple[str, ...], ...] = Field((), description="groups of records or events never merged")
    hide: tuple[str, ...] = Field((), description="events not to publish (uid or source-id:EXTERNAL_ID)")

    @field_validator("same", "never")
    @classmethod
    def _groups(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for group in value:
            if len(group) < 2:
                raise ValueError(f"{list(group)} names fewer than two records; list two or more, "
                                 'e.g. ["amta-il:UID-1", "chi-meetup:https://..."]')
        return value


class TagRules(BaseModel):
    """Keyword rules for tags (aggregator/merge/tagging.py): `tag-name: [keywords]` adds to or replaces the
    default tags (an empty list turns one off); `relevance: [words]` replaces the words a `broad:`
    source's events must mention."""

    model_config = ConfigDict(extra="allow", frozen=True)

    relevance: tuple[str, ...] = Field((), description="words a broad source's events must mention")

    @field_validator("relevance")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(w for w in value if w and w.strip())

    def model_post_init(self, _context) -> None:
        for tag, words in (self.__pydantic_extra__ or {}).items():
            if words is not None and (not isinstance(words, (list, tuple))
                                      or not all(isinstance(w, str) for w in words)):
                raise ValueError(f'tag "{tag}" must be a list of keywords, e.g. {tag}: [mixer, social]')

    def custom(self) -> dict[str, tuple[str, ...]]:
        """The curator's tag -> keywords entries (an empty tuple turns a default tag off)."""
        return {str(k): tuple(v or ()) for k, v in (self.__pydantic_extra__ or {}).items()}


class Config(BaseModel):
    """The validated sources.yaml."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    calendar: CalendarSettings
    fetch: FetchSettings = FetchSettings()
    filters: FilterSettings = FilterSettings()
    sources: tuple[SourceOptions, ...] = ()
    feeds: tuple[FeedSpec, ...] = ()  # filtered static feeds (aggregator/publish/feeds.py)
    digest: DigestSettings = DigestSettings()
    smtp: SmtpSettings = SmtpSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    serve: ServeSettings = ServeSettings()  # the web server's limits (aggregator/app/web/site.py)
    merge: MergeSettings = MergeSettings()  # dedupe overrides (aggregator/merge/dedupe/)
    tags: TagRules = TagRules()  # tag keyword rules and relevance (aggregator/merge/tagging.py)

    def source(self, source_id: str) -> SourceOptions:
        for s in self.sources:
            if s.id == source_id:
                return s
        known = ", ".join(s.id for s in self.sources) or "none"
        raise ConfigError([Problem(str(self.path), None, f'no source with id "{source_id}"',
                                   f"known ids: {known}")])


# Every top-level key of sources.yaml: its model (None: validated by hand below).
# A feature that adds a section adds its model class above, here, and as a Config field.
SECTIONS: dict[str, type[BaseModel] | None] = {
    "calendar": CalendarSettings,
    "fetch": FetchSettings,
    "filters": FilterSettings,
    "sources": None,
    "feeds": None,  # a list: validated by _parse_feeds
    "digest": DigestSettings,
    "smtp": SmtpSettings,
    "schedule": ScheduleSettings,
    "alerts": AlertSettings,
    "serve": ServeSettings,
    "merge": MergeSettings,
    "tags": TagRules,
}


def _suggest(word: str, choices) -> str | None:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def _fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _pydantic_problems(err: ValidationError, model: type[BaseModel], data: MarkedDict,
                       path: str, label: str) -> list[Problem]:
    problems = []
    for e in err.errors():
        loc = e.get("loc") or ()
        key = loc[0] if loc else None
        line = data.line_of(key) if isinstance(data, MarkedDict) and key is not None else getattr(data, "line", None)
        kind = e.get("type")
        if kind == "extra_forbidden":
            fix = _suggest(key, _fields_of(model)) or f"known keys: {', '.join(_fields_of(model))}"
            problems.append(Problem(path, line, f'{label}: unknown key "{key}"', fix))
        elif kind == "missing":
            desc = model.model_fields[key].description if key in model.model_fields else None
            fix = f'add "{key}:"' + (f" ({desc})" if desc else "")
            problems.append(Problem(path, line, f'{label}: missing key "{key}"', fix))
        else:
            msg = e.get("msg", "invalid value")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            where = ".".join(str(p) for p in loc)
            problems.append(Problem(path, line, f'{label}: "{where}": {msg}', _TYPE_FIXES.get(kind)))
    return problems


_TYPE_FIXES = {
    "int_parsing": "write a whole number", "int_type": "write a whole number",
    "float_parsing": "write a number", "bool_parsing": "write true or false", "bool_type": "write true or false",
    "string_type": "write text (quote it if it starts with a special character)",
    "tuple_type": "write a list, e.g. [a, b]", "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of keys", "model_type": "write a mapping of keys",
}


def _check_url(url: Any, options_cls: type[SourceOptions]) -> str | None:
    """A reason the URL is unusable, or None."""
    if not isinstance(url, str) or not url.strip():
        return "url must be text: an http(s) address"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            return f'url "{url}" has no host'
        return None
    if options_cls.allows_local_path and parts.scheme in ("", "file"):
        return None
    if parts.scheme == "" and not options_cls.allows_local_path:
        looks_like_host = "." in url and not any(c.isspace() for c in url)
        example = f"https://{url.lstrip('/')}" if looks_like_host else "https://example.org/events.ics"
        return f'url "{url}" is not an http(s) address; write the full address, e.g. {example}'
    return f'url "{url}" uses "{parts.scheme}:"; only http and https are fetched'


def parse_config(data: Any, path: str = "sources.yaml") -> Config:
    """Validate already-loaded YAML (MarkedDict) into a Config, or raise ConfigError listing every problem."""
    problems: list[Problem] = []
    if data is None:
        data = MarkedDict()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(path, getattr(data, "line", 1), "the file must be a mapping",
                                   'start it with "calendar:" and "sources:"')])
    if not isinstance(data, MarkedDict):
        data = _mark(data)

    for key in data:
        if key not in SECTIONS:
            known = list(SECTIONS)
            problems.append(Problem(path, data.line_of(key), f'unknown top-level key "{key}"',
                                    _suggest(key, known) or f"known keys: {', '.join(known)}"))

    sections: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        if model is None:
            continue
        raw = data.get(name)
        if raw is None:
            sections[name] = model()
            continue
        if not isinstance(raw, dict):
            problems.append(Problem(path, data.line_of(name), f'"{name}" must be a mapping of keys'))
            continue
        try:
            sections[name] = model(**raw)
        except ValidationError as err:
            problems += _pydantic_problems(err, model, raw, path, name)

    sources = _parse_sources(data, path, problems)
    feeds = _parse_feeds(data, path, problems, {s.id for s in sources})

    if problems:
        raise ConfigError(problems)
    return Config(path=Path(path), sources=tuple(sources), feeds=tuple(feeds), **sections)


def _parse_sources(data: MarkedDict, path: str, problems: list[Problem]) -> list[SourceOptions]:
    raw_sources = data.get("sources")
    if raw_sources is None:
        return []
    if not isinstance(raw_sources, list):
        problems.append(Problem(path, data.line_of("sources"), '"sources" must be a list',
                                'write each source as "- id: ..." under "sources:"'))
        return []
    seen: dict[str, int] = {}
    result = []
    lines = getattr(raw_sources, "item_lines", [data.line_of("sources")] * len(raw_sources))
    for index, item in enumerate(raw_sources):
        line = lines[index] if index < len(lines) else None
        if not isinstance(item, dict):
            problems.append(Problem(path, line, f"source #{index + 1} must be a mapping",
                                    'start it with "- id: my-source"'))
            continue
        if not isinstance(item, MarkedDict):
            item = _mark(item, line)
        sid = item.get("id")
        label = f'source "{sid}"' if sid else f"source #{index + 1}"
        if not sid or not isinstance(sid, str):
            problems.append(Problem(path, item.line, f'{label}: missing key "id"',
                                    'add "id: a-short-slug" (it appears in events.json)'))
        elif not _is_slug(sid):
            problems.append(Problem(path, item.line_of("id"), f'{label}: id must be a slug',
                                    "use lowercase letters, digits, '-' and '_' only"))
        elif sid in seen:
            problems.append(Problem(path, item.line_of("id"), f'{label}: duplicate id',
                                    f"line {seen[sid]} uses it already; give each source its own id"))
        else:
            seen[sid] = item.line_of("id")
        type_name = item.get("type")
        if not type_name:
            problems.append(Problem(path, item.line, f'{label}: missing key "type"',
                                    f"add type: one of {', '.join(available_types())}"))
            continue
        try:
            adapter = adapter_for(str(type_name))
        except UnknownSourceType as err:
            known = available_types()
            hint = _suggest(type_name, known)
            fix = (hint + " " if hint else "") + f"known types: {', '.join(known)}"
            problems.append(Problem(path, item.line_of("type"), f'{label}: unknown type "{type_name}"', fix)
                            if known else Problem(path, item.line_of("type"), str(err)))
            continue
        options_cls = adapter.Options
        url_problem = _check_url(item.get("url"), options_cls) if "url" in item else None
        if url_problem:
            problems.append(Problem(path, item.line_of("url"), f"{label}: {url_problem}"))
        tz = item.get("timezone")
        if tz is not None and not (isinstance(tz, str) and is_valid_zone(tz)):
            problems.append(Problem(path, item.line_of("timezone"), f'{label}: unknown time zone "{tz}"',
                                    "use an IANA name such as America/Chicago or America/New_York"))
        try:
            result.append(options_cls(**item))
        except ValidationError as err:
            problems += [p for p in _pydantic_problems(err, options_cls, item, path, label)
                         if not (url_problem and '"url"' in p.problem)]
    return result


def _parse_feeds(data: MarkedDict, path: str, problems: list[Problem], source_ids: set[str]) -> list[FeedSpec]:
    raw = data.get("feeds")
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(path, data.line_of("feeds"), '"feeds" must be a list',
                                'write each feed as "- name: Illinois" with "path: feeds/il.ics" under "feeds:"'))
        return []
    lines = getattr(raw, "item_lines", [data.line_of("feeds")] * len(raw))
    result, seen = [], {}
    for index, item in enumerate(raw):
        line = lines[index] if index < len(lines) else None
        label = f"feed #{index + 1}"
        if not isinstance(item, dict):
            problems.append(Problem(path, line, f"{label} must be a mapping", 'start it with "- name: Illinois"'))
            continue
        if not isinstance(item, MarkedDict):
            item = _mark(item, line)
        try:
            spec = FeedSpec(**item)
        except ValidationError as err:
            problems += _pydantic_problems(err, FeedSpec, item, path, label)
            continue
        for sid in spec.source:
            if sid not in source_ids:
                problems.append(Problem(path, item.line_of("source"), f'{label}: no source with id "{sid}"',
                                        _suggest(sid, source_ids) or f"known ids: {', '.join(sorted(source_ids))}"))
        if spec.path in seen:
            problems.append(Problem(path, item.line_of("path"), f'{label}: path "{spec.path}" is used twice',
                                    f"line {seen[spec.path]} writes it already; give each feed its own file"))
        seen.setdefault(spec.path, item.line_of("path"))
        result.append(spec)
    return result


def _is_slug(value: str) -> bool:
    return bool(value) and all(c.islower() or c.isdigit() or c in "-_" for c in value) and value[0].isalnum()


def _mark(value: dict, line: int | None = None) -> MarkedDict:
    marked = MarkedDict(value)
    marked.line = line or 0
    marked.key_lines = {}
    return marked


def load_config(path: Path | str = "sources.yaml") -> Config:
    """Read and validate sources.yaml; raise ConfigError with every problem, before any fetch."""
    return parse_config(load_yaml(path), str(path))
