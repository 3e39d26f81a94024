"""Classroom 50: the assignment's autograder (`labgrade classroom50 OUT`) and what it runs.

Classroom 50 (github.com/foundation50/classroom50) took over from GitHub Classroom, which
ended on 2026-08-28. Its contract, as read in that repository (cli/gh-teacher/skeleton/
dotgithub/scripts/runner.py at 0c499034 and collect_scores.py at 053044a8, workflows/
autograde-runner.yaml at 0343327c and publish-pages.yaml at 1da53974, wiki/Advanced-
Autograding.md at 6b0b83cf):

- Publishing. The teacher commits CLASSROOM/autograders/ASSIGNMENT/ (an `autograder.py` and
  any files beside it) to the organization's `classroom50` repository; publish-pages.yaml tars
  that folder, as ASSIGNMENT/..., to CLASSROOM/autograders/ASSIGNMENT.tar.gz on the
  organization's GitHub Pages (runner.py refuses more than 10 MiB: MAX_FETCH_BYTES).
- Running. On every submission the grade job of autograde-runner.yaml (timeout-minutes: 15;
  Python from the assignment's `runtime`, 3.14 by default) runs runner.py, which extracts the
  tarball into $RUNNER_TEMP/classroom50-runtime/ and runs `python autograder.py` with its own
  interpreter (run_entrypoint), in the student's checkout, with CLASSROOM, ASSIGNMENT,
  SUBMISSION_TAG, PAGES_BASE_URL, USERNAME and OWNER, ASSIGNMENT_TYPE, COMMIT_URL,
  RELEASE_URL, REVIEW_URL, CLASSROOM50_BUNDLE_DIR (the extracted folder) and GITHUB_* set.
- Outputs. ./result.json (required), ./release-body.md (the notes of the submission's
  Release; synthesized when absent) and `status=` (success, failure or error) and `summary=`
  lines in $GITHUB_OUTPUT (derived when absent; the summary becomes the commit status's
  description). Exit 0 whenever grading ran, whatever the score; a non-zero exit is an
  infrastructure error: the runner writes its own 0/0 result with status error, and no
  Release is published (finalize_result, Finalizer.error).
- result.json, schema `classroom50/result/v1`, as runner.py's validate_result checks it (and
  collect_scores.py's before the score reaches the gradebook): `schema`; `classroom` and
  `assignment` equal to the run's; `submission` a "submit/..." string; `commit`, `release`,
  `review`, `datetime` non-empty strings; `score` and `max-score` non-negative integers, score
  at most max-score; `tests` a list of {`test-name` non-empty string, `passed` boolean,
  `score` and `max-score` non-negative integers, score at most max-score}. The runner stamps
  `owner`, `assignment_type`, `datetime`, `graded_at` and `submitted_by` itself before it
  validates.

Here: `labgrade classroom50 OUT` writes that folder: autograder.py (from grader/platforms/
templates/autograder.py), which makes the grader ready and runs main() below, and labgrade/,
the grader with the lab alone and the instructor's rubric, installed the way the Gradescope
bundle is (pyproject.toml, constraints.txt). main() grades the notebook in a worker process
(grader.course.worker.grade_isolated) and writes one test per rubric check, in whole points.

Students read what a run publishes: the Release (release-body.md and result.json) and the
workflow log, in their own repository. A check with `visibility = "hidden"` is "hidden check
N" there, with its points and verdict only, and the grader's log (which quotes every check's
reason) is not printed when the rubric has one. Classroom 50 publishes each grading at once,
so `after_due_date` and `after_published` show like `visible` (as in `labgrade release`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader import labs
from grader.course import worker
from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Lab
from grader.engine.output.report import feedback_markdown
from grader.engine.output.results import CheckResult, GradeResult
from grader.errors import GraderError, RubricError, UsageError
from grader.files import write_atomic
from grader.platforms.distribution import (
    CONSTRAINTS,
    constraints_text,
    find_notebook,
    package_files,
    pyproject_text,
    python_version,
    repository_fixes,
    script,
    upload_problem,
)

SCHEMA = "classroom50/result/v1"
RESULT_FILE = "result.json"
BODY_FILE = "release-body.md"
OUTPUT_VAR = "GITHUB_OUTPUT"
ENTRYPOINT = "autograder.py"
PACKAGE = "labgrade"  # the bundle's folder with pyproject.toml, constraints.txt and grader/
# What runner.py sets and result.json repeats; OWNER and ASSIGNMENT_TYPE it stamps itself.
RUN_VARS = ("CLASSROOM", "ASSIGNMENT", "SUBMISSION_TAG", "COMMIT_URL", "RELEASE_URL")
# The grade job's timeout-minutes in autograde-runner.yaml, and room within it for making
# the venv and installing the pinned packages: 241 s measured with a cold pip cache on a
# 2-core machine (2026-11-29; the venv is 946 MiB); not measured on GitHub's runners.
JOB_SECONDS = 15 * 60
INSTALL_SECONDS = 240
MAX_TIMEOUT = JOB_SECONDS - INSTALL_SECONDS - worker.MARGIN
# GitHub keeps 140 characters of a commit status's description.
SUMMARY_CHARS = 140
HIDDEN_MESSAGE = "What this check looks at is hidden by your instructor; its points are shown."
_MARK = "Written by `labgrade classroom50"


@dataclass(frozen=True)
class Run:
    """The submission being graded, as runner.py names it in the environment."""

    classroom: str
    assignment: str
    submission: str
    commit: str
    release: str
    review: str
    owner: str = ""  # stamped by the runner anyway
    assignment_type: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Run:
        missing = [name for name in RUN_VARS if not env.get(name)]
        if missing:
            raise GraderError(
                f"{', '.join(missing)} not set: Classroom 50's runner.py sets them when it runs"
                f" {ENTRYPOINT}; to try the bundle by hand, set them as it does (docs/platforms.md,"
                " Classroom 50)"
            )
        return cls(
            classroom=env["CLASSROOM"],
            assignment=env["ASSIGNMENT"],
            submission=env["SUBMISSION_TAG"],
            commit=env["COMMIT_URL"],
            release=env["RELEASE_URL"],
            review=env.get("REVIEW_URL") or env["COMMIT_URL"],
            owner=env.get("OWNER") or env.get("USERNAME") or "",
            assignment_type=env.get("ASSIGNMENT_TYPE") or "",
        )


@dataclass(frozen=True)
class Outcome:
    """What one grading leaves for the runner."""

    result: dict[str, Any]  # result.json
    body: str  # release-body.md
    status: str
    summary: str


# --- the views of a grading --------------------------------------------------------------


def result_json(
    result: GradeResult, rubric: Rubric, run: Run, now: datetime.datetime
) -> dict[str, Any]:
    """result.json: one test per rubric check, a hidden one by number only."""
    tests = [
        {
            "test-name": name,
            "passed": check.passed,
            "score": _whole(check.score, check.id, rubric),
            "max-score": _whole(check.max_score, check.id, rubric),
        }
        for check, name in zip(result.checks, _names(result, rubric), strict=True)
    ]
    identity = {"owner": run.owner, "assignment_type": run.assignment_type}
    return {
        "schema": SCHEMA,
        "classroom": run.classroom,
        "assignment": run.assignment,
        **{key: value for key, value in identity.items() if value},
        "submission": run.submission,
        "commit": run.commit,
        "release": run.release,
        "review": run.review,
        "datetime": now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": sum(t["score"] for t in tests),
        "max-score": sum(t["max-score"] for t in tests),
        "tests": tests,
    }


def release_body(result: GradeResult, rubric: Rubric, lab_id: str, run: Run) -> str:
    """release-body.md: the student's feedback, hidden checks by number and points only."""
    shown = tuple(
        CheckResult(name, name, check.score, check.max_score, check.passed, HIDDEN_MESSAGE)
        if _hidden(rubric, check.id)
        else replace(check, title=name)
        for check, name in zip(result.checks, _names(result, rubric), strict=True)
    )
    body = feedback_markdown(replace(result, checks=shown), rubric.title)
    footer = f"Graded by labgrade (lab `{lab_id}`) for `{run.submission}`."
    if rubric.hidden_ids:
        footer = f"Your instructor's grading has hidden checks: only their points show. {footer}"
    return f"{body}\n---\n\n{footer}\n"


