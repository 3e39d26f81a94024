"""The wine lab's checks: each a plain function of the evidence (the server's runs and logged
models, what the probe found each model predicts on the test split) returning a verdict with
what was found, the call the lab expects and the fix."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import Candidate, Check, Evidence, Verdict, unusable
from grader.engine.evidence.rubric import CheckSpec
from grader.engine.scoring import no_run, stopped

# What a run of the lab logs; no_run() puts it in `with mlflow.start_run(): ...` itself.
LOGGED = (
    'mlflow.log_metric("accuracy", accuracy);'
    ' mlflow.sklearn.log_model(model, name="model", input_example=X_train)'
)
LOG_CALL = f"with mlflow.start_run(): {LOGGED}"


def check_experiment(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    name = str(spec.option("name"))
    call = f'mlflow.set_experiment("{name}")'
    experiment = ev.snapshot.experiment_named(name)
    if experiment is None:
        names = ", ".join(f'"{e.name}"' for e in ev.snapshot.experiments) or "none"
        near = slips.similar_names(name, [e.name for e in ev.snapshot.experiments])
        hint = f'experiment names are exact: "{near[0]}" is not "{name}"' if near else ""
        return Verdict(
            False,
            f'there is no experiment "{name}" (experiments: {names})',
            call,
            stopped(ev) or hint,
        )
    done = [r for r in ev.snapshot.runs if r.experiment_id == experiment.id]
    if not any(r.status == "FINISHED" for r in done):
        return Verdict(
            False,
            f'experiment "{name}" holds no finished run',
            LOG_CALL,
            stopped(ev) or "log inside `with mlflow.start_run():`, which ends the run",
        )
    return Verdict(True, f'experiment "{name}" holds {len(done)} run(s)')


def _scored(ev: Evidence, cand: Candidate) -> tuple[float | None, str]:
    """The accuracy the candidate's logged model scores on the test split, or why none."""
    if cand.model is None:
        return None, f"{cand.label} logged no model"
    preds = ev.predictions.get(cand.model.uri)
    if preds is None or preds.predictions is None:
        return None, f"the logged model {unusable(preds)}"
    hits = sum(p == t for p, t in zip(preds.predictions, ev.y_test, strict=True))
    return hits / len(ev.y_test), ""


def check_accuracy(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    name, tolerance = str(spec.option("name")), float(spec.option("tolerance"))
    if cand is None:
        return no_run(ev, LOGGED)
    if name not in cand.run.metrics:
        found = ", ".join(sorted(cand.run.metrics)) or "none"
        return Verdict(
            False,
            f'{cand.label} has no "{name}" metric (metrics: {found})',
            LOG_CALL,
            stopped(ev) or f'the metric\'s name is exactly "{name}"',
        )
    logged = cand.run.metrics[name]
    true, problem = _scored(ev, cand)
    if true is None:
        return Verdict(False, f"{name}={logged:g} cannot be verified: {problem}", LOG_CALL)
    if not math.isclose(logged, true, rel_tol=0, abs_tol=tolerance):
        return Verdict(
            False,
            f"{name}={logged:.6g} is logged, but the run's model scores {true:.6g} on the"
            f" test split (test_size={ev.rubric.test_size}, random_state={ev.rubric.random_state})",
            LOG_CALL,
            "score the model on the test split, accuracy_score(y_test, model.predict(X_test)),"
            " and log that variable",
        )
    return Verdict(True, f"{name}={logged:.6g} matches what the logged model scores")


def check_model(spec: CheckSpec, ev: Evidence, cand: Candidate | None) -> Verdict:
    least = float(spec.option("min_accuracy"))
    if cand is None:
        return no_run(ev, LOGGED)
    true, problem = _scored(ev, cand)
    if true is None:
        return Verdict(False, problem, LOG_CALL, stopped(ev) or "log the fitted model in the run")
    if true < least:
        return Verdict(
            False,
            f"the logged model classifies {true:.0%} of the test split, under {least:.0%}",
            LOG_CALL,
            "fit the model on X_train and y_train before logging it",
        )
    return Verdict(True, f"the logged model classifies {true:.0%} of the test split")


CHECKS: Mapping[str, Check] = {
    "experiment": check_experiment,
    "accuracy": check_accuracy,
    "model": check_model,
}
RUN_CHECKS = ("accuracy", "model")
WANTS: Mapping[str, Callable[[CheckSpec], str]] = {
    "experiment": lambda spec: f'an experiment named "{spec.option("name")}"',
    "accuracy": lambda spec: f'the test accuracy logged as "{spec.option("name")}"',
    "model": lambda spec: (
        f"the fitted model logged, at least {spec.option('min_accuracy')} accurate"
    ),
}
