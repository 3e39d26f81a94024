"""GitHub Actions: the job summary, the annotations and the (legacy) GitHub Classroom runner
results of real gradings (run with GITHUB_STEP_SUMMARY and GITHUB_OUTPUT in tmp_path), and
the workflow."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from grader import labs
from grader.engine.output.results import CheckResult, ExecutionResult, GradeResult, TrackingInfo
from grader.platforms.github import (
    GRADED_OS,
    MACOS,
    REPORT_VAR,
    WINDOWS,
    annotation_commands,
    publish,
    workflow_yaml,
)
from tests.helpers import CHECK_IDS, ROOT, SUBMISSIONS, TRACKING, GradingRun
from tests.platform_formats import (
    CLASSROOM_RUNNER,
    github_outputs,
    reporter_points,
    reporter_reads,
)

WORKFLOW = ROOT / "student_template" / "tracking" / ".github" / "workflows" / "classroom.yml"
Grade = Callable[..., GradingRun]

# Submissions test_grading.py grades too: same xdist group, so each is graded once.
RUNS = [
    pytest.param(path, score, id=group, marks=[pytest.mark.slow, pytest.mark.xdist_group(group)])
    for path, score, group in [
        (ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb", 100, "reference"),
        (
            ROOT / "student_template" / "tracking" / "lab1_tracking_quickstart.ipynb",
            0,
            "student_template",
        ),
        (SUBMISSIONS / "loses_tag.ipynb", 90, "loses_tag"),
        (SUBMISSIONS / "invalid_not_json.ipynb", 0, "invalid_not_json"),
    ]
]


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps() -> list[dict[str, Any]]:
    return list(_workflow()["jobs"]["run-autograding-tests"]["steps"])


@pytest.mark.parametrize(("path", "score"), RUNS)
def test_legacy_step_outputs_are_classroom_runner_results_with_the_points(
    graded_run: Grade, path: Path, score: float
) -> None:
    """What GitHub Classroom's reporter read (`<ID>_RESULTS` per runner): still written."""
    run = graded_run(path)
    assert run.result is not None
    outputs = github_outputs(run.github_output)
    assert set(outputs) == set(CHECK_IDS)
    env = {f"{cid.upper()}_RESULTS": value for cid, value in outputs.items()}
    runners = reporter_reads(env, ",".join(CHECK_IDS))
    for _, runner in runners:
        jsonschema.validate(runner, CLASSROOM_RUNNER)
    assert reporter_points(runners) == f"Points {score:g}/100"
    assert reporter_points(runners) == f"Points {run.result['score']:g}/100"
    by_id = dict(runners)
    for check in run.result["checks"]:
        test = by_id[check["id"]]["tests"][0]
        assert (test["score"], test["message"]) == (check["score"], check["message"])
        assert by_id[check["id"]]["max_score"] == check["max_score"]
        invalid = run.result["execution"]["status"] == "invalid"
        assert test["status"] == ("pass" if check["passed"] else "error" if invalid else "fail")


@pytest.mark.parametrize(("path", "score"), RUNS)
def test_job_summary_is_a_markdown_score_table(graded_run: Grade, path: Path, score: float) -> None:
    run = graded_run(path)
    assert run.result is not None
    lines = run.step_summary.splitlines()
    assert lines[0] == f"### MLflow Tracking lab: {score:g}/100"
    rows = [ln for ln in lines if ln.startswith("| ✅ |") or ln.startswith("| ❌ |")]
    assert len(rows) == len(CHECK_IDS)
    for check, row in zip(run.result["checks"], rows, strict=True):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 4, row  # a message's own "|" cannot break the table
        assert cells[0] == ("✅" if check["passed"] else "❌")
        assert cells[2] == f"{check['score']:g}/{check['max_score']:g}"
    assert f"**Points {score:g}/100**" in run.step_summary


def test_committed_workflow_is_the_one_release_writes_for_the_default_rubric() -> None:
    assert WORKFLOW.read_text() == workflow_yaml(labs.load(labs.DEFAULT).rubric())


@pytest.mark.parametrize("lab_id", labs.ids())
def test_each_labs_workflow_grades_with_pytest_grader_and_names_no_check(lab_id: str) -> None:
    """The workflow names no lab: `pytest grader` reads grade_lab from the released pyproject."""
    rubric = labs.load(lab_id).rubric()
    text = workflow_yaml(rubric)
    steps = yaml.safe_load(text)["jobs"]["run-autograding-tests"]["steps"]
    grade = next(s for s in steps if s.get("id") == "grade")
    assert grade["run"].startswith("pytest grader ")
    assert "--lab" not in grade["run"]
    assert "--rubric" not in grade["run"]
    assert not [cid for cid in rubric.ids if f"{cid.upper()}_RESULTS" in text]
    assert rubric.title in text.splitlines()[0]


