"""`labgrade classroom50`: the folder a teacher publishes, and its autograder.py run the way
Classroom 50's runner runs it.

The contract (grader/platforms/classroom50.py's docstring has the sources): runner.py extracts
the published tarball, runs `python autograder.py` in the student's checkout with the run's
variables, and reads ./result.json (validate_result), ./release-body.md and status/summary
in $GITHUB_OUTPUT; the exit code is 0 whenever grading ran.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import shutil
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader import labs
from grader.engine.evidence.rubric import load_rubric
from grader.engine.output.results import CheckResult, ExecutionResult, GradeResult, TrackingInfo
from grader.errors import GraderError
from grader.platforms import classroom50
from grader.platforms.classroom50 import Run
from tests.helpers import (
    TRACKING,
    later_labs,
    run_labgrade,
    run_watched,
)

NOTEBOOK = TRACKING.notebook
REFERENCE = TRACKING.reference / NOTEBOOK
TEMPLATE = TRACKING.template / NOTEBOOK
CLASSROOM, SLUG, OWNER = "mlops-fall", "lab1-tracking", "alice"
SUBMISSION = "submit/2026-11-29T10-00-00Z-abc1234"
REPO = f"{CLASSROOM}-{SLUG}-{OWNER}"
# What autograde-runner.yaml's grade job and runner.py's run_entrypoint set, but
# CLASSROOM50_BUNDLE_DIR, GITHUB_OUTPUT and RUNNER_TEMP (per run, below).
RUNNER_ENV = {
    "PAGES_BASE_URL": "https://example.github.io/classroom50",
    "CLASSROOM": CLASSROOM,
    "ASSIGNMENT": SLUG,
    "SUBMISSION_TAG": SUBMISSION,
    "MODE": "individual",
    "GITHUB_REPOSITORY": f"example/{REPO}",
    "GITHUB_SHA": "abc1234" * 5 + "a",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_ACTOR": OWNER,
    "GITHUB_ACTIONS": "true",
    "USERNAME": OWNER,
    "OWNER": OWNER,
    "ASSIGNMENT_TYPE": "individual",
    "COMMIT_URL": f"https://github.com/example/{REPO}/commit/abc1234",
    "RELEASE_URL": f"https://github.com/example/{REPO}/releases/tag/submit%2F2026-11-29",
    "REVIEW_URL": f"https://github.com/example/{REPO}/compare/base...abc1234",
}
UTC_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# runner.py's MAX_FETCH_BYTES: the most it downloads of a bundle.
MAX_FETCH_BYTES = 10 * 1024 * 1024


# --- the contract's validator -------------------------------------------------------------


def contract_problem(
    data: Any, *, classroom: str, assignment: str, owner: str, assignment_type: str
) -> str | None:
    """None if DATA passes Classroom 50's check of a result.json, else what fails.

    The rules of validate_result in foundation50/classroom50's cli/gh-teacher/skeleton/
    dotgithub/scripts/runner.py (at 0c499034; collect_scores.py's validate_result at 053044a8
    checks the same before a score reaches the gradebook), restated here.
    """
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("schema") != "classroom50/result/v1":
        return f"schema is {data.get('schema')!r}"
    if data.get("classroom") != classroom or data.get("assignment") != assignment:
        return "classroom or assignment is not the run's"
    if not isinstance(data.get("owner"), str) or data["owner"].lower() != owner.lower():
        return f"owner is {data.get('owner')!r}, want {owner!r}"
    if data.get("assignment_type") != assignment_type:
        return f"assignment_type is {data.get('assignment_type')!r}"
    submission = data.get("submission")
    if not isinstance(submission, str) or not submission.startswith("submit/"):
        return "submission is not a submit/* string"
    for field in ("commit", "release", "review", "datetime"):
        if not isinstance(data.get(field), str) or not data[field]:
            return f"{field} is not a non-empty string"

    def count(value: Any) -> bool:  # bool is an int in Python, and not a score
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if not count(data.get("score")) or not count(data.get("max-score")):
        return "score or max-score is not a non-negative integer"
    if data["score"] > data["max-score"]:
        return "score > max-score"
    tests = data.get("tests")
    if not isinstance(tests, list):
        return "tests is not a list"
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            return f"tests[{i}] is not an object"
        if not isinstance(test.get("test-name"), str) or not test["test-name"]:
            return f"tests[{i}].test-name is not a non-empty string"
        if not isinstance(test.get("passed"), bool):
            return f"tests[{i}].passed is not a boolean"
        if not count(test.get("score")) or not count(test.get("max-score")):
            return f"tests[{i}] score or max-score is not a non-negative integer"
        if test["score"] > test["max-score"]:
            return f"tests[{i}].score > max-score"
    # Not checked in code, but the contract's table (wiki/Advanced-Autograding.md at 6b0b83cf)
    # says score and max-score are the sums of the tests'.
    if data["score"] != sum(t["score"] for t in tests):
        return "score is not the sum of the tests' scores"
    if data["max-score"] != sum(t["max-score"] for t in tests):
        return "max-score is not the sum of the tests' max-scores"
    return None


def valid(data: Any) -> str | None:
    return contract_problem(
        data, classroom=CLASSROOM, assignment=SLUG, owner=OWNER, assignment_type="individual"
    )


def _good_result() -> dict[str, Any]:
    return {
        "schema": "classroom50/result/v1",
        "classroom": CLASSROOM,
        "assignment": SLUG,
        "owner": OWNER,
        "assignment_type": "individual",
        "submission": SUBMISSION,
        "commit": "c",
        "release": "r",
        "review": "v",
        "datetime": "2026-11-29T10:00:00Z",
        "score": 1,
        "max-score": 2,
        "tests": [{"test-name": "a", "passed": True, "score": 1, "max-score": 2}],
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"score": 1.0}, "score or max-score"),
        ({"score": True}, "score or max-score"),
        ({"score": 3}, "score > max-score"),
        ({"max-score": 3}, "sum of the tests' max-scores"),
        ({"submission": "v1"}, "submit/*"),
        ({"review": ""}, "review"),
        ({"owner": "bob"}, "owner"),
        ({"tests": [{"test-name": "a", "passed": 1, "score": 1, "max-score": 2}]}, "passed"),
        ({"tests": [{"test-name": "", "passed": True, "score": 1, "max-score": 2}]}, "test-name"),
    ],
)
def test_the_contract_validator_refuses_what_runner_py_refuses(
    change: dict[str, Any], problem: str
) -> None:
    assert valid(_good_result()) is None
    found = valid({**_good_result(), **change})
    assert found is not None
    assert problem in found


# --- the views, from a grading's result -------------------------------------------------------


def _result(passed: dict[str, bool], status: Any = "ok") -> GradeResult:
    rubric = TRACKING.rubric()
    checks = tuple(
        CheckResult(
            spec.id,
            spec.title,
            spec.points if passed.get(spec.id, True) else 0.0,
            spec.points,
            passed.get(spec.id, True),
            "ok" if passed.get(spec.id, True) else f"{spec.id} secret finding (revisit Step 4)",
        )
        for spec in rubric.checks
    )
    execution = ExecutionResult(
        status, 12.5, None if status == "ok" else "the code cell starting `x` (code cell 2) raised"
    )
    return GradeResult("/x/lab.ipynb", checks, execution, TrackingInfo("http://127.0.0.1:1"))


def _hidden_rubric(tmp_path: Path, check: str = "tag") -> Any:
    text = TRACKING.rubric_path.read_text()
    path = tmp_path / "rubric.toml"
    path.write_text(
        text.replace(f"[checks.{check}]\n", f'[checks.{check}]\nvisibility = "hidden"\n')
    )
    return load_rubric(path)


def test_result_json_has_one_whole_test_per_check_and_a_hidden_one_by_number(
    tmp_path: Path,
) -> None:
    rubric = _hidden_rubric(tmp_path)
    result = _result({"tag": False, "metric": False})
    run = Run.from_env(RUNNER_ENV)
    data = classroom50.result_json(
        result, rubric, run, datetime.datetime.now(datetime.timezone.utc)
    )
    assert valid(data) is None
    assert [t["test-name"] for t in data["tests"]] == [
        "hidden check 1" if spec.id == "tag" else spec.title for spec in rubric.checks
    ]
    assert (data["score"], data["max-score"]) == (75, 100)
    assert all(type(t["score"]) is int and type(t["max-score"]) is int for t in data["tests"])
    assert UTC_DATETIME.fullmatch(data["datetime"])
    assert "Training Info" not in json.dumps(data)  # the hidden check's title

    body = classroom50.release_body(result, rubric, "tracking", run)
    assert "tag secret finding" not in body
    assert "Training Info" not in body
    assert "metric secret finding (revisit Step 4)" in body  # a visible failure: what to fix
    assert "| hidden check 1 | 0/10 | **fail** |" in body
    assert "hidden by your instructor" in body
    status, summary = classroom50.status_and_summary(data, result, "tracking")
    assert (status, summary) == ("failure", "labgrade tracking: 75/100 (5/7 checks passed)")


def test_full_marks_is_success_and_the_summary_fits_a_commit_status() -> None:
    rubric = TRACKING.rubric()
    result = _result({})
    data = classroom50.result_json(
        result, rubric, Run.from_env(RUNNER_ENV), datetime.datetime.now(datetime.timezone.utc)
    )
    assert classroom50.status_and_summary(data, result, "tracking")[0] == "success"
    _, summary = classroom50.status_and_summary(data, _result({}, "timeout"), "x" * 300)
    assert len(summary) <= 140
    assert "\n" not in summary


def test_fractional_points_are_refused_with_the_rubric_named(tmp_path: Path) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text(TRACKING.rubric_path.read_text().replace("points = 15", "points = 7.5", 1))
    with pytest.raises(GraderError, match=r"rubric .*rubric\.toml: check 'params'.*whole"):
        classroom50.whole_points(load_rubric(path))
    proc = run_labgrade("classroom50", str(tmp_path / "out"), "--rubric", str(path))
    assert proc.returncode == 3
    assert "whole points" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_run_needs_the_runners_variables() -> None:
    env = {k: v for k, v in RUNNER_ENV.items() if k not in ("SUBMISSION_TAG", "COMMIT_URL")}
    with pytest.raises(GraderError, match="SUBMISSION_TAG, COMMIT_URL not set"):
        Run.from_env(env)
    run = Run.from_env({**RUNNER_ENV, "REVIEW_URL": ""})
    assert run.review == RUNNER_ENV["COMMIT_URL"]  # as runner.py falls back


# --- the published folder ----------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    out: Path  # as labgrade wrote it, in the teacher's classroom50 repository
    bundle: Path  # as runner.py extracted it from the Pages tarball
    tarball: Path


def publish(out: Path, runtime: Path) -> Published:
    """OUT tarred as publish-pages.yaml does (`tar -czf SLUG.tar.gz -C autograders SLUG`),
    and extracted as runner.py's extract_tarball does (filter="data")."""
    runtime.mkdir(parents=True)
    tarball = runtime.parent / f"{out.name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    with tarfile.open(tarball, "r:gz") as tar:
        tar.extractall(runtime, filter="data")
    return Published(out, runtime / out.name, tarball)


