"""The student repository (`labgrade release OUT`) and checking a student's copy of it
(`labgrade verify REPO`).

OUT holds what a student needs to run `pytest grader` on one lab's notebook, on their machine or
on GitHub Actions / Classroom: grader/ (with that lab alone, its rubric without the checks
marked hidden), student_template/<lab id>/<the lab's notebook>, conftest.py, pyproject.toml
(which names the lab), constraints.txt, the workflow, a README and .labgrade/manifest.json,
the sha256 of every file the grading depends on. Reference solutions, tests, other labs and
hidden checks stay out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.engine.evidence.rubric import Rubric, parse_rubric
from grader.engine.lab import Lab
from grader.errors import GraderError, RubricError
from grader.platforms.distribution import (
    CONSTRAINTS,
    constraints_text,
    package_files,
    pyproject_text,
    python_version,
    student_notebook,
)
from grader.platforms.github import (
    FEEDBACK_DIR,
    GRADED_OS,
    MACOS,
    PYTHON_VERSION_FILE,
    WINDOWS,
    workflow_yaml,
)

MANIFEST = ".labgrade/manifest.json"
WORKFLOW = ".github/workflows/classroom.yml"
# Released files a student may change without changing the grading, whatever the lab.
OWN = frozenset({"README.md", ".gitignore", MANIFEST})
# Files that change what `pytest grader` runs wherever they are added (pytest configuration,
# conftest plugins, interpreter start-up hooks).
INFLUENTIAL = frozenset(
    {"conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "sitecustomize.py"}
)
# Folders a student's clone may hold that the grading never reads.
IGNORED_DIRS = frozenset(
    {".git", ".venv", "venv", "__pycache__", ".ipynb_checkpoints", FEEDBACK_DIR}
)
# A TOML table header alone on its line: [checks.tag] or [[x]], maybe with a comment.
_HEADER = re.compile(r"^\s*\[\[?\s*([\w.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")

GITIGNORE = """.venv/
__pycache__/
*.egg-info/
.ipynb_checkpoints/
mlruns/
mlartifacts/
mlflow.db
feedback/
"""


def student_rubric(rubric: Rubric) -> str:
    """RUBRIC's TOML without the checks marked hidden (their tables and the comments above)."""
    text = rubric.path.read_text(encoding="utf-8")
    hidden = set(rubric.hidden_ids)
    kept: list[str] = []
    pending: list[str] = []  # comments and blank lines: they belong to the next table
    skipping = False
    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line)
        if header:
            table = header.group(1)
            skipping = any(_in_check(table, cid) for cid in hidden)
            kept += [] if skipping else pending
            pending = []
        if not line.strip() or line.lstrip().startswith("#"):
            pending.append(line)
        elif not skipping:
            kept += [*pending, line]
            pending = []
        else:
            pending = []
    result = "".join(kept + ([] if skipping else pending))
    _same_without_hidden(rubric, result)
    return result


def _in_check(table: str, check_id: str) -> bool:
    return table == f"checks.{check_id}" or table.startswith(f"checks.{check_id}.")


def _same_without_hidden(rubric: Rubric, text: str) -> None:
    """Fail closed: the student rubric must be exactly RUBRIC minus its hidden checks."""
    try:
        student = parse_rubric(text, rubric.path)
    except RubricError as err:
        raise GraderError(f"could not leave the hidden checks out of {rubric.path}: {err}") from err
    expected = [c for c in rubric.checks if c.visibility != "hidden"]
    if list(student.checks) != expected or student.title != rubric.title:
        raise GraderError(
            f"could not leave the hidden checks out of {rubric.path} cleanly: keep each"
            " [checks.<id>] table (and its sub-tables) together, one after the other"
        )


def free_files(lab: Lab) -> frozenset[str]:
    """Released files a student may change without changing LAB's grading: their notebook,
    the README, .gitignore and the manifest itself (never hashed)."""
    return OWN | {student_notebook(lab)}


def release_files(lab: Lab, rubric: Rubric, template: Path | None = None) -> dict[str, bytes]:
    """Relative path -> content of LAB's student repository, graded with RUBRIC. TEMPLATE:
    the notebook students start from (default: the lab's template)."""
    if rubric.hidden_ids and len(rubric.hidden_ids) == len(rubric.checks):
        raise GraderError(f"rubric {rubric.path}: every check is hidden, students would get none")
    tool = "Written by `labgrade release`: do not edit (`labgrade verify` checks it)."
    files = package_files(lab, student_rubric(rubric))
    visible = replace(rubric, checks=tuple(c for c in rubric.checks if c.visibility != "hidden"))
    files["conftest.py"] = CONFTEST.encode()
    files["pyproject.toml"] = pyproject_text(tool, lab).encode()
    files[CONSTRAINTS] = constraints_text().encode()
    files[WORKFLOW] = workflow_yaml(visible).encode()
    files[PYTHON_VERSION_FILE] = f"{python_version()}\n".encode()
    readme = student_readme(lab, visible, hidden=bool(rubric.hidden_ids))
    files["README.md"] = readme.encode()
    files[".gitignore"] = GITIGNORE.encode()
    template = template or lab.template / lab.notebook
    if not template.is_file():
        raise GraderError(
            f"student notebook {template} not found: run labgrade from a checkout of the"
            " grader, or pass --template PATH"
        )
    files[student_notebook(lab)] = template.read_bytes()
    files[MANIFEST] = json.dumps(manifest(files, free_files(lab)), indent=2).encode() + b"\n"
    return files


