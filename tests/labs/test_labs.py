"""Labs as plug-ins: every installed lab is complete, and the engine reads it through Lab only."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from grader import labs
from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.server_reads import LoggedModel, ModelVersion
from grader.engine.output.ui_links import latest_versions
from grader.errors import RubricError
from tests.helpers import ROOT


def test_both_labs_are_installed_and_tracking_is_the_default() -> None:
    assert {"tracking", "registry"} <= set(labs.ids())
    assert labs.DEFAULT == "tracking"
    assert labs.load().id == "tracking"


def test_an_unknown_lab_names_the_installed_ones() -> None:
    with pytest.raises(RubricError, match=r"installed labs: .*registry.*tracking"):
        labs.load("nope")


@pytest.mark.parametrize("lab_id", labs.ids())
def test_every_lab_is_complete(lab_id: str) -> None:
    lab = labs.load(lab_id)
    rubric = lab.rubric()
    assert rubric.ids, "a rubric with no checks"
    assert set(rubric.ids) <= lab.known_ids
    assert lab.run_checks <= lab.known_ids
    for folder in (lab.reference, lab.template):
        notebook = nbformat.read(folder / lab.notebook, as_version=4)
        assert any(c.cell_type == "code" for c in notebook.cells)
    for switch in lab.design.compatibility:
        # The lab's own code, run in the kernel: the function it names is in its script.
        assert f"def {switch.function}(" in switch.script.read_text(), switch
        assert switch.script.is_relative_to(lab.folder.parent), switch
    assert lab.title
    for check_id in lab.needs.model_checks:
        assert check_id in rubric.ids
    if lab.needs.experiment_check is not None:
        assert lab.experiment(rubric)
    for spec in rubric.checks:
        # Students read this in the released README: plain words, none of the rubric's keys.
        wants = lab.describe(spec)
        assert wants != spec.title, f"{lab_id}: no plain description of {spec.id}"
        assert not any(re.search(rf"\b{key}\s*[:=]", wants) for key in spec.options), wants


@pytest.mark.parametrize("lab_id", labs.ids())
def test_every_lab_is_laid_out_alike(lab_id: str) -> None:
    lab = labs.load(lab_id)
    assert lab.folder == ROOT / "grader" / "labs" / lab_id
    assert (lab.folder / "rubric.toml").is_file()
    assert (lab.folder / "checks.py").is_file()
    assert (lab.folder / "hints.py").is_file()
    assert lab.reference == ROOT / "reference" / lab_id
    assert lab.template == ROOT / "student_template" / lab_id
    assert lab.course is not None
    assert lab.course.parent == ROOT / "tests" / "labs" / lab_id / "submissions"
    # Nothing of a lab's notebooks is left inside the package a wheel ships.
    assert not list(lab.folder.rglob("*.ipynb"))


def test_a_rubric_of_another_lab_is_refused() -> None:
    registry = labs.load("registry")
    with pytest.raises(RubricError, match="unknown check id"):
        registry.rubric(labs.load("tracking").rubric_path)


def test_the_registry_lab_expects_its_step_3_error_only() -> None:
    lab = labs.load("registry")
    exists = (
        "RESOURCE_ALREADY_EXISTS: Registered Model (name=sk-learn-random-forest-reg-model)"
        " already exists."
    )
    assert lab.expected("RestException", exists) is not None
    assert lab.expected("MlflowException", exists) is not None
    assert lab.expected("RestException", "RESOURCE_DOES_NOT_EXIST: Run not found") is None
    assert lab.expected("ValueError", exists) is None
    assert labs.load("tracking").expected("RestException", exists) is None


MODEL = LoggedModel("m-" + "a" * 32, "sklearn-model", "models:/m-" + "a" * 32, "r" * 32)


@pytest.mark.parametrize(
    "source",
    [
        "models:/m-" + "a" * 32,
        "runs:/" + "r" * 32 + "/sklearn-model",
        "mlflow-artifacts:/0/" + "r" * 32 + "/artifacts/sklearn-model",
        "models:/first/1",  # another version that is the model
    ],
)
def test_a_version_is_the_run_s_model_however_its_source_names_it(source: str) -> None:
    first = ModelVersion("first", "1", MODEL.uri, MODEL.run_id, None)
    version = ModelVersion("second", "1", source, MODEL.run_id, None)
    assert slips.is_version_of(version, MODEL, {"first": (first,), "second": (version,)})


@pytest.mark.parametrize(
    "source",
    [
        "models:/m-" + "b" * 32,
        "runs:/" + "s" * 32 + "/sklearn-model",
        "mlflow-artifacts:/0/" + "s" * 32 + "/artifacts/sklearn-model",
        "models:/first/2",  # a version the registry does not hold
        "models:/second/1",  # itself
    ],
)
def test_a_version_of_another_model_is_not_the_run_s(source: str) -> None:
    first = ModelVersion("first", "1", MODEL.uri, MODEL.run_id, None)
    version = ModelVersion("second", "1", source, "s" * 32, None)
    assert not slips.is_version_of(version, MODEL, {"first": (first,), "second": (version,)})


def test_labgrade_labs_lists_each_lab_with_its_checks_and_notebooks() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "grader.frontends.cli", "labs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for lab in labs.all_labs():
        assert lab.id in proc.stdout
        assert ", ".join(lab.rubric().ids) in proc.stdout
        assert lab.course is not None
        for path in (lab.reference / lab.notebook, lab.template / lab.notebook, lab.course):
            # Relative to where it ran, as a reader types it; and there in a clone.
            shown = path.relative_to(ROOT).as_posix()
            assert f" {shown}\n" in proc.stdout
            assert (ROOT / shown).is_file()
    assert "tracking   MLflow Tracking lab: 100 points  (default)" in proc.stdout
    assert "course notebook: tests/labs/registry/submissions/published_placeholders.ipynb" in (
        proc.stdout
    )


def test_ui_links_name_each_registered_model_of_the_lab() -> None:
    def version(name: str, number: str) -> ModelVersion:
        return ModelVersion(name, number, "models:/m-x", "r", None)

    registry = labs.load("registry")
    names = registry.registered_models(registry.rubric())
    assert names == ("sk-learn-random-forest-reg-model", "sk-learn-random-forest-reg")
    found = [version(names[0], "1"), version(names[0], "2"), version(names[1], "1")]
    assert [(v.name, v.version) for v in latest_versions(found, names)] == [
        (names[0], "2"),
        (names[1], "1"),
    ]
    # Registered under no name of the lab: the latest under any name, still linked.
    other = [version("mine", "3"), version("mine", "4")]
    assert [(v.name, v.version) for v in latest_versions(other, names)] == [("mine", "4")]
    assert latest_versions([], names) == []
