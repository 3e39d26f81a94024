"""`labgrade gradescope`: the bundle, and its run_autograder on a fake /autograder tree."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
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
from grader.engine.output.results import ExecutionResult, GradeResult, TrackingInfo
from grader.errors import GraderError
from grader.platforms import gradescope
from grader.platforms.distribution import student_notebook
from grader.platforms.gradescope import ROOT_VAR, build_bundle
from grader.platforms.uv_release import UV_OLDEST, UV_VERSION, uv_version
from grader.sandbox.sandbox import full_unavailable
from tests.helpers import (
    TRACKING,
    later_labs,
    run_labgrade,
    run_watched,
)
from tests.platform_formats import GRADESCOPE_RESULTS
from tests.platforms import clean_root

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


def run_autograder(
    bundle: Path, root: Path, submission: Callable[[Path], dict[str, bytes]], **env: str
) -> Autograded:
    """BUNDLE's run_autograder run as Gradescope runs it, on a fake /autograder tree at ROOT.
    SUBMISSION: the fake /autograder root -> the uploaded files."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for member in ("setup.sh", "run_autograder"):  # zipfile drops the modes: restore them
        (root / "source" / member).chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    for rel, data in submission(root).items():
        (root / "submission" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / rel).write_bytes(data)
    (root / "results").mkdir()
    proc, leftovers = run_watched(
        [str(root / "run_autograder")],
        root,
        {
            **os.environ,
            "AUTOGRADER_ROOT": str(root),
            "LABGRADE_PYTHON": sys.executable,  # setup.sh's venv stands in for this one
            **env,
        },
    )
    results = json.loads((root / "results" / "results.json").read_text())
    return Autograded(root, proc.returncode, proc.stdout + proc.stderr, results, leftovers)


@pytest.fixture(scope="module")
def autograde(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Autograde:
    """Run the bundle's run_autograder as Gradescope does, on a fake /autograder tree."""
    cache: dict[str, Autograded] = {}

    def run(name: str, submission: Callable[[Path], dict[str, bytes]], **env: str) -> Autograded:
        """SUBMISSION: the fake /autograder root -> the uploaded files."""
        if name not in cache:
            root = tmp_path_factory.mktemp(f"autograder-{name}")
            cache[name] = run_autograder(bundle, root, submission, **env)
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
    # The exact release the pins were resolved on, and the uv that installs it.
    assert f'PYTHON_VERSION="{platform.python_version()}"' in setup
    assert f'UV_VERSION="{uv_version()}"' in setup
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
    # The notebook's own tracking URI was redirected: the student reads why, not only the log.
    assert "Notes on this grading:\n- the notebook points MLflow at" in run.results["output"]
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
    assert {d for d in in_labs if not d.startswith("_")} == {
        lab.id
    }  # no other lab's checks, rubric or solution
    assert not [n for n in names if lab.notebook in n]  # neither its solution nor its template
    assert f'grade_lab = "{lab.id}"' in pyproject
    assert f'grade_submission = "{student_notebook(lab)}"' in pyproject
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


# --- every lab's notebooks, graded as run_autograder grades them --------------------------


@pytest.fixture(scope="module")
def lab_autograded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Autograded]:
    """A lab's reference or template ("reference", "template") uploaded alone to that lab's
    own bundle (`labgrade gradescope --lab ID`, its rubric as installed) and graded once by
    its run_autograder."""
    cache: dict[tuple[str, str], Autograded] = {}

    def run(lab_id: str, which: str) -> Autograded:
        if (lab_id, which) not in cache:
            lab = labs.load(lab_id)
            folder = {"reference": lab.reference, "template": lab.template}[which]
            tmp = tmp_path_factory.mktemp(f"gradescope-{lab_id}-{which}")
            build_bundle(tmp / "autograder.zip", lab, lab.rubric(), 300)
            upload = {lab.notebook: (folder / lab.notebook).read_bytes()}
            root = tmp / "autograder"
            # The grading imports the bundle's grader, as from the venv setup.sh installs it
            # into, not this checkout's: what the bundle lacks, the grading lacks.
            source = str(root / "source")
            cache[lab_id, which] = run_autograder(
                tmp / "autograder.zip", root, lambda _: upload, PYTHONPATH=source
            )
        return cache[lab_id, which]

    return run


