"""The grader's exception root.

Messages are for people: each names the thing, where it came from and the fix.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of every error the grader raises on purpose."""


class InvalidSubmission(GraderError):
    """The submission cannot be graded at all (missing, empty, unreadable, not a notebook)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class RubricError(GraderError):
    """The rubric file is missing or malformed: an instructor's mistake, not a student's."""


class ServerError(GraderError):
    """The throwaway MLflow server could not be started: the grading machine's problem."""


class ExecutionSetupError(GraderError):
    """The kernel could not be started: the grading machine's problem, not the submission's."""


class InputError(GraderError):
    """What the instructor handed a command cannot be used: an option, a roster, an LMS export.
    Fixed in the command or its inputs, never on the machine: `labgrade` exits 2 for it."""


class UsageError(InputError):
    """A command-line value the grader cannot use (e.g. --memory-limit lots)."""
