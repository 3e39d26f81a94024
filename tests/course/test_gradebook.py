"""grades.csv's note: why a row's status is not ok."""

from __future__ import annotations

from typing import Any

from grader.course.gradebook import NOTE_CAUSE, status_note


def result(status: str, error: str | None, score: float, max_score: float = 100) -> dict[str, Any]:
    checks = [{"id": "tag", "score": score, "max_score": max_score, "passed": score == max_score}]
    return {
        "score": score,
        "max_score": max_score,
        "checks": checks,
        "execution": {"status": status, "seconds": 3.0, "error": error, "notes": []},
    }


def test_an_ok_row_has_no_status_note() -> None:
    assert status_note(result("ok", None, 100)) == ""


def test_full_marks_with_an_error_says_the_cause_and_why_the_score_stands() -> None:
    note = status_note(
        result(
            "error", "the code cell starting `df.plot()` (code cell 5) raised ValueError: boom", 100
        )
    )
    assert note.startswith(
        "the code cell starting `df.plot()` (code cell 5) raised ValueError: boom"
    )
    assert "every check still passed" in note


def test_a_partial_score_gets_the_cause_only() -> None:
    note = status_note(result("timeout", "execution stopped after the 120 s limit", 40))
    assert note == "execution stopped after the 120 s limit"


def test_a_status_without_an_error_still_names_the_status() -> None:
    assert status_note(result("kernel_died", None, 0)) == "execution kernel_died"


def test_a_long_cause_is_cut_to_one_line() -> None:
    note = status_note(result("error", "line\n" * 200, 0))
    assert "\n" not in note
    assert len(note) == NOTE_CAUSE
    assert note.endswith("...")


def test_a_long_cause_keeps_its_fix_and_cuts_the_error() -> None:
    fix = 'the filter does not parse: quote names with spaces (metrics."f1 score")'
    error = "the code cell starting `runs = mlflow.search_runs(` (code cell 4) raised "
    note = status_note(
        result("error", error + "MlflowException: " + "x" * 300 + " Fix: " + fix, 60)
    )
    assert len(note) <= NOTE_CAUSE
    assert note.endswith(" Fix: " + fix)
    assert note.startswith("the code cell starting")
