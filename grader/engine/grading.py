"""The one grading path: a submission and settings in, a GradeResult out.

Called by the pytest plugin (`pytest grader`) and by any batch tool. Errors of the
submission become verdicts; only the grading machine's own failures raise GraderError.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType

from grader.engine.evidence.records import Candidate, Evidence
from grader.engine.evidence.rubric import Rubric
from grader.engine.evidence.server_reads import Snapshot, read_snapshot, run_searches
from grader.engine.kernel.execution import Execution, execute
from grader.engine.kernel.submission import Submission, load_submission
from grader.engine.lab import Lab, TestSplit
from grader.engine.launcher import COLD, Host, Launcher, roles_for
from grader.engine.output.results import (
    CheckResult,
    ExecutionResult,
    GradeResult,
    Status,
    TrackingInfo,
)
from grader.engine.probe.model_probe import ModelProbe, host_env
from grader.engine.scoring import evaluate, probed_uris
from grader.engine.server.store_guard import REFUSALS, StoreLimits, read_refusals
from grader.engine.server.throwaway import ServerHandle, throwaway_server
from grader.errors import GraderError, InvalidSubmission
from grader.sandbox.limits import Limits, size_text
from grader.sandbox.procs import reserve_port
from grader.sandbox.sandbox import Isolation, Sandbox, disk_usage

# Models probed per grading: a student who re-ran Step 4 a few times is covered; a loop is not.
MAX_PROBED_MODELS = 8


def _quiet(_: str) -> None:
    """Default progress sink."""


@dataclass(frozen=True)
class Settings:
    lab: Lab  # what is graded (grader.labs.load(id))
    rubric: Rubric  # its rubric: lab.rubric() or an instructor's own
    timeout: float = 300.0
    port: socket.socket | None = None  # reserve_port(); None: a free one
    progress: Callable[[str], None] = field(default=_quiet)
    limits: Limits | None = None  # None: the rubric's [limits]
    isolation: Isolation = "auto"
    hide: tuple[Path, ...] = ()  # more paths the submission must not read (batch folders)
    # How the server and the probe start: fresh Pythons (COLD), or forks of a warm host
    # (grader.warm.warm_launcher), as the front end chose.
    launcher: Launcher = COLD

    @property
    def effective_limits(self) -> Limits:
        return self.limits or self.rubric.limits


def grade(path: Path, settings: Settings, keep: contextlib.ExitStack | None = None) -> GradeResult:
    """Grade the submission at PATH (a .ipynb, a .py, or a folder holding one).

    KEEP, when given, takes over the throwaway MLflow server and its store: they outlive
    the grading until KEEP is closed (`pytest grader --keep-server`, to browse the run).
    """
    try:
        submission = load_submission(path)
    except InvalidSubmission as err:
        return invalid_result(str(path), err.problem, settings.rubric)
    workdir = Path(tempfile.mkdtemp(prefix="labgrade-"))
    if keep is not None:
        keep.callback(shutil.rmtree, workdir, ignore_errors=True)  # after the server ends
    try:
        with sigterm_as_interrupt():
            return _grade_in(submission, workdir, settings, keep)
    finally:
        if keep is None:
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


def _grade_in(
    submission: Submission, workdir: Path, settings: Settings, keep: contextlib.ExitStack | None
) -> GradeResult:
    rubric, say, laps = settings.rubric, settings.progress, _Laps()
    port = settings.port or reserve_port()
    with contextlib.ExitStack() as own:
        owner = own if keep is None else keep  # KEEP: the server outlives the grading
        sandbox = own.enter_context(
            Sandbox(
                workdir,
                settings.effective_limits,
                port.getsockname()[1],
                settings.isolation,
                _hidden(submission, settings),
            )
        )
        # Before the server and the kernel, so that it imports while they start. A kept
        # server outlives the grading, and so its host: never a fork.
        launcher = settings.launcher if keep is None else COLD
        host = own.enter_context(launcher.hosting(roles_for(sandbox.mode), host_env(settings.lab)))
        server = owner.enter_context(
            throwaway_server(
                workdir,
                port,
                also=tuple(sandbox.listen),
                host=host,
                confine=_confinement(sandbox, kept=keep is not None),
            )
        )
        probe = own.enter_context(ModelProbe(server.url, sandbox, settings.lab, rubric, host))
        say(f"starting MLflow server at {server.url} and a fresh kernel")
        say(f"isolation: {sandbox.describe()}")

        warm_up = threading.Thread(
            target=_warm_up, args=(server, probe), name="labgrade-warm-up", daemon=True
        )
        # The server may still be starting: the kernel waits for it at its first request.
        # The probe's and the grader's own imports overlap the notebook's run.
        execution = _execute(
            submission, sandbox, server.url, settings, warm_up.start, host, kept=keep is not None
        )
        say(f"executed in {execution.result.seconds:.1f} s: {execution.result.status}")
        server.wait_ready()  # a kernel that failed to start never waited for it
        if warm_up.is_alive():
            warm_up.join()  # importing MLflow from two threads at once can fail half-way
        laps.restart()
        snapshot, live = _read_server(server.url, sandbox)
        if snapshot is None:
            return ungraded_result(
                str(submission.path),
                "error",
                _server_killed(settings.effective_limits),
                rubric,
                execution.result.seconds,
            )
        evidence = _evidence(settings.lab, rubric, snapshot, execution, submission.kind, server.url)
        laps.mark("reading the server")
        checks, best, notes = score(settings.lab, evidence, probe, say, laps.mark)
    laps.mark("teardown")
    timings = {"server ready": server.ready_seconds, **execution.timings, **laps.times}
    refused = store_refusals(workdir / "server")
    return GradeResult(
        submission=str(submission.path),
        checks=checks,
        execution=execution.result,
        tracking=TrackingInfo(
            server=server.url,
            experiment_id=best.run.experiment_id if best else None,
            run_id=best.run.run_id if best else None,
        ),
        notes=tuple(execution.result.notes) + refused + tuple(notes),
        timings={**timings, "grading": laps.total},
        usage={**live, **sandbox.server_usage, **_store_usage(workdir / "server")},
    )


def _confinement(sandbox: Sandbox, kept: bool) -> Callable[[Path], dict[str, object]]:
    """How the grading's server bounds itself: the sandbox's cgroup and rlimits for it, and
    the store guard's limit on what the submission can make it store."""
    limit = sandbox.limits.disk

    def spec(store: Path) -> dict[str, object]:
        guard = StoreLimits(
            limit=limit,
            database=str(store / "mlflow.db"),
            record=str(store / REFUSALS),
            limit_source="--disk-limit, rubric [limits] disk",
        )
        return {**sandbox.server_spec(kept), "store": asdict(guard)}

    return spec


