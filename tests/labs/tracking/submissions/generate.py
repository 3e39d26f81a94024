"""Regenerate the reference, the template and the labelled submissions from one source.

Run: python tests/labs/tracking/submissions/generate.py. Each labelled submission is the lab's code with
one deliberate change, named after the outcome it must get (see tests/test_grading.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat

from grader.labs import load
from grader.platforms.github import workflow_yaml

ROOT = Path(__file__).resolve().parents[4]
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
            before_predict: list[tuple[str, str]] | None = None,
            after_train: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:  # fmt: skip
    cells: list[tuple[str, str]] = []
    for kind, source in STEPS:
        if source == PREDICT and before_predict:
            cells += before_predict
        cells.append((kind, edit(source) if kind == "code" else source))
        if source == TRAIN and after_train:
            cells += after_train
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
    # A typed number that is not even the model's accuracy: the fix is still to log the variable.
    "loses_metric_typed_wrong": variant(
        lambda s: s.replace('log_metric("accuracy", accuracy)', 'log_metric("accuracy", 0.97)')
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


# Equivalent rewrites (issue 13): the lab done in another valid way. Each must get exactly 100.
SET_URI = 'mlflow.set_tracking_uri(uri="http://127.0.0.1:8080")'
START_RUN = "with mlflow.start_run():"
LOG_PARAMS = "    # Log the hyperparameters\n    mlflow.log_params(params)\n"


def swap(*pairs: tuple[str, str]) -> Callable[[str], str]:
    def edit(source: str) -> str:
        for old, new in pairs:
            source = source.replace(old, new)
        return source

    return edit


MAIN_SCRIPT = '''"""The Tracking lab as a script: every step in a function, run under __main__."""
import mlflow
from mlflow.models import infer_signature

import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

PARAMS = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}


def train():
    X, y = datasets.load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    lr = LogisticRegression(**PARAMS)
    lr.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, lr.predict(X_test))
    return lr, accuracy, (X_train, X_test, y_train, y_test)


def log(lr, accuracy, X_train):
    mlflow.set_tracking_uri("http://127.0.0.1:8080")
    mlflow.set_experiment("MLflow Quickstart")
    with mlflow.start_run():
        mlflow.log_params(PARAMS)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        signature = infer_signature(X_train, lr.predict(X_train))
        return mlflow.sklearn.log_model(
            sk_model=lr,
            name="iris_model",
            signature=signature,
            input_example=X_train,
            registered_model_name="tracking-quickstart",
        )


def main():
    lr, accuracy, (X_train, X_test, y_train, y_test) = train()
    model_info = log(lr, accuracy, X_train)
    loaded = mlflow.pyfunc.load_model(model_info.model_uri)
    predictions = loaded.predict(X_test)
    result = pd.DataFrame({"actual_class": y_test, "predicted_class": predictions})
    print(result.head())


if __name__ == "__main__":
    main()
'''

# A script run as `python train.py`: its options parsed with argparse (every one with a
# default), its data found beside it through __file__, an exit status at the end (issue 26).
ARGPARSE_SCRIPT = '''"""The Tracking lab as a command: python train.py [--max-iter N]."""
import argparse
import csv
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent


def options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE / "iris.csv")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--tracking-uri", default="http://127.0.0.1:8080")
    return parser.parse_args(argv)


def main():
    args = options()
    with open(args.data, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    X = np.array([[float(v) for v in row[:4]] for row in rows])
    y = np.array([int(row[4]) for row in rows])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    params = {"solver": "lbfgs", "max_iter": args.max_iter, "random_state": 8888}
    lr = LogisticRegression(**params).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, lr.predict(X_test))
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("MLflow Quickstart")
    with mlflow.start_run():
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        model_info = mlflow.sklearn.log_model(
            sk_model=lr,
            name="iris_model",
            signature=infer_signature(X_train, lr.predict(X_train)),
            input_example=X_train,
            registered_model_name="tracking-quickstart",
        )
    loaded = mlflow.pyfunc.load_model(model_info.model_uri)
    print(pd.DataFrame({"actual_class": y_test, "predicted_class": loaded.predict(X_test)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

HELPERS = '''"""Helpers of the lab notebook: data from iris.csv beside it, training, the server."""
import csv
import os
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

# The course's setup module points MLflow at the class server through the environment.
os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:8080"

PARAMS = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}


def load_data(path=Path(__file__).with_name("iris.csv")):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    X = [[float(v) for v in row[:4]] for row in rows]
    y = [int(row[4]) for row in rows]
    return train_test_split(X, y, test_size=0.2, random_state=42)


def train(X_train, y_train, X_test, y_test):
    model = LogisticRegression(**PARAMS).fit(X_train, y_train)
    return model, accuracy_score(y_test, model.predict(X_test))


def predict_with(model_uri, X):
    import mlflow

    return mlflow.pyfunc.load_model(model_uri).predict(X)
'''

HELPER_NOTEBOOK = [
    ("md", INTRO),
    (
        "code",
        "import numpy as np\nimport mlflow\nfrom mlflow.models import infer_signature\n\nimport lab_helpers",
    ),
    (
        "code",
        "X_train, X_test, y_train, y_test = lab_helpers.load_data()\nX_train, X_test = np.array(X_train), np.array(X_test)\nlr, accuracy = lab_helpers.train(X_train, y_train, X_test, y_test)",
    ),
    (
        "code",
        'mlflow.set_experiment("MLflow Quickstart")\n'
        + LOG.split('mlflow.set_experiment("MLflow Quickstart")\n', 1)[1].replace(
            LOG_PARAMS, "    mlflow.log_params(lab_helpers.PARAMS)\n"
        ),
    ),
    (
        "code",
        'result = {"predicted_class": lab_helpers.predict_with(model_info.model_uri, X_test)}',
    ),
]

CLASS_AND_LOOP = '''class QuickstartLab:
    """The lab's steps as methods, run in a loop; the predictions stay inside the object."""

    def __init__(self):
        X, y = datasets.load_iris(return_X_y=True)
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.2, random_state=42
        )
        self.params = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}

    def train(self):
        self.lr = LogisticRegression(**self.params).fit(self.X_train, self.y_train)
        self.accuracy = accuracy_score(self.y_test, self.lr.predict(self.X_test))

    def log(self):
        mlflow.set_experiment("MLflow Quickstart")
        with mlflow.start_run():
            mlflow.log_params(self.params)
            mlflow.log_metric("accuracy", self.accuracy)
            mlflow.set_tag("Training Info", "Basic LR model for iris data")
            self.model_info = mlflow.sklearn.log_model(
                sk_model=self.lr,
                name="iris_model",
                signature=infer_signature(self.X_train, self.lr.predict(self.X_train)),
                input_example=self.X_train,
                registered_model_name="tracking-quickstart",
            )

    def predict(self):
        model = mlflow.pyfunc.load_model(self.model_info.model_uri)
        self.predicted = [int(v) for v in model.predict(self.X_test)]


