"""The Autologging lab's checks: each turns what the server holds and what the notebook left
into a verdict (grader.engine.scoring words and scores it).

The lab's split has no seed, so the grader cannot rebuild it: what MLflow logged (the run it
created by itself, its params, its model, its training metrics) is judged against the logged
model's own hyperparameters and against that model's predictions on the rows of the
notebook's own X_train (read from the kernel after the run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import (
    Candidate,
    Check,
    Evidence,
    VariableCapture,
    Verdict,
    unusable,
)
from grader.engine.evidence.rubric import CheckSpec
from grader.engine.scoring import (
    ModelFit,
    literal,
    model_unlike_params,
    no_run,
    not_applicable,
    short_name,
    stopped,
    trained_note,
    trained_with,
)
from grader.labs.autolog.data import SPLIT_VARIABLES, diabetes

FIT = ModelFit("rf", "Step 2", "Step 2")
FIT_CALL = (
    "mlflow.autolog(); rf = RandomForestRegressor(n_estimators=100, max_depth=6,"
    " max_features=3); rf.fit(X_train, y_train)"
)
AUTOLOG_TAG = "mlflow.autologging"


def check_connection(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    wanted: dict[str, float] = {k: float(v) for k, v in dict(spec.option("metrics")).items()}
    logs = "; ".join(f'mlflow.log_metric("{k}", {literal(int(v))})' for k, v in wanted.items())
    call = f'mlflow.set_experiment("{name}"); with mlflow.start_run(): {logs}'
    experiment = ev.snapshot.experiment_named(name)
    if experiment is None:
        names = ", ".join(f'"{e.name}"' for e in ev.snapshot.experiments) or "none"
        near = slips.similar_names(name, [e.name for e in ev.snapshot.experiments])
        return Verdict(
            False,
            f'there is no experiment "{name}" (experiments: {names})',
            call,
            stopped(ev)
            or (f'experiment names are exact: "{near[0]}" is not "{name}"' if near else ""),
        )
    runs = [r for r in ev.snapshot.runs if r.experiment_id == experiment.id]
    done = [r for r in runs if r.status == "FINISHED"]
    for run in done:
        if all(math.isclose(run.metrics.get(k, math.nan), v) for k, v in wanted.items()):
            said = ", ".join(f"{k}={run.metrics[k]:g}" for k in wanted)
            return Verdict(True, f'run {run.run_id} of "{name}" logged {said}')
    if not runs:
        return Verdict(False, f'experiment "{name}" holds no run', call, stopped(ev))
    found = "; ".join(
        f"run {r.run_id} ({r.status}): "
        + (", ".join(f"{k}={r.metrics[k]:g}" for k in wanted if k in r.metrics) or "neither")
        for r in ([r for r in runs if set(wanted) & set(r.metrics)] or runs)[:3]
    )
    hint = stopped(ev) or (
        "end the run: log inside `with mlflow.start_run():`"
        if not done
        else "log each metric with its own value: " + logs
    )
    want = ", ".join(f"{k}={v:g}" for k, v in wanted.items())
    return Verdict(False, f'no finished run of "{name}" logged {want} ({found})', call, hint)


def check_params(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    expected = {k: str(v) for k, v in dict(spec.option("expected")).items()}
    flavor = str(spec.option("autologging"))
    if cand is None:
        return _no_run(ev)
    run, problems = cand.run, []
    wrong = [k for k, v in expected.items() if k in run.params and run.params[k] != v]
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
    if problems:
        got = ", ".join(f"{k}={run.params[k]}" for k in expected if k in run.params) or "none"
        return Verdict(
            False,
            f"{cand.label}: {'; '.join(problems)}. Its forest params: {got}",
            FIT_CALL,
            stopped(ev)
            or "create the forest with the lab's values and fit it once autologging is on",
        )
    by = run.system_tags.get(AUTOLOG_TAG)
    if by != flavor:
        said = f"by {by} autologging" if by else "by the notebook's own calls"
        return Verdict(
            False,
            f"{cand.label} holds the lab's params, but they were logged {said}, not by"
            f" {flavor} autologging (MLflow tags the runs its autologging creates with"
            f" {AUTOLOG_TAG}={flavor})",
            FIT_CALL,
            "call mlflow.autolog() before rf.fit(X_train, y_train) and let MLflow log the"
            " params: no mlflow.start_run() or log_params of your own",
        )
    want = ", ".join(f"{k}={v}" for k, v in expected.items())
    return Verdict(True, f"{flavor} autologging logged {want} in {cand.label}")


def check_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    keys = list(dict(spec.option("expected")))
    short = short_name(str(spec.option("estimator")))
    if cand is None:
        return _no_run(ev)
    if cand.model is None:
        return Verdict(
            False,
            f"{cand.label} has no logged model",
            FIT_CALL,
            stopped(ev)
            or "autologging logs the fitted model itself (log_models=True, its default): do"
            " not turn it off",
        )
    unlike = model_unlike_params(spec, ev, cand, keys, FIT)
    if unlike is not None:
        found, hint = unlike
        return Verdict(False, f"{cand.label}: {found}", FIT_CALL, hint)
    return Verdict(
        True,
        f"{cand.label} logged its fitted {short} ({cand.model.model_id}), whose own"
        " hyperparameters are the ones the run logged",
    )


def check_training_metrics(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    keys = [str(k) for k in spec.option("metrics")]
    tolerance = float(spec.options.get("tolerance", 1e-6))
    if cand is None:
        return _no_run(ev)
    run = cand.run
    missing = [k for k in keys if k not in run.metrics]
    if missing:
        found = ", ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())) or "none"
        return Verdict(
            False,
            f"{cand.label} has no {', '.join(missing)} (metrics: {found})",
            FIT_CALL,
            stopped(ev)
            or "autologging logs them when fit is given the targets: rf.fit(X_train, y_train)",
        )
    if not ev.executed:
        return not_applicable(spec, "the notebook's X_train")
    typed = [k for k in keys if slips.typed_metric(ev.capture, run.run_id, k)]
    if typed:
        return Verdict(
            False,
            f"{', '.join(typed)} of {cand.label} {'are' if len(typed) > 1 else 'is'} logged as"
            " a number typed into the code",
            FIT_CALL,
            "let autologging compute the training metrics: log none of them yourself",
        )
    if cand.model is None:
        return _without_model(ev, cand, keys, tolerance)
    if ev.capture is not None and not all(
        ev.capture.variables.get(name, _ABSENT).present for name in SPLIT_VARIABLES
    ):
        return _split_named_otherwise(cand, keys)
    scores = _own_scores(ev, cand)
    if isinstance(scores, str):
        return Verdict(
            False, f"{cand.label}'s training metrics cannot be verified: {scores}", FIT_CALL
        )
    true, rows = scores
    off = [
        f"{k}={run.metrics[k]:.6g} (the model scores {true[k]:.6g})"
        for k in keys
        if k in true and not math.isclose(run.metrics[k], true[k], rel_tol=tolerance, abs_tol=1e-9)
    ]
    if off:
        return Verdict(
            False,
            f"{cand.label} logged {'; '.join(off)} on the notebook's X_train ({rows} rows)",
            FIT_CALL,
            "let autologging log the metrics of the fit it records: log none of them yourself,"
            " and fit the forest on X_train, y_train",
        )
    said = ", ".join(f"{k}={run.metrics[k]:.6g}" for k in keys)
    return Verdict(
        True,
        f"{said} logged in {cand.label}: what its model scores on the notebook's X_train"
        f" ({rows} rows of the diabetes data)",
    )


def _no_run(ev: Evidence) -> Verdict:
    """No run to judge: autologging creates one at the fit, with no start_run of the code's."""
    said = no_run(ev, FIT_CALL).message
    return Verdict(
        False,
        said,
        FIT_CALL,
        stopped(ev) or "turn autologging on before the fit: the fit itself then creates the run",
    )


