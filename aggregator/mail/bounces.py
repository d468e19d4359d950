"""Returned mail: bounces that arrive after the digest was sent, read from a mailbox.

A relay accepts the digest (250) and the receiving server refuses it later, so most bounces come
back as mail to the digest's sender address. `massage-events bounces --maildir PATH` (or --mbox)
reads that mailbox and classifies each message:

    hard   a permanent failure for recipient X:
             RFC 3464 report (multipart/report; report-type=delivery-status) with
               Action: failed and Status: 5.x.x                     (Postfix, Sendmail, Gmail, Exchange...)
             X-Failed-Recipients: X and a 5xx / 5.x.x in the text   (Exim)
             a well-known prose bounce with a 5.x.x code             (qmail, old Gmail, Outlook NDRs...)
           -> subscribers.record_bounce for X (three suspend the subscriber)
    soft   a temporary problem (4.x.x, "delayed", Action: delayed): reported, not counted
    none   anything else (auto-replies, "Out of office", human replies, success reports): ignored

Each message is recorded in the `bounce_messages` ledger (its Message-ID, or a hash of it), in the
same transaction as its bounces, so reading the same mailbox again counts nothing twice, even after
a crash. The mailbox is only read: no file is moved, renamed, flagged or deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path

from aggregator.report import CommandReport
from aggregator.errors import BounceMailboxError, SourceError
from aggregator.mail import subscribers
from aggregator.config.settings import Config
from sources.maildir import message_files
from sources.parse.mail import (
    MAX_MESSAGE_BYTES,
    _header,
    decompress_if_gzipped,
    is_mbox,
    looks_like_message,
    message_date,
    message_parts,
    parse_message,
    split_mbox,
)

log = logging.getLogger(__name__)

HARD, SOFT, NONE = "hard", "soft", "none"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one returned message is: its kind, the recipients it is about, and why we think so."""

    kind: str
    recipients: tuple[str, ...] = ()
    reason: str = ""


# -- classifying one message -------------------------------------------------------------------

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC_5XX = re.compile(r"(?<![\d.#-])(5[0-5]\d)(?:[ -]|$)", re.M)
_BASIC_4XX = re.compile(r"(?<![\d.#-])(4[2-5]\d)(?:[ -]|$)", re.M)
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SYSTEM_LOCAL = re.compile(r"^(mailer-daemon|postmaster|double-bounce|no-?reply|bounces?|abuse)$", re.I)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (subsystem|system)|microsoftexchange", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|returned mail|mail delivery failed|delivery failure|"
    r"failure notice|non[- ]?delivery|could not be delivered|delivery has failed|returned to sender|"
    r"delivery (?:incomplete|delayed)|warning: could not send|mail delivery (?:failed|problem)", re.I)
_DELAYED = re.compile(r"\bdelayed\b|will (?:continue|keep) (?:trying|to try)|not yet been delivered|"
                      r"temporar(?:y|ily)|will retry|still trying", re.I)
_PERMANENT = re.compile(r"permanent(?:ly)? (?:error|fail)|failed permanently|fatal error", re.I)
_VACATION = re.compile(r"out of (?:the )?office|vacation|away from (?:my|the) (?:desk|office)|auto(?:matic)?[- ]?reply|"
                       r"abwesenheit|absence|on leave", re.I)
# Phrases real bounces put just before the failed address (Gmail, Outlook/Exchange, qmail, Postfix prose).
_PROSE_RECIPIENT = [
    re.compile(r"delivery to the following recipients? failed permanently:\s*<?(" + _ADDRESS.pattern + ")", re.I),
    re.compile(r"(?:message|email) (?:wasn't|was not) delivered to <?(" + _ADDRESS.pattern + ")", re.I),
    re.compile(r"your message to <?(" + _ADDRESS.pattern + r")>? couldn't be delivered", re.I),
    re.compile(r"delivery has failed to these recipients or groups:\s*(?:[^\n<@]*<)?(" + _ADDRESS.pattern + ")", re.I),
    re.compile(r"following (?:address(?:\(es\)|es)?|recipients?) failed:\s*<?(" + _ADDRESS.pattern + ")", re.I),
    re.compile(r"^\s*<(" + _ADDRESS.pattern + r")>:", re.I | re.M),  # qmail, Postfix: "<x@y>: reason"
]


def _returned_parts(msg: Message) -> list[Message]:
    """The returned original: message/rfc822 parts and text/rfc822-headers parts, read as headers."""
    found = []
    for part in msg.walk():
        ctype = part.get_content_type().lower()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                found.append(payload[0])
        elif ctype == "text/rfc822-headers":
            found.append(parse_message(part.get_payload(decode=True) or b""))
    return found


