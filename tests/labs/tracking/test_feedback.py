"""Feedback that teaches, on plain data (no server): specific hints for the lab's common slips.

The checks read plain dataclasses (what the server held, what the notebook left); slips that
this machine's versions cannot produce for real (scikit-learn 1.8 removing multi_class) are
checked here on such data. The end-to-end ones are labelled submissions in test_grading.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import (
    Candidate,
    Evidence,
    ModelPredictions,
    NamespaceCapture,
    PyfuncLoad,
    VariableCapture,
)
from grader.engine.evidence.rubric import load_rubric
from grader.engine.evidence.server_reads import Experiment, LoggedModel, ModelVersion, Run, Snapshot
from grader.engine.output.report import failure_text, feedback_markdown, score_table
from grader.engine.output.results import CheckResult, ExecutionResult, GradeResult, TrackingInfo
from grader.engine.output.ui_links import model_version_url, run_url
from grader.engine.scoring import evaluate as score_evidence
from grader.errors import RubricError
from grader.labs import load
from grader.labs.tracking.hints import hint_for

LAB = load("tracking")
KNOWN_IDS = LAB.known_ids
RUBRIC = LAB.rubric()
Y_TEST = (1.0, 0.0, 2.0, 1.0)
PARAMS = {"solver": "lbfgs", "max_iter": "1000", "random_state": "8888"}
LAB_CODE = """
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
lr = LogisticRegression(**params)
lr.fit(X_train, y_train)
with mlflow.start_run():
    mlflow.log_params(params)
    model_info = mlflow.sklearn.log_model(sk_model=lr, name="iris_model")
loaded_model = mlflow.pyfunc.load_model(model_info.model_uri)
predictions = loaded_model.predict(X_test)
"""
TRAINING_INSIDE = """
with mlflow.start_run():
    mlflow.log_params(params)
    lr = LogisticRegression(**params)
    lr.fit(X_train)
