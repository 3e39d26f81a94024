"""The Model Registry lab's checks: each turns what the server holds and what the notebook left
into a verdict (grader.engine.scoring words and scores it).

What ties the steps together is the run's logged model: a registered version is "that run's
model" however its source names it (models:/<id>, the guide's runs:/ or run-artifact path, or
another version of it), and MLflow 3 leaves ModelVersion.model_id empty, so the source and the
run id are what is compared (grader.engine.evidence.common_slips.is_version_of).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import Candidate, Check, Evidence, PyfuncLoad, Verdict, unusable
from grader.engine.evidence.rubric import CheckSpec
from grader.engine.evidence.server_reads import ModelVersion, Run
from grader.engine.scoring import (
    ModelFit,
    literal,
    model_unlike_params,
    no_run,
    not_applicable,
    predicted,
    short_name,
    stopped,
    trained_note,
    trained_with,
)
from grader.labs._compat import SKOPS_FIX

FIT = ModelFit("model", "Step 1", "Step 1")
PLACEHOLDER = "UPDATE_HERE"


def check_run(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    expected: dict[str, object] = dict(spec.option("expected"))
    metric, tolerance = str(spec.option("metric")), float(spec.options.get("tolerance", 1e-6))
    pairs = ", ".join(f'"{k}": {v}' for k, v in expected.items())
    call = (
        f"params = {{{pairs}}}; mlflow.log_params(params);"
        f' mlflow.log_metrics({{"{metric}": mean_squared_error(y_test, y_pred)}})'
    )
    if cand is None:
        return no_run(ev, call)
    run, problems, hints = cand.run, [], []
    wrong = [k for k, v in expected.items() if k in run.params and run.params[k] != str(v)]
    own = trained_with(spec, ev, cand, wrong)
    for key, value in expected.items():
        if key not in run.params:
            problems.append(f"{key} missing")
        elif key in wrong:
            problems.append(
                f"{key}={run.params[key]} (expected {value}{trained_note(spec, own, key)})"
            )
    if run.status != "FINISHED":
        problems.append(f"the run is {run.status}, not FINISHED")
        hints.append(_unfinished(ev, run))
    if problems:
        got = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())) or "no params"
        return Verdict(
            False, f"{cand.label}: {'; '.join(problems)}. Logged: {got}", call, "; ".join(hints)
        )
    if metric not in run.metrics:
        found = ", ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())) or "none"
        return Verdict(
            False, f'{cand.label} has no "{metric}" metric (metrics: {found})', call, stopped(ev)
        )
    logged = run.metrics[metric]
    true_mse, problem = _true_mse(ev, cand)
    if true_mse is None:
        return Verdict(
            False, f"{metric}={logged:g} is logged but cannot be verified: {problem}", call
        )
    typed = slips.typed_metric(ev.capture, cand.run.run_id, metric)
    computed = "log the value computed from the model's predictions so that it follows the model"
    if not math.isclose(logged, true_mse, rel_tol=tolerance):
        return Verdict(
            False,
            f"{metric}={logged:.6g} is logged{' as a number typed into the code' if typed else ''},"
            f" but the run's model scores {true_mse:.6g} on the lab's test split"
            f" (test_size={ev.rubric.test_size}, random_state={ev.rubric.random_state})",
            call,
            computed
            if typed
            else "compute it on the test split, mean_squared_error(y_test, model.predict(X_test)),"
            " not on the training data, and log that same value",
        )
    if typed:
        return Verdict(
            False,
            f"{metric} is logged as a number typed into the code, not computed",
            call,
            computed,
        )
    keys = list(expected)
    unlike = model_unlike_params(spec, ev, cand, keys, FIT)
    want = ", ".join(f"{k}={v}" for k, v in expected.items())
    if unlike is not None:
        found, hint = unlike
        return Verdict(False, f"{want} logged in {cand.label}, but {found}", call, hint)
    model = short_name(str(spec.option("estimator")))
    return Verdict(
        True,
        f"{want} and {metric}={logged:.6g} logged in {cand.label}: the logged {model}'s own"
        " hyperparameters and its error on X_test",
    )


def check_registered_at_log(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    call = (
        'mlflow.sklearn.log_model(sk_model=model, name="sklearn-model", signature=signature,'
        f' registered_model_name="{name}")'
    )
    if cand is None:
        return no_run(ev, call)
    found = _registered(ev, cand, name, call)
    if isinstance(found, Verdict):
        return found
    model = cand.model
    assert model is not None
    if not model.has_signature:
        return Verdict(
            False,
            f'"{name}" version {found[0].version} is the model of {cand.label}, but the model'
            " was logged without a signature",
            call,
            "signature = infer_signature(X_test, model.predict(X_test)), passed to log_model",
        )
    return Verdict(
        True,
        f'"{name}" version {found[0].version} is the model of {cand.label}, logged with a'
        " signature",
    )


def check_register_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    call = f'mlflow.register_model(f"runs:/{{run.info.run_id}}/sklearn-model", "{name}")'
    if cand is None:
        return _no_run_yet(ev, call)
    found = _registered(ev, cand, name, call)
    if isinstance(found, Verdict):
        return found
    return Verdict(True, f'"{name}" version {found[0].version} is the model of {cand.label}')


def check_client_version(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    call = (
        f'MlflowClient().create_model_version(name="{name}", source=model_info.model_uri,'
        " run_id=run.info.run_id, model_id=model_info.model_id)"
    )
    if cand is None:
        return _no_run_yet(ev, call)
    found = _registered(ev, cand, name, call)
    if isinstance(found, Verdict):
        return found
    if len(found) < 2:
        return Verdict(
            False,
            f'"{name}" holds one version of the model of {cand.label} (version'
            f" {found[0].version}, from Step 1), and no further one",
            call,
            _placeholder(ev, "the source and run_id")
            or stopped(ev)
            or "create a second version of the same model with MlflowClient in Step 4",
        )
    made = found[1:]
    with_run = [v for v in made if v.run_id == cand.run.run_id]
    if not with_run:
        listed = ", ".join(f"version {v.version} (run_id {v.run_id or 'not set'})" for v in made)
        return Verdict(
            False,
            f'"{name}" has further versions of the model of {cand.label}, but not with that'
            f" run's id: {listed}",
            call,
            "pass run_id=run.info.run_id to create_model_version",
        )
    version = with_run[-1]
    note = ""
    if version.source.startswith(("mlflow-artifacts:", "runs:/")):
        note = (
            f" (its source {version.source} is the guide's MLflow 2 form: in MLflow 3 the model"
            " lives at model_info.model_uri, so this version holds no files; pass"
            " source=model_info.model_uri, model_id=model_info.model_id to make it loadable)"
        )
    return Verdict(
        True,
        f'"{name}" version {version.version} was created from the model of {cand.label} with'
        f" run_id set{note}",
    )


def check_load_version(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name, number = str(spec.option("name")), str(spec.option("version"))
    uri = f"models:/{name}/{number}"
    call = f'model = mlflow.pyfunc.load_model(model_uri="{uri}"); model.predict(X_test)'
    if not ev.executed:
        return not_applicable(spec, "the notebook's model loads")
    if ev.capture is None:
        return Verdict(
            False,
            f"the notebook's model loads could not be checked: {ev.capture_problem}",
            call,
            stopped(ev),
        )
    if cand is None:
        return _no_run_yet(ev, call)
    version = _version(ev, name, number)
    if version is None or cand.model is None:
        return Verdict(
            False,
            f'there is no version {number} of "{name}" to load (Step 1 registers it)',
            call,
            stopped(ev),
        )
    if not slips.is_version_of(version, cand.model, ev.snapshot.versions):
        return Verdict(
            False,
            f'version {number} of "{name}" is {version.source}, not the model of {cand.label}',
            call,
        )
    expected = ev.predictions.get(cand.model.uri)
    if expected is None or expected.predictions is None:
        return Verdict(False, f"the logged model {unusable(expected)}: nothing to compare", call)
    loads = ev.capture.loads
    ours = [load for load in loads if _from_registry(load, name) and _is_load_of(load, cand)]
    if not ours:
        found = ", ".join(sorted({load.uri for load in loads}))
        said = (
            f"the notebook's mlflow.pyfunc.load_model loaded {found}, but Step 5 loads version"
            f' {number} of "{name}" from the registry ({uri})'
            if found
            else f'the notebook never loaded version {number} of "{name}" from the registry:'
            " it made no mlflow.pyfunc.load_model call"
        )
        return Verdict(
            False,
            said,
            call,
            stopped(ev)
            or f'Step 5 loads the registered version: mlflow.pyfunc.load_model("{uri}")',
        )
    made = next((load for load in ours if predicted(load, expected.predictions)), None)
    if made is None:
        return Verdict(
            False,
            f"{ours[0].uri} was loaded, but it never predicted the test split"
            f" ({len(expected.predictions)} rows)",
            call,
            "recreate the split of Step 1 (make_regression, then train_test_split with"
            " test_size=0.2, random_state=42) and predict on X_test",
        )
    return Verdict(True, f"loaded {made.uri} with pyfunc and predicted X_test with it")


def check_archived(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name, number, stage = (str(spec.option(k)) for k in ("name", "version", "stage"))
    call = (
        f'MlflowClient().transition_model_version_stage(name="{name}", version={number},'
        f' stage="{stage}")'
    )
    version = _version(ev, name, number)
    if version is None:
        return Verdict(
            False, f'there is no version {number} of "{name}" to archive', call, stopped(ev)
        )
    if version.stage.casefold() == stage.casefold():
        return Verdict(True, f'version {number} of "{name}" is in stage {version.stage}')
    others = [v.version for v in ev.snapshot.versions.get(name, ()) if v.stage == stage]
    hint = (
        f"version {', '.join(others)} is {stage} instead: Step 6 archives version {number}"
        if others
        else stopped(ev)
    )
    return Verdict(
        False, f'version {number} of "{name}" is in stage {version.stage}, not {stage}', call, hint
    )


def _registered(
    ev: Evidence, cand: Candidate, name: str, call: str
) -> tuple[ModelVersion, ...] | Verdict:
    """The versions of NAME that are the run's model, oldest first; else why there are none."""
    model = cand.model
    if model is None:
        return Verdict(False, f"{cand.label} has no logged model", call, stopped(ev))
    if model.problem:
        return Verdict(
            False,
            f"the model of {cand.label} ({model.model_id}) was never saved whole: its MLmodel"
            f" file cannot be read ({_first_line(model.problem)})",
            call,
            stopped(ev) or "log the trained model again; the run's log_model failed",
        )
    versions = ev.snapshot.versions
    found = tuple(v for v in versions.get(name, ()) if slips.is_version_of(v, model, versions))
    if found:
        return tuple(sorted(found, key=lambda v: int(v.version)))
    logged = f"model {model.name} ({model.model_id}) of {cand.label}"
    held = versions.get(name)
    if held:
        listed = "; ".join(f"version {v.version} is {v.source}" for v in held[:5])
        return Verdict(
            False,
            f'"{name}" holds {len(held)} version(s), none of them {logged}: {listed}',
            call,
            _placeholder(ev, "the run id") or stopped(ev),
        )
    near = [n for n in slips.similar_names(name, list(versions)) if n not in _lab_names(ev)]
    hint = (
        _placeholder(ev, "the run id")
        or stopped(ev)
        or (f'registered model names are exact: "{near[0]}" is not "{name}"' if near else "")
    )
    others = ", ".join(f'"{n}"' for n in sorted(versions)) or "none"
    return Verdict(
        False, f'no version of "{name}" is {logged} (registered models: {others})', call, hint
    )


