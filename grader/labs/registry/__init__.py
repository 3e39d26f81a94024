"""Lab 5 of the course, the MLflow Model Registry: a RandomForestRegressor logged, registered
three ways, loaded back by version and archived.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
(checks.py), the fixes for its errors (hints.py) and its data (below). Its notebooks are where
every lab's are: reference/registry/ and student_template/registry/ at the top level.

What it asks of the engine: no experiment is set (runs go to the Default experiment, so every
run is a candidate); Step 3 raises by design (create_registered_model on a name that exists),
and the cells after it still run; ids the student copies from the MLflow UI stand for the
notebook's own run (grader.engine.kernel.kernel_side); and MLflow 3.14+'s skops default refuses the
lab's RandomForest at log_model, so the grader restores the trust the lab's published code
needs (a compatibility switch shared with other labs, grader/labs/_compat/skops.py, named in
the feedback).
"""

from __future__ import annotations

import functools
from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import (
    Design,
    ExpectedError,
    Feedback,
    Lab,
    Needs,
    Speed,
    TestSplit,
)
from grader.labs._compat import TREE, trust_trees
from grader.labs.registry import checks, hints

FOLDER = Path(__file__).resolve().parent


def test_split(rubric: Rubric) -> TestSplit:
    """The lab's regression data and split (Steps 1 and 5), as the rubric's [split] sets it."""
    return _split(rubric.test_size, rubric.random_state)


@functools.lru_cache(maxsize=4)
def _split(test_size: float, random_state: int) -> TestSplit:
    from sklearn.datasets import make_regression
    from sklearn.model_selection import train_test_split

    X, y = make_regression(n_features=4, n_informative=2, random_state=0, shuffle=False)
    _, X_test, _, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return TestSplit(X_test, tuple(float(v) for v in y_test))


ALREADY_EXISTS = (
    "Step 3 creates a registered model whose name Step 1 registered already: the lab shows"
    " that this raises"
)

LAB = Lab(
    id="registry",
    title="Lab 5, MLflow Model Registry: register, version, load by version and archive a model",
    folder=FOLDER,
    notebook="lab5_model_registry.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    wants=checks.WANTS,
    course_notebook="published_placeholders.ipynb",
    design=Design(
        expected_errors=(
            ExpectedError("RestException", "RESOURCE_ALREADY_EXISTS", ALREADY_EXISTS),
            ExpectedError("MlflowException", "RESOURCE_ALREADY_EXISTS", ALREADY_EXISTS),
        ),
        compatibility=(trust_trees("Step 1"),),
    ),
    needs=Needs(test_split=test_split, model_checks=("registered_at_log", "register_model")),
    feedback=Feedback(notes=checks.notes, error_hint=hints.hint_for),
    speed=Speed(
        preload=(
            "mlflow",
            "mlflow.models",
            "mlflow.pyfunc",
            "mlflow.sklearn",
            "numpy",
            "sklearn.datasets",
            "sklearn.ensemble",
            "sklearn.metrics",
            "sklearn.model_selection",
            "skops.io",
        ),
        probe_modules=("mlflow.sklearn", "sklearn.ensemble", "skops.io"),
        probe_rehearsal="sklearn.ensemble:RandomForestRegressor",
        rehearsal_options={"skops_trusted_types": [TREE]},
    ),
)
