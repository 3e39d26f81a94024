"""The Autologging lab's checks on evidence made by hand: what they decide and how they say it."""

from __future__ import annotations

import math

import pytest

from grader.engine.evidence.records import (
    Candidate,
    Evidence,
    ModelPredictions,
    NamespaceCapture,
    VariableCapture,
)
from grader.engine.evidence.server_reads import Experiment, LoggedModel, Run, Snapshot
from grader.labs import load
from grader.labs.autolog.checks import (
    _regression_scores,
    check_connection,
    check_params,
    check_training_metrics,
)
from grader.labs.autolog.data import diabetes

LAB = load("autolog")
RUBRIC = LAB.rubric()
FOREST = "sklearn.ensemble._forest.RandomForestRegressor"
PARAMS = {"n_estimators": "100", "max_depth": "6", "max_features": "3"}
TRAIN = range(0, 40)  # the rows of "the notebook's X_train"


def _evidence(
    autologged: bool = True, metrics: dict[str, float] | None = None
) -> tuple[Evidence, Candidate]:
    data = diabetes()
    predictions = tuple(float(y) + (i % 7) for i, y in enumerate(data.y))  # a model's own
    if metrics is None:
        mine = [predictions[i] for i in TRAIN]
        metrics = _regression_scores(mine, [data.y[i] for i in TRAIN])
    model = LoggedModel("m-1", "model", "models:/m-1", "r1", flavors=("python_function", "sklearn"))
    tags = {"mlflow.autologging": "sklearn"} if autologged else {}
    run = Run("r1", "run", "1", "FINISHED", 1, PARAMS, metrics, {}, (model,), tags)
    connection = Run("r0", "check", "1", "FINISHED", 0, {}, {"foo": 1.0, "bar": 2.0}, {})
    capture = NamespaceCapture(
        {
            "X_train": VariableCapture(
                True, "ndarray", rows=tuple(tuple(data.X[i]) for i in TRAIN)
            ),
            "y_train": VariableCapture(True, "ndarray", values=tuple(data.y[i] for i in TRAIN)),
        },
        (),
        (),
    )
    evidence = Evidence(
        rubric=RUBRIC,
        snapshot=Snapshot(
            (Experiment("1", "check-localhost-connection", False),), (run, connection)
        ),
        capture=capture,
        capture_problem=None,
        predictions={model.uri: ModelPredictions(model.uri, predictions, None, FOREST, {})},
        y_test=data.y,
        code="",
    )
    return evidence, Candidate(run, model)


def test_the_training_metrics_are_those_of_sklearn() -> None:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    truth, made = [1.0, 2.0, 4.0, 8.0], [1.5, 2.0, 3.0, 9.0]
    scores = _regression_scores(made, truth)
    assert math.isclose(scores["training_mean_squared_error"], mean_squared_error(truth, made))
    assert math.isclose(scores["training_mean_absolute_error"], mean_absolute_error(truth, made))
    assert math.isclose(scores["training_r2_score"], r2_score(truth, made))


def test_metrics_are_recomputed_on_the_rows_of_the_notebook_s_own_x_train() -> None:
    ev, cand = _evidence()
    verdict = check_training_metrics(RUBRIC.check("training_metrics"), ev, cand)
    assert verdict.passed, verdict.message
    assert "(40 rows of the diabetes data)" in verdict.message
    wrong = dict(cand.run.metrics, training_mean_squared_error=1275.43)
    ev, cand = _evidence(metrics=wrong)
    verdict = check_training_metrics(RUBRIC.check("training_metrics"), ev, cand)
    assert not verdict.passed
    assert "training_mean_squared_error=1275.43 (the model scores" in verdict.message


def test_the_lab_s_params_logged_by_the_notebook_itself_are_not_autologging_s() -> None:
    ev, cand = _evidence(autologged=False)
    verdict = check_params(RUBRIC.check("params"), ev, cand)
    assert not verdict.passed
    assert "logged by the notebook's own calls, not by sklearn autologging" in verdict.message
    ev, cand = _evidence()
    assert check_params(RUBRIC.check("params"), ev, cand).passed


@pytest.mark.parametrize(("bar", "passed"), [(2.0, True), (3.0, False)])
def test_the_connection_run_logs_foo_and_bar(bar: float, passed: bool) -> None:
    ev, _ = _evidence()
    runs = tuple(
        r
        if r.run_id != "r0"
        else Run("r0", "c", "1", "FINISHED", 0, {}, {"foo": 1.0, "bar": bar}, {})
        for r in ev.snapshot.runs
    )
    ev = Evidence(
        ev.rubric,
        Snapshot(ev.snapshot.experiments, runs),
        ev.capture,
        None,
        ev.predictions,
        ev.y_test,
        "",
    )
    verdict = check_connection(RUBRIC.check("connection"), ev, None)
    assert verdict.passed is passed, verdict.message
    if not passed:
        assert "foo=1, bar=3" in verdict.message