lab = QuickstartLab()
for step in (lab.train, lab.log, lab.predict):
    step()'''

REGISTER_AFTER = '    )\n\nmlflow.register_model(model_info.model_uri, "tracking-quickstart")'
CREATE_VERSION = """    )

client = mlflow.MlflowClient()
client.create_registered_model("tracking-quickstart")
client.create_model_version(
    name="tracking-quickstart",
    source=model_info.model_uri,
    run_id=model_info.run_id,
    model_id=model_info.model_id,
)"""
NOT_REGISTERED = ('        registered_model_name="tracking-quickstart",\n', "")

EQUIVALENT: dict[str, list[tuple[str, str]]] = {
    "rewrite_env_var_uri": variant(
        swap(
            (
                SET_URI,
                'import os\nos.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:8080"\nos.environ["MLFLOW_REGISTRY_URI"] = "http://127.0.0.1:8080"',
            )
        )
    ),
    "rewrite_percent_env_uri": variant(
        swap(
            (
                SET_URI,
                "%env MLFLOW_TRACKING_URI=http://127.0.0.1:8080\n%set_env MLFLOW_REGISTRY_URI http://127.0.0.1:8080",
            )
        )
    ),
    "rewrite_client_positional": variant(
        swap(
            (
                SET_URI,
                'from mlflow import MlflowClient\nclient = MlflowClient("http://127.0.0.1:8080")\nprint(mlflow.get_tracking_uri())',
            ),
            (START_RUN, "with mlflow.start_run() as run:"),
            (
                '    mlflow.set_tag("Training Info", "Basic LR model for iris data")',
                '    client.set_tag(run.info.run_id, "Training Info", "Basic LR model for iris data")',
            ),
        )
    ),
    "rewrite_nested_child_run": variant(
        swap(
            (
                START_RUN + "\n",
                'with mlflow.start_run(run_name="parent"), mlflow.start_run(run_name="child", nested=True):\n',
            )
        )
    ),
    "rewrite_register_model_after": variant(swap(NOT_REGISTERED, ("    )", REGISTER_AFTER))),
    "rewrite_create_model_version": variant(swap(NOT_REGISTERED, ("    )", CREATE_VERSION))),
    "rewrite_experiment_id": variant(
        swap(
            (
                'mlflow.set_experiment("MLflow Quickstart")',
                'experiment_id = mlflow.create_experiment("MLflow Quickstart")\nmlflow.set_experiment(experiment_id=experiment_id)',
            )
        )
    ),
    "rewrite_experiment_env": variant(
        swap(
            (
                'mlflow.set_experiment("MLflow Quickstart")',
                'import os\nmlflow.create_experiment("MLflow Quickstart")\nos.environ["MLFLOW_EXPERIMENT_NAME"] = "MLflow Quickstart"',
            )
        )
    ),
    # A scratch run in another experiment first, with a typed accuracy: it is not the graded
    # run's call (issue 26).
    "rewrite_scratch_run": variant(
        swap(
            (
                '# Create a new MLflow Experiment\nmlflow.set_experiment("MLflow Quickstart")',
                'mlflow.set_experiment("scratch")\nwith mlflow.start_run(run_name="smoke test"):\n'
                '    mlflow.log_metric("accuracy", 0.1)\n\n'
                '# Create a new MLflow Experiment\nmlflow.set_experiment("MLflow Quickstart")',
            )
        )
    ),
    # A provisional value at step 0, the computed one at step 1: MLflow shows the latest.
    "rewrite_metric_history": variant(
        swap(
            (
                '    mlflow.log_metric("accuracy", accuracy)',
                '    mlflow.log_metric("accuracy", 0.0, step=0)\n'
                '    mlflow.log_metric(key="accuracy", value=accuracy, step=1)',
            )
        )
    ),
    # Features as a DataFrame: the signature names the columns (issue 26).
    "rewrite_named_columns": variant(
        swap(("load_iris(return_X_y=True)", "load_iris(return_X_y=True, as_frame=True)"))
    ),
    "rewrite_autolog": variant(
        swap(("# Load the Iris dataset", "mlflow.sklearn.autolog()\n\n# Load the Iris dataset"))
    ),
    "rewrite_class_and_loop": [
        ("md", INTRO),
        ("code", IMPORTS),
        ("code", SET_URI),
        ("code", CLASS_AND_LOOP),
    ],
    "rewrite_predict_row_by_row": variant(
        swap(
            (
                "predictions = loaded_model.predict(X_test)",
                "predictions = [loaded_model.predict(row.reshape(1, -1))[0] for row in X_test]",
            )
        )
    ),
}

# Not the lab: runs that imitate the right values. Each loses exactly the checks that
# tests/test_grading.py names (the README's check table says why).
CONSTANT_MODEL = '''import numpy as np