_ABSENT = VariableCapture(present=False)


def _split_named_otherwise(cand: Candidate, keys: list[str]) -> Verdict:
    """The notebook names its split otherwise (a correct rewrite may): its rows cannot be
    read, so the metrics count when autologging created the run and none was typed in (the
    caller checked that), as MLflow's own record of the fit."""
    x_name, y_name = SPLIT_VARIABLES
    if AUTOLOG_TAG not in cand.run.system_tags:
        return Verdict(
            False,
            f"{cand.label} was not created by autologging, and the notebook defines no"
            f" {x_name} and {y_name} to recompute its training metrics on",
            FIT_CALL,
            "let autologging log the run: mlflow.autolog() before rf.fit(X_train, y_train)",
        )
    said = ", ".join(f"{k}={cand.run.metrics[k]:.6g}" for k in keys)
    return Verdict(
        True,
        f"{said} logged by autologging in {cand.label} (the notebook names its split otherwise"
        f" than {x_name} and {y_name}, so they were taken as MLflow's record of the fit, not"
        " recomputed)",
    )


def _without_model(ev: Evidence, cand: Candidate, keys: list[str], tolerance: float) -> Verdict:
    """No logged model to score (the model check says so): the metrics still count when
    autologging logged them and they describe the notebook's own y_train (r2 is 1 - mse over
    y_train's variance), so that one missing model costs one check."""
    run = cand.run
    if AUTOLOG_TAG not in run.system_tags:
        return Verdict(
            False,
            f"{cand.label} has no logged model to verify its training metrics on, and"
            " autologging did not create it",
            FIT_CALL,
            "let autologging log the run: mlflow.autolog() before rf.fit(X_train, y_train)",
        )
    y_name = SPLIT_VARIABLES[1]
    ys = ev.capture.variables.get(y_name) if ev.capture else None
    try:
        y_train = [float(v) for v in ys.values or ()] if ys is not None and ys.present else []
    except (TypeError, ValueError):
        y_train = []
    mse, r2 = (run.metrics.get(k) for k in ("training_mean_squared_error", "training_r2_score"))
    n = len(y_train)
    if not n or mse is None or r2 is None:
        return Verdict(
            False,
            f"{cand.label} has no logged model and `{y_name}` cannot be read: its training"
            " metrics cannot be verified",
            FIT_CALL,
        )
    mean = sum(y_train) / n
    variance = sum((y - mean) ** 2 for y in y_train) / n
    if not variance or not math.isclose(1 - mse / variance, r2, rel_tol=tolerance, abs_tol=1e-9):
        return Verdict(
            False,
            f"{cand.label} logged training metrics that do not describe the notebook's"
            f" `{y_name}` (r2 {r2:.6g} and mse {mse:.6g} disagree with its variance)",
            FIT_CALL,
            "let autologging log the metrics of the fit it records: log none of them yourself",
        )
    said = ", ".join(f"{k}={run.metrics[k]:.6g}" for k in keys)
    return Verdict(
        True,
        f"{said} logged by autologging in {cand.label}, on the notebook's `{y_name}` ({n}"
        " rows; the run has no model to score them with)",
    )


