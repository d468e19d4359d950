"""What the command line prints when a library logs an error with its traceback: one line
naming the error (the whole traceback only with --debug). In a fresh interpreter, since pytest
has its own logging handlers."""

from __future__ import annotations

import subprocess
import sys

LIBRARY_WARNING = """if True:
    import logging, sys
    from aggregator.app.cli import _setup_logging
    _setup_logging(debug=sys.argv[1] == "debug", quiet=False)
    try:
        raise ConnectionError("reset by peer")
    except ConnectionError:
        # what APScheduler does when a scheduled job raises
        logging.getLogger("apscheduler.executors.default").warning(
            'Job "run (trigger: interval[1:00:00])" raised an exception', exc_info=True)
    logging.getLogger("aggregator").warning("the run goes on")
"""


def _stderr(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", LIBRARY_WARNING, mode], capture_output=True, text=True, check=True)
    return done.stderr


def test_a_librarys_traceback_becomes_one_line_naming_the_error():
    assert _stderr("plain").splitlines() == [
        'Job "run (trigger: interval[1:00:00])" raised an exception (ConnectionError: reset by peer)',
        "the run goes on",
    ]


def test_debug_keeps_the_whole_traceback():
    err = _stderr("debug")
    assert "Traceback (most recent call last)" in err and "ConnectionError: reset by peer" in err
