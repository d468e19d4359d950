"""Data flows one way: each layer imports only what is to its left (plus model and errors).

sources.yaml -> config -> adapters -> normalize -> dedupe -> store -> publishers -> delivery,
with the pipeline, CLI, demo, web server and scheduler as shells over them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALWAYS_ALLOWED = {"aggregator", "aggregator.model", "aggregator.errors", "aggregator.timezones"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("aggregator", "sources")}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("path", modules("sources"), ids=lambda p: p.name)
def test_adapters_import_only_the_model_errors_and_their_base(path):
    imports = {name for name in project_imports(path) if not name.startswith("sources")}
    bad = {name for name in imports
           if name != "aggregator" and not any(name == a or name.startswith(a + ".") for a in ALWAYS_ALLOWED - {"aggregator"})}
    assert not bad, f"{path.name} reaches into {sorted(bad)}; adapters yield and forget"


# Modules left of the store never import the store, the publishers, the pipeline or the shells.
LEFT_OF_STORE = ["config", "yamlfile", "fetch", "normalize", "dedupe", "lifecycle", "tagging", "codec"]
RIGHT_SIDE = {"aggregator.store.database", "aggregator.pipeline", "aggregator.app.cli", "aggregator.app.web.site", "aggregator.app.demo",
              "aggregator.publish.ics", "aggregator.publish.json", "aggregator.publish.html", "aggregator.publish.outputs",
              "aggregator.mail.digest", "aggregator.mail.transport", "aggregator.app.scheduler"}


@pytest.mark.parametrize("name", LEFT_OF_STORE)
def test_early_stages_do_not_reach_forward(name):
    path = ROOT / "aggregator" / f"{name}.py"
    if not path.exists():
        pytest.skip(f"aggregator/{name}.py not present")
    bad = {i for i in project_imports(path) if any(i == r or i.startswith(r + ".") for r in RIGHT_SIDE)}
    assert not bad, f"aggregator/{name}.py imports {sorted(bad)}: data flows one way"


PUBLISHERS = ["publish_ics", "publish_json", "publish_html", "feeds"]


@pytest.mark.parametrize("name", PUBLISHERS)
def test_publishers_know_nothing_of_adapters_or_fetching(name):
    path = ROOT / "aggregator" / f"{name}.py"
    if not path.exists():
        pytest.skip(f"aggregator/{name}.py not present")
    bad = {i for i in project_imports(path)
           if i.startswith("sources") or i.startswith(("aggregator.collect.fetch", "aggregator.pipeline", "aggregator.app.cli"))}
    assert not bad, f"aggregator/{name}.py imports {sorted(bad)}"


def test_every_adapter_is_registered_through_the_entry_point_group():
    import tomllib

    from sources.registry import adapter_for, available_types

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["massage_events.sources"]
    assert set(available_types()) == set(declared), "re-run `pip install -e .` after changing entry points"
    for name in declared:
        assert adapter_for(name).type_name == name
