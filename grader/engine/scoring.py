"""Scoring the evidence: the one step that turns what a grading collected into check results.

A lab's check is a function (spec, evidence, candidate) -> Verdict. Checks that depend on a run
are scored for every candidate (run, logged model) pair the lab names, and the best pair is
graded. A failing verdict says what was found, the call the lab expects and, for a known slip,
what exactly to change; this module words it into the result, with the lab step to revisit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from grader.engine.execution import NamespaceCapture
from grader.engine.lab import Lab
from grader.engine.probe import ModelPredictions
from grader.engine.results import CheckResult
from grader.engine.rubric import WHEN_NOT_EXECUTED, CheckSpec, Rubric
from grader.engine.tracking import LoggedModel, Run, Snapshot


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str  # what was found
    expected: str = ""  # the call the lab expects, shown when the check fails
    hint: str = ""  # a known slip and what exactly to change
    applicable: bool = True  # False: the check cannot apply (nothing was executed)


@dataclass(frozen=True)
class Evidence:
    rubric: Rubric
    snapshot: Snapshot
    capture: NamespaceCapture | None
    capture_problem: str | None
    predictions: dict[str, ModelPredictions]  # logged model uri -> what it predicts on X
    y_test: tuple[float, ...]  # the lab's true targets for those rows
    code: str
    execution_error: str | None = None  # the cell that raised or timed out, if any
    executed: bool = True  # False: grading what a server already holds


@dataclass(frozen=True)
class Candidate:
    run: Run
    model: LoggedModel | None

    @property
    def label(self) -> str:
        return f"run '{self.run.name}' ({self.run.run_id})"


Check = Callable[[CheckSpec, Evidence, "Candidate | None"], Verdict]


def all_runs(ev: Evidence) -> list[Candidate]:
    """Every (run, logged model) pair of the server: for a lab that sets no experiment."""
    return [Candidate(r, m) for r in ev.snapshot.runs for m in (r.models or (None,))]


def evaluate(lab: Lab, ev: Evidence) -> tuple[tuple[CheckResult, ...], Candidate | None, list[str]]:
    """Score every check; run-dependent ones on the best candidate. Returns results, pick, notes."""
    pool = lab.candidates(ev)
    scored = [(_run_points(lab, ev, c), c.run.start_time, c) for c in pool]
    best = max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None
    notes = []
    if best is not None and len({c.run.run_id for c in pool}) > 1:
        notes.append(
            f"graded {best.label}, the best complete one of"
            f" {len({c.run.run_id for c in pool})} runs found"
        )
    notes += lab.notes(ev, best, pool)
    results = tuple(_result(spec, lab.checks[spec.id](spec, ev, best)) for spec in ev.rubric.checks)
    return results, best, notes


def probed_uris(lab: Lab, ev: Evidence, limit: int) -> list[str]:
    """The logged models the probe loads: those of the lab's candidates, at most LIMIT."""
    uris: list[str] = []
    for cand in lab.candidates(ev):
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
    """Why nothing was logged, when the notebook stopped early: the fix starts there."""
    where = error_where(ev)
    return f"the notebook stopped {where} before this was logged: fix that first" if where else ""


def error_where(ev: Evidence) -> str:
    """Where and how the notebook stopped, in a few words ("at cell 6 (TypeError)")."""
    if not ev.execution_error:
        return ""
    raised = re.match(r"(cell \d+) .*? raised (\w+)", ev.execution_error)
    if raised:
        return f"at {raised[1]} ({raised[2]})"
    cell = re.search(r"\b(cell \d+)", ev.execution_error)
    return f"at {cell[1]}" if cell else "early"
