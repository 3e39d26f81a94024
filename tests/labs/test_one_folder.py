"""A lab of one folder (tests/labs/one_folder/wine): named by its path, it is graded, batched
and bundled as the grader's own labs are, and nothing of the grader's is changed to add it.

The folder is the example docs/writing-a-lab.md walks through: its checks, rubric, hints and
both notebooks are in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from grader import labs
from grader.errors import RubricError
from grader.platforms.gradescope import build_bundle
from tests.helpers import (
    ONE_FOLDER_LAB,
    ROOT,
    TOKEN_VAR,
    GradingRun,
    describe,
    processes_with_token,
    run_labgrade,
)

WINE = ONE_FOLDER_LAB
FLAGS = ("--lab", str(WINE.relative_to(ROOT)))


def test_a_lab_folder_is_named_by_its_path_and_keeps_its_notebooks() -> None:
    lab = labs.load(str(WINE.relative_to(ROOT)), base=ROOT)
    assert (lab.id, lab.folder) == ("wine", WINE)
    assert lab.reference == WINE / "reference"
    assert lab.template == WINE / "template"
    assert (lab.reference / lab.notebook).is_file()
    assert (lab.template / lab.notebook).is_file()
    assert labs.argument(lab) == str(WINE)  # another process loads it again by its path
    assert labs.load(labs.argument(lab)) is lab  # imported once, as grader.labs.wine
    assert labs.argument(labs.load("tracking")) == "tracking"
    assert "wine" not in labs.ids()  # nothing of the grader's was changed to add it


def test_labgrade_labs_shows_a_folder_with_its_notebooks() -> None:
    shown = run_labgrade("labs", str(WINE.relative_to(ROOT)))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("wine ")
    assert "checks: experiment, accuracy, model" in shown.stdout
    assert "tests/labs/one_folder/wine/reference/lab7_wine.ipynb" in shown.stdout


def _copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(WINE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "has no __init__.py"),
        (lambda tmp: _copy(tmp, "tracking"), "the grader has a lab 'tracking' of its own"),
        (lambda tmp: _copy(tmp, "lab-7"), "rename the folder, e.g. to lab_7"),
        (
            lambda tmp: _copy(tmp, "wine2"),
            "LAB's id is 'wine', and a lab's id is its folder's name",
        ),
    ],
    ids=["missing", "no-init", "installed-name", "not-an-identifier", "id-not-folder"],
)
def test_a_folder_that_is_not_a_lab_is_refused_with_the_fix(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    folder = make(tmp_path)
    with pytest.raises(RubricError) as err:
        labs.load(str(folder))
    assert says in str(err.value)
    assert str(folder.name) in str(err.value)  # the folder is named
    shown = run_labgrade("labs", str(folder))
    assert shown.returncode != 0
    assert says in shown.stderr


def test_its_bundle_carries_its_code_and_data_and_never_a_notebook(tmp_path: Path) -> None:
    lab = labs.load(str(WINE))
    out = tmp_path / "autograder.zip"
    build_bundle(out, lab, lab.rubric(), 120)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "bundle")
    mine = {n.removeprefix("grader/labs/wine/") for n in names if n.startswith("grader/labs/wine/")}
    assert mine == {"__init__.py", "checks.py", "hints.py", "rubric.toml"}
    assert not [n for n in names if n.endswith(".ipynb")]  # neither the solution nor the template
    others = {n.split("/")[2] for n in names if n.startswith("grader/labs/") and n.count("/") > 2}
    assert {d for d in others if not d.startswith("_")} == {"wine"}
    # In the bundle the folder is one of the grader's labs: loaded by its id, with no notebook.
    probe = (
        "from grader import labs; lab = labs.load('wine');"
        " print(lab.folder, lab.rubric().ids, (lab.reference / lab.notebook).exists())"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "bundle")}
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [
        str(tmp_path / "bundle" / "grader" / "labs" / "wine"),
        "['experiment',",
        "'accuracy',",
        "'model']",
        "False",
    ]


def _graded(graded_run: Callable[..., GradingRun], which: str) -> GradingRun:
    return graded_run(WINE / which / "lab7_wine.ipynb", *FLAGS)


@pytest.mark.slow
@pytest.mark.xdist_group("one-folder-reference")
def test_pytest_grader_gives_its_reference_full_marks(
    graded_run: Callable[..., GradingRun],
) -> None:
    run = _graded(graded_run, "reference")
    assert run.result is not None, run.stderr[-2000:]
    assert run.exit_code == 0, run.stdout[-3000:]
    assert run.result["score"] == run.result["max_score"] == 100
    assert [c["id"] for c in run.result["checks"]] == ["experiment", "accuracy", "model"]
    assert run.leftovers == []


@pytest.mark.slow
@pytest.mark.xdist_group("one-folder-template")
def test_pytest_grader_gives_its_template_a_zero_that_says_what_to_do(
    graded_run: Callable[..., GradingRun],
) -> None:
    run = _graded(graded_run, "template")
    assert run.result is not None, run.stderr[-2000:]
    assert run.exit_code == 1
    assert run.result["score"] == 0
    said = {c["id"]: c["message"] for c in run.result["checks"]}
    # Each says what was found and the call that fixes it (composed into the message).
    assert 'there is no experiment "Wine Quickstart"' in said["experiment"]
    assert 'mlflow.set_experiment("Wine Quickstart")' in said["experiment"]
    assert "no run was logged" in said["accuracy"]
    assert 'mlflow.log_metric("accuracy", accuracy)' in said["accuracy"]
    assert "mlflow.sklearn.log_model" in said["model"]
    assert "with mlflow.start_run(): with" not in said["model"]


@pytest.mark.slow
def test_labgrade_batch_grades_a_class_with_it(tmp_path: Path) -> None:
    lab = labs.load(str(WINE))
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(lab.reference / lab.notebook, folder / "ada.ipynb")
    shutil.copy(lab.template / lab.notebook, folder / "bob.ipynb")
    token = uuid.uuid4().hex
    out = tmp_path / "out"
    ran = run_labgrade(
        "batch", str(folder), "--out", str(out), *FLAGS, "--jobs", "2",
        timeout=600, env={**os.environ, TOKEN_VAR: token},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    book = (out / "grades.csv").read_text().splitlines()
    assert book[0].split(",")[2:5] == ["experiment", "accuracy", "model"]
    rows = {line.split(",")[0]: line for line in book[2:]}
    assert ",100,100,ok," in rows["ada"]
    assert ",unattempted," in rows["bob"]  # its own template/ tells it from an attempt
    assert describe(processes_with_token(token)) == []


def test_labgrade_labs_tells_a_missing_option_and_notebook_before_any_grading(
    tmp_path: Path,
) -> None:
    folder = _copy(tmp_path, "wine")
    rubric = folder / "rubric.toml"
    rubric.write_text(rubric.read_text().replace("min_accuracy =", "min_acc ="))
    shown = run_labgrade("labs", str(folder))
    assert shown.returncode != 0
    assert "rubric check 'model' has no 'min_accuracy'" in shown.stderr
    rubric.write_text(rubric.read_text().replace("min_acc =", "min_accuracy ="))
    (folder / "reference" / "lab7_wine.ipynb").rename(folder / "reference" / "solution.ipynb")
    shown = run_labgrade("labs", str(folder))
    assert shown.returncode == 0, shown.stderr
    assert f"missing: put it at {folder / 'reference' / 'lab7_wine.ipynb'}" in shown.stdout