def test_workflow_lints() -> None:
    doc = _workflow()
    assert doc["name"] == "Autograding Tests"
    assert "push" in doc["on"]
    # No token scope beyond reading: nothing posts a check run any more.
    assert doc["permissions"] == {"actions": "read", "contents": "read"}
    job = doc["jobs"]["run-autograding-tests"]  # legacy name, from GitHub Classroom's days
    assert job["runs-on"] == "${{ matrix.os }}"
    uses = [s.get("uses", "") for s in job["steps"]]
    assert uses == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "",
        "",
        "",
        "actions/upload-artifact@v4",
    ]
    assert "GitHub Classroom ended on 2026-08-28" in WORKFLOW.read_text()
    for step in job["steps"]:
        assert set(step) <= {"name", "id", "uses", "run", "with", "env", "if"}, step
        assert ("uses" in step) != ("run" in step), step
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"] == {"python-version-file": ".python-version"}
    grade = next(s for s in job["steps"] if s.get("id") == "grade")
    assert grade["run"].startswith("pytest grader ")
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-art"))
    assert upload["with"]["path"] == "feedback/"
    for written in re.findall(r"--(?:grade-json|grade-feedback|junitxml) (\S+)", grade["run"]):
        assert written.startswith("feedback/")
    # After a failing grade step (exit 1 below full marks) the feedback still goes out.
    assert upload["if"] == "${{ !cancelled() }}"


# What a leg of the matrix sees: the expressions the workflow uses, evaluated as Actions
# would for that leg (anything else is refused, so a new expression needs a look here).
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _evaluate(expression: str, os_name: str) -> str:
    if expression == "matrix.os":
        return os_name
    if expression == "!cancelled()":
        return "true"
    compared = re.fullmatch(r"matrix\.os (==|!=) '([\w.-]+)'", expression)
    assert compared, f"an expression the test cannot evaluate: {expression}"
    same = os_name == compared[2]
    return str(same if compared[1] == "==" else not same).lower()


def _for_leg(value: Any, os_name: str) -> Any:
    if isinstance(value, str):
        return _EXPRESSION.sub(lambda m: _evaluate(m[1], os_name), value)
    if isinstance(value, dict):
        return {k: _for_leg(v, os_name) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_leg(v, os_name) for v in value]
    return value


def _legs() -> dict[str, dict[str, Any]]:
    """OS -> the job as that leg runs it: its steps that run, expressions evaluated."""
    job = _workflow()["jobs"]["run-autograding-tests"]
    legs = {}
    for os_name in job["strategy"]["matrix"]["os"]:
        leg = _for_leg({k: v for k, v in job.items() if k != "strategy"}, os_name)
        leg["steps"] = [s for s in leg["steps"] if s.get("if", "true") == "true"]
        legs[os_name] = leg
    return legs


def test_workflow_grades_on_linux_macos_and_windows() -> None:
    job = _workflow()["jobs"]["run-autograding-tests"]
    assert job["strategy"]["matrix"]["os"] == [GRADED_OS, MACOS, WINDOWS]
    assert job["strategy"]["fail-fast"] is False  # one system failing cancels no other's proof
    assert {os_name: leg["runs-on"] for os_name, leg in _legs().items()} == {
        GRADED_OS: GRADED_OS,
        MACOS: MACOS,
        WINDOWS: WINDOWS,
    }


def test_each_legs_commands_are_bash_that_its_system_runs() -> None:
    """Every leg runs its steps in bash (Git Bash on Windows): no venv path of one system
    (.venv/bin, .venv\\Scripts), only programs setup-python puts on the PATH of each."""
    for os_name, leg in _legs().items():
        assert leg["defaults"] == {"run": {"shell": "bash"}}, os_name
        runs = [s for s in leg["steps"] if "run" in s]
        assert [s["run"].split()[:2] for s in runs] == [
            ["python", "-m"],
            ["pytest", "grader"],
        ], os_name
        for step in runs:
            assert "shell" not in step, step
            assert ".venv" not in step["run"], step
            assert "\\" not in step["run"], step
            syntax = subprocess.run(["bash", "-n", "-c", step["run"]], capture_output=True)
            assert syntax.returncode == 0, (os_name, step["run"], syntax.stderr)


def test_only_the_linux_leg_installs_the_linux_pins() -> None:
    """constraints.txt was resolved on Linux: a pin may have no macOS or Windows wheel."""
    for os_name, leg in _legs().items():
        (install,) = [s["run"] for s in leg["steps"] if "pip install" in s.get("run", "")]
        assert install.endswith(" -e ."), install
        assert ("-c constraints.txt" in install) == (os_name == GRADED_OS), (os_name, install)


