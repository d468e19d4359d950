"""The command line: a thin shell over the pipeline, and the single error boundary.

A known MassageEventsError prints its sentence and exits non-zero (2 for a
config error). Anything else prints one line naming what failed and how to see
the traceback (--debug); under pytest it is re-raised so tests see it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator import __version__
from aggregator.errors import ConfigError, MassageEventsError
from aggregator.report import CommandReport

if TYPE_CHECKING:  # pydantic, the adapters and their parsers load with a command that reads a config
    from aggregator.config.settings import Config

log = logging.getLogger("aggregator")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a date; write it as YYYY-MM-DD') from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="massage-events",
        description="Networking events for massage therapists, gathered from many sources.")
    parser.add_argument("--version", action="version", version=f"massage-events {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and the summary")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser, out: bool = True) -> None:
        p.add_argument("--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml")
        # Read as locations (a path or a URL) inside the error boundary, by _locations().
        p.add_argument("--db", default="massage-events.sqlite", metavar="PATH_OR_URL",
                       help="a SQLite file or postgresql://user:pass@host:port/dbname "
                            "(default: ./massage-events.sqlite)")
        if out:
            p.add_argument("--out", default="out", metavar="DIR_OR_URL",
                           help="output folder, or s3://bucket/prefix (default: ./out)")

    p = sub.add_parser("run", help="fetch every source, merge, store and publish")
    common(p)
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="when another run is using the database, wait this long for it (default: stop at once)")

    p = sub.add_parser("demo", help="the whole pipeline on bundled sample sources served from 127.0.0.1")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="where to write (default: ./demo-out)")
    p.add_argument("--serve", action="store_true", help="then serve the result until stopped")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("serve", help="the web server (and the scheduler) over the output folder")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("status", help="the health of every source")
    common(p, out=False)

    p = sub.add_parser("explain", help="which records were merged into an event, and why")
    common(p, out=False)
    p.add_argument("uid")

    p = sub.add_parser("digest", help="render or send the weekly email digest")
    common(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--preview", nargs="?", const="", metavar="EMAIL",
                   help="render one subscriber's digest (a sample without EMAIL)")
    g.add_argument("--send", action="store_true", help="send the current period's digests")
    p.add_argument("--to", type=Path, metavar="FILE.eml", help="with --preview: where to write the message")

    p = sub.add_parser("subscribers", help="manage digest subscribers")
    common(p)
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("email", nargs="?")
    p.add_argument("--region", action="append", default=[], help="only events of this region (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="only events with this tag (repeatable)")

    p = sub.add_parser("bounces", help="count the hard bounces in the digest's returned mail (run after each send)")
    common(p, out=False)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--maildir", type=Path, metavar="PATH", help="a Maildir folder of returned mail (read only)")
    g.add_argument("--mbox", type=Path, metavar="PATH", help="an mbox file of returned mail (read only)")

    p = sub.add_parser("sources", help="check or add sources")
    ssub = p.add_subparsers(dest="sources_command", metavar="SUBCOMMAND", required=True)
    c = ssub.add_parser("check", help="preview what one source yields and skips, storing nothing")
    c.add_argument("--config", type=Path, default=Path("sources.yaml"))
    c.add_argument("source_id", nargs="?", help="a source id from sources.yaml")
    c.add_argument("--type", dest="type_name", help="check a URL or path as this source type")
    c.add_argument("target", nargs="?", help="with --type: the URL or local path")
    c.add_argument("--since", type=_date, help="YYYY-MM-DD (default: 30 days ago)")
    c.add_argument("--until", type=_date, help="YYYY-MM-DD (default: the horizon)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    a = ssub.add_parser("add", help="detect what a URL is and append it to sources.yaml")
    a.add_argument("--config", type=Path, default=Path("sources.yaml"))
    a.add_argument("url")
    a.add_argument("--id", dest="source_id", help="the id to give it (default: made from the URL)")
    a.add_argument("--yes", action="store_true", help="do not ask before writing")
    a.add_argument("--auto", action="store_true",
                   help="for a plain HTML listing: write `selectors: auto` (found again at each run) "
                        "instead of the selectors found now")
    return parser


class _OneLine(logging.Formatter):
    """Outside --debug every log line is one line: a traceback a library logs with its warning
    (APScheduler's does, for a job that raised) becomes "(ErrorType: message)" at the end."""

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.stack_info):
            return super().format(record)
        error = record.exc_info[1] if record.exc_info else None
        bare = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        line = super().format(bare)
        return f"{line} ({type(error).__name__}: {error})" if error is not None else line