def _build(tmp: Path, *args: str) -> Path:
    out = tmp / "classroom50" / CLASSROOM / "autograders" / SLUG
    proc = run_labgrade("classroom50", str(out), "--lab", "tracking", *args)
    assert proc.returncode == 0, proc.stderr
    assert '{"python": "3.' in proc.stdout  # the runtime the teacher sets
    return out


@pytest.fixture(scope="module")
def rubric_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracking lab's rubric with its tag check hidden."""
    path = tmp_path_factory.mktemp("rubric") / "rubric.toml"
    text = TRACKING.rubric_path.read_text()
    path.write_text(text.replace("[checks.tag]\n", '[checks.tag]\nvisibility = "hidden"\n'))
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, rubric_path: Path) -> Published:
    tmp = tmp_path_factory.mktemp("published")
    out = _build(tmp, "--rubric", str(rubric_path))
    return publish(out, tmp / "runner-temp" / "classroom50-runtime")


def test_the_folder_holds_the_entrypoint_and_the_grader_and_no_solution(
    published: Published, rubric_path: Path
) -> None:
    import mlflow

    out = published.out
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "autograder.py" in names
    assert {
        "labgrade/pyproject.toml",
        "labgrade/constraints.txt",
        "labgrade/grader/platforms/classroom50.py",
        "labgrade/grader/course/worker.py",
        "labgrade/grader/labs/tracking/checks.py",
    } <= names
    assert not [n for n in names if n.endswith(NOTEBOOK)]  # neither the solution nor the template
    assert not [n for n in names if "/labs/registry/" in n]  # nor another lab
    bundled = (out / "labgrade/grader/labs/tracking/rubric.toml").read_text()
    assert bundled == rubric_path.read_text()  # the instructor's, hidden check included
    assert f"mlflow=={mlflow.__version__}" in (out / "labgrade/constraints.txt").read_text()
    entry = (out / "autograder.py").read_text()
    assert not re.search(r"@[A-Z]+@", entry)
    assert 'LAB = "tracking"' in entry
    assert 'TIMEOUT = "300"' in entry
    assert f'PYTHON = "{sys.version_info.major}.{sys.version_info.minor}"' in entry
    template = Path(classroom50.__file__).parent / "templates" / "autograder.py"
    assert entry.splitlines()[:5] == template.read_text().splitlines()[:5]
    compile(entry, "autograder.py", "exec")
    # What runner.py downloads and extracts: under its limit, and the same files.
    assert published.tarball.stat().st_size < MAX_FETCH_BYTES
    extracted = {
        p.relative_to(published.bundle).as_posix()
        for p in published.bundle.rglob("*")
        if p.is_file()
    }
    assert extracted == names


