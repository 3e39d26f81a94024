"""`labgrade gradescope`: the bundle, and its run_autograder on a fake /autograder tree."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
import pytest

from grader import labs
from grader.engine.lab import Lab
from grader.errors import GraderError
from grader.platforms import gradescope
from grader.platforms.gradescope import build_bundle
from grader.sandbox.sandbox import full_unavailable
from tests.helpers import TOKEN_VAR, TRACKING, describe, processes_with_token, run_labgrade
from tests.platform_formats import GRADESCOPE_RESULTS

STUDENT_NOTEBOOK = TRACKING.notebook
REFERENCE = TRACKING.reference / STUDENT_NOTEBOOK
BUNDLED_RUBRIC = "grader/labs/tracking/rubric.toml"


@dataclass(frozen=True)
class Autograded:
    root: Path
    code: int
    stdout: str
    results: dict[str, Any]
    leftovers: list[str]

    def test(self, check_id: str) -> dict[str, Any]:
        return next(t for t in self.results["tests"] if t["tags"] == [check_id])


@pytest.fixture(scope="module")
def rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracking lab's rubric with one check hidden and one shown after publishing."""
    text = TRACKING.rubric_path.read_text()
    text = text.replace("[checks.tag]\n", '[checks.tag]\nvisibility = "hidden"\n')
    text = text.replace("[checks.metric]\n", '[checks.metric]\nvisibility = "after_published"\n')
    path = tmp_path_factory.mktemp("rubric") / "rubric.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, rubric: Path) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    proc = run_labgrade("gradescope", str(out), "--lab", "tracking", "--rubric", str(rubric))
    assert proc.returncode == 0, proc.stderr
    return out


Autograde = Callable[..., Autograded]