def _read_server(url: str, sandbox: Sandbox) -> tuple[Snapshot | None, dict[str, float]]:
    """What the server holds, and its cgroup's state while it still runs; no snapshot when
    the submission made the server run out of memory (its cgroup killed it)."""
    live = sandbox.server_state()
    if live.get("server oom kills"):
        # Never asked: its port is still held open, so a request would be accepted and then
        # wait out the client's whole timeout for an answer nobody sends.
        return None, live
    snapshot: Snapshot | None = None
    try:
        snapshot = read_snapshot(url)
    except GraderError:
        if not sandbox.server_state().get("server oom kills"):
            raise
    live = sandbox.server_state()
    return (None if live.get("server oom kills") else snapshot), live


def _server_killed(limits: Limits) -> str:
    return (
        "the notebook made its MLflow server run out of memory (limit"
        f" {size_text(limits.server_memory)}, --server-memory-limit, rubric [limits]"
        " server_memory), so the server was killed and what it held is lost. Log only what"
        " the lab asks for, and read back only what you logged."
    )


def store_refusals(store: Path) -> tuple[str, ...]:
    """A note on what the server refused to store for the submission, if anything."""
    refused = read_refusals(store / REFUSALS)
    if refused is None:
        return ()
    count = int(refused.get("refused", 1))
    times = "once" if count == 1 else f"{count} times"
    return (f"The MLflow server refused the notebook's requests {times}: {refused['message']}",)


