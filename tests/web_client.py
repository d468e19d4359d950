"""The subscription routes as a WSGI app, and a browser on the site's own pages, for the web tests
(no tests here)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy

from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request

from aggregator.app.web import subscribe as web_subscribe
from aggregator.mail import subscribers
from aggregator.store.database import Store

T0 = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)
SITE = "https://events.example.org"  # tests.smtp_server.digest_config's calendar.base_url


class Mounted:
    """The routes as aggregator/app/web/site.py mounts them, as a WSGI app."""

    def __init__(self, config, db_path):
        self.map = Map([Rule(rule, endpoint=view, methods=methods)
                        for rule, view, methods in web_subscribe.routes(config, db_path)])

    def __call__(self, environ, start_response):
        request = Request(environ)
        view, values = self.map.bind_to_environ(environ).match()
        return view(request, **values)(environ, start_response)


class Browser(Client):
    """A browser on the site's own pages: its form posts carry the site's Origin, as browsers' do."""

    def open(self, *args, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Origin", SITE)
        return super().open(*args, headers=headers, **kwargs)


def outbox(tmp_path):
    return sorted((tmp_path / "outbox").glob("*.eml"))


def confirm_link(path):
    msg = message_from_bytes(path.read_bytes(), policy=default_policy)
    text = msg.get_body(("plain",)).get_content()
    return re.search(r"https://events\.example\.org(/confirm/[A-Za-z0-9_.-]+)", text).group(1)


def status_of(db_path, email):
    with Store(db_path) as store:
        sub = subscribers.get(store.db, email)
        return sub.status if sub else None
