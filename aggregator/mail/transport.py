"""Deliver one EmailMessage: over SMTP when `smtp.host` is configured, else into <out>/outbox/.

Failures are classed by what to do next (docs/reliability.md C8):

    TemporaryDeliveryError   4xx (421/450/451/452), disconnects, timeouts, refused
                             connections: try again later in the same period.
    PermanentDeliveryError   5xx for this recipient (RCPT or DATA): record it against the
                             subscriber, never retry it this period.
    SmtpSetupError           nothing can be sent until the operator fixes something
                             (login refused, no STARTTLS, missing password variable,
                             sender address refused): stop the whole send.

One connection is reused for many messages and re-opened after a failure. One
message has exactly one envelope recipient. For the digest at scale, TransportPool sends over
several such connections at once (smtp.connections) under one RateLimit (smtp.max_per_second).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

from aggregator.errors import DeliveryError, PermanentDeliveryError, SmtpSetupError, TemporaryDeliveryError
from aggregator.config.settings import Config
from aggregator.mail.identity import from_address

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class Transport(Protocol):
    description: str

    def send(self, msg: EmailMessage, *, envelope_from: str, to: str) -> str:
        """Hand the message over; return the server's answer (e.g. "250 2.0.0 queued as X")."""
        ...

    def close(self) -> None: ...


def _recipient(msg: EmailMessage) -> str:
    pairs = getaddresses([str(msg["To"] or "")])
    if len(pairs) != 1 or not pairs[0][1]:
        raise PermanentDeliveryError("the message needs exactly one To address")
    return pairs[0][1]


class OutboxTransport:
    """Writes each message to <folder>/<message-id>.eml (atomically). Re-sending the same
    Message-ID overwrites the same file, so the outbox holds each digest once."""

    def __init__(self, folder: Path, signer: "DkimSigner | None" = None) -> None:
        self.folder = Path(folder)
        self.signer = signer
        self.description = f"the outbox folder {self.folder}"

    def path_for(self, msg: EmailMessage) -> Path:
        mid = str(msg["Message-ID"] or "").strip("<> ") or "message"
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", mid.split("@")[0])[:150]
        return self.folder / f"{name}.eml"

    def send(self, msg: EmailMessage, *, envelope_from: str | None = None, to: str | None = None) -> str:
        from aggregator.publish.outputs import write_atomic

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.path_for(msg)
            write_atomic(path, _wire_bytes(msg, self.signer, utf8=not _ascii_envelope(msg, envelope_from, to)))
        except OSError as e:
            raise SmtpSetupError(f"cannot write to the outbox folder {self.folder} ({e.strerror or e}); "
                                 "check that --out points at a writable folder") from None
        return f"written to {path}"

    def close(self) -> None:
        pass


