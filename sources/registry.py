"""Adapter lookup through the `massage_events.sources` entry-point group.

Built-in adapters are registered the same way in pyproject.toml, so a third
party ships an adapter with `pip install` and nothing else.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from aggregator.errors import UnknownSourceType

GROUP = "massage_events.sources"


@cache
def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_types() -> list[str]:
    return sorted(_entry_points())


@cache
def adapter_for(type_name: str):
    """The adapter class registered for `type_name`."""
    eps = _entry_points()
    if not eps:
        raise UnknownSourceType(
            "no source adapters are registered: is massage-events installed? run `pip install -e .`"
        )
    if type_name not in eps:
        known = ", ".join(available_types())
        raise UnknownSourceType(f'unknown source type "{type_name}"; known types: {known}')
    cls = eps[type_name].load()
    if getattr(cls, "type_name", None) != type_name:
        raise UnknownSourceType(
            f"adapter {cls!r} is registered as {type_name!r} but says type_name="
            f"{getattr(cls, 'type_name', None)!r}; fix its entry point"
        )
    missing = [name for name in ("Options", "authority", "read", "version") if not hasattr(cls, name)]
    if missing:
        raise UnknownSourceType(
            f"adapter {cls!r} for type {type_name!r} lacks {', '.join(missing)}; subclass"
            " sources.base.SourceAdapter, which declares them with defaults"
        )
    return cls
