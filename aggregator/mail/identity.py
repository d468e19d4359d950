"""Who the mail comes from: the sender, the list's identity and the reply mailbox, read from
sources.yaml; and the message policies every message we send is written under."""

from __future__ import annotations

import logging
import re
from email.policy import SMTP
from urllib.parse import urlsplit

from aggregator.config.settings import Config
from aggregator.mail import subscribers

log = logging.getLogger(__name__)

# Bodies are encoded under policy.SMTP (CRLF, quoted-printable lines <= 76); the finished message is
# then serialized with headers folded only past RFC 5322's 998, so a long List-Unsubscribe URL stays
# a plain URL instead of becoming an RFC 2047 encoded-word that mail clients cannot use.
SMTP_POLICY = SMTP
HEADER_POLICY = SMTP.clone(max_line_length=998)


def mail_host(config: Config) -> str:
    return (urlsplit(config.calendar.base_url).hostname or "localhost").lower()


def from_address(config: Config) -> str:
    return config.digest.from_address or f"digest@{mail_host(config)}"


def from_name(config: Config) -> str:
    return header_text(config.digest.from_name or config.calendar.name)


def list_id(config: Config) -> str:
    raw = config.digest.list_id or f"digest.{mail_host(config)}"
    return re.sub(r"[^A-Za-z0-9.-]", "-", raw).strip(".-") or "digest.localhost"


def unsubscribe_mailbox(config: Config) -> str:
    """Where replies and mailto: unsubscribes go: digest.reply_to, else the curator, else the sender."""
    for candidate in (config.digest.reply_to, config.calendar.curator_email):
        if candidate:
            try:
                return subscribers.normalize_address(candidate)
            except subscribers.InvalidAddress:
                log.warning("ignoring %r as a reply address: not a valid email address", candidate)
    return from_address(config)


def header_text(value: str | None, limit: int = 200) -> str:
    """Text safe for one header: no CR/LF or other control characters, whitespace collapsed."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", str(value or ""))
    text = " ".join(text.split())
    return text[:limit].rstrip()
