"""The production deployment of docs/deploy-nginx.md works as written: a real nginx on loopback,
with the doc's site block, serves the published files from disk and proxies the rest to a real
`serve` (filtered feeds, the page, subscriptions), and serves nothing else from the folder."""

from __future__ import annotations

import re
import threading

import pytest
import requests
import yaml

from aggregator.app.web.site import make_server, run_server
from aggregator.config.settings import ServeSettings, load_config
from benchmarks.nginx_site import DOC, NginxSite, nginx_binary
from tests.site_fixture import CONFIG, publish_site

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (Debian: apt-get install "
                                "nginx-light); the deployment in docs/deploy-nginx.md is not exercised")

NGINX_ETAG = re.compile(r'^"[0-9a-f]+-[0-9a-f]+"$')  # mtime-size: nginx's own, not serve's content hash


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    _, out = publish_site(root)
    (root / "sources.yaml").write_text(CONFIG + "serve:\n  trusted_proxies: [127.0.0.1]\n", encoding="utf-8")
    config = load_config(root / "sources.yaml")
    # What else an output folder may hold: the outbox of unsent mail, a database.
    (out / "outbox").mkdir()
    (out / "outbox" / "confirm.eml").write_text("Subject: confirm\n\nhttps://events.example.org/confirm/SECRET\n")
    (out / "demo.sqlite").write_bytes(b"SQLite format 3\x00")
    server = make_server(config, root / "site.sqlite", out, "127.0.0.1", 0, asyncore_loop_timeout=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=run_server, args=(server, stop), daemon=True)
    thread.start()
    try:
        with NginxSite(out, server.effective_port, root / "nginx") as nginx:
            yield nginx.base, out
    finally:
        stop.set()
        thread.join(timeout=5)


def test_the_feed_and_events_json_come_from_disk_through_nginx(deployed):
    base, out = deployed
    feed = requests.get(base + "/calendar.ics", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert feed.status_code == 200 and feed.content == (out / "calendar.ics").read_bytes()
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert NGINX_ETAG.match(feed.headers["ETag"]), "served by nginx from the file, not proxied"
    assert feed.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.get(base + "/calendar.ics", headers={"If-None-Match": feed.headers["ETag"],
                                                          "Accept-Encoding": "identity"}, timeout=10)
    assert again.status_code == 304
    zipped = requests.get(base + "/calendar.ics", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert zipped.headers.get("Content-Encoding") == "gzip" and zipped.content == feed.content
    data = requests.get(base + "/events.json", timeout=10)
    assert data.headers["Content-Type"] == "application/json; charset=utf-8" and data.json()["events"]


def test_filtered_and_per_event_feeds(deployed):
    base, out = deployed
    static = requests.get(base + "/feeds/il.ics", timeout=10)
    assert static.status_code == 200 and static.content == (out / "feeds" / "il.ics").read_bytes()
    one = sorted((out / "event").glob("*.ics"))[0]
    download = requests.get(f"{base}/event/{one.name}", timeout=10)
    assert download.status_code == 200 and download.content == one.read_bytes()
    filtered = requests.get(base + "/calendar.ics?region=IL", timeout=10)
    assert filtered.status_code == 200, "a query goes to serve, which cuts the filtered feed"
    assert b"il-social@massage-events" in filtered.content and b"ny-ce@massage-events" not in filtered.content
    assert not NGINX_ETAG.match(filtered.headers["ETag"])


def test_the_page_and_health_come_from_serve(deployed):
    base, _ = deployed
    page = requests.get(base + "/", timeout=10)
    assert page.status_code == 200 and 'href="/subscribe"' in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(base + "/healthz", timeout=10).json()["ok"] is True


@pytest.mark.parametrize("path", ["/outbox/confirm.eml", "/demo.sqlite", "/sources.yaml", "/event/../demo.sqlite",
                                  "/feeds/../outbox/confirm.eml"])
def test_nothing_else_in_the_output_folder_is_served(deployed, path):
    r = requests.get(deployed[0] + path, timeout=10)
    assert r.status_code == 404 and b"SECRET" not in r.content and b"SQLite" not in r.content


def test_a_subscription_post_is_proxied_with_the_form_check(deployed):
    base, out = deployed
    ok = requests.post(base + "/subscribe", data={"email": "ann@example.org"},
                       headers={"Origin": "https://events.example.org"}, timeout=10)
    assert ok.status_code == 200 and "Check your inbox" in ok.text
    assert any("ann@example.org" in p.read_text() for p in (out / "outbox").glob("*.eml"))
    other = requests.post(base + "/subscribe", data={"email": "bob@example.org"},
                          headers={"Origin": "https://evil.example"}, timeout=10)
    assert other.status_code == 403


def test_the_documented_serve_section_is_valid_and_covers_every_setting(tmp_path):
    example = re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    data = yaml.safe_load(example)
    assert set(data["serve"]) == set(ServeSettings.model_fields)
    (tmp_path / "sources.yaml").write_text(example, encoding="utf-8")
    config = load_config(tmp_path / "sources.yaml")
    assert config.serve.trusted_proxies == ("127.0.0.1",)
