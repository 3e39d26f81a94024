"""The search lab's checks on plain evidence (grader.labs.search.checks)."""

from __future__ import annotations

from grader.labs import load
from grader.labs.search.checks import _search_hint

RUBRIC = load("search").rubric()


def test_the_one_best_run_taken_in_another_order_is_told_the_order() -> None:
    spec = RUBRIC.check("highest_accuracy")
    hint = _search_hint(spec, 1, 1)
    assert 'order_by=["metrics.accuracy DESC"]' in hint
    assert "max_results=1" in _search_hint(spec, 10, 1)  # all runs kept: keep only the best
