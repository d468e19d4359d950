"""`--out s3://bucket/prefix` against an S3-compatible server process on loopback.

No real S3 server can be installed here: moto's standalone server (`python -m moto.server`)
stands in for S3 — it speaks the S3 REST protocol over HTTP, computes ETags as S3 does (the
MD5 of a single-part upload) and serves objects by path-style URL, the way a calendar app or a
CDN in front of a public bucket reads them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
import socket
import subprocess
import sys
import time

import pytest

from aggregator.app.cli import main
from aggregator.publish.bucket import LAST, Bucket

pytest.importorskip("moto", reason="moto[server] is not installed: the object storage tests skip")
boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto's S3 server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def bucket_env(s3_server, monkeypatch):
    for name, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    name = f"calendar-{time.monotonic_ns()}"
    client.create_bucket(Bucket=name)
    return s3_server, name, client


def _objects(client, bucket: str, prefix: str) -> dict[str, dict]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o for o in listing}


def test_a_run_publishes_to_the_bucket_and_a_calendar_client_subscribes_through_its_url(bucket_env, tmp_path, capsys):
    import icalendar

    from aggregator.app.demo import DemoServer, write_demo_config

    endpoint, name, client = bucket_env
    with DemoServer() as samples:
        config = write_demo_config(tmp_path, samples.base_url)
        code = main(["run", "--config", str(config), "--db", str(tmp_path / "db.sqlite"),
                     "--out", f"s3://{name}/chapter"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"s3://{name}/chapter/:" in out and "objects uploaded" in out

    objects = _objects(client, name, "chapter/")
    assert {"chapter/calendar.ics", "chapter/events.json", "chapter/index.html"} <= set(objects)
    assert any(k.startswith("chapter/event/") for k in objects), "the per-event downloads are there too"
    assert not any("outbox" in k or k.endswith(".sqlite") for k in objects), "only published files"

    head = client.head_object(Bucket=name, Key="chapter/calendar.ics")
    assert head["ContentType"] == "text/calendar; charset=utf-8"
    assert head["CacheControl"] == "public, max-age=300"
    assert client.head_object(Bucket=name, Key="chapter/events.json")["ContentType"].startswith("application/json")
    assert client.head_object(Bucket=name, Key="chapter/index.html")["ContentType"].startswith("text/html")

    # A calendar app subscribes to the bucket's URL (path-style, as behind a CDN origin). The
    # operator makes the bucket publicly readable with a policy, as docs/deployment.md says.
    client.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
    answer = requests.get(f"{endpoint}/{name}/chapter/calendar.ics", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/calendar")
    assert answer.headers["ETag"].strip('"') == hashlib.md5(answer.content).hexdigest()
    calendar = icalendar.Calendar.from_ical(answer.content)
    events = json.loads(requests.get(f"{endpoint}/{name}/chapter/events.json", timeout=10).content)["events"]
    assert len(calendar.walk("VEVENT")) == len(events) > 5


def test_only_changed_objects_are_uploaded_index_files_last_and_gone_ones_deleted(bucket_env, tmp_path):
    _, name, client = bucket_env
    site = tmp_path / "site"
    (site / "event").mkdir(parents=True)
    for n in range(3):
        (site / "event" / f"e{n}.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" + bytes([n]))
    for file in LAST:
        (site / file).write_text(f"{file} v1")
    (site / "outbox").mkdir()
    (site / "outbox" / "digest.eml").write_text("not for the bucket")
    (site / ".calendar.ics.123.tmp").write_text("half a file")
    target = Bucket(name, "p/")
    # With versioning on, every PUT leaves a version: the server's record of what was uploaded.
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    first = target.publish(site)
    assert first.uploaded[-3:] == list(LAST), "calendar.ics, events.json, index.html go last"
    assert set(first.uploaded[:3]) == {"event/e0.ics", "event/e1.ics", "event/e2.ics"}
    assert set(_objects(client, name, "p/")) == {f"p/event/e{n}.ics" for n in range(3)} | {f"p/{f}" for f in LAST}

    (site / "events.json").write_text("events.json v2")
    (site / "event" / "e1.ics").unlink()
    second = target.publish(site)
    assert second.uploaded == ["events.json"] and second.unchanged == 4 and second.deleted == 1
    after = _objects(client, name, "p/")
    assert "p/event/e1.ics" not in after
    versions = Counter(v["Key"] for v in client.list_object_versions(Bucket=name, Prefix="p/")["Versions"])
    assert versions["p/calendar.ics"] == 1 and versions["p/event/e0.ics"] == 1, "unchanged objects left alone"
    assert versions["p/events.json"] == 2
    assert client.get_object(Bucket=name, Key="p/events.json")["Body"].read() == b"events.json v2"


def test_a_missing_bucket_is_refused_with_its_name(bucket_env):
    from aggregator.errors import LocationError

    with pytest.raises(LocationError) as caught:
        Bucket("no-such-bucket-here", "").check()
    assert "there is no bucket 'no-such-bucket-here'" in str(caught.value)
