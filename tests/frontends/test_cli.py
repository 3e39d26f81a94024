"""`pytest grader` as a command: options, exit codes and errors that need no server."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
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
        "grader: submission "
        + str(ROOT / "student_template" / "tracking" / "lab1_tracking_quickstart.ipynb")
        in proc.stdout
    )
    assert "timeout 300 s" in proc.stdout
    assert "test_check[registered_model]" in proc.stdout


# ----- labgrade's exit codes: 2 for the command or its inputs, 3 for the machine -----


def _labgrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.frontends.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _canvas_class(tmp_path: Path) -> tuple[Path, Path]:
    """A Canvas download of two students, and a gradebook export that lists only one."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("smith_john_1001_5001_lab1.ipynb", "doe_jane_3003_5003_lab1.ipynb"):
        (folder / name).write_text("{}", encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (1234)\r\n"
        "    Points Possible,,,,,10\r\n"
        '"Smith, John",1001,s1,smith,Section 1,\r\n',
        encoding="utf-8",
    )
    return folder, export


def _refused(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("labgrade: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_labgrade_exits_2_for_what_the_instructor_fixes(tmp_path: Path) -> None:
    folder, export = _canvas_class(tmp_path)
    out = str(tmp_path / "out")
    _refused(_labgrade("batch", str(tmp_path / "nope"), "--out", out), 2, "does not exist", "Fix:")
    _refused(
        _labgrade("batch", str(folder), "--out", out, "--only", "ghost_9"),
        2,
        "--only ghost_9: no such student",
        "doe_jane_3003, smith_john_1001",
    )
    _refused(
        _labgrade(
            "batch", str(folder), "--out", out, "--canvas-gradebook", str(export),
            "--canvas-assignment", "Lab 1",
        ),
        2,
        "doe_jane_3003_5003_lab1.ipynb (Canvas ID 3003)",
        "Fix:",
    )  # fmt: skip
    _refused(
        _labgrade(
            "batch", str(folder), "--out", out, "--canvas-gradebook", str(export),
            "--canvas-assignment", "Lab 9",
        ),
        2,
        "Lab 9",
    )  # fmt: skip
    _refused(_labgrade("batch", str(folder), "--out", out, "--memory-limit", "lots"), 2, "lots")
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("student,check_or_total,points,reason\nghost_9,total,50,typo\n")
    _refused(
        _labgrade("batch", str(folder), "--out", out, "--overrides", str(overrides)),
        2,
        "overrides for ghost_9, who have no submission here",
    )
    assert not (tmp_path / "out" / "adjustments.json").exists()  # a refused policy is not kept
    _refused(_labgrade("batch", str(folder), "--out", out, "--late-penalty", "150"), 2, "150")
    escaping = tmp_path / "class.zip"
    with zipfile.ZipFile(escaping, "w") as zf:
        zf.writestr("../outside.ipynb", "{}")
    _refused(
        _labgrade("batch", str(escaping), "--out", out),
        2,
        "refused to unpack: '../outside.ipynb'",
    )
    assert not (tmp_path / "outside.ipynb").exists()
    assert not (tmp_path / "out" / "grades.csv").exists()  # refused before anything was graded


def test_labgrade_exits_3_only_for_the_machine(tmp_path: Path) -> None:
    folder, _ = _canvas_class(tmp_path)
    proc = _labgrade(
        "batch", str(folder), "--out", str(tmp_path / "out"), "--disk-limit", "1000000GiB"
    )
    _refused(proc, 3, "free disk", "Fix:")