def _no_run_yet(ev: Evidence, call: str) -> Verdict:
    """No run, for a step after Step 1: its model is what the step needs."""
    return replace(no_run(ev, call), expected=call, hint=stopped(ev) or "do Step 1 first")


def _lab_names(ev: Evidence) -> set[str]:
    """The registered models the rubric names (a near miss of one is not another's typo)."""
    return {str(s.options["name"]) for s in ev.rubric.checks if "name" in s.options}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:160] if text.strip() else "no detail"


def _placeholder(ev: Evidence, what: str) -> str:
    if PLACEHOLDER not in ev.code:
        return ""
    return (
        # WHAT in brackets: the class report shows the checks it stopped as one slip
        f'the notebook still has "{PLACEHOLDER}" in place of the ids it stands for ({what}):'
        " use run.info.run_id and model_info (or the ids shown in the MLflow UI)"
    )


def _version(ev: Evidence, name: str, number: str) -> ModelVersion | None:
    return next((v for v in ev.snapshot.versions.get(name, ()) if v.version == number), None)


def _from_registry(load: PyfuncLoad, name: str) -> bool:
    """LOAD named a version of NAME in the registry (by number, alias, stage or latest)."""
    return load.uri.startswith((f"models:/{name}/", f"models:/{name}@"))


