"""Lab 3 of the course, mlflow.data: the red wine quality CSV read from its web address and
logged as a run's training input, read back and its source loaded again; then a PandasDataset
with targets and predictions and two NumpyDatasets, built and not logged.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
(checks.py), the fixes for errors its code meets (hints.py) and the file that answers its data
address (data/winequality-red.csv: synthetic values, the real file's twelve columns and
semicolon separator, 1,599 rows). Its reference and student template are where every lab's are
(reference/data/, student_template/data/).

What it asks of the engine: its web address answered from that file inside the sandbox
(grader.engine.lab.Fixture), however the notebook fetches it; each run's dataset inputs
(grader.engine.evidence.server_reads.DatasetInput); the datasets the notebook built
(grader.engine.evidence.records.BuiltDataset: the course's cells reuse `dataset`, `x` and `y`,
so the variables left at the end hold the last only); and no model probe (no model).
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Capture, Design, Feedback, Fixture, Lab, Needs, Speed
from grader.labs.data import checks, hints

FOLDER = Path(__file__).resolve().parent
URL = "http://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/winequality-red.csv"


def capture(rubric: Rubric) -> Capture:
    """The variables the rubric names (the dataset read back from the run)."""
    return Capture(
        variables=tuple(
            str(s.options["variable"]) for s in rubric.checks if "variable" in s.options
        )
    )


LAB = Lab(
    id="data",
    title="Lab 3, mlflow.data: log a web dataset as a run's input, read it back, build datasets",
    folder=FOLDER,
    notebook="lab3_mlflow_data.ipynb",
    checks=checks.CHECKS,
    wants=checks.WANTS,
    course_notebook="published.ipynb",
    # The address as the course writes it, and with https (where the real one now sends it).
    design=Design(
        fixtures=tuple(
            Fixture(url, FOLDER / "data" / "winequality-red.csv", "text/csv")
            for url in (URL, URL.replace("http://", "https://", 1))
        )
    ),
    # No model is logged: no test split, so no probe; no run is a candidate of run checks.
    needs=Needs(candidates=lambda ev: [], capture=capture),
    feedback=Feedback(error_hint=hints.hint_for),
    speed=Speed(preload=("mlflow", "mlflow.data", "numpy", "pandas")),
)
