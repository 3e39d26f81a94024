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
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun

LAB = load("search")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"
SEARCHES_AFTER_THE_FILTER = frozenset(
    {"complex_filter", "ordered_by_accuracy", "highest_accuracy", "gpt_4_runs"}
)


@dataclass(frozen=True)
class Case:
    path: Path
    score: float
    status: str = "ok"
    failing: frozenset[str] = frozenset()
    # check id, "execution" or "output" -> fragments that must appear there
    says: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.path.stem if self.path.parent == HERE else self.path.parent.name


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
PARAMS = [
    pytest.param(c, id=c.id, marks=[pytest.mark.xdist_group(f"search-{c.id}"), pytest.mark.slow])
    for c in CASES
]

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    run = graded_run(case.path, "--lab", "search")
    assert run.result is not None, run.stderr[-2000:]
    assert run.result["execution"]["status"] == case.status, run.result["execution"]
    assert run.result["score"] == case.score, [c["message"] for c in run.result["checks"]]
    assert run.result["max_score"] == 100
    assert tuple(c["id"] for c in run.result["checks"]) == IDS
    failed = {c["id"] for c in run.result["checks"] if not c["passed"]}
    assert failed == case.failing
    assert run.exit_code == (0 if case.score == 100 else 1)
    assert run.leftovers == []
    assert run.changed_files == []


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    run = graded_run(case.path, "--lab", "search")
    assert run.result is not None
    texts = {c["id"]: c["message"] for c in run.result["checks"]}
    texts["execution"] = run.result["execution"]["error"] or ""
    texts["output"] = run.stdout
    for where, fragments in case.says.items():
        for fragment in fragments:
            assert fragment in texts[where], f"{where}: {texts[where]!r}"
    for check in run.result["checks"]:
        if not check["passed"]:
            assert "revisit Step" in check["message"]
            assert ". Expected: " in check["message"]
