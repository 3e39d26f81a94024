"""The Logging a Model lab end to end on labelled submissions:
`pytest grader --lab logging --submission X --grade-json J`.

The corpus (submissions/, made by submissions/generate.py) holds the lab's reference, its
template, the course's code as handed out (published.ipynb: it has no placeholders, and its
pandas 2 fill and MLflow 2 artifact_path run here through the lab's compatibility switch), a
correct rewrite, one slip per check, and an imitation of the right values. Every verdict is
asserted, not only the score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun

LAB = load("logging")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"


@dataclass(frozen=True)
class Case:
    path: Path
    score: float
    status: str = "ok"
    failing: frozenset[str] = frozenset()
    # check id, "execution" or "output" -> fragments that must appear there
    says: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the same places -> fragments that must not appear (a note on a call never made)
    never: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.path.stem if self.path.parent == HERE else self.path.parent.parent.name


def sub(name: str) -> Path:
    return HERE / f"{name}.ipynb"


PANDAS = "the grader applied pandas_2_fills"
SKOPS = "the grader applied sklearn_skops_trusted_types"
ARTIFACT_PATH = "log_model(artifact_path=...) is deprecated"

CASES = [
    Case(
        LAB.reference / LAB.notebook,
        100,
        says={"output": ("MLflow Logging a Model lab: 100/100",)},
        # The reference fills and logs as pandas 3 and MLflow 3.14+ want: nothing to restore.
        never={"output": (PANDAS, SKOPS, ARTIFACT_PATH)},
    ),
    Case(
        LAB.template / LAB.notebook,
        0,
        failing=ALL,
        says={
            "experiment": ("exists but has none of its 5 tags", "create_experiment"),
            "run": ("no run was logged",),
        },
        never={"output": (PANDAS, SKOPS)},
    ),
    # The course's code as handed out: full marks, with what the grader restored named.
    Case(
        sub("published"),
        100,
        says={
            "output": (
                PANDAS,
                'df["previous_days_demand"] = df["previous_days_demand"].bfill()',
                SKOPS,
                ARTIFACT_PATH,
            )
        },
    ),
    Case(sub("rewrite_head_example_one_metric_each"), 100, says={"output": (PANDAS,)}),
    Case(
        sub("loses_experiment_tags"),
        80,
        failing=frozenset({"experiment"}),
        says={
            "experiment": ('tag "store_dept" missing', 'tag "project_quarter" is "Q4-2023"'),
        },
    ),
    Case(
        sub("loses_run_name"),
        90,
        failing=frozenset({"run"}),
        says={"run": ("named 'apples_rf', not 'apples_rf_test'",)},
    ),
    Case(
        sub("loses_params_unlike_model"),
        80,
        failing=frozenset({"params"}),
        says={"params": ("the logged RandomForestRegressor was trained with max_depth=4",)},
    ),
    Case(
        sub("loses_metrics_on_train"),
        70,
        failing=frozenset({"metrics"}),
        says={"metrics": ("on the validation split the notebook used", "y_val, y_pred")},
    ),
    Case(
        sub("loses_model_array_example"),
        80,
        failing=frozenset({"model"}),
        says={"model": ("no column names",)},
    ),
    Case(
        sub("fake_metrics_typed_in"),
        70,
        failing=frozenset({"metrics"}),
        says={"metrics": ("typed in",)},
    ),
]
PARAMS = [
    pytest.param(c, id=c.id, marks=[pytest.mark.xdist_group(f"logging-{c.id}"), pytest.mark.slow])
    for c in CASES
]

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    run = graded_run(case.path, "--lab", "logging")
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
    run = graded_run(case.path, "--lab", "logging")
    assert run.result is not None
    texts = {c["id"]: c["message"] for c in run.result["checks"]}
    texts["execution"] = run.result["execution"]["error"] or ""
    texts["output"] = run.stdout
    for where, fragments in case.says.items():
        for fragment in fragments:
            assert fragment in texts[where], f"{where}: {texts[where]!r}"
    for where, fragments in case.never.items():
        for fragment in fragments:
            assert fragment not in texts[where], f"{where}: {texts[where]!r}"
    for check in run.result["checks"]:
        if not check["passed"]:
            assert "revisit " in check["message"]
            assert ". Expected: " in check["message"]
