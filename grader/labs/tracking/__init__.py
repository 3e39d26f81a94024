"""Lab 1 of the course, MLflow Tracking: a LogisticRegression on iris, logged and registered.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its
checks (checks.py), the fixes for its errors (hints.py) and its test split (below). Its
notebooks are where every lab's are: reference/tracking/ and student_template/tracking/ at the
top level.
"""

from __future__ import annotations

import functools
from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Feedback, Lab, Needs, Speed, TestSplit
from grader.labs.tracking import checks, hints

FOLDER = Path(__file__).resolve().parent


def test_split(rubric: Rubric) -> TestSplit:
    """Step 3's test split of iris, as the rubric's [split] sets it."""
    return _split(rubric.test_size, rubric.random_state)


@functools.lru_cache(maxsize=4)
def _split(test_size: float, random_state: int) -> TestSplit:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    X, y = datasets.load_iris(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return TestSplit(X_test, tuple(float(v) for v in y_test))


LAB = Lab(
    id="tracking",
    title="Lab 1, MLflow Tracking: log params, a metric, a tag and a registered model",
    folder=FOLDER,
    notebook="lab1_tracking_quickstart.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    wants=checks.WANTS,
    course_notebook="full_marks_published.ipynb",
    needs=Needs(
        candidates=checks.candidates,
        test_split=test_split,
        capture=checks.capture,
        experiment_check="experiment",
        model_checks=("registered_model",),
    ),
    feedback=Feedback(notes=checks.notes, error_hint=hints.hint_for),
    speed=Speed(
        preload=(
            "mlflow",
            "mlflow.models",
            "mlflow.sklearn",
            "numpy",
            "pandas",
            "sklearn.datasets",
            "sklearn.model_selection",
            "sklearn.linear_model",
            "sklearn.metrics",
        ),
        probe_modules=("mlflow.sklearn", "sklearn.linear_model", "skops.io", "cloudpickle"),
        probe_rehearsal="sklearn.linear_model:LogisticRegression",
    ),
)
