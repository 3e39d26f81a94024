"""Regenerate the adversarial smoke of labs 2, 3, 4 and 6 (logging, data, search, autolog).

Run: python -m tests.labs.adversarial_smoke (as a module: run as a file, its folder would put
the test packages tests/labs/logging and tests/labs/data before the standard library's).

Each lab gets a few hostile submissions made from its own reference (reference/<id>/), written
to tests/labs/<id>/adversarial/: the generic ones of lab 1's adversarial suite
(tests/labs/tracking/adversarial/generate.py: a loop, sys.exit, writes outside the folder),
placed where they say something about this lab, and cheats that try to earn this lab's points
without doing its work. The grade each must get is in tests/labs/test_adversarial_smoke.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

from tests.helpers import MARKER, MARKER_FOLDERS
from tests.labs.variants import swap, variant

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LOOP = "while True:\n    pass"
EXIT = "import sys\n\nsys.exit(0)"
# Lab 1's, aimed at every folder tests.helpers.escaped_markers looks in.
WRITES_OUTSIDE = f"""import contextlib
import os

targets = {[f"{folder}/{MARKER}" for folder in MARKER_FOLDERS]!r}
targets += [os.path.expanduser("~/{MARKER}"), "../{MARKER}", "../../{MARKER}"]
for target in targets:
    with contextlib.suppress(OSError), open(target, "w") as fh:
        fh.write("written by a submission")"""
WINE = "http://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/winequality-red.csv"
WINE_COLUMNS = (
    '["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",'
    ' "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",'
    ' "quality"]'
)

# Lab 3 declares one address (and its https spelling) answered from its own file: every other
# way to the web must stay closed, the real file's host included. Raises if one is open, so a
# sandbox with a network would cost this notebook its grade.
BEYOND_FIXTURE = f"""import socket
import urllib.request

import requests

FIXTURE = "{WINE}"


def raw_http():
    # The fixture's own request, written by hand: no library the grader answers for.
    with socket.create_connection(("archive.ics.uci.edu", 80), timeout=3) as conn:
        conn.sendall(b"GET /ml/machine-learning-databases/wine-quality/winequality-red.csv"
                     b" HTTP/1.0\\r\\nHost: archive.ics.uci.edu\\r\\n\\r\\n")
        return conn.recv(100)


attempts = {{
    "the fixture's address with a query": lambda: urllib.request.urlopen(
        FIXTURE + "?download=1", timeout=3
    ).read(),
    "the white wine file beside it": lambda: requests.get(
        FIXTURE.replace("red", "white"), timeout=3
    ).content,
    "the real data set's current address": lambda: requests.get(
        "https://archive.ics.uci.edu/static/public/186/wine+quality.zip", timeout=3
    ).content,
    "the fixture's host over a raw socket": raw_http,
    "a DNS lookup": lambda: socket.getaddrinfo("archive.ics.uci.edu", 80),
    "a public resolver": lambda: socket.create_connection(("1.1.1.1", 53), timeout=3).close(),
}}
reached = []
for what, attempt in attempts.items():
    try:
        attempt()
    except Exception:
        continue
    reached.append(what)
if reached:
    raise RuntimeError(f"reached beyond the lab's fixture: {{reached}}")"""

# Lab 2: MLflow's client and fluent calls replaced by fakes that answer as the server would,
# so that every cell runs and prints what a graded run would, and nothing reaches the server.
PATCHES_CLIENT = """import types

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient

tags = {"project_name": "grocery-forecasting", "store_dept": "produce", "team": "stores-ml",
        "project_quarter": "Q3-2023", "mlflow.note.content": "apples"}
experiments = [
    types.SimpleNamespace(experiment_id="0", name="Default", lifecycle_stage="active", tags={}),
    types.SimpleNamespace(experiment_id="1", name="Apple_Models", lifecycle_stage="active",
                          tags=tags),
]
fake_run = types.SimpleNamespace(
    info=types.SimpleNamespace(run_id="r" * 32, run_name="apples_rf_test", status="FINISHED")
)
MlflowClient.create_experiment = lambda self, *a, **k: "1"
MlflowClient.search_experiments = lambda self, *a, filter_string=None, **k: (
    experiments[1:] if filter_string else experiments
)
mlflow.set_experiment = lambda *a, **k: experiments[1]
for name in ("log_params", "log_metrics", "log_metric", "set_tag"):
    setattr(mlflow, name, lambda *a, **k: None)
mlflow.sklearn.log_model = lambda *a, **k: types.SimpleNamespace(model_uri="models:/fake")


class _Run:
    def __enter__(self):
        return fake_run

    def __exit__(self, *exc):
        return False


mlflow.start_run = lambda *a, **k: _Run()"""

# Lab 4: a search's result made up in the notebook, shaped as mlflow.search_runs returns it
# (the later cells pick GPT-2 and GPT-3.5 out of it), with ids no server holds.
MADE_UP_SEARCH = """import uuid

import mlflow
import pandas as pd


