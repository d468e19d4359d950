"""The output folder: every file written tmp-in-same-dir -> fsync -> os.replace -> fsync(dir),
so a reader (or a kill -9) only ever sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from aggregator.model import Event
from aggregator.publish.fragments import Fragments
from aggregator.config.settings import Config


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` atomically; durable=False skips the fsyncs (still atomic
    against a crash of this process, not against a power cut: for files a rerun rewrites)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
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


def publish(out_dir: Path, config: Config, events: Sequence[Event], generated: datetime, *,
            fragments: Fragments | None = None) -> list[Path]:
    """Write calendar.ics, events.json, index.html, the declared filtered feeds and one .ics per
    event (the page's download links, for a static host). A file whose bytes are unchanged is
    left alone, so a static host or CDN keeps its caches; downloads of events gone are removed.
    `fragments`: pieces of events rendered by an earlier publish, reused when an event is unchanged."""
    from aggregator.publish import html as publish_html
    from aggregator.publish import ics as publish_ics
    from aggregator.publish import json as publish_json

    out_dir = Path(out_dir)
    clean_stale_temp_files(out_dir)
    names = {s.id: (s.name or s.id) for s in config.sources}
    main = [
        ("calendar.ics", publish_ics.render_calendar(events, config.calendar, source_names=names,
                                                     fragments=fragments)),
        ("events.json", publish_json.render_json(events, generated, fragments=fragments)),
        ("index.html", publish_html.render_page(events, config, generated, fragments=fragments)),
    ]
    files = main + publish_ics.static_feeds(config, events, fragments=fragments)
    per_event = publish_ics.event_files_from(main[0][1])
    for name, data in files:
        path = out_dir / name
        if not _same_bytes(path, data):
            write_atomic(path, data)
    for name, data in per_event:  # thousands of small downloads: a rerun rewrites any lost one
        path = out_dir / name
        if not _same_bytes(path, data):
            write_atomic(path, data, durable=False)
    keep = {out_dir / name for name, _ in per_event}
    event_dir = out_dir / "event"
    if event_dir.is_dir():
        for old in event_dir.glob("*.ics"):
            if old not in keep:
                old.unlink(missing_ok=True)
    return [out_dir / name for name, _ in files]


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False