def _prose(msg: Message) -> str:
    """The human-readable text of the message, without the returned original."""
    if not msg.is_multipart():
        return message_parts(msg)[0]
    texts = []
    for part in msg.get_payload():
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type().lower()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/delivery-status", "message/global-headers",
                     "message/global-delivery-status"):
            continue
        texts.append(_prose(part))
    return "\n".join(texts)


def _addresses(text: str) -> list[str]:
    return [a.strip(".") for a in _ADDRESS.findall(text or "")]


def _own(address: str, ignore: set[str]) -> bool:
    local = address.rpartition("@")[0]
    return address.casefold() in ignore or bool(_SYSTEM_LOCAL.match(local))


def _dsn_fields(msg: Message) -> list[Message] | None:
    """The per-recipient blocks of an RFC 3464 report, or None when the message is not one."""
    for part in msg.walk():
        if part.get_content_type().lower() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message) and
                        (block.get("Final-Recipient") or block.get("Original-Recipient"))]
            # An unparsed (e.g. base64-encoded) status part: read its blocks ourselves.
            text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
            blocks = [parse_message(b.strip().encode()) for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
            return [b for b in blocks if b.get("Final-Recipient") or b.get("Original-Recipient")]
    return None


def _recipient_of(block: Message) -> str | None:
    for name in ("Original-Recipient", "Final-Recipient"):  # the address we sent to comes first
        value = str(block.get(name) or "")
        kind, _, address = value.partition(";")
        if not address:
            address, kind = kind, "rfc822"
        if kind.strip().lower() in ("rfc822", "utf-8"):
            found = _addresses(address)
            if found:
                return found[0]
    return None


def _classify_dsn(blocks: list[Message]) -> Verdict:
    hard, soft, reasons = [], [], []
    for block in blocks:
        recipient = _recipient_of(block)
        action = str(block.get("Action") or "").strip().lower()
        status = str(block.get("Status") or "").strip()
        diagnostic = re.sub(r"\s+", " ", str(block.get("Diagnostic-Code") or "")).strip()
        code = _ENHANCED.search(status) or _ENHANCED.search(diagnostic)
        permanent = (code is not None and code.group(1) == "5") or (code is None and _BASIC_5XX.search(diagnostic))
        if action == "failed" and permanent:
            if recipient:
                hard.append(recipient)
            reasons.append(f"DSN failed {code.group(0) if code else diagnostic[:40]}")
        elif action in ("failed", "delayed"):
            if recipient:
                soft.append(recipient)
            reasons.append(f"DSN {action} {code.group(0) if code else ''}".strip())
    if hard:
        return Verdict(HARD, tuple(dict.fromkeys(hard)), "; ".join(reasons))
    if soft or reasons:
        return Verdict(SOFT, tuple(dict.fromkeys(soft)), "; ".join(reasons))
    return Verdict(NONE, (), "a delivery report without failures (delivered/relayed)")


def _code_kind(text: str) -> str | None:
    """HARD when the text carries a permanent code (5.x.x or 5xx), SOFT for temporary ones."""
    codes = {m.group(1) for m in _ENHANCED.finditer(text)}
    if "5" in codes or _BASIC_5XX.search(text):
        return HARD
    if "4" in codes or _BASIC_4XX.search(text):
        return SOFT
    return None


def classify(msg: Message, *, ignore: set[str] = frozenset()) -> Verdict:
    """What one message in the returned-mail mailbox is. `ignore`: our own addresses (never a recipient)."""
    ignore = {a.casefold() for a in ignore}
    blocks = _dsn_fields(msg)
    if blocks:
        return _classify_dsn(blocks)

    subject = _header(msg, "Subject")
    sender = _header(msg, "From")
    prose = _prose(msg)
    failed = [a for a in _addresses(_header(msg, "X-Failed-Recipients")) if not _own(a, ignore)]
    if failed:  # Exim, and others that copy its header
        kind = _code_kind(prose)
        if kind is None:
            kind = HARD if _PERMANENT.search(prose) else SOFT
        if kind == HARD and _DELAYED.search(subject):
            kind = SOFT
        return Verdict(kind, tuple(dict.fromkeys(failed)), f"X-Failed-Recipients, {kind} ({subject[:60]})")

    auto = _header(msg, "Auto-Submitted").lower()
    looks_bounce = bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))
    if not looks_bounce:
        if auto.startswith("auto-replied") or _header(msg, "X-Autoreply") or _VACATION.search(subject):
            return Verdict(NONE, (), "an automatic reply (out of office / vacation)")
        return Verdict(NONE, (), "not a bounce")

    kind = _code_kind(prose)
    if kind == HARD and _DELAYED.search(subject):
        kind = SOFT
    if kind is None:
        kind = SOFT if _DELAYED.search(prose + " " + subject) else None
    if kind is None:
        return Verdict(NONE, (), f"a delivery notice without an SMTP code ({subject[:60]})")
    recipients = []
    for pattern in _PROSE_RECIPIENT:
        recipients += [a.strip(".") for a in pattern.findall(prose) if not _own(a.strip("."), ignore)]
    if not recipients:  # the returned digest names its one recipient
        for original in _returned_parts(msg):
            recipients += [a for a in _addresses(_header(original, "To")) if not _own(a, ignore)]
    return Verdict(kind, tuple(dict.fromkeys(recipients)), f"prose bounce, {kind} ({subject[:60]})")


