"""atheris harness: the mbox adapter: sources/parse/mail.py read_mailbox_bytes/read_messages, the email parsing maildir and imap share.

    make fuzz                                   # every harness, FUZZ_SECONDS (60) each
    .venv/bin/python -m fuzz.fuzz_mbox -runs=1000  # this one, with any libFuzzer flags
"""

import sys

from fuzz.common import main

if __name__ == "__main__":
    sys.exit(main("mbox"))
