"""The checks of the MLflow Tracking lab, one test per rubric check: `pytest grader`."""

from __future__ import annotations

from grader.results import GradeResult


def test_check(graded: GradeResult, check_id: str) -> None:
    check = graded.check(check_id)
    assert check.passed, check.message