@pytest.mark.parametrize("lab_id", later_labs("gradescope-reference"))
def test_each_labs_reference_gets_full_marks_on_gradescope(
    lab_id: str, lab_autograded: Callable[[str, str], Autograded]
) -> None:
    lab = labs.load(lab_id)
    rubric = lab.rubric()
    run = lab_autograded(lab_id, "reference")
    assert run.code == 0, run.stdout[-3000:]
    jsonschema.validate(run.results, GRADESCOPE_RESULTS)
    full = sum(spec.points for spec in rubric.checks)
    assert run.results["score"] == full, run.results["output"]
    tests = run.results["tests"]
    assert [(t["tags"], t["name"], t["max_score"]) for t in tests] == [
        ([spec.id], spec.title, spec.points) for spec in rubric.checks
    ]
    failed = [t["output"] for t in tests if (t["status"], t["score"]) != ("passed", t["max_score"])]
    assert failed == []
    assert run.results["output"].startswith(f"Graded {lab.notebook}: execution ok")
    assert run.leftovers == []


@pytest.mark.parametrize("lab_id", later_labs("gradescope-template"))
def test_each_labs_template_gets_zero_and_what_to_fix_on_gradescope(
    lab_id: str, lab_autograded: Callable[[str, str], Autograded]
) -> None:
    rubric = labs.load(lab_id).rubric()
    run = lab_autograded(lab_id, "template")
    assert run.code == 0, run.stdout[-3000:]
    jsonschema.validate(run.results, GRADESCOPE_RESULTS)
    assert run.results["score"] == 0, run.results["output"]
    tests = run.results["tests"]
    assert [t["tags"] for t in tests] == [[spec.id] for spec in rubric.checks]
    for spec, test in zip(rubric.checks, tests, strict=True):
        assert (test["status"], test["score"], test["max_score"]) == ("failed", 0, spec.points)
        # What the check found, the call or fix it expects, and the lab step to go back to.
        assert test["output"].endswith(f"(revisit {spec.step} of the lab)"), test["output"]
        assert "Expected: " in test["output"] or "Fix: " in test["output"], test["output"]
    assert run.leftovers == []


# --- setup.sh: uv, the bundle's Python, and failing early ----------------------------------


def _fake_uv(folder: Path, says: str) -> None:
    folder.mkdir(exist_ok=True)
    uv = folder / "uv"
    uv.write_text(f"#!/bin/sh\necho '{says}'\n")
    uv.chmod(0o755)


