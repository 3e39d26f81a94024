"""Lab 6 of the course, automatic logging: a connection check run, then mlflow.autolog()
logs a RandomForestRegressor fitted on the diabetes data (its params, training metrics and
model) with no logging call of the notebook's own.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
and hints (checks.py) and its data (data.py). Its reference and template are at the top level
(reference/autolog/, student_template/autolog/).

What it asks of the engine: the split has no seed, so the logged model predicts every row of
the data and the checks read the notebook's own X_train and y_train from the kernel (a 2-D
array is captured as rows); MLflow's own run tags (mlflow.autologging) tell a run autologging
created from one the notebook logged itself. Step 4's mlflow.tensorflow.autolog() raises
ModuleNotFoundError where TensorFlow is not installed (it is not a dependency of the grader):
that error is expected, so the cell does not stop the notebook nor cost a point. Steps 3 and 4
only change autologging settings and no fit follows them: nothing is logged, so nothing is
graded there. MLflow's sklearn autologging saves with cloudpickle (its own default), so skops
never refuses the forest here and no compatibility switch is needed.
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.lab import Capture, ExpectedError, Lab
from grader.engine.scoring import all_runs
from grader.labs.autolog import checks
from grader.labs.autolog.data import SPLIT_VARIABLES, diabetes

FOLDER = Path(__file__).resolve().parent
ROOT = FOLDER.parents[2]
NOTEBOOK = "lab6_autolog.ipynb"

NO_TENSORFLOW = (
    "Step 4 enables TensorFlow's autologging, and the grading machine has no TensorFlow (the"
    " lab's fits are scikit-learn's): the rest of that cell only changes settings, so nothing"
    " is lost. On your own machine, pip install tensorflow for that line to run"
)

LAB = Lab(
    id="autolog",
    folder=FOLDER,
    notebook=NOTEBOOK,
    reference=ROOT / "reference" / "autolog",
    template=ROOT / "student_template" / "autolog",
    summary="Lab 6, MLflow autologging: a RandomForestRegressor's params, metrics and model"
    " logged by mlflow.autolog()",
    course=ROOT / "tests/labs/autolog/submissions/published.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    test_split=lambda rubric: diabetes(),
    candidates=all_runs,
    capture=lambda rubric: Capture(SPLIT_VARIABLES),
    expected_errors=(ExpectedError("ModuleNotFoundError", "tensorflow", NO_TENSORFLOW),),
    probe_modules=("mlflow.sklearn", "sklearn.ensemble"),
    probe_rehearsal="sklearn.ensemble:RandomForestRegressor",
    preload=(
        "mlflow",
        "mlflow.sklearn",
        "numpy",
        "sklearn.datasets",
        "sklearn.ensemble",
        "sklearn.model_selection",
    ),
    notes=checks.notes,
    error_hint=checks.hint_for,
    wants=checks.WANTS,
)
