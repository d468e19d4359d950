"""`massage-events demo`: the whole pipeline on bundled sample sources served from 127.0.0.1.

The samples in aggregator/app/demo_data/ are what real chapter calendars, Meetup-like
pages and list archives look like. Files ending in .j2 are rendered on every
request with dates relative to today (`day(12)` is twelve days from now), so the
demo always shows upcoming events. No network, no setup beyond install.
"""

from __future__ import annotations

from aggregator.config.settings import Config
import calendar as _calendar
import mimetypes
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jinja2

DEMO_DATA = Path(__file__).parent / "demo_data"
_TYPES = {".ics": "text/calendar; charset=utf-8", ".html": "text/html; charset=utf-8",
          ".xml": "application/rss+xml; charset=utf-8", ".rss": "application/rss+xml; charset=utf-8",
          ".atom": "application/atom+xml; charset=utf-8", ".mbox": "application/mbox",
          ".json": "application/json"}


def _nth_weekday(year: int, month: int, n: int, weekday: int) -> date:
    """The n-th `weekday` (0=Monday) of a month."""
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def template_context(today: date) -> dict:
    def day(n: int, fmt: str = "%Y%m%d") -> str:
        return (today + timedelta(days=n)).strftime(fmt)

    def nth(n: int, weekday: int, months_ahead: int = 0, fmt: str = "%Y%m%d") -> str:
        month_index = today.month - 1 + months_ahead
        year, month = today.year + month_index // 12, month_index % 12 + 1
        return _nth_weekday(year, month, n, weekday).strftime(fmt)

    return {
        "day": day,
        "nth": nth,
        "today": today,
        "stamp": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
        "month_start": nth(2, 1),  # the 2nd Tuesday of this month: the IL chapter meets then
        "first_thursday": nth(1, 3),
        "skipped_meeting": nth(2, 1, months_ahead=1),
        "month_name": _calendar.month_name,
    }


class _DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "DemoServer"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        body = self.server.render(name)
        if body is None:
            self._send(404, b"not found", "text/plain")
            return
        suffix = Path(name).suffix
        self._send(200, body, _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DemoServer(ThreadingHTTPServer):
    """Serves demo_data on 127.0.0.1, rendering .j2 files with today's dates."""

    daemon_threads = True

    def __init__(self, port: int = 0, today: date | None = None) -> None:
        super().__init__(("127.0.0.1", port), _DemoHandler)
        self.today = today or date.today()
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(DEMO_DATA), autoescape=True,
                                      keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def render(self, name: str) -> bytes | None:
        if "/" in name.strip("/") and ".." in name:
            return None
        template = DEMO_DATA / f"{name}.j2"
        if template.is_file():
            text = self.env.get_template(f"{name}.j2").render(template_context(self.today))
            return text.encode("utf-8")
        plain = DEMO_DATA / name
        if plain.is_file() and plain.resolve().parent == DEMO_DATA.resolve() and not name.endswith(".tmpl"):
            return plain.read_bytes()
        return None

    def __enter__(self) -> "DemoServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


def site_url(host: str, port: int) -> str:
    """The address a browser on this machine uses for `demo --serve --host HOST --port PORT`."""
    if host in ("", "0.0.0.0", "::"):  # every interface: this machine's browser reaches it on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now on host (`--port 0`), so the page's links can name it before the server starts."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def write_demo_config(out_dir: Path, base_url: str, site: str = "http://127.0.0.1:8000") -> Path:
    """The demo's sources.yaml: sources at base_url (the samples server), links to site (where it is served)."""
    text = (DEMO_DATA / "sources.yaml.tmpl").read_text(encoding="utf-8")
    text = text.replace("{base}", base_url).replace("{site}", site)
    path = out_dir / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_demo(out_dir: Path | str = "demo-out", *, serve: bool = False, host: str = "127.0.0.1",
             port: int = 8000, progress=None, stream=None) -> int:
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    stream = stream or sys.stdout  # looked up per call: the stdout of import time may be closed by now

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "demo.sqlite"
    if serve and port == 0:
        port = free_port(host)
    with DemoServer() as samples:
        # The page's subscribe links and the digest's links name the port the result is served on.
        config_path = write_demo_config(out_dir, samples.base_url, site_url(host, port))
        config = load_config(config_path)
        print(f"sample sources served at {samples.base_url}; config written to {config_path}", file=stream)
        with Store(db_path) as store:
            report = run(config, store, out_dir, progress=progress)
        print(report.summary(), file=stream)
        digest_file = _sample_digest(config, db_path, out_dir, stream)
        print("\noutputs:", file=stream)
        for path in report.outputs:
            print(f"  {path}", file=stream)
        if digest_file:
            print(f"  {digest_file}  (a sample digest, as it would be mailed)", file=stream)
        print(f"  {db_path}  (the database)", file=stream)
        print(f"\nopen {out_dir / 'index.html'} in a browser, or run `massage-events demo --serve`", file=stream)
        if serve:
            from aggregator.app.web.site import serve_command

            print(f"serving on http://{host}:{port}/ (Ctrl-C to stop)", file=stream)
            return serve_command(config, db_path, out_dir, host, port)
    return 0 if report.ok else 1


def _sample_digest(config: Config, db_path: Path, out_dir: Path, stream) -> Path | None:
    """Write one sample digest to the outbox."""
    from aggregator.mail.digest import digest_report

    target = out_dir / "outbox" / "sample-digest.eml"
    target.parent.mkdir(parents=True, exist_ok=True)
    report = digest_report(config, db_path, out_dir, preview="", to_file=target, send=False)
    if report.exit_code != 0:
        print(f"(the sample digest could not be written: {report.text().strip()})", file=stream)
        return None
    return target
