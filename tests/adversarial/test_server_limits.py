"""A submission that turns its grading's own MLflow server against the machine gets the
grade it earned, and costs the machine no more than its limits.

Each flood does the lab right and then floods the server in its last cell: artifacts
streamed without end, a database filled with metric values, bodies built to make the server
allocate memory. Each is graded for real; while it runs, the machine's free disk is watched.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from grader.engine.grading import Settings, grade
from grader.engine.output.results import GradeResult
from grader.labs import load
from grader.sandbox.limits import parse_size, with_values
from grader.sandbox.sandbox import Isolation, full_unavailable
from grader.warm.warm_launcher import launcher
from tests.helpers import TOKEN_VAR, describe, processes_with_token, run_labgrade

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.long
SUBMISSIONS = HERE / "submissions"
LIMIT = "24MiB"
# The floods end at the limit, not on the clock: under load, the database flood takes minutes
# to get there, past the default cell limit.
CELL_TIMEOUT = "300"
# What else may write to this disk meanwhile: the grading's own files, other tests' gradings.
HEADROOM = 160 * 1024**2
FULL = full_unavailable()
TRACKING = load("tracking")


@dataclass(frozen=True)
class Flood:
    name: str
    status: str
    says: tuple[str, ...]  # in the cell's error or the notes
    isolation: str = "auto"

    @property
    def id(self) -> str:
        return self.name if self.isolation == "auto" else f"{self.name}-{self.isolation}"


CASES = [
    Flood("artifact_flood", "error", ("507", "limited to 24 MiB", "--disk-limit")),
    Flood("database_flood", "error", ("RESOURCE_EXHAUSTED", "limited to 24 MiB")),
    Flood("memory_flood", "ok", ("refused the notebook's requests 2 times", "over 16 MiB")),
    # Without root: no cgroup for the server, but the store guard and its rlimits hold.
    Flood("artifact_flood", "error", ("limited to 24 MiB",), isolation="process"),
]


@dataclass(frozen=True)
class Watched:
    result: GradeResult
    lowest_free: int  # the machine's least free disk during the grading
    free_before: int
    leftovers: list[str]

    @property
    def said(self) -> str:
        return "\n".join([self.result.execution.error or "", *self.result.notes])


def _sandbox_processes(before: set[int]) -> list[str]:
    """Processes the grading started that outlived it (it ran in this process: its server,
    kernel and probe are this process's descendants; other tests' gradings are not)."""
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    alive = []
    for proc in left:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:  # ended; its parent has yet to wait
                alive.append(proc)
    return describe(alive)


def graded(case: Flood, **limit: str) -> Watched:
    values = {"disk": LIMIT, "cell_timeout": CELL_TIMEOUT, **limit}
    limits = with_values(TRACKING.rubric().limits, values, "test")
    isolation: Isolation = "process" if case.isolation == "process" else "auto"
    # Forked servers, as `pytest grader` and a batch start them.
    settings = Settings(
        TRACKING, TRACKING.rubric(), limits=limits, isolation=isolation, launcher=launcher()
    )
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    free_before = shutil.disk_usage(folder).free
    samples = [free_before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            samples.append(shutil.disk_usage(folder).free)

    watcher = threading.Thread(target=watch, name="disk-watch", daemon=True)
    watcher.start()
    try:
        result = grade(SUBMISSIONS / f"{case.name}.ipynb", settings)
    finally:
        done.set()
        watcher.join()
    return Watched(result, min(samples), free_before, _sandbox_processes(before))


def _params(cases: list[Flood]) -> list[object]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=pytest.mark.skipif(
                c.isolation != "process" and FULL is not None,
                reason=f"needs full isolation: {FULL}",
            ),
        )
        for c in cases
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", _params(CASES))
def test_a_flood_of_the_server_is_refused_at_the_limit(case: Flood) -> None:
    watched = graded(case)
    result = watched.result
    # It did the whole lab before its flood: every check passes; the flood's cell failed.
    assert result.score == result.max_score == 100, result.checks
    assert result.execution.status == case.status, result.execution
    for fragment in case.says:
        assert fragment in watched.said, watched.said
    limit = parse_size(LIMIT, "limit")
    drop = watched.free_before - watched.lowest_free
    assert drop <= limit + HEADROOM, f"free disk dropped by {drop / 2**20:.0f} MiB"
    assert result.usage["server store bytes"] <= limit
    if case.isolation != "process":
        # The server ran inside its own cgroup, and within it.
        assert result.usage["server processes"] == 1
        assert result.usage["server oom kills"] == 0
        assert 0 < result.usage["server memory peak"] <= result.usage["server memory limit"]
    assert watched.leftovers == []


@pytest.mark.slow
@pytest.mark.skipif(FULL is not None, reason=f"needs full isolation: {FULL}")
def test_a_server_made_to_run_out_of_memory_costs_its_own_grading() -> None:
    """Its cgroup kills the server, not the machine; what it held is lost, and the grade says
    why (the server's memory limit here is a quarter of the default, so that it is quick)."""
    case = Flood("history_flood", "error", ())
    # The disk it needs to hold the history it then reads back at once.
    watched = graded(case, server_memory="256MiB", cell_timeout="60", disk="48MiB")
    assert watched.result.score == 0
    assert watched.result.execution.status == "error"
    assert "made its MLflow server run out of memory (limit 256 MiB" in watched.said
    assert watched.leftovers == []


@pytest.mark.slow
@pytest.mark.skipif(FULL is not None, reason=f"needs full isolation: {FULL}")
def test_a_batch_of_floods_grades_every_row(tmp_path: Path) -> None:
    """Four floods, two at a time: the batch completes, and each row has its grade."""
    source = tmp_path / "class"
    source.mkdir()
    names = ["artifact_flood", "database_flood", "memory_flood", "artifact_flood"]
    for number, name in enumerate(names):
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", source / f"student{number}_{name}.ipynb")
    out = tmp_path / "out"
    token = uuid.uuid4().hex
    proc = run_labgrade(
        "batch",
        str(source),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--disk-limit",
        LIMIT,
        "--cell-timeout",
        CELL_TIMEOUT,
        "--timeout",
        "900",
        timeout=2400,
        env={**os.environ, TOKEN_VAR: token},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (out / "grades.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5, rows  # the points possible, then each student
    expected = {"artifact_flood": "error", "database_flood": "error", "memory_flood": "ok"}
    for row in rows:
        if row["id"] == "POINTS POSSIBLE":
            continue
        name = next(n for n in expected if n in row["file"])
        assert float(row["total"]) == 100, row
        assert row["status"] == expected[name], row
    assert describe(processes_with_token(token)) == []
