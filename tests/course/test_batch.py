"""`labgrade batch` on an LMS zip of mixed submissions: rows, statuses, resume, --only, shards,
and the floor of free disk it keeps."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.course.batch import BatchSettings, disk_limit, run_batch
from grader.course.diskspace import (
    DISK_HEADROOM,
    DiskGate,
    DiskSpaceError,
    Filesystem,
    filesystems,
)
from grader.course.gradebook import Row
from grader.course.roster import student_id
from grader.errors import GraderError
from grader.labs import load
from grader.sandbox.limits import with_values
from tests.helpers import (
    CHECK_IDS,
    ROOT,
    SUBMISSIONS,
    TOKEN_VAR,
    describe,
    later_labs,
    processes_with_token,
    run_labgrade,
    signal_when_running,
)

# End to end (a real server per grading) is slow; the disk checks below refuse before any.
pytestmark = [pytest.mark.xdist_group("batch"), pytest.mark.long]

REFERENCE = ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"
TEMPLATE = ROOT / "student_template" / "tracking" / "lab1_tracking_quickstart.ipynb"
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


@pytest.mark.slow
def test_every_student_gets_a_row_with_status_and_score(first: BatchRun) -> None:
    assert first.code == 0, first.stderr
    rows = first.rows()
    assert rows[0]["id"] == "POINTS POSSIBLE"
    assert [rows[0][c] for c in ("experiment", "registered_model", "total")] == ["10", "20", "100"]
    got = {r["id"]: (r["status"], float(r["total"])) for r in rows[1:]}
    assert got == EXPECTED


@pytest.mark.slow
def test_csv_shape_and_per_student_files(first: BatchRun) -> None:
    with (first.out / "grades.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == [
        "id", "file", *CHECK_IDS, "total", "max", "status", "seconds", "note", "late"
    ]  # fmt: skip
    for student in EXPECTED:
        assert (first.out / student / "results.json").is_file()
        feedback = (first.out / student / "feedback.md").read_text()
        assert feedback.startswith("# MLflow Tracking lab: ")
    smith = next(r for r in first.rows() if r["id"] == "smith_john_1001")
    assert smith["file"] == "smith_john_1001_5002_lab1-1.ipynb"
    assert "newest of 2 files" in smith["note"]
    assert "smith_john_1001_5001_lab1.ipynb" in smith["note"]
    # A status other than ok carries its cause, so a score beside it never reads as a riddle.
    notes = {r["id"]: r["note"] for r in first.rows()[1:]}
    assert "raised" in notes["ada_lovelace_2002"]
    assert "limit" in notes["doe_jane_3003"]
    assert notes["turing_alan_4004"]
    assert "Training Info" in (first.out / "smith_john_1001" / "feedback.md").read_text()
    # Canvas's _LATE is kept: a late row says so, in its own column and in its note.
    late = {r["id"]: r["late"] for r in first.rows()[1:]}
    assert late == {"smith_john_1001": "", "ada_lovelace_2002": "", "doe_jane_3003": "late",
                    "turing_alan_4004": ""}  # fmt: skip


@pytest.mark.slow
def test_no_process_outlives_the_batch(first: BatchRun) -> None:
    assert first.leftovers == []


@pytest.mark.slow
def test_rerun_resumes_and_only_regrades_one(first: BatchRun, lms_zip: Path) -> None:
    again = labgrade("batch", str(lms_zip), "--out", str(first.out), "--timeout", TIMEOUT)
    assert "graded 0, skipped 4 unchanged" in again.stdout
    assert again.rows() == first.rows()
    only = labgrade("batch", str(lms_zip), "--out", str(first.out), "--only", "turing_alan_4004")
    assert "graded 1, skipped 3" in only.stdout
    assert len(only.rows()) == 5
    assert only.leftovers == []


@pytest.mark.slow
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


@pytest.mark.slow
def test_warm_and_cold_batches_grade_alike(first: BatchRun, lms_zip: Path, tmp_path: Path) -> None:
    """Forked workers, servers and probes (the default) give the grades fresh Pythons give."""
    out = str(tmp_path / "cold")
    cold = labgrade("batch", str(lms_zip), "--out", out, "--timeout", TIMEOUT, "--cold")
    assert cold.code == 0, cold.stderr
    assert comparable(cold.rows()) == comparable(first.rows())
    assert cold.leftovers == []


def comparable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_batch_killed_outright_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL gives the batch no clean-up: its zygote dies by its death signal, and each
    worker is told by its own (SIGTERM), so the gradings still end everything they started."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "hangs.ipynb").write_bytes((SUBMISSIONS / "timeout_after_logging.ipynb").read_bytes())
    token = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.frontends.cli", "batch", str(folder), "--out",
         str(tmp_path / "out"), "--jobs", "1", "--timeout", "600"],
        cwd=ROOT, env={**os.environ, TOKEN_VAR: token}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert signal_when_running(proc, token, limit=240, sig=signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert describe(processes_with_token(token)) == []


@pytest.mark.parametrize("lab_id", later_labs("batch"))
def test_a_batch_of_each_lab(lab_id: str, tmp_path: Path) -> None:
    """Each lab's reference gets full marks in a batch; its template handed in unedited is
    not a failed attempt: not run, and said so."""
    lab = load(lab_id)
    rubric = lab.rubric()
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(lab.reference / lab.notebook, folder / "ada.ipynb")
    shutil.copy(lab.template / lab.notebook, folder / "bob.ipynb")
    run = labgrade(
        "batch", str(folder), "--out", str(tmp_path / "out"), "--lab", lab_id, "--jobs", "2"
    )
    assert run.code == 0, run.stderr
    rows = run.rows()
    assert list(rows[0])[2:-6] == rubric.ids
    full = sum(spec.points for spec in rubric.checks)
    assert float(rows[0]["total"]) == full
    students = {r["id"]: r for r in rows[1:]}
    got = {s: (r["status"], float(r["total"])) for s, r in students.items()}
    assert got == {"ada": ("ok", full), "bob": ("unattempted", 0.0)}, rows
    assert [float(students["ada"][c]) for c in rubric.ids] == [s.points for s in rubric.checks]
    result = json.loads((run.out / "ada" / "results.json").read_text(encoding="utf-8"))
    assert (result["score"], result["max_score"]) == (full, full)
    assert all(check["passed"] for check in result["checks"])
    praise = (run.out / "ada" / "feedback.md").read_text()
    assert praise.startswith(f"# {rubric.title}: {full:g}/{full:g}")
    assert students["bob"]["note"].startswith("unattempted: the lab's template as handed out")
    unrun = json.loads((run.out / "bob" / "results.json").read_text(encoding="utf-8"))
    assert unrun["execution"]["status"] == "not_executed"  # never run: no server, no kernel
    feedback = (run.out / "bob" / "feedback.md").read_text()
    assert feedback.startswith(f"# {rubric.title}: 0/{full:g}")
    assert "no code cell edited" in feedback
    assert "Fill in the template's code cells" in feedback
    assert run.leftovers == []


# ----- the floor of free disk -----

GIB = 1024**3


def test_a_batch_refuses_to_start_without_disk_for_its_gradings(tmp_path: Path) -> None:
    """No disk has 2 x 100 TiB free: the batch says so before any server or kernel starts."""
    folder = tmp_path / "class"
    folder.mkdir()
    for student in ("ada", "bob"):
        shutil.copy(REFERENCE, folder / f"{student}.ipynb")
    out = tmp_path / "out"
    run = labgrade(
        "batch", str(folder), "--out", str(out), "--jobs", "2", "--disk-limit", "102400GiB"
    )
    assert run.code == 3, run.stderr  # the grading machine's problem, not a student's
    message = run.stderr
    assert "not enough free disk to start the batch" in message
    assert f"{tempfile.gettempdir()} (TMPDIR: the gradings' work folders and MLflow" in message
    assert f"{out} (--out: the gradebook and feedback)" in message
    assert "which has " in message
    assert " free; 2 grading(s) at once need 204800 GiB there" in message
    assert "2 x the disk limit 102400 GiB from --disk-limit 102400 GiB" in message
    assert "+ 256 MiB headroom" in message
    assert "Nothing was graded" in message
    assert "lower --jobs, lower --disk-limit" in message
    assert "point TMPDIR or --out at a larger disk" in message
    assert not (out / "grades.csv").exists()
    assert not [p for p in out.iterdir() if p.name in ("ada", "bob")]
    assert run.leftovers == []


def test_a_batch_stops_starting_gradings_when_the_disk_fills(tmp_path: Path) -> None:
    """Room for the first grading only: it keeps its row, the second is left for the next run."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.ipynb").write_bytes(b"\x00\x01 not a notebook")  # graded fast: invalid
    shutil.copy(REFERENCE, folder / "bob.ipynb")
    measured: list[int] = []

    def free_space() -> list[Filesystem]:
        # The check at start, then the first grading's: room; the second's: none.
        measured.append(1)
        free = 2 * GIB if len(measured) <= 2 else DISK_HEADROOM
        return [Filesystem(Path("/"), ("the test's disk",), free)]

    lab = load("tracking")
    settings = BatchSettings(
        lab=lab, rubric=lab.rubric(), out=tmp_path / "out", jobs=1, warm=False,
        worker_args=("--disk-limit", "1GiB", "--cold"),
        limits=with_values(lab.rubric().limits, {"disk": "1GiB"}, "test"),
    )  # fmt: skip
    with pytest.raises(DiskSpaceError) as refused:
        run_batch(folder, settings, Rows(), free_space)
    message = str(refused.value)
    assert message.startswith("stopped starting gradings: not enough free disk for even one")
    assert "the test's disk is on the filesystem mounted at /, which has 256 MiB free" in message
    assert "1 grading(s) at once need 1.25 GiB there" in message
    assert "Graded 1 of 2" in message
    assert "the other 1 are left ungraded, and the same command grades them" in message
    assert "--jobs" not in message  # one grading alone does not fit: fewer cannot help
    assert len(measured) == 3
    with (settings.out / "grades.csv").open(newline="") as fh:
        rows = {r["id"]: r["status"] for r in list(csv.DictReader(fh))[1:]}
    assert rows == {"ada": "invalid"}
    assert (settings.out / "ada" / "feedback.md").is_file()
    assert not (settings.out / "bob").exists()  # as after Ctrl-C: the next run grades it


