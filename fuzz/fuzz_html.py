"""atheris harness: the html adapter (sources/html.py) with one broad CSS selector set (fuzz/common.py HTML_SELECTORS).

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_html -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("html"))