class AlwaysSetosa(mlflow.pyfunc.PythonModel):
    """Predicts class 0 for every row, whatever it is given."""

    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input), dtype=int)


model = AlwaysSetosa()
accuracy = accuracy_score(y_test, model.predict(None, X_test))'''

WRAPPER_MODEL = '''class Wrapped(mlflow.pyfunc.PythonModel):
    """The trained model inside a PythonModel: predictions right, no scikit-learn flavor."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        return self.model.predict(model_input)


model = Wrapped(lr)'''

AS_PYFUNC = (
    "model_info = mlflow.sklearn.log_model(\n        sk_model=lr,",
    "model_info = mlflow.pyfunc.log_model(\n        python_model=model,",
)

NOT_THE_LAB: dict[str, list[tuple[str, str]]] = {
    "not_lab_params_differ": variant(
        swap(
            (
                "lr = LogisticRegression(**params)",
                "lr = LogisticRegression(max_iter=200, random_state=1)",
            )
        )
    ),
    "not_lab_other_estimator": variant(
        swap(
            (
                "from sklearn.linear_model import LogisticRegression",
                "from sklearn.linear_model import LogisticRegression, RidgeClassifier",
            ),
            (
                "lr = LogisticRegression(**params)",
                "lr = RidgeClassifier(max_iter=1000, random_state=8888)",
            ),
        )
    ),
    "not_lab_pyfunc_wrapper": variant(
        swap(AS_PYFUNC), before_predict=None, after_train=[("code", WRAPPER_MODEL)]
    ),
    "not_lab_constant_model": variant(
        swap(
            ("# Calculate metrics\naccuracy = accuracy_score(y_test, y_pred)", CONSTANT_MODEL),
            AS_PYFUNC,
            (
                "infer_signature(X_train, lr.predict(X_train))",
                "infer_signature(X_train, model.predict(None, X_train))",
            ),
        )
    ),
    "not_lab_predict_train": variant(
        swap(
            (
                "predictions = loaded_model.predict(X_test)",
                "predictions = loaded_model.predict(X_train)",
            ),
            (
                "result = pd.DataFrame(X_test, columns=iris_feature_names)",
                "result = pd.DataFrame(X_train, columns=iris_feature_names)",
            ),
            ('result["actual_class"] = y_test', 'result["actual_class"] = y_train'),
        )
    ),
}


def iris_csv() -> str:
    from sklearn import datasets

    X, y = datasets.load_iris(return_X_y=True)
    rows = ["sepal_length,sepal_width,petal_length,petal_width,target"]
    rows += [
        ",".join([*(repr(float(v)) for v in x), str(int(t))]) for x, t in zip(X, y, strict=True)
    ]
    return "\n".join(rows) + "\n"


def nbformat_42(cells: list[tuple[str, str]]) -> str:
    """CELLS as an older Jupyter saved them: nbformat 4.2, no cell ids."""
    raw = json.loads(nbformat.writes(notebook(cells)))
    raw["nbformat_minor"] = 2
    for cell in raw["cells"]:
        cell.pop("id", None)
    return json.dumps(raw, indent=1) + "\n"


def write_rewrites() -> None:
    for name, cells in {**EQUIVALENT, **NOT_THE_LAB}.items():
        nbformat.write(notebook(cells), HERE / f"{name}.ipynb")
    (HERE / "rewrite_main_function.py").write_text(MAIN_SCRIPT, encoding="utf-8")
    (HERE / "rewrite_crlf.py").write_bytes(script(STEPS).replace("\n", "\r\n").encode())
    # As Windows Notepad saves them: a UTF-8 byte-order mark first.
    (HERE / "rewrite_bom.py").write_bytes(script(STEPS).replace("\n", "\r\n").encode("utf-8-sig"))
    (HERE / "rewrite_bom.ipynb").write_bytes(nbformat.writes(notebook(STEPS)).encode("utf-8-sig"))
    # The lab's own program run in a process the notebook starts: a shell escape, or
    # subprocess with the notebook's own Python (issue 26).
    for name, cell in {
        "rewrite_shell_escape": "!python train.py",
        "rewrite_subprocess": "import subprocess\nimport sys\n\n"
        'subprocess.run([sys.executable, "train.py"], check=True)',
        "error_shell_command_fails": "!python trian.py",
    }.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        nbformat.write(notebook([("md", INTRO), ("code", cell)]), folder / "lab.ipynb")
        (folder / "train.py").write_text(MAIN_SCRIPT, encoding="utf-8")
    argparse_folder = HERE / "rewrite_argparse_script"
    argparse_folder.mkdir(exist_ok=True)
    (argparse_folder / "train.py").write_text(ARGPARSE_SCRIPT, encoding="utf-8")
    (argparse_folder / "iris.csv").write_text(iris_csv(), encoding="utf-8")
    (HERE / "rewrite_nbformat_42.ipynb").write_text(nbformat_42(STEPS), encoding="utf-8")
    folder = HERE / "rewrite_helper_module"
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook(HELPER_NOTEBOOK), folder / "lab.ipynb")
    (folder / "lab_helpers.py").write_text(HELPERS, encoding="utf-8")
    (folder / "iris.csv").write_text(iris_csv(), encoding="utf-8")


# Correct but heavy (issue 13): generated at test time (tests/test_grading.py), not
# committed: one of them is 30 MB.
HISTORY = """from mlflow.entities import Metric
import time

