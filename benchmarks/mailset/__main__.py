"""python -m benchmarks.mailset [--part dev|heldout|heldout2|heldout3|heldout4|heldout5|all] [--quiet] [--json FILE] [--compare-libraries]

Scores the prose reader on the labelled mail set and prints detection precision/recall, exact-reading
accuracy, each field's accuracy and the per-class figures. --compare-libraries also reads every post's
start with dateparser, datefinder and ctparse (when installed) beside the hand-written grammar.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from benchmarks.mailset.score import compare_libraries, report, score


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mailset", description=__doc__.split("\n\n")[1])
    parser.add_argument("--part", choices=["dev", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "all"], default="all")
    parser.add_argument("--quiet", action="store_true", help="figures only, not each wrong post")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--compare-libraries", action="store_true",
                        help="read the starts with dateparser, datefinder and ctparse too")
    args = parser.parse_args(argv)
    parts = ["dev", "heldout", "heldout2", "heldout3", "heldout4", "heldout5"] if args.part == "all" else [args.part]
    scores = [score(part) for part in parts]
    for s in scores:
        print(report(s, verbose=not args.quiet))
    if args.compare_libraries:
        missing = [m for m in ("dateparser", "datefinder", "ctparse") if not _importable(m)]
        if missing:
            print(f"not installed: {', '.join(missing)} (pip install {' '.join(missing)})", file=sys.stderr)
            return 1
        print("\n".join(compare_libraries(parts)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([s.as_dict() for s in scores], f, indent=2)
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
