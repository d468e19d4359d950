"""The requests session under the fetcher: the HTTP cache (requests-cache, SQLite) and the
transport adapter that reads every body itself, decoded, capped and within the deadline.

    requests_cache.CachedSession   ETag / Last-Modified revalidation persisted in SQLite
    LimitedAdapter                 reads the DECODED body under the size cap and the deadline;
                                   refuses chained encodings; nothing is cached when it raises
    Guarded*Connection (guard.py)  resolve within the deadline, connect, check the address
"""

from __future__ import annotations

import copy
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from aggregator.errors import FetchRefused, SourceError
from aggregator.collect.fetch.guard import GuardedHTTPPool, GuardedHTTPSPool
from aggregator.collect.fetch.state import WATCHDOG, current_context
from aggregator.collect.fetch.status import body_error, deadline_error, size_text

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ROBOTS_TTL = 24 * 3600  # seconds a robots.txt is trusted, in memory and in the HTTP cache
FORCE_REFRESH_AFTER = timedelta(hours=12)  # an unconditional fetch at least this often
_CHUNK = 64 * 1024


def make_session(cache_path: Path | None) -> requests.Session:
    """A plain session, or (with a path) a requests-cache session on that SQLite file.

    The cache is disposable: a file SQLite cannot read is moved aside (with a warning naming
    it) and a new cache is started, so a damaged cache costs one run of full downloads."""
    if cache_path is None:
        return requests.Session()
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    problem = _unreadable(cache_path)
    if problem is not None:
        _move_aside(cache_path, problem)
    try:
        return _cached_session(cache_path)
    except sqlite3.DatabaseError as error:  # damaged in a way the first look did not catch
        _move_aside(cache_path, str(error))
        return _cached_session(cache_path)


def _unreadable(path: Path) -> str | None:
    """Why SQLite cannot read the cache file at `path` ("file is not a database"), or None."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as error:
        return str(error)
    try:
        db.execute("SELECT name FROM sqlite_master").fetchall()
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            db.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # walks every page of the table
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            return None  # another run is writing it: readable, just busy
        return str(error)
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        db.close()
    return None


def _move_aside(path: Path, problem: str) -> None:
    """Rename the cache (and its -wal/-shm files) to `<name>.broken-<time>`; keep it for a look."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = path.with_name(path.name + suffix)
        try:
            part.replace(aside.with_name(aside.name + suffix))
        except FileNotFoundError:
            pass
        except OSError:
            part.unlink(missing_ok=True)  # cannot rename it: the cache is disposable anyway
    log.warning("the HTTP cache %s cannot be read (%s); it was moved to %s and a new one is started "
                "(every source is downloaded in full this run)", path, problem, aside.name)


def _cached_session(cache_path: Path) -> requests.Session:
    # requests-cache imports every backend whose library is installed, and boto3 (here for --out
    # s3://) makes its DynamoDB backend cost ~0.1 s CPU per process; we only ever use SQLite.
    sys.modules.setdefault("requests_cache.backends.dynamodb", None)  # None: that import fails, quietly
    from requests_cache import CachedSession

    # Every response is stored but stale at once (1 ms): each run revalidates (If-None-Match /
    # If-Modified-Since), and a body without validators is re-fetched and compared by hash.
    session = CachedSession(str(cache_path), backend="sqlite", expire_after=timedelta(milliseconds=1),
                            cache_control=False,
                            allowable_codes=(200,), allowable_methods=("GET",), wal=True,
                            urls_expire_after={"*/robots.txt": ROBOTS_TTL})
    _one_at_a_time(session.cache)
    session.cache.get_response = _remembering(session.cache.get_response)
    return session