class SmtpTransport:
    def __init__(self, settings, *, environ=os.environ, signer: "DkimSigner | None" = None) -> None:
        self.settings = settings
        self.signer = signer
        self.host = settings.host
        self.port = settings.port or DEFAULT_PORTS[settings.security]
        self.description = f"SMTP {self.host}:{self.port} ({settings.security})"
        self.password = None
        if settings.username:
            name = settings.password_env
            if not name:
                raise SmtpSetupError("smtp.username is set but smtp.password_env is not; add "
                                     "password_env: THE_VARIABLE_NAME and export that variable")
            self.password = environ.get(name)
            if not self.password:
                raise SmtpSetupError(f"the environment variable {name} (smtp.password_env) is empty or unset; "
                                     f"export {name}=... before sending")
        self._conn: smtplib.SMTP | None = None
        self._context: ssl.SSLContext | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        s = self.settings
        if self._context is None and s.security != "none":
            self._context = ssl.create_default_context()  # loading the CA store costs ~0.1 s: once
        context = self._context
        try:
            if s.security == "tls":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=s.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise SmtpSetupError(f"{self.host}:{self.port} does not offer STARTTLS; set smtp.security "
                                         "to tls (port 465) or, only on a trusted network, none")
                conn.starttls(context=context)
                conn.ehlo()
            if s.username:
                conn.login(s.username, self.password)
        except smtplib.SMTPAuthenticationError as e:
            raise SmtpSetupError(f"{self.host} refused the login for {s.username} ({e.smtp_code}); "
                                 f"check smtp.username and the password in ${s.password_env}") from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpSetupError(f"{self.host} does not offer login (AUTH); remove smtp.username or "
                                 "use security: starttls/tls") from None
        except ssl.SSLError as e:
            raise SmtpSetupError(f"TLS with {self.host}:{self.port} failed ({e.reason or e}); "
                                 "check smtp.security and smtp.port") from None
        except smtplib.SMTPResponseException as e:
            raise _classify(e.smtp_code, e.smtp_error, "connecting") from None
        except (smtplib.SMTPException, OSError) as e:
            raise TemporaryDeliveryError(f"cannot reach {self.host}:{self.port} ({e}); will retry") from None
        self._conn = conn
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def send(self, msg: EmailMessage, *, envelope_from: str, to: str) -> str:
        conn = self._connect()
        utf8 = not _ascii_envelope(msg, envelope_from, to)
        if utf8 and not conn.has_extn("smtputf8"):
            # An address with a non-ASCII local part (josé@example.org) can only travel with
            # SMTPUTF8 (RFC 6531); a relay without it cannot deliver it, now or on a retry.
            raise PermanentDeliveryError(
                f"{to} is an internationalised address and {self.host} does not offer SMTPUTF8 (RFC 6531); "
                "it can be delivered through a relay that does (Postfix 3+, Exim 4.86+, most mail services)", 553)
        try:
            refused = conn.sendmail(envelope_from, [to], _wire_bytes(msg, self.signer, utf8=utf8),
                                    mail_options=["SMTPUTF8"] if utf8 else [])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            raise _classify(code, text, "RCPT") from None
        except smtplib.SMTPSenderRefused as e:
            if 500 <= e.smtp_code < 600:
                raise SmtpSetupError(f"{self.host} refuses the sender {envelope_from} ({e.smtp_code} "
                                     f"{_text(e.smtp_error)}); check digest.from_address") from None
            raise _classify(e.smtp_code, e.smtp_error, "MAIL FROM") from None
        except smtplib.SMTPServerDisconnected as e:
            self._drop()
            raise TemporaryDeliveryError(f"the SMTP server disconnected ({e or 'no reason given'})") from None
        except smtplib.SMTPResponseException as e:  # SMTPDataError and friends
            if e.smtp_code == 421:
                self._drop()
            raise _classify(e.smtp_code, e.smtp_error, "DATA") from None
        except (socket.timeout, TimeoutError) as e:
            self._drop()
            raise TemporaryDeliveryError(f"the SMTP server timed out ({e})") from None
        except OSError as e:
            self._drop()
            raise TemporaryDeliveryError(f"the connection to the SMTP server failed ({e})") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _classify(code, text, "RCPT")
        return "250 accepted"

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except Exception:  # noqa: BLE001 - closing anyway
                conn.close()


