"""Scoring the evidence: the one step that turns what a grading collected into check results.

A lab's check is a function (spec, evidence, candidate) -> Verdict. Checks that depend on a run
are scored for every candidate (run, logged model) pair the lab names, and the best pair is
graded. A failing verdict says what was found, the call the lab expects and, for a known slip,
what exactly to change; this module words it into the result, with the lab step to revisit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from grader.engine.evidence.records import Candidate, Evidence, PyfuncLoad, Verdict, unusable
from grader.engine.evidence.rubric import WHEN_NOT_EXECUTED, CheckSpec
from grader.engine.kernel.submission import LABEL, WHOLE_SCRIPT
from grader.engine.lab import Lab
from grader.engine.output.results import CheckResult


def all_runs(ev: Evidence) -> list[Candidate]:
    """Every (run, logged model) pair of the server: for a lab that sets no experiment."""
    return [Candidate(r, m) for r in ev.snapshot.runs for m in (r.models or (None,))]


def _candidates(lab: Lab, ev: Evidence) -> list[Candidate]:
    """The lab's candidates (Needs.candidates), every run's where it names none."""
    chosen = lab.needs.candidates
    return chosen(ev) if chosen is not None else all_runs(ev)


def evaluate(lab: Lab, ev: Evidence) -> tuple[tuple[CheckResult, ...], Candidate | None, list[str]]:
    """Score every check; run-dependent ones on the best candidate. Returns results, pick, notes."""
    pool = _candidates(lab, ev)
    scored = [(_run_points(lab, ev, c), c.run.start_time, c) for c in pool]
    best = max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None
    notes = []
    if best is not None and len({c.run.run_id for c in pool}) > 1:
        notes.append(
            f"graded {best.label}, the best complete one of"
            f" {len({c.run.run_id for c in pool})} runs found"
        )
    notes += lab.feedback.notes(ev, best, pool)
    results = tuple(_result(spec, lab.checks[spec.id](spec, ev, best)) for spec in ev.rubric.checks)
    return results, best, notes


def probed_uris(lab: Lab, ev: Evidence, limit: int) -> list[str]:
    """The logged models the probe loads: those of the lab's candidates, at most LIMIT."""
    uris: list[str] = []
    for cand in _candidates(lab, ev):
        if cand.model is not None and cand.model.uri not in uris:
            uris.append(cand.model.uri)
    return uris[:limit]


def _run_points(lab: Lab, ev: Evidence, cand: Candidate) -> float:
    return sum(
        spec.points
        for spec in ev.rubric.checks
        if spec.id in lab.run_checks and lab.checks[spec.id](spec, ev, cand).passed
    )


def _result(spec: CheckSpec, verdict: Verdict) -> CheckResult:
    """The verdict scored; a failure's message reads: found, expected call, fix, lab step."""
    skipped = not verdict.applicable and when_not_executed(spec) == "skip"
    message = verdict.message
    if not verdict.passed and verdict.expected:
        message = f"{message}. Expected: {verdict.expected}"
    if not verdict.passed and verdict.hint:
        message = f"{message}. Fix: {verdict.hint}"
    if not verdict.passed and spec.step and verdict.applicable:
        message = f"{message} (revisit {spec.step} of the lab)"
    return CheckResult(
        id=spec.id,
        title=spec.title,
        score=spec.points if verdict.passed else 0.0,
        max_score=0.0 if skipped else spec.points,
        passed=verdict.passed or skipped,
        message=message,
        step=spec.step,
        found=verdict.message,
        expected="" if verdict.passed else verdict.expected,
        hint="" if verdict.passed else verdict.hint,
        skipped=skipped,
    )


def not_applicable(spec: CheckSpec, what: str) -> Verdict:
    """The verdict of a check that needs the notebook run (WHAT it would have seen) when
    nothing was executed, scored as the rubric's when_not_executed says."""
    mode = when_not_executed(spec)
    return Verdict(
        mode == "full",
        "cannot apply: nothing was executed (grading what the server already holds), so"
        f" {what} cannot be seen; scored as the rubric says (when_not_executed"
        f' = "{mode}")',
        applicable=False,
    )


def when_not_executed(spec: CheckSpec) -> str:
    """ "zero", "full" or "skip" (validated when the rubric is loaded)."""
    mode = str(spec.options.get("when_not_executed", "zero"))
    assert mode in WHEN_NOT_EXECUTED, mode
    return mode


def no_run(ev: Evidence, call: str) -> Verdict:
    where = "no run was logged"
    if ev.snapshot.experiments and len(ev.snapshot.experiments) > 1:
        where = "no run was logged in any experiment"
    if not ev.executed:
        where = "no run was found in the graded experiment"
    return Verdict(False, where, f"with mlflow.start_run(): {call}", stopped(ev))


def stopped(ev: Evidence) -> str:
    """Why nothing was logged, when the notebook (or script) stopped early: the fix starts
    there."""
    where = error_where(ev)
    return f"{ev.subject} stopped {where} before this was logged: fix that first" if where else ""


def error_where(ev: Evidence) -> str:
    """Where and how the notebook stopped, in a few words ("with TypeError in the code cell
    starting `lr.fit(X, y)` (code cell 6)"); no article, which an exception's name may not
    take as spelled (an MlflowException)."""
    if not ev.execution_error:
        return ""
    error = ev.execution_error
    found = LABEL.search(error)
    where, end = (found[0], found.end()) if found else (WHOLE_SCRIPT, error.find(WHOLE_SCRIPT))
    if end < 0:
        return "early"
    raised = re.match(r"\s*raised (\w+)", error[end + (0 if found else len(WHOLE_SCRIPT)) :])
    return f"with {raised[1]} in {where}" if raised else f"in {where}"


