"""Gradescope: the autograder bundle (`labgrade gradescope OUT.zip`) and what runs inside it.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ . The zip holds
`setup.sh` (run once while Gradescope builds the image) and `run_autograder` (run for every
submission, working directory /autograder) at its root; Gradescope unpacks it into
/autograder/source, puts the upload in /autograder/submission and reads
/autograder/results/results.json.

The bundle is for one lab (`--lab ID`): its grader/ holds that lab with the instructor's
rubric at grader/labs/<id>/rubric.toml, and its scripts are written from the templates in
grader/platforms/templates/. `run_autograder` grades in a subprocess (`labgrade grade
--grade-json`, run by grader.course.worker as a batch runs it) and converts that JSON to
results.json here, in a separate step: whatever the submission prints or writes while it
runs, results.json is written last, by this process, from the grader's own JSON. When
anything fails, results.json still says score 0 and why.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from grader import labs
from grader.course import worker
from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Lab
from grader.engine.output.results import GradeResult
from grader.errors import GraderError, InvalidSubmission
from grader.files import write_json_atomic
from grader.platforms.distribution import (
    CONSTRAINTS,
    constraints_text,
    find_notebook,
    gradescope_fixes,
    package_files,
    pyproject_text,
    script,
    upload_problem,
)
from grader.platforms.uv_release import python_release, uv_version

ROOT_VAR = "AUTOGRADER_ROOT"  # /autograder on Gradescope; elsewhere for testing the bundle
PYTHON_VAR = "LABGRADE_PYTHON"  # the interpreter run_autograder uses (default: setup.sh's venv)
# The bundle's scripts, at its root, each written from grader/platforms/templates/<name>.
SCRIPTS = ("setup.sh", "run_autograder")
_EXECUTABLE = 0o100755 << 16  # zip external_attr of a regular file with mode 755


def results_json(result: GradeResult, rubric: Rubric, seconds: float) -> dict[str, Any]:
    """The results.json view of a grading: one Gradescope test per rubric check."""
    tests = [
        {
            "name": check.title,
            "number": str(number),
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": check.message,
            "output_format": "text",
            "tags": [check.id],
            "visibility": _visibility(rubric, check.id),
        }
        for number, check in enumerate(result.checks, 1)
    ]
    return _results(result.score, seconds, _overview(result), tests)


def failure_json(reason: str, rubric: Rubric | None, seconds: float) -> dict[str, Any]:
    """Score 0 with the reason, when the submission could not be graded at all."""
    tests = [
        {
            "name": spec.title,
            "number": str(number),
            "score": 0.0,
            "max_score": spec.points,
            "status": "failed",
            "output": f"not graded: {reason}",
            "output_format": "text",
            "tags": [spec.id],
            "visibility": spec.visibility,
        }
        for number, spec in enumerate(rubric.checks if rubric else (), 1)
    ]
    overview = f"The autograder could not grade this submission: {reason}"
    return _results(0.0, seconds, overview, tests)


def _results(
    score: float, seconds: float, overview: str, tests: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "score": score,
        "execution_time": round(seconds),
        "output": overview,
        "output_format": "text",
        # The grader's log can hold what a submission printed: for the instructor only.
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _visibility(rubric: Rubric, check_id: str) -> str:
    try:
        return rubric.check(check_id).visibility
    except KeyError:
        raise GraderError(
            f"the grading reported check {check_id!r}, which the bundle's rubric"
            f" {rubric.path} does not have: rebuild the bundle with `labgrade gradescope`"
        ) from None


def _overview(result: GradeResult) -> str:
    """Top-level output: only what concerns the whole run (a hidden check's verdict stays out)."""
    ex = result.execution
    lines = [f"Graded {Path(result.submission).name}: execution {ex.status} in {ex.seconds:.1f} s."]
    if ex.error:
        lines.append(ex.error)
    if result.notes:  # what explains the grade: the student's to read, not the hidden log's
        lines += ["", "Notes on this grading:", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines)


# --- run_autograder ---------------------------------------------------------------------


def autograde(
    root: Path, timeout: float, lab_id: str, notebook: str | None = None
) -> dict[str, Any]:
    """Grade ROOT/submission for lab LAB_ID with the lab's rubric as bundled, and return
    results.json's content (never raises for a grading). NOTEBOOK: the file name looked for
    in the upload (default: the lab's notebook)."""
    started = time.monotonic()
    rubric: Rubric | None = None
    try:
        lab = labs.load(lab_id)
        rubric = lab.rubric()
        name = notebook or lab.notebook
        problem = upload_problem(root / "submission", name, gradescope_fixes(name))
        if problem is not None:
            raise InvalidSubmission("your upload", problem)
        submission = find_notebook(root / "submission", name)
        result = _grade_in_subprocess(submission, lab, rubric, timeout)
        return results_json(result, rubric, time.monotonic() - started)
    except Exception as err:  # every failure becomes the reason in results.json, and is logged
        traceback.print_exc(file=sys.stdout)  # Gradescope shows it to the instructor only
        reason = str(err) if isinstance(err, GraderError) else f"{type(err).__name__}: {err}"
        return failure_json(reason, rubric, time.monotonic() - started)


def _grade_in_subprocess(submission: Path, lab: Lab, rubric: Rubric, timeout: float) -> GradeResult:
    # The log goes to Gradescope's stdout view, which the instructor alone sees.
    return worker.grade_isolated(
        submission, labs.argument(lab), rubric.path, timeout, echo=sys.stdout
    )


def write_results(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)  # Gradescope never reads half a file


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.platforms.gradescope`: what run_autograder calls."""
    parser = argparse.ArgumentParser(prog="python -m grader.platforms.gradescope")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VAR, "/autograder")))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--lab", default=labs.DEFAULT, help="the lab the bundle grades")
    parser.add_argument("--notebook", help="the file looked for in the upload (default: the lab's)")
    args = parser.parse_args(argv)
    data = autograde(args.root, args.timeout, args.lab, args.notebook)
    write_results(args.root / "results" / "results.json", data)
    print(f"labgrade: wrote results.json, score {data['score']:g}")
    return 0


# --- the bundle --------------------------------------------------------------------------


def build_bundle(out: Path, lab: Lab, rubric: Rubric, timeout: float) -> list[str]:
    """Write the Gradescope autograder zip for LAB graded with RUBRIC; returns its names."""
    tool = f"Written by `labgrade gradescope --lab {lab.id}` ({time.strftime('%Y-%m-%d')})."
    files = package_files(lab, rubric.path.read_text(encoding="utf-8"))
    files["pyproject.toml"] = pyproject_text(tool, lab).encode()
    files[CONSTRAINTS] = constraints_text().encode()
    values = {
        "PYTHON": python_release(),
        "UV": uv_version(),
        "LAB": lab.id,
        "TIMEOUT": f"{timeout:g}",
    }
    scripts = {name: script(name, values) for name in SCRIPTS}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = _EXECUTABLE  # Gradescope runs both directly
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        for name, data in sorted(files.items()):
            bundle.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    tmp.replace(out)
    return [*scripts, *sorted(files)]


if __name__ == "__main__":
    sys.exit(main())