"""


def _model(run_id: str) -> LoggedModel:
    return LoggedModel(
        f"m-{run_id}",
        "iris_model",
        f"models:/m-{run_id}",
        run_id,
        has_signature=True,
        inputs=4,
        inputs_numeric=True,
        outputs=1,
        has_input_example=True,
        flavors=("python_function", "sklearn"),
    )


LR = "sklearn.linear_model._logistic.LogisticRegression"
LR_PARAMS = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888, "multi_class": "deprecated"}


def _probed(uri: str, kind: str = LR, **params: object) -> ModelPredictions:
    """What the probe says of a model that predicts right: its class and get_params()."""
    return ModelPredictions(uri, tuple(map(float, Y_TEST)), None, kind, {**LR_PARAMS, **params})  # type: ignore[arg-type]


def _run(run_id: str = "r1", status: str = "FINISHED", **changes: object) -> Run:
    run = Run(
        run_id=run_id,
        name=f"run-{run_id}",
        experiment_id="1",
        status=status,
        start_time=int(run_id[-1]),
        params=dict(PARAMS),
        metrics={"accuracy": 1.0},
        tags={"Training Info": "Basic LR model for iris data"},
        models=(_model(run_id),),
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def _evidence(
    *runs: Run, code: str = LAB_CODE, error: str | None = None, **extra: object
) -> Evidence:
    """What the checks see after a notebook logged RUNS (each registered) and predicted right."""
    registered = tuple(
        ModelVersion("tracking-quickstart", str(i), m.uri, r.run_id, m.model_id)
        for i, r in enumerate(runs, start=1)
        for m in r.models
    )
    snapshot = Snapshot(
        (Experiment("0", "Default", False), Experiment("1", "MLflow Quickstart", False)),
        runs,
        extra.pop("versions", {"tracking-quickstart": registered}),  # type: ignore[arg-type]
    )
    right = tuple(map(float, Y_TEST))
    loaded = tuple(
        PyfuncLoad(m.uri, m.model_id, r.run_id, (right,)) for r in runs for m in r.models
    )
    predictions = VariableCapture(True, "ndarray", values=right)
    evidence = Evidence(
        rubric=RUBRIC,
        snapshot=snapshot,
        capture=NamespaceCapture({"predictions": predictions}, loaded, ()),
        capture_problem=None,
        predictions={m.uri: _probed(m.uri) for r in runs for m in r.models},
        y_test=Y_TEST,
        code=code,
        execution_error=error,
    )
    return replace(evidence, **extra)  # type: ignore[arg-type]


def _messages(ev: Evidence) -> dict[str, str]:
    results, _, _ = evaluate(ev)
    return {r.id: r.message for r in results if not r.passed}


def test_multi_class_logged_with_another_value_says_it_is_gone_in_new_scikit_learn() -> None:
    ev = _evidence(_run(params={**PARAMS, "multi_class": "multinomial"}))
    message = _messages(ev)["params"]
    assert "multi_class=multinomial (expected auto or not logged)" in message
    assert "removed in 1.8" in message
    assert 'delete the "multi_class" entry from params' in message


def test_multi_class_crash_on_new_scikit_learn_is_named_in_the_checks_it_empties() -> None:
    # What scikit-learn 1.8 raises for the lab's published params: nothing gets logged.
    error = (
        "the code cell starting `# Load the Iris dataset` (code cell 2) raised TypeError:"
        " LogisticRegression.__init__() got an unexpected keyword argument 'multi_class'"
    )
    fix = hint_for("TypeError", error.split("TypeError: ", 1)[1])
    assert fix is not None
    assert 'Delete the "multi_class" entry' in fix
    ev = _evidence(code='params = {"multi_class": "auto"}', error=f"{error}. Fix: {fix}")
    for check_id in ("params", "metric", "tag", "signature", "registered_model"):
        message = _messages(ev)[check_id]
        assert "no run was logged" in message
        assert (
            "the notebook stopped with TypeError in the code cell starting `# Load the Iris"
            " dataset` (code cell 2) before this was logged"
        ) in message


def test_failed_run_beside_the_graded_one_gets_the_step_4_note() -> None:
    failed = _run("r1", "FAILED", metrics={}, tags={}, models=())
    ev = _evidence(_run("r2"), failed, code=TRAINING_INSIDE)
    results, best, notes = evaluate(ev)
    assert best is not None
    assert best.run.run_id == "r2"
    assert all(r.passed for r in results)  # the graded run is complete: the note teaches only
    note = next(n for n in notes if "ended FAILED" in n)
    assert "'run-r1' (r1)" in note
    assert "the code trains inside `with mlflow.start_run():`" in note
    assert "Step 4 note" in note
    assert "Step 7" in note


def test_a_lone_failed_run_says_training_inside_the_run_is_why() -> None:
    ev = _evidence(
        _run("r1", "FAILED"),
        code=TRAINING_INSIDE,
        error="the code cell starting `x` (code cell 3) raised TypeError: y",
    )
    message = _messages(ev)["params"]
    assert "the run is FAILED, not FINISHED" in message
    assert "training is inside `with mlflow.start_run():`" in message


def test_registered_under_another_name_and_not_registered_at_all() -> None:
    run = _run()
    other = {
        "tracking_quickstart": (
            ModelVersion("tracking_quickstart", "3", run.models[0].uri, "r1", "m-r1"),
        )
    }
    message = _messages(_evidence(run, versions=other))["registered_model"]
    assert (
        'registered as "tracking_quickstart" (version 3), not as "tracking-quickstart"' in message
    )
    message = _messages(_evidence(run, versions={}))["registered_model"]
    assert "was logged but not registered" in message
    assert "registered models: none" in message


def test_metric_and_tag_under_another_name() -> None:
    message = _messages(_evidence(_run(metrics={"acc": 1.0})))["metric"]
    assert 'the accuracy was logged as "acc"' in message
    message = _messages(_evidence(_run(tags={"training_info": "x"})))["tag"]
    assert 'the tag was set as "training_info"' in message


def test_predictions_check_cannot_apply_when_nothing_was_executed() -> None:
    ev = _evidence(_run(), code="", executed=False, capture=None)
    results, _, _ = evaluate(ev)
    predictions = next(r for r in results if r.id == "predictions")
    assert (predictions.passed, predictions.score, predictions.max_score) == (False, 0.0, 15.0)
    assert "cannot apply: nothing was executed" in predictions.message
    assert "revisit" not in predictions.message  # nothing the student could have done


def test_failing_check_renders_found_expected_and_fix() -> None:
    ev = _evidence(_run(params={"solver": "lbfgs", "max_iter": "1000", "seed": "8888"}))
    results, _, _ = evaluate(ev)
    result = GradeResult("x.ipynb", results, ExecutionResult("ok", 1.0), TrackingInfo("http://s"))
    text = failure_text(result, "params").splitlines()
    # params is defined in Step 3 (with the training) and logged in Step 4.
    assert text[0] == "Hyperparameters logged (0/15, revisit Steps 3 and 4 of the lab)"
    assert text[1].startswith("  found:    run 'run-r1' (r1): random_state missing")
    assert text[2] == (
        '  expected: params = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888};'
        " mlflow.log_params(params)"
    )
    assert text[3].startswith('  fix:      random_state was logged under the key "seed"')
    markdown = feedback_markdown(result, RUBRIC.title)
    assert "Expected: `params = {" in markdown
    assert 'Fix: random_state was logged under the key "seed"' in markdown
    assert any("random_state missing" in line for line in score_table(result, 200))


def test_rubric_when_not_executed_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text('[checks.predictions]\npoints = 15\nwhen_not_executed = "half"\n')
    with pytest.raises(RubricError, match="'when_not_executed' must be one of 'zero', 'full'"):
        load_rubric(bad, KNOWN_IDS)
    assert RUBRIC.check("predictions").options["when_not_executed"] == "zero"


def test_slips_read_the_code() -> None:
    assert slips.training_inside_run(TRAINING_INSIDE)
    assert not slips.training_inside_run(LAB_CODE)
    assert slips.predicted_with("predictions = lr.predict(X_test)", ["predictions"]) == "lr"
    assert slips.predicted_with('result["p"] = m.predict(X)', ["result"]) == "m"
    assert slips.log_model_keywords(LAB_CODE) == {"sk_model", "name"}
    assert slips.mentions('params = {"multi_class": "auto"}', "multi_class")
    assert not slips.mentions(LAB_CODE, "multi_class")
    assert slips.calls("m = mlflow.sklearn.load_model(u)", "mlflow.sklearn.load_model")
    assert slips.training_inside_run("%pip install x\n") is False  # magics do not break parsing


def test_renamed_keys_are_found_by_name_or_value() -> None:
    assert slips.renamed_param("random_state", 8888, {"seed": "8888"}, set()) == "seed"
    assert slips.renamed_param("max_iter", 1000, {"max_iters": "100"}, set()) == "max_iters"
    assert slips.renamed_param("solver", "lbfgs", {"C": "1.0"}, set()) is None
    assert slips.renamed_metric("accuracy", {"test_accuracy": 0.9}, None) == "test_accuracy"
    assert slips.renamed_metric("accuracy", {"score": 0.9}, 0.9) == "score"
    assert slips.similar_names("MLflow Quickstart", ["mlflow quickstart", "Other"]) == [
        "mlflow quickstart"
    ]


def test_ui_links_follow_mlflow_3_routes() -> None:
    assert run_url("http://h:1", "1", "abc") == "http://h:1/#/experiments/1/runs/abc"
    assert model_version_url("http://h:1", "my model/x", "2") == (
        "http://h:1/#/models/my%20model%2Fx/versions/2"
    )


def _failing(ev: Evidence) -> dict[str, str]:
    results, _, _ = evaluate(ev)
    return {r.id: r.message for r in results if not r.passed}


def test_the_lab_written_out_passes_every_check() -> None:
    assert _failing(_evidence(_run())) == {}


def test_params_must_be_the_logged_models_own_hyperparameters() -> None:
    run = _run()
    probed = _probed(run.models[0].uri, max_iter=200, random_state=1)
    ev = _evidence(run, predictions={probed.model_uri: probed})
    assert set(_failing(ev)) == {"params"}
    message = _failing(ev)["params"]
    assert "trained with max_iter=200, random_state=1, not the logged max_iter=1000" in message
    assert "LogisticRegression(**params)" in message


def test_params_of_another_estimator_or_a_wrapper_say_what_the_model_is() -> None:
    run = _run()
    uri = run.models[0].uri
    ridge = _probed(uri, "sklearn.linear_model._ridge.RidgeClassifier")
    ev = _evidence(run, predictions={uri: ridge})
    assert set(_failing(ev)) == {"params"}
    assert (
        "is a sklearn.linear_model._ridge.RidgeClassifier, not a LogisticRegression"
        in (_failing(ev)["params"])
    )
    wrapper = replace(run.models[0], flavors=("python_function",))
    pyfunc_run = _run(models=(wrapper,))
    facts = ModelPredictions(uri, tuple(map(float, Y_TEST)), None, "__main__.Wrapped", None)
    message = _failing(_evidence(pyfunc_run, predictions={uri: facts}))["params"]
    assert "has no sklearn flavor (flavors: python_function; it holds a __main__.Wrapped)" in (
        message
    )
    assert "mlflow.sklearn.log_model(sk_model=lr" in message


def test_published_multi_class_auto_matches_the_scikit_learn_default() -> None:
    run = _run(params={**PARAMS, "multi_class": "auto"})
    assert "params" not in _failing(_evidence(run))  # the model says "deprecated": the default
    other = _probed(run.models[0].uri, multi_class="multinomial")
    ev = _evidence(run, predictions={other.model_uri: other})
    assert (
        "trained with multi_class=multinomial, not the logged multi_class=auto"
        in (_failing(ev)["params"])
    )


def test_params_without_a_logged_model_cannot_be_proven() -> None:
    run = _run(models=())
    message = _failing(_evidence(run))["params"]
    assert "the run logged no model" in message


def test_registered_model_without_a_version_does_not_contradict_itself() -> None:
    ev = _evidence(_run(), versions={"tracking-quickstart": ()})
    message = _failing(ev)["registered_model"]
    assert 'registered model "tracking-quickstart" exists but holds no version' in message
    assert "no registered model" not in message
    missing = _failing(_evidence(_run(), versions={}))["registered_model"]
    assert 'no registered model "tracking-quickstart" (registered models: none)' in missing


def test_predictions_come_from_the_pyfunc_load_not_from_variable_names() -> None:
    run = _run()
    model = run.models[0]
    right = tuple(map(float, Y_TEST))
    # Inside main(): no `result` or `predictions` global, only the load and its predict().
    inside = NamespaceCapture(
        {}, (PyfuncLoad(model.uri, model.model_id, run.run_id, (right,)),), ()
    )
    assert "predictions" not in _failing(_evidence(run, capture=inside))
    # Row by row: one predict() call per row of X_test.
    rows = tuple((v,) for v in right)
    by_row = NamespaceCapture({}, (PyfuncLoad(model.uri, model.model_id, run.run_id, rows),), ())
    assert "predictions" not in _failing(_evidence(run, capture=by_row))
    # Loaded, but predicted on other rows (the training split).
    train = NamespaceCapture(
        {}, (PyfuncLoad(model.uri, model.model_id, run.run_id, ((0.0,) * 6,)),), ()
    )
    message = _failing(_evidence(run, capture=train))["predictions"]
    assert (
        "never predicted the test split (4 rows): its predict() was called on 6 row(s)" in message
    )
    # Loaded a model of another run.
    other = NamespaceCapture({}, (PyfuncLoad("models:/m-x", "m-x", "rx", (right,)),), ())
    message = _failing(_evidence(run, capture=other))["predictions"]
    assert "loaded models:/m-x with mlflow.pyfunc.load_model, which is not a model of" in message
    # Nothing loaded and nothing defined.
    nothing = _failing(_evidence(run, capture=NamespaceCapture({}, (), ())))["predictions"]
    assert "no model was loaded with mlflow.pyfunc.load_model" in nothing
    assert "`result` or `predictions`" in nothing


def test_a_version_whose_source_is_the_runs_artifact_path_is_the_runs_model() -> None:
    # MLflow 2's create_model_version(source="runs:/<run>/iris_model"), as guides still print.
    run = _run()
    version = ModelVersion("tracking-quickstart", "1", f"runs:/{run.run_id}/iris_model", None, None)
    ev = _evidence(run, versions={"tracking-quickstart": (version,)})
    assert "registered_model" not in _failing(ev)
    other = replace(version, source="runs:/another-run/iris_model")
    message = _failing(_evidence(run, versions={"tracking-quickstart": (other,)}))
    assert "holds 1 version(s), none of them model iris_model" in message["registered_model"]


def evaluate(ev: Evidence) -> tuple[tuple[CheckResult, ...], Candidate | None, list[str]]:
    return score_evidence(LAB, ev)


def test_a_wrong_logged_param_says_what_the_model_was_really_trained_with() -> None:
    # Trained with the lab's max_iter, logged another: the model's own value says which to fix.
    logged_wrong = _evidence(_run(params={**PARAMS, "max_iter": "100"}))
    message = _messages(logged_wrong)["params"]
    assert (
        "max_iter=100 (expected 1000, and the logged LogisticRegression was trained with"
        " max_iter=1000)" in message
    )
    # Trained and logged with the same wrong value: nothing more to say than the expected one.
    run = _run(params={**PARAMS, "max_iter": "100"})
    both_wrong = _evidence(run)
    both_wrong = replace(
        both_wrong, predictions={m.uri: _probed(m.uri, max_iter=100) for m in run.models}
    )
    message = _messages(both_wrong)["params"]
    assert "max_iter=100 (expected 1000)" in message
    assert "trained with" not in message
    assert "revisit Steps 3 and 4 of the lab" in message  # params is defined in Step 3