def manifest(files: Mapping[str, bytes], free: frozenset[str]) -> dict[str, Any]:
    """The sha256 of each of FILES but the FREE ones."""
    protected = {
        path: hashlib.sha256(data).hexdigest()
        for path, data in sorted(files.items())
        if path not in free
    }
    return {"version": 1, "sha256": protected}


def release(out: Path, lab: Lab, rubric: Rubric, template: Path | None = None) -> list[str]:
    """Write LAB's student repository into OUT (new or empty); returns the paths written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GraderError(f"{out} exists and is not an empty folder: pass a new or empty one")
    files = release_files(lab, rubric, template)
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return sorted(files)


CONFTEST = '''"""Wiring only: the grader's pytest plugin (options, fixture, score output)."""

pytest_plugins = ["grader.frontends.plugin"]
'''


def student_readme(lab: Lab, rubric: Rubric, hidden: bool) -> str:
    """The release's README.md: LAB's title (as RUBRIC names it), its notebook, how to grade
    it and what each of RUBRIC's checks wants."""
    notebook = student_notebook(lab)
    rows = "".join(
        f"| `{c.id}` | {c.points:g} | {c.step or '-'} | {_cell(lab.describe(c))} |\n"
        for c in rubric.checks
    )
    more = (
        "\nYour instructor's grading also has checks that are not listed here.\n" if hidden else ""
    )
    return f"""# {rubric.title}

Your work goes in `{notebook}`.
The grader runs it top to bottom in a fresh kernel against its own throwaway MLflow server,
then scores what it logged. Keep `mlflow.set_tracking_uri(uri="http://127.0.0.1:8080")` as
the lab says (or set `MLFLOW_TRACKING_URI`): the grader redirects it to its own server.

## Grade your notebook

```sh
python3 -m venv .venv && .venv/bin/pip install -c {CONSTRAINTS} -e .
.venv/bin/pytest grader
```

Use Python {python_version()} (as in `{PYTHON_VERSION_FILE}`: the versions in `{CONSTRAINTS}` were
tested on it).
`pytest grader` grades `{notebook}` (lab `{lab.id}`, as `pyproject.toml` says).
It prints a score table (check, points, verdict, reason) and, for each failing check, what was
found and which lab step to revisit; it exits with 0 only at full marks.
`pytest grader --submission other.ipynb` grades another file. Grading never writes into your
files.

Every push runs the same grading on GitHub Actions (`{WORKFLOW}`), on Linux, macOS and
Windows: the grade is the `{GRADED_OS}` leg's, whose run summary shows the table; each leg's
`feedback-<system>` artifact (`feedback-{GRADED_OS}`, `feedback-{MACOS}`, `feedback-{WINDOWS}`)
holds its `feedback.md`, `result.json` and `junit.xml`.

## What each check wants

| check | points | lab step | passes when |
|---|---|---|---|
{rows}{more}
## Leave the grader alone

Edit only your notebook. `grader/`, `conftest.py`, `pyproject.toml`, `{CONSTRAINTS}`,
`{PYTHON_VERSION_FILE}` and `.github/workflows/` are the grading itself: your instructor checks
them against the released copy (`labgrade verify`), and a changed file is seen.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# --- verify ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    status: str  # "changed", "missing" or "added"
    path: str


def verify(repo: Path, manifest_path: Path | None = None) -> list[Finding]:
    """What differs, in REPO, from the released files the grading depends on."""
    if not repo.is_dir():
        raise GraderError(f"{repo} is not a folder: pass the student repository's folder")
    source = manifest_path or repo / MANIFEST
    if source.is_dir():
        source = source / MANIFEST
    expected = _load_manifest(source)
    findings = []
    for path, digest in sorted(expected.items()):
        target = repo / path
        if not target.is_file():
            findings.append(Finding("missing", path))
        elif hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            findings.append(Finding("changed", path))
    for path in _files(repo):
        if path not in expected and path not in OWN and _influential(path):
            findings.append(Finding("added", path))
    own = repo / MANIFEST
    if manifest_path is not None and own.is_file() and _load_manifest(own) != expected:
        findings.append(Finding("changed", MANIFEST))
    return findings


def _load_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        digests = data["sha256"]
        if data.get("version") != 1 or not isinstance(digests, dict):
            raise ValueError("not a version 1 manifest")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GraderError(
            f"manifest {path}: cannot be read ({err}); pass --manifest with the"
            f" {MANIFEST} that `labgrade release` wrote"
        ) from err
    return {str(k): str(v) for k, v in digests.items()}


def _files(repo: Path) -> Iterator[str]:
    for folder, dirs, names in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)  # never walk a venv
        for name in sorted(names):
            yield (Path(folder) / name).relative_to(repo).as_posix()


def _influential(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        path.startswith(("grader/", ".github/workflows/"))
        or name in INFLUENTIAL
        or name.endswith(".pth")
    )
