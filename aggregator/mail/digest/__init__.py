"""The weekly email digest: choose each subscriber's events, render them, send exactly once.

Per active subscriber and digest period the digest lists the events of the coming
`digest.days_ahead` days matching their regions/tags, grouped by day (calendar time
zone), plus what changed since *their* last digest: new events, rescheduled ones
(start moved), cancelled ones. "Since" is measured against the snapshot of published
events taken when that earlier period was sent (table digest_snapshots).

A period is named by the local date of its scheduled slot (digest.day at digest.time
in calendar.timezone), e.g. "2026-11-23".

Exactly once (docs/reliability.md C7). The ledger `deliveries` has one row per (subscriber,
period): `queued` -> `sending` (committed before the message is handed to SMTP) ->
`sent` (committed right after the 250), or `deferred` (4xx, disconnect, timeout: tried
again after a back-off, in this run and in later runs of the same period), `failed`
(5xx for this recipient: counted as a bounce, never retried; 3 bounces suspend the
address) or `skipped` (nothing matched and the subscriber did not ask for empty digests).

On restart a row still `sending` means the process died between marking it and
recording the server's answer. We send it again, with the same deterministic
Message-ID: the window in which the server already took the message (between its
250 and our commit, microseconds) is far smaller than the window in which it did
not (the whole DATA transfer), so resending loses nobody, and a receiver that
already has the message sees the same Message-ID (Gmail collapses such duplicates).
Only one process sends for a database at a time (the `digest` lease), so a `sending`
row found by the lease holder is always a dead process's.
"""

from aggregator.mail.digest.command import (
    SAMPLE_ADDRESS,
    digest_report,
    render_preview,
    status_lines,
    write_preview,
)
from aggregator.mail.digest.compose import (
    Changes,
    DigestContent,
    Item,
    build_message,
    confirmation_message,
    environment,
    message_id,
    select,
    subject_for,
    when_text,
)
from aggregator.mail.digest.ledger import period_complete
from aggregator.mail.digest.period import WEEKDAYS, calendar_zone, period_of, period_slot, slot_time
from aggregator.mail.digest.send import (
    LEASE_NAME,
    LEASE_TTL,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    SendReport,
    send_due,
    send_period,
)

__all__ = [
    "SAMPLE_ADDRESS", "digest_report", "render_preview", "status_lines", "write_preview",
    "Changes", "DigestContent", "Item", "build_message", "confirmation_message", "environment", "message_id",
    "select", "subject_for", "when_text", "period_complete", "WEEKDAYS", "calendar_zone", "period_of",
    "period_slot", "slot_time", "LEASE_NAME", "LEASE_TTL", "MAX_ATTEMPTS", "RETRY_DELAYS", "SendReport",
    "send_due", "send_period",
]
