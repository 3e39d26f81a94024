"""The checks of the lab being graded (--lab), one test per rubric check: `pytest grader`."""

from __future__ import annotations

import pytest

from grader.engine.output.results import GradeResult


def test_check(graded: GradeResult, check_id: str) -> None:
    check = graded.check(check_id)
    if check.skipped:  # cannot apply, and the rubric leaves it out of the total
        pytest.skip(check.message)
    assert check.passed, check.message