def status_and_summary(
    data: Mapping[str, Any], result: GradeResult, lab_id: str
) -> tuple[str, str]:
    """The run's status (success only when every check passed) and its one-line summary."""
    passed = sum(1 for t in data["tests"] if t["passed"])
    total = len(data["tests"])
    status = "success" if passed == total else "failure"
    summary = f"labgrade {lab_id}: {data['score']}/{data['max-score']}"
    summary += f" ({passed}/{total} checks passed"
    if result.execution.status != "ok":
        summary += f", notebook {result.execution.status}"
    summary += ")"
    flat = " ".join(summary.split())  # one output line, whatever a lab id holds
    return status, flat[:SUMMARY_CHARS]


def _names(result: GradeResult, rubric: Rubric) -> list[str]:
    names, hidden = [], 0
    for check in result.checks:
        if _hidden(rubric, check.id):
            hidden += 1
            names.append(f"hidden check {hidden}")
        else:
            names.append(check.title)
    return names


def _hidden(rubric: Rubric, check_id: str) -> bool:
    try:
        return rubric.check(check_id).visibility == "hidden"
    except KeyError:
        raise GraderError(
            f"the grading reported check {check_id!r}, which the bundle's rubric"
            f" {rubric.path} does not have: rebuild the bundle with `labgrade classroom50`"
        ) from None


def _whole(points: float, check_id: str, rubric: Rubric) -> int:
    if points != int(points) or points < 0:
        raise RubricError(
            f"rubric {rubric.path}: check {check_id!r} has {points:g} points, and Classroom"
            " 50's result.json takes whole numbers only: give each check whole points"
        )
    return int(points)


# --- autograder.py's grading -------------------------------------------------------------


