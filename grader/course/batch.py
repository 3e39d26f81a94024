"""Grading a whole class: every submission in its own worker process, N at a time.

A worker is `python -m grader.frontends.cli grade ...`: the same grading path as `pytest grader`.
A worker that crashes, hangs or is killed costs its own row only; every process it
started carries a job token in its environment, so the batch can always reap them.
A grading starts only while the disk holds what it may write (grader.course.diskspace).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from grader import labs
from grader.course import worker
from grader.course.adjust import Policy, save_policy
from grader.course.adjust import check_students as check_overridden
from grader.course.attempt import UNATTEMPTED_NOTE, is_unattempted
from grader.course.diskspace import DiskGate, DiskSpaceError, Filesystem, batch_folders, filesystems
from grader.course.gradebook import (
    FEEDBACK,
    RESULTS,
    Row,
    finish,
    load_row,
    save_student,
    status_note,
)
from grader.course.lms import (
    LISTED,
    ImportFile,
    Written,
    check_students,
    late_by_due,
    missing_students,
    write_imports,
)
from grader.course.roster import Entry, RosterError, discover
from grader.course.staging import STAGING, stage
from grader.course.unpack import UnpackError
from grader.course.worker import JOB_VAR, Job, signal_group
from grader.engine.evidence.rubric import Rubric
from grader.engine.grading import ungraded_result
from grader.engine.lab import Lab
from grader.engine.output.report import feedback_markdown
from grader.engine.output.results import Status
from grader.engine.probe.model_probe import host_env
from grader.sandbox.limits import Limits, size_text
from grader.sandbox.procs import reap_tagged
from grader.warm.host import Warm, WarmWorker

# What a warm worker runs: `labgrade grade ...`, as a cold worker's command line says.
WORKER_ENTRY = worker.ENTRY


@dataclass(frozen=True)
class BatchSettings:
    lab: Lab
    rubric: Rubric
    out: Path
    jobs: int = os.cpu_count() or 1
    timeout: float = 300.0
    regrade: bool = False
    only: frozenset[str] = frozenset()
    shard: tuple[int, int] = (1, 1)
    worker_args: tuple[str, ...] = ()  # confinement flags for each worker's `labgrade grade`
    limits: Limits | None = None  # what worker_args set, as the front end read them; None: rubric's
    warm: bool = True  # workers, servers and probes forked from one warm process (grader.warm.host)
    lms: tuple[ImportFile, ...] = ()  # LMS exports to fill with the grades (grader.course.lms)
    # late penalty and overrides, applied after grading (grader.course.adjust)
    policy: Policy = field(default_factory=Policy)
    # when the assignment was due, in the Moodle worksheet's time zone: its later submissions
    # are late (Canvas marks its own)
    due: datetime.datetime | None = None


@dataclass
class BatchReport:
    rows: list[Row] = field(default_factory=list)
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    lms: list[Written] = field(default_factory=list)  # the LMS files written, if any


def shard_of(entries: list[Entry], shard: tuple[int, int]) -> list[Entry]:
    """A deterministic 1/N slice: the K-th of every N students in id order."""
    k, n = shard
    return [e for i, e in enumerate(sorted(entries, key=lambda e: e.student)) if i % n == k - 1]


def plan(entries: list[Entry], settings: BatchSettings) -> tuple[list[Entry], list[Entry]]:
    """(to grade, to skip): unchanged and already graded students are skipped."""
    todo: list[Entry] = []
    skip: list[Entry] = []
    for entry in entries:
        if settings.only:
            (todo if entry.student in settings.only else skip).append(entry)
            continue
        done = load_row(settings.out / entry.student)
        fresh = done is not None and done.sha256 == entry.sha256
        (skip if fresh and not settings.regrade else todo).append(entry)
    return todo, skip


class ProgressSink(Protocol):
    def start(self, total: int, skipped: int) -> None: ...

    def done(self, row: Row, count: int, total: int) -> None: ...


def run_batch(
    source: Path,
    settings: BatchSettings,
    progress: ProgressSink,
    free_space: Callable[[], Sequence[Filesystem]] | None = None,
) -> BatchReport:
    """Grade SOURCE's submissions into settings.out. FREE_SPACE: the filesystems the batch
    fills, measured now (default: those of TMPDIR and settings.out)."""
    settings.out.mkdir(parents=True, exist_ok=True)
    found = discover(source, settings.out / ".unpacked")
    unknown = sorted(settings.only - {e.student for e in found})
    if unknown:
        ids = ", ".join(e.student for e in found[:LISTED])
        ids += ", ..." if len(found) > LISTED else ""
        raise RosterError(
            f"--only {', '.join(unknown)}: no such student in {source} (its ids: {ids or 'none'})."
            " Fix: pass an id as grades.csv's id column spells it"
        )
    entries = shard_of(found, settings.shard)
    # A student the LMS file cannot take is refused now, not after the class is graded.
    check_students(settings.lms, {e.file: e.lms for e in entries})
    check_overridden(settings.policy, [e.student for e in found])
    save_policy(settings.out, settings.policy)  # checked: the runs after this one apply it
    todo, skip = plan(entries, settings)
    report = BatchReport(skipped=[e.student for e in skip])
    folders = batch_folders(settings.out)
    gate = DiskGate(*disk_limit(settings), free_space or (lambda: filesystems(folders)))
    if todo:
        # Before the warm process, any server or kernel: refusing costs nothing yet.
        gate.check_start(max(1, min(settings.jobs, len(todo))))
    try:
        with _zygote(settings.warm and bool(todo), settings.lab) as zygote:
            runner = _Runner(settings, gate, zygote)
            progress.start(len(todo), len(skip))
            runner.run(todo, lambda row: _finished(row, report, progress, len(todo)))
        if gate.refused is not None:
            left = len(todo) - len(report.graded)
            raise DiskSpaceError(
                f"stopped starting gradings: not enough free disk for even one with none"
                f" running: {gate.refused.describe()}. Graded {len(report.graded)} of"
                f" {len(todo)} (their rows are in {settings.out / 'grades.csv'}); the other"
                f" {left} are left ungraded, and the same command grades them once there is"
                f" space. Fix: {gate.refused.fixes()}"
            )
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        staged = settings.out / STAGING  # each student's folder went with their grading
        if staged.is_dir() and not any(staged.iterdir()):
            staged.rmdir()
        rows = [load_row(settings.out / e.student) for e in entries]
        graded = [r for r in rows if r is not None]
        missing = missing_students(settings.lms, graded)
        late = late_by_due(settings.lms, graded, settings.due)
        report.rows = finish(settings.out, graded, settings.rubric, settings.policy, missing, late)
    if not report.interrupted:  # a part of the class would import as if it were all of it
        report.lms = write_imports(settings.out, report.rows, settings.lms)
    return report


def disk_limit(settings: BatchSettings) -> tuple[int, str]:
    """What each grading may write, and where that was set: the --disk-limit the workers are
    handed, else the rubric's [limits] disk (or its default)."""
    if settings.limits is not None and "--disk-limit" in settings.worker_args:
        return settings.limits.disk, f"--disk-limit {size_text(settings.limits.disk)}"
    return settings.rubric.limits.disk, f"{settings.rubric.path} [limits] disk or its default"


