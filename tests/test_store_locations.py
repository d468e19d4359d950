"""--db and --out as locations: a path or a URL of a supported scheme. Anything else, or a server
that cannot be reached, is refused before any source is fetched, and never becomes a local folder
named after the URL."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aggregator.app.cli import main
from aggregator.errors import LocationError
from aggregator.publish.bucket import Bucket, as_output
from aggregator.store.locator import Database, as_database, redact


@pytest.mark.parametrize("args, words", [
    (["--db", "mysql://u:secret@db.example/events"], ['"mysql:" is not a database', "postgresql://"]),
    (["--db", "redis://localhost/0"], ['"redis:" is not a database']),
    (["--db", "postgresql:events"], ["needs a server"]),
    (["--out", "ftp://files.example/calendar"], ['"ftp:" is not somewhere massage-events can publish', "s3://"]),
    (["--out", "gs://bucket/x"], ['"gs:" is not somewhere', "AWS_ENDPOINT_URL"]),
    (["--out", "s3:"], ["name the bucket"]),
])
def test_an_unsupported_location_is_refused_before_any_fetch(tmp_path, monkeypatch, capsys, http,
                                                             one_source_config, args, words):
    monkeypatch.chdir(tmp_path)
    base = ["run", "--config", str(one_source_config), "--db", str(tmp_path / "db.sqlite"), "--out", str(tmp_path / "out")]
    code = main(base + args)
    err = capsys.readouterr().err
    assert code == 2, err
    for word in words:
        assert word in err
    assert "secret" not in err, "a password never reaches the terminal"
    assert http.log == [], "nothing was fetched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.yaml"], "no folder named after the URL"


def test_an_unreachable_postgresql_server_is_refused_before_any_fetch(tmp_path, monkeypatch, capsys, http,
                                                                      one_source_config):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--config", str(one_source_config), "--out", str(tmp_path / "out"),
                 "--db", "postgresql://massage:pw@127.0.0.1:9/events"])  # port 9 (discard): nobody listens
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot reach the PostgreSQL database postgresql://massage:***@127.0.0.1:9/events" in err
    assert "check the URL" in err
    assert http.log == []
    assert not (tmp_path / "out").exists()


def test_an_unreachable_bucket_is_refused_before_any_fetch(tmp_path, monkeypatch, capsys, http, one_source_config):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = main(["run", "--config", str(one_source_config), "--db", str(tmp_path / "db.sqlite"),
                 "--out", "s3://calendar-bucket/feeds"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--out s3://calendar-bucket/feeds/: cannot reach the object store at http://127.0.0.1:9" in err
    assert http.log == []
    assert not (tmp_path / "db.sqlite").exists(), "refused before the database was even opened"


def test_paths_stay_paths_and_urls_are_read_as_urls():
    assert as_database("massage-events.sqlite") == Database(path=Path("massage-events.sqlite"))
    assert as_database("C:\\data\\events.sqlite").path is not None, "a drive letter is a path"
    assert as_database("sqlite:///var/lib/me.sqlite") == Database(path=Path("/var/lib/me.sqlite"))
    pg = as_database("postgresql://me:pw@db:5432/events")
    assert pg.is_postgres and str(pg) == "postgresql://me:***@db:5432/events"
    assert as_database("postgres:///events?host=/run/postgresql").is_postgres
    assert as_output("out") == Path("out")
    assert as_output("s3://bucket") == Bucket("bucket", "")
    assert as_output("s3://bucket/a/b/") == Bucket("bucket", "a/b/")
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(LocationError):
        as_database("mongodb://h/db")


def test_every_command_that_takes_db_reads_a_postgresql_url(pg_cluster, tmp_path, capsys, make_config):
    """status, explain, subscribers, digest and bounces open the same server database a run wrote."""
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    url = pg_cluster.new_database()
    config_path = make_config("""
        calendar:
          name: Test
          timezone: America/Chicago
        sources: []
        """)
    with Store(url) as store:
        run(load_config(config_path), store, tmp_path / "out", now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    common = ["--config", str(config_path), "--db", url]
    assert main(["subscribers", "add", "ana@example.org", *common]) == 0
    capsys.readouterr()
    assert main(["subscribers", "list", *common]) == 0
    assert "ana@example.org" in capsys.readouterr().out
    assert main(["status", *common]) == 0
    assert main(["explain", "no-such-uid", *common]) in (0, 1)
    mbox = tmp_path / "returned.mbox"
    mbox.write_text("")
    assert main(["bounces", "--mbox", str(mbox), *common]) == 0
    assert main(["digest", "--preview", "ana@example.org", "--out", str(tmp_path / "out"), *common]) == 0
    out = capsys.readouterr().out
    assert "No database" not in out
    assert not any(p.name.startswith("postgresql") for p in tmp_path.iterdir())


def test_the_demo_sources_publish_the_same_events_through_postgresql_as_through_sqlite(pg_cluster, tmp_path):
    from aggregator.app.demo import DemoServer, write_demo_config
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    now = datetime.now(timezone.utc)
    published = {}
    with DemoServer() as samples:
        for backend, location in (("sqlite", tmp_path / "demo.sqlite"), ("postgresql", pg_cluster.new_database())):
            out = tmp_path / backend
            out.mkdir()
            config = load_config(write_demo_config(out, samples.base_url))
            with Store(location) as store:
                report = run(config, store, out, now=now)
            assert report.ok, report.summary()
            data = json.loads((out / "events.json").read_text())
            data.pop("generated")
            published[backend] = data
    assert len(published["sqlite"]["events"]) > 5
    assert published["postgresql"] == published["sqlite"]


def test_serve_refuses_an_unreachable_database_at_start(tmp_path, capsys, make_config):
    config = make_config("""
        calendar:
          name: Test
          timezone: America/Chicago
        sources: []
        """)
    code = main(["serve", "--config", str(config), "--db", "postgresql://massage@127.0.0.1:9/events",
                 "--out", str(tmp_path / "out"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the PostgreSQL database" in err, err
