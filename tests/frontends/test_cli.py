"""`pytest grader` as a command: options, exit codes and errors that need no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_submission_is_one_line_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    proc = _pytest("grader", "--submission", "nope/lab.ipynb", "--grade-json", str(out))
    assert proc.returncode == 4
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "nope/lab.ipynb: does not exist" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["score"] == 0
    assert data["execution"]["status"] == "invalid"


def test_options_are_one_group_in_help() -> None:
    proc = _pytest("--help")
    section = proc.stdout.split("MLflow lab grader:")[1].split("\n\n")[0]
    flags = ("--lab", "--submission", "--grade-timeout", "--grade-json", "--rubric")
    for flag in (*flags, "--grade-feedback", "--grade-cold"):
        assert flag in section
    for key in ("lab", "submission", "timeout", "json", "rubric", "feedback", "cold"):
        assert f"grade_{key}" in proc.stdout


def test_a_cold_start_is_in_the_header_by_flag_or_ini() -> None:
    assert "--grade-cold" not in _pytest("grader", "--collect-only").stdout
    for how in (["--grade-cold"], ["-o", "grade_cold=true"]):
        proc = _pytest("grader", "--collect-only", *how)
        assert proc.returncode == 0, proc.stderr
        assert "rubric.toml, --grade-cold" in proc.stdout


def test_grader_tests_are_not_collected_for_the_suite_itself() -> None:
    proc = _pytest("tests/engine/test_units.py", "--collect-only", "-q")
    assert proc.returncode == 0
    assert "grader/test_lab.py" not in proc.stdout
    assert "grader: submission" not in proc.stdout


def test_defaults_come_from_pyproject() -> None:
    proc = _pytest("grader", "--collect-only")
    assert proc.returncode == 0, proc.stderr
    assert (
        "grader: submission " + str(ROOT / "student_template" / "lab1_tracking_quickstart.ipynb")
        in proc.stdout
    )
    assert "timeout 300 s" in proc.stdout
    assert "test_check[registered_model]" in proc.stdout
