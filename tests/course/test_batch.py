"""`labgrade batch` on an LMS zip of mixed submissions: rows, statuses, resume, --only, shards."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.course.roster import student_id
from grader.labs import load
from tests.helpers import (
    CHECK_IDS,
    ROOT,
    SUBMISSIONS,
    TOKEN_VAR,
    describe,
    processes_with_token,
    run_labgrade,
    signal_when_running,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]

REFERENCE = ROOT / "reference" / "lab1_tracking_quickstart.ipynb"
# zip member -> (student id, status, score)
CLASS = {
    "smith_john_1001_5001_lab1.ipynb": (REFERENCE, 0),
    "smith_john_1001_5002_lab1-1.ipynb": (SUBMISSIONS / "loses_tag.ipynb", 1),  # newer: wins
    "Ada Lovelace_2002_assignsubmission_file_/lab1.ipynb": (SUBMISSIONS / "error_in_cell.ipynb", 0),
    "doe_jane_LATE_3003_5003_lab.ipynb": (SUBMISSIONS / "timeout_after_logging.ipynb", 0),
    "turing_alan_4004_5004_lab.ipynb": (None, 0),  # binary data named .ipynb
}
EXPECTED = {
    "smith_john_1001": ("ok", 90.0),
    "ada_lovelace_2002": ("error", 20.0),  # its run logged no model: params unproven too
    "doe_jane_3003": ("timeout", 85.0),
    "turing_alan_4004": ("invalid", 0.0),
}
TIMEOUT = "90"


@dataclass(frozen=True)
class BatchRun:
    code: int
    stdout: str
    stderr: str
    out: Path
    leftovers: list[str]

    def rows(self) -> list[dict[str, str]]:
        with (self.out / "grades.csv").open(newline="") as fh:
            return list(csv.DictReader(fh))


def labgrade(*args: str) -> BatchRun:
    token = uuid.uuid4().hex
    env = {**os.environ, TOKEN_VAR: token}
    proc = run_labgrade(*args, timeout=900, env=env)
    leftovers = describe(processes_with_token(token))
    out = Path(args[args.index("--out") + 1])
    return BatchRun(proc.returncode, proc.stdout, proc.stderr, out, leftovers)


@pytest.fixture(scope="module")
def lms_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lms") / "submissions.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member, (source, age) in CLASS.items():
            data = source.read_bytes() if source else b"\x89PNG\r\n\x1a\n\x00\x00binary"
            zf.writestr(zipfile.ZipInfo(member, date_time=(2026, 11, 20 + age, 12, 0, 0)), data)
    return path


@pytest.fixture(scope="module")
def first(lms_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> BatchRun:
    out = tmp_path_factory.mktemp("book") / "out"
    return labgrade("batch", str(lms_zip), "--out", str(out), "--jobs", "2", "--timeout", TIMEOUT)


def test_lms_names_become_student_ids() -> None:
    assert student_id("smith_john_1001_5001_lab1.ipynb") == ("smith_john_1001", True)
    assert student_id("doe_jane_LATE_3003_5003_lab.ipynb") == ("doe_jane_3003", True)
    assert student_id("Ada Lovelace_2002_assignsubmission_file_") == ("ada_lovelace_2002", True)
    assert student_id("Bob.ipynb") == ("bob", False)


def test_every_student_gets_a_row_with_status_and_score(first: BatchRun) -> None:
    assert first.code == 0, first.stderr
    rows = first.rows()
    assert rows[0]["id"] == "POINTS POSSIBLE"
    assert [rows[0][c] for c in ("experiment", "registered_model", "total")] == ["10", "20", "100"]
    got = {r["id"]: (r["status"], float(r["total"])) for r in rows[1:]}
    assert got == EXPECTED


def test_csv_shape_and_per_student_files(first: BatchRun) -> None:
    with (first.out / "grades.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["id", "file", *CHECK_IDS, "total", "max", "status", "seconds", "note"]
    for student in EXPECTED:
        assert (first.out / student / "results.json").is_file()
        feedback = (first.out / student / "feedback.md").read_text()
        assert feedback.startswith("# MLflow Tracking lab: ")
    smith = next(r for r in first.rows() if r["id"] == "smith_john_1001")
    assert smith["file"] == "smith_john_1001_5002_lab1-1.ipynb"
    assert "newest of 2 files" in smith["note"]
    assert "smith_john_1001_5001_lab1.ipynb" in smith["note"]
    assert "Training Info" in (first.out / "smith_john_1001" / "feedback.md").read_text()


def test_no_process_outlives_the_batch(first: BatchRun) -> None:
    assert first.leftovers == []


def test_rerun_resumes_and_only_regrades_one(first: BatchRun, lms_zip: Path) -> None:
    again = labgrade("batch", str(lms_zip), "--out", str(first.out), "--timeout", TIMEOUT)
    assert "graded 0, skipped 4 unchanged" in again.stdout
    assert again.rows() == first.rows()
    only = labgrade("batch", str(lms_zip), "--out", str(first.out), "--only", "turing_alan_4004")
    assert "graded 1, skipped 3" in only.stdout
    assert len(only.rows()) == 5
    assert only.leftovers == []


def test_shards_merge_into_the_unsharded_gradebook(
    first: BatchRun, lms_zip: Path, tmp_path: Path
) -> None:
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for k, out in enumerate(shards, start=1):
        run = labgrade(
            "batch",
            str(lms_zip),
            "--out",
            str(out),
            "--shard",
            f"{k}/2",
            "--jobs",
            "2",
            "--timeout",
            TIMEOUT,
        )
        assert run.code == 0, run.stderr
        assert 1 <= len(run.rows()) - 1 <= 3
    merged = labgrade("merge", *map(str, shards), "--out", str(tmp_path / "merged"))
    assert merged.code == 0
    assert comparable(merged.rows()) == comparable(first.rows())


def test_warm_and_cold_batches_grade_alike(first: BatchRun, lms_zip: Path, tmp_path: Path) -> None:
    """Forked workers, servers and probes (the default) give the grades fresh Pythons give."""
    out = str(tmp_path / "cold")
    cold = labgrade("batch", str(lms_zip), "--out", out, "--timeout", TIMEOUT, "--cold")
    assert cold.code == 0, cold.stderr
    assert comparable(cold.rows()) == comparable(first.rows())
    assert cold.leftovers == []


def comparable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_ctrl_c_keeps_finished_rows_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "broken.ipynb").write_bytes(b"\x00\x01 not a notebook")
    (folder / "hangs.ipynb").write_bytes((SUBMISSIONS / "timeout_after_logging.ipynb").read_bytes())
    out = tmp_path / "out"
    token = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.frontends.cli", "batch", str(folder), "--out", str(out),
         "--jobs", "2", "--timeout", "600"],
        cwd=ROOT, env={**os.environ, TOKEN_VAR: token}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert signal_when_running(proc, token, limit=240)
    _, stderr = proc.communicate(timeout=120)
    assert describe(processes_with_token(token)) == []
    assert proc.returncode == 130, stderr
    rows = {r["id"]: r["status"] for r in BatchRun(0, "", "", out, []).rows()[1:]}
    assert rows == {"broken": "invalid"}  # the finished row is kept, the interrupted one is not
    assert not (out / "hangs" / "results.json").exists()  # so the next run grades it


def test_a_batch_of_the_registry_lab(tmp_path: Path) -> None:
    lab = load("registry")
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(lab.reference / lab.notebook, folder / "ada.ipynb")
    shutil.copy(lab.template / lab.notebook, folder / "bob.ipynb")
    run = labgrade(
        "batch", str(folder), "--out", str(tmp_path / "out"), "--lab", "registry", "--jobs", "2"
    )
    assert run.code == 0, run.stderr
    rows = run.rows()
    assert list(rows[0])[2:-5] == lab.rubric().ids
    got = {r["id"]: (r["status"], float(r["total"])) for r in rows[1:]}
    assert got == {"ada": ("ok", 100.0), "bob": ("ok", 0.0)}
    feedback = (run.out / "bob" / "feedback.md").read_text()
    assert feedback.startswith("# MLflow Model Registry lab: 0/100")
    assert "(0/15, Step 1): no run was logged" in feedback
    assert run.leftovers == []
