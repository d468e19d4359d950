"""A safe YAML loader that remembers the line of every mapping key.

Config errors must name the file and line (Home Assistant's trick): mappings
load as `MarkedDict`, which keeps the 1-based line of the mapping itself and of
each of its keys. Only plain YAML is accepted: tags such as
`!!python/object/apply` are refused with their line, and nothing runs.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from aggregator.errors import ConfigError, Problem

try:  # the C loader is much faster on big files; same safety
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader


class MarkedDict(dict):
    """A dict that knows where it was written."""

    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list):
    line: int = 0
    item_lines: list


class _Loader(_Base):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    result = MarkedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f'key "{key}" appears twice in this mapping', key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path | str):
    """Load one YAML file; any syntax problem becomes a ConfigError with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, "file not found",
                                   "create it, or pass --config PATH")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(str(path), None, f"not UTF-8 text ({e.reason})",
                                   "save the file as UTF-8")]) from None
    except OSError as e:
        raise ConfigError([Problem(str(path), None, f"cannot be read ({e.strerror})")]) from None
    return loads_yaml(text, str(path))


def loads_yaml(text: str, name: str = "<string>"):
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        problem = e.problem or "cannot be read"
        fix = None
        if "could not determine a constructor" in problem:
            problem = f"unsupported YAML tag {problem.split('tag', 1)[-1].strip()}"
            fix = "remove the tag: sources.yaml holds plain values only"
        raise ConfigError([Problem(name, mark.line + 1 if mark else None, problem, fix)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = f"YAML syntax error: {e.problem or e.context}"
        raise ConfigError([Problem(name, mark.line + 1 if mark else None, problem,
                                   "check the indentation and quoting on this line")]) from None
    except yaml.YAMLError as e:  # pragma: no cover - other YAML failures
        raise ConfigError([Problem(name, None, f"YAML error: {e}")]) from None
