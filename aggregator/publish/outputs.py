"""The output folder, published all or nothing.

A reader (a browser, a calendar app, a static host) must never see calendar.ics from this run
beside index.html from the last, nor a page linking to a per-event file that is not there. So
`publish` works in three steps:

1. stage: every file whose bytes changed is written under `.staging-<pid>-<token>/` in the output
   folder (same file system, so the switch is a rename). A failure here (a full disk, a folder
   we may not write) removes the staging folder: nothing published has changed.
2. journal: `.publish-journal.json` lists the renames and removals, written atomically. From
   this moment the new set is complete on disk, and the switch is certain to happen.
3. switch: rename the staged files into place in a fixed order (per-event files and feeds
   first, the page last, so nothing ever links to a file not yet there; a first publish moves
   the folder of per-event files whole), remove the downloads of events gone, then the journal
   and the staging folder.

A run killed during 3 leaves the journal: the next run's `repair` finishes the switch before
anything else. A run killed during 1 leaves a staging folder without a journal: `repair`
removes it, and the old set is whole. Every single file is also replaced atomically
(rename), so no reader ever sees half a file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from aggregator.config.settings import Config
from aggregator.errors import OutputError
from aggregator.model import Event
from aggregator.publish.fragments import Fragments

log = logging.getLogger(__name__)

JOURNAL = ".publish-journal.json"
STAGING_PREFIX = ".staging-"
# The order of the switch: downloads first, the page that links to them last.
_LAST = ("events.json", "calendar.ics", "index.html")
_EVENT_DIR = "event"  # the per-event downloads (feeds.event_ics_path)


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
    if durable:
        _fsync_dir(path.parent)


def clean_stale_temp_files(out_dir: Path) -> int:
    """Remove temp files a killed run left behind."""
    removed = 0
    if out_dir.is_dir():
        for tmp in out_dir.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def repair(out_dir: Path) -> None:
    """Leave the output folder as one whole set: finish a switch a killed run started (its
    journal), drop staging folders no live process is filling, and remove stray temp files."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return
    journal = out_dir / JOURNAL
    try:
        if journal.exists():
            plan = json.loads(journal.read_text())
            log.warning("the last publish to %s was interrupted while switching files; finishing it", out_dir)
            _switch(out_dir, plan)
        for staging in out_dir.glob(STAGING_PREFIX + "*"):
            if not _alive(staging.name):
                shutil.rmtree(staging, ignore_errors=True)
        clean_stale_temp_files(out_dir)
    except OSError as error:
        raise _output_error(error, out_dir) from None
    except (ValueError, KeyError, TypeError):  # a journal a power cut left unreadable: it never took effect
        log.warning("ignoring the unreadable publish journal %s; the next publish rewrites every file", journal)
        journal.unlink(missing_ok=True)


def publish(out_dir: Path, config: Config, events: Sequence[Event], generated: datetime, *,
            fragments: Fragments | None = None) -> list[Path]:
    """Write calendar.ics, events.json, index.html, the declared filtered feeds and one .ics per
    event (the page's download links, for a static host), all or nothing (see the module doc).
    A file whose bytes are unchanged is left alone, so a static host or CDN keeps its caches;
    downloads of events gone are removed. A full disk or a folder we may not write raises
    OutputError, with the files already published left as they were.
    `fragments`: pieces of events rendered by an earlier publish, reused when an event is unchanged."""
    from aggregator.publish import html as publish_html
    from aggregator.publish import ics as publish_ics
    from aggregator.publish import json as publish_json

    out_dir = Path(out_dir)
    names = {s.id: (s.name or s.id) for s in config.sources}
    main = [
        ("calendar.ics", publish_ics.render_calendar(events, config.calendar, source_names=names,
                                                     fragments=fragments)),
        ("events.json", publish_json.render_json(events, generated, fragments=fragments)),
        ("index.html", publish_html.render_page(events, config, generated, fragments=fragments)),
    ]
    files = main + publish_ics.static_feeds(config, events, fragments=fragments)
    per_event = publish_ics.event_files_from(main[0][1])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        repair(out_dir)
        staging = out_dir / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            moves = _stage(out_dir, staging, per_event, files)
            keep = {name for name, _ in per_event}
            event_dir = out_dir / "event"
            removes = sorted(f"event/{old.name}" for old in event_dir.glob("*.ics")
                             if f"event/{old.name}" not in keep) if event_dir.is_dir() else []
            if not moves and not removes:  # every file is already what it should be: nothing to switch
                return [out_dir / name for name, _ in files]
            plan = {"staging": staging.name, "moves": moves, "removes": removes}
            write_atomic(out_dir / JOURNAL, json.dumps(plan).encode())  # the point of no return
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _switch(out_dir, plan)
    except OSError as error:
        raise _output_error(error, out_dir) from None
    return [out_dir / name for name, _ in files]


