"""nginx on loopback with the site block of docs/deploy-nginx.md, as an operator would install it.

Used by tests/test_deploy_nginx.py (the documented configuration works) and by
benchmarks/serve_bench.py (the reference static server). The block is taken from the doc
as written; only its `listen`, `root` and upstream address are pointed at the test's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deploy-nginx.md"


def nginx_binary() -> str | None:
    """The nginx executable (Debian puts it in /usr/sbin, often not on a user's PATH), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def site_block(doc: Path = DOC) -> str:
    """The ```nginx block of the deployment doc."""
    match = re.search(r"```nginx\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    if match is None:
        raise ValueError(f"{doc} has no ```nginx block")
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def render(out_dir: Path, upstream_port: int, port: int, workdir: Path, *, workers: int = 1) -> str:
    """A whole nginx.conf: a minimal main section around the doc's site block."""
    block = site_block()
    for pattern, value in ((r"listen 80;", f"listen 127.0.0.1:{port};"),
                           (r"root /srv/massage-events/out;", f"root {out_dir};"),
                           (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream_port};")):
        block, n = re.subn(pattern, value, block)
        if n != 1:
            raise ValueError(f"the doc's nginx block no longer has exactly one `{pattern}`")
    temp = "\n".join(f"    {kind}_temp_path {workdir / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    mime = "    include /etc/nginx/mime.types;\n" if Path("/etc/nginx/mime.types").is_file() else ""
    # As root, nginx's workers would run as nobody, who cannot read a private temp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes {workers};\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            f"http {{\n{mime}    default_type application/octet-stream;\n    sendfile on;\n    tcp_nopush on;\n"
            f"    access_log off;\n{temp}\n{block}}}\n")


class NginxSite:
    """`with NginxSite(out_dir, upstream_port, workdir) as site: site.base` -- nginx serving out_dir
    and proxying the rest to 127.0.0.1:upstream_port, until the block ends."""

    def __init__(self, out_dir: Path, upstream_port: int, workdir: Path, *, workers: int = 1) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.workdir / "nginx.conf"
        self.conf.write_text(render(Path(out_dir).resolve(), upstream_port, self.port, self.workdir,
                                    workers=workers), encoding="utf-8")
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "NginxSite":
        check = subprocess.run([self.binary, "-t", "-q", "-c", str(self.conf), "-p", str(self.workdir)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the configuration: {check.stderr.strip()}")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf), "-p", str(self.workdir), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("nginx did not start listening within 10 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
