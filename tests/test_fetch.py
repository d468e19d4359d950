"""The fetcher against the loopback server: decoding, caching and revalidation, politeness,
robots.txt, SSRF, redirects and retries. Every assertion is about what a server saw or what a
curator would read."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
import time_machine

from aggregator import __version__
from aggregator.collect.fetch import (
    HttpFetcher,
    check_redirect,
    cache_path_for,
    decode,
    is_blocked_address,
    make_fetcher,
    parse_retry_after,
)
from aggregator.config.settings import load_config
from aggregator.errors import FetchRefused, RetryableFetchError, SourceError
from sources.base import SourceOptions
from tests.servers import DEFAULT_ROBOTS, Doc


@pytest.fixture
def srv(http):
    http.reset()
    yield http
    http.reset()


@pytest.fixture
def fetcher(tmp_path):
    f = HttpFetcher(deadline=3, connect_timeout=1, read_timeout=2, backoff_base=0.02,
                    cache_path=tmp_path / "db.sqlite.http-cache.sqlite")
    yield f
    f.close()


def fresh(tmp_path, **kw):
    """A second fetcher on the same cache file: what the next run gets."""
    kw = {"deadline": 3, "connect_timeout": 1, "read_timeout": 2, "backoff_base": 0.02, **kw}
    return HttpFetcher(cache_path=tmp_path / "db.sqlite.http-cache.sqlite", **kw)


def page(type_name: str, url: str, source_id: str = "s") -> SourceOptions:
    return SourceOptions(id=source_id, type=type_name, url=url)


def title_of(text: str) -> str:
    return re.search(r"<title>(.*?)</title>", text, re.S).group(1)


# --------------------------------------------------------------------------- decoding

@pytest.mark.parametrize("fixture, content_type, title", [
    ("meta_after_1024.html", "text/html", "Café “Massage” Night"),
    ("utf8_labelled_iso8859_1.html", "text/html; charset=ISO-8859-1", "Séance de massage — Montréal"),
    ("windows1252_smart_quotes.html", "text/html; charset=windows-1252", "“Hands-On” Workshop – Bodywork’s Best"),
    ("windows1252_smart_quotes.html", "text/html; charset=ISO-8859-1", "“Hands-On” Workshop – Bodywork’s Best"),
    ("koi8r.html", "text/html", "Массаж: встреча терапевтов"),
])
def test_titles_decode_exactly_whatever_the_labels_say(srv, fetcher, fixture, content_type, title):
    fetched = fetcher.get(srv.url(f"/files/encoding/{fixture}?type={content_type}"))
    assert title_of(fetched.text) == title


def test_decode_prefers_bom_over_every_label():
    assert decode("\ufeffCafé".encode("utf-8"), "text/html; charset=koi8-r") == "Café"
    assert decode("Café".encode("utf-16-le").join([b"\xff\xfe", b""]), "") == "Café"


# --------------------------------------------------------------------------- caching

def test_a_second_run_revalidates_with_the_etag_and_reports_unchanged(srv, fetcher, tmp_path):
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    first = fetcher.get(srv.url("/doc/cal"))
    assert not first.from_cache

    second = fresh(tmp_path).get(srv.url("/doc/cal"))

    assert second.from_cache, "a 304 must tell the pipeline it may skip parsing"
    assert second.content == first.content
    assert srv.log[-1].headers.get("If-None-Match"), "the warm request must be conditional"


def test_last_modified_alone_is_enough_to_revalidate(srv, fetcher, tmp_path):
    srv.documents["lm"] = Doc(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", etag=False,
                              last_modified="Mon, 02 Mar 2026 10:00:00 GMT")
    fetcher.get(srv.url("/doc/lm"))
    again = fresh(tmp_path).get(srv.url("/doc/lm"))
    assert again.from_cache
    assert srv.log[-1].headers.get("If-Modified-Since") == "Mon, 02 Mar 2026 10:00:00 GMT"


def test_a_changed_document_is_downloaded_and_not_called_unchanged(srv, fetcher, tmp_path):
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nX-VERSION:1\r\nEND:VCALENDAR\r\n")
    fetcher.get(srv.url("/doc/cal"))
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nX-VERSION:2\r\nEND:VCALENDAR\r\n")
    again = fresh(tmp_path).get(srv.url("/doc/cal"))
    assert not again.from_cache
    assert b"X-VERSION:2" in again.content


def test_a_server_without_validators_that_only_rewrites_dtstamp_counts_as_unchanged(srv, fetcher, tmp_path):
    url = srv.url("/volatile/ical/dst_crossing_chicago.ics")
    first = fetcher.get(url)
    second = fresh(tmp_path).get(url)
    assert first.content != second.content, "the fixture route must really rewrite DTSTAMP"
    assert second.from_cache
    assert "If-None-Match" not in srv.log[-1].headers and "If-Modified-Since" not in srv.log[-1].headers


def test_every_twelve_hours_one_request_is_unconditional(srv, fetcher, tmp_path):
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    url = srv.url("/doc/cal")
    fetcher.get(url)
    fresh(tmp_path).get(url)
    assert "If-None-Match" in srv.log[-1].headers

    with time_machine.travel(timedelta(hours=12, minutes=1), tick=True):
        forced = fresh(tmp_path).get(url)
        assert "If-None-Match" not in srv.log[-1].headers, "12 h on, the fetch must be unconditional"
        assert forced.from_cache, "the same body is still 'unchanged' by its hash"
        fresh(tmp_path).get(url)
        assert "If-None-Match" in srv.log[-1].headers, "only one unconditional request per 12 h"
    unconditional = [r for r in srv.log if "If-None-Match" not in r.headers]
    assert len(unconditional) == 2  # the very first download and the forced one


def test_a_refused_body_is_never_cached(srv, fetcher):
    url = srv.url("/gzipbomb?mb=64")
    with pytest.raises(FetchRefused):
        fetcher.get(url)
    assert fetcher.cache.urls() == []


def test_threads_revalidating_at_once_through_one_cache_all_see_their_stored_bodies(srv, fetcher, tmp_path):
    """One SQLite connection serves every thread of a run: reads beside writes must not break."""
    from concurrent.futures import ThreadPoolExecutor

    for name in range(12):
        srv.documents[f"c{name}"] = Doc(f"BEGIN:VCALENDAR\r\nX-N:{name}\r\nEND:VCALENDAR\r\n".encode())
    urls = [srv.url(f"/doc/c{name}") for name in range(12)]
    for url in urls[:6]:
        fetcher.get(url)  # stored: the next fetcher revalidates these and downloads the others
    again = fresh(tmp_path)
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(again.get, urls))
    finally:
        again.close()
    assert [r.from_cache for r in results] == [True] * 6 + [False] * 6
    assert [f"X-N:{n}" in r.text for n, r in enumerate(results)] == [True] * 12
    assert sorted(fresh(tmp_path).cache.urls()) == sorted(urls)


def test_a_revalidated_document_costs_no_write_to_the_cache(srv, fetcher, tmp_path):
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    url = srv.url("/doc/cal")
    fetcher.get(url)
    cache = tmp_path / "db.sqlite.http-cache.sqlite"
    files = [cache, cache.with_name(cache.name + "-wal")]
    again = fresh(tmp_path)
    before = [(f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    assert again.get(url).from_cache
    assert "If-None-Match" in srv.log[-1].headers
    assert [(f.stat().st_size, f.stat().st_mtime_ns) for f in files] == before, "a 304 rewrote the cache"
    again.close()


def test_a_cache_that_cannot_be_written_costs_only_the_cache(srv, fetcher, caplog):
    import sqlite3

    class Broken:
        def execute(self, sql, *args):
            if sql.startswith(("INSERT", "UPDATE")):
                raise sqlite3.DatabaseError("database disk image is malformed")
            return real.execute(sql, *args)

        def close(self):
            real.close()

    real = fetcher.cache._db
    fetcher.cache._db = Broken()
    srv.documents["cal"] = Doc(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    fetched = fetcher.get(srv.url("/doc/cal"))
    assert fetched.text.startswith("BEGIN:VCALENDAR")
    warning = [r for r in caplog.records if "HTTP cache could not keep" in r.getMessage()]
    assert len(warning) == 1 and warning[0].exc_info is None
    assert "malformed" in warning[0].getMessage()


def test_the_cache_lives_next_to_the_database(tmp_path):
    assert cache_path_for(tmp_path / "events.sqlite") == tmp_path / "events.sqlite.http-cache.sqlite"


# --------------------------------------------------------------------------- politeness

def test_every_request_carries_a_user_agent_with_name_version_and_contact(srv, fetcher):
    fetcher.get(srv.url("/files/ical/dst_crossing_chicago.ics"))
    fetcher.get(srv.url("/status/404")) if False else None
    agent = srv.log[-1].headers["User-Agent"]
    assert agent.startswith(f"massage-events/{__version__} ")
    assert "https://" in agent


def test_the_curators_contact_goes_into_the_user_agent(srv, make_config, tmp_path):
    config = load_config(make_config("""
        fetch:
          user_agent_contact: mailto:curator@example.org
          per_host: 3
          deadline: 7
    """))
    f = make_fetcher(config, None)
    f.get(srv.url("/files/ical/dst_crossing_chicago.ics"))
    assert "mailto:curator@example.org" in srv.log[-1].headers["User-Agent"]
    assert (f.per_host, f.deadline) == (3, 7)


def test_never_more_than_two_requests_in_flight_per_host(srv, fetcher):
    urls = [srv.url(f"/slow/?delay=0.15&n={i}") for i in range(6)] + \
           [srv.localhost_url + f"/slow/?delay=0.15&n={i}" for i in range(6)]
    errors = []

    def fetch(url):
        try:
            fetcher.get(url)
        except SourceError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=fetch, args=(u,)) for u in urls]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    port = srv.server_address[1]
    assert srv.max_in_flight == {f"127.0.0.1:{port}": 2, f"localhost:{port}": 2}
    assert time.monotonic() - began < 6 * 0.15 + 0.6, "two hosts are fetched side by side"


# --------------------------------------------------------------------------- robots.txt

def test_a_page_under_disallow_is_refused_without_requesting_it(srv, fetcher):
    source = fetcher.for_source(page("html", srv.url("/private/html/x.html")))
    with pytest.raises(FetchRefused) as caught:
        source.get(srv.url("/private/html/x.html"))
    assert caught.value.reason == "robots_disallowed"
    assert "robots.txt" in str(caught.value)
    assert [r.path for r in srv.log] == ["/robots.txt"]


def test_robots_txt_is_read_once_and_allowed_pages_are_fetched(srv, fetcher):
    url = srv.url("/files/encoding/koi8r.html")
    for _ in range(2):
        fetcher.for_source(page("jsonld", url)).get(url)
        time.sleep(0.005)  # a cached page is fresh for 1 ms: the next fetch goes to the server again
    assert [r.path for r in srv.log] == ["/robots.txt", "/files/encoding/koi8r.html", "/files/encoding/koi8r.html"]


def test_robots_txt_server_error_means_disallow_and_not_found_means_allow(srv, tmp_path):
    url = srv.url("/files/encoding/koi8r.html")
    srv.robots = (503, b"down")
    with pytest.raises(FetchRefused) as caught:
        fresh(tmp_path, retries=0).for_source(page("html", url)).get(url)
    assert caught.value.reason == "robots_disallowed"

    srv.robots = (404, b"no robots here")
    assert fresh(tmp_path / "b").for_source(page("html", url)).get(url).status == 200


def test_feeds_and_calendars_do_not_consult_robots_txt(srv, fetcher):
    srv.robots = (200, b"User-agent: *\nDisallow: /\n")
    url = srv.url("/files/ical/dst_crossing_chicago.ics")
    fetcher.for_source(page("ical", url)).get(url)
    assert [r.path for r in srv.log] == ["/files/ical/dst_crossing_chicago.ics"]
    assert DEFAULT_ROBOTS[0] == 200


# --------------------------------------------------------------------------- SSRF and redirects

@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                                    "http://[::1]:9/", "http://100.64.0.1/"])
def test_a_redirect_into_a_private_network_is_refused(srv, fetcher, target):
    with pytest.raises(FetchRefused) as caught:
        fetcher.get(srv.url(f"/redirect/to?url={target}"))
    assert caught.value.reason == "ssrf"
    assert "fetch.allow_private" in str(caught.value)


def test_a_redirect_to_loopback_under_another_name_never_reaches_the_server(srv, fetcher):
    with pytest.raises(FetchRefused) as caught:
        fetcher.get(srv.url(f"/redirect/to?url={srv.localhost_url}/files/ical/dst_crossing_chicago.ics"))
    assert caught.value.reason == "ssrf"
    assert len(srv.log) == 1, "the refused hop must not be requested"


def test_allow_private_lets_a_redirect_into_that_network(srv, tmp_path):
    f = fresh(tmp_path, allow_private=("127.0.0.0/8",))
    fetched = f.get(srv.url(f"/redirect/to?url={srv.localhost_url}/files/ical/dst_crossing_chicago.ics"))
    assert b"BEGIN:VCALENDAR" in fetched.content


def test_discovered_links_may_stay_on_the_sources_host_but_not_leave_for_a_private_one(srv, fetcher):
    source = fetcher.for_source(page("ical", srv.url("/files/ical/dst_crossing_chicago.ics")))
    assert source.get(srv.url("/files/ical/rdate.ics"), discovered=True).status == 200
    with pytest.raises(FetchRefused) as caught:
        source.get(srv.localhost_url + "/files/ical/rdate.ics", discovered=True)
    assert caught.value.reason == "ssrf"
    assert caught.value.source_id == "s"


def test_a_url_written_in_sources_yaml_is_fetched_as_written_even_on_loopback(srv, fetcher):
    url = srv.localhost_url + "/files/ical/rdate.ics"
    assert fetcher.for_source(page("ical", url)).get(url).status == 200


@pytest.mark.parametrize("target, reason", [("file:///etc/passwd", "bad_scheme"),
                                            ("ftp://example.org/x.ics", "bad_scheme"),
                                            ("gopher://example.org/", "bad_scheme")])
def test_redirects_to_other_schemes_are_refused(srv, fetcher, target, reason):
    with pytest.raises(FetchRefused) as caught:
        fetcher.get(srv.url(f"/redirect/to?url={target}"))
    assert caught.value.reason == reason


def test_https_to_http_downgrade_is_refused():
    with pytest.raises(FetchRefused) as caught:
        check_redirect("https://events.example.org/cal.ics", "http://events.example.org/cal.ics")
    assert caught.value.reason == "insecure_redirect"
    check_redirect("http://events.example.org/cal.ics", "https://events.example.org/cal.ics")


def test_five_redirects_are_followed_and_six_are_too_many(srv, fetcher):
    assert fetcher.get(srv.url("/redirect/hops/5?file=ical/rdate.ics")).status == 200
    for path in ("/redirect/hops/6", "/redirect/loop"):
        with pytest.raises(FetchRefused) as caught:
            fetcher.get(srv.url(path))
        assert caught.value.reason == "too_many_redirects"


def test_a_permanent_redirect_is_reported_as_a_move_and_a_temporary_one_is_not(srv, fetcher):
    for code, moved in ((301, True), (308, True), (302, False), (307, False)):
        url = srv.url(f"/redirect/moved?file=ical/rdate.ics&code={code}")
        source = fetcher.for_source(page("ical", url))
        source.get(url)
        assert source.moved_to == (srv.url("/files/ical/rdate.ics") if moved else None), code


@pytest.mark.parametrize("address, blocked", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True), ("ff02::1", True),
    ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", True), ("64:ff9b::a9fe:a9fe", True),
    ("2002:c0a8:0101::1", True), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),
    ("64:ff9b::808:808", False), ("2002:0808:0808::1", False),
    ("8.8.8.8", False), ("93.184.216.34", False), ("2606:4700:4700::1111", False),
])
def test_address_classes(address, blocked):
    assert is_blocked_address(address) is blocked


# --------------------------------------------------------------------------- retries

def test_503s_are_retried_with_backoff_until_the_source_answers(srv, fetcher):
    fetched = fetcher.get(srv.url("/flaky/a?fail=2&code=503&file=ical/rdate.ics"))
    assert fetched.status == 200
    assert len(srv.log) == 3


def test_a_500_is_not_retried_within_the_run(srv, fetcher):
    with pytest.raises(RetryableFetchError) as caught:
        fetcher.get(srv.url("/status/500"))
    assert caught.value.reason == "http_500"
    assert len(srv.log) == 1


@pytest.mark.parametrize("query, seconds", [("retry_after=3600", 3600), ("retry_date=7200", 7200)])
def test_a_429_asking_for_a_long_wait_ends_the_attempt_and_keeps_the_wait(srv, fetcher, query, seconds):
    began = time.monotonic()
    with pytest.raises(RetryableFetchError) as caught:
        fetcher.get(srv.url(f"/status/429?{query}"))
    assert caught.value.reason == "http_429"
    assert caught.value.retry_after == pytest.approx(seconds, abs=5)
    assert len(srv.log) == 1 and time.monotonic() - began < 1


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: no wait
    assert parse_retry_after("soon") is None


# --------------------------------------------------------------------------- local paths

def test_local_paths_only_for_types_that_allow_them(tmp_path, fetcher):
    archive = tmp_path / "list.mbox"
    archive.write_bytes(b"From x\n")
    with pytest.raises(FetchRefused) as caught:
        fetcher.for_source(page("ical", str(archive))).get(str(archive))
    assert caught.value.reason == "bad_scheme"
    assert HttpFetcher(allow_local_paths=True).get(str(archive)).content == b"From x\n"


def test_crawl_delay_spaces_page_requests_to_one_host(srv, fetcher):
    srv.robots = (200, b"User-agent: *\nCrawl-delay: 0.3\n")
    url = srv.url("/files/encoding/koi8r.html")
    source = fetcher.for_source(page("html", url))
    for _ in range(3):
        source.get(url)
    pages = [r.at for r in srv.log if r.path.startswith("/files/")]
    assert len(pages) == 3
    assert min(b - a for a, b in zip(pages, pages[1:])) >= 0.28


def test_one_deadline_covers_every_request_of_a_source(srv, tmp_path):
    f = fresh(tmp_path, deadline=1.0, read_timeout=5)
    url = srv.url("/delay?s=0.4&file=ical/rdate.ics")
    source = f.for_source(page("ical", url))
    source.get(url)
    source.get(url, discovered=True)
    began = time.monotonic()
    with pytest.raises(RetryableFetchError) as caught:
        source.get(url, discovered=True)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - began < 0.6


def test_robots_txt_is_kept_for_a_day_across_runs(srv, fetcher, tmp_path):
    url = srv.url("/files/encoding/koi8r.html")
    fetcher.for_source(page("html", url)).get(url)
    fresh(tmp_path).for_source(page("html", url)).get(url)
    assert [r.path for r in srv.log].count("/robots.txt") == 1
    with time_machine.travel(timedelta(hours=25), tick=True):
        fresh(tmp_path).for_source(page("html", url)).get(url)
    assert [r.path for r in srv.log].count("/robots.txt") == 2


def test_make_fetcher_reads_local_archives_only_when_a_source_type_allows_them(make_config, tmp_path):
    config = load_config(make_config("""
        sources:
          - id: amta-il
            type: ical
            url: https://il.example/cal.ics
    """))
    assert make_fetcher(config, None).allow_local_paths is False


def test_a_resolver_that_never_answers_is_a_timeout_within_the_deadline(srv, tmp_path, monkeypatch):
    import socket

    real = socket.getaddrinfo
    released = threading.Event()  # the resolver answers only once the test is over

    def stuck(host, *args, **kw):
        if host == "stuck.invalid":
            released.wait(30)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    f = fresh(tmp_path, deadline=0.5)
    began = time.monotonic()
    try:
        with pytest.raises(RetryableFetchError) as caught:
            f.for_source(page("ical", "http://stuck.invalid/cal.ics")).get("http://stuck.invalid/cal.ics")
    finally:
        released.set()
    assert caught.value.reason == "timeout"
    assert time.monotonic() - began < 1.5


def test_connection_failures_read_as_plain_sentences(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetryableFetchError) as caught:
        fresh(tmp_path, retries=0).get(f"http://127.0.0.1:{port}/cal.ics")
    assert caught.value.reason == "connection"
    assert str(caught.value) == f"http://127.0.0.1:{port}/cal.ics could not be reached (Connection refused)"
