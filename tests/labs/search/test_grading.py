"""The Search Runs lab end to end on labelled submissions:
`pytest grader --lab search --submission X --grade-json J`.

The corpus (submissions/, made by submissions/generate.py) holds the lab's reference, its
template, the course-shaped notebook as handed out (placeholders left) and with the run ids
typed in as a student copies them from the MLflow UI, a correct rewrite (lists of runs), one
slip per kind of check, an imitation (search results typed in) and a filter MLflow refuses.
Every verdict is asserted, not only the score.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun
from tests.labs.corpus import Case, assert_graded_as_labelled, assert_messages, params

LAB = load("search")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"
SEARCHES_AFTER_THE_FILTER = frozenset(
    {"complex_filter", "ordered_by_accuracy", "highest_accuracy", "gpt_4_runs"}
)


def sub(name: str) -> Path:
    return HERE / f"{name}.ipynb"


CASES = [
    Case(
        LAB.reference / LAB.notebook,
        100,
        says={
            "output": ("MLflow Search Runs lab: 100/100",),
            "complex_filter": ("those of", "that meet the lab's conditions"),
        },
    ),
    Case(
        LAB.template / LAB.notebook,
        0,
        failing=ALL,
        says={
            "runs": ('"search-run-guide" holds no run',),
            "all_runs": ("`all_runs` is still None",),
        },
    ),
    # The course's notebook as handed out: every step runs; the complex filter's placeholders
    # choose no run, so that one search is not done.
    Case(
        sub("published_placeholders"),
        90,
        failing=frozenset({"complex_filter"}),
        says={"complex_filter": ('still holds the placeholders "UPDATE_RUNID_HERE"',)},
    ),
    # With the ids typed in from the student's own MLflow UI: runs this server cannot hold.
    Case(
        sub("published_typed_ids"),
        100,
        says={"complex_filter": ("name runs of your own MLflow server",)},
    ),
    Case(sub("rewrite_lists_of_runs"), 100),
    Case(
        sub("loses_runs_f1_underscore"),
        75,
        failing=frozenset({"runs"}),
        says={"runs": ('no metric "f1 score" (it has "f1_score")', "names with a space")},
    ),
    Case(
        sub("loses_datasets_no_context"),
        85,
        failing=frozenset({"datasets"}),
        says={"datasets": ('context "not set" (expected "train")', "context=dataset_context[i]")},
    ),
    Case(
        sub("loses_bad_runs_at_least"),
        90,
        failing=frozenset({"bad_runs"}),
        says={"bad_runs": ("holds 3 runs; the same search on the server gives 2 runs",)},
    ),
    Case(
        sub("loses_ordered_ascending"),
        90,
        failing=frozenset({"ordered_by_accuracy"}),
        says={"ordered_by_accuracy": ("in another order", "metrics.accuracy DESC")},
    ),
    Case(
        sub("loses_highest_without_max_results"),
        90,
        failing=frozenset({"highest_accuracy"}),
        says={"highest_accuracy": ("holds 10 runs", "max_results=1")},
    ),
    Case(
        sub("fake_bad_runs_typed_in"),
        90,
        failing=frozenset({"bad_runs"}),
        says={"bad_runs": ("not runs of this server",)},
    ),
    Case(
        sub("error_filter_unquoted_name"),
        60,
        status="error",
        failing=SEARCHES_AFTER_THE_FILTER,
        says={
            "execution": ('metrics."f1 score"',),
            "ordered_by_accuracy": ("the notebook stopped with",),
        },
    ),
]
PARAMS = params("search", CASES)

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    assert_graded_as_labelled(graded_run(case.path, "--lab", "search"), case, IDS)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    assert_messages(graded_run(case.path, "--lab", "search"), case)