# A training curve: 20,000 values, sent as the tracking API takes them (1,000 per batch).
client = mlflow.MlflowClient()
now = int(time.time() * 1000)
history = [Metric("train_loss", 1.0 / (step + 1), now + step, step) for step in range(20000)]
for start in range(0, len(history), 1000):
    client.log_batch(model_info.run_id, metrics=history[start : start + 1000])"""


def with_image_outputs(cells: list[tuple[str, str]], megabytes: int) -> nbformat.NotebookNode:
    """CELLS saved with MEGABYTES of PNG outputs (as a plotting student's notebook is)."""
    import base64
    import random

    nb = notebook(cells)
    code = [c for c in nb.cells if c.cell_type == "code"]
    noise = random.Random(13)
    for index in range(megabytes):
        png = base64.b64encode(noise.randbytes(3 * 1024 * 1024 // 4)).decode()
        output = nbformat.v4.new_output(
            "display_data", data={"image/png": png, "text/plain": "<Figure>"}
        )
        code[index % len(code)].outputs.append(output)
    return nb


def write_heavy(dest: Path) -> dict[str, Path]:
    """The heavy submissions, written into DEST: {name: path}."""
    many = [("code", f"cell_{i} = {i}") for i in range(1500 - len(STEPS))]
    written = {
        "heavy_image_outputs": with_image_outputs(STEPS, 30),
        "heavy_1500_cells": notebook(STEPS[:3] + many + STEPS[3:]),
        "heavy_20000_metric_values": notebook(variant(before_predict=[("code", HISTORY)])),
    }
    paths = {}
    for name, nb in written.items():
        paths[name] = dest / f"{name}.ipynb"
        nbformat.write(nb, paths[name])
    return paths


def script(cells: list[tuple[str, str]]) -> str:
    parts = []
    for kind, source in cells:
        if kind == "md":
            parts.append("# %% [markdown]\n" + "\n".join(f"# {ln}" for ln in source.splitlines()))
        else:
            parts.append("# %%\n" + source)
    return "\n\n".join(parts) + "\n"


def main() -> None:
    lab = load("tracking")
    nbformat.write(notebook(STEPS), lab.reference / lab.notebook)
    template = [(k, TEMPLATE_TODO.get(s, s)) for k, s in STEPS]
    nbformat.write(notebook(template), lab.template / lab.notebook)
    for name, cells in LABELLED.items():
        nb = notebook(cells)
        if name == "full_marks_mlflow3":  # a kernelspec this machine lacks: graded all the same
            nb.metadata["kernelspec"] = {"name": "conda-env-mlops-py", "display_name": "mlops"}
        nbformat.write(nb, HERE / f"{name}.ipynb")
    (HERE / "full_marks_script.py").write_text(script(STEPS), encoding="utf-8")
    write_rewrites()
    (HERE / "invalid_not_json.ipynb").write_text('{"cells": [ this is not JSON\n', encoding="utf-8")
    # The workflow the lab's template carries: `labgrade release` writes it for its rubric.
    workflow = lab.template / ".github" / "workflows" / "classroom.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(workflow_yaml(load("tracking").rubric()), encoding="utf-8")


if __name__ == "__main__":
    main()
