"""A private Dovecot IMAP server on 127.0.0.1 for the imap adapter's tests.

Debian: `apt-get install -y dovecot-imapd`. Nothing of the system's Dovecot is used:
the instance gets its own config, run and state folders in a temporary directory, a
passwd-file user, a high loopback port and Maildir mail under the same directory, and is
stopped (the process we started, by its id) when the test session ends.

    with DovecotServer(tmp_path) as imap:
        imap.deliver(raw_bytes)                   # into INBOX/new (or folder="lmt-chicago")
        imap.port, imap.username, imap.password
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

DOVECOT = shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
                                           if os.path.exists(p)), None)
NOT_INSTALLED = ("Dovecot is not installed, so the IMAP adapter is not tested against a real server here; "
                 "install it with `apt-get install -y dovecot-imapd` (CI does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DovecotServer:
    def __init__(self, root: Path | None = None, *, username: str = "curator",
                 password: str = "s3cret-loopback") -> None:
        if not DOVECOT:
            raise RuntimeError(NOT_INSTALLED)
        # Dovecot's processes run as other users: the folder must be traversable (pytest's tmp is 0700).
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="massage-events-dovecot-"))
        os.chmod(self.root, 0o711)
        self.mail_uid, self.mail_gid = _mail_owner()
        self.username = username
        self.password = password
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.mail = self.root / "mail" / username

    # ------------------------------------------------------------------ setup

    def _write_config(self) -> Path:
        for sub in ("run", "state", "home", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (self.mail / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "passwd").write_text(f"{self.username}:{{PLAIN}}{self.password}::::::\n")
        uid, gid = self.mail_uid, self.mail_gid
        for path in (self.root / "mail", self.root / "home"):
            _chown_tree(path, uid, gid)
        internal = "dovecot" if _user_exists("dovecot") else "root"
        login = "dovenull" if _user_exists("dovenull") else internal
        run_as = _user_name(uid)  # auth reads the passwd-file inside our private (0700) tmp dir
        config = f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
instance_name = massage-events-test-{uuid.uuid4().hex[:8]}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 0
first_valid_gid = 0
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  user = {run_as}
}}
service auth-worker {{
  user = {run_as}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        path = self.root / "dovecot.conf"
        path.write_text(config)
        return path

    def deliver(self, raw: bytes, folder: str | None = None) -> Path:
        """Put one message into the user's INBOX (or a folder) as an MTA would: tmp/ then new/."""
        base = self.mail if not folder or folder.upper() == "INBOX" else self.mail / f".{folder}"
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.loopback"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw)
        final = base / "new" / name
        tmp.rename(final)
        _chown_tree(self.root / "mail", self.mail_uid, self.mail_gid)
        return final

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "DovecotServer":
        config = self._write_config()
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                log = (self.root / "dovecot.log")
                raise RuntimeError(f"dovecot exited at start: {output}\n"
                                   f"{log.read_text() if log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on 127.0.0.1:{self.port} within 10 s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "DovecotServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _mail_owner() -> tuple[int, int]:
    """Who owns the mail: ourselves, or (as root, which Dovecot refuses for mail) its own system user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    import pwd

    for name in ("dovecot", "mail", "nobody"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    return 65534, 65534


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.getuid() != 0 or not path.exists():
        return
    for folder, dirs, files in os.walk(path):
        os.chown(folder, uid, gid)
        for name in files:
            os.chown(os.path.join(folder, name), uid, gid)


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return "root"


def _user_exists(name: str) -> bool:
    try:
        import pwd

        pwd.getpwnam(name)
        return True
    except (KeyError, ImportError):
        return False