@pytest.fixture(scope="module")
def autograde(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Autograde:
    """Run the bundle's run_autograder as Gradescope does, on a fake /autograder tree."""
    cache: dict[str, Autograded] = {}

    def run(name: str, submission: Callable[[Path], dict[str, bytes]], **env: str) -> Autograded:
        """SUBMISSION: the fake /autograder root -> the uploaded files."""
        if name in cache:
            return cache[name]
        root = tmp_path_factory.mktemp(f"autograder-{name}")
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(root / "source")
        for member in ("setup.sh", "run_autograder"):  # zipfile drops the modes: restore them
            (root / "source" / member).chmod(0o755)
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        for rel, data in submission(root).items():
            (root / "submission" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "submission" / rel).write_bytes(data)
        (root / "results").mkdir()
        token = uuid.uuid4().hex
        proc = subprocess.run(
            [str(root / "run_autograder")],
            cwd=root,
            env={
                **os.environ,
                "AUTOGRADER_ROOT": str(root),
                "LABGRADE_PYTHON": sys.executable,  # setup.sh's venv stands in for this one
                TOKEN_VAR: token,
                **env,
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        leftovers = describe(processes_with_token(token))
        results = json.loads((root / "results" / "results.json").read_text())
        output = proc.stdout + proc.stderr
        cache[name] = Autograded(root, proc.returncode, output, results, leftovers)
        return cache[name]

    return run


def _good(root: Path) -> dict[str, bytes]:
    return {STUDENT_NOTEBOOK: REFERENCE.read_bytes()}


def _broken(root: Path) -> dict[str, bytes]:
    """A notebook that prints JSON-like noise to every stream it can reach, forges its run's
    results.json (and a marker, to show it ran), then raises before logging anything. It sits
    in a folder, as when students submit a repository."""
    nb = nbformat.read(REFERENCE, as_version=4)
    forge = f"""import os, sys
forged = '{{"score": 1000, "tests": []}}'
print(forged + '}}{{,')
sys.stderr.write(forged)
os.write(1, forged.encode())
os.write(2, b'"}}]')
wrote = []
for path in ({str(root / "results" / "results.json")!r}, {str(root / "forged.json")!r}):
    try:
        open(path, "w").write(forged)
        wrote.append(path)
    except OSError:
        pass  # confined: the grader's folders are out of its reach
raise RuntimeError(f"broken on purpose after writing {{len(wrote)}} forged files")"""
    nb.cells.insert(2, nbformat.v4.new_code_cell(forge))
    return {f"repo/student_template/{STUDENT_NOTEBOOK}": nbformat.writes(nb).encode()}


def test_bundle_holds_the_scripts_at_its_root_and_the_pinned_grader(bundle: Path) -> None:
    import mlflow

    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        constraints = archive.read("constraints.txt").decode()
        rubric = archive.read(BUNDLED_RUBRIC).decode()
        setup = archive.read("setup.sh").decode()
        run_autograder = archive.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "constraints.txt"} <= names
    assert {
        "grader/frontends/plugin.py",
        "grader/engine/grading.py",
        "grader/course/worker.py",
        "grader/platforms/gradescope.py",
        "grader/labs/tracking/checks.py",
    } <= names
    assert "grader/rubric.toml" not in names  # the lab's rubric is where the lab reads it
    assert not any(n.startswith(("reference/", "tests/", "student_template/")) for n in names)
    assert '--lab "tracking"' in run_autograder
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR, script
    assert f"mlflow=={mlflow.__version__}" in constraints.splitlines()
    pins = [line for line in constraints.splitlines() if not line.startswith("#")]
    assert not [p for p in pins if p.startswith("mlflow-lab-grader")]  # it comes from the bundle
    assert 'visibility = "hidden"' in rubric  # the instructor's rubric, not the default one
    assert f'PYTHON_VERSION="{sys.version_info.major}.{sys.version_info.minor}"' in setup
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(bundle) as archive:
            text = archive.read(script).decode()
        syntax = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert syntax.returncode == 0, syntax.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_good_submission_gets_full_marks_in_the_documented_format(autograde: Autograde) -> None:
    run = autograde("good", _good)
    jsonschema.validate(run.results, GRADESCOPE_RESULTS)
    assert run.code == 0
    assert run.results["score"] == 100
    assert all(t["status"] == "passed" for t in run.results["tests"])
    assert sum(t["max_score"] for t in run.results["tests"]) == 100
    assert run.results["execution_time"] >= 1
    assert run.leftovers == []


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_visibility_comes_from_the_rubric(autograde: Autograde) -> None:
    run = autograde("good", _good)
    assert run.test("tag")["visibility"] == "hidden"
    assert run.test("metric")["visibility"] == "after_published"
    assert run.test("experiment")["visibility"] == "visible"
    # A hidden check's verdict appears only in its own (hidden) test, not the overview.
    assert "Training Info" not in run.results["output"]


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_broken_submission_cannot_corrupt_or_forge_results(autograde: Autograde) -> None:
    run = autograde("broken", _broken)
    # Where it is confined it cannot even write beside the results; elsewhere it writes,
    # and it still does not count.
    assert (run.root / "forged.json").exists() == (full_unavailable() is not None)
    jsonschema.validate(run.results, GRADESCOPE_RESULTS)
    assert run.code == 0
    assert run.results["score"] == 0
    assert "broken on purpose" in run.results["output"]
    assert len(run.results["tests"]) == 7
    assert all(t["status"] == "failed" for t in run.results["tests"])
    assert run.leftovers == []


def test_grader_crash_still_writes_score_zero_and_the_reason(autograde: Autograde) -> None:
    # No interpreter where setup.sh would have put one: run_autograder's own fallback.
    run = autograde("no-python", _good, LABGRADE_PYTHON="/nonexistent/python")
    jsonschema.validate(run.results, GRADESCOPE_RESULTS)
    assert run.code == 0
    assert run.results["score"] == 0
    assert "not graded" in run.results["output"]


def test_unreadable_rubric_in_the_bundle_gives_score_zero_and_the_reason(
    bundle: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"[checks.tag\n" if info.filename == BUNDLED_RUBRIC else data)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(broken) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / STUDENT_NOTEBOOK).write_bytes(REFERENCE.read_bytes())
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        cwd=root,
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "LABGRADE_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    assert proc.returncode == 0
    assert results["score"] == 0
    assert "not valid TOML" in results["output"]
    assert "Traceback" in proc.stdout  # the instructor's debugging view has the details


@pytest.fixture(scope="module", params=labs.ids())
def lab_bundle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Lab, Path]:
    """Each installed lab's bundle, with its own rubric and a timeout of 123 s."""
    lab = labs.load(request.param)
    out = tmp_path_factory.mktemp(f"bundle-{lab.id}") / "autograder.zip"
    names = build_bundle(out, lab, lab.rubric(), 123)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(names)
    return lab, out


