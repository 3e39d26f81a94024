"""A lab's web fixtures (grader.engine.lab.Fixture) answered by kernel_side.answer_fixtures, and
the MLflow datasets a notebook builds recorded by kernel_side._record_datasets: run in plain
Python, as the kernel runs them, with no network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from grader.engine.kernel.execution import KERNEL_SIDE

URL = "http://data.example.invalid/table.csv"
OTHER = "http://other.example.invalid/table.csv"

STUDENT = f"""
import json, sys, types, urllib.request
import pandas as pd
import requests
import numpy as np
import mlflow.data

space = {{}}
exec(compile(open(sys.argv[1]).read(), "<labgrade>", "exec"), space)
state = types.SimpleNamespace()
space["answer_fixtures"]([[{URL!r}, sys.argv[2], "text/csv"]], state)
space["_record_datasets"](state)

seen = {{}}
seen["pandas"] = list(pd.read_csv({URL!r}, sep=";").shape)
seen["urllib"] = urllib.request.urlopen({URL!r}).read().decode()
seen["requests"] = requests.get({URL!r}).text
try:
    urllib.request.urlopen({OTHER!r}, timeout=5)
    seen["other"] = "answered"
except OSError as err:
    seen["other"] = type(err).__name__
mlflow.data.from_numpy(np.zeros([2, 5, 4]), targets=np.zeros(2))
frame = pd.DataFrame([["a", 1]], columns=["Name", "Label"])
mlflow.data.from_pandas(frame, targets="Label")
seen["datasets"] = state.datasets
seen["fetched"] = state.fetched
print(json.dumps(seen))
"""


def test_a_declared_url_is_answered_from_its_file_by_every_library_and_no_other(
    tmp_path: Path,
) -> None:
    data = tmp_path / "table.csv"
    data.write_text("a;b\n1;2\n3;4\n", encoding="utf-8")
    script = tmp_path / "student.py"
    script.write_text(textwrap.dedent(STUDENT), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(KERNEL_SIDE), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["pandas"] == [2, 2]
    assert seen["urllib"] == seen["requests"] == "a;b\n1;2\n3;4\n"
    assert seen["other"] == "URLError"  # not declared: the closed network answers it
    assert seen["fetched"] == [[URL, "urllib"], [URL, "requests"]]
    numpy, pandas = seen["datasets"]
    assert numpy["type"] == "NumpyDataset"
    assert numpy["data"] == {"features": [2, 5, 4], "targets": [2]}
    assert pandas["type"] == "PandasDataset"
    assert pandas["data"] == {"df": [1, 2], "targets": "Label", "predictions": None}
    assert pandas["digest"]
    assert '"Name"' in pandas["schema"]
