"""Predicting on the lab's test split with logged models, in a separate process.

Logged models are submission-controlled pickles: the grader never loads them in its own
process. `python -m grader.probe` loads each model with pyfunc and writes plain numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.procs import kill_tree
from grader.server import clean_env, importable


@dataclass(frozen=True)
class ModelPredictions:
    model_uri: str
    predictions: tuple[float, ...] | None
    error: str | None = None


def lab_split(test_size: float, random_state: int) -> tuple[object, tuple[int, ...]]:
    """X_test and y_test of the lab's split (Step 3), recomputed by the grader."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    X, y = datasets.load_iris(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return X_test, tuple(int(v) for v in y_test)


class ModelProbe:
    """A subprocess that imports MLflow and builds X_test early, then predicts on request.

    Started while the notebook runs, so its imports cost the grading nothing; closing it
    (always, via the context manager) ends its whole process tree.
    """

    def __init__(
        self, tracking_uri: str, workdir: Path, test_size: float, random_state: int
    ) -> None:
        self.tracking_uri, self.workdir = tracking_uri, workdir
        self.split = (test_size, random_state)
        self.out = workdir / "probe.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None:
            return
        env = importable(clean_env({"MLFLOW_TRACKING_URI": self.tracking_uri}))
        folder = self.workdir / "probe"
        folder.mkdir(exist_ok=True)
        self.stderr = (folder / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.probe", str(self.out), *map(str, self.split)],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            start_new_session=True,
        )

    def predict(self, model_uris: list[str], timeout: float = 180) -> dict[str, ModelPredictions]:
        """Predictions of each model on X_test; errors per model, never raised for a model."""
        if not model_uris:
            return {}
        self.start()
        assert self.proc is not None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(model_uris).encode() + b"\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise GraderError(f"loading the logged model took over {timeout:.0f} s") from err
        except BrokenPipeError:
            self.proc.wait(timeout=10)
        if not self.out.exists():
            self.stderr.flush()
            log = (self.workdir / "probe" / "stderr.log").read_text(errors="replace")
            tail = " | ".join(log.strip().splitlines()[-5:])
            raise GraderError(
                f"the model probe ({sys.executable} -m grader.probe) exited with code"
                f" {self.proc.returncode} and no result: {tail}"
            )
        raw = json.loads(self.out.read_text(encoding="utf-8"))
        return {uri: _predictions(uri, raw.get(uri, {})) for uri in model_uris}

    def close(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid, grace=1)
            self.stderr.close()

    def __enter__(self) -> ModelProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _predictions(uri: str, entry: dict[str, Any]) -> ModelPredictions:
    preds = entry.get("predictions")
    if preds is None:
        return ModelPredictions(uri, None, str(entry.get("error", "no predictions")))
    return ModelPredictions(uri, tuple(float(v) for v in preds))


def _main(out_path: str, test_size: str, random_state: str) -> None:
    import mlflow.pyfunc
    import numpy as np

    X_test, _ = lab_split(float(test_size), int(random_state))
    line = sys.stdin.readline()  # the grader asks once the notebook has run
    if not line.strip():
        return
    found: dict[str, dict[str, object]] = {}
    for uri in json.loads(line):
        try:
            model = mlflow.pyfunc.load_model(uri)
            raw = np.asarray(model.predict(X_test)).reshape(-1)
            found[uri] = {"predictions": [float(v) for v in raw]}
        except Exception as err:  # reported per model: one broken model grades as broken
            found[uri] = {"error": f"{type(err).__name__}: {err}"[:500]}
    Path(out_path).write_text(json.dumps(found), encoding="utf-8")


if __name__ == "__main__":
    _main(*sys.argv[1:4])