class RateLimit:
    """At most `rate` messages a second over all connections (0: no limit), evenly spaced."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.stop = stop
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            at = max(self._next, time.monotonic())
            self._next = at + self.interval
        delay = at - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)


class NotStarted(Exception):
    """A message not handed over because the send was asked to stop."""


class TransportPool:
    """A pool of transports, one per worker thread (one SMTP connection each), behind one rate limit
    (smtp.connections, smtp.max_per_second). With one connection it sends in the calling thread,
    in order. `send_all` hands back each message's outcome as its server answers, so the caller
    can record it at once."""

    def __init__(self, make: Callable[[], Transport], count: int, rate: RateLimit, first: Transport) -> None:
        self.make = make
        self.rate = rate
        self.count = max(1, count)
        self._local = threading.local()
        self._local.transport = first
        self._all = [first]
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.count, thread_name_prefix="digest-smtp") if self.count > 1 else None

    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self.make()
            with self._lock:
                self._all.append(transport)
        return transport

    def _send(self, job: tuple[EmailMessage, str, str]) -> BaseException | None:
        msg, envelope_from, to = job
        self.rate.wait()
        if self.rate.stop.is_set():  # SIGTERM: the message in hand finishes, no new one starts
            return NotStarted()
        try:
            self._transport().send(msg, envelope_from=envelope_from, to=to)
        except BaseException as e:  # noqa: BLE001 - handed back to the ledger, in order
            return e
        return None

    def send_all(self, jobs: list[tuple[EmailMessage, str, str]]):
        """Yield (index, error or None) for each job as its server answers (in order on one connection)."""
        if self._pool is None or len(jobs) < 2:
            for i, job in enumerate(jobs):
                yield i, self._send(job)
            return
        futures = {self._pool.submit(self._send, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self, *, transports: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if transports:
            for transport in self._all:
                transport.close()


def _text(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return " ".join(str(raw).split())[:300]


def _classify(code: int, text, stage: str) -> DeliveryError:
    msg = f"{code} {_text(text)} (at {stage})"
    if 400 <= code < 500:
        return TemporaryDeliveryError(msg, code)
    return PermanentDeliveryError(msg, code)


def make_transport(config: Config, out_dir: Path) -> Transport:
    """SMTP when `smtp.host` is set in sources.yaml, else the outbox folder <out_dir>/outbox/.
    Messages are DKIM-signed when digest.dkim_selector and digest.dkim_key_file are set."""
    signer = make_signer(config)
    if config.smtp.host:
        return SmtpTransport(config.smtp, signer=signer)
    return OutboxTransport(Path(out_dir) / "outbox", signer=signer)


def _ascii_envelope(msg: EmailMessage, envelope_from: str | None, to: str | None) -> bool:
    """Whether the addresses are all ASCII (an IDNA domain is, in its xn-- form): then the message
    goes as always; otherwise its headers are written in UTF-8 and the relay must offer SMTPUTF8."""
    return all((a or "").isascii() for a in (envelope_from, to, str(msg["To"] or ""), str(msg["From"] or "")))


def _wire_bytes(msg: EmailMessage, signer: "DkimSigner | None", *, utf8: bool = False) -> bytes:
    # A non-ASCII mailbox cannot be written as an RFC 2047 encoded-word: the headers go in UTF-8 (RFC 6532).
    data = msg.as_bytes(policy=msg.policy.clone(utf8=True)) if utf8 else msg.as_bytes()
    return signer.sign(data) if signer is not None else data


class DkimSigner:
    """DKIM (RFC 6376), relaxed/relaxed, rsa-sha256. Both List-Unsubscribe headers are in h=,
    as RFC 8058 requires for one-click unsubscribe to be honoured."""

    HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-id",
               b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type")

    def __init__(self, selector: str, domain: str, private_key: bytes) -> None:
        self.selector = selector.encode()
        self.domain = domain.encode()
        self.key = private_key

    def sign(self, data: bytes) -> bytes:
        import dkim

        try:
            signature = dkim.sign(data, self.selector, self.domain, self.key, include_headers=list(self.HEADERS),
                                  canonicalize=(b"relaxed", b"relaxed"))
        except dkim.DKIMException as e:
            raise SmtpSetupError(f"DKIM signing failed ({e}); check digest.dkim_key_file holds an RSA "
                                 "private key in PEM form") from None
        return signature + data


def make_signer(config: Config) -> DkimSigner | None:
    selector, key_file = config.digest.dkim_selector, config.digest.dkim_key_file
    if not selector and not key_file:
        return None
    if not (selector and key_file):
        raise SmtpSetupError("DKIM needs both digest.dkim_selector and digest.dkim_key_file; set both, or neither")
    try:
        import dkim  # noqa: F401
    except ImportError:
        raise SmtpSetupError("DKIM signing needs the dkimpy package: pip install dkimpy") from None
    path = Path(key_file).expanduser()
    if not path.is_absolute():
        path = Path(config.path).parent / path
    try:
        key = path.read_bytes()
    except OSError as e:
        raise SmtpSetupError(f"cannot read the DKIM key {path} ({e.strerror or e}); "
                             "fix digest.dkim_key_file") from None
    domain = config.digest.dkim_domain or from_address(config).rpartition("@")[2]
    if not domain:
        raise SmtpSetupError("set digest.dkim_domain (or digest.from_address) to sign with DKIM")
    return DkimSigner(selector, domain, key)


def send_one(transport: Transport, msg: EmailMessage, envelope_from: str) -> str:
    """Send msg to its single To address through transport (a convenience for one-off mail)."""
    return transport.send(msg, envelope_from=envelope_from, to=_recipient(msg))