class LimitedAdapter(HTTPAdapter):
    """Reads every body itself: decoded, capped, within the source's deadline.

    Mounted beneath requests-cache, so a refused body raises before anything is cached.
    """

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        """The whole exchange (connect, status line, headers, body) ends at the source's
        deadline: a watchdog shuts the request's sockets then, whatever the peer is doing."""
        ctx = current_context()
        if ctx is None:
            return self._send(request, None, DEFAULT_MAX_BYTES, timeout=timeout, verify=verify, cert=cert,
                              proxies=proxies)
        ctx.on_request()
        entry = WATCHDOG.arm(ctx.state.deadline_at, ctx.expire)
        try:
            return self._send(request, ctx, ctx.max_bytes, timeout=timeout, verify=verify, cert=cert,
                              proxies=proxies)
        except SourceError:
            raise
        except Exception:
            if ctx.expired.is_set():  # whatever broke, it broke because the deadline shut it
                raise deadline_error(request.url, ctx.state.deadline) from None
            raise
        finally:
            WATCHDOG.disarm(entry)

    def _send(self, request, ctx, max_bytes: int, **kwargs):
        response = super().send(request, stream=True, **kwargs)
        url = request.url
        raw = response.raw
        expired = ctx.expired.is_set if ctx is not None else (lambda: False)
        if expired():
            _discard(raw)
            raise deadline_error(url, ctx.state.deadline)
        codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",")
                   if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1:
            _discard(raw)
            raise FetchRefused(f"{url} is compressed {len(codings)} times over ({', '.join(codings)}), "
                               "a decompression-bomb pattern; refused", reason="too_large",
                               http_status=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused(f"{url} is larger than {size_text(max_bytes)} once decompressed; refused "
                                       "(raise fetch.max_bytes if it is genuine)", reason="too_large",
                                       http_status=response.status_code)
                chunks.append(chunk)
                if expired():
                    raise deadline_error(url, ctx.state.deadline)
        except SourceError:
            _discard(raw)
            raise
        except Exception as e:  # urllib3 errors while reading the body
            _discard(raw)
            if expired():
                raise deadline_error(url, ctx.state.deadline) from None
            raise body_error(url, e) from None
        if expired():
            _discard(raw)
            raise deadline_error(url, ctx.state.deadline)
        response._content = b"".join(chunks)
        response._content_consumed = True
        raw.release_conn()
        return response


def _one_at_a_time(cache) -> None:
    """Make every use of requests-cache's SQLite store take one lock.

    Its SQLite backend shares one connection among threads and reads it without a lock; a read
    beside another thread's write breaks either ("no more rows available", "not an error",
    even a crash: requests-cache#820, #1008). A write that still fails (disk full, a locked
    file) costs only the cache: the response in hand is used, and is fetched in full next run."""
    lock = threading.RLock()
    get, save, delete = cache.get_response, cache.save_response, cache.delete

    def get_response(key, default=None):
        with lock:
            return get(key, default)

    def save_response(response, cache_key=None, expires=None):
        try:
            with lock:
                save(response, cache_key, expires)
        except sqlite3.Error as error:
            log.warning("the HTTP cache could not keep %s (%s: %s); it is fetched in full next time",
                        getattr(response, "url", "a response"), type(error).__name__, error)

    def delete_entries(*keys, **conditions):
        with lock:
            return delete(*keys, **conditions)

    cache.get_response, cache.save_response, cache.delete = get_response, save_response, delete_entries


def _remembering(get_response: Callable) -> Callable:
    """Wrap the cache's get_response: note the stored response for the request in flight (its body
    is what "unchanged" is judged against), and hide the validators of one downloaded more than
    12 h ago, so requests-cache sends that request unconditionally (docs/reliability.md A4)."""

    def wrapped(key, default=None):
        try:
            cached = get_response(key, default)
        except Exception:  # an unreadable cache entry is a cache miss
            log.debug("unreadable cache entry %s", key, exc_info=True)
            return default
        ctx = current_context()
        if cached is None or ctx is None:
            return cached
        ctx.previous = cached
        if _older_than(cached, FORCE_REFRESH_AFTER):
            stale = copy.copy(cached)
            stale.headers = requests.structures.CaseInsensitiveDict(
                {k: v for k, v in cached.headers.items() if k.lower() not in ("etag", "last-modified")})
            return stale
        return cached

    return wrapped


def _discard(raw) -> None:
    """Close a response's connection for good (never back to the pool half-read)."""
    try:
        raw.close()
    except Exception:
        pass
    try:
        raw.release_conn()
    except Exception:
        pass


def _older_than(cached, age: timedelta) -> bool:
    created = getattr(cached, "created_at", None)
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - created >= age
