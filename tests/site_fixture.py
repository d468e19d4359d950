"""A published site (calendar.ics, events.json, index.html, filtered feeds) served by `serve`'s app
under waitress on 127.0.0.1 with a free port: shared by tests/test_web.py and tests/test_page_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from aggregator.app.web.site import make_server, run_server
from aggregator.config.settings import load_config
from aggregator.model import SourceRef, Status
from aggregator.publish.outputs import publish
from tests.calendar_cases import CHI, NYC, ev

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

CONFIG = """\
calendar:
  name: Massage Therapist Networking Events
  timezone: America/Chicago
  base_url: https://events.example.org
schedule:
  enabled: false   # tests serve only; nothing fetches
sources:
  - id: amta-il
    name: AMTA Illinois Chapter
    type: ical
    url: https://example.org/il.ics
    region: IL
  - id: national
    name: National CE List
    type: ical
    url: https://example.org/national.ics
feeds:
  - name: Illinois
    path: feeds/il.ics
    region: [IL]
  - name: CE workshops
    path: feeds/ce.ics
    tag: ce
"""


def site_events():
    t = lambda month, day, hour, zone=CHI: datetime(2026, month, day, hour, tzinfo=zone)  # noqa: E731
    il = (SourceRef("amta-il", "il-1", "https://example.org/il/1"),)
    nat = lambda n: (SourceRef("national", f"n-{n}", f"https://national.example/e/{n}"),)  # noqa: E731
    return [
        ev("il-social@massage-events", "Chicago therapists mixer", t(3, 5, 18), t(3, 5, 20),
           location="Lincoln Park, Chicago, IL 60614", region="IL", tags=("social",), sources=il),
        ev("il-ce@massage-events", "Myofascial release CE workshop", t(3, 7, 9), t(3, 7, 17),
           location="Evanston, IL", region="IL", tags=("ce",), sources=il,
           description="Six CE hours.\nBring a mat; lunch provided. https://example.org/ce"),
        ev("ny-ce@massage-events", "NYC CE day: lymphatic drainage", t(3, 10, 10, NYC), t(3, 10, 16, NYC),
           tz="America/New_York", location="123 Broadway, New York, NY 10006", tags=("ce",), sources=nat(1)),
        ev("wi-social@massage-events", "Madison meetup", t(3, 12, 18), t(3, 12, 20),
           location="State St, Madison, Wisconsin", tags=("social",), sources=nat(2)),
        ev("xss@massage-events", "<script>alert(1)</script>", t(3, 14, 18), t(3, 14, 19),
           location="<img src=x onerror=alert(2)>", url="javascript:alert(3)", region="IL", sources=il,
           description='<img src=x onerror=alert(4)> <svg onload=alert(5)> <iframe src="javascript:alert(6)"></iframe>'
                       ' <style>body{display:none}</style> java&#x09;script:alert(7)'),
        ev("js-url@massage-events", "Linked javascript: URL", t(3, 15, 18), t(3, 15, 19),
           url="JaVaScRiPt:alert(8)", region="IL", sources=il),
        ev("cancelled@massage-events", "Cancelled: Spring mixer", t(3, 20, 18), t(3, 20, 20),
           status=Status.CANCELLED, sequence=1, region="IL", sources=il),
        ev("conf@massage-events", "Three-day conference", datetime(2026, 4, 10).date(),
           datetime(2026, 4, 13).date(), location="Rosemont, IL", tags=("ce", "conference"), sources=nat(3)),
        ev("past@massage-events", "Already over", t(2, 1, 18), t(2, 1, 19), region="IL", sources=il),
    ]


def publish_site(root: Path, events=None, now: datetime = NOW):
    cfg_path = root / "sources.yaml"
    cfg_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(cfg_path)
    out = root / "out"
    publish(out, config, events if events is not None else site_events(), now)
    return config, out


class RunningSite:
    def __init__(self, root: Path, events=None) -> None:
        self.config, self.out = publish_site(root, events)
        self.db = root / "site.sqlite"
        self.server = make_server(self.config, self.db, self.out, "127.0.0.1", 0, asyncore_loop_timeout=0.1)
        self.base = f"http://127.0.0.1:{self.server.effective_port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_server, args=(self.server, self.stop), daemon=True)

    def __enter__(self) -> "RunningSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def start_serve(config_path: Path, db: Path, out: Path) -> tuple[subprocess.Popen, str]:
    """The real `serve` command in a child process on a free loopback port, once it says it is
    serving: (the process, its base URL ending in "/"). The caller ends the process."""
    code = (
        "import sys; from pathlib import Path; from aggregator.config.settings import load_config;"
        "from aggregator.app.web.site import serve_command;"
        f"sys.exit(serve_command(load_config(Path({str(config_path)!r})), Path({str(db)!r}),"
        f" Path({str(out)!r}), '127.0.0.1', 0))"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode()
    if "serving" not in line:
        proc.kill()
        raise AssertionError(line + proc.stderr.read().decode())
    return proc, line.split("on ", 1)[1].split()[0]
