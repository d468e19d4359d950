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

Abuse (a site made to mail confirmations to addresses that never asked):
- subscribe, confirm and preferences POSTs must come from the site's own pages: their Origin
  (or, without one, their Referer) is calendar.base_url's, or, from a client that sends neither,
  the form carries the signed token the form page embeds. Another site's form gets 403. The
  one-click unsubscribe is exempt (RFC 8058: mail providers post it from their servers).
- rate limits in SQLite (table rate_hits, so they survive a restart), answered 429 with
  Retry-After: per network (a /24 for IPv4, a /64 for IPv6: one host rarely stays in one
  address) 5 a minute, 30 an hour and 100 a day; per address 5 a minute and 10 a day; and at
  most 3 confirmation emails a day to one address (and one an hour).
- the client's address is the TCP peer's, or, when the peer is one of serve.trusted_proxies, the
  last X-Forwarded-For entry not itself a trusted proxy (never a value a client can choose).
- at most serve.confirmations_per_day confirmation emails in 24 hours in all. Once reached,
  subscribing answers 503 "try tomorrow" for every address alike, and calendar.curator_email
  gets one email that day saying so.
Forged, wrong-purpose and expired tokens get a friendly page, never a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer
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
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
NETWORK_LIMITS = ((5, MINUTE), (30, HOUR), (100, DAY))  # subscribe and confirm POSTs per network
ADDRESS_LIMITS = ((5, MINUTE), (10, DAY))  # subscribe POSTs naming one address
CONFIRMATIONS_PER_ADDRESS_PER_DAY = 3
FORM_TOKEN_MAX_AGE = 86400  # seconds: a form page left open over a day is reloaded
LONGEST_WINDOW = DAY


def over_limit(db, limits: list[tuple[str, int, float]], *, now: float | None = None) -> int | None:
    """Count one request under every (key, limit, window) given, or under none when any of them is
    full: the seconds to wait then, else None. One transaction, so concurrent requests count right."""
    t = time.time() if now is None else now
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM rate_hits WHERE at <= ?", (t - LONGEST_WINDOW,))
        wait = 0
        for key, limit, window in limits:
            count, oldest = db.execute("SELECT count(*), min(at) FROM rate_hits WHERE key = ? AND at > ?",
                                       (key, t - window)).fetchone()
            if count >= limit:
                # the oldest hit in the window leaves it first (later ones may be needed too: an estimate)
                wait = max(wait, math.ceil(oldest + window - t), 1)
        if not wait:
            db.executemany("INSERT INTO rate_hits (key, at) VALUES (?, ?)", [(key, t) for key, _, _ in limits])
        db.execute("COMMIT")
        return wait or None
    except BaseException:
        db.execute("ROLLBACK")
        raise


def rate_limited(db, key: str, *, limit: int = RATE_LIMIT, window: float = RATE_WINDOW,
                 now: float | None = None) -> int | None:
    """Count one request for key; the seconds to wait when over the limit, else None."""
    return over_limit(db, [(key, limit, window)], now=now)


def hits(db, key: str, window: float, *, now: float | None = None) -> int:
    t = time.time() if now is None else now
    return db.execute("SELECT count(*) FROM rate_hits WHERE key = ? AND at > ?", (key, t - window)).fetchone()[0]


