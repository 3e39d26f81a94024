"""The logging lab's checks on evidence made by hand: what they find, and its words."""

from __future__ import annotations

import math

from grader.engine.evidence.records import (
    Candidate,
    Evidence,
    ModelPredictions,
    NamespaceCapture,
    VariableCapture,
)
from grader.engine.evidence.server_reads import Experiment, LoggedModel, Run, Snapshot
from grader.labs import load
from grader.labs.logging.checks import check_experiment, check_metrics, check_model, used_split

LAB = load("logging")
RUBRIC = LAB.rubric()
COLUMNS = tuple(str(c) for c in RUBRIC.check("model").option("columns"))
Y = (1.0, 2.0, 4.0)
PREDICTED = (1.0, 3.0, 4.0)
TAGS = {
    "project_name": "grocery-forecasting",
    "store_dept": "produce",
    "team": "stores-ml",
    "project_quarter": "Q3-2023",
    "mlflow.note.content": "Apples.",
}


def _evidence(metrics: dict[str, float], names: tuple[str, ...] = COLUMNS, tags=None):  # type: ignore[no-untyped-def]
    model = LoggedModel(
        "m-1",
        "rf_apples",
        "models:/m-1",
        "r1",
        has_signature=True,
        inputs=len(names),
        has_input_example=True,
        flavors=("python_function", "sklearn"),
        input_names=names,
    )
    run = Run("r1", "apples_rf_test", "1", "FINISHED", 1, {}, metrics, {}, models=(model,))
    ev = Evidence(
        rubric=RUBRIC,
        snapshot=Snapshot(
            (Experiment("1", "Apple_Models", False, dict(TAGS if tags is None else tags)),), (run,)
        ),
        capture=NamespaceCapture({}, (), ()),
        capture_problem=None,
        predictions={model.uri: ModelPredictions(model.uri, PREDICTED)},
        y_test=Y,
        code="",
    )
    return ev, Candidate(run, model)


def _true() -> dict[str, float]:
    mse = 1 / 3
    mean = sum(Y) / 3
    return {
        "mae": 1 / 3,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": 1 - 1 / sum((y - mean) ** 2 for y in Y),
    }


def test_the_metrics_are_recomputed_on_the_notebook_s_validation_split() -> None:
    ev, cand = _evidence(_true())
    assert check_metrics(RUBRIC.check("metrics"), ev, cand).passed
    ev, cand = _evidence({**_true(), "r2": 0.5})
    verdict = check_metrics(RUBRIC.check("metrics"), ev, cand)
    assert not verdict.passed
    assert "r2=0.5 is logged, the model's is" in verdict.message
    assert "3 rows of X_val and y_val" in verdict.message


def test_without_the_notebook_s_split_the_metrics_cannot_be_verified() -> None:
    ev, cand = _evidence(_true())
    ev = Evidence(**{**ev.__dict__, "y_test": ()})
    verdict = check_metrics(RUBRIC.check("metrics"), ev, cand)
    assert not verdict.passed
    assert "X_val and y_val" in verdict.message
    assert "were not found" in verdict.message


def test_the_split_is_read_from_the_capture_only_whole() -> None:
    rows = VariableCapture(True, "DataFrame", COLUMNS, None, ((1.0, 2.0), (3.0, 4.0)))
    targets = VariableCapture(True, "Series", (), (5.0, 6.0))
    split = used_split(NamespaceCapture({"X_val": rows, "y_val": targets}, (), ()))
    assert split is not None
    assert split.y == (5.0, 6.0)
    assert split.X == [[1.0, 2.0], [3.0, 4.0]]
    short = VariableCapture(True, "Series", (), (5.0,))
    assert used_split(NamespaceCapture({"X_val": rows, "y_val": short}, (), ())) is None
    assert used_split(NamespaceCapture({"X_val": rows}, (), ())) is None
    assert used_split(None) is None


def test_tags_and_column_names_are_named_in_the_verdict() -> None:
    ev, cand = _evidence(_true(), tags={**TAGS, "team": "ml"})
    verdict = check_experiment(RUBRIC.check("experiment"), ev, None)
    assert 'tag "team" is "ml", expected "stores-ml"' in verdict.message
    ev, cand = _evidence(_true(), names=())
    verdict = check_model(RUBRIC.check("model"), ev, cand)
    assert "no column names" in verdict.message