def _is_load_of(load: PyfuncLoad, cand: Candidate) -> bool:
    assert cand.model is not None
    return load.model_id == cand.model.model_id or load.run_id == cand.run.run_id


def _true_mse(ev: Evidence, cand: Candidate) -> tuple[float | None, str]:
    if cand.model is None:
        return None, "the run has no logged model to score (Step 1 log_model)"
    preds = ev.predictions.get(cand.model.uri)
    if preds is None or preds.predictions is None:
        return None, f"the logged model {unusable(preds)}"
    if len(preds.predictions) != len(ev.y_test):
        return None, f"the model gave {len(preds.predictions)} values for {len(ev.y_test)} rows"
    errors = [(p - y) ** 2 for p, y in zip(preds.predictions, ev.y_test, strict=True)]
    return sum(errors) / len(errors), ""


def _unfinished(ev: Evidence, run: Run) -> str:
    if run.status == "RUNNING":
        return "the run was never ended: log inside `with mlflow.start_run() as run:`"
    if "untrusted types" in (ev.execution_error or ""):
        return SKOPS_FIX
    return stopped(ev) or "a cell raised inside `with mlflow.start_run():`: fix that error"


def notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    """Deprecated spellings the lab's published code uses: accepted, and worth knowing. Each
    only where its call ran (the server holds what it made): a notebook that stopped before it,
    or a template whose TODO names it, is told nothing of a call it never made."""
    found = []
    staged = any(v.stage != "None" for vs in ev.snapshot.versions.values() for v in vs)
    logged = any(run.models for run in ev.snapshot.runs)
    if staged and "transition_model_version_stage" in ev.code:
        found.append(
            "model registry stages are deprecated since MLflow 2.9 (accepted here): aliases"
            ' replace them, e.g. client.set_registered_model_alias(name, "archived", 1)'
        )
    if logged and "artifact_path" in slips.log_model_keywords(ev.code):
        found.append(
            "log_model(artifact_path=...) is deprecated in MLflow 3 (accepted here): the MLflow 3"
            ' spelling is name="sklearn-model"'
        )
    return found


