"""The lab's checks: each turns what the server holds and what the notebook left into a verdict.

A check is a function (spec, evidence, candidate) -> Verdict. Checks that depend on a run
are scored for every candidate (run, logged model) pair and the best pair is graded.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

from grader.execution import NamespaceCapture
from grader.probe import ModelPredictions
from grader.results import CheckResult
from grader.rubric import CheckSpec, Rubric
from grader.tracking import LoggedModel, ModelVersion, Run, Snapshot


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str


@dataclass(frozen=True)
class Evidence:
    rubric: Rubric
    snapshot: Snapshot
    capture: NamespaceCapture | None
    capture_problem: str | None
    predictions: dict[str, ModelPredictions]
    y_test: tuple[int, ...]
    code: str


@dataclass(frozen=True)
class Candidate:
    run: Run
    model: LoggedModel | None

    @property
    def label(self) -> str:
        return f"run '{self.run.name}' ({self.run.run_id})"


Check = Callable[[CheckSpec, Evidence, "Candidate | None"], Verdict]


def check_experiment(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name = spec.option("name")
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
            f'found experiment "{near[0]}", which differs from "{name}" only in'
            f' case or spaces: use mlflow.set_experiment("{name}")',
        )
    found = ", ".join(f'"{n}"' for n in others) or "only the Default experiment"
    return Verdict(
        False,
        f'no experiment named "{name}"; found {found}.'
        f' Call mlflow.set_experiment("{name}") before start_run',
    )


def check_params(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return _no_run(ev)
    expected: dict[str, object] = dict(spec.option("expected"))
    optional: dict[str, object] = dict(spec.options.get("optional", {}))
    logged = cand.run.params
    problems = [f"{k} missing" for k in expected if k not in logged]
    problems += [
        f"{k}={logged[k]} (expected {v})"
        for k, v in expected.items()
        if k in logged and logged[k] != str(v)
    ]
    problems += [
        f"{k}={logged[k]} (expected {v} or not logged)"
        for k, v in optional.items()
        if k in logged and logged[k] != str(v)
    ]
    if cand.run.status != "FINISHED":
        problems.append(
            f"the run is {cand.run.status}, not FINISHED (did a cell fail inside start_run?)"
        )
    want = ", ".join(f"{k}={v}" for k, v in expected.items())
    if problems:
        got = ", ".join(f"{k}={v}" for k, v in sorted(logged.items())) or "no params"
        return Verdict(
            False,
            f"{cand.label}: {'; '.join(problems)}. Logged: {got}."
            f" Log the params dict with mlflow.log_params(params) ({want})",
        )
    return Verdict(True, f"{want} logged in {cand.label}")


def check_metric(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return _no_run(ev)
    name, tolerance = spec.option("name"), float(spec.options.get("tolerance", 1e-9))
    if name not in cand.run.metrics:
        found = ", ".join(sorted(cand.run.metrics)) or "none"
        return Verdict(
            False,
            f'{cand.label} has no "{name}" metric (metrics found: {found}).'
            f' Log it with mlflow.log_metric("{name}", accuracy)',
        )
    logged = cand.run.metrics[name]
    true_acc, problem = _true_accuracy(ev, cand)
    if true_acc is None:
        return Verdict(False, f"{name}={logged:g} is logged but cannot be verified: {problem}")
    if not math.isclose(logged, true_acc, rel_tol=0, abs_tol=tolerance):
        return Verdict(
            False,
            f"{name}={logged:.6g} is logged, but the run's model scores"
            f" {true_acc:.6g} on the lab's test split (test_size={ev.rubric.test_size},"
            f" random_state={ev.rubric.random_state}). Log accuracy_score(y_test, y_pred)"
            " computed on X_test",
        )
    if _hard_coded(ev.code, name):
        return Verdict(
            False,
            f"{name} is logged as a number typed into the code, not computed:"
            f" log the accuracy variable from Step 3 (accuracy_score(y_test, y_pred))",
        )
    return Verdict(True, f"{name}={logged:.6g} matches what the logged model scores on X_test")


def check_tag(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return _no_run(ev)
    name = spec.option("name")
    value = cand.run.tags.get(name, "")
    if value.strip():
        return Verdict(True, f'"{name}" = "{value[:60]}" on {cand.label}')
    if name in cand.run.tags:
        return Verdict(False, f'the "{name}" tag on {cand.label} is empty: give it a description')
    found = ", ".join(f'"{k}"' for k in sorted(cand.run.tags)) or "none"
    return Verdict(
        False,
        f'{cand.label} has no "{name}" tag (tags found: {found}).'
        f' Add mlflow.set_tag("{name}", "Basic LR model for iris data")',
    )


def check_signature(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return _no_run(ev)
    model = cand.model
    if model is None:
        return _no_model(cand)
    if model.problem:
        return Verdict(
            False, f"the model logged in {cand.label} has no readable MLmodel file: {model.problem}"
        )
    want_in, want_out = int(spec.option("inputs")), int(spec.option("outputs"))
    problems = []
    if not model.has_signature:
        problems.append(
            "no signature (pass signature=infer_signature(X_train, lr.predict(X_train)))"
        )
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
        problems.append("no input example (pass input_example=X_train)")
    if problems:
        return Verdict(False, f"model {model.model_id} of {cand.label}: " + "; ".join(problems))
    return Verdict(
        True,
        f"model {model.model_id} has a signature ({want_in} numeric inputs,"
        f" {want_out} output) and an input example",
    )


def check_registered_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if cand is None:
        return _no_run(ev)
    name = spec.option("name")
    versions = ev.snapshot.versions.get(name)
    if not versions:
        others = ", ".join(f'"{n}"' for n in sorted(ev.snapshot.versions)) or "none"
        return Verdict(
            False,
            f'no registered model "{name}" (registered models: {others}).'
            f' Pass registered_model_name="{name}" to mlflow.sklearn.log_model',
        )
    if cand.model is None:
        return _no_model(cand)
    match = _version_of(versions, cand.model)
    if match is None:
        sources = ", ".join(f"v{v.version} -> {v.source}" for v in versions)
        return Verdict(
            False,
            f'"{name}" has no version whose source is the model of {cand.label}'
            f" ({cand.model.uri}); versions: {sources}",
        )
    return Verdict(True, f'"{name}" version {match.version} is the model of {cand.label}')


def check_predictions(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    if ev.capture is None:
        return Verdict(
            False, f"the notebook's variables could not be checked: {ev.capture_problem}"
        )
    column = str(spec.option("column"))
    values, where = _submitted_predictions(ev.capture, list(spec.option("variables")), column)
    if values is None:
        return Verdict(False, where)
    if cand is None or cand.model is None:
        return Verdict(False, "there is no logged model to compare the predictions with (Step 4)")
    # A registered version that passes its check is this very model (its source is cand.model).
    expected = ev.predictions.get(cand.model.uri)
    if expected is None or expected.predictions is None:
        reason = expected.error if expected else "it was not probed"
        return Verdict(False, f"the logged model could not be loaded to compare: {reason}")
    if not _same(values, expected.predictions):
        return Verdict(
            False,
            f"{where} holds {len(values)} values that differ from what the"
            f" model predicts on X_test ({len(expected.predictions)} rows):"
            " predict on X_test with the loaded pyfunc model",
        )
    loaded = [m for m in ev.capture.pyfunc_models if _is_model_of(m, cand)]
    if not loaded:
        return Verdict(
            False,
            f"{where} is right, but no model loaded with mlflow.pyfunc.load_model"
            " from this run is in the notebook: load it back with"
            " mlflow.pyfunc.load_model(model_info.model_uri) and predict with it",
        )
    return Verdict(
        True, f"{where} equals what the logged model predicts on X_test (loaded with mlflow.pyfunc)"
    )


GLOBAL_CHECKS: dict[str, Check] = {"experiment": check_experiment}
RUN_CHECKS: dict[str, Check] = {
    "params": check_params,
    "metric": check_metric,
    "tag": check_tag,
    "signature": check_signature,
    "registered_model": check_registered_model,
    "predictions": check_predictions,
}
KNOWN_IDS = frozenset(GLOBAL_CHECKS) | frozenset(RUN_CHECKS)


def candidates(ev: Evidence) -> list[Candidate]:
    """(run, model) pairs to grade: runs of the expected experiment, else every run."""
    name = ev.rubric.check("experiment").option("name") if "experiment" in ev.rubric.ids else None
    exp = ev.snapshot.experiment_named(name) if name else None
    runs = [r for r in ev.snapshot.runs if exp is not None and r.experiment_id == exp.id]
    runs = runs or list(ev.snapshot.runs)
    return [Candidate(r, m) for r in runs for m in (r.models or (None,))]


def evaluate(ev: Evidence) -> tuple[tuple[CheckResult, ...], Candidate | None, list[str]]:
    """Score every check; run-dependent ones on the best candidate. Returns results, pick, notes."""
    pool = candidates(ev)
    scored = [(_run_points(ev, c), c.run.start_time, c) for c in pool]
    best = max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None
    notes = []
    if best is not None and len({c.run.run_id for c in pool}) > 1:
        notes.append(
            f"graded {best.label}, the best complete one of"
            f" {len({c.run.run_id for c in pool})} runs found"
        )
    results = tuple(_result(spec, _verdict(spec, ev, best)) for spec in ev.rubric.checks)
    return results, best, notes


def _verdict(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    check = GLOBAL_CHECKS.get(spec.id) or RUN_CHECKS[spec.id]
    return check(spec, ev, cand)


def _run_points(ev: Evidence, cand: Candidate) -> float:
    return sum(
        spec.points
        for spec in ev.rubric.checks
        if spec.id in RUN_CHECKS and RUN_CHECKS[spec.id](spec, ev, cand).passed
    )


def _result(spec: CheckSpec, verdict: Verdict) -> CheckResult:
    message = verdict.message
    if not verdict.passed and spec.step:
        message = f"{message} (revisit {spec.step} of the lab)"
    return CheckResult(
        id=spec.id,
        title=spec.title,
        score=spec.points if verdict.passed else 0.0,
        max_score=spec.points,
        passed=verdict.passed,
        message=message,
        step=spec.step,
    )


def _no_run(ev: Evidence) -> Verdict:
    where = "no run was logged"
    if ev.snapshot.experiments and len(ev.snapshot.experiments) > 1:
        where = "no run was logged in any experiment"
    return Verdict(False, f"{where}: log inside `with mlflow.start_run():`")


def _no_model(cand: Candidate) -> Verdict:
    return Verdict(
        False,
        f"{cand.label} has no logged model: call mlflow.sklearn.log_model(...) inside the run",
    )


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def _true_accuracy(ev: Evidence, cand: Candidate) -> tuple[float | None, str]:
    if cand.model is None:
        return None, "the run has no logged model to score (Step 4 log_model)"
    preds = ev.predictions.get(cand.model.uri)
    if preds is None or preds.predictions is None:
        return (
            None,
            f"the logged model could not be loaded ({preds.error if preds else 'not probed'})",
        )
    if len(preds.predictions) != len(ev.y_test):
        return (
            None,
            f"the model returned {len(preds.predictions)} predictions for {len(ev.y_test)} rows",
        )
    hits = sum(1 for p, y in zip(preds.predictions, ev.y_test, strict=True) if p == y)
    return hits / len(ev.y_test), ""


def _hard_coded(code: str, metric: str) -> bool:
    """True when the metric is passed to log_metric(s) as a number literal."""
    try:
        tree = ast.parse(_without_magics(code))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if func == "log_metric" and len(node.args) >= 2:
            key, value = node.args[0], node.args[1]
            if isinstance(key, ast.Constant) and key.value == metric and _is_number(value):
                return True
        if func == "log_metrics" and node.args and isinstance(node.args[0], ast.Dict):
            for k, v in zip(node.args[0].keys, node.args[0].values, strict=True):
                if isinstance(k, ast.Constant) and k.value == metric and _is_number(v):
                    return True
    return False


def _without_magics(code: str) -> str:
    return "\n".join(
        "pass" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()
    )


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float))


def _version_of(versions: tuple[ModelVersion, ...], model: LoggedModel) -> ModelVersion | None:
    for v in versions:
        if v.model_id == model.model_id or v.source == model.uri or model.model_id in v.source:
            return v
    return None


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


def _same(values: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    return len(values) == len(expected) and all(
        a == b for a, b in zip(values, expected, strict=True)
    )


def _is_model_of(loaded: dict[str, str | None], cand: Candidate) -> bool:
    assert cand.model is not None
    return loaded.get("model_id") == cand.model.model_id or loaded.get("run_id") == cand.run.run_id
