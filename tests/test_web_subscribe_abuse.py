"""Nobody can make the site mail confirmations to strangers in bulk: other sites' forms are refused,
limits hold per network and per address (and behind a proxy, per real client), and a daily cap
stops the rest, with the curator told once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from werkzeug.test import Client

from aggregator.app.web.subscribe import client_address, network_of, origin_of
from aggregator.mail import subscribers
from aggregator.store.database import Store
from tests.smtp_server import digest_config, migrated_db  # noqa: F401 (autouse)
from tests.web_client import SITE, T0, Browser, Mounted, confirm_link, outbox, status_of


def make_site(tmp_path, **serve):
    config = digest_config(tmp_path, **({"serve": serve} if serve else {}))
    db_path = tmp_path / "db.sqlite"
    Store(db_path).close()
    return config, db_path


def confirmations(tmp_path):
    return [p for p in outbox(tmp_path) if not p.name.startswith("alert.")]


def curator_notes(tmp_path):
    return [p for p in outbox(tmp_path) if p.name.startswith("alert.")]


# -- forms posted from other sites -----------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed iframe or a data: URL
    {"Origin": "https://events.example.org.evil.example"},
    {"Referer": "https://evil.example/page.html"},
    {},  # neither header and no form token: not one of our forms
], ids=["other-origin", "null-origin", "lookalike-origin", "other-referer", "no-origin-no-token"])
def test_a_subscribe_post_from_another_site_is_refused_and_mails_nothing(tmp_path, headers):
    config, db_path = make_site(tmp_path)
    r = Client(Mounted(config, db_path)).post("/subscribe", data={"email": "victim@example.org"}, headers=headers)
    assert r.status_code == 403 and "/subscribe" in r.text and "Traceback" not in r.text
    assert outbox(tmp_path) == [] and status_of(db_path, "victim@example.org") is None


@pytest.mark.parametrize("headers", [
    {"Origin": SITE}, {"Origin": "HTTPS://Events.Example.org:443"}, {"Referer": SITE + "/subscribe"},
], ids=["origin", "origin-spelled-otherwise", "referer-only"])
def test_a_subscribe_post_from_the_site_itself_is_accepted(tmp_path, headers):
    config, db_path = make_site(tmp_path)
    r = Client(Mounted(config, db_path)).post("/subscribe", data={"email": "ann@example.org"}, headers=headers)
    assert r.status_code == 200 and "Check your inbox" in r.text
    assert len(confirmations(tmp_path)) == 1


def test_a_client_sending_no_origin_posts_with_the_token_of_the_form_page(tmp_path):
    config, db_path = make_site(tmp_path)
    client = Client(Mounted(config, db_path))
    form = client.get("/subscribe").text
    token = form.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/subscribe", data={"email": "ann@example.org", "form_token": token}).status_code == 200
    forged = client.post("/subscribe", data={"email": "bob@example.org", "form_token": token[:-3] + "xyz"})
    assert forged.status_code == 403 and status_of(db_path, "bob@example.org") is None


def test_a_confirm_post_from_another_site_does_not_confirm(tmp_path):
    config, db_path = make_site(tmp_path)
    browser = Browser(Mounted(config, db_path))
    with time_machine.travel(T0, tick=False):
        browser.post("/subscribe", data={"email": "ann@example.org"})
        link = confirm_link(confirmations(tmp_path)[0])
        forged = Client(Mounted(config, db_path)).post(link, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403 and status_of(db_path, "ann@example.org") == "pending"
        assert browser.post(link).status_code == 200 and status_of(db_path, "ann@example.org") == "active"


@pytest.mark.parametrize("headers", [{}, {"Origin": "https://mail.google.com"}], ids=["no-origin", "mail-provider"])
def test_one_click_unsubscribe_needs_no_origin(tmp_path, headers):
    """RFC 8058: the mail provider posts List-Unsubscribe=One-Click from its own servers."""
    from aggregator.mail.tokens import UNSUBSCRIBE, Tokens, secret_for

    config, db_path = make_site(tmp_path)
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org")
        token = Tokens(secret_for(store.db, config.digest.secret_env)).make(UNSUBSCRIBE, "ann@example.org")
    r = Client(Mounted(config, db_path)).post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, headers=headers)
    assert r.status_code == 200 and status_of(db_path, "ann@example.org") == "unsubscribed"


# -- limits per network and per address ------------------------------------------------------

def post_from(browser, address, email, **headers):
    return browser.post("/subscribe", data={"email": email},
                        environ_base={"REMOTE_ADDR": address}, headers=headers).status_code


def test_one_network_shares_one_budget_whatever_its_addresses(tmp_path):
    config, db_path = make_site(tmp_path)
    browser = Browser(Mounted(config, db_path))
    with time_machine.travel(T0, tick=False):
        codes = [post_from(browser, f"198.51.100.{i}", f"p{i}@example.org") for i in range(1, 7)]
        v6 = [post_from(browser, f"2001:db8:1:2::{i:x}", f"q{i}@example.org") for i in range(1, 7)]
        elsewhere = post_from(browser, "198.51.101.1", "other@example.org")
    assert codes == [200] * 5 + [429], "a /24 is one network"
    assert v6 == [200] * 5 + [429], "a /64 is one network"
    assert elsewhere == 200, "the next network has its own budget"


def test_a_network_gets_30_sign_ups_an_hour(tmp_path):
    config, db_path = make_site(tmp_path)
    browser = Browser(Mounted(config, db_path))
    codes = []
    for minute in range(7):
        with time_machine.travel(T0 + timedelta(minutes=minute, seconds=1), tick=False):
            codes += [post_from(browser, "203.0.113.7", f"m{minute}.{i}@example.org") for i in range(5)]
    assert codes.count(200) == 30 and codes[-5:] == [429] * 5
    with time_machine.travel(T0 + timedelta(minutes=61, seconds=2), tick=False):
        assert post_from(browser, "203.0.113.7", "later@example.org") == 200


def test_one_address_gets_at_most_three_confirmations_a_day(tmp_path):
    config, db_path = make_site(tmp_path)
    browser = Browser(Mounted(config, db_path))
    for hour in range(6):  # one request an hour, each past the hourly resend pause
        with time_machine.travel(T0 + timedelta(hours=hour, minutes=1), tick=False):
            assert post_from(browser, f"192.0.2.{hour}", "target@example.org") == 200
    assert len(confirmations(tmp_path)) == 3


# -- behind a reverse proxy ------------------------------------------------------------------

def test_forwarded_for_is_believed_only_from_trusted_proxies():
    trusted = tuple(__import__("ipaddress").ip_network(n) for n in ("127.0.0.1/32", "10.0.0.0/8"))
    assert client_address("127.0.0.1", "198.51.100.7", trusted) == "198.51.100.7"
    # a client's own X-Forwarded-For is left of what the proxy appended: never believed
    assert client_address("127.0.0.1", "1.2.3.4, 198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("127.0.0.1", "198.51.100.7, 10.1.1.1", trusted) == "198.51.100.7", "two proxies"
    assert client_address("203.0.113.5", "198.51.100.7", trusted) == "203.0.113.5", "not a proxy of ours"
    assert client_address("127.0.0.1", "garbage", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.7", ()) == "127.0.0.1", "no proxies configured"
    assert network_of("198.51.100.7") == "198.51.100.0/24"
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network_of("::ffff:198.51.100.7") == "198.51.100.0/24"


def test_behind_a_trusted_proxy_each_visitor_has_their_own_budget(tmp_path):
    config, db_path = make_site(tmp_path, trusted_proxies=["127.0.0.1"])
    browser = Browser(Mounted(config, db_path))
    with time_machine.travel(T0, tick=False):
        first = [post_from(browser, "127.0.0.1", f"a{i}@example.org", **{"X-Forwarded-For": "198.51.100.7"})
                 for i in range(6)]
        second = post_from(browser, "127.0.0.1", "b@example.org", **{"X-Forwarded-For": "203.0.113.9"})
        # a visitor reaching serve directly cannot pose as someone else through the header
        spoofed = [post_from(browser, "192.0.2.50", f"c{i}@example.org", **{"X-Forwarded-For": f"203.0.{i}.1"})
                   for i in range(6)]
    assert first == [200] * 5 + [429]
    assert second == 200
    assert spoofed == [200] * 5 + [429]


# -- the daily cap ---------------------------------------------------------------------------

def test_the_daily_cap_stops_confirmations_and_tells_the_curator_once(tmp_path):
    config, db_path = make_site(tmp_path, confirmations_per_day=3)
    browser = Browser(Mounted(config, db_path))
    with time_machine.travel(T0, tick=False):
        codes = [post_from(browser, f"192.0.{i}.1", f"p{i}@example.org") for i in range(5)]
        # the answer is the same for an address already active: nobody learns who is subscribed
        with Store(db_path) as store:
            subscribers.add_active(store.db, "active@example.org")
        r = browser.post("/subscribe", data={"email": "active@example.org"}, environ_base={"REMOTE_ADDR": "192.0.9.1"})
    assert codes == [200, 200, 200, 503, 503]
    assert r.status_code == 503 and "tomorrow" in r.text and r.headers["Retry-After"]
    assert len(confirmations(tmp_path)) == 3
    (note,) = curator_notes(tmp_path)
    text = note.read_text()
    assert "To: curator@example.org" in text and "confirmations_per_day" in text
    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        assert post_from(browser, "192.0.20.1", "tomorrow@example.org") == 200
    assert len(confirmations(tmp_path)) == 4 and len(curator_notes(tmp_path)) == 1


def test_origin_of_reads_scheme_host_and_port():
    assert origin_of("https://Events.Example.org/subscribe?x=1") == "https://events.example.org"
    assert origin_of("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    assert origin_of("null") is None and origin_of("https://x.org:99999/") is None
