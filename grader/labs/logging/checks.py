"""The Logging a Model lab's checks: each turns what the server holds and what the notebook
left into a verdict (grader.engine.scoring words and scores it).

The lab's data ends on the day the notebook runs, so nothing is regenerated here: the metrics
are recomputed from the logged model's predictions on the validation split the notebook
itself used (X_val, y_val, read from the kernel after the run: Lab.used_split).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import (
    Candidate,
    Check,
    Evidence,
    NamespaceCapture,
    Verdict,
    unusable,
)
from grader.engine.evidence.rubric import CheckSpec, Rubric
from grader.engine.lab import Capture, TestSplit
from grader.engine.scoring import (
    ModelFit,
    literal,
    model_unlike_params,
    no_run,
    short_name,
    stopped,
    trained_note,
    trained_with,
)
from grader.labs._compat import SKOPS_FIX

FIT = ModelFit("rf", "Train and log the model", "Train and log the model")
# The lab's names for its validation split: the data the metrics are recomputed on.
X_VAL, Y_VAL = "X_val", "y_val"
SPLIT_CALL = (
    "X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=42)"
)


def capture(rubric: Rubric) -> Capture:
    return Capture(variables=(X_VAL, Y_VAL), tables=(X_VAL,))


def used_split(found: NamespaceCapture | None) -> TestSplit | None:
    """X_val and y_val as the notebook left them, if both are there and of one length."""
    if found is None:
        return None
    rows, targets = found.variables.get(X_VAL), found.variables.get(Y_VAL)
    if rows is None or targets is None or rows.rows is None or targets.values is None:
        return None
    if not rows.rows or len(rows.rows) != len(targets.values):
        return None
    try:
        return TestSplit(
            [[float(v) for v in row] for row in rows.rows], tuple(float(v) for v in targets.values)
        )
    except (TypeError, ValueError):
        return None  # not numbers: the checks say the split was not found as the lab makes it


def candidates(ev: Evidence) -> list[Candidate]:
    """(run, model) pairs to grade: runs of the lab's experiment, else every run."""
    name = ev.rubric.check("experiment").option("name") if "experiment" in ev.rubric.ids else None
    exp = ev.snapshot.experiment_named(str(name)) if name else None
    runs = [r for r in ev.snapshot.runs if exp is not None and r.experiment_id == exp.id]
    runs = runs or list(ev.snapshot.runs)
    return [Candidate(r, m) for r in runs for m in (r.models or (None,))]


