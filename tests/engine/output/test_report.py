"""Feedback as a student reads it after a batch (grader.engine.output.report)."""

from __future__ import annotations

from grader.engine.grading import ungraded_result
from grader.engine.output.report import feedback_markdown
from grader.labs import load


def test_why_nothing_ran_is_said_once_in_plain_words() -> None:
    rubric = load("search").rubric()
    why = "unattempted: the lab's template as handed out, no code cell edited"
    result = ungraded_result("lab4_search_runs.ipynb", "not_executed", why, rubric)
    text = feedback_markdown(result, rubric.title)
    assert text.count(why) == 1
    assert "Execution: **not run**" in text
    assert "## What to fix" not in text
    assert "| **fail** |" in text  # every check still listed, at 0
