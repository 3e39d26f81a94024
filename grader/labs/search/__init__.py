"""Lab 4 of the course, searching runs: ten runs logged with None values, names with spaces and
numpy dataset inputs, then six searches of them with mlflow.search_runs.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml) and its
checks (checks.py) and the fixes for errors its code meets (hints.py). Its reference and student
template are where every lab's are (reference/search/, student_template/search/).

What it asks of the engine: each run's dataset inputs
(grader.engine.evidence.server_reads.DatasetInput);
the run ids, in order, of the variables that hold the notebook's search results
(grader.engine.lab.Capture run_ids); the same searches made on the server after the run
(Lab.searches), the complex one with the run ids the notebook chose (its `run_ids` list, read
from the kernel); and no model probe, since the lab logs no model (no test split).
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Capture, Feedback, Lab, Needs, Speed
from grader.labs.search import checks, hints

FOLDER = Path(__file__).resolve().parent


def capture(rubric: Rubric) -> Capture:
    """The search results the rubric names (their runs, by id) and the ids the notebook chose."""
    specs = [s for s in rubric.checks if "variable" in s.options]
    ids = tuple(str(s.options["ids_variable"]) for s in specs if "ids_variable" in s.options)
    return Capture(variables=ids, run_ids=tuple(str(s.options["variable"]) for s in specs))


LAB = Lab(
    id="search",
    title="Lab 4, Search Runs: log ten runs with datasets, then search them six ways",
    folder=FOLDER,
    notebook="lab4_search_runs.ipynb",
    checks=checks.CHECKS,
    wants=checks.WANTS,
    course_notebook="published_placeholders.ipynb",
    # No model is logged: no test split, so no probe; no run is a candidate of run checks.
    needs=Needs(
        candidates=lambda ev: [],
        capture=capture,
        experiment_check="runs",
        searches=checks.searches,
    ),
    feedback=Feedback(error_hint=hints.hint_for),
    speed=Speed(preload=("mlflow", "mlflow.data", "numpy", "pandas")),
)
