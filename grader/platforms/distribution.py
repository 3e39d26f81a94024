"""The grader as shipped elsewhere: its files, its pinned environment, a pyproject for it.

Shared by the Gradescope bundle (`labgrade gradescope`), the Classroom 50 bundle (`labgrade
classroom50`) and the student repository (`labgrade release`), so all carry the same grader,
installed the same way; the bundles' scripts are written from grader/platforms/templates/.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from grader.engine.kernel.submission import candidates
from grader.engine.lab import Lab
from grader.errors import GraderError

PROJECT = "mlflow-lab-grader"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
LABS_DIR = PACKAGE_DIR / "labs"
# Where a released repository keeps the notebook students edit (lab.notebook).
STUDENT_FOLDER = "student_template"
CONSTRAINTS = "constraints.txt"
# What a package copy holds: the code and its lab's data (rubric, notebooks, notes), and the
# files the Gradescope bundle's scripts are written from, whatever their names.
PACKAGE_SUFFIXES = (".py", ".toml", ".ipynb", ".md")
SCRIPT_TEMPLATES = PACKAGE_DIR / "platforms" / "templates"
# Where a lab of one folder keeps its notebooks (grader.engine.lab.Lab.reference): not shipped.
NOTEBOOK_FOLDERS = ("reference", "template", "course")
# What an installed grader holds besides its modules: the repository's pyproject.toml says
# the same (tests/platforms/test_distribution.py), and a bundle's pyproject is written from it.
PACKAGE_DATA = {
    "*": ("*.toml", "*.ipynb", "*.md"),
    "grader.labs": ("*/data/*",),  # a lab's data, whatever its names (the data lab's CSV)
    "grader.platforms": ("templates/*",),  # the bundles' scripts are written from these
    "grader.engine.kernel": ("children/sitecustomize.py",),  # the submission's children's start
}
_PLACEHOLDER = re.compile(r"@[A-Z]+@")


def python_version() -> str:
    """major.minor of the running interpreter: the one the pins were resolved on."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def student_notebook(lab: Lab) -> str:
    """Where a released repository (and the installed grader's default) has LAB's notebook."""
    return f"{STUDENT_FOLDER}/{lab.id}/{lab.notebook}"  # where Lab.template has it


def find_notebook(folder: Path, notebook: str) -> Path:
    """The file named NOTEBOOK wherever it is under FOLDER (an upload, a student's repository
    nests it), if there is exactly one; else FOLDER, for the grader to pick from or refuse."""
    named = _named(folder, notebook)
    return named[0] if len(named) == 1 else folder


def upload_problem(folder: Path, notebook: str, fix: Fixes) -> str | None:
    """Why FOLDER (an upload, a checkout) cannot be graded as it is, with the fix in the
    platform's terms (FIX), or None when find_notebook finds what to grade. Said before the
    grading, where the grader's own message would tell a student to pass a path."""
    named = _named(folder, notebook)
    if len(named) == 1:
        return None
    if named:
        listed = ", ".join(p.relative_to(folder).as_posix() for p in named)
        return f"holds {len(named)} files named {notebook} ({listed}): {fix.several}"
    found = candidates(folder)
    if len(found) == 1:
        return None  # one notebook under another name: graded, as a folder submission is
    if not found:
        return f"holds no {notebook}: {fix.none}"
    listed = ", ".join(p.name for p in found)
    return f"holds {len(found)} notebooks or scripts ({listed}) and no {notebook}: {fix.several}"


@dataclass(frozen=True)
class Fixes:
    """What a platform's student does about an upload the grader cannot pick from."""

    none: str  # no notebook at all
    several: str  # more than one to choose from


def gradescope_fixes(notebook: str) -> Fixes:
    return Fixes(
        f"upload {notebook} (your notebook, under that name) and submit again",
        f"upload only {notebook} and submit again",
    )


def repository_fixes(notebook: str) -> Fixes:
    return Fixes(
        f"commit your notebook as {notebook} and push",
        f"keep your work in {notebook} alone (remove the other copies) and push",
    )


def _named(folder: Path, notebook: str) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob(notebook))
        if not {".ipynb_checkpoints", ".git"} & set(p.relative_to(folder).parts)
    ]


def script(name: str, values: dict[str, str]) -> str:
    """A bundle's script NAME: its template with each @KEY@ replaced by VALUES[KEY]."""
    template = importlib.resources.files("grader.platforms") / "templates" / name
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise GraderError(f"grader/platforms/templates/{name}: no value for {', '.join(left)}")
    return text


