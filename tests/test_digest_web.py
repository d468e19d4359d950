"""Subscribing, confirming and unsubscribing over the web (double opt-in, RFC 8058 one-click)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import time_machine
from werkzeug.test import Client

from aggregator.mail import digest, subscribers
from aggregator.mail.tokens import CONFIRM, UNSUBSCRIBE, Tokens, secret_for
from aggregator.store.database import Store
from tests.smtp_server import digest_config, make_event, migrated_db  # noqa: F401 (autouse)
from tests.web_client import T0, Browser, Mounted, confirm_link, outbox, status_of


@pytest.fixture
def site(tmp_path):
    config = digest_config(tmp_path)
    db_path = tmp_path / "db.sqlite"
    Store(db_path).close()
    return config, db_path, Browser(Mounted(config, db_path))


def test_double_opt_in_sends_one_confirmation_and_post_confirms(site, tmp_path):
    config, db_path, client = site
    with time_machine.travel(T0, tick=False):
        r = client.post("/subscribe", data={"email": "Ann@Example.org", "regions": "IL, WI"})
        assert r.status_code == 200 and "Check your inbox" in r.text
        assert status_of(db_path, "ann@example.org") == "pending"
        (mail,) = outbox(tmp_path)
        link = confirm_link(mail)
        # Following the link (as a mail scanner does) changes nothing.
        page = client.get(link)
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
        assert status_of(db_path, "ann@example.org") == "pending"
        done = client.post(link)
        assert done.status_code == 200 and "You are subscribed" in done.text
    with Store(db_path) as store:
        sub = subscribers.get(store.db, "ann@example.org")
    assert sub.status == "active" and sub.regions == ("IL", "WI")


def test_confirmation_is_sent_at_most_once_an_hour(site, tmp_path):
    config, db_path, client = site
    with time_machine.travel(T0, tick=False):
        client.post("/subscribe", data={"email": "ann@example.org"})
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        client.post("/subscribe", data={"email": "ann@example.org"})
    assert len(outbox(tmp_path)) == 1
    with time_machine.travel(T0 + timedelta(minutes=70), tick=False):
        client.post("/subscribe", data={"email": "ann@example.org"})
    assert len(outbox(tmp_path)) == 2


def test_subscribe_answers_alike_for_new_pending_and_active_addresses(site):
    config, db_path, client = site
    with Store(db_path) as store:
        subscribers.add_active(store.db, "active@example.org")
        subscribers.request_subscription(store.db, "pending@example.org")
    answers = set()
    for i, email in enumerate(["new@example.org", "pending@example.org", "active@example.org"]):
        r = client.post("/subscribe", data={"email": email}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        answers.add((r.status_code, r.text))
    assert len(answers) == 1
    assert status_of(db_path, "active@example.org") == "active"


def test_sixth_subscribe_in_a_minute_gets_429_with_retry_after_even_after_restart(site, tmp_path):
    config, db_path, client = site
    with time_machine.travel(T0, tick=False):
        codes = [client.post("/subscribe", data={"email": f"p{i}@example.org"}).status_code for i in range(5)]
        restarted = Browser(Mounted(config, db_path))
        sixth = restarted.post("/subscribe", data={"email": "p6@example.org"})
    assert codes == [200] * 5
    assert sixth.status_code == 429 and 1 <= int(sixth.headers["Retry-After"]) <= 60
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        assert client.post("/subscribe", data={"email": "p7@example.org"}).status_code == 200


def test_one_address_from_many_ips_is_limited_too(site):
    config, db_path, client = site
    with time_machine.travel(T0, tick=False):
        codes = [client.post("/subscribe", data={"email": "ann@example.org"},
                             environ_base={"REMOTE_ADDR": f"10.0.1.{i}"}).status_code for i in range(6)]
    assert codes == [200] * 5 + [429]


def test_invalid_address_gets_a_friendly_400(site):
    _, _, client = site
    r = client.post("/subscribe", data={"email": "ann@example.org\r\nBcc: x@evil.example"})
    assert r.status_code == 400 and "not an email address" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("body, content_type", [
    ("List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
    (None, "multipart/form-data"),
])
def test_one_click_unsubscribe_post_in_either_encoding(site, body, content_type):
    config, db_path, client = site
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org")
        token = Tokens(secret_for(store.db)).make(UNSUBSCRIBE, "ann@example.org")
    if body is None:
        r = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, content_type=content_type)
    else:
        r = client.post(f"/u/{token}", data=body, content_type=content_type)
    assert r.status_code == 200 and "Location" not in r.headers and "Set-Cookie" not in r.headers
    assert status_of(db_path, "ann@example.org") == "unsubscribed"
    again = client.post(f"/u/{token}", data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200
    assert status_of(db_path, "ann@example.org") == "unsubscribed"


def test_get_of_the_unsubscribe_link_never_unsubscribes(site):
    config, db_path, client = site
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org")
        token = Tokens(secret_for(store.db)).make(UNSUBSCRIBE, "ann@example.org")
    r = client.get(f"/u/{token}")
    assert r.status_code == 200 and 'action="/u/' in r.text
    assert status_of(db_path, "ann@example.org") == "active"


def test_unsubscribed_address_is_skipped_by_the_next_send(site, tmp_path):
    config, db_path, client = site
    with Store(db_path) as store:
        store.save_events([make_event("e", "Mixer", datetime(2026, 3, 3, 18, 0))], {}, T0)
        subscribers.add_active(store.db, "ann@example.org")
        subscribers.add_active(store.db, "bob@example.org")
        token = Tokens(secret_for(store.db)).make(UNSUBSCRIBE, "ann@example.org")
    client.post(f"/u/{token}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    with Store(db_path) as store:
        report = digest.send_period(config, store, tmp_path / "out", now=T0, retry_delays=())
    sent = [message_from_bytes(p.read_bytes(), policy=default_policy)["To"] for p in
            (tmp_path / "out" / "outbox").glob("*.eml")]
    assert report.sent == 1 and [str(t) for t in sent] == ["bob@example.org"]


@pytest.mark.parametrize("path", ["/u/{forged}", "/u/{confirm}", "/confirm/{unsub}", "/u/garbage",
                                  "/confirm/%00%ff", "/confirm/{forged}"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_and_wrong_purpose_tokens_get_a_friendly_page(site, path, method):
    config, db_path, client = site
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org")
        real = Tokens(secret_for(store.db))
    url = path.format(forged=Tokens("attacker").make(UNSUBSCRIBE, "ann@example.org"),
                      confirm=real.make(CONFIRM, "ann@example.org"), unsub=real.make(UNSUBSCRIBE, "ann@example.org"))
    r = client.open(url, method=method)
    assert r.status_code == 400
    assert "This link does not work" in r.text and "Traceback" not in r.text
    assert status_of(db_path, "ann@example.org") == "active"


def test_expired_confirmation_link_gets_a_friendly_page(site, tmp_path):
    config, db_path, client = site
    with time_machine.travel(T0, tick=False):
        client.post("/subscribe", data={"email": "ann@example.org"})
    link = confirm_link(outbox(tmp_path)[0])
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        r = client.post(link)
    assert r.status_code == 400 and "expired" in r.text
    assert status_of(db_path, "ann@example.org") == "pending"


def test_routes_are_mounted_by_the_web_app(tmp_path):
    from aggregator.app.web.site import make_app

    config = digest_config(tmp_path)
    (tmp_path / "out").mkdir()
    client = Client(make_app(config, tmp_path / "db.sqlite", tmp_path / "out"))
    with Store(tmp_path / "db.sqlite") as store:
        subscribers.add_active(store.db, "ann@example.org")
        token = Tokens(secret_for(store.db)).make(UNSUBSCRIBE, "ann@example.org")
    r = client.post(f"/u/{token}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and "script-src" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert status_of(tmp_path / "db.sqlite", "ann@example.org") == "unsubscribed"


def test_preferences_link_in_the_digest_changes_what_the_next_digest_lists(site, tmp_path):
    config, db_path, client = site
    with Store(db_path) as store:
        store.save_events([make_event("il", "Chicago mixer", datetime(2026, 3, 3, 18, 0), region="IL"),
                           make_event("wi", "Madison meetup", datetime(2026, 3, 4, 18, 0), region="WI")], {}, T0)
        subscribers.add_active(store.db, "ann@example.org", ["IL"])
        msg, _ = digest.render_preview(config, store, "ann@example.org", T0)
    text = msg.get_body(("plain",)).get_content()
    link = re.search(r"Change preferences: https://events\.example\.org(/prefs/\S+)", text).group(1)
    page = client.get(link)
    assert page.status_code == 200 and 'value="IL"' in page.text
    saved = client.post(link, data={"regions": "WI", "tags": "", "send_empty": "1"})
    assert saved.status_code == 200 and "Saved" in saved.text and 'value="WI"' in saved.text
    with Store(db_path) as store:
        assert subscribers.get(store.db, "ann@example.org").send_empty
        msg, _ = digest.render_preview(config, store, "ann@example.org", T0)
    text = msg.get_body(("plain",)).get_content()
    assert "Madison meetup" in text and "Chicago mixer" not in text


def test_preferences_link_of_an_unsubscribed_address_does_not_resubscribe(site):
    config, db_path, client = site
    with Store(db_path) as store:
        subscribers.add_active(store.db, "ann@example.org")
        subscribers.unsubscribe(store.db, "ann@example.org")
        from aggregator.mail.tokens import MANAGE
        token = Tokens(secret_for(store.db)).make(MANAGE, "ann@example.org")
    r = client.post(f"/prefs/{token}", data={"regions": "IL"})
    assert r.status_code == 400 and "no longer gets the digest" in r.text
    assert status_of(db_path, "ann@example.org") == "unsubscribed"
