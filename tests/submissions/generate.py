"""Regenerate the reference, the template and the labelled submissions from one source.

Run: python tests/submissions/generate.py. Each labelled submission is the lab's code with
one deliberate change, named after the outcome it must get (see tests/test_grading.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

from grader.github import workflow_yaml
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

INTRO = """# Lab: MLflow Tracking

Log, register and load a scikit-learn model with the MLflow fluent API.
The grader runs this notebook top to bottom against its own tracking server:
run `pytest grader` to see your score."""

IMPORTS = """import mlflow
from mlflow.models import infer_signature

import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score, recall_score, f1_score"""

TRAIN = """# Load the Iris dataset
X, y = datasets.load_iris(return_X_y=True)

# Split the data into training and test sets
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=42
)

# Define the model hyperparameters
params = {
    "solver": "lbfgs",
    "max_iter": 1000,
    "random_state": 8888,
}

# Train the model
lr = LogisticRegression(**params)
lr.fit(X_train, y_train)

# Predict on the test set
y_pred = lr.predict(X_test)

# Calculate metrics
accuracy = accuracy_score(y_test, y_pred)"""

LOG = """# Set our tracking server uri for logging
mlflow.set_tracking_uri(uri="http://127.0.0.1:8080")

# Create a new MLflow Experiment
mlflow.set_experiment("MLflow Quickstart")

# Start an MLflow run
with mlflow.start_run():
    # Log the hyperparameters
    mlflow.log_params(params)

    # Log the loss metric
    mlflow.log_metric("accuracy", accuracy)

    # Set a tag that we can use to remind ourselves what this run was for
    mlflow.set_tag("Training Info", "Basic LR model for iris data")

    # Infer the model signature
    signature = infer_signature(X_train, lr.predict(X_train))

    # Log the model
    model_info = mlflow.sklearn.log_model(
        sk_model=lr,
        name="iris_model",
        signature=signature,
        input_example=X_train,
        registered_model_name="tracking-quickstart",
    )"""

PREDICT = """# Load the model back for predictions as a generic Python Function model
loaded_model = mlflow.pyfunc.load_model(model_info.model_uri)

predictions = loaded_model.predict(X_test)

iris_feature_names = datasets.load_iris().feature_names

# Convert X_test validation feature data to a Pandas DataFrame
result = pd.DataFrame(X_test, columns=iris_feature_names)

# Add the actual classes to the DataFrame
result["actual_class"] = y_test

# Add the model predictions to the DataFrame
result["predicted_class"] = predictions

result[:4]"""

STEPS = [
    ("md", INTRO),
    ("md", "## Step 3 - Train a model and prepare metadata for logging"),
    ("code", IMPORTS),
    ("code", TRAIN),
    ("md", "## Step 4 - Log the model and its metadata to MLflow"),
    ("code", LOG),
    ("md", "## Step 5 - Load the model as a Python Function (pyfunc) and use it for inference"),
    ("code", PREDICT),
]

TEMPLATE_TODO = {
    TRAIN: """# TODO (Step 3): load iris, split it (test_size=0.2, random_state=42),
# define params (solver "lbfgs", max_iter 1000, random_state 8888),
# train a LogisticRegression `lr` and compute `accuracy` on the test split.""",
    LOG: """# TODO (Steps 2 and 4): set the tracking URI, set the experiment "MLflow Quickstart",
# then inside `with mlflow.start_run():` log the params, the "accuracy" metric and the
# "Training Info" tag, and log the model with a signature and an input example while
# registering it as "tracking-quickstart" (keep the result in `model_info`).""",
    PREDICT: """# TODO (Step 5): load the model with mlflow.pyfunc.load_model(model_info.model_uri),
# predict on X_test, and build the `result` DataFrame with a "predicted_class" column.""",
}


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source) in enumerate(cells):
        new = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(new(source, id=f"cell-{index}"))  # stable ids: regenerating is a no-op
    return nb