RUN_CHECKS: dict[str, Check] = {
    "run": check_run,
    "registered_at_log": check_registered_at_log,
    "register_model": check_register_model,
    "client_version": check_client_version,
    "load_version": check_load_version,
}
CHECKS: dict[str, Check] = {**RUN_CHECKS, "archived": check_archived}


def _name(spec: CheckSpec) -> str:
    return f'"{spec.option("name")}"'


# What each check wants, in a student's words (the released README's table).
WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "run": lambda spec: (
        "The run logs the forest's hyperparameters "
        + ", ".join(f"`{k}` = {literal(v)}" for k, v in dict(spec.option("expected")).items())
        + f' and a metric "{spec.option("metric")}" equal to the mean squared error the logged'
        " model really makes on the test split: computed, not typed in."
    ),
    "registered_at_log": lambda spec: (
        f"The run's model is logged with a signature and registered as {_name(spec)} in the"
        " same call (`registered_model_name=` of `mlflow.sklearn.log_model`)."
    ),
    "register_model": lambda spec: (
        f"The run's model is registered again, as {_name(spec)}, with `mlflow.register_model`."
    ),
    "client_version": lambda spec: (
        f"A further version of {_name(spec)} is created from the run's model with"
        " `MlflowClient().create_model_version`."
    ),
    "load_version": lambda spec: (
        f"The notebook loads version {spec.option('version')} of {_name(spec)} from the"
        " registry with `mlflow.pyfunc.load_model` and predicts on the test split with it."
    ),
    "archived": lambda spec: (
        f"Version {spec.option('version')} of {_name(spec)} ends in the"
        f' "{spec.option("stage")}" stage (`MlflowClient().transition_model_version_stage`).'
    ),
}
