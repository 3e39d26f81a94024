"""`labgrade release` (the student repository) and `labgrade verify` (was it tampered with?)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from grader import labs
from grader.engine.evidence.rubric import load_rubric
from grader.engine.lab import Lab
from grader.frontends.cli import main
from grader.platforms.distribution import student_notebook
from grader.platforms.release import MANIFEST, free_files, release_files
from tests.helpers import (
    CHECK_IDS,
    ONE_FOLDER_LAB,
    ROOT,
    TRACKING,
    GradingRun,
    run_grader,
    run_labgrade,
)

NOTEBOOK = student_notebook(TRACKING)
RUBRIC = "grader/labs/tracking/rubric.toml"
VISIBLE = tuple(c for c in CHECK_IDS if c != "tag")
# Lab 1's own words: a released repository of another lab, and the release code, have none.
LAB1_WORDS = ("iris", "LogisticRegression", "MLflow Quickstart", "tracking-quickstart", "lab1")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student repository for the default rubric with the tag check hidden."""
    base = tmp_path_factory.mktemp("release")
    rubric = base / "rubric.toml"
    hidden = '# graded by the instructor only\n[checks.tag]\nvisibility = "hidden"\n'
    rubric.write_text(TRACKING.rubric_path.read_text().replace("[checks.tag]\n", hidden))
    out = base / "student-repo"
    proc = run_labgrade("release", str(out), "--lab", "tracking", "--rubric", str(rubric))
    assert proc.returncode == 0, proc.stderr
    assert "left out hidden checks: tag" in proc.stdout
    return out


def _copy(released: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(released, tmp_path / "clone"))


def _verify(repo: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["verify", str(repo), *extra])
    return code, capsys.readouterr().out


def test_release_holds_the_student_files_and_no_solution(released: Path) -> None:
    files = {p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file()}
    for expected in (
        NOTEBOOK,
        "grader/frontends/plugin.py",
        "grader/test_lab.py",
        "grader/course/worker.py",
        RUBRIC,
        "conftest.py",
        "pyproject.toml",
        "constraints.txt",
        ".python-version",
        ".github/workflows/classroom.yml",
        "README.md",
        ".labgrade/manifest.json",
    ):
        assert expected in files
    assert not [f for f in files if f.startswith(("reference/", "tests/", "docs/", ".ci/"))]
    assert "grader/rubric.toml" not in files
    assert (released / NOTEBOOK).read_bytes() == (ROOT / NOTEBOOK).read_bytes()
    rubric_text = (released / RUBRIC).read_text()
    assert "Training Info" not in rubric_text  # the hidden check's values are gone too
    assert "graded by the instructor only" not in rubric_text
    rubric = load_rubric(released / RUBRIC, TRACKING.known_ids)
    assert tuple(rubric.ids) == VISIBLE
    assert rubric.check("params") == TRACKING.rubric().check("params")


def test_student_readme_says_how_to_run_and_what_each_check_wants(released: Path) -> None:
    readme = (released / "README.md").read_text()
    assert "pytest grader" in readme
    assert "pip install -c constraints.txt -e ." in readme
    rubric = TRACKING.rubric()
    for cid in VISIBLE:
        spec = rubric.check(cid)
        row = next(ln for ln in readme.splitlines() if ln.startswith(f"| `{cid}` |"))
        assert f"| {spec.points:g} |" in row
        assert TRACKING.describe(spec).replace("|", "\\|") in row
    assert "| `tag` |" not in readme
    assert '`solver` = "lbfgs", `max_iter` = 1000, `random_state` = 8888' in readme
    # Plain words: none of the rubric's own option names or grader settings.
    for internal in ("when_not_executed", "tolerance", "estimator:", "flavor:", "1e-09"):
        assert internal not in readme
    assert "checks that are not listed here" in readme


def test_released_workflow_names_no_check_and_no_classroom_reporter(released: Path) -> None:
    text = (released / ".github/workflows/classroom.yml").read_text()
    doc = yaml.safe_load(text)
    steps = doc["jobs"]["run-autograding-tests"]["steps"]
    assert not [s for s in steps if "classroom-resources/" in s.get("uses", "")]
    assert "TAG_RESULTS" not in text  # nor the hidden check, which the reporter's env named
    assert (released / ".python-version").read_text().strip() == (
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )


def test_manifest_hashes_every_file_the_grading_depends_on(released: Path) -> None:
    manifest = json.loads((released / ".labgrade/manifest.json").read_text())
    digests = manifest["sha256"]
    grader = [p for p in (released / "grader").rglob("*") if p.is_file()]
    assert {p.relative_to(released).as_posix() for p in grader} <= set(digests)
    assert {RUBRIC, "grader/engine/scoring.py", "grader/labs/tracking/checks.py"} <= set(digests)
    for path in ("conftest.py", "pyproject.toml", "constraints.txt", ".python-version"):
        assert path in digests
    assert ".github/workflows/classroom.yml" in digests
    assert NOTEBOOK not in digests  # the student's to edit
    for path, digest in digests.items():
        assert hashlib.sha256((released / path).read_bytes()).hexdigest() == digest