def variant(edit: Callable[[str], str] = lambda s: s, extra: list[tuple[str, str]] | None = None,
            before_predict: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:  # fmt: skip
    cells: list[tuple[str, str]] = []
    for kind, source in STEPS:
        if source == PREDICT and before_predict:
            cells += before_predict
        cells.append((kind, edit(source) if kind == "code" else source))
    return cells + (extra or [])


PUBLISHED = variant(lambda s: s.replace('    "max_iter": 1000,\n', '    "max_iter": 1000,\n    "multi_class": "auto",\n')
                    .replace('name="iris_model"', 'artifact_path="iris_model"'))  # fmt: skip

LABELLED: dict[str, list[tuple[str, str]]] = {
    "full_marks_published": PUBLISHED,
    "full_marks_mlflow3": variant(
        lambda s: s.replace('mlflow.set_tracking_uri(uri="http://127.0.0.1:8080")\n', "")
    ),
    "full_marks_hardcoded_uri": variant(
        lambda s: s.replace("http://127.0.0.1:8080", "http://127.0.0.1:8081"),
        extra=[
            (
                "code",
                'client = mlflow.MlflowClient(tracking_uri="http://localhost:8081")\n'
                'mlflow.set_registry_uri("http://localhost:8081")\n'
                "client.search_experiments()",
            )
        ],
    ),
    "full_marks_rerun": variant(
        before_predict=[
            (
                "code",
                LOG.replace(
                    'log_metric("accuracy", accuracy)', 'log_metric("accuracy", 0.5 * accuracy)'
                ),
            ),
            ("code", LOG),
        ]
    ),
    "full_marks_cleanup": variant(
        extra=[
            ("md", "## Step 7 - Cleanup"),
            (
                "code",
                'exp = mlflow.get_experiment_by_name("MLflow Quickstart")\nmlflow.delete_experiment(exp.experiment_id)',
            ),
        ]
    ),
    "full_marks_pip_cell": variant(
        before_predict=[
            (
                "code",
                "%pip install mlflow scikit-learn\n!mlflow server --host 127.0.0.1 --port 8080",
            )
        ]
    ),
    "loses_experiment": variant(
        lambda s: s.replace(
            'set_experiment("MLflow Quickstart")', 'set_experiment("MLflow quickstart ")'
        )
    ),
    "loses_params": variant(
        lambda s: s.replace(
            "mlflow.log_params(params)", 'mlflow.log_params({"solver": "lbfgs", "max_iter": 1000})'
        )
    ),
    "loses_metric": variant(
        lambda s: s.replace(
            'log_metric("accuracy", accuracy)',
            'log_metric("accuracy", accuracy_score(y_train, lr.predict(X_train)))',
        )
    ),
    "loses_metric_hardcoded": variant(
        lambda s: s.replace('log_metric("accuracy", accuracy)', 'log_metric("accuracy", 1.0)')
    ),
    "loses_tag": variant(
        lambda s: s.replace(
            '    mlflow.set_tag("Training Info", "Basic LR model for iris data")\n', ""
        )
    ),
    "loses_signature": variant(
        lambda s: s.replace("        signature=signature,\n        input_example=X_train,\n", "")
    ),
    "loses_registered_model": variant(
        lambda s: s.replace('        registered_model_name="tracking-quickstart",\n', "")
    ),
    "loses_predictions": variant(
        lambda s: s.replace(
            "loaded_model = mlflow.pyfunc.load_model(model_info.model_uri)\n\npredictions = loaded_model.predict(X_test)",
            "predictions = lr.predict(X_test)",
        )
    ),
    # Common slips that get a specific hint (issue 7).
    "loses_params_renamed_key": variant(
        lambda s: s.replace(
            "mlflow.log_params(params)",
            'mlflow.log_params({"solver": params["solver"], "max_iter": params["max_iter"], "seed": params["random_state"]})',
        )
    ),
    "loses_metric_renamed": variant(
        lambda s: s.replace(
            'log_metric("accuracy", accuracy)', 'log_metric("test_accuracy", accuracy)'
        )
    ),
    "loses_registered_model_name": variant(
        lambda s: s.replace(
            'registered_model_name="tracking-quickstart"',
            'registered_model_name="tracking_quickstart"',
        )
    ),
    "loses_predictions_sklearn_flavor": variant(
        lambda s: s.replace(
            "mlflow.pyfunc.load_model(model_info.model_uri)",
            "mlflow.sklearn.load_model(model_info.model_uri)",
        )
    ),
    "error_artifact_path_and_name": variant(
        lambda s: s.replace(
            '        name="iris_model",\n',
            '        name="iris_model",\n        artifact_path="iris_model",\n',
        )
    ),
    "error_training_inside_run": variant(
        lambda s: s.replace(
            "    mlflow.log_params(params)\n",
            "    mlflow.log_params(params)\n\n    # Train the model\n    lr = LogisticRegression(**params)\n    lr.fit(X_train)\n",
        )
    ),
    "error_in_cell": variant(
        lambda s: s.replace(
            "        signature=signature,", "        signature=signatures,"
        ).replace("    # Log the model\n    model_info", "# Log the model\nmodel_info")
    ),
    "timeout_after_logging": variant(
        before_predict=[("code", "import time\nwhile True:\n    time.sleep(0.5)")]
    ),
}


def script(cells: list[tuple[str, str]]) -> str:
    parts = []
    for kind, source in cells:
        if kind == "md":
            parts.append("# %% [markdown]\n" + "\n".join(f"# {ln}" for ln in source.splitlines()))
        else:
            parts.append("# %%\n" + source)
    return "\n\n".join(parts) + "\n"


def main() -> None:
    nbformat.write(notebook(STEPS), ROOT / "reference" / "lab1_tracking_quickstart.ipynb")
    template = [(k, TEMPLATE_TODO.get(s, s)) for k, s in STEPS]
    nbformat.write(notebook(template), ROOT / "student_template" / "lab1_tracking_quickstart.ipynb")
    for name, cells in LABELLED.items():
        nb = notebook(cells)
        if name == "full_marks_mlflow3":  # a kernelspec this machine lacks: graded all the same
            nb.metadata["kernelspec"] = {"name": "conda-env-mlops-py", "display_name": "mlops"}
        nbformat.write(nb, HERE / f"{name}.ipynb")
    (HERE / "full_marks_script.py").write_text(script(STEPS), encoding="utf-8")
    (HERE / "invalid_not_json.ipynb").write_text('{"cells": [ this is not JSON\n', encoding="utf-8")
    # The workflow student_template/ carries: `labgrade release` writes it for its rubric.
    workflow = ROOT / "student_template" / ".github" / "workflows" / "classroom.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(workflow_yaml(load_rubric()), encoding="utf-8")


if __name__ == "__main__":
    main()
