"""The output folder: every file written tmp-in-same-dir -> fsync -> os.replace -> fsync(dir),
so a reader (or a kill -9) only ever sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from aggregator.model import Event


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clean_stale_temp_files(out_dir: Path) -> int:
    """Remove temp files a killed run left behind."""
    removed = 0
    if out_dir.is_dir():
        for tmp in out_dir.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def publish(out_dir: Path, config, events: Sequence[Event], generated: datetime) -> list[Path]:
    """Write calendar.ics, events.json, index.html and the declared filtered feeds."""
    from aggregator import publish_html, publish_ics, publish_json

    out_dir = Path(out_dir)
    clean_stale_temp_files(out_dir)
    files: list[tuple[str, bytes]] = [
        ("calendar.ics", publish_ics.render_calendar(events, config.calendar)),
        ("events.json", publish_json.render_json(events, generated)),
        ("index.html", publish_html.render_page(events, config, generated)),
    ]
    try:
        from aggregator import feeds
    except ImportError:  # filtered feeds arrive with their feature
        feeds = None
    if feeds is not None and hasattr(feeds, "static_feeds"):
        files += feeds.static_feeds(config, events)
    written = []
    for name, data in files:
        path = out_dir / name
        write_atomic(path, data)
        written.append(path)
    return written
