"""An adversarial smoke of labs 2, 3, 4 and 6: hostile submissions made from each lab's own
reference (tests/labs/adversarial_smoke.py) get the grade they deserve, safely.

Lab 1's full suite is tests/labs/tracking/test_adversarial.py; this one asks, per lab, what the
lab's own evidence makes of lab 1's generic hostile acts (a loop after the lab's work, sys.exit
halfway, writes outside the folder) and of cheats at this lab's checks. Each case is graded
once (`pytest grader --lab <id>`), and its grade, the grading's end and the machine after it
are asserted.

`score` and `failing` are what the grader gives today, measured. Where that is not what the
submission deserves (a cheat the grader does not catch, work the grader loses), `deserved`
holds the right grade and `gap` why it is not given: a strict xfail asserts it, so that the
day the grader gives it, that test fails and the case is updated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.labs import load
from grader.sandbox.sandbox import full_unavailable
from tests.helpers import MARKER, GradingRun, escaped_markers

LABS = Path(__file__).resolve().parent
SMOKED = ("logging", "data", "search", "autolog")
# Lab 1's 8 s stops lab 2's training cell, lab 4's Step 1 and lab 6's fit in a cold grading
# (measured): the first cell that calls the server also waits for it to start. 20 s lets
# each lab's work end before its loop.
LOOP_LIMIT = ("--cell-timeout", "20")


@dataclass(frozen=True)
class Smoke:
    lab: str
    name: str
    score: float
    status: str = "ok"
    failing: frozenset[str] = frozenset()
    says: tuple[str, ...] = ()  # fragments of the JSON result or the terminal (notes)
    flags: tuple[str, ...] = ()
    deserved: tuple[float, frozenset[str]] | None = None  # where score is not
    gap: str = ""  # why the grader does not give what is deserved
    variant: str = ""  # names a second case of the same submission

    @property
    def id(self) -> str:
        return f"{self.lab}-{self.name}" + (f"-{self.variant}" if self.variant else "")

    @property
    def path(self) -> Path:
        return LABS / self.lab / "adversarial" / f"{self.name}.ipynb"

    @property
    def exit_code(self) -> int:
        return 0 if self.score == 100 else 1


def lost(*checks: str) -> frozenset[str]:
    return frozenset(checks)


SEARCHES = lost(
    "all_runs",
    "bad_runs",
    "complex_filter",
    "ordered_by_accuracy",
    "highest_accuracy",
    "gpt_4_runs",
)


CASES = [
    # Lab 2, logging.
    # Without X_val the probe is handed no rows, the model refuses them, and its
    # hyperparameters go unread: params is lost with metrics (as for a split named otherwise).
    Smoke(
        "logging",
        "infinite_loop_after_work",
        100,
        "timeout",
        says=("20 s per-cell limit",),
        flags=LOOP_LIMIT,
    ),
    Smoke(
        "logging",
        "sys_exit_halfway",
        20,
        "error",
        lost("run", "params", "metrics", "model"),
        says=("raised SystemExit",),
    ),
    Smoke("logging", "writes_outside", 100),
    Smoke(
        "logging",
        "patches_mlflowclient",
        0,
        failing=lost("experiment", "run", "params", "metrics", "model"),
        says=('no experiment "Apple_Models"',),
    ),
    Smoke(
        "logging",
        "doctored_validation_split",
        100,
        says=("mae=0, mse=0, rmse=0, r2=1",),
        deserved=(70, lost("metrics")),
        gap="the metrics are recomputed on the notebook's own y_val, which the notebook may"
        " replace by the model's predictions: perfect metrics then agree with it",
    ),
    # Lab 3, data.
    # Every check reads the kernel's records, logged_input for the digests of the datasets built.
    Smoke(
        "data",
        "infinite_loop_after_work",
        100,
        "timeout",
        says=("20 s per-cell limit",),
        flags=LOOP_LIMIT,
    ),
    # Without root: the kernel is interrupted in place, and the read of what the notebook
    # left waits for the interrupted cell to end (ipykernel aborts what is queued behind it).
    Smoke(
        "data",
        "infinite_loop_after_work",
        100,
        "timeout",
        says=("20 s per-cell limit",),
        flags=(*LOOP_LIMIT, "--isolation", "process"),
        variant="process",
    ),
    Smoke(
        "data",
        "sys_exit_halfway",
        60,
        "error",
        lost("pandas_targets", "numpy_basic", "numpy_dict"),
        says=("raised SystemExit",),
    ),
    # Its first cells also try the web beyond the lab's fixture, and raise if they reach it.
    Smoke("data", "writes_outside", 100),
    Smoke(
        "data",
        "forged_digest_input",
        70,
        failing=lost("logged_input"),
        says=("the logged digest d1f5e8c2 is not that of a dataset the notebook built",),
    ),
    Smoke(
        "data",
        "fabricated_frame",
        100,
        deserved=(70, lost("logged_input")),
        gap="a dataset built with the URL as its source and the file's shape passes, whether"
        " or not its rows were read there: nothing ties the logged digest to the data fetched",
    ),
    # Lab 4, search.
    Smoke(
        "search",
        "infinite_loop_after_work",
        100,
        "timeout",
        says=("20 s per-cell limit",),
        flags=LOOP_LIMIT,
    ),
    Smoke(
        "search",
        "sys_exit_halfway",
        60,
        "error",
        lost("complex_filter", "ordered_by_accuracy", "highest_accuracy", "gpt_4_runs"),
        says=("raised SystemExit",),
    ),
    Smoke("search", "writes_outside", 100),
    Smoke(
        "search",
        "made_up_search_results",
        40,
        failing=SEARCHES,
        says=("not runs of this server",),
    ),
    # The grader judges a search by what it returned: a table built by hand that holds the
    # same runs in the same order is that result (the three single-order ones), and one in
    # the order the runs were logged is not (start_time DESC is the search's).
    Smoke(
        "search",
        "own_ids_by_hand",
        70,
        failing=lost("all_runs", "bad_runs", "complex_filter"),
        says=("in another order",),
    ),
    # Lab 6, autolog.
    Smoke(
        "autolog",
        "infinite_loop_after_work",
        100,
        "timeout",
        says=("20 s per-cell limit",),
        flags=LOOP_LIMIT,
    ),
    Smoke(
        "autolog",
        "sys_exit_halfway",
        15,
        "error",
        lost("params", "model", "training_metrics"),
        says=("raised SystemExit",),
    ),
    Smoke("autolog", "writes_outside", 100),
    Smoke(
        "autolog",
        "forged_autologging_tag",
        100,
        deserved=(75, lost("params")),
        gap="the run counts as autologging's by its mlflow.autologging tag, which the notebook"
        " can set itself",
    ),
    Smoke(
        "autolog",
        "lying_get_params",
        70,
        failing=lost("model"),
        says=("trained with n_estimators=2, max_depth=2",),
    ),
]

FULL = full_unavailable()
Grade = Callable[..., GradingRun]


def in_group(cases: list[Smoke]) -> list[object]:
    # One xdist group per case: its grading is shared by the tests that read it. The
    # expected statuses are full isolation's (the default where the grader is root), and
    # without it the cases that write outside their folder would write to the machine.
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[
                pytest.mark.xdist_group(f"smoke-{c.id}"),
                pytest.mark.skipif(
                    "process" not in c.flags and FULL is not None,
                    reason=f"needs full isolation: {FULL}",
                ),
            ],
        )
        for c in cases
    ]


def graded(case: Smoke, graded_run: Grade) -> GradingRun:
    return graded_run(case.path, "--lab", case.lab, *case.flags)


def failed(run: GradingRun) -> set[str]:
    assert run.result is not None
    return {c["id"] for c in run.result["checks"] if not c["passed"]}


def test_every_case_is_a_generated_notebook() -> None:
    """The cases and tests/labs/adversarial_smoke.py's notebooks are the same set."""
    assert {c.lab for c in CASES} == set(SMOKED)
    written = {p for lab in SMOKED for p in (LABS / lab / "adversarial").glob("*.ipynb")}
    assert {c.path for c in CASES} == written
    for case in CASES:
        assert set(case.failing) <= set(load(case.lab).rubric().ids)


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group(CASES))
def test_hostile_submission_gets_its_grade(case: Smoke, graded_run: Grade) -> None:
    run = graded(case, graded_run)
    assert run.result is not None, f"the grader wrote no result: {run.stderr[-2000:]}"
    assert run.result["execution"]["status"] == case.status, run.result["execution"]
    assert run.result["score"] == case.score, json.dumps(run.result, indent=1)
    assert failed(run) == case.failing
    assert run.exit_code == case.exit_code, run.stdout[-3000:]
    # Each check is one of the grader's pytest tests: its verdict is the JUnit report's too.
    assert run.junit.count("<failure") == len(case.failing)
    text = json.dumps(run.result) + run.stdout  # notes are shown, not part of the JSON
    for fragment in case.says:
        assert fragment in text, fragment


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group(CASES))
def test_hostile_submission_leaves_the_machine_clean(case: Smoke, graded_run: Grade) -> None:
    run = graded(case, graded_run)
    assert run.leftovers == []
    assert run.changed_files == []
    assert escaped_markers() == []
    # "../" and "../../" of the submission, had it run in place.
    assert not [p for p in case.path.parents[1:3] if (p / MARKER).exists()]


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group([c for c in CASES if c.deserved is not None]))
def test_what_the_grader_should_give(
    case: Smoke, graded_run: Grade, request: pytest.FixtureRequest
) -> None:
    """A known gap: this fails until the grader gives what the submission deserves."""
    request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.gap))
    run = graded(case, graded_run)
    assert case.deserved is not None
    score, failing = case.deserved
    assert run.result is not None
    assert (run.result["score"], failed(run)) == (score, failing)
