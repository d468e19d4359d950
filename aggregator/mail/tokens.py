"""Signed, purpose-bound links for email: confirm a subscription, unsubscribe.

Each purpose has its own salt, so a confirm token never works as an unsubscribe
token and the other way round. Confirm links expire after 7 days (a stale
confirmation should not subscribe anyone); unsubscribe links keep working for
two years (RFC 8058 and CAN-SPAM ask for at least 30 days; we promise a year).

The secret comes from the environment variable named by `digest.secret_env`
(default MASSAGE_EVENTS_SECRET). When it is unset, a random secret is generated
once and kept in the database (table app_settings), so links survive restarts.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from datetime import timedelta

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from aggregator.errors import TokenError

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
MANAGE = "manage"  # the "change your preferences" link in every digest

MAX_AGE: dict[str, timedelta] = {
    CONFIRM: timedelta(days=7),
    UNSUBSCRIBE: timedelta(days=730),
    MANAGE: timedelta(days=730),
}


def secret_for(db: sqlite3.Connection, env_name: str | None = "MASSAGE_EVENTS_SECRET") -> str:
    """The signing secret: the env var's value when set, else one generated and stored in the database."""
    if env_name:
        value = os.environ.get(env_name, "").strip()
        if value:
            return value
    db.execute("INSERT OR IGNORE INTO app_settings (name, value) VALUES ('token_secret', ?)",
               (secrets.token_urlsafe(32),))
    return db.execute("SELECT value FROM app_settings WHERE name = 'token_secret'").fetchone()[0]


class Tokens:
    """Make and read tokens carrying one email address for one purpose."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("an empty secret would make every token forgeable")
        self._secret = secret

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in MAX_AGE:
            raise ValueError(f"unknown token purpose {purpose!r}")
        return URLSafeTimedSerializer(self._secret, salt=f"massage-events.{purpose}")

    def make(self, purpose: str, email: str) -> str:
        return self._serializer(purpose).dumps(email)

    def read(self, purpose: str, token: str) -> str:
        """The email address the token was made for; TokenError when it is not honoured."""
        try:
            value = self._serializer(purpose).loads(token, max_age=int(MAX_AGE[purpose].total_seconds()))
        except SignatureExpired:
            if purpose == CONFIRM:
                msg = ("This confirmation link has expired (links work for 7 days). "
                       "Subscribe again and use the new link we send you.")
            else:
                msg = "This link has expired. Use the link in a recent digest, or reply to it."
            raise TokenError(msg, reason="expired") from None
        except (BadData, UnicodeError, ValueError):
            raise TokenError("This link is not valid: it may be incomplete or damaged. "
                             "Copy the whole link from the email, or use the one in a more recent email.",
                             reason="invalid") from None
        if not isinstance(value, str) or "@" not in value:
            raise TokenError("This link is not valid. Copy the whole link from the email.", reason="invalid")
        return value
