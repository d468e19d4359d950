"""What a run did, per source, and the summary printed at its end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass
class SourceResult:
    source_id: str
    ok: bool
    records: int = 0  # records the source holds after this run (read now, or kept from before)
    skipped: int = 0
    unchanged: bool = False  # not re-parsed: the source answered "not modified"
    deferred: bool = False  # not fetched this run: backing off after failures
    changed: bool = False  # its stored records changed this run
    error_class: str | None = None
    error_reason: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    skipped_reasons: Counter = field(default_factory=Counter)


@dataclass
class RunReport:
    started: datetime
    finished: datetime | None = None
    sources: list[SourceResult] = field(default_factory=list)
    events_published: int = 0
    outputs: list[Path] = field(default_factory=list)
    republished: bool = True  # False: nothing changed, the published files were left as they were
    withdrawn: dict[str, int] = field(default_factory=dict)  # source gone from sources.yaml -> records dropped

    @property
    def failed(self) -> list[SourceResult]:
        return [s for s in self.sources if not s.ok and not s.deferred]

    @property
    def ok(self) -> list[SourceResult]:
        return [s for s in self.sources if s.ok]

    def failures_by_class(self) -> Counter:
        return Counter(s.error_class for s in self.failed)

    def summary(self) -> str:
        lines = []
        seconds = (self.finished - self.started).total_seconds() if self.finished else 0.0
        deferred = [s for s in self.sources if s.deferred]
        unchanged = sum(1 for s in self.ok if s.unchanged)
        head = f"{len(self.ok)} sources ok"
        if unchanged:
            head += f" ({unchanged} unchanged)"
        head += f", {len(self.failed)} failed"
        if deferred:
            head += f", {len(deferred)} backing off"
        lines.append(f"{head}; {self.events_published} events published in {seconds:.1f}s")
        for s in self.failed:
            kept = f"; kept its {s.records} earlier records" if s.records else ""
            lines.append(f"  FAILED {s.source_id} [{s.error_reason}]: {s.error_message}{kept}")
        for s in self.sources:
            for warning in s.warnings:
                lines.append(f"  warning {s.source_id}: {warning}")
        for source_id, records in sorted(self.withdrawn.items()):
            lines.append(f"  withdrawn {source_id}: no longer in sources.yaml (or disabled); its {records} "
                         "records are no longer published")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "events_published": self.events_published,
            "withdrawn": dict(self.withdrawn),
            "sources": [
                {"source": s.source_id, "ok": s.ok, "records": s.records, "skipped": s.skipped,
                 "unchanged": s.unchanged, "deferred": s.deferred, "error_class": s.error_class,
                 "error_reason": s.error_reason, "error_message": s.error_message,
                 "http_status": s.http_status, "seconds": round(s.seconds, 3), "warnings": s.warnings}
                for s in self.sources
            ],
        }


@dataclass
class CommandReport:
    """What a command has to tell its user, and its exit status. Domain code fills it in; only the
    command line prints it, so the same report serves a test, the web app or a script."""

    lines: list[str] = field(default_factory=list)
    exit_code: int = 0

    def say(self, text: str) -> None:
        self.lines.append(text)

    def done(self, exit_code: int) -> CommandReport:
        self.exit_code = exit_code
        return self

    def text(self) -> str:
        return "\n".join(self.lines)
