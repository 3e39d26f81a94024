"""The Tracking lab's checks: each turns what the server holds and what the notebook left into
a verdict (grader.engine.scoring words and scores it).

A failing verdict says what was found, the call the lab expects, and, for a known slip
(grader.engine.evidence.common_slips), what exactly to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import (
    Candidate,
    Check,
    Evidence,
    NamespaceCapture,
    PyfuncLoad,
    Verdict,
    unusable,
)
from grader.engine.evidence.rubric import CheckSpec, Rubric
from grader.engine.evidence.server_reads import LoggedModel, ModelVersion, Run
from grader.engine.lab import Capture
from grader.engine.scoring import (
    ModelFit,
    error_where,
    literal,
    model_unlike_params,
    no_run,
    not_applicable,
    predicted,
    same_values,
    short_name,
    stopped,
    trained_note,
    trained_with,
)


def check_experiment(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name = spec.option("name")
    call = f'mlflow.set_experiment("{name}")'
    exp = ev.snapshot.experiment_named(name)
    if exp is not None:
        cleanup = " (deleted by the notebook's cleanup step; graded on what it logged)"
        return Verdict(
            True, f'experiment "{name}" exists (id {exp.id})' + (cleanup if exp.deleted else "")
        )
    others = [e.name for e in ev.snapshot.experiments if e.name != "Default"]
    near = [n for n in others if _squash(n) == _squash(name)]
    if near:
        return Verdict(
            False,
            f'found experiment "{near[0]}", which differs from "{name}" only in case or spaces',
            call,
            "experiment names are exact: a different case or a stray space makes another"
            f' experiment. Copy the name "{name}" from the lab',
        )
    found = ", ".join(f'"{n}"' for n in others) or "only the Default experiment"
    in_default = [r for r in ev.snapshot.runs if r.experiment_id == "0"]
    hint = stopped(ev) or (
        f'{len(in_default)} run(s) went to the "Default" experiment: set the experiment first'
        if in_default
        else ""
    )
    if not ev.executed and others:
        hint = f"to grade another experiment of this server, pass --experiment NAME ({found})"
    return Verdict(False, f'no experiment named "{name}"; found {found}', call, hint)


def check_params(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return no_run(ev, _params_call(spec))
    expected: dict[str, object] = dict(spec.option("expected"))
    optional: dict[str, object] = dict(spec.options.get("optional", {}))
    logged = cand.run.params
    problems, hints = [], []
    taken = set(expected) | set(optional)
    for key, value in expected.items():
        if key in logged:
            continue
        problems.append(f"{key} missing")
        other = slips.renamed_param(key, value, logged, taken)
        if other is not None:
            taken.add(other)
            hints.append(
                f'{key} was logged under the key "{other}" ({other}={logged[other]}): log it as'
                f' "{key}", the name of the LogisticRegression argument; logging the params dict'
                " itself, mlflow.log_params(params), keeps the keys right"
            )
    wrong = [k for k, v in expected.items() if k in logged and logged[k] != str(v)]
    own = trained_with(spec, ev, cand, wrong, _own_value)
    problems += [
        f"{k}={logged[k]} (expected {expected[k]}{trained_note(spec, own, k)})" for k in wrong
    ]
    for key, value in optional.items():
        if key in logged and logged[key] != str(value):
            problems.append(f"{key}={logged[key]} (expected {value} or not logged)")
            if key == "multi_class":
                hints.append(_MULTI_CLASS)
    if cand.run.status != "FINISHED":
        problems.append(f"the run is {cand.run.status}, not FINISHED")
        hints.append(_unfinished_hint(ev, cand.run))
    want = ", ".join(f"{k}={v}" for k, v in expected.items())
    if problems:
        got = ", ".join(f"{k}={v}" for k, v in sorted(logged.items())) or "no params"
        return Verdict(
            False,
            f"{cand.label}: {'; '.join(problems)}. Logged: {got}",
            _params_call(spec),
            "; ".join(hints),
        )
    keys = [*expected, *(k for k in optional if k in logged)]
    unlike = model_unlike_params(
        spec, ev, cand, keys, ModelFit("lr", "Step 3", "Step 4"), own_value=_own_value
    )
    if unlike is not None:
        found, hint = unlike
        return Verdict(
            False, f"{want} logged in {cand.label}, but {found}", _params_call(spec), hint
        )
    return Verdict(
        True,
        f"{want} logged in {cand.label}, and they are the logged"
        f" {_short(str(spec.option('estimator')))}'s own hyperparameters",
    )


def _own_value(key: str, own: object) -> object:
    """scikit-learn 1.5-1.7 report multi_class="deprecated" for the default, which is "auto"."""
    return "auto" if own == "deprecated" and key == "multi_class" else own


def _short(dotted: str) -> str:
    return dotted.rpartition(".")[2]


def _params_call(spec: CheckSpec) -> str:
    pairs = ", ".join(f'"{k}": {literal(v)}' for k, v in dict(spec.option("expected")).items())
    return f"params = {{{pairs}}}; mlflow.log_params(params)"


_MULTI_CLASS = (
    "multi_class is deprecated since scikit-learn 1.5 and removed in 1.8: delete the"
    ' "multi_class" entry from params (the default does the same)'
)


def check_metric(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name, tolerance = spec.option("name"), float(spec.options.get("tolerance", 1e-9))
    call = f'accuracy = accuracy_score(y_test, y_pred); mlflow.log_metric("{name}", accuracy)'
    if cand is None:
        return no_run(ev, call)
    true_acc, problem = _true_accuracy(ev, cand)
    if name not in cand.run.metrics:
        found = ", ".join(f"{k}={v:.6g}" for k, v in sorted(cand.run.metrics.items())) or "none"
        other = slips.renamed_metric(name, cand.run.metrics, true_acc)
        hint = (
            f'the accuracy was logged as "{other}": the lab\'s metric name is exactly "{name}"'
            if other
            else stopped(ev)
        )
        return Verdict(False, f'{cand.label} has no "{name}" metric (metrics: {found})', call, hint)
    logged = cand.run.metrics[name]
    if true_acc is None:
        return Verdict(
            False,
            f"{name}={logged:g} is logged but cannot be verified: {problem}",
            call,
            stopped(ev),
        )
    typed = slips.typed_metric(ev.capture, cand.run.run_id, name)
    computed = "log the accuracy variable from Step 3 so that the metric follows the model"
    if not math.isclose(logged, true_acc, rel_tol=0, abs_tol=tolerance):
        return Verdict(
            False,
            f"{name}={logged:.6g} is logged{' as a number typed into the code' if typed else ''},"
            f" but the run's model scores {true_acc:.6g} on the lab's test split"
            f" (test_size={ev.rubric.test_size}, random_state={ev.rubric.random_state})",
            call,
            computed
            if typed
            else "score the model on the test split, accuracy_score(y_test, lr.predict(X_test)),"
            " not on the training data, and log that same variable",
        )
    if typed:
        return Verdict(
            False, f"{name} is logged as a number typed into the code, not computed", call, computed
        )
    return Verdict(True, f"{name}={logged:.6g} matches what the logged model scores on X_test")


def check_tag(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = spec.option("name")
    call = f'mlflow.set_tag("{name}", "Basic LR model for iris data")'
    if cand is None:
        return no_run(ev, call)
    value = cand.run.tags.get(name, "")
    if value.strip():
        return Verdict(True, f'"{name}" = "{value[:60]}" on {cand.label}')
    if name in cand.run.tags:
        return Verdict(
            False, f'the "{name}" tag on {cand.label} is empty', call, "give it a description"
        )
    found = ", ".join(f'"{k}"' for k in sorted(cand.run.tags)) or "none"
    other = slips.similar_names(name, list(cand.run.tags))
    hint = (
        f'the tag was set as "{other[0]}": tag keys are exact, use "{name}"'
        if other
        else stopped(ev)
    )
    return Verdict(False, f'{cand.label} has no "{name}" tag (tags: {found})', call, hint)


def check_signature(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    call = (
        'mlflow.sklearn.log_model(sk_model=lr, name="iris_model",'
        " signature=infer_signature(X_train, lr.predict(X_train)), input_example=X_train, ...)"
    )
    if cand is None:
        return no_run(ev, call)
    model = cand.model
    if model is None:
        return _no_model(ev, cand, call)
    if model.problem:
        return Verdict(
            False,
            f"the model logged in {cand.label} has no readable MLmodel file: {model.problem}",
            call,
        )
    want_in, want_out = int(spec.option("inputs")), int(spec.option("outputs"))
    problems = []
    if not model.has_signature:
        problems.append("no signature")
    else:
        if model.inputs != want_in or not model.inputs_numeric:
            problems.append(
                f"the signature has {model.inputs} {'numeric ' if model.inputs_numeric else ''}"
                f"inputs, expected {want_in} numeric (infer it from X_train)"
            )
        if model.outputs != want_out:
            problems.append(
                f"the signature has {model.outputs} outputs, expected {want_out}"
                " (infer it from lr.predict(X_train))"
            )
    if not model.has_input_example:
        problems.append("no input example")
    if problems:
        return Verdict(
            False, f"model {model.model_id} of {cand.label}: " + "; ".join(problems), call
        )
    return Verdict(
        True,
        f"model {model.model_id} has a signature ({want_in} numeric inputs,"
        f" {want_out} output) and an input example",
    )


def check_registered_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = spec.option("name")
    call = f'mlflow.sklearn.log_model(..., registered_model_name="{name}")'
    if cand is None:
        return no_run(ev, call)
    if cand.model is None:
        return _no_model(ev, cand, call)
    versions = ev.snapshot.versions.get(name)
    elsewhere = slips.registered_elsewhere(ev.snapshot.versions, cand.model, name)
    wrong_name = (
        f'registered model names are exact: "{elsewhere.name}" is not "{name}";'
        f' pass registered_model_name="{name}"'
        if elsewhere
        else ""
    )
    register = (
        "log_model registers only when given registered_model_name=; or register the"
        f' logged model afterwards: mlflow.register_model(model_info.model_uri, "{name}")'
    )
    logged = f"model {cand.model.name} ({cand.model.model_id}) of {cand.label}"
    if not versions and elsewhere:
        found = (
            f'the model of {cand.label} is registered as "{elsewhere.name}"'
            f' (version {elsewhere.version}), not as "{name}"'
        )
        return Verdict(False, found, call, wrong_name)
    if versions is None:
        others = ", ".join(f'"{n}"' for n in sorted(ev.snapshot.versions)) or "none"
        return Verdict(
            False,
            f'no registered model "{name}" (registered models: {others}): {logged} was logged'
            " but not registered",
            call,
            register,
        )
    if not versions:
        return Verdict(
            False,
            f'registered model "{name}" exists but holds no version: {logged} was logged but'
            " never registered as a version of it",
            call,
            register,
        )
    match = _version_of(versions, cand.model)
    if match is None:
        held = "; ".join(
            f"version {v.version} is {v.source}" + (f" (run {v.run_id})" if v.run_id else "")
            for v in versions
        )
        return Verdict(
            False,
            f'"{name}" holds {len(versions)} version(s), none of them {logged}'
            f" ({cand.model.uri}): {held}",
            call,
            wrong_name or "register the model logged by this run (model_info.model_uri)",
        )
    return Verdict(True, f'"{name}" version {match.version} is the model of {cand.label}')


def check_predictions(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    variables, column = list(spec.option("variables")), str(spec.option("column"))
    call = (
        "loaded_model = mlflow.pyfunc.load_model(model_info.model_uri);"
        f' result["{column}"] = loaded_model.predict(X_test)'
    )
    if not ev.executed:
        return not_applicable(spec, "the notebook's predictions")
    if ev.capture is None:
        return Verdict(
            False,
            f"the notebook's variables could not be checked: {ev.capture_problem}",
            call,
            stopped(ev),
        )
    loads = ev.capture.loads
    values, where = _submitted_predictions(ev.capture, variables, column)
    if not loads and values is None:
        return Verdict(
            False,
            f"no model was loaded with mlflow.pyfunc.load_model, and {where}",
            call,
            stopped(ev) or _sklearn_predictions_hint(ev, variables),
        )
    if cand is None or cand.model is None:
        return Verdict(
            False, "there is no logged model to compare the predictions with (Step 4)", call
        )
    # A registered version that passes its check is this very model (its source is cand.model).
    expected = ev.predictions.get(cand.model.uri)
    if expected is None or expected.predictions is None:
        return Verdict(False, f"the logged model {unusable(expected)}: nothing to compare", call)
    truth = expected.predictions
    if values is not None and not same_values(values, truth):
        return Verdict(
            False,
            f"{where} holds {len(values)} values that differ from what the"
            f" model predicts on X_test ({len(truth)} rows)",
            call,
            "predict on X_test (the test split of Step 3) with the loaded pyfunc model",
        )
    ours = [load for load in loads if _is_load_of(load, cand)]
    if not ours:
        if loads:
            found = ", ".join(sorted({load.uri for load in loads}))
            return Verdict(
                False,
                f"{ev.subject} loaded {found} with mlflow.pyfunc.load_model, which is not a"
                f" model of {cand.label} ({cand.model.uri})",
                call,
                "load the model this run logged, mlflow.pyfunc.load_model(model_info.model_uri),"
                " and predict with it",
            )
        return Verdict(
            False,
            f"{where} is right, but no model was loaded with mlflow.pyfunc.load_model",
            call,
            _sklearn_predictions_hint(ev, variables),
        )
    made = next((load for load in ours if predicted(load, truth)), None)
    if made is None:
        calls = [len(p) for load in ours for p in load.predictions if p is not None]
        did = (
            f"its predict() was called on {', '.join(map(str, calls[:5]))} row(s)"
            if calls
            else "its predict() was never called"
        )
        used = slips.predicted_with(ev.code, variables)
        return Verdict(
            False,
            f"{ours[0].uri} was loaded with mlflow.pyfunc.load_model, but it never predicted"
            f" the test split ({len(truth)} rows): {did}",
            call,
            f"the predictions were made with {used}.predict, not with the loaded pyfunc model"
            if used and used not in {"loaded_model", "model"}
            else "predict on X_test (the test split of Step 3) with the loaded pyfunc model",
        )
    held = f"; {where} holds them" if values is not None else ""
    return Verdict(True, f"predicted X_test with the pyfunc model loaded from {made.uri}{held}")


def _sklearn_predictions_hint(ev: Evidence, variables: list[str]) -> str:
    if slips.calls(ev.code, "mlflow.sklearn.load_model"):
        return (
            "mlflow.sklearn.load_model gives back the scikit-learn model; Step 5 loads the"
            " generic Python Function flavor with mlflow.pyfunc.load_model"
        )
    used = slips.predicted_with(ev.code, variables)
    if used:
        return (
            f"the predictions were made with the scikit-learn model ({used}.predict(X_test)),"
            " not with the pyfunc model loaded back from MLflow: load it with"
            " mlflow.pyfunc.load_model(model_info.model_uri) and predict with that"
        )
    return "load the model this run logged (model_info.model_uri) and predict with that"


def capture(rubric: Rubric) -> Capture:
    """The variables Step 5 leaves its predictions in, as the rubric names them."""
    if "predictions" not in rubric.ids:
        return Capture()
    spec = rubric.check("predictions")
    return Capture(tuple(spec.option("variables")), str(spec.option("column")))


GLOBAL_CHECKS: dict[str, Check] = {"experiment": check_experiment}
RUN_CHECKS: dict[str, Check] = {
    "params": check_params,
    "metric": check_metric,
    "tag": check_tag,
    "signature": check_signature,
    "registered_model": check_registered_model,
    "predictions": check_predictions,
}
CHECKS: dict[str, Check] = {**GLOBAL_CHECKS, **RUN_CHECKS}


def _values(values: dict[str, object]) -> str:
    return ", ".join(f"`{key}` = {literal(str(value))}" for key, value in values.items())


# What each check wants, in a student's words (the released README's table).
WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "experiment": lambda spec: (
        f"Your runs go to an experiment named exactly {literal(spec.option('name'))}"
        " (`mlflow.set_experiment`)."
    ),
    "params": lambda spec: (
        f"The run logs the hyperparameters {_values(dict(spec.option('expected')))}"
        f" (`mlflow.log_params`), and they are the settings of the"
        f" {short_name(str(spec.option('estimator')))} the run logs as its model."
        + (
            f" If you also log {_values(dict(spec.options['optional']))}, it must be that value."
            if spec.options.get("optional")
            else ""
        )
    ),
    "metric": lambda spec: (
        f"The run logs a metric {literal(spec.option('name'))} equal to the accuracy the"
        " logged model really scores on the test split (`mlflow.log_metric`): computed, not"
        " typed in."
    ),
    "tag": lambda spec: (
        f"The run has a tag {literal(spec.option('name'))}, with any text (`mlflow.set_tag`)."
    ),
    "signature": lambda spec: (
        "The run logs its model with a signature (the model's"
        f" {spec.option('inputs')} input columns and {spec.option('outputs')} output) and an"
        " input example (`signature=` and `input_example=` of `mlflow.sklearn.log_model`)."
    ),
    "registered_model": lambda spec: (
        f"The logged model is registered as {literal(spec.option('name'))}"
        " (`registered_model_name=` of `log_model`), and that version is this run's model."
    ),
    "predictions": lambda spec: (
        "The notebook loads the logged model back with `mlflow.pyfunc.load_model` and"
        " predicts on the test split with it, keeping the predictions in"
        f" {' or '.join(f'`{v}`' for v in spec.option('variables'))}."
    ),
}


def candidates(ev: Evidence) -> list[Candidate]:
    """(run, model) pairs to grade: runs of the expected experiment, else every run."""
    name = ev.rubric.check("experiment").option("name") if "experiment" in ev.rubric.ids else None
    exp = ev.snapshot.experiment_named(name) if name else None
    runs = [r for r in ev.snapshot.runs if exp is not None and r.experiment_id == exp.id]
    runs = runs or list(ev.snapshot.runs)
    return [Candidate(r, m) for r in runs for m in (r.models or (None,))]


def notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    """Runs that failed beside the graded one, and deprecated spellings in the code."""
    found = _failed_run_notes(ev, [c.run for c in pool], best.run) if best else []
    return found + _code_notes(ev.code)


def _failed_run_notes(ev: Evidence, runs: list[Run], graded: Run) -> list[str]:
    failed = {r.run_id: r for r in slips.failed_runs_beside(runs, graded)}.values()
    if not failed:
        return []
    names = ", ".join(f"'{r.name}' ({r.run_id})" for r in failed)
    if slips.training_inside_run(ev.code):
        why = (
            "the code trains inside `with mlflow.start_run():`, so a training error leaves a"
            " half-logged run: the lab's Step 4 note says to train before start_run and only"
            " log inside it"
        )
    else:
        why = (
            "a cell raised inside `with mlflow.start_run():`; training inside the run is the"
            " usual cause, and the lab's Step 4 note says to train before start_run and only"
            " log inside it"
        )
    return [
        f"{len(failed)} run(s) ended FAILED next to the graded one: {names}: {why}."
        " Delete failed runs in the MLflow UI (Step 7)"
    ]


def _code_notes(code: str) -> list[str]:
    """Deprecated spellings the lab's published code uses: accepted, and worth knowing."""
    notes = []
    if "artifact_path" in slips.log_model_keywords(code):
        notes.append(
            "log_model(artifact_path=...) is deprecated in MLflow 3 (accepted here): the MLflow 3"
            ' spelling is name="iris_model"; passing both raises'
        )
    if slips.mentions(code, "multi_class"):
        notes.append(_MULTI_CLASS + " (accepted here, with scikit-learn below 1.8)")
    return notes


