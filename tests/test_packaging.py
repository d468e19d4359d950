"""A plain `pip install .` (a wheel, not an editable install) carries everything the code reads.

The page and digest templates, the page's static files and the demo's samples are read from
files beside the code at run time; a wheel that lacks them installs fine and then fails on the
first `run`. The wheel is built offline from a copy of the source tree (so the shared checkout
gets no build/ or *.egg-info), inspected, installed into a folder of its own and the demo is run
from there, away from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (folder in the source tree, where the wheel puts it): templates/ installs as aggregator/templates.
DATA_DIRS = (("templates", "aggregator/templates"), ("aggregator/app/demo_data", "aggregator/app/demo_data"))


def _data_files() -> set[str]:
    """Every file in the package's data folders, as a wheel names it (aggregator/templates/page.html.j2)."""
    found = set()
    for folder, installed in DATA_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    try:
        from setuptools.command import bdist_wheel  # noqa: F401  (built in since setuptools 70.1)
    except ImportError:
        try:
            import wheel as _wheel  # noqa: F401
        except ImportError:
            pytest.fail("no bdist_wheel: install the test extras (setuptools>=70.1) to build a wheel offline")
    work = tmp_path_factory.mktemp("packaging")
    tree = work / "src"
    tree.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for package in ("aggregator", "sources", "templates"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    dist = work / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(dist), str(tree)],
        capture_output=True, text=True, timeout=120, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = dist.glob("massage_events-*.whl")
    return built


def test_the_wheel_carries_the_templates_static_files_and_demo_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _data_files()
    for must in ("aggregator/templates/page.html.j2", "aggregator/templates/digest.html.j2",
                 "aggregator/templates/digest.txt.j2", "aggregator/templates/static/page.css",
                 "aggregator/app/demo_data/sources.yaml.tmpl"):
        assert must in expected, f"{must} is not in the source tree any more; update this test"
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks files the code reads at run time: {missing}"


def test_the_demo_runs_from_the_installed_wheel_away_from_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
         str(wheel)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PYTEST_CURRENT_TEST", None)
    where = subprocess.run([sys.executable, "-c", "import aggregator, sources; print(aggregator.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(target), where.stdout + where.stderr
    out = tmp_path / "out"
    demo = subprocess.run([sys.executable, "-m", "aggregator", "-q", "demo", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    css = (ROOT / "templates" / "static" / "page.css").read_text(encoding="utf-8")
    assert css.strip() in page, "the static page inlines the installed page.css"
    assert (out / "outbox" / "sample-digest.eml").stat().st_size > 0, demo.stdout
