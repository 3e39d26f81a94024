"""`python -I probe_child.py`: load logged models with pyfunc and predict, confined.

Run by path inside the sandbox (standard library and the environment's packages only,
never the grader's modules). Protocol on stdin/stdout, one JSON line each way:
prints {"ready": true} once MLflow is imported, then reads {"uris": [...], "X": [[...]]}
and prints {"results": {uri: {"predictions": [...], "model": {...}} | {"error": "..."}}},
where "model" says what the loaded model really is: the class of the object the pyfunc
wrapper holds (the scikit-learn estimator, or a PythonModel) and its own get_params().
A logged model is the submission's code: whatever it prints, only the last line counts,
and it can only ever speak for the submission's own models.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from typing import Any

# The lab's head start, as JSON {"modules": [...], "model": "module:Class", "options": {...}}
# (grader.engine.lab.Speed): what loading the lab's model imports, imported while the notebook
# still runs, so that after the run only the loading itself is left. Any other model still
# loads, just without the head start.
WARM_ENV = "LABGRADE_PROBE_WARM"
_rehearsed = False  # a warm batch's probes are forks of a process that rehearsed already


def main() -> None:
    # Imports while the notebook runs: the student's kernel has the first claim on the CPU.
    os.nice(10)
    import mlflow.pyfunc
    import numpy as np

    rehearse(os.environ.get(WARM_ENV, ""))
    print(json.dumps({"ready": True}), flush=True)
    request = json.loads(sys.stdin.readline() or "{}")
    X = np.asarray(request.get("X", []), dtype=float)
    found: dict[str, dict[str, object]] = {}
    for uri in request.get("uris", []):
        try:
            model = mlflow.pyfunc.load_model(uri)
        except Exception as err:  # reported per model: one broken model grades as broken
            found[uri] = {"error": f"{type(err).__name__}: {err}"[:500]}
            continue
        # No rows to ask for (a lab judging the notebook's own split, which it did not leave):
        # what the model is still counts.
        if X.size == 0:
            found[uri] = {"predictions": [], "model": _describe(model)}
            continue
        given: object = X
        try:
            given = model_input(model, uri, X)
            raw = np.asarray(model.predict(given)).reshape(-1)
            found[uri] = {"predictions": [float(v) for v in raw], "model": _describe(model)}
        except Exception as err:  # it loaded: its own predict refused what it was handed
            found[uri] = {
                "error": f"{type(err).__name__}: {err}"[:500],
                "refused": f"it expects {_expects(model)}; it was given {_shape(given)}"[:600],
            }
    sys.stdout.write("\n" + json.dumps({"results": found}) + "\n")
    sys.stdout.flush()
    # Everything is said: skip tearing down the interpreter (~0.5 s the grading waits for).
    os._exit(0)


MAX_PARAMS = 100


def model_input(model: Any, path: str, X: Any) -> Any:
    """The lab's rows X (floats) as the model's own signature asks for them, so that MLflow's
    schema enforcement takes them: named columns as a DataFrame with those names, in the
    signature's order and types; a tensor as an array of its type; no signature: as the
    logged input example was (a DataFrame's columns and types), else X as it is."""
    import numpy as np
    import pandas as pd

    schema = model.metadata.get_input_schema()
    if schema is None:
        example = _input_example(model, path)
        if isinstance(example, pd.DataFrame) and len(example.columns) == X.shape[1]:
            return pd.DataFrame(X, columns=example.columns).astype(example.dtypes.to_dict())
        return X
    types = schema.numpy_types()
    if schema.is_tensor_spec():
        return np.asarray(X, dtype=types[0])
    names = schema.input_names()
    if len(names) != X.shape[1]:
        raise ValueError(
            f"its signature has {len(names)} inputs, the lab's test split {X.shape[1]} columns"
        )
    if not schema.has_input_names() and len(set(types)) == 1:
        return np.asarray(X, dtype=types[0])
    return pd.DataFrame({name: X[:, i].astype(types[i]) for i, name in enumerate(names)})


def _input_example(model: Any, path: str) -> object:
    try:
        return model.metadata.load_input_example(path)
    except Exception:  # no example, or one that cannot be read: the lab's rows as they are
        return None


def _expects(model: Any) -> str:
    try:
        schema = model.metadata.get_input_schema()
    except Exception as err:  # a broken MLmodel file: say so rather than guess
        return f"an input its MLmodel file does not describe ({type(err).__name__})"
    return "any input (no signature)" if schema is None else f"the signature's {schema}"


def _shape(given: Any) -> str:
    columns = getattr(given, "columns", None)
    if columns is not None:
        kinds = sorted({str(t) for t in given.dtypes})
        names = ", ".join(map(str, list(columns)[:8]))
        return f"a DataFrame of {len(given)} rows, columns [{names}] ({', '.join(kinds)})"
    shape = getattr(given, "shape", None)
    return f"an array of shape {tuple(shape)}, {given.dtype}" if shape is not None else repr(given)


def _describe(model: object) -> dict[str, object]:
    """The class of the object behind a pyfunc model, and its hyperparameters as plain JSON."""
    inner = None
    for unwrap in ("get_raw_model", "unwrap_python_model"):
        try:
            inner = getattr(model, unwrap)()
            break
        except Exception:  # not this kind of wrapper: try the next way in
            continue
    if inner is None:
        return {"class": None, "params": None}
    kind = type(inner)
    described: dict[str, object] = {"class": f"{kind.__module__}.{kind.__qualname__}"[:200]}
    try:
        params = inner.get_params(deep=False)
        described["params"] = {
            str(k)[:100]: _plain(v) for k, v in list(dict(params).items())[:MAX_PARAMS]
        }
    except Exception:  # not an estimator: it has no hyperparameters to compare
        described["params"] = None
    return described


def _plain(value: object) -> object:
    if hasattr(value, "item") and not isinstance(value, str):
        with contextlib.suppress(Exception):  # an array stays as it is: shown as text
            value = value.item()  # a numpy scalar
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value if not isinstance(value, str) else value[:200]
    return repr(value)[:200]


def rehearse(warm: str) -> None:
    """Import the lab's modules, then save and load a tiny model of the lab's kind (WARM, as
    WARM_ENV holds it), so that the first real load finds MLflow's lazy imports and caches
    warm (~0.03 s instead of ~0.3 s)."""
    global _rehearsed
    if _rehearsed or not warm:
        return
    import tempfile
    import traceback

    try:
        spec = json.loads(warm)
        for module in spec.get("modules", []):
            # Optional: a model that needs a missing one fails to load and says so itself.
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        if not spec.get("model"):
            return
        import mlflow.pyfunc
        import mlflow.sklearn
        import numpy as np

        module, _, name = str(spec["model"]).partition(":")
        kind = getattr(importlib.import_module(module), name)
        with tempfile.TemporaryDirectory() as tmp:
            X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
            model = kind().fit(X, [0, 1, 0, 1])
            options = dict(spec.get("options") or {})
            mlflow.sklearn.save_model(model, f"{tmp}/model", pip_requirements=[], **options)
            mlflow.pyfunc.load_model(f"{tmp}/model").predict(X)
        _rehearsed = True
    except Exception:  # only the head start is lost: the real loads report their own errors
        traceback.print_exc()  # into the probe's log


if __name__ == "__main__":
    main()