def _stage(out_dir: Path, staging: Path, per_event, files) -> list[str]:
    """Write every changed file under `staging`; return their names in switch order. When none
    changed, `staging` is not even created (a publish of what is published writes nothing)."""
    moves: list[str] = []
    rest = [f for f in files if f[0] not in _LAST] + \
        sorted((f for f in files if f[0] in _LAST), key=lambda f: _LAST.index(f[0]))
    # Paths as strings: thousands of pathlib joins cost more than the files' own checks.
    out, into = str(out_dir), str(staging)
    # A first publish (no event/ folder yet): every download is new, none needs comparing, and the
    # staged folder is switched in by one rename of the folder rather than one per download.
    whole = bool(per_event) and not os.path.lexists(os.path.join(out, _EVENT_DIR))
    changed = list(per_event) if whole else \
        [(name, data) for name, data in per_event if not _same_bytes(os.path.join(out, name), data)]
    changed += [(name, data) for name, data in rest if not _same_bytes(os.path.join(out, name), data)]
    if not changed:
        return moves
    if whole:
        moves.append(_EVENT_DIR)
    staging.mkdir()
    folders = {into}
    for name, data in changed:
        target = os.path.join(into, name)
        folder = os.path.dirname(target)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        # Unbuffered, and fchmod on the open file: thousands of small files, so each syscall saved
        # (a buffer's seek and tty probe, a path lookup for chmod) counts.
        with open(target, "wb", buffering=0) as f:
            view = memoryview(data)
            while view:
                written = f.write(view)
                if not written:  # a regular file takes some bytes or raises: never loop on nothing
                    raise OSError(errno.EIO, "the file system accepted no bytes", target)
                view = view[written:]
            os.fchmod(f.fileno(), 0o644)
            # Per-event downloads are many and small: a power cut may lose one, and the next run
            # (which republishes, since this one never recorded its publish) writes it again.
            if name in _LAST or not name.startswith("event/"):
                os.fsync(f.fileno())
        if not (whole and name.startswith(_EVENT_DIR + "/")):
            moves.append(name)
    _fsync_dir(staging)
    return moves


def _switch(out_dir: Path, plan: dict) -> None:
    """Rename the staged files (or the staged event/ folder) into place in the journal's order,
    remove the downloads of events gone, then the journal and the staging folder. Safe to run
    again after a kill at any point."""
    staging = out_dir / plan["staging"]
    out, into = str(out_dir), str(staging)
    folders = set()
    for name in plan["moves"]:
        source, target = os.path.join(into, name), os.path.join(out, name)
        folder = os.path.dirname(target)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        try:
            os.replace(source, target)
        except FileNotFoundError:  # fine when the staged file was moved before a kill
            if os.path.exists(source):
                raise
    for name in plan["removes"]:
        try:
            os.unlink(os.path.join(out, name))
        except FileNotFoundError:
            pass
    _fsync_dir(out_dir)
    (out_dir / JOURNAL).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def _alive(staging_name: str) -> bool:
    """Whether the process that named this staging folder is still running (and filling it)."""
    try:
        pid = int(staging_name[len(STAGING_PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # ours, from an earlier publish in this process that was cut short
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _output_error(error: OSError, out_dir: Path) -> OutputError:
    where = error.filename or out_dir
    kept = "the files already published were left as they were"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"cannot publish to {out_dir}: the disk is full (no space left while writing "
                           f"{where}); {kept}. Free some space and run again")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "the file system is read-only" if error.errno == errno.EROFS else "permission denied"
        return OutputError(f"cannot publish to {out_dir}: {what} ({where}); {kept}. Make the folder "
                           "writable by the user running massage-events, or choose another --out")
    return OutputError(f"cannot publish to {out_dir}: {error.strerror or error} ({where}); {kept}")


def _fsync_dir(path: Path) -> None:
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _same_bytes(path: str, data: bytes) -> bool:
    """Whether the file at `path` holds exactly `data` (a short read only makes it rewrite)."""
    try:
        if os.stat(path).st_size != len(data):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, len(data) + 1) == data
        finally:
            os.close(fd)
    except OSError:
        return False
