"""Predicting on the lab's test split with logged models, in a separate process.

Logged models are submission-controlled pickles: the grader never loads them in its own
process. `python -m grader.probe` loads each model with pyfunc and writes plain numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.server import clean_env


@dataclass(frozen=True)
class ModelPredictions:
    model_uri: str
    predictions: tuple[float, ...] | None
    error: str | None = None


@dataclass(frozen=True)
class SplitInfo:
    y_test: tuple[int, ...]
    n_features: int


def lab_split(test_size: float, random_state: int) -> tuple[object, SplitInfo]:
    """X_test and y_test of the lab's split (Step 3), recomputed by the grader."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    X, y = datasets.load_iris(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return X_test, SplitInfo(tuple(int(v) for v in y_test), int(X.shape[1]))


def predict_all(
    model_uris: list[str],
    tracking_uri: str,
    workdir: Path,
    test_size: float,
    random_state: int,
    timeout: float = 180,
) -> dict[str, ModelPredictions]:
    """Predictions of each model on X_test, from a subprocess; errors per model, never raised."""
    if not model_uris:
        return {}
    out = workdir / "probe.json"
    request = {"models": model_uris, "test_size": test_size, "random_state": random_state}
    env = clean_env({"MLFLOW_TRACKING_URI": tracking_uri})
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    probe_dir = workdir / "probe"
    probe_dir.mkdir(exist_ok=True)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "grader.probe", json.dumps(request), str(out)],
            cwd=probe_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as err:
        raise GraderError(f"loading the logged model took over {timeout:.0f} s") from err
    if not out.exists():
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise GraderError(
            f"the model probe ({sys.executable} -m grader.probe) exited with code"
            f" {proc.returncode} and no result: {' | '.join(tail)}"
        )
    raw = json.loads(out.read_text(encoding="utf-8"))
    results: dict[str, ModelPredictions] = {}
    for uri in model_uris:
        entry = raw.get(uri, {})
        preds = entry.get("predictions")
        results[uri] = ModelPredictions(
            uri,
            None if preds is None else tuple(float(v) for v in preds),
            None if preds is not None else str(entry.get("error", "no predictions")),
        )
    return results


def _main(request_json: str, out_path: str) -> None:
    import mlflow.pyfunc
    import numpy as np

    request = json.loads(request_json)
    X_test, _ = lab_split(request["test_size"], request["random_state"])
    found: dict[str, dict[str, object]] = {}
    for uri in request["models"]:
        try:
            model = mlflow.pyfunc.load_model(uri)
            raw = np.asarray(model.predict(X_test)).reshape(-1)
            found[uri] = {"predictions": [float(v) for v in raw]}
        except Exception as err:  # reported per model: one broken model grades as broken
            found[uri] = {"error": f"{type(err).__name__}: {err}"[:500]}
    Path(out_path).write_text(json.dumps(found), encoding="utf-8")


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