# -- reading a mailbox ----------------------------------------------------------------------------

def maildir_messages(folder: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each message in a Maildir folder, oldest first; files are only read."""
    if not folder.exists():
        raise BounceMailboxError(f"the Maildir {folder} does not exist; give --maildir the folder your MTA "
                                 "delivers the digest's returned mail to (the one holding cur/ and new/)")
    try:
        files = message_files(folder)
    except SourceError as e:
        raise BounceMailboxError(f"{e.message.replace('check path: in sources.yaml', 'check --maildir')}"
                                 .replace("point path: at", "point --maildir at")) from None
    for _, path, size in sorted(files):
        if size > MAX_MESSAGE_BYTES:
            log.warning("%s is larger than %d MiB; not read", path, MAX_MESSAGE_BYTES // (1024 * 1024))
            continue
        try:
            with open(path, "rb") as handle:
                yield path, handle.read()
        except FileNotFoundError:
            continue  # moved away (read by a mail client) while we listed: not an error
        except OSError as e:
            raise BounceMailboxError(f"{path} cannot be read ({e.strerror}); let massage-events read the "
                                     "Maildir's files") from None


def mbox_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each message in an mbox file (plain or gzipped) or a single .eml file."""
    if not path.exists():
        raise BounceMailboxError(f"the mbox {path} does not exist; give --mbox the file your MTA delivers "
                                 "the digest's returned mail to (e.g. /var/mail/USER)")
    if path.is_dir():
        raise BounceMailboxError(f"{path} is a folder, not an mbox file; for a Maildir use --maildir {path}")
    try:
        content = path.read_bytes()
    except OSError as e:
        raise BounceMailboxError(f"{path} cannot be read ({e.strerror}); let massage-events read it") from None
    if not content.strip():
        return
    try:
        content = decompress_if_gzipped(content, str(path))
    except SourceError as e:
        raise BounceMailboxError(e.message) from None
    if is_mbox(content):
        messages = split_mbox(content)
    elif looks_like_message(content):
        messages = [content]
    else:
        raise BounceMailboxError(f"{path} is not an mbox file (lines starting \"From \") or an email message; "
                                 "give --mbox the mailbox file, or --maildir for a Maildir folder")
    for index, raw in enumerate(messages, 1):
        yield f"{path} #{index}", raw


# -- recording -------------------------------------------------------------------------------------

def ledger_key(msg: Message, raw: bytes) -> str:
    message_id = (_header(msg, "Message-ID") or "").strip()
    if message_id:
        return message_id
    return "sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n").strip()).hexdigest()


def _subscriber(db, address: str):
    try:
        return subscribers.get(db, subscribers.normalize_address(address))
    except subscribers.InvalidAddress:
        return None


def digest_recipient(msg: Message, ignore: set[str]) -> list[str]:
    """The one To address of a returned message that we sent (its From is one of `ignore`): a digest
    goes to one subscriber, so a bounce naming only a forwarding target is still about them."""
    ours = {a.casefold() for a in ignore}
    for original in _returned_parts(msg):
        sender = _addresses(_header(original, "From"))
        to = _addresses(_header(original, "To"))
        if sender and sender[0].casefold() in ours and len(to) == 1:
            return to
    return []


