"""atheris harness: sources/parse/dates.py parse_when and sources/parse/prose.py read_post/records_from_posts over free text.

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_text -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("text"))
