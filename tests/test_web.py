"""`serve` on a loopback port: feed headers, 304s, gzip, filters, per-event downloads, health, security headers."""

from __future__ import annotations

import gzip
import signal

import pytest
import requests
from bs4 import BeautifulSoup
from icalendar import Calendar

from tests.site_fixture import RunningSite, publish_site, site_events, start_serve


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with RunningSite(tmp_path_factory.mktemp("site")) as running:
        yield running


def get(site, path, **headers):
    return requests.get(site.base + path, headers=headers, timeout=10)


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")}


def test_feed_has_calendar_content_type_strong_etag_and_last_modified(site):
    r = get(site, "/calendar.ics", **{"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert r.headers["ETag"].startswith('"') and not r.headers["ETag"].startswith("W/")
    assert r.headers["Last-Modified"].endswith("GMT")
    assert "Content-Encoding" not in r.headers
    assert r.content == (site.out / "calendar.ics").read_bytes()


def test_conditional_request_gets_304_with_empty_body(site):
    first = get(site, "/calendar.ics")
    again = get(site, "/calendar.ics", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    since = get(site, "/calendar.ics", **{"If-Modified-Since": first.headers["Last-Modified"],
                                          "Accept-Encoding": "identity"})
    assert since.status_code == 304
    changed = get(site, "/calendar.ics", **{"If-None-Match": '"not-the-tag"', "Accept-Encoding": "identity"})
    assert changed.status_code == 200 and changed.content


def test_gzip_only_when_asked(site):
    zipped = requests.get(site.base + "/calendar.ics", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw) == (site.out / "calendar.ics").read_bytes()
    assert "Accept-Encoding" in zipped.headers["Vary"]
    plain = get(site, "/calendar.ics", **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["ETag"] != plain.headers["ETag"], "each representation has its own strong ETag"
    refused = get(site, "/calendar.ics", **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_two_publishes_with_no_change_keep_the_same_etag(tmp_path, site):
    config, out = publish_site(tmp_path)
    assert (out / "calendar.ics").read_bytes() == (site.out / "calendar.ics").read_bytes()


def test_region_filter_keeps_source_regions_and_addresses(site):
    r = get(site, "/calendar.ics?region=IL")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    got = uids(r.content)
    assert "il-social@massage-events" in got and "conf@massage-events" in got  # national source, address in IL
    assert "ny-ce@massage-events" not in got and "wi-social@massage-events" not in got
    assert "Massage Therapist Networking Events — IL" in Calendar.from_ical(r.content)["X-WR-CALNAME"]
    wi = uids(get(site, "/calendar.ics?region=wi").content)
    assert wi == {"wi-social@massage-events"}, "Wisconsin is read from the address's state name"


def test_tag_and_source_filters_combine(site):
    ce = uids(get(site, "/calendar.ics?tag=ce").content)
    assert ce == {"il-ce@massage-events", "ny-ce@massage-events", "conf@massage-events"}
    il_ce = uids(get(site, "/calendar.ics?region=IL&tag=ce").content)
    assert il_ce == {"il-ce@massage-events", "conf@massage-events"}
    national = uids(get(site, "/calendar.ics?source=national").content)
    assert national == {"ny-ce@massage-events", "wi-social@massage-events", "conf@massage-events"}
    assert uids(get(site, "/calendar.ics?region=IL,NY&tag=ce").content) == ce


def test_filtered_feed_keeps_the_published_sequence_and_timezones(site):
    body = get(site, "/calendar.ics?region=IL").content
    cal = Calendar.from_ical(body)
    cancelled = [e for e in cal.walk("VEVENT") if str(e["UID"]) == "cancelled@massage-events"][0]
    assert int(cancelled["SEQUENCE"]) == 1 and str(cancelled["STATUS"]) == "CANCELLED"
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["America/Chicago"]
    assert not cal.get_missing_tzids()


def test_static_filtered_feeds_are_written_and_served(site):
    il = (site.out / "feeds" / "il.ics").read_bytes()
    assert "il-ce@massage-events" in uids(il) and "ny-ce@massage-events" not in uids(il)
    r = get(site, "/feeds/ce.ics")
    assert r.status_code == 200 and uids(r.content) == {"il-ce@massage-events", "ny-ce@massage-events",
                                                        "conf@massage-events"}


def test_event_download_is_one_event_calendar(site):
    r = get(site, "/event/il-ce@massage-events.ics")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    assert uids(r.content) == {"il-ce@massage-events"}
    assert b"REFRESH-INTERVAL" not in r.content, "a one-off download is not a subscription"
    missing = get(site, "/event/nope@x.ics")
    assert missing.status_code == 404 and "Traceback" not in missing.text


def test_events_json_and_health(site):
    r = get(site, "/events.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert len(r.json()["events"]) == len(site_events())
    h = get(site, "/healthz")
    assert h.status_code == 200
    body = h.json()
    assert body["ok"] is True and body["events"] == len(site_events()) and body["generated"].startswith("2026-03-01")


def test_page_has_security_headers_and_escapes_hostile_text(site):
    r = get(site, "/")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == "default-src 'self'; object-src 'none'; base-uri 'none'"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"]
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script>" not in r.text.replace('<script src="/static/page.js" defer></script>', "")
    soup = BeautifulSoup(r.text, "lxml")
    assert not soup.find_all(["img", "svg", "iframe", "style", "object", "embed"]), "no markup from event data"
    assert [s.get("src") for s in soup.find_all("script")] == ["/static/page.js"], "no inline or injected script"
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], f"event handler attribute on <{tag.name}>"
    hrefs = [a["href"] for a in soup.find_all("a", href=True)]
    assert all(h.startswith(("https://", "http://", "mailto:", "webcal://", "?", "#", "/", "event/", "events.json"))
               for h in hrefs), [h for h in hrefs if ":" in h.split("/")[0] and not h.startswith("http")]
    assert "JaVaScRiPt:alert(8)" in r.text, "an unsafe link is shown as plain text"


def test_page_filters_work_without_javascript(site):
    page = get(site, "/?region=NY").text
    assert "NYC CE day" in page and "Chicago therapists mixer" not in page
    assert 'aria-current="true"' in page
    assert "calendar.ics?region=NY" in page, "subscribe links follow the filter"


def test_unknown_paths_and_methods_get_friendly_pages(site):
    assert get(site, "/nope").status_code == 404
    post = requests.post(site.base + "/calendar.ics", data=b"x", timeout=10)
    assert post.status_code == 405 and "Traceback" not in post.text


def test_static_assets_are_served_with_types(site):
    css = get(site, "/static/page.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert get(site, "/static/../web.py").status_code == 404


def test_nothing_published_yet_is_a_clear_503(tmp_path):
    from aggregator.config.settings import load_config
    from tests.site_fixture import CONFIG

    (tmp_path / "sources.yaml").write_text(CONFIG)
    from aggregator.app.web.site import make_server, run_server

    server = make_server(load_config(tmp_path / "sources.yaml"), tmp_path / "db.sqlite", tmp_path / "empty", port=0,
                         asyncore_loop_timeout=0.1)
    import threading

    stop = threading.Event()
    t = threading.Thread(target=run_server, args=(server, stop), daemon=True)
    t.start()
    try:
        r = requests.get(f"http://127.0.0.1:{server.effective_port}/calendar.ics", timeout=10)
        assert r.status_code == 503 and "massage-events run" in r.text
        h = requests.get(f"http://127.0.0.1:{server.effective_port}/healthz", timeout=10)
        assert h.status_code == 503 and h.json()["ok"] is False
    finally:
        stop.set()
        t.join(timeout=5)


def test_serve_command_stops_cleanly_on_sigterm(tmp_path):
    config, out = publish_site(tmp_path)
    proc, url = start_serve(tmp_path / "sources.yaml", tmp_path / "db", out)
    try:
        assert requests.get(url + "healthz", timeout=10).json()["ok"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_subscription_pages_are_mounted_when_installed(site):
    pytest.importorskip("aggregator.app.web.subscribe", reason="the digest feature is not installed")
    form = get(site, "/subscribe")
    assert form.status_code == 200 and "<form" in form.text
    csp = form.headers["Content-Security-Policy"]
    assert "base-uri 'none'" in csp and "script-src" not in csp, "no script may run on the form page"
    assert 'href="/subscribe"' in get(site, "/").text, "the page offers the weekly digest"


def test_head_answers_headers_without_a_body(site):
    r = requests.head(site.base + "/calendar.ics", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == (site.out / "calendar.ics").stat().st_size


def test_damaged_published_files_keep_the_last_good_ones_served(tmp_path):
    import threading

    from aggregator.app.web.site import make_server, run_server

    config, out = publish_site(tmp_path)
    server = make_server(config, tmp_path / "db", out, "127.0.0.1", 0, asyncore_loop_timeout=0.1)
    stop = threading.Event()
    t = threading.Thread(target=run_server, args=(server, stop), daemon=True)
    t.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        good = requests.get(base + "/calendar.ics", timeout=10).content
        (out / "events.json").write_text("{ half a file")
        r = requests.get(base + "/calendar.ics?region=IL", timeout=10)
        assert r.status_code == 200 and b"il-ce@massage-events" in r.content
        assert requests.get(base + "/calendar.ics", timeout=10).content == good
        assert requests.get(base + "/", timeout=10).status_code == 200
    finally:
        stop.set()
        t.join(timeout=5)


def test_a_filter_matching_nothing_gives_a_valid_empty_calendar(site):
    r = get(site, "/calendar.ics?region=TX")
    assert r.status_code == 200
    cal = Calendar.from_ical(r.content)
    cal.validate()
    assert cal.walk("VEVENT") == [] and "TX" in str(cal["X-WR-CALNAME"])


def test_a_doubled_slash_redirects_to_the_configured_site_never_the_clients_host(site):
    r = requests.get(site.base + "/feeds//il.ics?x=1", headers={"Host": "evil.example"}, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 308
    assert r.headers["Location"] == "https://events.example.org/feeds/il.ics?x=1"


def test_the_prepared_feed_answer_matches_the_general_one(site):
    """The feed and events.json are answered from headers prepared per published version; a request
    the prepared answer does not handle (If-Modified-Since alone) takes the general path: same answer."""
    for path in ("/calendar.ics", "/events.json"):
        for encoding in ("identity", "gzip"):
            fast = requests.get(site.base + path, headers={"Accept-Encoding": encoding}, timeout=10)
            general = requests.get(site.base + path, timeout=10, headers={
                "Accept-Encoding": encoding, "If-Modified-Since": "Thu, 01 Jan 2004 00:00:00 GMT"})
            assert fast.status_code == general.status_code == 200
            assert fast.content == general.content
            ignore = {"Date"}
            assert {k: v for k, v in fast.headers.items() if k not in ignore} == \
                {k: v for k, v in general.headers.items() if k not in ignore}, (path, encoding)
            weak = requests.get(site.base + path, timeout=10,
                                headers={"Accept-Encoding": encoding, "If-None-Match": "W/" + fast.headers["ETag"]})
            assert weak.status_code == 304 and weak.headers["ETag"] == fast.headers["ETag"]


def test_a_large_feed_is_sent_whole(tmp_path):
    """Past 256 KiB the body goes to waitress as a file wrapper (sent from, not copied)."""
    from tests.calendar_cases import generated_events

    events = generated_events(800)
    with RunningSite(tmp_path, events) as large:
        on_disk = (large.out / "calendar.ics").read_bytes()
        assert len(on_disk) > 256 * 1024
        for path in ("/calendar.ics", "/calendar.ics?source=amta-il"):
            r = requests.get(large.base + path, headers={"Accept-Encoding": "identity"}, timeout=30)
            assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
        assert requests.get(large.base + "/calendar.ics", headers={"Accept-Encoding": "identity"},
                            timeout=30).content == on_disk
        assert len(uids(on_disk)) > 500


def test_a_new_publish_is_served_at_once_with_a_new_etag(tmp_path):
    from tests.site_fixture import NOW, publish

    events = site_events()
    with RunningSite(tmp_path, events) as running:
        before = get(running, "/calendar.ics", **{"Accept-Encoding": "identity"})
        get(running, "/calendar.ics", **{"Accept-Encoding": "gzip"})  # both answers prepared
        publish(running.out, running.config, events[1:], NOW)
        after = get(running, "/calendar.ics", **{"Accept-Encoding": "identity"})
        assert after.content == (running.out / "calendar.ics").read_bytes() != before.content
        assert after.headers["ETag"] != before.headers["ETag"]
        stale = get(running, "/calendar.ics", **{"If-None-Match": before.headers["ETag"]})
        assert stale.status_code == 200, "the old version's ETag no longer matches"
        assert len(get(running, "/events.json").json()["events"]) == len(events) - 1