@dataclass(frozen=True)
class ModelFit:
    """How the lab's code names its model, for the fix in feedback: VARIABLE is trained at
    TRAIN_STEP and logged at LOG_STEP."""

    variable: str
    train_step: str
    log_step: str


def model_unlike_params(
    spec: CheckSpec,
    ev: Evidence,
    cand: Candidate,
    keys: list[str],
    fit: ModelFit,
    own_value: Callable[[str, object], object] = lambda key, value: value,
) -> tuple[str, str] | None:
    """Why the run's logged model is not the rubric's `estimator` (logged with its `flavor`)
    trained with the logged values of KEYS: what was found, and the fix; None when it is.

    OWN_VALUE maps the model's own value of a key to what logging it would write (a library's
    placeholder for a default, for instance)."""
    estimator, flavor = str(spec.option("estimator")), str(spec.option("flavor"))
    short, var = short_name(estimator), fit.variable
    same_params = f"{var} = {short}(**params); {var}.fit(X_train, y_train); then log that {var}"
    if cand.model is None:
        return (
            "the run logged no model, so nothing shows that these are the hyperparameters of"
            " a model that was trained",
            stopped(ev) or f"log the trained {short} in the same run ({fit.log_step} log_model)",
        )
    facts = ev.predictions.get(cand.model.uri)
    kind = facts.model_class if facts else None
    if flavor not in cand.model.flavors:
        flavors = ", ".join(cand.model.flavors) or "none"
        holds = f"; it holds a {kind}" if kind else ""
        return (
            f"its logged model {cand.model.model_id} has no {flavor} flavor (flavors:"
            f" {flavors}{holds}), so it is not the trained {short}",
            f"log the trained {short} itself with mlflow.{flavor}.log_model(sk_model={var},"
            " ...), not a wrapper around it or another model",
        )
    if facts is None or facts.predictions is None:
        return (
            f"the logged model {unusable(facts)}, so its hyperparameters could not be read",
            stopped(ev),
        )
    if kind is None or not same_class(kind, estimator):
        return (
            f"its logged model is a {kind or 'model of unknown class'}, not a {short}",
            f"{fit.train_step} trains a {short} with the lab's params: {same_params}",
        )
    differ = trained_with(spec, ev, cand, keys, own_value)
    if differ:
        real = ", ".join(f"{k}={v}" for k, v in differ.items())
        said = ", ".join(f"{k}={cand.run.params[k]}" for k in differ)
        return (
            f"the logged {short} was trained with {real}, not the logged {said}",
            f"train the model with the params you log: {same_params}",
        )
    return None


def trained_with(
    spec: CheckSpec,
    ev: Evidence,
    cand: Candidate,
    keys: list[str],
    own_value: Callable[[str, object], object] = lambda key, value: value,
) -> dict[str, object]:
    """Key -> the run's logged model's own value, for each of KEYS the run logged with
    another value (None: the model has no such hyperparameter). Empty when the model is not
    the rubric's `estimator` or the probe could not load it: then nothing is known of it.

    OWN_VALUE as for model_unlike_params."""
    facts = ev.predictions.get(cand.model.uri) if cand.model else None
    estimator = str(spec.option("estimator"))
    if facts is None or facts.predictions is None or facts.model_class is None:
        return {}
    if not same_class(facts.model_class, estimator):
        return {}
    own = facts.model_params or {}
    logged = cand.run.params
    return {
        k: own_value(k, own.get(k))
        for k in keys
        if k in logged and not _same_param(own_value(k, own.get(k)), logged[k])
    }


def trained_note(spec: CheckSpec, own: Mapping[str, object], key: str) -> str:
    """The clause ", and the logged <estimator> was trained with KEY=<value>" where OWN
    (trained_with's) knows the model's own value of KEY, else "": a logged value that is wrong
    and the model's own value side by side tell the student which of the two to fix. No ";":
    that separates a check's findings (the class report counts each)."""
    if own.get(key) is None:
        return ""
    estimator = short_name(str(spec.option("estimator")))
    return f", and the logged {estimator} was trained with {key}={own[key]}"


def same_class(found: str, wanted: str) -> bool:
    """FOUND (module.qualname of the loaded object) is WANTED, named by its public path."""
    found_module, _, found_name = found.rpartition(".")
    wanted_module, _, wanted_name = wanted.rpartition(".")
    return found_name == wanted_name and (
        found_module == wanted_module or found_module.startswith(wanted_module + "._")
    )


def _same_param(own: object, logged: str) -> bool:
    """The model's own value OWN is what the run logged (as text)."""
    if str(own) == logged:
        return True
    try:
        return float(str(own)) == float(logged)
    except ValueError:
        return False


def short_name(dotted: str) -> str:
    """The last part of a dotted name: the class a public import path names."""
    return dotted.rpartition(".")[2]


def literal(value: object) -> str:
    """A rubric value as a lab's code writes it: 1000, not "1000"."""
    text = str(value)
    return text if text.lstrip("-").isdigit() else f'"{text}"'


def same_values(values: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    """The same predictions, row for row (floats equal to 1e-9, relatively)."""
    return len(values) == len(expected) and all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        for a, b in zip(values, expected, strict=True)
    )


def predicted(load: PyfuncLoad, truth: tuple[float, ...]) -> bool:
    """LOAD's predict() calls gave TRUTH: in one call, or row by row in consecutive calls."""
    made: list[float] = []
    for values in load.predictions:
        try:
            floats = [float(v) for v in values] if values is not None else None
        except (TypeError, ValueError):
            floats = None
        if floats is not None and same_values(tuple(floats), truth):
            return True
        made += floats or []
    width = len(truth)
    return any(same_values(tuple(made[i : i + width]), truth) for i in range(len(made) - width + 1))
