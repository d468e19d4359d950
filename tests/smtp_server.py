"""A real SMTP server on loopback (aiosmtpd) that can be told to misbehave.

    with FaultySMTP() as smtp:
        smtp.rcpt_script["a@x.org"] = ["451 4.3.0 try later", "451 4.3.0 try later"]  # then 250
        smtp.rcpt_script["b@x.org"] = ["550 5.1.1 no such user"] * 10
        smtp.disconnect_after = 2        # accept 2 messages, then drop every connection at DATA
        smtp.block_at = 3                # hold the 3rd message's DATA until .release is set
        ...
        smtp.messages                    # [(envelope_from, [rcpt], email.message.EmailMessage)]
"""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, owner: "FaultySMTP") -> None:
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        script = self.owner.rcpt_script.get(address)
        if script:
            answer = script.pop(0)
            if answer:
                self.owner.refusals.append((address, answer))
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        o = self.owner
        with o.lock:
            o.data_attempts += 1
            attempt = o.data_attempts
        if o.block_at is not None and attempt == o.block_at:
            o.blocked.set()
            # Hold the client waiting for our answer; the test kills it meanwhile.
            import asyncio
            while not o.release.is_set():
                await asyncio.sleep(0.02)
            if o.abort_blocked:
                server.transport.abort()
                return "421 4.3.2 going away"
        if o.disconnect_after is not None and len(o.messages) >= o.disconnect_after:
            server.transport.abort()
            return "421 4.3.2 going away"
        script = o.data_script.get(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        if script:
            answer = script.pop(0)
            if answer:
                o.refusals.append((envelope.rcpt_tos[0], answer))
                return answer
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        with o.lock:
            o.peers.add(session.peer)  # which client connection delivered it
            o.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
            o.raw.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted"


class FaultySMTP:
    def __init__(self, *, auth: dict[str, str] | None = None, smtputf8: bool = True) -> None:
        self.port = free_port()
        self.messages: list = []
        self.raw: list[bytes] = []
        self.refusals: list[tuple[str, str]] = []
        self.rcpt_script: dict[str, list[str | None]] = {}
        self.data_script: dict[str, list[str | None]] = {}
        self.disconnect_after: int | None = None
        self.block_at: int | None = None
        self.abort_blocked = True  # after .release: drop the held message (True) or accept it (False)
        self.blocked = threading.Event()
        self.release = threading.Event()
        self.data_attempts = 0
        self.peers: set = set()
        self.lock = threading.Lock()
        kwargs = {}
        if auth is not None:
            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and \
                    auth.get(auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False)
            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True,
                      "auth_exclude_mechanism": ["LOGIN"]}
        # SMTPUTF8 (RFC 6531) offered, as by aiosmtpd's Controller, Postfix 3 and most mail services;
        # smtputf8=False plays an older relay without it.
        kwargs["enable_SMTPUTF8"] = smtputf8
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> "FaultySMTP":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.controller.stop()

    def __enter__(self) -> "FaultySMTP":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def recipients(self) -> list[str]:
        return [rcpt for _, rcpts, _ in self.messages for rcpt in rcpts]

    def for_address(self, address: str):
        return [m for _, rcpts, m in self.messages if address in rcpts]


# -- small builders shared by the digest/mailer/subscriber/alert tests ---------------------

def digest_config(tmp_path, *, smtp: "FaultySMTP | None" = None, **sections):
    """A validated Config (America/Chicago, Monday 08:00 digest), SMTP pointing at `smtp` if given."""
    from aggregator.config.settings import parse_config

    data = {"calendar": {"name": "Massage Events", "timezone": "America/Chicago",
                         "base_url": "https://events.example.org", "curator_email": "curator@example.org"},
            "digest": {"from_address": "digest@events.example.org"}}
    if smtp is not None:
        data["smtp"] = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "timeout": 5}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, str(tmp_path / "sources.yaml"))


def make_event(uid: str, title: str, start, *, hours: float = 2, region: str | None = "IL",
               tags: tuple[str, ...] = (), status: str = "confirmed", sequence: int = 0,
               url: str | None = "https://example.org/e", location: str | None = "Chicago, IL"):
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    from aggregator.model import Event, SourceRef, Status

    zone = ZoneInfo("America/Chicago")
    if isinstance(start, datetime):
        start = start if start.tzinfo else start.replace(tzinfo=zone)
        end = start + timedelta(hours=hours)
        all_day = False
    else:
        assert isinstance(start, date)
        end, all_day = start + timedelta(days=1), True
    return Event(uid=uid, title=title, start=start, end=end, all_day=all_day, timezone="America/Chicago",
                 location=location, url=url, description="", status=Status(status), region=region, tags=tags,
                 sources=(SourceRef("test", uid),), sequence=sequence)


# -- a migrated database, copied instead of migrated again for every test (saves ~0.1 s each) -------

_TEMPLATE: dict[str, "object"] = {}


def _template_db():
    import tempfile
    from pathlib import Path

    from aggregator.store.database import Store

    if "path" not in _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="massage-events-template-")) / "db.sqlite"
        Store(path).close()  # closing the last connection checkpoints and removes the WAL
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


def copy_migrated_db(target) -> None:
    """Put an already-migrated, empty database at `target` (unless one is there)."""
    import shutil
    from pathlib import Path

    target = Path(target)
    if not target.exists():
        shutil.copyfile(_template_db(), target)


try:
    import pytest as _pytest

    @_pytest.fixture(autouse=True)
    def migrated_db(tmp_path):
        """Autouse in the modules that import it: tmp_path/db.sqlite starts migrated and empty."""
        copy_migrated_db(tmp_path / "db.sqlite")
        return tmp_path / "db.sqlite"
except ImportError:  # pragma: no cover - only the tests import this module
    pass
