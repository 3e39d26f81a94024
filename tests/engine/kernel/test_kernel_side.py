"""What grader.engine.kernel.kernel_side does inside a kernel, run in plain Python (no server,
kernel).

The student's code sees MLflow pointed at the grader's server however it names its own, and
each pyfunc load it makes is recorded with what the loaded model predicted: wherever the
load happens (a function, a helper module), and never MLflow's own internal loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from grader.engine.kernel.execution import KERNEL_SIDE, kernel_side_call

GRADER_URI = "http://127.0.0.1:9"  # nothing listens: no request may be made here

STUDENT = """
import os
import mlflow
from mlflow import MlflowClient

os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:8080"
os.environ["MLFLOW_REGISTRY_URI"] = "http://127.0.0.1:8080"
client = MlflowClient("http://localhost:5000")
keyword = MlflowClient(tracking_uri="http://localhost:5001", registry_uri="http://localhost:5002")
mlflow.set_tracking_uri("http://127.0.0.1:8080")
seen = {
    "get_tracking_uri": mlflow.get_tracking_uri(),
    "get_registry_uri": mlflow.get_registry_uri(),
    "client": client._tracking_client.tracking_uri,
    "keyword": keyword._tracking_client.tracking_uri,
    "registry": keyword._registry_uri,
}

import numpy as np
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
model = LogisticRegression().fit(X, [0, 1, 0, 1])
mlflow.sklearn.save_model(model, "saved", input_example=X, pip_requirements=[])


def main():
    loaded = mlflow.pyfunc.load_model("saved")
    loaded.predict(X)
    for row in X[:2]:
        loaded.predict(row.reshape(1, -1))


if __name__ == "__main__":
    main()
state = sys.modules["_labgrade_state"]
state.note_environment()
print(json.dumps({"seen": seen, "loads": state.loads, "redirects": state.redirects}))
"""


@pytest.fixture(scope="module")
def answer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the student's code saw and what install() recorded, from one run."""
    tmp_path = tmp_path_factory.mktemp("student")
    script = "\n".join(
        ["import json, sys", kernel_side_call("install", GRADER_URI), textwrap.dedent(STUDENT)]
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_every_way_of_naming_a_server_ends_at_the_graders_and_is_noted(
    answer: dict[str, object],
) -> None:
    seen = answer["seen"]
    assert isinstance(seen, dict)
    assert set(seen.values()) == {GRADER_URI}, seen
    noted = {(where, uri) for where, uri in answer["redirects"]}  # type: ignore[attr-defined]
    assert ("MLFLOW_TRACKING_URI in os.environ or %env", "http://127.0.0.1:8080") in noted
    assert ("MLFLOW_REGISTRY_URI in os.environ or %env", "http://127.0.0.1:8080") in noted
    assert ("MlflowClient(tracking_uri=...)", "http://localhost:5000") in noted
    assert ("MlflowClient(registry_uri=...)", "http://localhost:5002") in noted
    assert ("mlflow.set_tracking_uri", "http://127.0.0.1:8080") in noted


def test_pyfunc_loads_are_recorded_where_they_happen_with_their_predictions(
    answer: dict[str, object],
) -> None:
    # save_model validated its input example by loading the model itself: not the student's.
    loads = answer["loads"]
    assert isinstance(loads, list)
    assert [load["uri"] for load in loads] == ["saved"]
    assert loads[0]["predictions"] == [[0, 1, 0, 1], [0], [1]]


def test_a_table_is_captured_row_by_row() -> None:
    space: dict[str, object] = {}
    exec(compile(KERNEL_SIDE.read_text(), "<kernel_side>", "exec"), space)
    rows = space["_rows"]
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"a": [1.5, 2.0], "flag": [1, 0]})
    assert rows(frame, 10) == [[1.5, 1.0], [2.0, 0.0]]
    assert rows(np.array([[1, 2], [3, 4], [5, 6]]), 2) == [[1, 2], [3, 4]]
    assert rows([1.0, 2.0], 10) == [[1.0], [2.0]]
    assert rows(object(), 10) is None


def test_the_runs_a_variable_holds_are_listed_by_id_in_order() -> None:
    import pandas as pd
    from mlflow.entities import Run, RunData, RunInfo

    from grader.engine.kernel.kernel_side import _run_ids

    def run(run_id: str) -> Run:
        info = RunInfo(run_id, "0", "me", "FINISHED", 0, 1, "active", run_name=run_id)
        return Run(info, RunData())

    frame = pd.DataFrame({"run_id": ["b", "a"], "metrics.loss": [0.1, 0.2]})
    assert _run_ids(frame, 10) == ["b", "a"]
    assert _run_ids(frame.iloc[0:0], 10) == []
    assert _run_ids(frame, 1) == ["b"]
    assert _run_ids([run("c"), run("d")], 10) == ["c", "d"]  # output_format="list"
    assert _run_ids(run("e"), 10) == ["e"]
    assert _run_ids(pd.DataFrame({"loss": [0.1]}), 10) is None  # no run_id column
    assert _run_ids(None, 10) is None
    assert _run_ids(["c", "d"], 10) is None  # ids typed in are not runs


def test_a_namespace_s_variables_are_read_alike_in_the_kernel_and_in_a_child() -> None:
    import pandas as pd

    from grader.engine.kernel.kernel_side import _variables

    ns = {"found": pd.DataFrame({"run_id": ["b", "a"]}), "ids": ["x", "y"]}
    read = _variables(ns, ["ids"], "", ["found", "gone"])
    assert read["ids"] == {"present": True, "type": "list", "values": ["x", "y"]}
    assert read["found"]["run_ids"] == ["b", "a"]
    assert read["gone"] == {"present": False}
