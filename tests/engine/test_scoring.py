"""Where the notebook stopped, as the checks it left empty say it (grader.engine.scoring)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from grader.engine.evidence.records import Evidence
from grader.engine.evidence.server_reads import Snapshot
from grader.engine.scoring import error_where, stopped
from grader.labs import load

EVIDENCE = Evidence(load("tracking").rubric(), Snapshot((), (), {}), None, None, {}, (), "")


@pytest.mark.parametrize(
    ("error", "where"),
    [
        (
            "the code cell starting `lr.fit(X, y)` (code cell 3) raised TypeError: boom",
            "with TypeError in the code cell starting `lr.fit(X, y)` (code cell 3)",
        ),
        (
            "line 12 of the script (`lr.fit(X, y)`) raised AttributeError: boom",
            "with AttributeError in line 12 of the script (`lr.fit(X, y)`)",
        ),
        (
            "execution stopped after the 60 s limit in the code cell starting `import time`"
            " (code cell 4): look for a loop that never ends",
            "in the code cell starting `import time` (code cell 4)",
        ),
        (
            "the script exited with status 2 in line 4 of the script (`sys.exit(2)`) (sys.exit)",
            "in line 4 of the script (`sys.exit(2)`)",
        ),
        ("the script raised NameError: name 'x' is not defined", "with NameError in the script"),
        ("the kernel died", "early"),
    ],
)
def test_error_where_names_the_cell_or_line_as_the_student_sees_it(error: str, where: str) -> None:
    ev = replace(EVIDENCE, execution_error=error)
    assert error_where(ev) == where
    assert stopped(ev) == f"the notebook stopped {where} before this was logged: fix that first"
    assert "cell 3 " not in error_where(ev)


def test_a_script_that_stopped_is_named_the_script() -> None:
    """What stopped is named as what ran: a .py submission is "the script", never "the
    notebook"."""
    error = "line 12 of the script (`lr.fit(X, y)`) raised TypeError: bad"
    base = replace(EVIDENCE, execution_error=error)
    assert stopped(base).startswith("the notebook stopped")
    script = replace(base, kind="script")
    assert stopped(script).startswith("the script stopped with TypeError in line 12 of the script")