def test_a_rebuild_replaces_its_own_folder_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    out = _build(tmp_path)
    (out / "labgrade" / "stale.py").write_text("")
    assert _build(tmp_path) == out
    assert not (out / "labgrade" / "stale.py").exists()
    (out / "tests.json").write_text("{}")  # a teacher's own file: never deleted
    proc = run_labgrade("classroom50", str(out))
    assert proc.returncode == 3
    assert "did not write" in proc.stderr
    assert "tests.json" in proc.stderr
    assert (out / "tests.json").exists()
    assert (out / "autograder.py").exists()


def test_a_timeout_past_the_runners_job_limit_is_refused(tmp_path: Path) -> None:
    proc = run_labgrade("classroom50", str(tmp_path / "out"), "--timeout", "900")
    assert proc.returncode == 2
    assert "15 minutes" in proc.stderr
    assert f"at most {classroom50.MAX_TIMEOUT:g}" in proc.stderr


# --- autograder.py, run as runner.py runs it ---------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    output: str  # stdout and stderr: the workflow log students read
    checkout: Path
    github_output: str
    leftovers: list[str]

    @property
    def result(self) -> dict[str, Any]:
        return dict(json.loads((self.checkout / "result.json").read_text()))

    @property
    def body(self) -> str:
        return (self.checkout / "release-body.md").read_text()

    def outputs(self) -> dict[str, str]:
        """status and summary as GitHub reads $GITHUB_OUTPUT: the last line of each wins."""
        found: dict[str, str] = {}
        for line in self.github_output.splitlines():
            key, _, value = line.partition("=")
            found[key] = value
        return found


