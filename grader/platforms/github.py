"""GitHub Actions and GitHub Classroom views of a grading, and the student repo's workflow.

On Actions (GITHUB_STEP_SUMMARY / GITHUB_OUTPUT set) `pytest grader` writes by itself:

- a Markdown score table to the job summary
  (https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions);
- one step output per check, `<check id>=<base64 JSON>`: a runner result as
  classroom-resources/autograding-command-grader sets it as its `result` output
  (src/main.js: {version: 1, status, max_score, tests: [{name, status, message, test_code,
  filename, line_no, duration, score}]}, status "pass", "fail" or "error").

classroom-resources/autograding-grading-reporter then reads each runner named in its `runners`
input from the env variable `<RUNNER>_RESULTS` (upper-cased; src/main.js), prints the tests,
and (src/notify-classroom.js) sums tests[].score over runners with a max_score into the
"Points X/Y" annotation of the check run `run-autograding-tests`, which Classroom reads. One
runner per check keeps each runner's points exact: the reporter's per-runner total is
passed/total tests x max_score, which is only right for a runner with one test.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.engine.results import CheckResult, GradeResult
from grader.engine.rubric import Rubric
from grader.platforms.distribution import CONSTRAINTS

SUMMARY_VAR = "GITHUB_STEP_SUMMARY"
OUTPUT_VAR = "GITHUB_OUTPUT"
STEP_ID = "grade"
JOB_ID = "run-autograding-tests"  # the check run notify-classroom looks for
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
FEEDBACK_DIR = "feedback"
PYTHON_VERSION_FILE = ".python-version"


def points(result: GradeResult) -> str:
    """What the reporter annotates and Classroom reads."""
    return f"Points {result.score:g}/{result.max_score:g}"


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
    """On GitHub Actions: append the job summary and the per-check step outputs."""
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
    """.github/workflows/classroom.yml of the student repository, for RUBRIC's checks.

    The Python version comes from the repository's .python-version: the one the pins in
    constraints.txt were resolved on.
    """
    env = "".join(
        f'          {cid.upper()}_RESULTS: "${{{{ steps.{STEP_ID}.outputs.{cid} }}}}"\n'
        for cid in rubric.ids
    )
    grade = (
        f"pytest grader --grade-json {FEEDBACK_DIR}/result.json"
        f" --grade-feedback {FEEDBACK_DIR}/feedback.md --junitxml {FEEDBACK_DIR}/junit.xml"
    )
    return f"""# Grades the notebook on every push: written by `labgrade release` from the rubric.
# Do not edit: `labgrade verify` tells your instructor when this file or grader/ changed.
name: Autograding Tests
"on": [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  {JOB_ID}:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version-file: {PYTHON_VERSION_FILE}
      - name: Install the grader
        run: python -m pip install -c {CONSTRAINTS} -e .
      - name: Grade the notebook
        id: {STEP_ID}
        run: {grade}
      - name: Upload feedback
        if: ${{{{ !cancelled() }}}}
        uses: actions/upload-artifact@v4
        with:
          name: feedback
          path: {FEEDBACK_DIR}/
      - name: Report points to GitHub Classroom
        if: ${{{{ !cancelled() }}}}
        uses: {REPORTER}
        env:
{env}        with:
          runners: {",".join(rubric.ids)}
"""