class Rows:
    """A batch's progress sink that keeps what it is told."""

    def __init__(self) -> None:
        self.done_rows: list[Row] = []

    def start(self, total: int, skipped: int) -> None:
        assert (total, skipped) == (2, 0)

    def done(self, row: Row, count: int, total: int) -> None:
        self.done_rows.append(row)


def disk(free: int, calls: list[int] | None = None) -> Callable[[], list[Filesystem]]:
    """A disk with FREE bytes free, whatever is written; each measurement appended to CALLS."""

    def measure() -> list[Filesystem]:
        if calls is not None:
            calls.append(free)
        return [Filesystem(Path("/"), ("the test's disk",), free)]

    return measure


def counting(
    free: int, signal_at: int
) -> tuple[Callable[[], list[Filesystem]], threading.Event, list[int]]:
    """A disk with FREE bytes that counts its measures and signals the SIGNAL_AT-th."""
    measured = threading.Event()
    calls: list[int] = []

    def measure() -> list[Filesystem]:
        calls.append(1)
        if len(calls) == signal_at:
            measured.set()
        return disk(free)()

    return measure, measured, calls


def test_a_grading_waits_for_one_to_end_when_the_disk_holds_no_more() -> None:
    measure, measured, calls = counting(2 * GIB + DISK_HEADROOM, signal_at=3)
    gate = DiskGate(GIB, "--disk-limit 1GiB", measure)
    assert gate.enter()
    assert gate.enter()
    outcome: list[bool] = []
    third = threading.Thread(target=lambda: outcome.append(gate.enter()))
    third.start()
    # It measures holding the gate's lock and releases it only to wait, so what follows
    # happens while it waits.
    assert measured.wait(30)
    assert outcome == []
    gate.leave()  # a grading ends: the third measures again, and two fit
    third.join(30)
    assert not third.is_alive()
    assert outcome == [True]
    assert (gate.running, len(calls), gate.refused) == (2, 4, None)