def _own_scores(ev: Evidence, cand: Candidate) -> tuple[dict[str, float], int] | str:
    """The logged model's training metrics on the rows of the notebook's own X_train, as
    MLflow's sklearn autologging names them, and how many rows; else why they are unknown."""
    if ev.capture is None:
        return f"the notebook's variables could not be read ({ev.capture_problem})"
    if cand.model is None:
        return "the run has no logged model to score"
    facts = ev.predictions.get(cand.model.uri)
    if facts is None or facts.predictions is None:
        return f"the logged model {unusable(facts)}"
    x_name, y_name = SPLIT_VARIABLES
    xs, ys = ev.capture.variables.get(x_name), ev.capture.variables.get(y_name)
    if xs is None or not xs.present or ys is None or not ys.present:
        return (
            f"the notebook defines no {x_name} and {y_name} after it runs (Step 2 names its"
            " training split so)"
        )
    if not xs.rows or not all(len(row) > 1 for row in xs.rows):
        return f"`{x_name}` is a {xs.type}, not a table of feature rows"
    data = diabetes()
    index = _row_index(data.X)
    at = [index.get(tuple(float(v) for v in row)) for row in xs.rows]
    strangers = sum(i is None for i in at)
    if strangers:
        return (
            f"{strangers} of the {len(at)} rows of `{x_name}` are not rows of load_diabetes():"
            " Step 2 splits db.data"
        )
    try:
        y_train = [float(v) for v in ys.values or ()]
    except (TypeError, ValueError):
        return f"`{y_name}` holds values that are not numbers"
    if len(y_train) != len(at) or any(
        y != data.y[i] for y, i in zip(y_train, at, strict=False) if i is not None
    ):
        return f"`{y_name}` is not the targets of the rows of `{x_name}`"
    predicted = [facts.predictions[i] for i in at if i is not None]
    return _regression_scores(predicted, y_train), len(at)


