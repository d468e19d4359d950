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

from aggregator.errors import ConfigError, Problem
from aggregator.timezones import is_valid_zone
from aggregator.yamlfile import MarkedDict, load_yaml
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
    connect_timeout: float = Field(10, gt=0, description="seconds to connect")
    read_timeout: float = Field(30, gt=0, description="seconds between bytes")
    deadline: float = Field(120, gt=0, description="seconds for one source in all")
    max_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="largest response body, decoded")
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


class Config(BaseModel):
    """The validated sources.yaml."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    calendar: CalendarSettings
    fetch: FetchSettings = FetchSettings()
    sources: tuple[SourceOptions, ...] = ()

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
    "sources": None,
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
            problems.append(Problem(path, line, f'{label}: "{where}": {msg}'))
    return problems


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
        return f'url "{url}" is not an http(s) address; write it in full, e.g. https://{url.lstrip("/")}'
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

    if problems:
        raise ConfigError(problems)
    return Config(path=Path(path), sources=tuple(sources), **sections)


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
