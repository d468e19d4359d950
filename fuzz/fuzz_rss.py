"""atheris harness: the rss adapter (sources/rss.py): RSS/Atom through feedparser, then the posts' prose.

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_rss -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("rss"))