def _regression_scores(predicted: Sequence[float], truth: Sequence[float]) -> dict[str, float]:
    """The training metrics MLflow's sklearn autologging logs for a regressor."""
    n = len(truth)
    mse = sum((p - y) ** 2 for p, y in zip(predicted, truth, strict=True)) / n
    mae = sum(abs(p - y) for p, y in zip(predicted, truth, strict=True)) / n
    mean = sum(truth) / n
    total = sum((y - mean) ** 2 for y in truth)
    r2 = 1 - mse * n / total if total else math.nan
    return {
        "training_mean_squared_error": mse,
        "training_mean_absolute_error": mae,
        "training_root_mean_squared_error": math.sqrt(mse),
        "training_r2_score": r2,
        "training_score": r2,
    }


def _row_index(rows: Sequence[Sequence[float]]) -> Mapping[tuple[float, ...], int]:
    return {tuple(float(v) for v in row): i for i, row in enumerate(rows)}


def notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    """Where Step 2's run went: mlflow.set_experiment of Step 1 stays in effect, so the run
    autologging creates lands in Step 1's experiment, which surprises students looking for it
    under Default in the MLflow UI."""
    if best is None or AUTOLOG_TAG not in best.run.system_tags:
        return []
    experiment = next((e for e in ev.snapshot.experiments if e.id == best.run.experiment_id), None)
    if experiment is None or experiment.name == "Default":
        return []
    return [
        f'the run autologging created is in experiment "{experiment.name}": the experiment'
        " set in Step 1 stays active, so look for it there in the MLflow UI"
    ]


RUN_CHECKS: dict[str, Check] = {
    "params": check_params,
    "model": check_model,
    "training_metrics": check_training_metrics,
}
CHECKS: dict[str, Check] = {"connection": check_connection, **RUN_CHECKS}


def _values(spec: CheckSpec) -> str:
    return ", ".join(f"`{k}` = {literal(v)}" for k, v in dict(spec.option("expected")).items())


# What each check wants, in a student's words (the released README's table).
WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "connection": lambda spec: (
        f'A run of the experiment "{spec.option("name")}" logs the metrics '
        + " and ".join(f"`{k}` = {literal(v)}" for k, v in dict(spec.option("metrics")).items())
        + "."
    ),
    "params": lambda spec: (
        "MLflow's autologging (`mlflow.autolog()`), not your own calls, creates a run when the"
        f" forest is fitted and logs its hyperparameters {_values(spec)}."
    ),
    "model": lambda spec: (
        "That run holds the fitted RandomForestRegressor itself, logged by autologging (the"
        " scikit-learn flavor), whose own hyperparameters are the ones the run logged."
    ),
    "training_metrics": lambda spec: (
        "That run holds the training metrics autologging computes ("
        + ", ".join(f'"{k}"' for k in spec.option("metrics"))
        + "), equal to what the logged forest really scores on your own X_train and y_train."
    ),
}