def check_experiment(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name, note = str(spec.option("name")), str(spec.option("note"))
    tags = {k: str(v) for k, v in dict(spec.option("tags")).items()}
    listed = ", ".join(f'"{k}": "{v}"' for k, v in tags.items())
    call = (
        f'client.create_experiment(name="{name}", tags={{{listed}, "{note}":'
        " experiment_description})"
    )
    exp = ev.snapshot.experiment_named(name)
    if exp is None:
        names = [e.name for e in ev.snapshot.experiments]
        near = slips.similar_names(name, names)
        found = ", ".join(f'"{n}"' for n in names) or "none"
        hint = (
            f'experiment names are exact: "{near[0]}" is not "{name}"'
            if near
            else stopped(ev) or "create it with MlflowClient before the run"
        )
        return Verdict(False, f'no experiment "{name}" (experiments: {found})', call, hint)
    problems = []
    for key, value in tags.items():
        if key not in exp.tags:
            problems.append(f'tag "{key}" missing')
        elif exp.tags[key] != value:
            problems.append(f'tag "{key}" is "{exp.tags[key]}", expected "{value}"')
    if not exp.tags.get(note, "").strip():
        problems.append(f'tag "{note}" (the experiment\'s description) missing or empty')
    if not set(exp.tags) & {*tags, note}:
        return Verdict(
            False,
            f'experiment "{name}" exists but has none of its {len(tags) + 1} tags',
            call,
            "mlflow.set_experiment makes an experiment without tags when none exists: create it"
            " first with client.create_experiment(..., tags=experiment_tags)",
        )
    if problems:
        return Verdict(
            False,
            f'experiment "{name}": {"; ".join(problems)}',
            call,
            "experiment tags are set when the experiment is created: pass them all as tags= to"
            " create_experiment (or client.set_experiment_tag(experiment_id, key, value))",
        )
    return Verdict(True, f'experiment "{name}" has its {len(tags) + 1} tags')


def check_run(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    call = f'with mlflow.start_run(run_name="{name}") as run: ...'
    if cand is None:
        call = f'mlflow.set_experiment("{_experiment(ev)}"); {call}'
        return replace(no_run(ev, call), expected=call)
    run, where = cand.run, _experiment_of(ev, cand)
    problems = []
    if run.name != name:
        problems.append(f"it is named '{run.name}', not '{name}'")
    if where != _experiment(ev):
        problems.append(f'it is in experiment "{where}", not "{_experiment(ev)}"')
    if run.status != "FINISHED":
        problems.append(f"it is {run.status}, not FINISHED")
    if problems:
        hint = (
            "the run was never ended: log inside `with mlflow.start_run(run_name=run_name):`"
            if run.status == "RUNNING"
            else _unfinished(ev)
            if run.status != "FINISHED"
            else f'mlflow.set_experiment("{_experiment(ev)}") before start_run, and'
            " run_name=run_name"
        )
        return Verdict(False, f"{cand.label}: {'; '.join(problems)}", call, hint)
    return Verdict(True, f'{cand.label} finished in "{where}"')


def check_params(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    expected = {k: str(v) for k, v in dict(spec.option("expected")).items()}
    call = "params = {...}; rf = RandomForestRegressor(**params); mlflow.log_params(params)"
    if cand is None:
        return no_run(ev, call)
    run = cand.run
    wrong = [k for k, v in expected.items() if k in run.params and run.params[k] != v]
    own = trained_with(spec, ev, cand, wrong)
    problems = []
    for key, value in expected.items():
        if key not in run.params:
            problems.append(f"{key} missing")
        elif key in wrong:
            problems.append(
                f"{key}={run.params[key]} (expected {value}{trained_note(spec, own, key)})"
            )
    if problems:
        got = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())) or "no params"
        return Verdict(
            False,
            f"{cand.label}: {'; '.join(problems)}. Logged: {got}",
            call,
            stopped(ev) or "log the params dict the forest is trained with, all of it",
        )
    unlike = model_unlike_params(spec, ev, cand, list(expected), FIT)
    if unlike is not None:
        found, hint = unlike
        return Verdict(False, f"the params are logged in {cand.label}, but {found}", call, hint)
    model = short_name(str(spec.option("estimator")))
    return Verdict(True, f"{len(expected)} params logged in {cand.label}: the logged {model}'s own")


def check_metrics(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    names = [str(m) for m in spec.option("metrics")]
    tolerance = float(spec.options.get("tolerance", 1e-6))
    listed = ", ".join(f'"{m}": {m}' for m in names)
    call = f"mlflow.log_metrics({{{listed}}}), each computed from y_val and rf.predict(X_val)"
    if cand is None:
        return no_run(ev, call)
    run = cand.run
    missing = [m for m in names if m not in run.metrics]
    if missing:
        found = ", ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())) or "none"
        return Verdict(
            False,
            f"{cand.label} has no {', '.join(missing)} (metrics: {found})",
            call,
            stopped(ev) or "log all four metrics of the validation split together",
        )
    truth, problem = _true_metrics(ev, cand)
    if truth is None:
        return Verdict(
            False,
            f"{', '.join(names)} are logged but cannot be verified: {problem}",
            call,
            stopped(ev),
        )
    typed = [m for m in names if slips.typed_metric(ev.capture, run.run_id, m)]
    off = [m for m in names if m in truth and not _close(run.metrics[m], truth[m], tolerance)]
    if off:
        said = "; ".join(
            f"{m}={run.metrics[m]:.6g} is logged, the model's is {truth[m]:.6g}" for m in off
        )
        return Verdict(
            False,
            f"{said} (on the validation split the notebook used, {len(ev.y_test)} rows of X_val"
            " and y_val)",
            call,
            "log the values computed from the model's predictions, not numbers typed in"
            if typed
            else "compute each on the validation split: mean_absolute_error(y_val, y_pred),"
            " mean_squared_error(y_val, y_pred), rmse = np.sqrt(mse), r2_score(y_val, y_pred)"
            " with y_pred = rf.predict(X_val), and log those same values",
        )
    if typed:
        return Verdict(
            False,
            f"{', '.join(typed)} logged as numbers typed into the code, not computed",
            call,
            "log the values computed from the model's predictions so that they follow the model",
        )
    values = ", ".join(f"{m}={run.metrics[m]:.6g}" for m in names)
    return Verdict(
        True,
        f"{values} logged in {cand.label}: the logged model's errors on the validation split"
        f" ({len(ev.y_test)} rows)",
    )


def check_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name, flavor = str(spec.option("name")), str(spec.option("flavor"))
    columns = tuple(str(c) for c in spec.option("columns"))
    call = f'mlflow.{flavor}.log_model(sk_model=rf, input_example=X_val, name="{name}")'
    if cand is None:
        return no_run(ev, call)
    model = cand.model
    if model is None:
        return Verdict(False, f"{cand.label} logged no model", call, stopped(ev) or _hint_log())
    if model.problem:
        return Verdict(
            False,
            f"the model of {cand.label} ({model.model_id}) was never saved whole: its MLmodel"
            " file cannot be read",
            call,
            stopped(ev) or "log the trained model again; the run's log_model failed",
        )
    problems = []
    if model.name != name:
        problems.append(f'it is named "{model.name}", not "{name}" (artifact_path/name)')
    if flavor not in model.flavors:
        problems.append(f"it has no {flavor} flavor (flavors: {', '.join(model.flavors)})")
    if not model.has_input_example:
        problems.append("it has no input example")
    if not model.has_signature:
        problems.append("it has no signature")
    elif not model.input_names:
        problems.append("its signature's inputs have no column names (an array, not a DataFrame)")
    elif tuple(model.input_names) != columns:
        problems.append(
            f"its signature's columns are {', '.join(model.input_names)}; the lab's X has"
            f" {', '.join(columns)}"
        )
    if problems:
        return Verdict(
            False, f"the model of {cand.label}: {'; '.join(problems)}", call, _hint_log()
        )
    return Verdict(
        True,
        f'"{name}" logged in {cand.label} with the {flavor} flavor, an input example and a'
        f" signature of its {len(columns)} named columns",
    )


def _hint_log() -> str:
    return (
        "log the trained forest with its input example, the validation features as a DataFrame"
        " (input_example=X_val): MLflow infers the signature, with the columns' names, from it"
    )


def _experiment(ev: Evidence) -> str:
    return (
        str(ev.rubric.check("experiment").option("name")) if "experiment" in ev.rubric.ids else ""
    )


def _experiment_of(ev: Evidence, cand: Candidate) -> str:
    found = next((e for e in ev.snapshot.experiments if e.id == cand.run.experiment_id), None)
    return found.name if found else cand.run.experiment_id


def _true_metrics(ev: Evidence, cand: Candidate) -> tuple[dict[str, float] | None, str]:
    """mae, mse, rmse and r2 of the run's logged model on the notebook's validation split."""
    if not ev.y_test:
        return None, (
            f"{X_VAL} and {Y_VAL}, the validation split the metrics are computed on, were not"
            f" found in the notebook after the run (the lab makes them: {SPLIT_CALL})"
        )
    if cand.model is None:
        return None, "the run has no logged model to score"
    preds = ev.predictions.get(cand.model.uri)
    if preds is None or preds.predictions is None:
        return None, f"the logged model {unusable(preds)}"
    got, truth = preds.predictions, ev.y_test
    if len(got) != len(truth):
        return None, f"the model gave {len(got)} values for {len(truth)} rows"
    n = len(truth)
    errors = [p - y for p, y in zip(got, truth, strict=True)]
    mse = sum(e * e for e in errors) / n
    mean = sum(truth) / n
    total = sum((y - mean) ** 2 for y in truth)
    return {
        "mae": sum(abs(e) for e in errors) / n,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": 1 - mse * n / total if total else float("nan"),
    }, ""


def _close(logged: float, true: float, tolerance: float) -> bool:
    return math.isclose(logged, true, rel_tol=tolerance, abs_tol=1e-9)


def _unfinished(ev: Evidence) -> str:
    if "untrusted types" in (ev.execution_error or ""):
        return SKOPS_FIX
    return stopped(ev) or "a cell raised inside `with mlflow.start_run():`: fix that error"


def notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    """Deprecated spellings the lab's published code uses, where its call ran: accepted, and
    worth knowing."""
    logged = any(run.models for run in ev.snapshot.runs)
    if logged and "artifact_path" in slips.log_model_keywords(ev.code):
        return [
            "log_model(artifact_path=...) is deprecated in MLflow 3 (accepted here): the MLflow 3"
            ' spelling is name="rf_apples"'
        ]
    return []


RUN_CHECKS: dict[str, Check] = {
    "run": check_run,
    "params": check_params,
    "metrics": check_metrics,
    "model": check_model,
}
CHECKS: dict[str, Check] = {"experiment": check_experiment, **RUN_CHECKS}

# What each check wants, in a student's words (the released README's table).
WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "experiment": lambda spec: (
        f'An experiment "{spec.option("name")}" is created with MlflowClient, with the tags '
        + ", ".join(f"`{k}` = {literal(v)}" for k, v in dict(spec.option("tags")).items())
        + f" and a description in `{spec.option('note')}`."
    ),
    "run": lambda spec: (
        f'The model is trained and logged in a run named "{spec.option("name")}" of that'
        " experiment, and the run finishes."
    ),
    "params": lambda spec: (
        "The run logs the forest's hyperparameters "
        + ", ".join(f"`{k}` = {v}" for k, v in dict(spec.option("expected")).items())
        + ", and the logged model was trained with them."
    ),
    "metrics": lambda spec: (
        "The run logs "
        + ", ".join(f'"{m}"' for m in spec.option("metrics"))
        + " equal to the errors the logged model really makes on the validation split"
        " (X_val, y_val): computed, not typed in."
    ),
    "model": lambda spec: (
        f'The trained forest is logged as "{spec.option("name")}" with'
        " `mlflow.sklearn.log_model` and `input_example=X_val`, so that its signature names"
        " the columns."
    ),
}
