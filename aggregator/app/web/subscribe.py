"""Subscribe, confirm and unsubscribe over the web; mounted by aggregator/app/web/site.py.

    GET  /subscribe          a form
    POST /subscribe          double opt-in: the address becomes `pending` and gets one
                             confirmation email (at most one an hour). The answer is the same
                             for new, pending, active and unsubscribed addresses (no enumeration).
    GET  /confirm/<token>    a page with a button (mail scanners follow links: GET never changes anything)
    POST /confirm/<token>    pending -> active
    GET  /u/<token>          a page with a button
    POST /u/<token>          RFC 8058 one-click unsubscribe: either form encoding, no cookies or CSRF
                             token, answers 200 without a redirect, idempotent.
    GET  /prefs/<token>      the subscriber's regions, topics and "send empty" choice, as a form
    POST /prefs/<token>      saves them (the link is in every digest, valid two years)

Subscribe and confirm are rate-limited in SQLite (table rate_hits, so limits survive a restart):
5 requests a minute per client IP and per address; the 6th gets 429 with Retry-After.
Forged, wrong-purpose and expired tokens get a friendly page, never a traceback.
Behind a reverse proxy every client shares the proxy's IP; the per-address limit still holds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from werkzeug.wrappers import Request, Response

from aggregator.errors import DeliveryError
from aggregator.mail import subscribers
from aggregator.mail.tokens import (
    CONFIRM,
    MANAGE,
    UNSUBSCRIBE,
    TokenError,
    Tokens,
    secret_for,
)
from aggregator.config.settings import Config

log = logging.getLogger(__name__)

PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
RATE_LIMIT = 5  # requests per window per key
RATE_WINDOW = 60.0  # seconds


def rate_limited(db, key: str, *, limit: int = RATE_LIMIT, window: float = RATE_WINDOW,
                 now: float | None = None) -> int | None:
    """Count one request for key; the seconds to wait when over the limit, else None."""
    t = time.time() if now is None else now
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM rate_hits WHERE at <= ?", (t - window,))
        rows = db.execute("SELECT at FROM rate_hits WHERE key = ? ORDER BY at", (key,)).fetchall()
        if len(rows) >= limit:
            db.execute("COMMIT")
            return max(1, math.ceil(rows[0][0] + window - t))
        db.execute("INSERT INTO rate_hits (key, at) VALUES (?, ?)", (key, t))
        db.execute("COMMIT")
        return None
    except BaseException:
        db.execute("ROLLBACK")
        raise


class SubscribeRoutes:
    def __init__(self, config: Config, db_path: Path, out_dir: Path | None = None) -> None:
        self.config = config
        from aggregator.store.locator import as_database

        self.db_path = as_database(db_path)
        self.out_dir = Path(out_dir) if out_dir is not None else self.db_path.local_dir

    # -- helpers ------------------------------------------------------------------------

    def _store(self):
        from aggregator.store.database import Store

        return Store(self.db_path)

    def _page(self, status: int, title: str, paragraphs: list[str], *, form: str | None = None,
              action: str = "", button: str = "", **values) -> Response:
        from aggregator.mail.digest import environment

        html = environment().get_template("subscribe_page.html.j2").render(
            title=title, paragraphs=paragraphs, form=form, action=action, button=button,
            regions=values.get("regions", ""), tags=values.get("tags", ""), send_empty=values.get("send_empty", False),
            calendar_name=self.config.calendar.name, site_url=f"{self.config.calendar.base_url}/")
        response = Response(html, status=status, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
        # No scripts at all; the page's own inline CSS; forms post only back here.
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    def _too_many(self, retry_after: int) -> Response:
        response = self._page(429, "Too many requests",
                              [f"Please wait {retry_after} seconds and try again."])
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _bad_link(self, err: TokenError) -> Response:
        return self._page(400, "This link does not work", [str(err)])

    @staticmethod
    def _ip(request: Request) -> str:
        return request.remote_addr or "unknown"

    # -- subscribe ----------------------------------------------------------------------

    def subscribe_form(self, request: Request) -> Response:
        return self._page(200, "Weekly digest", [
            f"Get the coming week's events of {self.config.calendar.name} by email, every week."],
            form="subscribe", action="/subscribe")

    def subscribe(self, request: Request) -> Response:
        raw = request.form.get("email", "")
        regions = request.form.getlist("regions") + request.form.getlist("region")
        tags = request.form.getlist("tags") + request.form.getlist("tag")
        with self._store() as store:
            db = store.db
            wait = rate_limited(db, f"subscribe:ip:{self._ip(request)}")
            if wait:
                return self._too_many(wait)
            try:
                email = subscribers.normalize_address(raw)
            except subscribers.InvalidAddress as e:
                return self._page(400, "Please check the address", [str(e)], form="subscribe", action="/subscribe")
            wait = rate_limited(db, f"subscribe:address:{email.lower()}")
            if wait:
                return self._too_many(wait)
            now = datetime.now(timezone.utc)
            sub, send = subscribers.request_subscription(db, email, regions, tags, now=now)
            if send:
                self._send_confirmation(db, sub, now)
        return self._page(200, "Check your inbox", [
            "If this address can receive the digest, we have sent it an email with a link to confirm.",
            "Nothing more is sent until you confirm. The link works for 7 days."])

    def _send_confirmation(self, db, sub, now: datetime) -> None:
        from aggregator.mail.digest import confirmation_message
        from aggregator.mail.identity import from_address
        from aggregator.mail.transport import make_transport

        message = confirmation_message(self.config, sub.email, Tokens(secret_for(db, self.config.digest.secret_env)),
                                       now)
        transport = make_transport(self.config, self.out_dir)
        try:
            transport.send(message, envelope_from=from_address(self.config), to=sub.email)
        except DeliveryError as e:  # the answer stays the same; the next attempt after this one retries
            log.warning("confirmation email to %s not sent: %s", sub.email, e)
            return
        finally:
            transport.close()
        subscribers.mark_confirm_sent(db, sub.id, now)

    # -- confirm ------------------------------------------------------------------------

    def _tokens(self, db) -> Tokens:
        return Tokens(secret_for(db, self.config.digest.secret_env))

    def confirm_page(self, request: Request, token: str) -> Response:
        with self._store() as store:
            try:
                email = self._tokens(store.db).read(CONFIRM, token)
            except TokenError as e:
                return self._bad_link(e)
        return self._page(200, "Confirm your subscription",
                          [f"Press the button to start receiving the weekly digest at {email}."],
                          form="button", action=f"/confirm/{token}", button="Confirm my subscription")

    def confirm(self, request: Request, token: str) -> Response:
        with self._store() as store:
            db = store.db
            wait = rate_limited(db, f"confirm:ip:{self._ip(request)}")
            if wait:
                return self._too_many(wait)
            try:
                email = self._tokens(db).read(CONFIRM, token)
            except TokenError as e:
                return self._bad_link(e)
            sub = subscribers.confirm(db, email, datetime.now(timezone.utc))
        if sub is None:
            return self._page(400, "This link does not work", [
                "This confirmation is no longer valid (the address was unsubscribed or removed). "
                "Subscribe again to get a new link."], form=None)
        return self._page(200, "You are subscribed", [
            f"The weekly digest will come to {email}. Every digest has a link to unsubscribe in one click."])

    # -- unsubscribe --------------------------------------------------------------------

    def unsubscribe_page(self, request: Request, token: str) -> Response:
        with self._store() as store:
            try:
                email = self._tokens(store.db).read(UNSUBSCRIBE, token)
            except TokenError as e:
                return self._bad_link(e)
        return self._page(200, "Unsubscribe", [f"Press the button to stop the weekly digest to {email}."],
                          form="button", action=f"/u/{token}", button="Unsubscribe")

    def unsubscribe(self, request: Request, token: str) -> Response:
        # RFC 8058: the body is "List-Unsubscribe=One-Click" (urlencoded or multipart); we need
        # nothing from it, so both encodings (and a bare form button) work the same way.
        with self._store() as store:
            try:
                email = self._tokens(store.db).read(UNSUBSCRIBE, token)
            except TokenError as e:
                return self._bad_link(e)
            subscribers.unsubscribe(store.db, email, datetime.now(timezone.utc))
        return self._page(200, "You are unsubscribed", [
            f"{email} gets no more digests. If this was a mistake, subscribe again from the events page."])


    # -- preferences ----------------------------------------------------------------------

    def _prefs_form(self, sub, token: str, status: int = 200, note: str | None = None) -> Response:
        return self._page(status, "Your digest preferences",
                          [note or f"What the weekly digest to {sub.email} lists."], form="prefs",
                          action=f"/prefs/{token}", regions=", ".join(sub.regions), tags=", ".join(sub.tags),
                          send_empty=sub.send_empty)

    def _subscriber_for(self, db, token: str):
        email = self._tokens(db).read(MANAGE, token)
        sub = subscribers.get(db, email)
        if sub is None or sub.status not in ("pending", "active"):
            raise TokenError("This address no longer gets the digest. Subscribe again from the events page.",
                             reason="invalid")
        return sub

    def preferences_page(self, request: Request, token: str) -> Response:
        with self._store() as store:
            try:
                sub = self._subscriber_for(store.db, token)
            except TokenError as e:
                return self._bad_link(e)
        return self._prefs_form(sub, token)

    def preferences(self, request: Request, token: str) -> Response:
        with self._store() as store:
            try:
                sub = self._subscriber_for(store.db, token)
            except TokenError as e:
                return self._bad_link(e)
            sub = subscribers.update_preferences(
                store.db, sub.email, request.form.getlist("regions"), request.form.getlist("tags"),
                bool(request.form.get("send_empty")))
        return self._prefs_form(sub, token, note="Saved. The next digest follows these preferences.")


def routes(config: Config, db_path: Path, out_dir: Path | None = None) -> list[tuple[str, Callable, list[str]]]:
    """(werkzeug rule, view(request, **values) -> Response, methods) for aggregator/app/web/site.py to mount.

    `out_dir` is where the outbox is when no SMTP is configured (default: the database's folder);
    pass the same --out as `serve` uses."""
    r = SubscribeRoutes(config, db_path, out_dir)
    return [
        ("/subscribe", r.subscribe_form, ["GET", "HEAD"]),
        ("/subscribe", r.subscribe, ["POST"]),
        ("/confirm/<token>", r.confirm_page, ["GET", "HEAD"]),
        ("/confirm/<token>", r.confirm, ["POST"]),
        ("/u/<token>", r.unsubscribe_page, ["GET", "HEAD"]),
        ("/u/<token>", r.unsubscribe, ["POST"]),
        ("/prefs/<token>", r.preferences_page, ["GET", "HEAD"]),
        ("/prefs/<token>", r.preferences, ["POST"]),
    ]