def run_entrypoint(bundle: Path, checkout: Path, tmp: Path, **env: str) -> Ran:
    """runner.py's run_entrypoint: `python autograder.py` (the runner's own interpreter) in
    the student's checkout, with the workflow's and the runner's variables. ENV: more of
    them, a variable given "" left out."""
    output = tmp / "github_output"
    output.write_text("")
    variables = {
        **os.environ,
        **RUNNER_ENV,
        "CLASSROOM50_BUNDLE_DIR": str(bundle.resolve()),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp / "runner-temp"),
        **env,
    }
    proc, leftovers = run_watched(
        [sys.executable, str(bundle / "autograder.py")],
        checkout,
        {key: value for key, value in variables.items() if value},
    )
    return Ran(proc.returncode, proc.stdout + proc.stderr, checkout, output.read_text(), leftovers)


def checkout_with(tmp: Path, notebook: bytes, name: str = NOTEBOOK, **extra: str) -> Path:
    """A student's repository as a template repository gives it: the notebook, as the lab
    names it (NAME, lab 1's by default), where `labgrade release` puts it, a README, and
    EXTRA files."""
    repo = tmp / REPO
    (repo / "student_template").mkdir(parents=True)
    (repo / "student_template" / name).write_bytes(notebook)
    (repo / "README.md").write_text("# Lab 1\n")
    (repo / ".classroom50.yaml").write_text(f"classroom: {CLASSROOM}\nassignment: {SLUG}\n")
    for rel, text in extra.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return repo


