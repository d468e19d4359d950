"""`massage-events demo --serve --port N`: the page's subscribe links name port N, not 8000.

The real command runs in a subprocess (samples server, pipeline, web server); the test waits
for the server's "serving" line, reads the written and the served page, then stops it with
SIGTERM as a service manager would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from bs4 import BeautifulSoup

from aggregator.app.demo import run_demo

SUBSCRIBE = re.compile(r"(calendar\.ics|webcal:)")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("massage-events")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aggregator"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _subscribe_links(page: str) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    return [a["href"] for a in soup.find_all("a", href=True) if SUBSCRIBE.search(a["href"])
            and "/event/" not in a["href"]]


def _serve_demo(out: Path, port: int):
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.Popen([*_cli(), "-q", "demo", "--serve", "--port", str(port), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=out.parent)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "/healthz" in line:  # web.serve_command's line: the server is listening
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, ready


def test_demo_serve_on_a_chosen_port_links_to_that_port(tmp_path):
    port = _free_port()
    out = tmp_path / "demo-out"
    proc, lines, ready = _serve_demo(out, port)
    try:
        assert ready.wait(60), "the demo server never said it was serving"
        assert proc.poll() is None, "".join(lines) + proc.stderr.read()
        written = (out / "index.html").read_text(encoding="utf-8")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            served = response.read().decode("utf-8")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, "".join(lines) + proc.stderr.read()
    for page in (written, served):
        links = _subscribe_links(page)
        assert links, "the page has subscribe links"
        assert all(f"127.0.0.1:{port}" in link or f"127.0.0.1%3A{port}" in link for link in links), links
        assert not any(":8000" in link or "%3A8000" in link for link in links), links
    config = (out / "sources.yaml").read_text(encoding="utf-8")
    assert f"base_url: http://127.0.0.1:{port}\n" in config


def test_the_demo_prints_to_the_stdout_of_the_call_not_of_the_import(tmp_path, capsys):
    # aggregator.app.demo was imported at collection time (the top of this file), under another stdout.
    assert run_demo(tmp_path / "demo-out") == 0
    assert "sample sources served at" in capsys.readouterr().out
