"""The one grading path: a submission and settings in, a GradeResult out.

Called by the pytest plugin (`pytest grader`) and by any batch tool. Errors of the
submission become verdicts; only the grading machine's own failures raise GraderError.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from grader.checks import Evidence, candidates, evaluate
from grader.errors import InvalidSubmission
from grader.execution import execute
from grader.probe import lab_split, predict_all
from grader.results import CheckResult, ExecutionResult, GradeResult, Status, TrackingInfo
from grader.rubric import Rubric
from grader.server import throwaway_server
from grader.submission import Submission, load_submission
from grader.tracking import read_snapshot

# Models probed per grading: a student who re-ran Step 4 a few times is covered; a loop is not.
MAX_PROBED_MODELS = 8


def _quiet(_: str) -> None:
    """Default progress sink."""


@dataclass(frozen=True)
class Settings:
    rubric: Rubric
    timeout: float = 300.0
    port: int | None = None
    progress: Callable[[str], None] = field(default=_quiet)


def grade(path: Path, settings: Settings) -> GradeResult:
    """Grade the submission at PATH (a .ipynb, a .py, or a folder holding one)."""
    try:
        submission = load_submission(path)
    except InvalidSubmission as err:
        return invalid_result(str(path), err.problem, settings.rubric)
    workdir = Path(tempfile.mkdtemp(prefix="labgrade-"))
    try:
        with sigterm_as_interrupt():
            return _grade_in(submission, workdir, settings)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def invalid_result(submission: str, problem: str, rubric: Rubric) -> GradeResult:
    return ungraded_result(submission, "invalid", problem, rubric)


def ungraded_result(
    submission: str, status: Status, problem: str, rubric: Rubric, seconds: float = 0.0
) -> GradeResult:
    """Zero on every check, fail-closed, with the reason: nothing could be graded."""
    checks = tuple(
        CheckResult(s.id, s.title, 0.0, s.points, False, f"not graded: {problem}", s.step)
        for s in rubric.checks
    )
    return GradeResult(
        submission=submission,
        checks=checks,
        execution=ExecutionResult(status, seconds, problem),
        tracking=TrackingInfo(server=""),
    )


def _grade_in(submission: Submission, workdir: Path, settings: Settings) -> GradeResult:
    rubric, say = settings.rubric, settings.progress
    predictions_spec = rubric.check("predictions") if "predictions" in rubric.ids else None
    with throwaway_server(workdir, settings.port) as server:
        say(f"starting MLflow server at {server.url} and a fresh kernel")
        execution = execute(
            submission,
            workdir,
            server.url,
            settings.timeout,
            variables=list(predictions_spec.option("variables")) if predictions_spec else [],
            column=str(predictions_spec.option("column")) if predictions_spec else "",
            before_first_cell=server.wait_ready,
        )
        say(f"executed in {execution.result.seconds:.1f} s: {execution.result.status}")
        server.wait_ready()  # a kernel that failed to start never waited for it
        snapshot = read_snapshot(server.url)
        _, split = lab_split(rubric.test_size, rubric.random_state)
        evidence = Evidence(
            rubric,
            snapshot,
            execution.capture,
            execution.capture_problem,
            {},
            split.y_test,
            execution.code,
        )
        uris = [c.model.uri for c in candidates(evidence) if c.model][:MAX_PROBED_MODELS]
        if uris:
            say(f"loading {len(uris)} logged model(s) to check accuracy and predictions")
        evidence = Evidence(
            rubric,
            snapshot,
            execution.capture,
            execution.capture_problem,
            predict_all(uris, server.url, workdir, rubric.test_size, rubric.random_state),
            split.y_test,
            execution.code,
        )
        checks, best, notes = evaluate(evidence)
    tracking = TrackingInfo(
        server=server.url,
        experiment_id=best.run.experiment_id if best else None,
        run_id=best.run.run_id if best else None,
    )
    return GradeResult(
        submission=str(submission.path),
        checks=checks,
        execution=execution.result,
        tracking=tracking,
        notes=tuple(execution.result.notes) + tuple(notes),
    )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so every process is ended."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