def test_each_legs_feedback_artifact_has_its_own_name() -> None:
    names = {}
    for os_name, leg in _legs().items():
        upload = next(s for s in leg["steps"] if s.get("uses", "").startswith("actions/upload"))
        names[os_name] = upload["with"]["name"]
    assert names == {o: f"feedback-{o}" for o in (GRADED_OS, MACOS, WINDOWS)}


def test_only_the_linux_leg_reports_the_grade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The grade step's REPORT_VAR is "true" on ubuntu-latest alone, and publish() writes
    no summary, output or annotation where it is "false": one grade per push."""
    reports = {}
    for os_name, leg in _legs().items():
        grade = next(s for s in leg["steps"] if s.get("id") == "grade")
        reports[os_name] = grade["env"][REPORT_VAR]
    assert reports == {GRADED_OS: "true", MACOS: "false", WINDOWS: "false"}
    rubric = labs.load(labs.DEFAULT).rubric()
    for report, written in (("false", False), ("true", True)):
        summary, output = tmp_path / f"summary-{report}", tmp_path / f"output-{report}"
        env = {
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ACTIONS": "true",
            REPORT_VAR: report,
        }
        publish(None, rubric, "the server did not start", env=env)
        assert summary.exists() == written, report
        assert output.exists() == written, report
        assert ("::error title=" in capsys.readouterr().out) == written, report


def test_grader_failure_reports_every_check_as_error_with_the_reason(tmp_path: Path) -> None:
    rubric = TRACKING.rubric()
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_OUTPUT": str(tmp_path / "out")}
    (tmp_path / "summary").write_text("earlier step\n")
    publish(None, rubric, "the MLflow server did not start", env)
    summary = (tmp_path / "summary").read_text()
    assert summary.startswith("earlier step\n")  # appended, as Actions expects
    assert "not graded" in summary
    assert "the MLflow server did not start" in summary
    outputs = github_outputs((tmp_path / "out").read_text())
    env = {f"{k.upper()}_RESULTS": v for k, v in outputs.items()}
    runners = reporter_reads(env, ",".join(rubric.ids))
    for _, runner in runners:
        jsonschema.validate(runner, CLASSROOM_RUNNER)
        assert runner["status"] == "error"
        assert "the MLflow server did not start" in runner["tests"][0]["message"]
    assert reporter_points(runners) == "Points 0/100"


def _unescape(text: str) -> str:
    """What the runner reads back from a workflow command's escaped field."""
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def test_annotations_are_one_command_per_line_whatever_the_messages_hold() -> None:
    rubric = TRACKING.rubric()
    hostile = "found 100%\n::error::forged, title: x\r"
    checks = tuple(
        CheckResult(
            s.id,
            f"{s.title}: a, b",
            0.0 if s.id == "tag" else s.points,
            s.points,
            s.id != "tag",
            hostile if s.id == "tag" else "ok",
        )
        for s in rubric.checks
    )
    result = GradeResult(
        "nb.ipynb", checks, ExecutionResult("ok", 3.0), TrackingInfo("http://127.0.0.1:1")
    )
    lines = annotation_commands(result, rubric)
    assert len(lines) == 2  # the points, and the one failing check
    assert all("\n" not in line and "\r" not in line for line in lines)
    notice = re.fullmatch(r"::notice title=([^:]*)::(.*)", lines[0])
    assert notice is not None
    assert _unescape(notice.group(1)) == f"{rubric.title}: Points 90/100"
    error = re.fullmatch(r"::error title=([^:]*)::(.*)", lines[1])
    assert error is not None
    assert _unescape(error.group(1)) == f"{rubric.check('tag').title}: a, b (0/10)"
    assert _unescape(error.group(2)) == hostile
    failed = annotation_commands(None, rubric, "the MLflow server did not start")
    assert len(failed) == 1
    assert failed[0].startswith("::error title=")
    assert "the MLflow server did not start" in failed[0]


def test_on_actions_pytest_grader_prints_the_annotations(graded_run: Grade) -> None:
    """An unreadable notebook is graded (score 0) before any server starts: quick."""
    run = graded_run(SUBMISSIONS / "invalid_not_json.ipynb", env={"GITHUB_ACTIONS": "true"})
    commands = [line for line in run.stdout.splitlines() if line.startswith("::")]
    assert commands[0].startswith("::notice title=MLflow Tracking lab%3A Points 0/100::")
    assert len(commands) == 1 + len(CHECK_IDS)  # every check failed
    assert all(c.startswith("::error title=") for c in commands[1:])