def test_a_waiting_grading_starts_nothing_once_the_batch_stops() -> None:
    measure, measured, calls = counting(GIB + DISK_HEADROOM, signal_at=2)
    gate = DiskGate(GIB, "--disk-limit 1GiB", measure)
    assert gate.enter()
    outcome: list[bool] = []
    second = threading.Thread(target=lambda: outcome.append(gate.enter()))
    second.start()
    assert measured.wait(30)  # the second found no room and waits (the lock tells close so)
    gate.close()
    second.join(30)
    assert outcome == [False]
    assert (gate.refused, len(calls)) == (None, 2)  # stopped: it did not measure again


def test_with_none_running_a_gate_short_of_space_closes() -> None:
    calls: list[int] = []
    gate = DiskGate(GIB, "the rubric's [limits] disk", disk(DISK_HEADROOM, calls))
    assert not gate.enter()
    assert gate.refused is not None
    assert gate.refused.needed == GIB + DISK_HEADROOM
    assert "which has 256 MiB free; 1 grading(s) at once need 1.25 GiB" in gate.refused.describe()
    assert not gate.enter()  # closed: it does not measure again
    assert len(calls) == 1


def test_the_start_check_names_jobs_only_where_fewer_would_fit() -> None:
    gate = DiskGate(GIB, "--disk-limit 1GiB", disk(2 * GIB))
    gate.check_start(1)  # 1 GiB + headroom fits in 2 GiB
    with pytest.raises(DiskSpaceError) as short:
        gate.check_start(4)
    assert isinstance(short.value, GraderError)
    assert "4 x the disk limit 1 GiB from --disk-limit 1GiB" in str(short.value)
    assert "Fix: free space there, lower --jobs, lower --disk-limit" in str(short.value)


