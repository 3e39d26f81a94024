"""GitHub Actions views of a grading, and the student repo's workflow.

On Actions (GITHUB_STEP_SUMMARY / GITHUB_OUTPUT / GITHUB_ACTIONS set) `pytest grader` writes
by itself (https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions):

- a Markdown score table to the job summary;
- annotations on the run (workflow commands on stdout, GITHUB_ACTIONS=true): a notice with
  the points, an error per failing check with its reason;
- legacy, kept because it costs nothing: one step output per check, `<check id>=<base64
  JSON>`, a runner result as GitHub Classroom's classroom-resources/autograding-command-grader
  set it as its `result` output (src/main.js: {version: 1, status, max_score, tests: [{name,
  status, message, test_code, filename, line_no, duration, score}]}, status "pass", "fail" or
  "error"), which its autograding-grading-reporter read from `<RUNNER>_RESULTS` to total the
  "Points X/Y" Classroom recorded (one runner per check kept each runner's points exact).

GitHub Classroom ended on 2026-08-28, so the workflow no longer runs that reporter: a step
that only fed Classroom cost every push a download of a discontinued action (whose removal
would fail the whole job) and a `checks: write` token. Classroom 50 grades with its own
runner instead (grader.platforms.classroom50).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.engine.evidence.rubric import Rubric
from grader.engine.output.results import CheckResult, GradeResult
from grader.platforms.distribution import CONSTRAINTS

SUMMARY_VAR = "GITHUB_STEP_SUMMARY"
OUTPUT_VAR = "GITHUB_OUTPUT"
STEP_ID = "grade"
# Legacy name: the check run GitHub Classroom's reporter annotated; kept so released
# workflows and their tests keep their shape.
JOB_ID = "run-autograding-tests"
ACTIONS_VAR = "GITHUB_ACTIONS"  # "true" on GitHub Actions: workflow commands are read
FEEDBACK_DIR = "feedback"
# The student repository's workflow runs on each; the grade is GRADED_OS's.
GRADED_OS, MACOS, WINDOWS = "ubuntu-latest", "macos-latest", "windows-latest"
# "false": this workflow leg grades without reporting (summary, annotations, outputs), as
# another leg reports the grade. Anything else, or unset, reports.
REPORT_VAR = "LABGRADE_GITHUB_REPORT"
PYTHON_VERSION_FILE = ".python-version"


def points(result: GradeResult) -> str:
    """The total as the job summary and the annotation show it."""
    return f"Points {result.score:g}/{result.max_score:g}"


def annotation_commands(
    result: GradeResult | None, rubric: Rubric, failure: str | None = None
) -> list[str]:
    """Workflow commands for the run's annotations: the points, then each failing check."""
    if result is None:
        reason = f"The grader failed (not your submission's fault): {failure or ''}"
        return [_command("error", f"{rubric.title}: not graded", reason)]
    ex = result.execution
    lines = [
        _command(
            "notice",
            f"{rubric.title}: {points(result)}",
            f"execution {ex.status} in {ex.seconds:.1f} s" + (f": {ex.error}" if ex.error else ""),
        )
    ]
    lines += [
        _command("error", f"{c.title} ({c.score:g}/{c.max_score:g})", c.message)
        for c in result.checks
        if not c.passed
    ]
    return lines


