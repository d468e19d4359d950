"""Data flows one way, and the folders show it.

sources.yaml -> config -> collect (adapters through the fetcher) -> merge -> store -> publish,
with the pipeline running those stages, mail delivering from what was stored, and the app
(command line, web server, scheduler, demo) as the shell over all of them.

Each package imports only the shared core, itself and the layers below it. Imports made inside
functions count too: a deferred import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module may import from its own layer and from any layer before it.
LAYERS = (
    ("core", ("aggregator", "aggregator.model", "aggregator.errors", "aggregator.codec", "aggregator.timezones",
              "aggregator.text", "aggregator.files", "aggregator.report", "aggregator.resources")),
    ("sources", ("sources",)),
    ("config", ("aggregator.config",)),
    ("collect", ("aggregator.collect",)),
    ("merge", ("aggregator.merge",)),
    ("store", ("aggregator.store",)),
    ("publish", ("aggregator.publish",)),
    ("pipeline", ("aggregator.pipeline",)),
    ("mail", ("aggregator.mail",)),
    ("app", ("aggregator.app", "aggregator.__main__")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for top in ("aggregator", "sources", "templates"):
        for path in (ROOT / top).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `name` imports, at any depth of the file (functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # "a.b.c" where only "a.b" is a module: the module is what is imported.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer_of(module: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")
    return rank


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                bad.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                           f"({LAYERS[layer_of(target)][0]})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle to break."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_a_layer_above_its_own():
    bad = upward_imports(import_graph())
    assert not bad, "data flows one way; move the shared piece down or pass it in:\n" + "\n".join(bad)


def test_no_import_cycles_even_through_imports_inside_functions():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_checks_catch_a_cycle_hidden_in_a_function_and_an_upward_import(tmp_path):
    """The two checks above can fail: a deferred import that closes a cycle is found, as is a
    publisher reaching up into the command line."""
    package = tmp_path / "aggregator" / "publish"
    package.mkdir(parents=True)
    (package / "ics.py").write_text("def render():\n    from aggregator.publish.feeds import pick\n")
    (package / "feeds.py").write_text("from aggregator.publish.ics import render\nimport aggregator.app.cli\n")
    known = {"aggregator.publish.ics", "aggregator.publish.feeds", "aggregator.app.cli"}
    graph = {name: imports_of(name, tmp_path / (name.replace(".", "/") + ".py"), known)
             for name in ("aggregator.publish.ics", "aggregator.publish.feeds")}
    assert cycles(graph) == [["aggregator.publish.feeds", "aggregator.publish.ics"]]
    assert upward_imports(graph) == ["aggregator.publish.feeds (publish) imports aggregator.app.cli (app)"]


@pytest.mark.parametrize("path", sorted((ROOT / "sources").rglob("*.py")), ids=lambda p: p.name)
def test_adapters_import_only_the_core_and_each_other(path):
    known = set(project_modules())
    core = LAYERS[0][1]
    bad = {t for t in imports_of(module_name(path), path, known)
           if not t.startswith("sources") and t not in core}
    assert not bad, f"{path.name} reaches into {sorted(bad)}; adapters yield records and forget"


def test_publishers_know_nothing_of_adapters_or_fetching():
    graph = import_graph()
    bad = {(m, t) for m, targets in graph.items() if m.startswith("aggregator.publish")
           for t in targets if t.startswith(("sources", "aggregator.collect"))}
    assert not bad, f"publishers import {sorted(bad)}"


def test_every_adapter_is_registered_through_the_entry_point_group():
    import tomllib

    from sources.registry import adapter_for, available_types

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["massage_events.sources"]
    assert set(available_types()) == set(declared), "re-run `pip install -e .` after changing entry points"
    for name in declared:
        assert adapter_for(name).type_name == name
