"""Gradescope: the autograder bundle (`labgrade gradescope OUT.zip`) and what runs inside it.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ . The zip holds
`setup.sh` (run once while Gradescope builds the image) and `run_autograder` (run for every
submission, working directory /autograder) at its root; Gradescope unpacks it into
/autograder/source, puts the upload in /autograder/submission and reads
/autograder/results/results.json.

`run_autograder` grades in a subprocess (`python -m grader.frontends.cli grade --grade-json`) and
converts that JSON to results.json here, in a separate step: whatever the submission prints
or writes while it runs, results.json is written last, by this process, from the grader's own
JSON. When anything fails, results.json still says score 0 and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zipfile
from pathlib import Path
from typing import Any

from grader.engine.results import GradeResult
from grader.engine.rubric import Rubric, load_rubric
from grader.errors import GraderError
from grader.platforms.distribution import (
    CONSTRAINTS,
    STUDENT_NOTEBOOK,
    constraints_text,
    package_files,
    pyproject_text,
    python_version,
)
from grader.sandbox.procs import reap_tagged

ROOT_VAR = "AUTOGRADER_ROOT"  # /autograder on Gradescope; elsewhere for testing the bundle
PYTHON_VAR = "LABGRADE_PYTHON"  # the interpreter run_autograder uses (default: setup.sh's venv)
JOB_VAR = "LABGRADE_GRADESCOPE_JOB"
# Seconds a grading may take beyond the notebook's own limit: server, kernel, probe, teardown.
MARGIN = 300.0
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
    return "\n".join(lines)


# --- run_autograder ---------------------------------------------------------------------


def autograde(root: Path, timeout: float, notebook: str) -> dict[str, Any]:
    """Grade ROOT/submission and return results.json's content (never raises for a grading)."""
    started = time.monotonic()
    rubric: Rubric | None = None
    try:
        rubric = load_rubric()
        result = _grade_in_subprocess(_pick(root / "submission", notebook), timeout)
        return results_json(result, rubric, time.monotonic() - started)
    except Exception as err:  # every failure becomes the reason in results.json, and is logged
        traceback.print_exc(file=sys.stdout)  # Gradescope shows it to the instructor only
        reason = str(err) if isinstance(err, GraderError) else f"{type(err).__name__}: {err}"
        return failure_json(reason, rubric, time.monotonic() - started)


def _pick(folder: Path, notebook: str) -> Path:
    """The lab's notebook wherever it is in the upload (a repo upload nests it), else FOLDER."""
    named = [p for p in sorted(folder.rglob(notebook)) if ".ipynb_checkpoints" not in p.parts]
    return named[0] if len(named) == 1 else folder


def _grade_in_subprocess(submission: Path, timeout: float) -> GradeResult:
    work = Path(tempfile.mkdtemp(prefix="labgrade-gradescope-"))
    try:
        json_path, log_path = work / "grade.json", work / "grader.log"
        code = _run_grader(submission, json_path, log_path, timeout)
        log = log_path.read_text(encoding="utf-8", errors="replace")
        sys.stdout.write(log)  # for the instructor, in Gradescope's stdout view
        if not json_path.exists():
            tail = " | ".join(log.strip().splitlines()[-3:])
            raise GraderError(f"the grader failed (exit code {code}): {tail}")
        return GradeResult.from_json(json.loads(json_path.read_text(encoding="utf-8")))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_grader(submission: Path, json_path: Path, log_path: Path, timeout: float) -> int:
    token = uuid.uuid4().hex
    cmd = [sys.executable, "-m", "grader.frontends.cli", "grade", str(submission)]
    cmd += ["--grade-json", str(json_path), "--timeout", f"{timeout:g}"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=json_path.parent,
            env={**os.environ, JOB_VAR: token},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout + MARGIN)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise GraderError(
                f"grading took longer than {timeout + MARGIN:g} s and was stopped"
            ) from None
        finally:
            reap_tagged(JOB_VAR, token)  # nothing it started outlives it


def write_results(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: Gradescope never reads half a file


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.platforms.gradescope`: what run_autograder calls."""
    parser = argparse.ArgumentParser(prog="python -m grader.platforms.gradescope")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VAR, "/autograder")))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--notebook", default=STUDENT_NOTEBOOK)
    args = parser.parse_args(argv)
    data = autograde(args.root, args.timeout, args.notebook)
    write_results(args.root / "results" / "results.json", data)
    print(f"labgrade: wrote results.json, score {data['score']:g}")
    return 0


# --- the bundle --------------------------------------------------------------------------


def build_bundle(out: Path, rubric: Rubric, timeout: float) -> list[str]:
    """Write the Gradescope autograder zip; returns the names it holds."""
    tool = f"Written by `labgrade gradescope` ({time.strftime('%Y-%m-%d')})."
    files = package_files(rubric.path.read_text(encoding="utf-8"))
    files["pyproject.toml"] = pyproject_text(tool).encode()
    files[CONSTRAINTS] = constraints_text().encode()
    scripts = {
        "setup.sh": SETUP_SH.replace("@PYTHON@", python_version()),
        "run_autograder": RUN_AUTOGRADER.replace("@TIMEOUT@", f"{timeout:g}").replace(
            "@NOTEBOOK@", STUDENT_NOTEBOOK
        ),
    }
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


# setup.sh: the pins in constraints.txt were resolved on the instructor's Python, so the same
# minor version is installed (Ubuntu images carry python3.X packages in apt) rather than
# whatever python3 the image has, where a pinned wheel may not exist.
SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# It installs the grader, with the versions it was tested with (constraints.txt), in a venv.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON_VERSION="@PYTHON@"

PY="$(command -v "python$PYTHON_VERSION" || true)"
if [ -z "$PY" ] && command -v apt-get >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
    "python$PYTHON_VERSION" "python$PYTHON_VERSION-venv"
  PY="$(command -v "python$PYTHON_VERSION" || true)"
fi
if [ -z "$PY" ]; then
  echo "setup.sh: Python $PYTHON_VERSION is not available on this image. Pick a Gradescope" \\
       "base image that has it, or rebuild the bundle with labgrade under the image's Python." >&2
  exit 1
fi

"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -c "$SOURCE/constraints.txt" "$SOURCE"
# Fail the image build now rather than at the first submission.
"$ROOT/venv/bin/python" -c "import grader.engine.grading, grader.platforms.gradescope"
echo "setup.sh: grader installed in $ROOT/venv"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. It always leaves a valid results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${LABGRADE_PYTHON:-$ROOT/venv/bin/python}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"

cd "$ROOT/source" && "$PY" -m grader.platforms.gradescope --root "$ROOT" --timeout @TIMEOUT@ \\
  --notebook "@NOTEBOOK@"
code=$?
if [ "$code" -ne 0 ] || [ ! -s "$RESULTS" ]; then
  # The grader could not even start (setup failed, Python missing): score 0 with the reason.
  printf '{"score": 0, "output": "%s", "output_format": "text", "tests": []}\\n' \\
    "The autograder failed before grading (exit code $code); this submission was not graded." \\
    > "$RESULTS"
fi
exit 0
"""


if __name__ == "__main__":
    sys.exit(main())