def test_free_space_is_measured_once_per_filesystem(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    folders = [(tmp_path, "one"), (tmp_path / "sub", "two"), (Path("/dev"), "three")]
    found = filesystems(folders)
    devices = {os.stat(folder).st_dev for folder, _ in folders}
    assert len(found) == len(devices)
    mine = next(fs for fs in found if f"{tmp_path} (one)" in fs.folders)
    assert mine.folders[:2] == (f"{tmp_path} (one)", f"{tmp_path / 'sub'} (two)")
    assert mine.mount in (tmp_path.resolve(), *tmp_path.resolve().parents)
    assert os.path.ismount(mine.mount)
    assert mine.free > 0


def test_the_disk_limit_is_the_workers_flag_else_the_rubrics() -> None:
    lab = load("tracking")
    rubric = lab.rubric()
    plain = BatchSettings(lab=lab, rubric=rubric, out=Path("out"))
    assert disk_limit(plain) == (rubric.limits.disk, f"{rubric.path} [limits] disk or its default")
    flagged = BatchSettings(
        lab=lab, rubric=rubric, out=Path("out"),
        worker_args=("--disk-limit", "2g", "--hide", "x"),
        limits=with_values(rubric.limits, {"disk": "2g"}, "test"),
    )  # fmt: skip
    assert disk_limit(flagged) == (2 * GIB, "--disk-limit 2 GiB")


# ----- one student's grading sees that student's files alone -----

# The last cell of a student who looks for classmates' work: it lists its folder and every
# folder above it, reads each notebook, script or archive there, and raises what it saw, so
# that whatever it found reaches its error, note and feedback.
SNOOP = """
import os, pathlib, re, helper
seen, text = [], ""
here = pathlib.Path.cwd()
for folder in [here, *here.parents]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        continue
    for name in names:
        path = folder / name
        if path.is_file() and path.suffix in (".ipynb", ".py", ".zip"):
            seen.append(name)
            try:
                text += path.read_text(errors="replace")
            except OSError:
                pass
print(seen, text)
found = sorted(set(re.findall(r"MARK" + r"ER-[a-z]+", text)))
raise RuntimeError(f"SNOOPED {helper.WORD} {found} {sorted(set(seen))}")
"""
SNOOPER = "mallory_eve_5005"
OTHERS = ("lovelace", "turing_alan", "zuse_konrad", "MARKER-ada", "MARKER-turing")


def marked(source: Path, marker: str, *code: str) -> bytes:
    """SOURCE's notebook with a markdown cell holding MARKER and code cells appended."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    cell = {"cell_type": "markdown", "id": f"m-{marker}", "metadata": {}, "source": marker}
    nb["cells"].append(cell)
    for i, text in enumerate(code):
        nb["cells"].append(
            {"cell_type": "code", "id": f"c{i}-{marker}", "metadata": {},
             "execution_count": None, "outputs": [], "source": text}
        )  # fmt: skip
    return json.dumps(nb).encode()


def class_files() -> dict[str, bytes]:
    """A Canvas download, unpacked: a student with a notebook and a helper module uploaded
    apart (and the helper again, as Canvas renames a second upload), a late one, and one who
    uploaded a zip of a folder holding the notebook and its data."""
    turing = io.BytesIO()
    with zipfile.ZipFile(turing, "w") as zf:
        zf.writestr("__MACOSX/lab1/._lab1.ipynb", b"\x00\x05junk")
        zf.writestr("lab1/data.csv", "x\n1\n")
        zf.writestr(
            "lab1/lab1.ipynb",
            marked(SUBMISSIONS / "error_in_cell.ipynb", "MARKER-turing"),
        )
    return {
        "mallory_eve_5005_6005_lab1.ipynb": marked(REFERENCE, "MARKER-mallory", SNOOP),
        "mallory_eve_5005_6006_helper.py": b'WORD = "OLD-HELPER"\n',
        "mallory_eve_5005_6007_helper-1.py": b'WORD = "NEW-HELPER"\n',
        "lovelace_ada_LATE_2002_7002_lab1.ipynb": marked(
            SUBMISSIONS / "error_in_cell.ipynb", "MARKER-ada"
        ),
        "turing_alan_4004_8004_lab1.zip": turing.getvalue(),
        "zuse_konrad_6006_9006_lab1.zip": zip_of({"../../escaped.ipynb": b"{}"}),
        "hopper_grace_7007_9707_lab1.ipynb": TEMPLATE.read_bytes(),  # handed in as handed out
    }


# The class's Canvas gradebook export: everyone above, and one student who handed in nothing.
EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (1234)\r\n"
    "    Points Possible,,,,,100\r\n"
    '"Eve, Mallory",5005,,,S1,\r\n"Lovelace, Ada",2002,,,S1,\r\n"Turing, Alan",4004,,,S1,\r\n'
    '"Zuse, Konrad",6006,,,S1,\r\n"Hopper, Grace",7007,,,S1,\r\n"Knuth, Donald",8008,,,S1,\r\n'
)
# Applied after grading: a check and a total set by hand, with the reasons the students read.
OVERRIDES = (
    "student,check_or_total,points,reason\n"
    "mallory_eve_5005,experiment,5,named the experiment after a classmate\n"
    "turing_alan_4004,total,50,helper graded by hand\n"
)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def snooped(tmp_path_factory: pytest.TempPathFactory) -> BatchRun:
    books = tmp_path_factory.mktemp("snooped")
    folder = books / "flat"
    folder.mkdir()
    for age, (name, data) in enumerate(class_files().items()):
        (folder / name).write_bytes(data)
        os.utime(folder / name, (1_790_000_000 + age, 1_790_000_000 + age))
    (books / "export.csv").write_text(EXPORT, encoding="utf-8")
    (books / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    return labgrade(
        "batch", str(folder), "--out", str(books / "out"), "--jobs", "2", "--timeout", TIMEOUT,
        "--canvas-gradebook", str(books / "export.csv"), "--canvas-assignment", "Lab 1",
        "--late-penalty", "10", "--overrides", str(books / "overrides.csv"),
    )  # fmt: skip


def outputs_of(run: BatchRun, student: str) -> dict[str, str]:
    """Everything a student's grading wrote that anyone reads: their files, their row."""
    folder = run.out / student
    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file()}
    row = next(r for r in run.rows() if r["id"] == student)
    texts["grades.csv row"] = json.dumps(row)
    grades = json.loads((run.out / "grades.json").read_text(encoding="utf-8"))
    texts["grades.json entry"] = json.dumps(next(g for g in grades if g["id"] == student))
    return texts


