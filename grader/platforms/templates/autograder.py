#!/usr/bin/env python3
"""Classroom 50 runs this for every submission: it grades the student's notebook with labgrade.

Written by `labgrade classroom50` from grader/platforms/templates/autograder.py; the grader it
runs is the one in labgrade/ beside it. Classroom 50's runner.py runs it with the runner's
Python, in the student's checkout, CLASSROOM50_BUNDLE_DIR naming this folder. It uses the
standard library only: nothing is installed yet when it starts.

It finds an interpreter with the grader (LABGRADE_PYTHON, or a venv it makes in the runner's
temporary folder with `pip install -c constraints.txt`), then has it grade the checkout
(`python -m grader.platforms.classroom50`), which writes result.json, release-body.md and the
status/summary outputs. Exit 0 once grading ran, whatever the score; otherwise non-zero, with
the reason as an error annotation, and the runner records the submission as an error.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB = "@LAB@"
TIMEOUT = "@TIMEOUT@"  # seconds for running the notebook
# The Python minor version the pins in labgrade/constraints.txt were resolved on.
PYTHON = "@PYTHON@"
BUNDLE = Path(os.environ.get("CLASSROOM50_BUNDLE_DIR") or Path(__file__).resolve().parent)
PACKAGE = BUNDLE / "labgrade"  # pyproject.toml, constraints.txt and grader/
PYTHON_VAR = "LABGRADE_PYTHON"  # an interpreter that already has this bundle's grader
VENV_VAR = "LABGRADE_VENV"  # where to install it (default: the runner's temporary folder)
OURS = ".labgrade-venv"  # in a venv folder this script made, so it may replace it
READY = ".labgrade-bundle"  # in the venv: the digest of the bundle it was installed from


class Failure(Exception):
    """The grader could not be made ready: not the student's doing."""


def main() -> int:
    checkout = Path.cwd()
    try:
        python = grader_python()
    except Failure as err:
        annotate(str(err))
        return 1
    command = [python, "-m", "grader.platforms.classroom50", "--checkout", str(checkout)]
    command += ["--lab", LAB, "--timeout", TIMEOUT]
    # From the bundle's folder, never the checkout: a student's grader/ is not imported.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        return subprocess.run(command, cwd=PACKAGE, env=env, check=False).returncode
    except OSError as err:
        annotate(f"could not run the grader with {python} ({PYTHON_VAR} or the venv): {err}")
        return 1


def grader_python() -> str:
    """An interpreter that imports the bundle's grader and its pinned dependencies."""
    given = os.environ.get(PYTHON_VAR)
    if given:
        return given
    scratch = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
    venv = Path(os.environ.get(VENV_VAR) or scratch / f"labgrade-{LAB}")
    python = venv / "bin" / "python"
    digest = bundle_digest()
    ready = venv / READY
    if python.exists() and ready.is_file() and ready.read_text(encoding="utf-8") == digest:
        print(f"labgrade: the grader is installed in {venv} already", flush=True)
        return str(python)
    base = base_python()
    started = time.monotonic()
    print(f"labgrade: installing the grader and its pinned packages into {venv}", flush=True)
    fresh_folder(venv)
    with tempfile.TemporaryDirectory(prefix="labgrade-source-") as tmp:
        # Every command runs outside the checkout, so none imports a student's module.
        step([base, "-m", "venv", str(venv)], tmp, "creating a virtual environment")
        source = Path(tmp) / "labgrade"
        shutil.copytree(PACKAGE, source)  # pip builds in the source folder: not the bundle's
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        step([*pip, "-c", str(source / "constraints.txt"), str(source)], tmp, "pip install")
        check = "import grader.engine.grading, grader.platforms.classroom50"
        step([str(python), "-c", check], tmp, "importing the installed grader")
    ready.write_text(digest, encoding="utf-8")
    print(f"labgrade: installed in {time.monotonic() - started:.0f} s", flush=True)
    return str(python)


def fresh_folder(venv: Path) -> None:
    """VENV empty and marked as this script's, so a later run may replace it."""
    if venv.exists() and any(venv.iterdir()):
        if not (venv / OURS).is_file():
            raise Failure(
                f"{venv} exists and is not a venv this script made: set {VENV_VAR} to a new"
                " folder, or remove that one"
            )
        shutil.rmtree(venv)
    venv.mkdir(parents=True, exist_ok=True)
    (venv / OURS).write_text("made by labgrade's Classroom 50 autograder.py\n", encoding="utf-8")


def base_python() -> str:
    """A Python of the version the pins were resolved on: this one, or one on PATH."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running == PYTHON:
        return sys.executable
    found = shutil.which(f"python{PYTHON}")
    if found:
        return found
    raise Failure(
        f"the grader's pinned packages (labgrade/constraints.txt) were tested on Python"
        f" {PYTHON}, but the runner has Python {running} ({sys.executable}) and no"
        f" python{PYTHON} on PATH: set the assignment's runtime to"
        f' {{"python": "{PYTHON}"}} (`gh teacher assignment add ... --runtime FILE`,'
        f" or Advanced settings in the assignment's web form)"
    )


def bundle_digest() -> str:
    """sha256 of the bundle's grader files: a venv installed from other files is rebuilt."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def step(command: list[str], cwd: str, what: str) -> None:
    try:
        code = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, check=False).returncode
    except OSError as err:
        raise Failure(f"{what} failed: {' '.join(command[:3])}: {err}") from err
    if code != 0:
        raise Failure(f"{what} failed (exit code {code}; its output is above): {' '.join(command)}")


def annotate(message: str) -> None:
    """An error annotation on the workflow run (GitHub's workflow command syntax)."""
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=labgrade::{text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