def package_files(lab: Lab, rubric_text: str) -> dict[str, bytes]:
    """grader/ as relative path -> content, for LAB: every subpackage, but of grader/labs/ only
    LAB's folder (installed or an instructor's own), whole but for its notebooks, and what labs
    share; RUBRIC_TEXT is LAB's rubric.

    Another lab's folder stays out: its solution, its hidden checks and its expected values
    are not this lab's students' to read. So does every notebook of the lab's folder (a lab of
    one folder keeps its solution in reference/): the bundle carries no solution.
    """
    files = {
        f"grader/{path.relative_to(PACKAGE_DIR).as_posix()}": path.read_bytes()
        for path in sorted(PACKAGE_DIR.rglob("*"))
        if path.is_file() and _shipped(path)
    }
    for path in sorted(lab.folder.rglob("*")):
        inside = path.relative_to(lab.folder)
        if path.is_file() and _lab_file(inside):
            files[f"grader/labs/{lab.id}/{inside.as_posix()}"] = path.read_bytes()
    files[f"grader/labs/{lab.id}/rubric.toml"] = rubric_text.encode("utf-8")
    return files


def _shipped(path: Path) -> bool:
    if "__pycache__" in path.parts:
        return False
    if path.suffix not in PACKAGE_SUFFIXES and SCRIPT_TEMPLATES not in path.parents:
        return False
    if LABS_DIR in path.parents and path.parent != LABS_DIR:
        # What labs share (grader/labs/_compat); a lab's own folder is package_files' to add.
        return path.relative_to(LABS_DIR).parts[0].startswith("_")
    return True


def _lab_file(inside: Path) -> bool:
    """Whether a file of the lab's folder, at INSIDE, ships: its code, rubric, notes and data
    (whatever their names: the data lab's CSV), never a notebook or a cache."""
    if "__pycache__" in inside.parts or inside.suffix in (".pyc", ".ipynb"):
        return False
    return inside.parts[0] not in NOTEBOOK_FOLDERS


def constraints_text() -> str:
    """pip constraints pinning every distribution of this environment, the grader excepted.

    Constraints, not requirements: `pip install -c constraints.txt .` installs only what the
    grader needs, each at the version it was tested with here. Distributions installed from a
    local folder or a VCS have no index version to pin and are left out.
    """
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonicalize_name(name) == PROJECT or _local(dist):
            continue
        pins.setdefault(canonicalize_name(name), f"{name}=={dist.version}")
    header = [
        f"# Versions {PROJECT} {_own_version()} was run with: Python {python_version()}"
        f" on {platform.system()} {platform.machine()}.",
        "# Use: pip install -c constraints.txt .  (written by labgrade; regenerate, don't edit)",
    ]
    return "\n".join(header + [pins[key] for key in sorted(pins)]) + "\n"


def pyproject_text(tool_line: str, lab: Lab) -> str:
    """A pyproject.toml that installs the grader with its runtime dependencies only, and
    makes `pytest grader` grade LAB's notebook with LAB's rubric (the installed one)."""
    metadata = _own_metadata()
    deps = [req for req in metadata.get_all("Requires-Dist") or [] if not _is_extra(req)]
    dep_lines = "".join(f"    {json.dumps(req)},\n" for req in deps)
    package_data = "\n".join(
        f"{json.dumps(k)} = {json.dumps(list(v))}" for k, v in PACKAGE_DATA.items()
    )
    return f"""# {tool_line}
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{PROJECT}"
version = "{metadata["Version"]}"
requires-python = {json.dumps(metadata["Requires-Python"] or ">=3.10")}
dependencies = [
{dep_lines}]

[project.scripts]
labgrade = "grader.frontends.cli:main"

# Registered before pytest parses the command line (`--submission DIR` is never taken for a
# test path); conftest.py names the same plugin for a copy that is not installed.
[project.entry-points.pytest11]
"grader.frontends.plugin" = "grader.frontends.plugin"

[tool.setuptools.packages.find]
include = ["grader*"]

[tool.setuptools.package-data]
{package_data}

[tool.pytest.ini_options]
testpaths = ["grader"]
addopts = "-p no:cacheprovider"
# The lab graded and its notebook; its rubric is the lab's own, grader/labs/{lab.id}/rubric.toml.
grade_lab = "{lab.id}"
grade_submission = "{student_notebook(lab)}"
grade_timeout = "300"
"""


def _own_metadata() -> importlib.metadata.PackageMetadata:
    try:
        return importlib.metadata.metadata(PROJECT)
    except importlib.metadata.PackageNotFoundError as err:
        raise GraderError(
            f"{PROJECT} is not installed in {sys.prefix}, so its dependencies are unknown:"
            " install it first (pip install -e .)"
        ) from err


def _own_version() -> str:
    return str(_own_metadata()["Version"])


def _is_extra(requirement: str) -> bool:
    try:
        marker = Requirement(requirement).marker
    except InvalidRequirement as err:
        raise GraderError(f"{PROJECT}'s metadata has a bad requirement: {err}") from err
    return marker is not None and "extra" in str(marker)


def _local(dist: importlib.metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    origin = json.loads(text)
    return "dir_info" in origin or "vcs_info" in origin
