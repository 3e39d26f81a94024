"""Grading results as plain data. Rendering lives in grader.engine.output.report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from grader.errors import GraderError
from grader.files import write_json_atomic

# "not_executed": --tracking-uri graded what a server holds without running anything.
Status = Literal["ok", "error", "timeout", "kernel_died", "invalid", "not_executed"]


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    score: float
    max_score: float
    passed: bool
    message: str
    step: str = ""
    # The message's parts, for rendering; the JSON carries the composed message only.
    found: str = ""
    expected: str = ""
    hint: str = ""
    skipped: bool = False  # not applicable, and the rubric leaves it out of the total

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True)
class ExecutionResult:
    status: Status
    seconds: float
    error: str | None = None
    # Feedback that is not part of the JSON contract: redirects, skipped lines, hints.
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "seconds": round(self.seconds, 3), "error": self.error}


@dataclass(frozen=True)
class TrackingInfo:
    server: str
    experiment_id: str | None = None
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class GradeResult:
    submission: str
    checks: tuple[CheckResult, ...]
    execution: ExecutionResult
    tracking: TrackingInfo
    notes: tuple[str, ...] = field(default=())
    # Seconds per grading phase, for the benchmark; not part of the JSON contract.
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    # What the grading's own processes used (the server's cgroup); not in the JSON either.
    usage: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def full_marks(self) -> bool:
        return all(c.passed for c in self.checks) and self.score == self.max_score

    def check(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def to_json(self) -> dict[str, Any]:
        """The `--grade-json` shape: a contract other tools read. Keep it stable."""
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "checks": [c.to_json() for c in self.checks],
            "execution": self.execution.to_json(),
            "tracking": self.tracking.to_json(),
            # What explains the grade beyond the checks (a compatibility switch applied, an id
            # that stood for another, a redirect): a platform shows them to the student.
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Any) -> GradeResult:
        """Read back what to_json wrote (e.g. a grading subprocess's --grade-json file).

        Feedback outside the JSON contract (timings, steps) is not in it; notes are (a file
        written before they were reads as none).
        """
        try:
            execution, tracking = data["execution"], data["tracking"]
            if execution["status"] not in get_args(Status):
                raise ValueError(f"unknown execution status {execution['status']!r}")
            checks = tuple(
                CheckResult(
                    str(c["id"]),
                    str(c["title"]),
                    float(c["score"]),
                    float(c["max_score"]),
                    bool(c["passed"]),
                    str(c["message"]),
                )
                for c in data["checks"]
            )
            return cls(
                submission=str(data["submission"]),
                checks=checks,
                execution=ExecutionResult(
                    execution["status"], float(execution["seconds"]), execution["error"]
                ),
                tracking=TrackingInfo(
                    str(tracking["server"]), tracking["experiment_id"], tracking["run_id"]
                ),
                notes=tuple(str(note) for note in data.get("notes", [])),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise GraderError(
                f"a grade result is not in the --grade-json shape ({type(err).__name__}: {err})"
            ) from err

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.to_json())
