"""atheris harness: the ical adapter (sources/ical.py): VCALENDAR text, recurrences expanded in the window.

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_ical -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("ical"))
