"""One grading in a worker process: `labgrade grade ...`, given a margin of time, then ended.

A class's batch (grader.course.batch) and a hosted run (grader.platforms.gradescope,
grader.platforms.classroom50: grade_isolated) grade each submission in its own process, never
in their own: whatever the submission does costs that process only. All build its command line
here (a cold worker runs it as `python -m grader.frontends.cli ARGV`, a warm one is forked with
ARGV) and wait for it here:
past its limit its process group gets SIGTERM (so it ends its server and kernel), then
SIGKILL, and every process carrying its job token is reaped, orphans included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TextIO

from grader.engine.output.results import GradeResult
from grader.errors import GraderError
from grader.sandbox.procs import TAG_VARS, reap_tagged

# The variable whose random value tags every process of one grading (it reaches the kernel).
JOB_VAR = TAG_VARS[0]
# `labgrade`, as a module (a cold worker) and as an entry point (what a warm fork calls).
CLI_MODULE = "grader.frontends.cli"
ENTRY = f"{CLI_MODULE}:main"
# Seconds a grading may take beyond the submission's own limit: server and kernel start,
# model probe, teardown.
MARGIN = 300.0
# Seconds an overrunning worker gets between SIGTERM and SIGKILL to end what it started.
GRACE = 30.0


@dataclass(frozen=True)
class Job:
    """One `labgrade grade`: SUBMISSION graded for lab LAB with the rubric at RUBRIC."""

    submission: Path
    lab: str
    rubric: Path
    grade_json: Path
    timeout: float
    feedback: Path | None = None
    extra: tuple[str, ...] = ()  # more `labgrade grade` flags (confinement, --cold)

    @property
    def limit(self) -> float:
        """Seconds the worker may take in all."""
        return self.timeout + MARGIN

    def argv(self) -> list[str]:
        """`labgrade` ARGV: what a warm fork is handed."""
        argv = ["grade", str(self.submission), "--lab", self.lab, "--rubric", str(self.rubric)]
        argv += ["--grade-json", str(self.grade_json), "--timeout", f"{self.timeout:g}"]
        if self.feedback is not None:
            argv += ["--feedback", str(self.feedback)]
        return [*argv, *self.extra]

    def command(self) -> list[str]:
        """The command line of a cold worker: a fresh Python."""
        return [sys.executable, "-m", CLI_MODULE, *self.argv()]


class Process(Protocol):
    """What waiting needs of a worker: a subprocess.Popen, or a fork of the warm process."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def communicate(self, *, timeout: float | None = None) -> tuple[Any, Any]: ...


def new_token() -> str:
    return uuid.uuid4().hex


def start(
    job: Job,
    token: str,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] = subprocess.PIPE,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """JOB in a fresh Python, in its own session, tagged with TOKEN."""
    return subprocess.Popen(
        job.command(),
        cwd=cwd,
        env={**os.environ, JOB_VAR: token},
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def wait(proc: Process, token: str, limit: float, grace: float = GRACE) -> tuple[int | None, bytes]:
    """PROC's exit code and its stderr (b"" unless piped); None once it overran LIMIT seconds
    and was stopped (see stop). Either way nothing tagged with TOKEN outlives this call."""
    try:
        try:
            _, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            stop(proc, grace)
            return None, b""
        return proc.returncode, err or b""
    finally:
        reap_tagged(JOB_VAR, token)


def stop(proc: Process, grace: float = GRACE) -> None:
    """SIGTERM PROC's process group; SIGKILL it if it has not ended GRACE seconds later."""
    signal_group(proc, signal.SIGTERM)
    try:
        proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        proc.communicate()


def run(job: Job, log: Path, cwd: Path | None = None) -> int | None:
    """JOB in a fresh Python, stdout and stderr to LOG: its exit code, None if it overran."""
    token = new_token()
    with log.open("wb") as out:
        proc = start(job, token, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        return wait(proc, token, job.limit)[0]


def grade_isolated(
    submission: Path, lab: str, rubric: Path, timeout: float, echo: TextIO | None = None
) -> GradeResult:
    """SUBMISSION graded for LAB (what `--lab` takes: grader.labs.argument) with RUBRIC by a
    cold worker in a scratch folder, read back from its --grade-json: nothing the submission
    prints or writes is taken for the result. The worker's log goes to ECHO (None: nowhere).
    GraderError when the worker overran its limit or wrote no result."""
    work = Path(tempfile.mkdtemp(prefix="labgrade-grade-"))
    try:
        json_path, log_path = work / "grade.json", work / "grader.log"
        job = Job(submission, lab, rubric, json_path, timeout)
        code = run(job, log_path, cwd=work)
        log = log_path.read_text(encoding="utf-8", errors="replace")
        if echo is not None:
            echo.write(log)
        if code is None:
            raise GraderError(f"grading took longer than {job.limit:g} s and was stopped")
        if not json_path.exists():
            tail = " | ".join(log.strip().splitlines()[-3:])
            raise GraderError(f"the grader failed (exit code {code}): {tail}")
        return GradeResult.from_json(json.loads(json_path.read_text(encoding="utf-8")))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def signal_group(proc: Process, sig: int) -> None:
    """SIG to PROC's process group (it leads its own session), or to PROC alone."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