def autograde(checkout: Path, lab_id: str, timeout: float, run: Run) -> Outcome:
    """Grade the lab's notebook in CHECKOUT with the lab's rubric as bundled."""
    lab = labs.load(lab_id)
    rubric = lab.rubric()
    whole_points(rubric)
    submission = find_notebook(checkout, lab.notebook)
    echo = None if rubric.hidden_ids else sys.stdout
    if echo is None:
        print(
            "labgrade: the grader's log is left out: it quotes every check's reason, the hidden"
            " checks' too, and students read this log"
        )
    sys.stdout.flush()  # the worker's log follows this process's own lines
    problem = upload_problem(checkout, lab.notebook, repository_fixes(lab.notebook))
    if problem is not None:  # the student's to fix, in their terms: a result, not an error
        from grader.engine.grading import ungraded_result  # the grading's own zero, when needed

        result = ungraded_result("your repository", "invalid", f"your repository {problem}", rubric)
    else:
        result = worker.grade_isolated(
            submission, labs.argument(lab), rubric.path, timeout, echo=echo
        )
    data = result_json(result, rubric, run, datetime.datetime.now(datetime.timezone.utc))
    status, summary = status_and_summary(data, result, lab.id)
    return Outcome(data, release_body(result, rubric, lab.id, run), status, summary)


def write_outcome(checkout: Path, outcome: Outcome, env: Mapping[str, str]) -> None:
    """result.json and release-body.md into CHECKOUT, then status and summary into
    $GITHUB_OUTPUT: written after the grading, so nothing the notebook wrote stands."""
    write_atomic(checkout / RESULT_FILE, json.dumps(outcome.result, indent=2) + "\n")
    write_atomic(checkout / BODY_FILE, outcome.body)
    if env.get(OUTPUT_VAR):
        with Path(env[OUTPUT_VAR]).open("a", encoding="utf-8") as fh:
            fh.write(f"status={outcome.status}\nsummary={outcome.summary}\n")


def annotate(message: str) -> None:
    """An error annotation on the workflow run (GitHub's workflow command syntax)."""
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=labgrade::{text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.platforms.classroom50`: what the bundle's autograder.py runs."""
    parser = argparse.ArgumentParser(prog="python -m grader.platforms.classroom50")
    parser.add_argument("--checkout", type=Path, required=True, help="the student's checkout")
    parser.add_argument("--lab", default=labs.DEFAULT, help="the lab the bundle grades")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    try:
        outcome = autograde(args.checkout, args.lab, args.timeout, Run.from_env(os.environ))
        write_outcome(args.checkout, outcome, os.environ)
    except GraderError as err:  # not graded: the runner records an error, the log says why
        annotate(f"not graded: {err}")
        return 1
    print(f"{outcome.summary}, status {outcome.status}: wrote {RESULT_FILE} and {BODY_FILE}")
    return 0


# --- the bundle --------------------------------------------------------------------------


def whole_points(rubric: Rubric) -> None:
    """RubricError unless every check of RUBRIC is worth whole points."""
    for spec in rubric.checks:
        _whole(spec.points, spec.id, rubric)


def build(out: Path, lab: Lab, rubric: Rubric, timeout: float) -> list[str]:
    """Write into OUT what the teacher commits as CLASSROOM/autograders/ASSIGNMENT/ to grade
    LAB with RUBRIC; returns the paths written, relative to OUT."""
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(
            f"--timeout {timeout:g}: Classroom 50 stops the grading job after"
            f" {JOB_SECONDS // 60} minutes (autograde-runner.yaml), which must also hold"
            f" installing the grader (~{INSTALL_SECONDS} s) and {worker.MARGIN:g} s for the"
            f" server and teardown: pass at most {MAX_TIMEOUT:g}"
        )
    whole_points(rubric)
    tool = f"{_MARK} --lab {lab.id}` ({time.strftime('%Y-%m-%d')})."
    package = package_files(lab, rubric.path.read_text(encoding="utf-8"))
    package["pyproject.toml"] = pyproject_text(tool, lab).encode()
    package[CONSTRAINTS] = constraints_text().encode()
    values = {"LAB": lab.id, "TIMEOUT": f"{timeout:g}", "PYTHON": python_version()}
    files = {ENTRYPOINT: script(ENTRYPOINT, values).encode()}
    files |= {f"{PACKAGE}/{name}": data for name, data in package.items()}
    _clear(out)
    for name, data in files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return sorted(files)


def _clear(out: Path) -> None:
    """OUT new or empty, or holding what this command wrote before (replaced)."""
    if out.exists() and not out.is_dir():
        raise GraderError(f"{out} is a file: pass a new or empty folder")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    names = {p.name for p in out.iterdir()}
    entry = out / ENTRYPOINT
    ours = entry.is_file() and _MARK in entry.read_text(encoding="utf-8", errors="replace")
    if not ours or not names <= {ENTRYPOINT, PACKAGE}:
        raise GraderError(
            f"{out} holds files `labgrade classroom50` did not write ({', '.join(sorted(names))}):"
            " pass a new or empty folder, or the one it wrote before"
        )
    entry.unlink()
    if (out / PACKAGE).exists():
        shutil.rmtree(out / PACKAGE)


if __name__ == "__main__":
    sys.exit(main())