@dataclass
class BounceReport:
    messages: int = 0
    already: int = 0
    hard: int = 0
    soft: int = 0
    not_bounces: int = 0
    unreadable: int = 0
    counted: list[str] = field(default_factory=list)      # subscribers given one more bounce
    same_incident: list[str] = field(default_factory=list)  # bounced again within a day: not counted twice
    suspended: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)      # hard-bounced addresses not on the list
    no_recipient: int = 0                                 # hard bounces naming no address we could read

    def summary(self) -> str:
        lines = [f"bounces: {self.messages} messages read, {self.already} already read before"]
        lines.append(f"  {self.hard} hard bounces" + (
            f" (counted for {', '.join(self.counted)})" if self.counted else ""))
        if self.same_incident:
            lines.append("  not counted again (a bounce counted less than a day before): " + ", ".join(self.same_incident))
        lines.append("  subscribers suspended: " + (", ".join(self.suspended) if self.suspended else "none"))
        lines.append(f"  {self.soft} soft bounces ignored (temporary: the next digest is tried as usual)")
        lines.append(f"  {self.not_bounces} not bounces (auto-replies and other mail) ignored")
        if self.unknown:
            lines.append("  unknown recipients (not on the list): " + ", ".join(self.unknown))
        if self.no_recipient:
            lines.append(f"  {self.no_recipient} hard bounces name no address we could read")
        if self.unreadable:
            lines.append(f"  {self.unreadable} messages could not be read")
        return "\n".join(lines)


def bounced_at(msg: Message, now: datetime) -> datetime:
    """When the message bounced: its Date (the reporting server's clock), never later than
    `now`; `now` when it has none we can read. A mailbox read once a month still counts its
    weekly bounces a week apart (subscribers.BOUNCE_STALE_AFTER)."""
    when = message_date(msg)
    return now if when is None else min(when, now)


def process(store, messages: Iterator[tuple[str, bytes]], *, ignore: set[str] = frozenset(),
            now: datetime | None = None) -> BounceReport:
    """Classify each message and count each hard bounce once (the ledger makes a re-read a no-op)."""
    now = now or datetime.now(timezone.utc)
    report = BounceReport()
    for where, raw in messages:
        report.messages += 1
        try:
            msg = parse_message(raw)
            key = ledger_key(msg, raw)
            verdict = classify(msg, ignore=ignore)
        except Exception as e:  # noqa: BLE001 - one broken message never stops the mailbox
            log.warning("%s cannot be read as an email message: %s", where, e)
            report.unreadable += 1
            continue
        with store.transaction() as db:
            new = db.execute("INSERT OR IGNORE INTO bounce_messages (key, kind, recipients, reason, processed)"
                             " VALUES (?, ?, ?, ?, ?)", (key, verdict.kind, json.dumps(verdict.recipients),
                                                         verdict.reason[:500], now.isoformat())).rowcount == 1
            if not new:
                report.already += 1
                continue
            log.debug("%s: %s %s (%s)", where, verdict.kind, ", ".join(verdict.recipients), verdict.reason)
            if verdict.kind == SOFT:
                report.soft += 1
                continue
            if verdict.kind != HARD:
                report.not_bounces += 1
                continue
            report.hard += 1
            seen: set[int] = set()
            recipients = list(verdict.recipients)
            if not any(_subscriber(db, a) for a in recipients):
                # Forwarded mail names the new address; the returned digest names whom we sent it to.
                recipients = [a for a in digest_recipient(msg, ignore) if _subscriber(db, a)] or recipients
            if not recipients:
                report.no_recipient += 1
                log.warning("%s is a hard bounce but names no recipient we can read (%s)", where, verdict.reason)
            for address in recipients:
                sub = _subscriber(db, address)
                if sub is None:
                    if address.lower() not in (u.lower() for u in report.unknown):
                        report.unknown.append(address)
                    continue
                if sub.id in seen:
                    continue
                seen.add(sub.id)
                outcome = subscribers.record_bounce(db, sub.id, bounced_at(msg, now))
                if outcome is subscribers.Bounce.SAME_INCIDENT:
                    if sub.email not in report.same_incident:
                        report.same_incident.append(sub.email)
                    continue
                if outcome is subscribers.Bounce.SUSPENDED:
                    report.suspended.append(sub.email)
                if sub.email not in report.counted:
                    report.counted.append(sub.email)
    return report


def bounces_report(config: Config, db_path: Path, *, maildir: Path | None, mbox: Path | None) -> CommandReport:
    """`massage-events bounces --maildir PATH | --mbox PATH`: count the returned mail's hard bounces."""
    report = CommandReport()
    from aggregator.mail.identity import from_address, unsubscribe_mailbox
    from aggregator.store.database import Store

    if (maildir is None) == (mbox is None):
        raise BounceMailboxError("name the mailbox of returned mail: --maildir PATH or --mbox PATH")
    messages = maildir_messages(maildir) if maildir is not None else mbox_messages(mbox)
    first = next(messages, None)  # a missing or unreadable mailbox fails here, before the database opens
    ignore = {from_address(config), unsubscribe_mailbox(config)}

    def all_messages():
        if first is not None:
            yield first
            yield from messages

    with Store(db_path) as store:
        counted = process(store, all_messages(), ignore=ignore)
    report.say(counted.summary())
    return report.done(0)