def _store_usage(store: Path) -> dict[str, float]:
    """The server's store after the grading, on disk (for the benchmark and the tests)."""
    return {"server store bytes": float(disk_usage(store))}


def _hidden(submission: Submission, settings: Settings) -> tuple[Path, ...]:
    """What the submission must not read: the rubric, the labs' folders and the lab's
    reference, the original folder."""
    return (
        settings.rubric.path.resolve(),
        settings.lab.folder.parent,  # every installed lab: rubrics, references, checks
        settings.lab.reference.resolve(),
        submission.folder.resolve(),
        *(p.resolve() for p in settings.hide),
    )


def _execute(
    submission: Submission,
    sandbox: Sandbox,
    tracking_uri: str,
    settings: Settings,
    before_first_cell: Callable[[], None],
    host: Host,
    kept: bool,
) -> Execution:
    return execute(
        submission,
        sandbox,
        tracking_uri,
        settings.timeout,
        settings.lab,
        settings.lab.needs.capture(settings.rubric),
        before_first_cell=before_first_cell,
        host=host,
        kept=kept,
    )


def _evidence(
    lab: Lab, rubric: Rubric, snapshot: Snapshot, execution: Execution, kind: str, url: str
) -> Evidence:
    return Evidence(
        rubric=rubric,
        snapshot=snapshot,
        capture=execution.capture,
        capture_problem=execution.capture_problem,
        predictions={},
        y_test=_targets(lab.split_used(rubric, execution.capture)),
        code=execution.code,
        execution_error=execution.result.error,
        kind=kind,
        searches=run_searches(url, lab.needs.searches(rubric, execution.capture)),
    )


def _targets(split: TestSplit | None) -> tuple[float, ...]:
    return split.y if split is not None else ()


def score(
    lab: Lab,
    evidence: Evidence,
    probe: ModelProbe,
    say: Callable[[str], None],
    lap: Callable[[str], None] = _quiet,
) -> tuple[tuple[CheckResult, ...], Candidate | None, list[str]]:
    """The one scoring step of every grading: load the candidates' logged models in the
    probe, then score each check of the lab on the evidence."""
    uris = probed_uris(lab, evidence, MAX_PROBED_MODELS)
    if uris:
        say(f"loading {len(uris)} logged model(s) to check what they predict")
    split = lab.split_used(evidence.rubric, evidence.capture)
    evidence = replace(evidence, predictions=probe.predict(uris, split))
    lap("model probe")
    found = evaluate(lab, evidence)
    lap("checks")
    return found


class _Laps:
    """Seconds per grading phase, for the benchmark."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.times: dict[str, float] = {}

    def restart(self) -> None:
        self.last = time.monotonic()

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.times[phase], self.last = now - self.last, now

    @property
    def total(self) -> float:
        return time.monotonic() - self.started


def _warm_up(server: ServerHandle, probe: ModelProbe) -> None:
    """Start the probe, then import what reading the server needs, once the server is up.

    One after the other, not all at once: with the server starting too, three processes
    importing MLflow beside the kernel would slow the student's cells on a 2-core machine.
    A failure here is not lost: the grading path does the same again and reports it.
    """
    if not server.settled():
        return
    # This thread only: the student's kernel has the first claim on the CPU meanwhile.
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    with contextlib.suppress(GraderError, OSError):
        probe.start()
    with contextlib.suppress(ImportError):
        _preload()
        probe.lab.split(probe.rubric)  # cached: the checks and the probe need it after the run
    # A first read of the server, thrown away: MLflow's client imports the rest of itself
    # and opens its connection now, so the real read after the run takes a fraction of it.
    with contextlib.suppress(GraderError):
        read_snapshot(server.url)


def _preload() -> None:
    import importlib

    for module in (
        "mlflow.artifacts",
        "mlflow.models",
        "mlflow.tracking",
    ):
        importlib.import_module(module)


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