def assert_sees_only_itself(run: BatchRun) -> None:
    texts = outputs_of(run, SNOOPER)
    assert {"feedback.md", "feedback.html", "results.json"} <= set(texts)
    row = next(r for r in run.rows() if r["id"] == SNOOPER)
    # The snooping cell ran, read its own notebook and imported the newest helper under its
    # own name: a search that finds nothing of another's proves something.
    assert "SNOOPED NEW-HELPER ['MARKER-mallory']" in row["note"], row["note"]
    assert "'helper.py', 'lab1.ipynb'" in row["note"]
    for name, text in texts.items():
        for other in OTHERS:
            assert other not in text, f"{other!r} reached {SNOOPER}'s {name}"
    report = (run.out / "report.html").read_text(encoding="utf-8")
    for other in OTHERS:
        assert other not in report.split(SNOOPER, 1)[1].split("</tr>", 1)[0]
    assert "MARKER-ada" not in report
    assert "MARKER-turing" not in report


@pytest.mark.slow
def test_a_student_reads_none_of_a_flat_class_and_every_upload_form_grades(
    snooped: BatchRun,
) -> None:
    assert snooped.code == 0, snooped.stderr
    assert snooped.leftovers == []
    assert_sees_only_itself(snooped)
    rows = {r["id"]: r for r in snooped.rows()[1:]}
    assert sorted(rows) == [
        "hopper_grace_7007", "lovelace_ada_2002", SNOOPER, "turing_alan_4004", "zuse_konrad_6006"
    ]  # fmt: skip
    # Two files under one Canvas id are one folder; the helper's second upload is its newest.
    mallory = rows[SNOOPER]
    assert mallory["file"] == "mallory_eve_5005_6005_lab1.ipynb"
    assert "graded 2 files together" in mallory["note"]
    assert "older versions ignored: mallory_eve_5005_6006_helper.py" in mallory["note"]
    # A zip upload is graded as the folder it holds: it ran as the same notebook alone did.
    turing, ada = rows["turing_alan_4004"], rows["lovelace_ada_2002"]
    assert turing["status"] == ada["status"] == "error"
    assert [turing[c] for c in CHECK_IDS] == [ada[c] for c in CHECK_IDS]
    # A zip whose names leave it is refused, and says why.
    zuse = rows["zuse_konrad_6006"]
    assert (zuse["status"], zuse["total"]) == ("invalid", "0")
    assert "refused to unpack: '../../escaped.ipynb' would land outside" in zuse["note"]
    assert not (snooped.out.parent / "escaped.ipynb").exists()
    assert not (snooped.out / ".staging").exists()  # each student's copy, and their folder
    # Each result names the file as the LMS handed it, not its staged copy (gone by now).
    for student, row in rows.items():
        result = json.loads((snooped.out / student / "results.json").read_text(encoding="utf-8"))
        assert result["submission"] == row["file"], student


