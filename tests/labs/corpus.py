"""What every lab's labelled corpus test shares (tests/labs/<id>/test_grading.py): a labelled
case, its pytest parameters, and the two assertions each case's one grading is read by.

A lab's test module holds its CASES (read by the equivalence fuzzer too) and two test
functions that call `assert_graded_as_labelled` and `assert_messages`, each on the grading
the other reads as well (the session's graded_run fixture shares it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import GradingRun


@dataclass(frozen=True)
class Case:
    """A labelled submission: the score, status and failing checks it must get, and the
    fragments that must (SAYS) or must not (NEVER) appear in a check's message, the execution
    error ("execution") or the terminal output ("output")."""

    path: Path
    score: float
    status: str = "ok"
    failing: frozenset[str] = frozenset()
    says: dict[str, tuple[str, ...]] = field(default_factory=dict)
    never: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        # A labelled submission by its file's name; a lab's reference and template by their
        # folder (reference/<lab>/..., student_template/<lab>/...).
        if self.path.parent.name == "submissions":
            return self.path.stem
        if self.path.parent.parent.name in ("reference", "student_template"):
            return self.path.parent.parent.name
        return self.path.parent.name


def params(lab_id: str, cases: list[Case]) -> list[Any]:
    """CASES as slow pytest parameters; each case's assertions share one grading (its own
    xdist group, so the one worker that grades it answers both)."""
    return [
        pytest.param(
            c, id=c.id, marks=[pytest.mark.xdist_group(f"{lab_id}-{c.id}"), pytest.mark.slow]
        )
        for c in cases
    ]


def assert_graded_as_labelled(run: GradingRun, case: Case, ids: tuple[str, ...]) -> None:
    """Score, status, every check's verdict, the exit code, and nothing left behind."""
    assert run.result is not None, run.stderr[-2000:]
    assert run.result["execution"]["status"] == case.status, run.result["execution"]
    assert run.result["score"] == case.score, [c["message"] for c in run.result["checks"]]
    assert run.result["max_score"] == 100
    assert tuple(c["id"] for c in run.result["checks"]) == ids
    failed = {c["id"] for c in run.result["checks"] if not c["passed"]}
    assert failed == case.failing
    assert run.exit_code == (0 if case.score == 100 else 1)
    assert run.leftovers == []
    assert run.changed_files == []


def assert_messages(run: GradingRun, case: Case) -> None:
    """What the case says is said, what it must not say is not, and every failing check names
    the lab step to revisit and the call the lab expects."""
    assert run.result is not None
    texts = {c["id"]: c["message"] for c in run.result["checks"]}
    texts["execution"] = run.result["execution"]["error"] or ""
    texts["output"] = run.stdout
    for where, fragments in case.says.items():
        for fragment in fragments:
            assert fragment in texts[where], f"{where}: {texts[where]!r}"
    for where, fragments in case.never.items():
        for fragment in fragments:
            assert fragment not in texts[where], f"{where}: {texts[where]!r}"
    for check in run.result["checks"]:
        if not check["passed"]:
            assert "revisit " in check["message"]
            assert ". Expected: " in check["message"]