def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s") if debug else _OneLine("%(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("urllib3", "waitress", "apscheduler", "extruct", "mf2py"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not debug else logging.DEBUG)


def _progress_printer(stream):
    """A progress bar on a terminal, plain log lines otherwise."""
    tty = stream.isatty()

    def show(done: int, total: int, result) -> None:
        state = "ok" if result.ok else f"FAILED [{result.error_reason}]"
        if tty:
            width = 24
            filled = int(width * done / max(total, 1))
            stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {result.source_id[:30]:30} {state[:24]:24}")
            if done == total:
                stream.write("\n")
            stream.flush()
        else:
            stream.write(f"fetched {done}/{total}: {result.source_id} {state} ({result.records} records)\n")

    return show


def _print(report: CommandReport) -> int:
    """Print what a command reports, and hand back its exit status."""
    if report.lines:
        print(report.text())
    return report.exit_code


def cmd_run(args) -> int:
    from aggregator.config.settings import load_config
    from aggregator.pipeline import run
    from aggregator.store.database import Store

    config = load_config(args.config)
    bucket = args.bucket
    if bucket is not None:
        bucket.check()  # an unreachable bucket is refused before any fetch
    with Store(args.db) as store:
        store.check_integrity()  # a damaged database is named, with its recovery, before any fetch
        report = run(config, store, args.out, progress=None if args.quiet else _progress_printer(sys.stderr),
                     lock_wait=args.wait)
    print(report.summary())
    files = ", ".join(str(p) for p in report.outputs)
    print(f"wrote {files}" if report.republished else f"nothing changed; {files} left as they were")
    if bucket is not None:
        print(bucket.publish(args.out).summary())
    _after_run(config, args.db, args.out, report)
    # The run goes on past failing sources; only "every source failed" is an exit status for cron.
    return 3 if report.sources and not report.ok and report.failed else 0


def _after_run(config: Config, db_path: Path, out_dir: Path, report) -> None:
    """Tell the curator about sources that broke or recovered (one email each, not one per run)."""
    from aggregator.mail import alerts
    from aggregator.store.database import Store

    with Store(db_path) as store:
        alerts.notify_curator(config, store, report, report.finished, out_dir=out_dir)


def cmd_demo(args) -> int:
    from aggregator.app.demo import run_demo

    return run_demo(args.out, serve=args.serve, host=args.host, port=args.port,
                    progress=None if args.quiet else _progress_printer(sys.stderr))


def cmd_serve(args) -> int:
    from aggregator.app.web.site import serve_command
    from aggregator.config.settings import load_config

    config = load_config(args.config)
    if args.db.is_postgres:  # an unreachable server is refused now, not on the first request
        from aggregator.store.database import Store

        Store(args.db).close()
    if args.bucket is not None:
        args.bucket.check()
    return serve_command(config, args.db, args.out, args.host, args.port, bucket=args.bucket)


def cmd_status(args) -> int:
    from aggregator.config.settings import load_config
    from aggregator.mail.digest import status_lines
    from aggregator.store.database import Store
    from aggregator.store.health import status_report

    report = status_report(load_config(args.config), args.db)
    if args.db.exists():
        with Store(args.db) as store:
            lines = status_lines(store.db)
        if lines:
            report.say("\n" + "\n".join(lines))
    return _print(report)


def cmd_explain(args) -> int:
    from aggregator.app.explain import explain_report
    from aggregator.config.settings import load_config

    return _print(explain_report(load_config(args.config), args.db, args.uid))


def cmd_digest(args) -> int:
    from aggregator.config.settings import load_config
    from aggregator.mail.digest import digest_report

    return _print(digest_report(load_config(args.config), args.db, args.out, preview=args.preview,
                                to_file=args.to, send=args.send))


def cmd_subscribers(args) -> int:
    from aggregator.config.settings import load_config
    from aggregator.mail.subscribers import subscribers_report

    return _print(subscribers_report(load_config(args.config), args.db, args.action, args.email,
                                     args.region, args.tag))


def cmd_bounces(args) -> int:
    from aggregator.config.settings import load_config
    from aggregator.mail.bounces import bounces_report

    return _print(bounces_report(load_config(args.config), args.db, maildir=args.maildir, mbox=args.mbox))


def cmd_sources(args) -> int:
    if args.sources_command == "check":
        from aggregator.app.check import check_command

        if args.type_name and args.source_id and not args.target:
            args.target, args.source_id = args.source_id, None  # `check --type ical URL`
        if not args.type_name and not args.source_id:
            raise MassageEventsError("name a source id, or --type TYPE and a URL or path")
        return check_command(args.config, args.source_id, args.type_name, args.target, args.since,
                             args.until, args.json, sys.stdout)
    from aggregator.app.discover import add_command

    return add_command(args.config, args.url, args.source_id, args.yes, sys.stdout, auto=args.auto)


COMMANDS = {
    "run": cmd_run, "demo": cmd_demo, "serve": cmd_serve, "status": cmd_status, "explain": cmd_explain,
    "digest": cmd_digest, "subscribers": cmd_subscribers, "sources": cmd_sources, "bounces": cmd_bounces,
}


def _called_from_test() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ


def _silence_stdout() -> None:
    """Point stdout at devnull, so the flush at interpreter exit cannot raise BrokenPipeError again
    (the recipe in Python's signal module docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (e.g. captured in-process)
        pass


def _locations(args) -> None:
    """--db and --out as locations: a path, or a URL of a supported scheme (any other scheme is
    refused here, before any fetch, never taken for a folder named "mysql:"). A bucket output
    publishes through a local staging folder: args.out is that folder, args.bucket the bucket."""
    from aggregator.publish.bucket import Bucket, as_output
    from aggregator.store.locator import as_database

    if hasattr(args, "db"):
        args.db = as_database(args.db)
    if hasattr(args, "out") and args.command != "demo":
        target = as_output(args.out)
        args.bucket = target if isinstance(target, Bucket) else None
        args.out = target.local_dir if args.bucket is not None else target


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args.debug, args.quiet)
    try:
        _locations(args)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, inside the boundary, not at exit
        return code
    except BrokenPipeError:
        # `massage-events status | head -1`: the reader closed the pipe. Say nothing, like cat or grep.
        # Exit 141 (128 + SIGPIPE), what the shell reports for those tools: the output was cut short,
        # so a script (or `set -o pipefail`) must not take the command's usual 0 "all fine" from it.
        _silence_stdout()
        return 141
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return error.exit_code
    except sqlite3.DatabaseError as error:
        # A full disk, a read-only file or damage met mid-command: named for what it is, with the fix.
        if args.debug or getattr(getattr(args, "db", None), "path", None) is None:
            raise
        from aggregator.store.database import classify_sqlite_error

        named = classify_sqlite_error(args.db.path, error)
        print(f"error: {named}", file=sys.stderr)
        return getattr(named, "exit_code", None) or 1
    except MassageEventsError as error:
        print(f"error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)  # e.g. 2: the command was pointed at something unusable
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("aggregator."):
            print(f"error: the {args.command} command is not available in this version", file=sys.stderr)
            return 1
        raise
    except Exception as error:
        if _called_from_test() or args.debug:
            raise
        print(f"unexpected error in {args.command}: {type(error).__name__}: {error}; "
              "run with --debug for the traceback", file=sys.stderr)
        return 1
