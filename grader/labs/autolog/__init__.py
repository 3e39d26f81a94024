"""Lab 6 of the course, automatic logging: a connection check run, then mlflow.autolog()
logs a RandomForestRegressor fitted on the diabetes data (its params, training metrics and
model) with no logging call of the notebook's own.

Everything the grader knows of this lab is in this folder: its rubric (rubric.toml), its checks
(checks.py), the fixes for its errors (hints.py) and its data (data.py). Its notebooks are
where every lab's are: reference/autolog/ and student_template/autolog/ at the top level.

What it asks of the engine: the split has no seed, so the logged model predicts every row of
the data and the checks read the notebook's own X_train and y_train from the kernel (a 2-D
array or DataFrame of features is captured as its rows); MLflow's own run tags
(mlflow.autologging) tell a run autologging created from one the notebook logged itself. Step
4's mlflow.tensorflow.autolog() raises ModuleNotFoundError where TensorFlow is not installed
(it is not a dependency of the grader): that error is expected, so the cell does not stop the
notebook nor cost a point. Steps 3 and 4 only change autologging settings and no fit follows
them: nothing is logged, so nothing is graded there. MLflow's sklearn autologging saves with
cloudpickle (its own default), so skops never refuses the forest here and no compatibility
switch is needed.
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.lab import Capture, Design, ExpectedError, Feedback, Lab, Needs, Speed
from grader.labs.autolog import checks, hints
from grader.labs.autolog.data import SPLIT_VARIABLES, diabetes

FOLDER = Path(__file__).resolve().parent

NO_TENSORFLOW = (
    "Step 4 enables TensorFlow's autologging, and the grading machine has no TensorFlow (the"
    " lab's fits are scikit-learn's): the rest of that cell only changes settings, so nothing"
    " is lost. On your own machine, pip install tensorflow for that line to run"
)

LAB = Lab(
    id="autolog",
    title="Lab 6, MLflow autologging: a RandomForestRegressor's params, metrics and model"
    " logged by mlflow.autolog()",
    folder=FOLDER,
    notebook="lab6_autolog.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    wants=checks.WANTS,
    course_notebook="published.ipynb",
    design=Design(
        expected_errors=(ExpectedError("ModuleNotFoundError", "tensorflow", NO_TENSORFLOW),),
    ),
    needs=Needs(
        test_split=lambda rubric: diabetes(),
        capture=lambda rubric: Capture(SPLIT_VARIABLES, tables=SPLIT_VARIABLES[:1]),
    ),
    feedback=Feedback(notes=checks.notes, error_hint=hints.hint_for),
    speed=Speed(
        preload=(
            "mlflow",
            "mlflow.sklearn",
            "numpy",
            "sklearn.datasets",
            "sklearn.ensemble",
            "sklearn.model_selection",
        ),
        probe_modules=("mlflow.sklearn", "sklearn.ensemble"),
        probe_rehearsal="sklearn.ensemble:RandomForestRegressor",
        rehearsal_options={"serialization_format": "cloudpickle"},
    ),
)