def _finished(row: Row, report: BatchReport, progress: ProgressSink, total: int) -> None:
    report.graded.append(row.student)
    progress.done(row, len(report.graded), total)


@contextlib.contextmanager
def _zygote(warm: bool, lab: Lab) -> Iterator[Warm | None]:
    """The batch's warm process: it forks the workers, and their kernels, servers and probes."""
    if not warm:
        yield None
        return
    with (
        tempfile.TemporaryDirectory(prefix="labgrade-warm-") as tmp,
        Warm.running(
            Path(tmp),
            ("kernel", "worker", "server", "probe"),
            env=host_env(lab),
            worker=WORKER_ENTRY,
        ) as zygote,
    ):
        yield zygote


class _Runner:
    def __init__(self, settings: BatchSettings, gate: DiskGate, zygote: Warm | None = None) -> None:
        self.settings = settings
        self.gate = gate
        self.zygote = zygote
        self.running: dict[str, subprocess.Popen[bytes] | WarmWorker] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self, todo: list[Entry], done: Callable[[Row], None]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.settings.jobs)) as pool:
            pending: set[Future[Row | None]] = {pool.submit(self.grade, e) for e in todo}
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in finished:
                        row = future.result()
                        if row is not None:
                            done(row)
            except BaseException:
                # Before the pool's exit waits on its threads: end their workers first.
                for future in pending:
                    future.cancel()
                self.stop()
                raise

    def stop(self) -> None:
        """Ctrl-C: every worker unwinds (its server and kernel end), then the rest is reaped."""
        self.stopping.set()
        self.gate.close()  # a grading waiting for disk space starts none
        with self.lock:
            workers = dict(self.running)
        for proc in workers.values():
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for token, proc in workers.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
            reap_tagged(JOB_VAR, token)

    def grade(self, entry: Entry) -> Row | None:
        if self.stopping.is_set() or not self.gate.enter():
            # Not started: no row, as after Ctrl-C, so the next run grades it.
            return None
        try:
            return self._grade(entry)
        finally:
            self.gate.leave()

    def _grade(self, entry: Entry) -> Row | None:
        token = worker.new_token()
        staging = self.settings.out / STAGING / entry.student
        with tempfile.TemporaryDirectory(prefix="labgrade-job-") as tmp:
            json_path, feedback_path = Path(tmp) / RESULTS, Path(tmp) / FEEDBACK
            started = time.monotonic()
            unattempted = False
            status: Status | None
            try:
                graded = stage(entry, staging)
                unattempted = is_unattempted(graded, self.settings.lab)
                if unattempted:  # nothing to run: 0 points, and a status that says why
                    status, reason = "not_executed", UNATTEMPTED_NOTE
                else:
                    status, reason = self._work(graded, token, json_path, feedback_path)
            except UnpackError as err:
                status, reason = "invalid", str(err)
            finally:
                if staging.exists():
                    shutil.rmtree(staging)
            if self.stopping.is_set():
                return None
            seconds = time.monotonic() - started
            if status is None and json_path.exists():
                result_json = json.loads(json_path.read_text(encoding="utf-8"))
                # The file as the LMS handed it over, not its staged copy (gone by now).
                result_json["submission"] = entry.file
                feedback = feedback_path.read_text(encoding="utf-8")
            else:
                failed = ungraded_result(
                    entry.file, status or "error", reason, self.settings.rubric, seconds
                )
                result_json, feedback = (
                    failed.to_json(),
                    feedback_markdown(failed, self.settings.rubric.title),
                )
        notes = [status_note(result_json), entry.note()]
        row = Row(
            entry.student,
            entry.file,
            entry.sha256,
            result_json,
            "; ".join(filter(None, notes)),
            late=entry.late,
            unattempted=unattempted,
        )
        save_student(self.settings.out, row, feedback)
        return row

    def _work(
        self, submission: Path, token: str, json_path: Path, feedback_path: Path
    ) -> tuple[Status | None, str]:
        job = Job(
            submission,
            labs.argument(self.settings.lab),
            self.settings.rubric.path,
            json_path,
            self.settings.timeout,
            feedback=feedback_path,
            extra=self.settings.worker_args,
        )
        proc: subprocess.Popen[bytes] | WarmWorker
        if self.zygote is not None:
            proc = self.zygote.spawn(job.argv(), {JOB_VAR: token}, json_path.with_name("stderr"))
        else:
            proc = worker.start(job, token)
        with self.lock:
            self.running[token] = proc
        try:
            code, err = worker.wait(proc, token, job.limit)
        finally:
            with self.lock:
                self.running.pop(token, None)
        if code is None:
            return "timeout", f"the grading did not finish within {job.limit:g} s"
        if json_path.exists():
            return None, ""
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        return "error", f"the grader failed on this submission (exit code {code}): {tail}"