def _broken(checkout_dir: Path, output: Path) -> bytes:
    """The reference with a cell that forges result.json, release-body.md and a status, then
    raises before anything is logged."""
    nb = nbformat.read(REFERENCE, as_version=4)
    forged = json.dumps({**_good_result(), "score": 1000, "max-score": 1000})
    forge = f"""import os
for path, text in (({str(checkout_dir / "result.json")!r}, {forged!r}),
                   ({str(checkout_dir / "release-body.md")!r}, "all passed"),
                   ({str(output)!r}, "status=success\\nsummary=forged\\n")):
    try:
        with open(path, "a") as fh:
            fh.write(text)
    except OSError:
        pass  # confined: the checkout is out of its reach
raise RuntimeError("broken on purpose")"""
    nb.cells.insert(2, nbformat.v4.new_code_cell(forge))
    return nbformat.writes(nb).encode()


Entrypoint = Callable[[str], Ran]


@pytest.fixture(scope="module")
def graded(published: Published, tmp_path_factory: pytest.TempPathFactory) -> Entrypoint:
    """Each checkout graded once: the reference (through a venv autograder.py finds ready),
    the template and a broken notebook (LABGRADE_PYTHON standing in for that venv)."""
    cache: dict[str, Ran] = {}

    def grade(name: str) -> Ran:
        if name in cache:
            return cache[name]
        tmp = tmp_path_factory.mktemp(f"run-{name}")
        env: dict[str, str] = {"LABGRADE_PYTHON": sys.executable}
        if name == "reference":
            checkout = checkout_with(tmp, REFERENCE.read_bytes())
            env = {"LABGRADE_VENV": str(_ready_venv(published.bundle, tmp / "venv"))}
        elif name == "template":
            checkout = checkout_with(tmp, TEMPLATE.read_bytes())
        else:
            checkout_dir = tmp / REPO
            # A grader/ of the student's own, as a released repository has one: never run.
            trap = f"open({str(tmp / 'imported')!r}, 'w').write('student grader imported')\n"
            checkout = checkout_with(
                tmp,
                _broken(checkout_dir, tmp / "github_output"),
                **{"grader/__init__.py": trap, "grader/platforms/__init__.py": trap},
            )
        cache[name] = run_entrypoint(published.bundle, checkout, tmp, **env)
        return cache[name]

    return grade


def _ready_venv(bundle: Path, venv: Path) -> Path:
    """A venv as autograder.py leaves it after installing this bundle (its marker files),
    whose python is this suite's: what a later run on the same runner finds."""
    path = bundle / "autograder.py"
    entry: dict[str, Any] = {"__file__": str(path), "__name__": "entrypoint"}
    exec(compile(path.read_text(), str(path), "exec"), entry)  # no __pycache__ in the bundle
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (venv / entry["OURS"]).write_text("")
    (venv / entry["READY"]).write_text(entry["bundle_digest"]())
    return venv


@pytest.mark.slow
@pytest.mark.xdist_group("classroom50")
def test_reference_gets_full_marks_in_a_result_the_runner_accepts(graded: Entrypoint) -> None:
    ran = graded("reference")
    assert ran.code == 0, ran.output
    assert "is installed in" in ran.output  # the venv found ready, nothing installed
    assert valid(ran.result) is None
    assert (ran.result["score"], ran.result["max-score"]) == (100, 100)
    assert all(t["passed"] for t in ran.result["tests"])
    assert len(ran.result["tests"]) == len(TRACKING.rubric().checks)
    assert ran.result["submission"] == SUBMISSION
    assert ran.outputs()["status"] == "success"
    assert ran.outputs()["summary"] == "labgrade tracking: 100/100 (7/7 checks passed)"
    assert ran.body.startswith("# MLflow Tracking lab: 100/100")
    assert "What to fix" not in ran.body
    assert ran.leftovers == []


@pytest.mark.slow
@pytest.mark.xdist_group("classroom50")
def test_template_gets_zero_with_what_to_fix_and_the_lab_step(graded: Entrypoint) -> None:
    ran = graded("template")
    assert ran.code == 0, ran.output
    assert valid(ran.result) is None
    assert ran.result["score"] == 0
    assert not any(t["passed"] for t in ran.result["tests"])
    assert ran.outputs()["status"] == "failure"
    assert "## What to fix" in ran.body
    assert "(revisit Step 4 of the lab)" in ran.body
    assert ran.leftovers == []


