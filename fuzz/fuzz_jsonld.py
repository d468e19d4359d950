"""atheris harness: the jsonld adapter (sources/jsonld.py): JSON-LD, microdata and h-event in a page.

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_jsonld -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("jsonld"))
