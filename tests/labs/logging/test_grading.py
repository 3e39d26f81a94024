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
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun
from tests.labs.corpus import Case, assert_graded_as_labelled, assert_messages, params

LAB = load("logging")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"


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
        sub("loses_metrics_split_renamed"),
        70,
        failing=frozenset({"metrics"}),
        says={"metrics": ("X_val and y_val", "were not found in the notebook after the run")},
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
PARAMS = params("logging", CASES)

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    assert_graded_as_labelled(graded_run(case.path, "--lab", "logging"), case, IDS)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    assert_messages(graded_run(case.path, "--lab", "logging"), case)