@pytest.mark.slow
@pytest.mark.xdist_group("classroom50")
def test_broken_notebook_is_graded_and_cannot_forge_its_result(graded: Entrypoint) -> None:
    ran = graded("broken")
    assert ran.code == 0, ran.output
    assert valid(ran.result) is None
    assert ran.result["score"] == 0
    assert "broken on purpose" in ran.body
    assert "all passed" not in ran.body
    assert ran.outputs() == {
        "status": "failure",
        "summary": "labgrade tracking: 0/100 (0/7 checks passed, notebook error)",
    }
    assert not (ran.checkout.parent / "imported").exists()  # the student's grader/ never ran
    assert ran.leftovers == []


@pytest.mark.slow
@pytest.mark.xdist_group("classroom50")
def test_hidden_check_stays_out_of_what_students_read(graded: Entrypoint) -> None:
    for name in ("reference", "template"):
        ran = graded(name)
        tag = next(t for t in ran.result["tests"] if t["test-name"] == "hidden check 1")
        assert tag["max-score"] == 10
        published = json.dumps(ran.result) + ran.body + ran.output
        assert "Training Info" not in published, name  # its title, found value and fix
        assert "grader's log is left out" in ran.output


@pytest.mark.slow
@pytest.mark.xdist_group("classroom50")
def test_grading_leaves_the_published_bundle_as_it_was(
    graded: Entrypoint, published: Published
) -> None:
    for name in ("reference", "template", "broken"):
        graded(name)
    with tarfile.open(published.tarball) as tar:
        archived = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    now = {
        p.relative_to(published.bundle).as_posix()
        for p in published.bundle.rglob("*")
        if p.is_file()
    }
    assert now == archived  # no __pycache__, build/ or egg-info written into it


@pytest.fixture(scope="module")
def lab_graded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Ran]:
    """A lab's reference in a checkout, graded once by that lab's own published folder
    (`labgrade classroom50 --lab ID`, its rubric as installed) as the runner runs it,
    LABGRADE_PYTHON standing in for the venv autograder.py would make."""
    cache: dict[str, Ran] = {}

    def grade(lab_id: str) -> Ran:
        if lab_id not in cache:
            lab = labs.load(lab_id)
            tmp = tmp_path_factory.mktemp(f"run-{lab_id}")
            out = tmp / "classroom50" / CLASSROOM / "autograders" / SLUG
            classroom50.build(out, lab, lab.rubric(), 300)
            published = publish(out, tmp / "runner-temp" / "classroom50-runtime")
            reference = (lab.reference / lab.notebook).read_bytes()
            checkout = checkout_with(tmp, reference, lab.notebook)
            # The grading imports the bundle's grader, as from the venv autograder.py installs
            # it into, not this checkout's: what the bundle lacks, the grading lacks.
            package = str(published.bundle / classroom50.PACKAGE)
            cache[lab_id] = run_entrypoint(
                published.bundle, checkout, tmp, LABGRADE_PYTHON=sys.executable, PYTHONPATH=package
            )
        return cache[lab_id]

    return grade


@pytest.mark.parametrize("lab_id", later_labs("classroom50-reference"))
def test_each_labs_reference_gets_full_marks_on_classroom50(
    lab_id: str, lab_graded: Callable[[str], Ran]
) -> None:
    rubric = labs.load(lab_id).rubric()
    ran = lab_graded(lab_id)
    assert ran.code == 0, ran.output[-3000:]
    assert valid(ran.result) is None, ran.result
    full = int(sum(spec.points for spec in rubric.checks))
    assert (ran.result["score"], ran.result["max-score"]) == (full, full), ran.body
    assert [(t["test-name"], t["passed"]) for t in ran.result["tests"]] == [
        (spec.title, True) for spec in rubric.checks
    ]
    n = len(rubric.checks)
    assert ran.outputs() == {
        "status": "success",
        "summary": f"labgrade {lab_id}: {full}/{full} ({n}/{n} checks passed)",
    }
    assert ran.body.startswith(f"# {rubric.title}: {full}/{full}")
    assert "What to fix" not in ran.body
    assert ran.leftovers == []


