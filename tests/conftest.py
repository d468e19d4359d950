"""Shared fixtures: one loopback HTTP server per session, temp databases, config factory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.servers import LoopbackServer

SHARED_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def server():
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server):
    """The session server with an empty request log."""
    server.log.clear()
    return server


@pytest.fixture
def make_config(tmp_path):
    """Write a sources.yaml from text (dedented) and return its path."""

    def write(text: str, name: str = "sources.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def one_source_config(make_config, http):
    """A sources.yaml with one iCalendar source served from the loopback fixture server."""
    return make_config(f"""
        calendar:
          name: Test
          timezone: America/Chicago
        sources:
          - id: chapter
            type: ical
            url: {http.url('/files/ical/cancelled_event.ics')}
        """)


def corpus_files(folder: str) -> list[Path]:
    """Files of ../shared/corpus/<folder>, or [] where ../shared is absent (a user's clone)."""
    base = SHARED_CORPUS / folder
    return sorted(p for p in base.iterdir() if p.is_file()) if base.is_dir() else []


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the session (tests/pg_server.py), or a skip saying why."""
    from tests.pg_server import Cluster, find_bin

    if find_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL store tests skip")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: the PostgreSQL store tests skip")
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_location(request, tmp_path):
    """A fresh, empty database on each backend: a SQLite path, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "db.sqlite"
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def no_proxies(monkeypatch):
    """Requests go straight to the loopback servers, whatever proxy the machine's environment names."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(autouse=True)
def _local_state_in_tmp(tmp_path, monkeypatch):
    """What massage-events keeps under ~/.cache (a PostgreSQL database's HTTP cache, a bucket's
    staging folder) goes to the test's temp folder, never the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