def network_of(address: str) -> str:
    """The network one client is likely to move around in: its /24 (IPv4) or /64 (IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address or "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple) -> str:
    """The client's IP: the TCP peer, unless the peer is a trusted proxy; then, reading
    X-Forwarded-For from the right (each proxy appends the address it saw), the first entry
    that is not a trusted proxy. Entries left of it were written by the client: never believed."""
    address = peer or "unknown"
    if not trusted or not _in(address, trusted):
        return address
    for entry in reversed([e.strip() for e in (forwarded_for or "").split(",") if e.strip()]):
        try:
            ipaddress.ip_address(entry.split("%", 1)[0])
        except ValueError:
            return address  # a garbled header: stay with the last address known good
        address = entry
        if not _in(entry, trusted):
            return entry
    return address


def _in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped; None when it has none."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class SubscribeRoutes:
    def __init__(self, config: Config, db_path: Path, out_dir: Path | None = None) -> None:
        self.config = config
        from aggregator.store.locator import as_database

        self.db_path = as_database(db_path)
        self.out_dir = Path(out_dir) if out_dir is not None else self.db_path.local_dir
        self.trusted = tuple(ipaddress.ip_network(n, strict=False) for n in config.serve.trusted_proxies)
        self.confirmations_per_day = config.serve.confirmations_per_day
        self.origin = origin_of(config.calendar.base_url)
        self._secret_value: str | None = None

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
            calendar_name=self.config.calendar.name, site_url=f"{self.config.calendar.base_url}/",
            form_token=self._form_token() if form else None)
        response = Response(html, status=status, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        # The token is in the URL: no other site may see it. Not no-referrer: then browsers send
        # "Origin: null" on the page's own form, and the form could not be told from another site's.
        response.headers["Referrer-Policy"] = "same-origin"
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

    def _client(self, request: Request) -> str:
        return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), self.trusted)

    def _network_limits(self, request: Request, action: str) -> list[tuple[str, int, float]]:
        network = network_of(self._client(request))
        return [(f"{action}:net:{network}:{int(window)}", limit, window) for limit, window in NETWORK_LIMITS]

    # -- requests from other sites ------------------------------------------------------

    def _secret(self, db) -> str:
        # Kept once read: pages with forms need it while a handler's own transaction may be open,
        # and a second connection asking for it could then wait on that transaction's lock.
        if self._secret_value is None:
            self._secret_value = secret_for(db, self.config.digest.secret_env)
        return self._secret_value

    def _form_serializer(self, db) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret(db), salt="massage-events.form")

    def _form_token(self) -> str:
        if self._secret_value is None:
            with self._store() as store:
                self._secret(store.db)
        return self._form_serializer(None).dumps("form")

    def _cross_site(self, request: Request, db) -> Response | None:
        """A 403 page when the POST did not come from one of the site's own forms, else None."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.strip() != "null":
            if origin_of(origin) == self.origin:
                return None
            return self._refused(origin)
        referer = request.headers.get("Referer")
        if origin is None and referer:
            return None if origin_of(referer) == self.origin else self._refused(referer)
        if origin is None:  # a client that sends neither (not a browser, or a very old one)
            try:
                self._form_serializer(db).loads(request.form.get("form_token", ""), max_age=FORM_TOKEN_MAX_AGE)
                return None
            except (BadData, UnicodeError, ValueError):
                pass
        return self._refused(origin or "an unknown page")

    def _refused(self, where: str) -> Response:
        log.info("refused a form post from %s (the site is %s)", where[:200], self.origin)
        return self._page(403, "Please use the form on our site", [
            f"This request did not come from a page of {self.config.calendar.base_url}. Open "
            f"{self.config.calendar.base_url}/subscribe and send the form from there.",
            "(For the site's operator: calendar.base_url in sources.yaml must be the address visitors use.)"])

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
            refused = self._cross_site(request, db)
            if refused:
                return refused
            wait = over_limit(db, self._network_limits(request, "subscribe"))
            if wait:
                return self._too_many(wait)
            try:
                email = subscribers.normalize_address(raw)
            except subscribers.InvalidAddress as e:
                return self._page(400, "Please check the address", [str(e)], form="subscribe", action="/subscribe")
            wait = over_limit(db, [(f"subscribe:address:{email.lower()}:{int(window)}", limit, window)
                                   for limit, window in ADDRESS_LIMITS])
            if wait:
                return self._too_many(wait)
            now = datetime.now(timezone.utc)
            # Checked before the address is looked at, so the answer is the same for every address.
            if hits(db, "mail:confirmations", DAY) >= self.confirmations_per_day:
                self._tell_curator_of_cap(db, now)
                response = self._page(503, "Please try again tomorrow", [
                    "We have sent as many confirmation emails today as we may. Please subscribe again "
                    "tomorrow; nothing was sent to this address."], form=None)
                response.headers["Retry-After"] = str(int(HOUR))
                return response
            sub, send = subscribers.request_subscription(db, email, regions, tags, now=now)
            if send and hits(db, f"mail:address:{email.lower()}", DAY) < CONFIRMATIONS_PER_ADDRESS_PER_DAY:
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
        db.executemany("INSERT INTO rate_hits (key, at) VALUES (?, ?)",
                       [("mail:confirmations", now.timestamp()), (f"mail:address:{sub.email.lower()}", now.timestamp())])

    def _tell_curator_of_cap(self, db, now: datetime) -> None:
        """One email a day to the curator when the day's confirmations are used up."""
        if hits(db, "alert:confirmation-cap", DAY) or not self.config.calendar.curator_email:
            if not self.config.calendar.curator_email:
                log.warning("the daily cap of %d confirmation emails is reached; set calendar.curator_email "
                            "to be told by email", self.confirmations_per_day)
            return
        from aggregator.mail.alerts import send_curator_note

        subject = f"{self.config.calendar.name}: sign-ups paused, {self.confirmations_per_day} confirmations today"
        body = (f"The site has sent {self.confirmations_per_day} confirmation emails in the last 24 hours, the "
                "daily cap (serve.confirmations_per_day in sources.yaml).\n\n"
                "Until the count drops below it, the subscribe form tells visitors to try again tomorrow and "
                "sends nothing. If this is a real rush of sign-ups, raise the cap and restart serve. If not, "
                "someone is using the form to mail strangers: the cap has stopped them.\n\n"
                "You get this email at most once a day.\n")
        if send_curator_note(self.config, "confirmation-cap", subject, body, now, out_dir=self.out_dir):
            db.execute("INSERT INTO rate_hits (key, at) VALUES (?, ?)", ("alert:confirmation-cap", now.timestamp()))

    # -- confirm ------------------------------------------------------------------------

    def _tokens(self, db) -> Tokens:
        return Tokens(self._secret(db))

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
            refused = self._cross_site(request, db)
            if refused:
                return refused
            wait = over_limit(db, self._network_limits(request, "confirm"))
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
            refused = self._cross_site(request, store.db)
            if refused:
                return refused
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