def _command(kind: str, title: str, message: str) -> str:
    """`::KIND title=TITLE::MESSAGE`, escaped as the runner unescapes it (actions/toolkit,
    packages/core/src/command.ts): the data's %, CR and LF; a property's also : and ,."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    prop = data(title).replace(":", "%3A").replace(",", "%2C")
    return f"::{kind} title={prop}::{data(message)}"


def runner_results(
    result: GradeResult | None, rubric: Rubric, failure: str | None = None
) -> dict[str, dict[str, Any]]:
    """Check id -> runner result. RESULT None: the grader failed, FAILURE says why."""
    runners = {}
    for spec in rubric.checks:
        if result is not None:
            check = result.check(spec.id)
            ungradable = result.execution.status == "invalid"
            millis = round(result.execution.seconds * 1000)
        else:
            check = CheckResult(
                spec.id, spec.title, 0.0, spec.points, False, f"not graded: {failure}"
            )
            ungradable, millis = True, 0
        status = "pass" if check.passed else "error" if ungradable else "fail"
        test = {
            "name": check.title,
            "status": status,
            "message": check.message,
            "test_code": f"pytest grader -k {spec.id}",
            "filename": "",
            "line_no": 0,
            "duration": millis,
            "score": check.score,
        }
        runners[spec.id] = {
            "version": 1,
            "status": status,
            "max_score": check.max_score,
            "tests": [test],
        }
    return runners


def encode(runner: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(runner).encode("utf-8")).decode("ascii")


def step_summary(result: GradeResult | None, rubric: Rubric, failure: str | None = None) -> str:
    if result is None:
        return (
            f"### {rubric.title}: not graded\n\n"
            f"The grader failed (not your submission's fault): {_cell(failure or '')}\n"
        )
    lines = [
        f"### {rubric.title}: {result.score:g}/{result.max_score:g}",
        "",
        "| | check | points | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {'✅' if c.passed else '❌'} | {_cell(c.title)} | {c.score:g}/{c.max_score:g}"
        f" | {_cell(c.message)} |"
        for c in result.checks
    ]
    ex = result.execution
    lines += ["", f"**{points(result)}** · execution {ex.status} in {ex.seconds:.1f} s"]
    if ex.error:
        lines += ["", f"> {_cell(ex.error)}"]
    lines += [""] + [f"- {_cell(note)}" for note in result.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    """TEXT safe inside one Markdown table cell (messages quote the student's own strings)."""
    flat = " ".join(text.split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def publish(
    result: GradeResult | None,
    rubric: Rubric,
    failure: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> None:
    """On GitHub Actions: append the job summary and the per-check step outputs, and print
    the annotations; nothing where REPORT_VAR is "false" (a leg that does not give the grade)."""
    if env.get(REPORT_VAR) == "false":
        return
    if env.get(ACTIONS_VAR) == "true":
        # A command counts at the start of a line only, and pytest may be mid-line.
        print("", *annotation_commands(result, rubric, failure), sep="\n", flush=True)
    if env.get(SUMMARY_VAR):
        _append(Path(env[SUMMARY_VAR]), step_summary(result, rubric, failure) + "\n")
    if env.get(OUTPUT_VAR):
        runners = runner_results(result, rubric, failure)
        _append(Path(env[OUTPUT_VAR]), "".join(f"{k}={encode(v)}\n" for k, v in runners.items()))


def _append(path: Path, text: str) -> None:
    # Actions gives each step its own files and may already have written to them: append.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def workflow_yaml(rubric: Rubric) -> str:
    """.github/workflows/classroom.yml of the student repository, grading RUBRIC's lab.

    The Python version comes from the repository's .python-version: the one the pins in
    constraints.txt were resolved on. `pytest grader` reads the lab from pyproject.toml, so
    the workflow names neither it nor its checks.

    One leg per system students use (GRADED_OS, MACOS, WINDOWS): the grading runs on the real
    macOS and Windows, which the test suite can only simulate on Linux. The grade is
    GRADED_OS's alone: constraints.txt was resolved on Linux, and one push must give one
    grade, so only that leg installs the pins and reports (REPORT_VAR). Every leg runs its
    commands in bash (Git Bash on Windows), so the same lines are valid on each system.
    """
    grade = (
        f"pytest grader --grade-json {FEEDBACK_DIR}/result.json"
        f" --grade-feedback {FEEDBACK_DIR}/feedback.md --junitxml {FEEDBACK_DIR}/junit.xml"
    )
    graded = f"matrix.os == '{GRADED_OS}'"
    title = " ".join(rubric.title.split())  # a comment line
    return f"""# Grades the notebook ({title}) on every push: written by `labgrade release`.
# Do not edit: `labgrade verify` tells your instructor when this file or grader/ changed.
# The run's summary and annotations show the points. GitHub Classroom ended on 2026-08-28:
# its reporter step is gone (legacy: the grade step still writes the per-check outputs it read).
# Each push grades on Linux, macOS and Windows; the grade is the {GRADED_OS} leg's.
name: Autograding Tests
"on": [push, workflow_dispatch, repository_dispatch]
permissions:
  actions: read
  contents: read
jobs:
  {JOB_ID}:
    strategy:
      # A leg that fails on one system must not cancel the others: each is its own proof.
      fail-fast: false
      matrix:
        os: [{GRADED_OS}, {MACOS}, {WINDOWS}]
    runs-on: ${{{{ matrix.os }}}}
    timeout-minutes: 30
    defaults:
      run:
        shell: bash
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version-file: {PYTHON_VERSION_FILE}
      # constraints.txt pins what was resolved on Linux; some pins have no macOS or Windows
      # wheel, so those legs install the newest versions pyproject.toml allows.
      - name: Install the grader (the tested versions)
        if: ${{{{ {graded} }}}}
        run: python -m pip install -c {CONSTRAINTS} -e .
      - name: Install the grader
        if: ${{{{ matrix.os != '{GRADED_OS}' }}}}
        run: python -m pip install -e .
      - name: Grade the notebook
        id: {STEP_ID}
        env:
          # The summary, annotations and step outputs: from one leg, so one grade per push.
          {REPORT_VAR}: ${{{{ {graded} }}}}
        run: {grade}
      - name: Upload feedback
        if: ${{{{ !cancelled() }}}}
        uses: actions/upload-artifact@v4
        with:
          name: {FEEDBACK_DIR}-${{{{ matrix.os }}}}
          path: {FEEDBACK_DIR}/
"""