def test_release_refuses_a_folder_with_files(released: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["release", str(tmp_path), "--lab", "tracking"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_verify_passes_an_untouched_clone_with_student_work(
    released: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _copy(released, tmp_path)
    (repo / NOTEBOOK).write_text((TRACKING.reference / TRACKING.notebook).read_text())
    (repo / "feedback").mkdir()
    (repo / "feedback" / "conftest.py").write_text("")  # never read by the grading
    (repo / "README.md").write_text("my notes\n")
    code, out = _verify(repo, "--manifest", str(released), capsys=capsys)
    assert code == 0, out
    assert "unchanged" in out


def _append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def _add_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


CHECKS = "grader/labs/tracking/checks.py"
EDITS: dict[str, Callable[[Path], object]] = {
    CHECKS: lambda repo: _append(repo / CHECKS, "\nCHECKS.clear()\n"),
    "grader/engine/evidence/records.py": lambda repo: (
        repo / "grader/engine/evidence/records.py"
    ).write_text(
        (repo / "grader/engine/evidence/records.py")
        .read_text()
        .replace("passed: bool", "passed: bool = True", 1)
    ),
    RUBRIC: lambda repo: (repo / RUBRIC).write_text(
        (repo / RUBRIC).read_text().replace("points = 20", "points = 0")
    ),
    "grader/labs/extra/__init__.py": lambda repo: _add_file(
        repo / "grader/labs/extra/__init__.py", "LAB = None\n"
    ),
    "conftest.py": lambda repo: (repo / "conftest.py").write_text("pytest_plugins = []\n"),
    ".github/workflows/classroom.yml": lambda repo: (
        repo / ".github/workflows/classroom.yml"
    ).unlink(),
    "pytest.ini": lambda repo: (repo / "pytest.ini").write_text("[pytest]\naddopts = -x\n"),
    "grader/conftest.py": lambda repo: (repo / "grader/conftest.py").write_text(""),
    "student_template/conftest.py": lambda repo: (repo / "student_template/conftest.py").write_text(
        ""
    ),
    "constraints.txt": lambda repo: (repo / "constraints.txt").write_text("mlflow==2.0\n"),
}


@pytest.mark.parametrize("path", list(EDITS))
def test_verify_names_what_was_changed(
    released: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    repo = _copy(released, tmp_path)
    EDITS[path](repo)
    manifest = str(released / ".labgrade/manifest.json")
    code, out = _verify(repo, "--manifest", manifest, capsys=capsys)
    assert code == 1
    assert "CHANGED" in out
    flagged = [line.split() for line in out.splitlines() if line.strip().endswith(path)]
    assert flagged, out
    assert flagged[0][0] in ("changed", "missing", "added"), out


def test_verify_catches_an_edited_check_along_with_its_own_manifest(
    released: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _copy(released, tmp_path)
    EDITS[CHECKS](repo)
    manifest = repo / ".labgrade/manifest.json"
    data = json.loads(manifest.read_text())
    data["sha256"][CHECKS] = hashlib.sha256((repo / CHECKS).read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data))
    # Against its own (forged) manifest the repo looks clean; against the instructor's, not.
    assert _verify(repo, capsys=capsys)[0] == 0
    code, out = _verify(repo, "--manifest", str(released), capsys=capsys)
    assert code == 1
    assert f"changed  {CHECKS}" in out
    assert "changed  .labgrade/manifest.json" in out


def _grade_released(released: Path, notebook: bytes, tmp_path: Path, *extra: str) -> GradingRun:
    repo = Path(shutil.copytree(released, tmp_path / "repo"))
    (repo / NOTEBOOK).write_bytes(notebook)
    # The current interpreter, but the released files: `python -m pytest` puts the repo (cwd)
    # first on sys.path, ahead of the editable install's finder, and the grader hands its own
    # folder to its subprocesses. A repo whose grader/ were not the one imported would collect
    # no check at all (the plugin only grades for its own folder).
    return run_grader(repo / NOTEBOOK, tmp_path / "out", *extra, cwd=repo)


@pytest.mark.slow
@pytest.mark.xdist_group("release")
def test_released_repo_grades_its_own_template_to_zero(released: Path, tmp_path: Path) -> None:
    feedback = tmp_path / "feedback" / "feedback.md"  # as the workflow asks for it
    run = _grade_released(
        released, (released / NOTEBOOK).read_bytes(), tmp_path, "--grade-feedback", str(feedback)
    )
    assert run.result is not None, run.stdout + run.stderr
    assert run.exit_code == 1
    assert run.result["score"] == 0
    assert run.result["max_score"] == 90
    assert tuple(c["id"] for c in run.result["checks"]) == VISIBLE
    assert "collected 6 items" in run.stdout
    assert f"rubric {tmp_path / 'repo' / RUBRIC}" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.leftovers == []
    assert feedback.read_text().startswith("# MLflow Tracking lab: 0/90")
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import grader.frontends.plugin; print(grader.frontends.plugin.__file__)",
        ],
        cwd=tmp_path / "repo",
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(tmp_path / "repo" / "grader" / "frontends" / "plugin.py")


@pytest.mark.slow
@pytest.mark.xdist_group("release")
def test_released_repo_gives_a_copied_in_solution_full_marks(
    released: Path, tmp_path: Path
) -> None:
    solution = (TRACKING.reference / TRACKING.notebook).read_bytes()
    run = _grade_released(released, solution, tmp_path)
    assert run.result is not None, run.stdout + run.stderr
    assert run.exit_code == 0, run.stdout[-2000:]
    assert (run.result["score"], run.result["max_score"]) == (90, 90)
    assert "MLflow Tracking lab: 90/90" in run.stdout
    assert run.leftovers == []


@pytest.fixture(
    scope="module",
    params=[*labs.ids(), pytest.param(str(ONE_FOLDER_LAB), id="one_folder")],
)
def lab_release(request: pytest.FixtureRequest) -> tuple[Lab, dict[str, bytes]]:
    """Each installed lab's student repository, and a lab of one folder's, for its own rubric
    (no file written)."""
    lab = labs.load(request.param)
    return lab, release_files(lab, lab.rubric())


def test_each_labs_release_holds_its_notebook_and_rubric_alone(
    lab_release: tuple[Lab, dict[str, bytes]],
) -> None:
    lab, files = lab_release
    notebook = student_notebook(lab)
    assert files[notebook] == (lab.template / lab.notebook).read_bytes()
    assert files[f"grader/labs/{lab.id}/rubric.toml"] == lab.rubric_path.read_bytes()
    in_labs = {p.split("/")[2] for p in files if p.startswith("grader/labs/") and p.count("/") > 2}
    assert {d for d in in_labs if not d.startswith("_")} == {
        lab.id
    }  # no other lab, so no other lab's solution or hidden checks
    assert [p for p in files if p.endswith(".ipynb")] == [notebook]  # not its solution
    pyproject = files["pyproject.toml"].decode()
    assert f'grade_lab = "{lab.id}"' in pyproject
    assert f'grade_submission = "{notebook}"' in pyproject
    assert "grade_rubric" not in pyproject
    assert '"grader.frontends.plugin" = "grader.frontends.plugin"' in pyproject


def test_each_labs_readme_names_its_title_notebook_and_checks(
    lab_release: tuple[Lab, dict[str, bytes]],
) -> None:
    lab, files = lab_release
    readme = files["README.md"].decode()
    rubric = lab.rubric()
    assert readme.startswith(f"# {rubric.title}\n")
    assert f"`{student_notebook(lab)}`" in readme
    assert [ln.split("`")[1] for ln in readme.splitlines() if ln.startswith("| `")] == rubric.ids
    if lab.id != "tracking":
        generated = [files[p].decode() for p in ("README.md", "pyproject.toml", ".gitignore")]
        generated.append(files[".github/workflows/classroom.yml"].decode())
        own = lab.rubric_path.read_text()  # what the lab's own rubric says may be in the table
        assert not [w for w in LAB1_WORDS if w not in own and any(w in g for g in generated)]


def test_each_labs_manifest_leaves_out_only_what_students_may_change(
    lab_release: tuple[Lab, dict[str, bytes]],
) -> None:
    lab, files = lab_release
    free = free_files(lab)
    assert free == {student_notebook(lab), "README.md", ".gitignore", MANIFEST}
    digests = json.loads(files[MANIFEST])["sha256"]
    assert set(digests) == set(files) - free
    assert f"grader/labs/{lab.id}/rubric.toml" in digests


@pytest.mark.parametrize("lab_id", labs.ids())
def test_release_command_writes_the_labs_repository(
    lab_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = labs.load(lab_id)
    out = tmp_path / "repo"
    assert main(["release", str(out), "--lab", lab_id]) == 0
    assert (out / student_notebook(lab)).is_file()
    assert (out / "grader" / "labs" / lab_id / "rubric.toml").is_file()
    code, output = _verify(out, capsys=capsys)
    assert code == 0, output


def test_release_code_names_no_lab() -> None:
    """The platforms serve every lab: what a lab is lives in grader/labs/ only."""
    platforms = ROOT / "grader" / "platforms"
    sources = [
        p for p in sorted(platforms.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
    ]
    assert len(sources) >= 6
    found = [(p.name, w) for p in sources for w in LAB1_WORDS if w in p.read_text()]
    assert found == []
