"""The model probe speaks each model's own signature (issue 26): the lab's rows become the
input the model's schema enforcement takes, and a refusal says what the model expects."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from grader.engine.evidence.records import ModelPredictions, unusable
from grader.engine.probe.probe_child import model_input

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])
NAMES = ["sepal length", "sepal width", "petal length", "petal width"]


def _saved(tmp_path: Path, features: object, example: object = None, signed: bool = True) -> str:
    model = LogisticRegression(max_iter=500).fit(features, [0, 2, 1])
    # False: no signature at all (MLflow would otherwise infer one from the example)
    signature = infer_signature(features, model.predict(features)) if signed else False
    path = str(tmp_path / "model")
    mlflow.sklearn.save_model(
        model, path, signature=signature, input_example=example, pip_requirements=[]
    )
    return path


def test_named_columns_get_a_dataframe_with_those_names_in_order(tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS, columns=NAMES)
    path = _saved(tmp_path, frame)
    model = mlflow.pyfunc.load_model(path)
    given = model_input(model, path, ROWS)
    assert list(given.columns) == NAMES
    assert list(model.predict(given)) == [0, 2, 1]
    with pytest.raises(Exception, match="schema"):
        model.predict(ROWS)  # what the probe handed it before: a bare array


def test_a_float32_tensor_gets_float32_rows(tmp_path: Path) -> None:
    path = _saved(tmp_path, ROWS.astype(np.float32))
    model = mlflow.pyfunc.load_model(path)
    given = model_input(model, path, ROWS)
    assert given.dtype == np.float32
    assert len(model.predict(given)) == 3


def test_no_signature_follows_the_input_example(tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS, columns=NAMES)
    path = _saved(tmp_path, frame, example=frame.head(2), signed=False)
    model = mlflow.pyfunc.load_model(path)
    assert model.metadata.get_input_schema() is None
    given = model_input(model, path, ROWS)
    assert list(given.columns) == NAMES


def test_a_signature_of_other_columns_is_refused_with_what_it_expects(tmp_path: Path) -> None:
    path = _saved(tmp_path, pd.DataFrame(ROWS[:, :3], columns=NAMES[:3]))
    model = mlflow.pyfunc.load_model(path)
    with pytest.raises(ValueError, match="3 inputs, the lab's test split 4 columns"):
        model_input(model, path, ROWS)


def test_a_refusal_reads_as_a_refusal_not_as_a_failed_load() -> None:
    refused = ModelPredictions("m", None, "MlflowException: bad", refused="it expects X")
    assert unusable(refused).startswith("loaded, but its predict refused the grader's input")
    assert "it expects X" in unusable(refused)
    broken = ModelPredictions("m", None, "ModuleNotFoundError: x")
    assert unusable(broken) == "could not be loaded: ModuleNotFoundError: x"
    assert unusable(None) == "was not probed"
