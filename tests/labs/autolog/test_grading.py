"""The Autologging lab end to end on labelled submissions:
`pytest grader --lab autolog --submission X --grade-json J`.

The corpus (submissions/, made by submissions/generate.py) holds the lab's reference, its
template, the course's notebook as handed out (its "YOUR_TAG": "VALUE" placeholder left) and
filled in, a correct rewrite, one slip per check, and an imitation of the right values typed
in. Every verdict is asserted, not only the score. Each submission is graded once
(graded_run caches it) and read by both tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun
from tests.labs.corpus import Case, assert_graded_as_labelled, assert_messages, params

LAB = load("autolog")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"


def sub(name: str) -> Path:
    return HERE / f"{name}.ipynb"


NO_TENSORFLOW = "raised ModuleNotFoundError, as the lab expects"
ON_X_TRAIN = "what its model scores on the notebook's X_train (331 rows of the diabetes data)"

CASES = [
    Case(
        LAB.reference / LAB.notebook,
        100,
        says={
            "output": ("MLflow Autologging lab: 100/100", NO_TENSORFLOW),
            "training_metrics": (ON_X_TRAIN,),
        },
        # Autologging saves with cloudpickle: no skops switch is applied or named.
        never={"output": ("sklearn_skops_trusted_types",)},
    ),
    Case(
        LAB.template / LAB.notebook,
        0,
        failing=ALL,
        says={
            "connection": ('there is no experiment "check-localhost-connection"',),
            "params": ("no run was logged", "turn autologging on before the fit"),
        },
        never={"output": (NO_TENSORFLOW,), "params": ("with mlflow.start_run()",)},
    ),
    # The course's notebook as handed out: Step 3's placeholder tag changes only settings, and
    # Step 4's TensorFlow line raises here by design.
    Case(
        sub("published"),
        100,
        says={"output": (NO_TENSORFLOW, 'is in experiment "check-localhost-connection"')},
    ),
    Case(sub("published_tag_filled"), 100),
    Case(
        sub("rewrite_sklearn_autolog_default_experiment"),
        100,
        says={"training_metrics": ("(309 rows of the diabetes data)",)},
        never={"output": ("the experiment set in Step 1 stays active",)},
    ),
    # Its split is not X_train, y_train: the metrics are MLflow's record of the fit.
    Case(
        sub("rewrite_split_named_otherwise"),
        100,
        says={"training_metrics": ("names its split otherwise", "not recomputed")},
    ),
    Case(
        sub("loses_connection_bar"),
        85,
        failing=frozenset({"connection"}),
        says={"connection": ("foo=1, bar=3", 'mlflow.log_metric("bar", 2)')},
    ),
    Case(
        sub("loses_params_max_depth"),
        75,
        failing=frozenset({"params"}),
        says={"params": ("max_depth=5 (expected 6)",)},
    ),
    Case(
        sub("loses_model_not_logged"),
        70,
        failing=frozenset({"model"}),
        says={
            "model": ("has no logged model", "log_models=True"),
            "training_metrics": ("the run has no model to score them with",),
        },
    ),
    Case(
        sub("loses_training_metrics_fit_on_test"),
        70,
        failing=frozenset({"training_metrics"}),
        says={"training_metrics": ("(the model scores", "fit the forest on X_train, y_train")},
    ),
    Case(
        sub("fake_typed_in_without_autolog"),
        45,
        failing=frozenset({"params", "training_metrics"}),
        says={
            "params": ("logged by the notebook's own calls, not by sklearn autologging",),
            "training_metrics": ("typed into the code",),
        },
    ),
]
PARAMS = params("autolog", CASES)

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    assert_graded_as_labelled(graded_run(case.path, "--lab", "autolog"), case, IDS)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    assert_messages(graded_run(case.path, "--lab", "autolog"), case)