def _no_model(ev: Evidence, cand: Candidate, call: str) -> Verdict:
    hint = stopped(ev) or "log the model inside the run, after the params, metric and tag"
    if {"artifact_path", "name"} <= slips.log_model_keywords(ev.code):
        hint = (
            "MLflow 3 renamed log_model's artifact_path= to name=, and passing both raises:"
            ' keep only name="iris_model"'
        )
    return Verdict(False, f"{cand.label} has no logged model", call, hint)


def _unfinished_hint(ev: Evidence, run: Run) -> str:
    if run.status == "RUNNING":
        return (
            "the run was never ended: log inside `with mlflow.start_run():`, which ends it"
            " (or call mlflow.end_run())"
        )
    if slips.training_inside_run(ev.code):
        return (
            "training is inside `with mlflow.start_run():` and it raised, so MLflow ended the"
            " run FAILED with whatever was logged so far. As the lab's Step 4 note says, train"
            " before start_run and only log inside it; then fix the error"
        )
    where = error_where(ev)
    return (
        "a cell raised inside `with mlflow.start_run():` and MLflow ended the run FAILED:"
        " fix that error" + (f" ({ev.subject} stopped {where})" if where else "")
    )


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def _true_accuracy(ev: Evidence, cand: Candidate) -> tuple[float | None, str]:
    if cand.model is None:
        return None, "the run has no logged model to score (Step 4 log_model)"
    preds = ev.predictions.get(cand.model.uri)
    if preds is None or preds.predictions is None:
        return None, f"the logged model {unusable(preds)}"
    if len(preds.predictions) != len(ev.y_test):
        return (
            None,
            f"the model returned {len(preds.predictions)} predictions for {len(ev.y_test)} rows",
        )
    hits = sum(1 for p, y in zip(preds.predictions, ev.y_test, strict=True) if p == y)
    return hits / len(ev.y_test), ""


def _version_of(versions: tuple[ModelVersion, ...], model: LoggedModel) -> ModelVersion | None:
    return next((v for v in versions if slips.is_version_of(v, model)), None)


def _submitted_predictions(
    capture: NamespaceCapture, variables: list[str], column: str
) -> tuple[tuple[float, ...] | None, str]:
    for name in variables:
        var = capture.variables.get(name)
        if var is None or not var.present:
            continue
        if var.columns and column not in var.columns:
            return None, (
                f'`{name}` has no "{column}" column (columns: {", ".join(var.columns)}):'
                f' add result["{column}"] = predictions'
            )
        label = f'{name}["{column}"]' if var.columns else f"`{name}`"
        if var.values is None:
            return None, f"{label} is a {var.type}, not a list of predictions"
        try:
            return tuple(float(v) for v in var.values), label
        except (TypeError, ValueError):
            return None, f"{label} holds values that are not class numbers"
    names = " or ".join(f"`{n}`" for n in variables)
    return None, f"the notebook defines no {names} after it runs: do Step 5 (predict on X_test)"


def _is_load_of(load: PyfuncLoad, cand: Candidate) -> bool:
    assert cand.model is not None
    return load.model_id == cand.model.model_id or load.run_id == cand.run.run_id