@pytest.mark.slow
def test_late_unattempted_and_missing_are_told_apart_and_adjustments_kept(
    snooped: BatchRun,
) -> None:
    rows = {r["id"]: r for r in snooped.rows()[1:]}
    ada, turing, mallory = rows["lovelace_ada_2002"], rows["turing_alan_4004"], rows[SNOOPER]
    hopper = rows["hopper_grace_7007"]
    assert (ada["late"], ada["total"]) == ("late", "18")  # 20, less the 10% late penalty
    assert "late: 10% late penalty, 20 -> 18" in ada["note"]
    assert (hopper["status"], hopper["total"], hopper["late"]) == ("unattempted", "0", "")
    assert "unattempted" in hopper["note"]
    assert (turing["total"], turing["late"]) == ("50", "")
    assert "total: 20 -> 50 points by your instructor: helper graded by hand" in turing["note"]
    assert mallory["experiment"] == "5"
    assert float(mallory["total"]) == float(mallory_graded(snooped)) - 5
    feedback = (snooped.out / SNOOPER / "feedback.md").read_text(encoding="utf-8")
    assert "## Adjusted by your instructor" in feedback
    assert "named the experiment after a classmate" in feedback
    assert "named the experiment after a classmate" in (
        snooped.out / SNOOPER / "feedback.html"
    ).read_text(encoding="utf-8")
    grades = {g["id"]: g for g in json.loads((snooped.out / "grades.json").read_text())}
    assert grades["hopper_grace_7007"]["status"] == "unattempted"
    assert grades["lovelace_ada_2002"]["late"] is True
    assert grades["lovelace_ada_2002"]["score"] == 18
    report = (snooped.out / "report.html").read_text(encoding="utf-8")
    assert "Knuth, Donald (Canvas ID 8008)" in report  # in the export, handed in nothing
    assert "Unattempted (1)" in report
    canvas = {r["ID"]: r for r in csv.DictReader((snooped.out / "canvas-import.csv").open())}
    assert canvas["8008"]["Lab 1 (1234)"] == ""  # left blank, as exported
    assert (canvas["7007"]["Lab 1 (1234)"], canvas["2002"]["Lab 1 (1234)"]) == ("0", "18")
    # A resume without the flags keeps the policy; the student's graded results.json does not
    # hold it (what the grading gave stays what it gave).
    again = labgrade("batch", str(snooped.out.parent / "flat"), "--out", str(snooped.out))
    assert "skipped 5 unchanged" in again.stdout, again.stdout + again.stderr
    assert again.rows() == snooped.rows()
    graded = json.loads((snooped.out / "lovelace_ada_2002" / "results.json").read_text())
    assert graded["score"] == 20


def mallory_graded(run: BatchRun) -> float:
    return float(json.loads((run.out / SNOOPER / "results.json").read_text())["score"])


@pytest.mark.slow
def test_a_student_reads_none_of_a_zipped_class(snooped: BatchRun, tmp_path: Path) -> None:
    archive = tmp_path / "submissions.zip"
    archive.write_bytes(zip_of(class_files()))
    out = tmp_path / "out"
    run = labgrade(
        "batch", str(archive), "--out", str(out), "--only", SNOOPER, "--timeout", TIMEOUT
    )
    assert run.code == 0, run.stderr
    assert run.leftovers == []
    assert_sees_only_itself(run)
