"""Lab 2 of the course, Logging a Model: an experiment made with MlflowClient and its tags, and a
RandomForestRegressor trained on synthetic apple-demand data, logged with its params, four
validation metrics and a DataFrame input example.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
(checks.py), its error hints (hints.py) and its compatibility switch (compat.py); its
notebooks are where every lab's are (grader.engine.lab).

What it asks of the engine: experiment tags (grader.engine.evidence.server_reads); the data ends on
the day the notebook runs, so nothing is regenerated: the kernel reports X_val and y_val after the
run and the metrics are recomputed on them (Needs.used_split); the published code fails under pandas
3 (fillna(method=...) raises, and a chained in-place fill fills a copy), so the grader restores
pandas 2's fills in the kernel (compat.py, named in the feedback); and MLflow 3.14+'s skops default
refuses the forest at log_model, decided as in lab 5 (grader/labs/_compat).
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Compatibility, Design, Feedback, Lab, Needs, Speed, TestSplit
from grader.labs._compat import TREE, trust_trees
from grader.labs.logging import checks, hints

FOLDER = Path(__file__).resolve().parent


def test_split(rubric: Rubric) -> TestSplit:
    """No split the grader can make (the data ends today): the notebook's own is read after
    the run (Needs.used_split). A notebook that made none leaves no rows to predict."""
    return TestSplit([], ())


LAB = Lab(
    id="logging",
    title="Lab 2, Logging a Model: an experiment with tags, a named run, params, metrics and a"
    " model with an input example",
    folder=FOLDER,
    notebook="lab2_logging_model.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    wants=checks.WANTS,
    course_notebook="published.ipynb",
    design=Design(
        compatibility=(
            Compatibility(
                "pandas_2_fills",
                FOLDER / "compat.py",
                "pandas_2_fills",
                "fillna(method=...), in-place fills of df[column]",
                'fillna(method="bfill") back-fills, and an in-place fill of a column taken from'
                " a DataFrame fills the DataFrame, as in pandas 2 that the lab was written for:"
                " in pandas 3 the data generator's"
                ' df["previous_days_demand"].fillna(method="bfill", inplace=True) raises'
                " TypeError, and rewritten as .bfill(inplace=True) it fills a copy and leaves"
                " the first row empty. On your own machine write"
                ' df["previous_days_demand"] = df["previous_days_demand"].bfill()',
            ),
            trust_trees("Train and log the model"),
        ),
    ),
    needs=Needs(
        candidates=checks.candidates,
        test_split=test_split,
        used_split=checks.used_split,
        capture=checks.capture,
        experiment_check="experiment",
    ),
    feedback=Feedback(notes=checks.notes, error_hint=hints.hint_for),
    speed=Speed(
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
        probe_modules=("mlflow.sklearn", "sklearn.ensemble", "skops.io", "pandas"),
        probe_rehearsal="sklearn.ensemble:RandomForestRegressor",
        rehearsal_options={"skops_trusted_types": [TREE]},
    ),
)