# --- autograder.py when it cannot grade --------------------------------------------------------


def _annotation(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("::error title=labgrade::")]
    assert len(lines) == 1, output
    return lines[0]


def test_without_the_runners_variables_it_exits_non_zero_and_says_why(
    published: Published, tmp_path: Path
) -> None:
    checkout = checkout_with(tmp_path, REFERENCE.read_bytes())
    ran = run_entrypoint(
        published.bundle, checkout, tmp_path, LABGRADE_PYTHON=sys.executable, SUBMISSION_TAG=""
    )
    assert ran.code == 1
    assert "SUBMISSION_TAG not set" in _annotation(ran.output)
    assert not (checkout / "result.json").exists()  # the runner writes its error result
    assert ran.github_output == ""


def test_on_another_python_it_names_the_runtime_to_set(
    published: Published, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(published.bundle, bundle)
    entry = bundle / "autograder.py"
    entry.write_text(re.sub(r'^PYTHON = ".*"$', 'PYTHON = "3.99"', entry.read_text(), flags=re.M))
    checkout = checkout_with(tmp_path, REFERENCE.read_bytes())
    ran = run_entrypoint(bundle, checkout, tmp_path, LABGRADE_PYTHON="")
    assert ran.code == 1
    assert 'set the assignment\'s runtime to {"python": "3.99"}' in _annotation(ran.output)
    assert not (tmp_path / "runner-temp").exists()  # nothing installed


def test_a_failed_install_exits_non_zero_and_leaves_the_bundle_untouched(
    published: Published, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(published.bundle, bundle)
    before = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    checkout = checkout_with(tmp_path, REFERENCE.read_bytes())
    # No index and no pip configuration: pip cannot find a package and fails at once.
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    offline |= {"PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": ""}
    ran = run_entrypoint(bundle, checkout, tmp_path, LABGRADE_PYTHON="", **offline)
    assert ran.code == 1
    assert "pip install failed" in _annotation(ran.output)
    assert not (checkout / "result.json").exists()
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")) == before
    venv = tmp_path / "runner-temp" / "labgrade-tracking"
    assert (venv / ".labgrade-venv").is_file()  # its own: the next run may replace it
    assert not (venv / ".labgrade-bundle").exists()  # and not taken for a ready one


def test_it_never_replaces_a_folder_it_did_not_make(published: Published, tmp_path: Path) -> None:
    mine = tmp_path / "my-env"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    checkout = checkout_with(tmp_path, REFERENCE.read_bytes())
    ran = run_entrypoint(
        published.bundle, checkout, tmp_path, LABGRADE_PYTHON="", LABGRADE_VENV=str(mine)
    )
    assert ran.code == 1
    assert "is not a venv this script made" in _annotation(ran.output)
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


def test_the_folder_as_runner_py_fetches_it_unpacks_safely(published: Published) -> None:
    """runner.py extracts with tarfile's "data" filter: no links, nothing outside the folder."""
    data = published.tarball.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert all(m.isfile() or m.isdir() for m in members)
    assert {m.name.split("/", 1)[0] for m in members} == {SLUG}


def test_notes_that_explain_the_grade_reach_the_release_body() -> None:
    note = "the grader applied sklearn_skops_trusted_types=...: the lab's code needs it"
    result = replace(_result({}), notes=(note,))
    body = classroom50.release_body(result, TRACKING.rubric(), "tracking", Run.from_env(RUNNER_ENV))
    assert f"- {note}" in body


def test_a_repository_without_one_notebook_to_grade_is_told_in_its_terms(tmp_path: Path) -> None:
    nb = TRACKING.notebook
    (tmp_path / "draft.ipynb").write_text("{}")
    (tmp_path / "final.ipynb").write_text("{}")
    outcome = classroom50.autograde(tmp_path, "tracking", 60.0, Run.from_env(RUNNER_ENV))
    assert valid(outcome.result) is None
    assert outcome.result["score"] == 0
    assert f"keep your work in {nb} alone (remove the other copies) and push" in outcome.body
    assert "draft.ipynb, final.ipynb" in outcome.body
    assert "pass the one to grade" not in outcome.body
    assert outcome.status == "failure"