def test_each_labs_bundle_carries_that_lab_alone_with_its_rubric(
    lab_bundle: tuple[Lab, Path],
) -> None:
    lab, bundle = lab_bundle
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        rubric = archive.read(f"grader/labs/{lab.id}/rubric.toml").decode()
        pyproject = archive.read("pyproject.toml").decode()
    assert rubric == lab.rubric_path.read_text()
    in_labs = {n.split("/")[2] for n in names if n.startswith("grader/labs/") and n.count("/") > 2}
    assert in_labs == {lab.id}  # no other lab's checks, rubric or solution
    assert not [n for n in names if lab.notebook in n]  # neither its solution nor its template
    assert f'grade_lab = "{lab.id}"' in pyproject
    assert f'grade_submission = "student_template/{lab.notebook}"' in pyproject
    assert "grade_rubric" not in pyproject  # the lab's own rubric, as installed, is the default


def test_each_labs_bundle_scripts_name_the_lab_and_are_valid_bash(
    lab_bundle: tuple[Lab, Path],
) -> None:
    lab, bundle = lab_bundle
    with zipfile.ZipFile(bundle) as archive:
        scripts = {name: archive.read(name).decode() for name in ("setup.sh", "run_autograder")}
    assert f'LAB="{lab.id}"' in scripts["setup.sh"]
    assert f'--lab "{lab.id}"' in scripts["run_autograder"]
    assert re.search(r"--timeout 123\b", scripts["run_autograder"])
    for name, text in scripts.items():
        assert not re.search(r"@[A-Z]+@", text), name  # every placeholder filled in
        template = Path(gradescope.__file__).parent / "templates" / name
        assert text.splitlines()[:3] == template.read_text().splitlines()[:3]  # from the file
        syntax = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert syntax.returncode == 0, syntax.stderr


@pytest.mark.parametrize("lab_id", labs.ids())
def test_autograde_loads_the_lab_and_picks_its_notebook_in_the_upload(
    lab_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = labs.load(lab_id)
    upload = tmp_path / "submission"
    (upload / "repo" / "student_template").mkdir(parents=True)
    (upload / "repo" / "student_template" / lab.notebook).write_text("{}")
    (upload / "repo" / "scratch.ipynb").write_text("{}")
    seen = []

    def grade(submission: Path, graded: Lab, rubric: object, timeout: float) -> None:
        seen.append((submission, graded.id, getattr(rubric, "path", None), timeout))
        raise GraderError("stopped before grading")

    monkeypatch.setattr(gradescope, "_grade_in_subprocess", grade)
    data = gradescope.autograde(tmp_path, 42.0, lab_id)
    assert seen == [
        (upload / "repo" / "student_template" / lab.notebook, lab.id, lab.rubric_path, 42.0)
    ]
    assert data["score"] == 0
    assert "stopped before grading" in data["output"]
    assert [t["tags"] for t in data["tests"]] == [[cid] for cid in lab.rubric().ids]


def test_autograde_names_an_unknown_lab(tmp_path: Path) -> None:
    data = gradescope.autograde(tmp_path, 42.0, "no-such-lab")
    assert data["score"] == 0
    assert "no lab 'no-such-lab' is installed" in data["output"]
