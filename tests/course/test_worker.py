"""grader.course.worker: the one way a batch and a Gradescope run start and end a grading."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from grader.course import worker
from grader.course.worker import JOB_VAR, Job
from tests.helpers import ROOT

JOB = Job(
    Path("/sub/lab.ipynb"),
    "registry",
    Path("/r/rubric.toml"),
    Path("/o/grade.json"),
    90.0,
    feedback=Path("/o/feedback.md"),
    extra=("--isolation", "process", "--cold"),
)


def _tagged(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(JOB_VAR) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _spawn(code: str, token: str) -> subprocess.Popen[bytes]:
    """A stand-in worker that leaves an orphan, then runs CODE; tagged and in its own
    session, as a real one is."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(ORPHAN) + textwrap.dedent(code)],
        env={JOB_VAR: token, "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


# Leaves an orphan in a session of its own (no process group signal reaches it), tagged.
ORPHAN = """
    import subprocess, sys
    subprocess.Popen(["sleep", "600"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def test_the_worker_command_line_is_labgrade_grade_with_lab_rubric_and_outputs() -> None:
    argv = JOB.argv()
    assert argv[:2] == ["grade", "/sub/lab.ipynb"]
    pairs = dict(zip(argv[2:-3:2], argv[3:-3:2], strict=True))
    assert pairs == {
        "--lab": "registry",
        "--rubric": "/r/rubric.toml",
        "--grade-json": "/o/grade.json",
        "--timeout": "90",
        "--feedback": "/o/feedback.md",
    }
    assert argv[-3:] == ["--isolation", "process", "--cold"]
    assert JOB.command() == [sys.executable, "-m", "grader.frontends.cli", *argv]
    assert JOB.limit == 90.0 + worker.MARGIN
    assert "--feedback" not in Job(Path("s"), "tracking", Path("r"), Path("j"), 5).argv()
    assert worker.ENTRY == "grader.frontends.cli:main"  # what a warm fork runs with argv()


def test_a_worker_that_ends_gives_its_code_and_stderr_and_leaves_nothing() -> None:
    token = worker.new_token()
    proc = _spawn("sys.stderr.write('last words')\nsys.exit(3)\n", token)
    assert worker.wait(proc, token, limit=60) == (3, b"last words")
    assert _tagged(token) == []  # its orphan was reaped too


def test_an_overrunning_worker_is_stopped_with_its_group_and_orphans() -> None:
    token = worker.new_token()
    proc = _spawn(
        """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it
    child = subprocess.Popen(["sleep", "600"], stderr=subprocess.DEVNULL)  # in its group
    time.sleep(600)
""",
        token,
    )
    started = time.monotonic()
    assert worker.wait(proc, token, limit=2, grace=1) == (None, b"")
    assert time.monotonic() - started < 30
    assert proc.returncode is not None
    assert _tagged(token) == []


def test_course_imports_neither_platforms_nor_frontends() -> None:
    """Imports run one way: platforms and front ends use the course tools, not the reverse."""
    imported = set()
    for path in sorted((ROOT / "grader" / "course").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                imported |= {(path.name, alias.name) for alias in node.names}
    assert ("worker.py", "grader.sandbox.procs") in imported
    bad = {(f, m) for f, m in imported if m.startswith(("grader.platforms", "grader.frontends"))}
    assert bad == set()