@pytest.mark.parametrize(
    ("says", "pinned"),
    [
        ("uv 0.9.1 (b2bfc5c6b 2025-10-09)", "0.9.1"),  # the build machine's own uv
        (f"uv {'.'.join(map(str, UV_OLDEST))}", ".".join(map(str, UV_OLDEST))),
        ("uv 0.4.28", UV_VERSION),  # too old for what setup.sh sets
        ("uv 0.10.0-dev+5 (local build)", UV_VERSION),  # not a release on PyPI
        (None, UV_VERSION),  # no uv on PATH
    ],
)
def test_bundle_pins_the_build_machines_uv_else_the_tested_one(
    says: str | None, pinned: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if says is not None:
        _fake_uv(tmp_path / "bin", says)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert uv_version() == pinned
    out = tmp_path / "bundle.zip"
    build_bundle(out, TRACKING, TRACKING.rubric(), 60)
    with zipfile.ZipFile(out) as archive:
        setup = archive.read("setup.sh").decode()
    assert f'UV_VERSION="{pinned}"\n' in setup


def _unpacked(bundle: Path, root: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    return root / "source" / "setup.sh"


def test_setup_without_python3_or_a_package_manager_fails_naming_the_fix(
    bundle: Path, tmp_path: Path
) -> None:
    setup = _unpacked(bundle, tmp_path / "autograder")
    tools = tmp_path / "bin"  # what the script needs before python3, and no python3 at all
    tools.mkdir()
    for tool in ("dirname", "cut"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    proc = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(setup)],
        env={"PATH": str(tools), "AUTOGRADER_ROOT": str(tmp_path / "autograder")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no python3 on this image" in proc.stderr
    assert "apt-get, dnf or yum" in proc.stderr
    assert not (tmp_path / "autograder" / "venv").exists()


def test_setup_that_cannot_reach_the_index_fails_naming_it(bundle: Path, tmp_path: Path) -> None:
    setup = _unpacked(bundle, tmp_path / "autograder")
    index = "http://127.0.0.1:9/simple"  # the discard port: nothing listens, refused at once
    proc = subprocess.run(
        ["bash", str(setup)],
        env={**os.environ, ROOT_VAR: str(tmp_path / "autograder"), "UV_DEFAULT_INDEX": index},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"could not download {index}/uv/" in proc.stderr
    assert "set UV_DEFAULT_INDEX" in proc.stderr
    assert "could not install uv" in proc.stderr
    assert not (tmp_path / "autograder" / "venv").exists()


@pytest.mark.slow
def test_setup_that_cannot_download_the_python_fails_naming_the_mirror(
    bundle: Path, tmp_path: Path
) -> None:
    """uv comes from PyPI; the Python it would install comes from nowhere."""
    problem = clean_root.unreachable("https://pypi.org/simple/uv/")
    if problem:
        pytest.skip(f"PyPI, where setup.sh gets uv, is not reachable from here: {problem}")
    root = tmp_path / "autograder"
    setup = _unpacked(bundle, root)
    nowhere = (tmp_path / "no-mirror").as_uri()
    proc = subprocess.run(
        ["bash", str(setup)],
        env={**os.environ, ROOT_VAR: str(root), "UV_PYTHON_INSTALL_MIRROR": nowhere},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"uv could not install Python {platform.python_version()}" in proc.stderr
    assert "set UV_PYTHON_INSTALL_MIRROR" in proc.stderr
    assert "no-mirror" in proc.stderr  # uv's own error names what it tried
    assert (root / "uv" / "bin" / "uv").exists()
    assert not (root / "venv").exists()


@pytest.fixture(scope="module")
def python_download(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path] | None:
    """None where uv can download the bundle's Python itself; else a stand-in of it (the
    running interpreter, the same release) and the downloads list that points uv at it."""
    if clean_root.unavailable() or clean_root.python_downloads_reachable():
        return None
    reason = clean_root.standin_unavailable()
    if reason:
        pytest.skip(reason)
    return clean_root.python_standin(tmp_path_factory.mktemp("python-standin"))


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("release", sorted(clean_root.RELEASES))
def test_setup_on_a_bare_ubuntu_root_installs_a_grader_that_grades(
    release: str,
    bundle: Path,
    python_download: tuple[Path, Path] | None,
    tmp_path: Path,
) -> None:
    """setup.sh as Gradescope runs it, on a fresh root of Ubuntu RELEASE (minimal system and
    python3: no pip, venv, curl or CA certificates), then run_autograder on the reference."""
    reason = clean_root.unavailable()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    try:
        clean_root.make_root(release, root, clean_root.archive_keyring(tmp_path))
        distro_python = clean_root.run(root, ["python3", "--version"], {}, 60).stdout.strip()
        bare = clean_root.run(root, ["python3", "-m", "pip", "--version"], {}, 60)
        assert bare.returncode != 0  # as bare as a base image may be
        assert not (root / "etc/ssl/certs/ca-certificates.crt").exists()

        ag = root / "autograder"
        _unpacked(bundle, ag)
        for script in ("setup.sh", "run_autograder"):
            (ag / "source" / script).chmod(0o755)
        shutil.copy(ag / "source" / "run_autograder", ag / "run_autograder")
        (ag / "submission").mkdir()
        shutil.copy(REFERENCE, ag / "submission" / STUDENT_NOTEBOOK)
        env = clean_root.trust_site_cas(root)
        if python_download is not None:  # python-build-standalone is out of reach here
            archive, downloads = python_download
            (root / "standin").mkdir()
            shutil.copy(archive, root / "standin" / archive.name)
            shutil.copy(downloads, root / "standin" / downloads.name)
            env["UV_PYTHON_DOWNLOADS_JSON_URL"] = f"/standin/{downloads.name}"

        setup = clean_root.run(root, ["/autograder/source/setup.sh"], env, 1800)
        assert setup.returncode == 0, (setup.stdout + setup.stderr)[-4000:]
        assert "setup.sh: grader installed in /autograder/venv" in setup.stdout
        python = os.readlink(ag / "venv" / "bin" / "python")
        version = platform.python_version()
        assert python.startswith(f"/autograder/uv/python/cpython-{version}-linux-"), python
        # The image's own python3, which Gradescope's harness runs on, is left as it was.
        after = clean_root.run(root, ["python3", "--version"], {}, 60).stdout.strip()
        assert after == distro_python

        graded = clean_root.run(
            root, ["bash", "-c", "cd /autograder && ./run_autograder"], env, 900
        )
        assert graded.returncode == 0, (graded.stdout + graded.stderr)[-4000:]
        results = json.loads((ag / "results" / "results.json").read_text())
        jsonschema.validate(results, GRADESCOPE_RESULTS)
        assert results["score"] == 100, results["output"]
        assert all(t["status"] == "passed" for t in results["tests"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- what the student reads -------------------------------------------------------------


def test_notes_that_explain_the_grade_are_in_the_output_every_student_sees() -> None:
    rubric = TRACKING.rubric()
    note = "the notebook points MLflow at http://127.0.0.1:8080; the grader sent everything"
    result = GradeResult(
        "/autograder/submission/lab1.ipynb",
        (),
        ExecutionResult("ok", 3.0),
        TrackingInfo("http://127.0.0.1:5000"),
        notes=(note,),
    )
    data = gradescope.results_json(result, rubric, 3.0)
    assert f"Notes on this grading:\n- {note}" in data["output"]
    assert data.get("visibility", "visible") == "visible"  # the top-level output is shown
    # The notes travel in the --grade-json the worker writes, as the grading made them.
    assert GradeResult.from_json(result.to_json()).notes == (note,)
    written_before = {k: v for k, v in result.to_json().items() if k != "notes"}
    assert GradeResult.from_json(written_before).notes == ()


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"draft.ipynb": b"{}", "final.ipynb": b"{}"}, "upload only {nb} and submit again"),
        ({"notes.txt": b"x"}, "holds no {nb}: upload {nb}"),
        ({"a/{nb}": b"{}", "b/{nb}": b"{}"}, "holds 2 files named {nb} (a/{nb}, b/{nb})"),
    ],
)
def test_an_upload_without_one_notebook_to_grade_is_told_in_gradescopes_terms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], says: str
) -> None:
    nb = TRACKING.notebook
    for rel, data in files.items():
        path = tmp_path / "submission" / rel.format(nb=nb)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    graded: list[Path] = []
    monkeypatch.setattr(gradescope, "_grade_in_subprocess", lambda s, *_: graded.append(s))
    data = gradescope.autograde(tmp_path, 42.0, "tracking")
    assert graded == []  # refused before any grading
    assert data["score"] == 0
    assert says.format(nb=nb) in data["output"]
    assert "pass the one to grade" not in json.dumps(data)
    assert all(says.format(nb=nb) in t["output"] for t in data["tests"])