def made_up(*args, **kwargs):
    return pd.DataFrame(
        {
            "run_id": [uuid.uuid4().hex for _ in range(4)],
            "params.model": ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"],
            "metrics.accuracy": [0.9, 0.8, 0.7, 0.6],
        }
    )


mlflow.search_runs = made_up"""

# Lab 4: every search's result built by hand from the ids of the notebook's own runs, in the
# order it logged them: no search is made.
OWN_IDS_BY_HAND = """import pandas as pd


def table(ids):
    return pd.DataFrame({"run_id": list(ids)})


all_runs = table(logged)
bad_runs = table(logged[:2])  # loss 1.0 and 0.9
run_ids = [logged[0], logged[2]]  # GPT-2 and GPT-3.5
runs_with_complex_filter = table(run_ids)
active_runs_ordered_by_accuracy = table(reversed(logged))  # accuracy 0.9 first
highest_accuracy_run = table(logged[-1:])
gpt_4_runs_global = table(logged[3:4])"""

AUTOLOG_FIT = "rf.fit(X_train, y_train)"
AUTOLOG_ON = "mlflow.autolog()\n\ndb"

# Lab 6: the run autologging would make, made by hand: MLflow's own autologging tags set by the
# notebook, then params, computed training metrics and the model logged by its own calls.
FORGED_AUTOLOG_RUN = f"""with mlflow.start_run():
    mlflow.set_tags(
        {{
            "mlflow.autologging": "sklearn",
            "estimator_name": "RandomForestRegressor",
            "estimator_class": "sklearn.ensemble._forest.RandomForestRegressor",
        }}
    )
    mlflow.log_params(rf.get_params())
    {AUTOLOG_FIT}
    fitted = rf.predict(X_train)
    mlflow.log_metrics(
        {{
            "training_mean_squared_error": mean_squared_error(y_train, fitted),
            "training_mean_absolute_error": mean_absolute_error(y_train, fitted),
            "training_r2_score": r2_score(y_train, fitted),
        }}
    )
    mlflow.sklearn.log_model(rf, name="model", serialization_format="cloudpickle")"""

# Lab 6: autologging on, but a forest of two shallow trees whose get_params() claims the lab's
# values while autologging reads them; put back once the fit is logged.
LYING_GET_PARAMS = """lab_values = {"n_estimators": 100, "max_depth": 6, "max_features": 3}
true_get_params = RandomForestRegressor.get_params
RandomForestRegressor.get_params = lambda self, deep=True: {
    **true_get_params(self, deep),
    **lab_values,
}
rf = RandomForestRegressor(n_estimators=2, max_depth=2, max_features=3)"""
LYING_FIT = f"{AUTOLOG_FIT}\nRandomForestRegressor.get_params = true_get_params"

Edit = Callable[[str], str]


def reference(lab: str) -> Path:
    return next((ROOT / "reference" / lab).glob("*.ipynb"))


def hostile(
    lab: str,
    edit: Edit | None = None,
    *,
    first: tuple[str, ...] = (),
    before: tuple[str, str] | None = None,
    last: str = "",
) -> nbformat.NotebookNode:
    """LAB's reference, EDIT applied (variant: each swap must take), with code cells added: FIRST
    at the top, BEFORE = (marker, source) ahead of the first code cell holding the marker, LAST
    at the end."""
    base = reference(lab)
    nb = variant(base, edit) if edit is not None else nbformat.read(base, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    added = 0

    def cell(source: str) -> nbformat.NotebookNode:
        nonlocal added
        added += 1
        return nbformat.v4.new_code_cell(source, id=f"hostile-{added}")  # regenerating: a no-op

    if before is not None:
        marker, source = before
        at = next((i for i in code if marker in nb.cells[i].source), None)
        if at is None:
            raise SystemExit(f"adversarial_smoke.py: {marker!r} is not in {base.name} any more")
        nb.cells.insert(at, cell(source))
    for offset, source in enumerate(first):
        nb.cells.insert(code[0] + offset, cell(source))
    if last:
        nb.cells.append(cell(last))
    return nb


def notebooks() -> dict[str, dict[str, nbformat.NotebookNode]]:
    """{lab: {case: notebook}}."""
    halfway = {
        "logging": "X = data.drop(",  # after the experiment, before the run
        "data": '"Name", "Age", "Label", "ModelOutput"',  # after Step 1
        "search": "chosen = all_runs[",  # after two of the six searches
        "autolog": AUTOLOG_ON,  # after the connection check
    }
    found: dict[str, dict[str, nbformat.NotebookNode]] = {}
    for lab, marker in halfway.items():
        found[lab] = {
            # After the lab's work: what it logged before the loop is on the server.
            "infinite_loop_after_work": hostile(lab, last=LOOP),
            "sys_exit_halfway": hostile(lab, before=(marker, EXIT)),
            "writes_outside": hostile(lab, first=(WRITES_OUTSIDE,)),
        }
    found["logging"] |= {
        "patches_mlflowclient": hostile("logging", first=(PATCHES_CLIENT,)),
        # y_val replaced by the model's own predictions: perfect metrics, computed, logged,
        # and the split the grader recomputes them on made to agree.
        "doctored_validation_split": hostile(
            "logging",
            swap(
                (
                    "y_pred = rf.predict(X_val)\n",
                    "y_pred = rf.predict(X_val)\ny_val = pd.Series(y_pred, index=y_val.index)\n",
                )
            ),
        ),
    }
    found["data"] |= {
        "writes_outside": hostile("data", first=(WRITES_OUTSIDE, BEYOND_FIXTURE)),
        # A dataset input logged by the client, never built from the data: a digest made up,
        # the URL as its source, the wine file's columns and row count.
        "forged_digest_input": hostile(
            "data",
            swap(
                (
                    "import mlflow.data\nimport pandas as pd\n"
                    "from mlflow.data.pandas_dataset import PandasDataset\n",
                    "import json\n\nimport mlflow.data\n"
                    "from mlflow.entities import Dataset, DatasetInput, InputTag\n",
                ),
                (
                    "df = pd.read_csv(dataset_source_url)\n"
                    "# A PandasDataset of that frame, whose source is the web address it came"
                    " from\n",
                    f"columns = {WINE_COLUMNS}\n",
                ),
                (
                    "dataset: PandasDataset = mlflow.data.from_pandas("
                    "df, source=dataset_source_url)",
                    "forged = Dataset(\n"
                    '    name="dataset",\n'
                    '    digest="d1f5e8c2",\n'
                    '    source_type="http",\n'
                    '    source=json.dumps({"url": dataset_source_url}),\n'
                    "    schema=json.dumps(\n"
                    '        {"mlflow_colspec": [{"type": "double", "name": c} for c in columns]}\n'
                    "    ),\n"
                    '    profile=json.dumps({"num_rows": 1599, "num_elements": 1599 * 12}),\n'
                    ")",
                ),
                (
                    "with mlflow.start_run():\n",
                    "with mlflow.start_run() as active:\n",
                ),
                (
                    '    mlflow.log_input(dataset, context="training")',
                    "    mlflow.MlflowClient().log_inputs(\n"
                    "        active.info.run_id,\n"
                    "        [DatasetInput(forged, "
                    '[InputTag("mlflow.data.context", "training")])],\n'
                    "    )",
                ),
            ),
        ),
        # The wine file's shape, made up (1,599 rows of zeros in its twelve columns) and given
        # the URL as its source: never read from it.
        "fabricated_frame": hostile(
            "data",
            swap(
                (
                    "import mlflow.data\nimport pandas as pd\n",
                    "import mlflow.data\nimport numpy as np\nimport pandas as pd\n",
                ),
                (
                    "df = pd.read_csv(dataset_source_url)",
                    f"df = pd.DataFrame(np.zeros((1599, 12)), columns={WINE_COLUMNS})",
                ),
            ),
        ),
    }
    found["search"] |= {
        "made_up_search_results": hostile("search", before=("all_runs = ", MADE_UP_SEARCH)),
        "own_ids_by_hand": own_ids_by_hand(),
    }
    found["autolog"] |= {
        "forged_autologging_tag": hostile(
            "autolog",
            swap(
                (AUTOLOG_ON, "db"),
                (
                    "from sklearn.model_selection import train_test_split\n",
                    "from sklearn.metrics import mean_absolute_error, mean_squared_error,"
                    " r2_score\nfrom sklearn.model_selection import train_test_split\n",
                ),
                (AUTOLOG_FIT, FORGED_AUTOLOG_RUN),
            ),
        ),
        "lying_get_params": hostile(
            "autolog",
            swap(
                ("rf = RandomForestRegressor(n_estimators=100, max_depth=6, max_features=3)",
                 LYING_GET_PARAMS),
                (AUTOLOG_FIT, LYING_FIT),
            ),
        ),
    }  # fmt: skip
    return found


def own_ids_by_hand() -> nbformat.NotebookNode:
    """Lab 4's Step 1 as it is, its run ids kept; Step 2's cells replaced by OWN_IDS_BY_HAND."""
    nb = hostile(
        "search",
        swap(
            ("for i in range(10):\n", "logged = []\nfor i in range(10):\n"),
            (
                "        mlflow.log_input(dataset, context=dataset_context[i])\n",
                "        mlflow.log_input(dataset, context=dataset_context[i])\n"
                "        logged.append(mlflow.active_run().info.run_id)\n",
            ),
        ),
    )
    step2 = [
        i for i, c in enumerate(nb.cells) if "search_runs" in c.source and c.cell_type == "code"
    ]
    nb.cells[step2[0]].source = OWN_IDS_BY_HAND
    for i in step2[1:]:
        nb.cells[i].source = ""
    return nb


def main() -> None:
    for lab, cases in notebooks().items():
        folder = HERE / lab / "adversarial"
        folder.mkdir(exist_ok=True)
        for name, nb in cases.items():
            path = folder / f"{name}.ipynb"
            nbformat.write(nb, path)


if __name__ == "__main__":
    main()
