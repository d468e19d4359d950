"""Publishing to object storage: `--out s3://bucket/prefix`.

The run publishes into a local staging folder as usual (aggregator/publish/outputs.py), then
this target copies that folder to the bucket:

- only the objects whose bytes changed (the local MD5 against the bucket's ETag, which S3
  and its compatibles set to the MD5 of a single-part upload), so a CDN's caches stay warm;
- the per-event files and filtered feeds first, then calendar.ics, events.json and index.html
  last, and objects of events gone deleted only after those: a reader who fetches the new
  page finds every file it links to, and one still holding the old page finds the old files;
- each object with its Content-Type and Cache-Control (the feeds are re-read every few
  minutes; a calendar app polls, a CDN may keep them 5 minutes).

Endpoint and credentials come from the standard AWS settings that boto3 reads (AWS_ENDPOINT_URL
or AWS_ENDPOINT_URL_S3 for Cloudflare R2, GCS interoperability or MinIO; AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_PROFILE). `check()` proves the bucket is reachable
and writable-looking before a run fetches anything.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.errors import LocationError
from aggregator.store.locator import url_scheme

log = logging.getLogger(__name__)

# Published last, in this order: the files that point at all the others.
LAST = ("calendar.ics", "events.json", "index.html")
# What goes to the bucket from the staging folder (not the outbox, a database or temp files).
PUBLISHED_SUFFIXES = {".ics", ".json", ".html", ".css", ".js", ".svg", ".png", ".ico", ".xml", ".txt", ".webmanifest"}
CONTENT_TYPES = {
    ".ics": "text/calendar; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
}
FEED_CACHE = "public, max-age=300"  # the feeds and the page: a CDN and calendar apps re-read them often
FILE_CACHE = "public, max-age=3600"  # one event's download, a static asset


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def cache_control(relative: str) -> str:
    return FEED_CACHE if "/" not in relative or relative.startswith("feeds/") else FILE_CACHE


@dataclass(frozen=True)
class Bucket:
    """An s3://bucket/prefix output."""

    name: str
    prefix: str = ""  # "" or "some/prefix/" (always ending in "/")

    def __str__(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    @property
    def local_dir(self) -> Path:
        """The staging folder a run publishes into before copying to the bucket."""
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "massage-events"
        return base / ("s3-" + hashlib.sha256(str(self).encode()).hexdigest()[:12])

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def client(self):
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.client("s3", config=BotoConfig(connect_timeout=5, read_timeout=30,
                                                    retries={"max_attempts": 3, "mode": "standard"}))

    def check(self) -> None:
        """Refuse, with the reason, a bucket that cannot be reached or used (before any fetch)."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self.client().head_bucket(Bucket=self.name)
        except NoCredentialsError:
            raise LocationError(f"--out {self}: no credentials for the bucket; set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)") from None
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                raise LocationError(f"--out {self}: there is no bucket {self.name!r} at "
                                    f"{_endpoint()}; create it, or check AWS_ENDPOINT_URL") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise LocationError(f"--out {self}: access to bucket {self.name!r} is denied; check the "
                                    "credentials and the bucket's policy") from None
            raise LocationError(f"--out {self}: the bucket answered {code or e}") from None
        except BotoCoreError as e:
            raise LocationError(f"--out {self}: cannot reach the object store at {_endpoint()} ({e}); "
                                "check AWS_ENDPOINT_URL and the network") from None

    def publish(self, folder: Path) -> "BucketReport":
        """Copy `folder`'s published files to the bucket: changed ones only, the index files last,
        then delete the objects no longer published."""
        client = self.client()
        remote = self._listing(client)
        local = dict(_published_files(Path(folder)))
        report = BucketReport(bucket=str(self))
        order = sorted((r for r in local if r not in LAST), key=lambda r: (r.count("/") == 0, r))
        order += [r for r in LAST if r in local]
        for relative in order:
            data = local[relative].read_bytes()
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if remote.get(self.key(relative)) == md5:
                report.unchanged += 1
                continue
            answer = client.put_object(Bucket=self.name, Key=self.key(relative), Body=data,
                                       ContentType=content_type(relative), CacheControl=cache_control(relative))
            etag = str(answer.get("ETag", "")).strip('"')
            if etag and etag != md5:
                log.warning("%s: the store's ETag for %s is %s, not the MD5 %s of what was sent", self,
                            relative, etag, md5)
            report.uploaded.append(relative)
        wanted = {self.key(r) for r in local}
        stale = [k for k in remote if k not in wanted and _ours(k[len(self.prefix):])]
        for start in range(0, len(stale), 1000):
            chunk = stale[start:start + 1000]
            client.delete_objects(Bucket=self.name, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        report.deleted = len(stale)
        return report

    def _listing(self, client) -> dict[str, str]:
        """key -> ETag (quotes stripped) of every object under the prefix."""
        found: dict[str, str] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                found[item["Key"]] = str(item.get("ETag", "")).strip('"')
        return found


@dataclass
class BucketReport:
    bucket: str
    uploaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: int = 0

    def summary(self) -> str:
        return (f"{self.bucket}: {len(self.uploaded)} objects uploaded, {self.unchanged} unchanged, "
                f"{self.deleted} deleted")


def _ours(relative: str) -> bool:
    return Path(relative).suffix.lower() in PUBLISHED_SUFFIXES


def _published_files(folder: Path):
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        if relative.split("/")[0] == "outbox" or not _ours(relative):
            continue
        yield relative, path


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"


def as_output(value: "Bucket | str | os.PathLike[str]") -> "Bucket | Path":
    """Read an --out value: a folder, or s3://bucket/prefix. Any other URL scheme is refused."""
    if isinstance(value, (Bucket, Path)):
        return value
    text = os.fspath(value).strip() if isinstance(value, os.PathLike) else str(value).strip()
    if not text:
        raise LocationError("--out is empty; give a folder or s3://bucket/prefix")
    scheme = url_scheme(text)
    if scheme is None:
        return Path(text)
    if scheme == "file":
        return Path(urlsplit(text).path)
    if scheme in ("s3", "s3a"):
        parts = urlsplit(text)
        if not parts.netloc:
            raise LocationError(f"--out {text}: name the bucket, as in s3://my-bucket/calendar")
        prefix = parts.path.strip("/")
        return Bucket(parts.netloc, prefix + "/" if prefix else "")
    raise LocationError(f'--out {text}: "{scheme}:" is not somewhere massage-events can publish; give a folder '
                        "or s3://bucket/prefix (R2, GCS and MinIO through AWS_ENDPOINT_URL)")
