"""Hostile and broken submissions (adversarial/) get the grade they deserve, safely.

Each is graded once by a real `pytest grader` run. Every case asserts the score, the
status, that the grading process itself finished and wrote its JSON, that nothing of the
grading is left running, that the submission's folder is untouched, and that nothing it
wrote or printed escaped the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.sandbox.sandbox import full_unavailable
from tests.helpers import GradingRun, escaped_markers

ADVERSARIAL = Path(__file__).resolve().parent / "adversarial"
# Loops are stopped by the per-cell limit; a short one keeps the suite quick.
SHORT = ("--cell-timeout", "8")


@dataclass(frozen=True)
class Hostile:
    name: str
    score: float
    status: str
    says: tuple[str, ...] = ()  # fragments of the JSON result or the terminal (notes)
    flags: tuple[str, ...] = ()
    cheats: bool = False  # tries to raise its own score: must get exactly what it earned
    env: tuple[tuple[str, str], ...] = ()  # for the grader (the submission must not see it)
    variant: str = ""  # names a second case of the same submission
    file: str = ""  # grade this file of the folder NAME rather than the folder

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}" if self.variant else self.name

    @property
    def path(self) -> Path:
        folder = ADVERSARIAL / self.name
        if folder.is_dir():
            return folder / self.file if self.file else folder
        return ADVERSARIAL / f"{self.name}.ipynb"

    @property
    def exit_code(self) -> int:
        return {"invalid": 4}.get(self.status, 0 if self.score == 100 else 1)


CASES = [
    Hostile("infinite_loop", 0, "timeout", ("8 s per-cell limit",), SHORT),
    Hostile("ignores_sigint", 0, "timeout", ("8 s per-cell limit",), SHORT),
    Hostile("fork_bomb", 0, "timeout", ("per-cell limit",), SHORT),
    Hostile("memory_bomb", 0, "kernel_died", ("ran out of memory (limit 1 GiB)",)),
    Hostile("segfault", 0, "kernel_died", ("segmentation fault",)),
    Hostile("os_exit_halfway", 85, "kernel_died", ("exited with code 3",)),
    Hostile("sys_exit_halfway", 85, "error", ("SystemExit",)),
    Hostile("input_call", 0, "error", ("StdinNotImplementedError",)),
    Hostile("syntax_error_cell1", 0, "error", ("SyntaxError", "(code cell 1)")),
    Hostile("keyboard_interrupt", 0, "error", ("KeyboardInterrupt",)),
    Hostile("huge_output", 0, "error", ("dropped", "ValueError"), cheats=True),
    Hostile("writes_outside", 100, "ok"),
    Hostile("fake_results", 0, "ok", cheats=True),
    # Its parent is out of reach; killing its own process group ends its own kernel.
    Hostile("kills_its_parent", 85, "kernel_died", ("killed with SIGKILL",)),
    Hostile("own_mlflow_server", 100, "ok"),
    Hostile("deletes_experiment_and_model", 80, "ok", ("deleted",)),
    Hostile("patches_mlflowclient", 0, "ok", cheats=True),
    Hostile("pickle_runs_code", 100, "ok"),
    Hostile("setsid_daemon", 100, "ok"),
    Hostile("overrides_builtins", 0, "timeout", flags=SHORT, cheats=True),
    Hostile("raises_exception_tag", 0, "error", ("tagged cell",)),
    Hostile("skip_execution_tag", 0, "timeout", ("per-cell limit",), SHORT),
    Hostile(
        "reads_secrets",
        100,
        "ok",
        env=(("GITHUB_TOKEN", "ghp_fake"), ("LABGRADE_SECRET_FOR_TESTS", "do-not-leak")),
    ),
    Hostile("disk_hog", 0, "error", ("No space left",), ("--disk-limit", "64MiB")),
    Hostile(
        "infinite_loop",
        0,
        "kernel_died",
        ("CPU time limit (12 s)",),
        ("--cpu-limit", "12", "--cell-timeout", "60"),
        variant="cpu-limit",
    ),
    # Without root: rlimits and tags only (docs/security.md, Process isolation).
    Hostile(
        "memory_bomb", 0, "error", ("MemoryError",), ("--isolation", "process"), variant="process"
    ),
    Hostile("setsid_daemon", 100, "ok", (), ("--isolation", "process"), variant="process"),
    Hostile("zero_bytes", 0, "invalid", ("empty",)),
    Hostile("binary_data", 0, "invalid", ("not UTF-8",)),
    Hostile(
        "hostile_template",
        0,
        "ok",
        ("ignored conftest.py", "ignored mlflow.py", "ignored evil.pth"),
        cheats=True,
    ),
    Hostile(
        "hostile_reference",
        100,
        "ok",
        ("ignored mlflow.py", "ignored sitecustomize.py"),
        file="lab1_tracking_quickstart.ipynb",  # the notebook's path, not its folder
    ),
]


def graded(case: Hostile, graded_run: Callable[..., GradingRun]) -> GradingRun:
    return graded_run(case.path, *case.flags, env=dict(case.env))


FULL = full_unavailable()


def in_group(cases: list[Hostile]) -> list[object]:
    # One xdist group per case: its grading is shared by the tests that read it. A case
    # graded with full isolation (the default where the grader is root) cannot run without
    # it: its expected statuses are full isolation's, and some would write to the machine.
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[
                pytest.mark.xdist_group(c.id),
                pytest.mark.skipif(
                    "process" not in c.flags and FULL is not None,
                    reason=f"needs full isolation: {FULL}",
                ),
            ],
        )
        for c in cases
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group(CASES))
def test_hostile_submission_gets_its_grade(
    case: Hostile, graded_run: Callable[..., GradingRun]
) -> None:
    run = graded(case, graded_run)
    assert run.result is not None, f"the grader wrote no result: {run.stderr[-2000:]}"
    assert run.exit_code == case.exit_code, run.stdout[-3000:]
    assert run.result["execution"]["status"] == case.status, run.result["execution"]
    assert run.result["score"] == case.score, json.dumps(run.result, indent=1)
    text = json.dumps(run.result) + run.stdout  # notes are shown, not part of the JSON
    for fragment in case.says:
        assert fragment in text, fragment


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group(CASES))
def test_hostile_submission_leaves_the_machine_clean(
    case: Hostile, graded_run: Callable[..., GradingRun]
) -> None:
    run = graded(case, graded_run)
    assert run.leftovers == []
    assert run.changed_files == []
    assert escaped_markers() == []


@pytest.mark.slow
@pytest.mark.parametrize("case", in_group([c for c in CASES if c.cheats]))
def test_a_submission_cannot_change_its_own_score(
    case: Hostile, graded_run: Callable[..., GradingRun]
) -> None:
    """Fake results, fake test output, patched clients and pytest hooks earn nothing."""
    run = graded(case, graded_run)
    assert run.result is not None
    assert run.result["score"] == case.score
    assert not any(c["passed"] for c in run.result["checks"]) or case.score > 0
    assert run.junit.count("<failure") == 7 - sum(c["passed"] for c in run.result["checks"])
    for printed in ("7 passed in 0.01s", "7 passed in 0.42s", "EVIL", "100/100"):
        assert printed not in run.stdout
    shown = [run.result["execution"]["error"] or ""]
    shown += [c["message"] for c in run.result["checks"]]
    assert not [text for text in shown if "\x1b" in text or len(text) > 2000]
