"""Ending a `pytest grader` run without tearing the interpreter down (~0.6 s saved).

By then every result is written, every process of the grading has ended and pytest has
unconfigured; what is left is Python freeing MLflow's, scikit-learn's and Jupyter's modules
one object at a time. Armed only by a program's own command line (`pytest grader`,
`labgrade`), never inside a program that called `pytest.main()` or `grader.frontends.cli.main(argv)`
(its exit code is its own), and stood down by an uncaught exception (Python's exit code 1
then stands).
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys


def arm(code: int) -> None:
    """At interpreter exit, flush and end with CODE, unless something went wrong meanwhile."""
    atexit.register(_exit, int(code))


def freeze() -> None:
    """Spare the collections left in a process that is about to exit (~0.1 s).

    pytest collects garbage at unconfigure (for unraisable exceptions); with MLflow and
    Jupyter loaded that walks hundreds of thousands of objects that die with the process.
    Frozen objects are skipped; whatever is made after this is still collected.
    """
    gc.freeze()


def pytest_command_line() -> bool:
    """Whether this process is pytest's own command line (`pytest`, `python -m pytest`)."""
    program = sys.argv[0] if sys.argv else ""
    return os.path.basename(program) in ("pytest", "py.test") or program.endswith(
        os.path.join("pytest", "__main__.py")
    )


def _exit(code: int) -> None:
    if hasattr(sys, "last_value") or getattr(sys, "last_exc", None) is not None:
        return  # an uncaught exception: let Python report it and exit as usual
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # a closed or broken stream: Python's own shutdown reports it
    os._exit(code)
