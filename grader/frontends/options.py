"""The options `pytest grader` and `labgrade` share: one table, read by both front ends.

The plugin adds each as a pytest option in its one group (ini key `grade_` + the flag's words,
settable in pyproject.toml); the CLI adds each to `labgrade grade`, `batch` and the tools that
take a lab. Options only one front end has (pytest's --grade-json, the batch's --jobs) stay
with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.labs import DEFAULT as DEFAULT_LAB


@dataclass(frozen=True)
class Option:
    flag: str  # for `pytest grader` and `labgrade`; ini key: grade_ + flag's words
    metavar: str
    help: str

    @property
    def ini(self) -> str:
        return "grade_" + self.flag.lstrip("-").replace("-", "_")

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Flag(Option):
    """A limit of the submission: its default is the rubric's [limits] FIELD."""

    field: str = ""  # as the rubric's [limits] table spells it


LAB = Option(
    "--lab",
    "ID",
    f"the lab to grade: an installed lab's id (default: {DEFAULT_LAB}; `labgrade labs` lists"
    " them), or the path of a lab's own folder (docs/writing-a-lab.md)",
)
RUBRIC = Option(
    "--rubric", "PATH", "rubric TOML with points and expected values (default: the lab's own)"
)
ISOLATION = Option(
    "--isolation",
    "MODE",
    "how the submission is confined: full (own user and namespaces, needs root), process"
    " (rlimits only) or auto (full where possible)",
)
FLAGS = (
    Flag("--cell-timeout", "SECONDS", "wall time for any one cell", "cell_timeout"),
    Flag("--memory-limit", "SIZE", "memory of the kernel (and of the model probe)", "memory"),
    Flag("--cpu-limit", "SECONDS", "CPU time per process of the submission", "cpu_time"),
    Flag("--max-processes", "N", "processes and threads the submission may run", "processes"),
    Flag("--output-limit", "SIZE", "cell output kept; the rest is dropped", "output"),
    Flag(
        "--disk-limit",
        "SIZE",
        "what the submission may write, and what its MLflow server may store",
        "disk",
    ),
    Flag(
        "--server-memory-limit",
        "SIZE",
        "memory of the grading's MLflow server (with full isolation)",
        "server_memory",
    ),
)
