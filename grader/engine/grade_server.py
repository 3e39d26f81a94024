"""Grading what a tracking server already holds: nothing is executed.

`pytest grader --tracking-uri URL [--experiment NAME] [--run-id ID]` grades a course's
shared server (or a student's own) as it is. The checks are the same; the logged models
are still loaded in the probe subprocess to recompute accuracy; the predictions check
cannot apply and is scored as the rubric's `when_not_executed` says.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.engine.evidence.common_slips import similar_names
from grader.engine.evidence.records import Evidence
from grader.engine.evidence.rubric import CheckSpec, Rubric
from grader.engine.evidence.server_reads import read_snapshot, run_searches
from grader.engine.grading import Settings, score, sigterm_as_interrupt
from grader.engine.lab import Lab
from grader.engine.output.results import ExecutionResult, GradeResult, TrackingInfo
from grader.engine.probe.model_probe import ModelProbe
from grader.engine.server.throwaway import bounded_retries
from grader.errors import InvalidSubmission
from grader.sandbox.sandbox import Sandbox


@dataclass(frozen=True)
class Target:
    """What to grade on an existing server, checked to exist before grading starts."""

    tracking_uri: str
    experiment_name: str  # the name the experiment check expects
    runs_in: str | None  # id of the experiment whose runs are graded; None: no such experiment
    run_id: str | None = None  # only this run

    @property
    def label(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f'{self.tracking_uri} (experiment "{self.experiment_name}"{run})'


def resolve(
    tracking_uri: str,
    lab: Lab,
    rubric: Rubric,
    experiment: str | None = None,
    run_id: str | None = None,
) -> Target:
    """The experiment and run to grade.

    Raises InvalidSubmission when the server cannot be read, or when the experiment or run
    asked for by name or id is not there: the grader would have nothing of it to grade.
    """
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri.rstrip("/")
    name = experiment or lab.experiment(rubric) or "Default"
    try:
        with bounded_retries():
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            found = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
            run = _run(client, uri, run_id) if run_id else None
    except (MlflowException, OSError) as err:
        raise InvalidSubmission(uri, f"cannot read this tracking server ({err})") from err
    by_name = {e.name: e.experiment_id for e in found}
    if experiment is not None and experiment not in by_name:
        raise InvalidSubmission(uri, _no_experiment(experiment, list(by_name)))
    if run is None:
        return Target(uri, name, by_name.get(name))
    runs_in = str(run.info.experiment_id)
    if experiment is not None and by_name[experiment] != runs_in:
        owner = next((n for n, i in by_name.items() if i == runs_in), runs_in)
        raise InvalidSubmission(uri, f'run {run_id} is in experiment "{owner}", not "{experiment}"')
    return Target(uri, name, runs_in, run_id)


def grade_logged(target: Target, settings: Settings) -> GradeResult:
    """Grade what TARGET's server holds, executing nothing."""
    started = time.monotonic()
    lab = settings.lab
    rubric = _expecting(lab, settings.rubric, target.experiment_name)
    say = settings.progress
    ids = {target.runs_in} if target.runs_in else set()
    say(f"reading {target.label}; nothing is executed")
    snapshot = read_snapshot(target.tracking_uri, ids, target.run_id)
    evidence = Evidence(
        rubric=rubric,
        snapshot=snapshot,
        capture=None,
        capture_problem="nothing was executed",
        predictions={},
        y_test=lab.targets(rubric),
        code="",
        executed=False,
        searches=run_searches(target.tracking_uri, lab.needs.searches(rubric, None)),
    )
    workdir = Path(tempfile.mkdtemp(prefix="labgrade-logged-"))
    try:
        with (
            sigterm_as_interrupt(),
            # The models are the students' code: confined as in a grading, with no network
            # (the grader downloads their files for the probe).
            Sandbox(workdir, settings.effective_limits, None, settings.isolation) as sandbox,
            ModelProbe(target.tracking_uri, sandbox, lab, rubric) as probe,
        ):
            checks, best, notes = score(lab, evidence, probe, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    return GradeResult(
        submission=target.tracking_uri,
        checks=checks,
        execution=ExecutionResult("not_executed", seconds),
        tracking=TrackingInfo(
            server=target.tracking_uri,
            experiment_id=best.run.experiment_id if best else target.runs_in,
            run_id=best.run.run_id if best else None,
        ),
        notes=(f"graded what {target.label} holds; nothing was executed", *notes),
        timings={"grading": seconds},
    )


def _expecting(lab: Lab, rubric: Rubric, experiment: str) -> Rubric:
    """RUBRIC with the lab's experiment check expecting EXPERIMENT (--experiment)."""
    if lab.needs.experiment_check is None:
        return rubric

    def renamed(spec: CheckSpec) -> CheckSpec:
        old = str(spec.options.get("name", ""))
        title = spec.title.replace(old, experiment) if old else spec.title
        return dataclasses.replace(spec, title=title, options={**spec.options, "name": experiment})

    checks = tuple(renamed(s) if s.id == lab.needs.experiment_check else s for s in rubric.checks)
    return dataclasses.replace(rubric, checks=checks)


def _run(client: Any, uri: str, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(err.error_code) or "not found" in str(err).lower():
            raise InvalidSubmission(uri, f"no run with id {run_id} on this server") from err
        raise


def _no_experiment(name: str, names: list[str]) -> str:
    near = similar_names(name, names)
    listed = ", ".join(f'"{n}"' for n in sorted(names)[:20]) or "none"
    maybe = f'; did you mean "{near[0]}"?' if near else ""
    return f'no experiment named "{name}" (experiments there: {listed}){maybe}'
