"""Lab 2 of the course, Logging a Model: an experiment made with MlflowClient and its tags, and a
RandomForestRegressor trained on synthetic apple-demand data, logged with its params, four
validation metrics and a DataFrame input example.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
and hints (checks.py) and its compatibility switch (compat.py); its reference and student
template are the repository's reference/logging/ and student_template/logging/.

What it asks of the engine: experiment tags (grader.engine.tracking); the data ends on the day
the notebook runs, so nothing is regenerated: the kernel reports X_val and y_val after the
run and the metrics are recomputed on them (Lab.used_split); the published code fails under
pandas 3 (fillna(method=...) raises, and a chained in-place fill fills a copy), so the grader
restores pandas 2's fills in the kernel (compat.py, named in the feedback); and MLflow 3.14+'s
skops default refuses the forest at log_model, decided as in lab 5 (grader.labs.sklearn_trees).
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.lab import Compatibility, Lab, TestSplit
from grader.engine.rubric import Rubric
from grader.labs import sklearn_trees
from grader.labs.logging import checks

FOLDER = Path(__file__).resolve().parent
REPOSITORY = FOLDER.parents[2]
NOTEBOOK = "lab2_logging_model.ipynb"


def test_split(rubric: Rubric) -> TestSplit:
    """No split the grader can make: the notebook's own is read after the run (used_split).
    Until then, and for a notebook that made none, no rows."""
    return TestSplit([], ())


LAB = Lab(
    id="logging",
    folder=FOLDER,
    notebook=NOTEBOOK,
    reference=REPOSITORY / "reference" / "logging",
    template=REPOSITORY / "student_template" / "logging",
    summary="Lab 2, Logging a Model: an experiment with tags, a named run, params, metrics and a"
    " model with an input example",
    course=REPOSITORY / "tests/labs/logging/submissions/published.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    test_split=test_split,
    used_split=checks.used_split,
    candidates=checks.candidates,
    capture=checks.capture,
    compatibility=(
        Compatibility(
            "pandas_2_fills",
            "fillna(method=...), in-place fills of df[column]",
            'fillna(method="bfill") back-fills, and an in-place fill of a column taken from a'
            " DataFrame fills the DataFrame, as in pandas 2 that the lab was written for: in"
            " pandas 3 the data generator's"
            ' df["previous_days_demand"].fillna(method="bfill", inplace=True) raises TypeError,'
            " and rewritten as .bfill(inplace=True) it fills a copy and leaves the first row"
            " empty. On your own machine write"
            ' df["previous_days_demand"] = df["previous_days_demand"].bfill()',
            source=FOLDER / "compat.py",
        ),
        sklearn_trees.trust_trees("Train and log the model"),
    ),
    probe_modules=("mlflow.sklearn", "sklearn.ensemble", "skops.io", "pandas"),
    probe_rehearsal="sklearn.ensemble:RandomForestRegressor",
    preload=(
        "mlflow",
        "mlflow.models",
        "mlflow.sklearn",
        "numpy",
        "pandas",
        "sklearn.ensemble",
        "sklearn.metrics",
        "sklearn.model_selection",
        "skops.io",
    ),
    experiment_check="experiment",
    notes=checks.notes,
    error_hint=checks.hint_for,
    wants=checks.WANTS,
)
