"""The files a Canvas or Moodle gradebook imports back, filled from a batch's rows: their
documented shapes, a round trip through an export as each LMS writes it, and the refusals."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from grader.course.adjust import NONE
from grader.course.gradebook import Row, finish, save_student
from grader.course.lms import (
    CANVAS_FILE,
    MOODLE_FILE,
    LmsExportError,
    late_by_due,
    read_canvas_gradebook,
    read_moodle_worksheet,
    write_imports,
)
from grader.course.roster import LmsIdentity, discover, lms_identity, student_id
from grader.frontends.cli import main
from tests.helpers import ROOT, SUBMISSIONS, TRACKING, run_labgrade

# Canvas's exporter (lib/gradebook_exporter.rb): the student columns, one "Title (id)" column
# per assignment, the read-only totals; a Points Possible row, then a row per student.
CANVAS_HEADER = [
    "Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section",
    "Quiz 1 (5001)", "Lab 1: MLflow Tracking (5002)",
    "Assignments Current Score", "Assignments Unposted Current Score",
    "Assignments Final Score", "Assignments Unposted Final Score",
    "Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score",
]  # fmt: skip
READ_ONLY = ["(read only)"] * 8
CANVAS_STUDENTS = [
    # name, Canvas ID, SIS user id, login, section, Quiz 1, Lab 1 as exported
    ("Smith, John", "1001", "S1001", "jsmith", "Section A", "8.00", ""),
    ("Lovelace, Ada", "2002", "S2002", "alovelace", "Section A", "9.50", ""),
    ("Doe, Jane", "3003", "S3003", "jdoe", "Section B", "7.00", ""),
    ("Turing, Alan", "4004", "S4004", "aturing", "Section B", "6.00", ""),
    ("Hopper, Grace", "5005", "S5005", "ghopper", "Section B", "10.00", "7.00"),  # no submission
    ("Student, Test", "9999", "", "", "Section A", "", ""),  # Canvas's Test Student
]
# Canvas download names: lastnamefirstname[_LATE]_<Canvas user id>_<submission id>_<file>.
CANVAS_FILES = {
    "smithjohn_1001_70001_lab1.ipynb": 90.0,
    "lovelaceada_LATE_2002_70002_lab1.ipynb": 85.0,
    "doejane_3003_70003_Lab1-1.ipynb": 0.0,
    "turingalan_4004_70004_lab1.ipynb": 100 / 3,
}
# Moodle's worksheet (mod/assign/gradingtable.php, downloading): these columns, in this order,
# for an assignment with file submissions and feedback comments, graded in points.
MOODLE_HEADER = [
    "Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
    "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
    "Feedback comments",
]  # fmt: skip
MOODLE_PARTICIPANTS = [
    # participant id, full name, grade, grade can be changed, feedback comment as downloaded
    ("2002", "Ada Lovelace", "", "Yes", ""),
    ("3003", "Jane Doe", "", "Yes", "<p>See me about the tag.</p>"),
    ("4004", "Alan Turing", "", "No", ""),  # locked in the gradebook
    ("5005", "Grace Hopper", "", "Yes", ""),  # no submission
]
# Moodle download names: "Full Name_<participant id>_assignsubmission_file_" (a folder).
MOODLE_FOLDERS = {
    "Ada Lovelace_2002_assignsubmission_file_": 90.0,
    "Jane Doe_3003_assignsubmission_file_": 85.5,
    "Alan Turing_4004_assignsubmission_file_": 100.0,
}


def result(score: float, status: str = "ok", max_score: float = 100.0) -> dict[str, Any]:
    """A --grade-json result: one check, which lost what the score does not reach."""
    return {
        "submission": "lab1.ipynb",
        "score": score,
        "max_score": max_score,
        "checks": [
            {
                "id": "tag",
                "title": "Run tag",
                "score": score,
                "max_score": max_score,
                "passed": score == max_score,
                "message": "tag 'version' is missing: add mlflow.set_tag('version', 'v1') < 2",
            }
        ],
        "execution": {"status": status, "seconds": 3.0, "error": None},
        "tracking": {"server": "http://127.0.0.1:5000", "experiment_id": "1", "run_id": "abc"},
    }


def rows_of(files: dict[str, float], **status: str) -> list[Row]:
    return [
        Row(student_id(f)[0], f, "0" * 64, result(score, status.get(f, "ok")))
        for f, score in files.items()
    ]


def canvas_export(
    path: Path,
    header: Sequence[str] = CANVAS_HEADER,
    students: Sequence[tuple[str, ...]] = CANVAS_STUDENTS,
    delimiter: str = ",",
    points: str = "10.00",
    manual_posting: bool = False,
) -> Path:
    """A gradebook export as Canvas's exporter writes one (CRLF, quoted where needed)."""
    buffer = io.StringIO()
    out = csv.writer(buffer, delimiter=delimiter)
    out.writerow(header)
    if manual_posting:  # written before Points Possible for manually posted assignments
        out.writerow(["", "", "", "", "", "", "", "Manual Posting", *[""] * 8])
    out.writerow(["    Points Possible", "", "", "", "", "", "5.00", points, *READ_ONLY])
    for name, uid, sis, login, section, quiz, lab in students:
        out.writerow([name, uid, sis, login, "", section, quiz, lab, *["80.00"] * 8])
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


def moodle_worksheet(
    path: Path,
    header: Sequence[str] = MOODLE_HEADER,
    participants: Sequence[tuple[str, ...]] = MOODLE_PARTICIPANTS,
    maximum: str = "10.00",
) -> Path:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(header)
    for pid, name, grade, changeable, comment in participants:
        email = name.lower().replace(" ", ".") + "@example.edu"
        cells = {
            "Identifier": f"Participant {pid}",
            "Full name": name,
            "Email address": email,
            "Status": "Submitted for grading",
            "Grade": grade,
            "Maximum Grade": maximum,
            "Grade can be changed": changeable,
            "Last modified (submission)": "Friday, 20 November 2026, 12:00 PM",
            "Last modified (grade)": "-",
            "Feedback comments": comment,
        }
        out.writerow([cells.get(column, "") for column in header])
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())
    return path


def read_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


def canvas_would_import(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What Canvas's importer (app/models/gradebook_importer.rb) reads from PATH: per
    assignment id its points possible, per Canvas user id the assignment's cell. One
    assignment column, as ours has."""
    rows = read_csv(path)
    header = rows[0]
    assert header[:2] == ["Student", "ID"]  # row_has_student_headers?
    section = header.index("Section")  # the last student column
    assert header[2:section] in (
        ["SIS User ID", "SIS Login ID", "Integration ID"],
        ["SIS User ID", "SIS Login ID"],
        ["SIS Login ID"],
        [],
    )
    titled = re.fullmatch(r"(.*)\s\((\d+)\)", header[section + 1])  # Assignment.title_and_id
    assert titled is not None
    assert len(header) == section + 2
    points = [r for r in rows[1:] if "Points Possible" in r[0]]
    assert [rows[1]] == points
    students = rows[2:]
    grades = {r[1]: r[section + 1] for r in students}
    assert len(grades) == len(students)
    return {titled.group(2): points[0][section + 1]}, grades


# --- roster: the LMS identity a download's names carry ---------------------------------------


def test_download_names_carry_the_lms_identity() -> None:
    assert lms_identity("smithjohn_1001_70001_lab1.ipynb") == LmsIdentity(
        "canvas", "1001", "smithjohn"
    )
    assert lms_identity("lovelaceada_LATE_2002_70002_lab1.ipynb") == LmsIdentity(
        "canvas", "2002", "lovelaceada"
    )
    assert lms_identity("Ada Lovelace_2002_assignsubmission_file_") == LmsIdentity(
        "moodle", "2002", "Ada Lovelace"
    )
    assert lms_identity("Ada Lovelace_2002_assignsubmission_file_lab1.ipynb") == LmsIdentity(
        "moodle", "2002", "Ada Lovelace"
    )  # Moodle's download without folders: the prefix on each file
    assert lms_identity("Participant_2002_assignsubmission_file_") == LmsIdentity(
        "moodle", "2002", "Participant"
    )  # anonymous submissions
    assert lms_identity("bob.ipynb") is None


def test_student_ids_and_hashes_are_what_they_were(tmp_path: Path) -> None:
    """Student folders, grades.csv and resuming rest on these: the identity changes none."""
    assert student_id("smithjohn_1001_70001_lab1.ipynb") == ("smithjohn_1001", True)
    assert student_id("lovelaceada_LATE_2002_70002_lab1.ipynb") == ("lovelaceada_2002", True)
    assert student_id("Ada Lovelace_2002_assignsubmission_file_") == ("ada_lovelace_2002", True)
    assert student_id("Bob.ipynb") == ("bob", False)
    folder = tmp_path / "class"
    (folder / "Ada Lovelace_2002_assignsubmission_file_").mkdir(parents=True)
    (folder / "Ada Lovelace_2002_assignsubmission_file_" / "lab1.ipynb").write_text("{}")
    (folder / "smithjohn_1001_70001_lab1.ipynb").write_text("{}")
    (folder / "bob.ipynb").write_text("{}")
    entries = {e.student: e for e in discover(folder, tmp_path / "unpacked")}
    assert sorted(entries) == ["ada_lovelace_2002", "bob", "smithjohn_1001"]
    assert entries["ada_lovelace_2002"].lms == LmsIdentity("moodle", "2002", "Ada Lovelace")
    assert entries["smithjohn_1001"].lms == LmsIdentity("canvas", "1001", "smithjohn")
    assert entries["bob"].lms is None
    # what a finished grading's submission.json holds, to resume by: the name, then the bytes
    assert entries["bob"].sha256 == hashlib.sha256(b"bob.ipynb\0{}").hexdigest()


# --- Canvas ----------------------------------------------------------------------------------


def test_canvas_import_is_the_documented_csv_with_the_assignments_grades(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), "Lab 1: MLflow Tracking")
    [done] = write_imports(tmp_path, rows_of(CANVAS_FILES), [export])
    assert done.path == tmp_path / CANVAS_FILE
    assert (done.lms, done.graded, done.untouched) == ("canvas", 4, 2)
    raw = done.path.read_bytes()
    assert raw.startswith(b"Student,ID,")  # no BOM: the export had none
    assert raw.count(b"\r\n") == 8  # CRLF, as Canvas writes
    rows = read_csv(done.path)
    # The student columns as exported, then the one assignment's column: other assignments'
    # columns would re-import stale grades; the read-only totals are ignored anyway.
    assert rows[0] == [*CANVAS_HEADER[:6], "Lab 1: MLflow Tracking (5002)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "", "10.00"]
    assert rows[2] == ["Smith, John", "1001", "S1001", "jsmith", "", "Section A", "9"]
    got = {r[1]: r[6] for r in rows[2:]}
    # Out of 100 here, out of 10 in Canvas: scaled, 2 decimals at most, half up, no "9.00".
    assert got == {
        "1001": "9",
        "2002": "8.5",
        "3003": "0",
        "4004": "3.33",
        "5005": "7.00",
        "9999": "",
    }
    assert any("scaled to the points possible of 10" in n for n in done.notes)


def test_canvas_reads_it_back_as_documented(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), "5002")
    [done] = write_imports(tmp_path, rows_of(CANVAS_FILES), [export])
    points, grades = canvas_would_import(done.path)
    assert points == {"5002": "10.00"}
    assert grades == {
        "1001": "9", "2002": "8.5", "3003": "0", "4004": "3.33",
        "5005": "7.00",  # no submission: as exported, which the import leaves unchanged
        "9999": "",  # blank: "no score", no change
    }  # fmt: skip


@pytest.mark.parametrize(
    "name", ["Lab 1: MLflow Tracking", "5002", "Lab 1: MLflow Tracking (5002)"]
)
def test_the_canvas_column_is_named_by_title_id_or_header(tmp_path: Path, name: str) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), name)
    assert export.assignment == "Lab 1: MLflow Tracking (5002)"
    assert str(export.points_possible) == "10.00"


def test_same_scale_scores_are_written_as_they_are(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "e.csv", points="100"), "5002")
    [done] = write_imports(tmp_path, rows_of({"smithjohn_1001_70001_lab1.ipynb": 66.665}), [export])
    assert read_csv(done.path)[2][6] == "66.67"
    assert not any("scaled" in n for n in done.notes)


def test_a_semicolon_export_with_decimal_commas_is_read_and_kept(tmp_path: Path) -> None:
    """Canvas exports with ";" where the decimal separator is a comma, and reads both back."""
    source = canvas_export(tmp_path / "export.csv", delimiter=";", points="10,00")
    export = read_canvas_gradebook(source, "Lab 1: MLflow Tracking")
    assert str(export.points_possible) == "10.00"
    [done] = write_imports(tmp_path, rows_of(CANVAS_FILES), [export])
    rows = read_csv(done.path, delimiter=";")
    assert rows[0][-1] == "Lab 1: MLflow Tracking (5002)"
    assert rows[1][-1] == "10,00"
    assert rows[2][-1] == "9"


def test_canvas_rows_a_grade_must_not_overwrite_are_kept(tmp_path: Path) -> None:
    students = list(CANVAS_STUDENTS)
    students[0] = ("Smith, John", "1001", "S1001", "jsmith", "Section A", "8.00", "EX")
    students[1] = ("Lovelace, Ada", "2002", "S2002", "alovelace", "Section A", "", "N/A")
    source = canvas_export(tmp_path / "export.csv", students=students, manual_posting=True)
    export = read_canvas_gradebook(source, "5002")
    [done] = write_imports(
        tmp_path, rows_of(CANVAS_FILES, **{"doejane_3003_70003_Lab1-1.ipynb": "timeout"}), [export]
    )
    got = {r[1]: r[6] for r in read_csv(done.path)[2:]}
    assert (got["1001"], got["2002"], got["3003"]) == ("EX", "N/A", "0")
    assert (done.graded, done.untouched) == (2, 4)
    assert any("Smith, John (EX: excused)" in n for n in done.notes)
    assert any("doejane_3003_70003_Lab1-1.ipynb (timeout)" in n for n in done.notes)


def test_an_unknown_canvas_student_is_refused(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), "5002")
    files = {**CANVAS_FILES, "newstudent_7777_70007_lab1.ipynb": 50.0}
    with pytest.raises(LmsExportError) as err:
        write_imports(tmp_path, rows_of(files), [export])
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'export.csv'}: 1 graded student missing from it")
    assert "newstudent_7777_70007_lab1.ipynb (Canvas ID 7777)" in message
    assert "Fix: take the file from the course" in message
    assert "Export Entire Gradebook" in message
    assert not (tmp_path / CANVAS_FILE).exists()


def test_submissions_not_named_by_canvas_are_refused(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), "5002")
    files = {
        "smithjohn_1001_70001_lab1.ipynb": 90.0,
        "Ada Lovelace_2002_assignsubmission_file_": 1.0,
    }
    with pytest.raises(LmsExportError, match=r"1 submission not named as Canvas's download"):
        write_imports(tmp_path, rows_of(files), [export])


def test_two_submissions_of_one_canvas_user_are_refused(tmp_path: Path) -> None:
    export = read_canvas_gradebook(canvas_export(tmp_path / "export.csv"), "5002")
    files = {"smithjohn_1001_70001_lab1.ipynb": 90.0, "smithj_1001_70009_lab1.ipynb": 10.0}
    with pytest.raises(LmsExportError, match=r"more than one submission of one Canvas user.*1001"):
        write_imports(tmp_path, rows_of(files), [export])


@pytest.mark.parametrize(
    ("column", "renamed", "problem"),
    [
        ("ID", "User ID", r"not Student, ID: Canvas matches students on ID"),
        ("Section", "Sections", r"where Canvas's export has Section"),
        ("Student", "Name", r"not a Canvas gradebook export"),
    ],
)
def test_a_changed_canvas_student_column_is_refused(
    tmp_path: Path, column: str, renamed: str, problem: str
) -> None:
    header = [renamed if c == column else c for c in CANVAS_HEADER]
    with pytest.raises(LmsExportError, match=problem) as err:
        read_canvas_gradebook(canvas_export(tmp_path / "export.csv", header=header), "5002")
    assert str(err.value).startswith(str(tmp_path / "export.csv"))
    assert "Fix: " in str(err.value)


def test_a_missing_canvas_assignment_column_is_refused_with_the_columns_there(
    tmp_path: Path,
) -> None:
    source = canvas_export(tmp_path / "export.csv")
    with pytest.raises(LmsExportError) as err:
        read_canvas_gradebook(source, "Lab 2")
    message = str(err.value)
    assert "no assignment column 'Lab 2'" in message
    assert "would import as a new assignment" in message
    assert "'Quiz 1 (5001)', 'Lab 1: MLflow Tracking (5002)'" in message
    with pytest.raises(LmsExportError, match=r"pass --canvas-assignment"):
        read_canvas_gradebook(source, None)


def test_an_ambiguous_canvas_assignment_column_is_refused(tmp_path: Path) -> None:
    header = [c.replace("Quiz 1 (5001)", "Lab 1: MLflow Tracking (5003)") for c in CANVAS_HEADER]
    source = canvas_export(tmp_path / "export.csv", header=header)
    with pytest.raises(
        LmsExportError, match=r"2 assignment columns match 'Lab 1: MLflow Tracking'"
    ):
        read_canvas_gradebook(source, "Lab 1: MLflow Tracking")
    assert read_canvas_gradebook(source, "5003").assignment == "Lab 1: MLflow Tracking (5003)"


def test_a_canvas_export_with_one_student_twice_is_refused(tmp_path: Path) -> None:
    students = [*CANVAS_STUDENTS, CANVAS_STUDENTS[0]]
    with pytest.raises(LmsExportError, match=r"two students with Canvas ID 1001"):
        read_canvas_gradebook(canvas_export(tmp_path / "e.csv", students=students), "5002")


@pytest.mark.parametrize("points", ["(read only)", "0", ""])
def test_a_canvas_assignment_without_points_is_refused(tmp_path: Path, points: str) -> None:
    with pytest.raises(LmsExportError, match=r"not a number above 0"):
        read_canvas_gradebook(canvas_export(tmp_path / "e.csv", points=points), "5002")


def test_a_canvas_export_without_its_points_possible_row_is_refused(tmp_path: Path) -> None:
    source = canvas_export(tmp_path / "export.csv")
    lines = source.read_text().splitlines(keepends=True)
    source.write_text("".join(line for line in lines if "Points Possible" not in line))
    with pytest.raises(LmsExportError, match=r"no Points Possible row"):
        read_canvas_gradebook(source, "5002")


def test_an_unreadable_export_is_refused_with_the_fix(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(",".join(CANVAS_HEADER).encode() + "\r\nMüller\r\n".encode("latin-1"))
    with pytest.raises(LmsExportError, match=r"not UTF-8 text.*'CSV UTF-8'"):
        read_canvas_gradebook(latin, "5002")
    with pytest.raises(LmsExportError, match=r"cannot read this Canvas gradebook export"):
        read_canvas_gradebook(tmp_path / "missing.csv", "5002")


# --- Moodle ----------------------------------------------------------------------------------


def test_moodle_worksheet_keeps_its_columns_and_takes_grades_and_comments(tmp_path: Path) -> None:
    source = moodle_worksheet(tmp_path / "worksheet.csv")
    worksheet = read_moodle_worksheet(source)
    [done] = write_imports(tmp_path, rows_of(MOODLE_FOLDERS), [worksheet])
    assert done.path == tmp_path / MOODLE_FILE
    assert (done.lms, done.graded, done.untouched) == ("moodle", 2, 2)
    assert done.path.read_bytes().startswith(b"\xef\xbb\xbfIdentifier,")  # BOM as downloaded
    rows = read_csv(done.path)
    assert rows[0] == MOODLE_HEADER
    before = read_csv(source)
    by_id = {r[0]: dict(zip(MOODLE_HEADER, r, strict=True)) for r in rows[1:]}
    # Every column but Grade and Feedback comments as downloaded: Moodle's upload compares
    # "Last modified (grade)" to skip grades changed in Moodle since the download.
    for old in before[1:]:
        new = by_id[old[0]]
        for column in set(MOODLE_HEADER) - {"Grade", "Feedback comments"}:
            assert new[column] == dict(zip(MOODLE_HEADER, old, strict=True))[column]
    ada, jane = by_id["Participant 2002"], by_id["Participant 3003"]
    assert (ada["Grade"], jane["Grade"]) == ("9", "8.55")  # out of Maximum Grade 10
    assert ada["Feedback comments"] == (
        "Autograder: 90 of 100 points (9 of 10 here); Run tag (-10): tag 'version' is"
        " missing: add mlflow.set_tag('version', 'v1') &lt; 2."
    )
    assert jane["Feedback comments"] == "<p>See me about the tag.</p>"  # a teacher's, kept
    assert by_id["Participant 4004"]["Grade"] == ""  # locked: Moodle would skip it
    assert by_id["Participant 5005"]["Grade"] == ""  # no submission: blank, which Moodle skips
    assert any("Participant 4004" in n and "locked" in n for n in done.notes)
    assert any("Participant 3003" in n and "feedback comment" in n for n in done.notes)


def test_moodle_reads_it_back_as_its_upload_does(tmp_path: Path) -> None:
    """What assignfeedback_offline_grade_importer takes: Identifier minus "Participant ",
    Grade and Last modified (grade) found by header, any column order."""
    header = ["Grade", "Last modified (grade)", "Maximum Grade", "Identifier", "Full name"]
    participants = [("2002", "Ada Lovelace", "", "Yes", ""), ("3003", "Jane Doe", "4", "Yes", "")]
    source = moodle_worksheet(tmp_path / "w.csv", header=header, participants=participants)
    [done] = write_imports(
        tmp_path,
        rows_of({"Ada Lovelace_2002_assignsubmission_file_": 50.0}),
        [read_moodle_worksheet(source)],
    )
    rows = read_csv(done.path)
    columns = {
        name: rows[0].index(name) for name in ("Identifier", "Grade", "Last modified (grade)")
    }
    imported = {
        r[columns["Identifier"]][len("Participant ") :]: r[columns["Grade"]] for r in rows[1:]
    }
    assert imported == {"2002": "5", "3003": "4"}
    assert all(r[columns["Last modified (grade)"]] == "-" for r in rows[1:])


def test_a_decimal_comma_worksheet_gets_decimal_comma_grades(tmp_path: Path) -> None:
    worksheet = read_moodle_worksheet(moodle_worksheet(tmp_path / "w.csv", maximum="20,00"))
    [done] = write_imports(
        tmp_path, rows_of({"Jane Doe_3003_assignsubmission_file_": 85.25}), [worksheet]
    )
    jane = next(r for r in read_csv(done.path) if r[0] == "Participant 3003")
    assert jane[4] == "17,05"


def test_an_unknown_moodle_participant_is_refused(tmp_path: Path) -> None:
    worksheet = read_moodle_worksheet(moodle_worksheet(tmp_path / "worksheet.csv"))
    files = {**MOODLE_FOLDERS, "Ada Lovelace_2020_assignsubmission_file_": 70.0}
    with pytest.raises(LmsExportError) as err:
        write_imports(tmp_path, rows_of(files), [worksheet])
    message = str(err.value)
    assert f"{tmp_path / 'worksheet.csv'}: 1 graded student missing from it" in message
    assert "Ada Lovelace_2020_assignsubmission_file_ (Participant 2020)" in message
    assert "Download grading worksheet" in message
    assert not (tmp_path / MOODLE_FILE).exists()


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (
            [c.replace("Last modified (grade)", "Modified") for c in MOODLE_HEADER],
            r"no column 'Last modified \(grade\)'.*switch your Moodle language to English",
        ),
        ([c for c in MOODLE_HEADER if c != "Identifier"], r"no column 'Identifier'"),
        (
            [c.replace("Maximum Grade", "Scale") for c in MOODLE_HEADER],
            r"graded on a scale.*grade type to Point",
        ),
        ([*MOODLE_HEADER, "Grade"], r"two columns named Grade"),
    ],
)
def test_a_changed_moodle_column_is_refused(
    tmp_path: Path, header: list[str], problem: str
) -> None:
    source = moodle_worksheet(tmp_path / "worksheet.csv", header=header)
    with pytest.raises(LmsExportError, match=problem) as err:
        read_moodle_worksheet(source)
    assert str(err.value).startswith(str(source))
    assert "Fix: " in str(err.value)


def test_a_moodle_worksheet_with_a_participant_twice_or_unnamed_is_refused(tmp_path: Path) -> None:
    twice = [*MOODLE_PARTICIPANTS, MOODLE_PARTICIPANTS[0]]
    with pytest.raises(LmsExportError, match=r"two rows for Participant 2002"):
        read_moodle_worksheet(moodle_worksheet(tmp_path / "a.csv", participants=twice))
    source = moodle_worksheet(tmp_path / "b.csv")
    source.write_text(source.read_text(encoding="utf-8-sig").replace("Participant 5005", "5005"))
    with pytest.raises(
        LmsExportError, match=r"row 5: Identifier '5005' is not 'Participant <number>'"
    ):
        read_moodle_worksheet(source)


# --- the command line ------------------------------------------------------------------------


def canvas_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_batch_refuses_an_unknown_student_before_grading_anyone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = canvas_export(tmp_path / "export.csv")
    submissions = canvas_zip(
        tmp_path / "submissions.zip",
        {"smithjohn_1001_70001_lab1.ipynb": b"{}", "newstudent_7777_70007_lab1.ipynb": b"{}"},
    )
    out = tmp_path / "out"
    code = main(
        ["batch", str(submissions), "--out", str(out), "--canvas-gradebook", str(export),
         "--canvas-assignment", "Lab 1: MLflow Tracking"]
    )  # fmt: skip
    assert code == 2  # the instructor fixes the export or the download: not the machine
    err = capsys.readouterr().err
    assert "newstudent_7777_70007_lab1.ipynb (Canvas ID 7777)" in err
    assert not (out / "smithjohn_1001").exists()  # nothing graded


def test_lms_flags_that_cannot_work_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = canvas_export(tmp_path / "export.csv")
    out = str(tmp_path / "out")
    assert main(["batch", str(tmp_path), "--out", out, "--canvas-assignment", "Lab 1"]) == 2
    assert "pass the export too, with --canvas-gradebook" in capsys.readouterr().err
    code = main(
        ["batch", str(tmp_path), "--out", out, "--shard", "1/2", "--canvas-gradebook", str(export),
         "--canvas-assignment", "5002"]
    )  # fmt: skip
    assert code == 2
    assert "to `labgrade merge` of the shards" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "--out", out, "--canvas-gradebook", str(export)]) == 2
    assert "pass --canvas-assignment with its title or id" in capsys.readouterr().err


def test_merge_writes_the_lms_files_of_the_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for i, row in enumerate(rows_of(CANVAS_FILES)):
        save_student(shards[i % 2], row, "# feedback\n")
    export = canvas_export(tmp_path / "export.csv")
    merged = tmp_path / "merged"
    code = main(
        ["merge", *map(str, shards), "--out", str(merged), "--canvas-gradebook", str(export),
         "--canvas-assignment", "5002"]
    )  # fmt: skip
    assert code == 0
    stdout = capsys.readouterr().out
    assert f"wrote {merged / CANVAS_FILE} from {export}: 4 grades filled in, 2 rows left" in stdout
    assert "import it in Canvas (Grades > Import)" in stdout
    assert canvas_would_import(merged / CANVAS_FILE)[1]["2002"] == "8.5"


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.xdist_group("batch")
def test_a_canvas_download_batch_writes_canvas_its_import_csv(tmp_path: Path) -> None:
    """End to end through `labgrade batch`, as an instructor runs it on Canvas's zip."""
    submissions = canvas_zip(
        tmp_path / "submissions.zip",
        {
            "smithjohn_1001_70001_lab1_tracking_quickstart.ipynb": (
                ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"
            ).read_bytes(),
            "lovelaceada_LATE_2002_70002_lab1.ipynb": (
                SUBMISSIONS / "loses_tag.ipynb"
            ).read_bytes(),
        },
    )
    export = canvas_export(tmp_path / "export.csv")
    out = tmp_path / "out"
    run = run_labgrade(
        "batch", str(submissions), "--out", str(out), "--jobs", "2", "--timeout", "90",
        "--canvas-gradebook", str(export), "--canvas-assignment", "Lab 1: MLflow Tracking",
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"wrote {out / CANVAS_FILE} from {export}: 2 grades filled in, 4 rows left" in run.stdout
    points, grades = canvas_would_import(out / CANVAS_FILE)
    assert points == {"5002": "10.00"}
    assert grades == {"1001": "10", "2002": "9", "3003": "", "4004": "", "5005": "7.00", "9999": ""}
    with (out / "grades.csv").open(newline="") as fh:
        ids = [r["id"] for r in csv.DictReader(fh)][1:]
    assert ids == ["lovelaceada_2002", "smithjohn_1001"]  # student ids as without the flags


# --- late, by Moodle's submission times -------------------------------------------------


def test_due_marks_the_moodle_submissions_dated_after_it_late(tmp_path: Path) -> None:
    source = moodle_worksheet(tmp_path / "worksheet.csv")
    text = source.read_text(encoding="utf-8-sig").splitlines()
    # Jane submitted a day later than the others; Grace submitted nothing ("-").
    text = [
        line.replace("Friday, 20 November 2026, 12:00 PM", "Saturday, 21 November 2026, 9:05 AM")
        if "Participant 3003" in line
        else line.replace("Friday, 20 November 2026, 12:00 PM", "-")
        if "Participant 5005" in line
        else line
        for line in text
    ]
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    worksheet = read_moodle_worksheet(source)
    rows = rows_of(MOODLE_FOLDERS)
    due = datetime.datetime(2026, 11, 20, 23, 59)
    assert late_by_due([worksheet], rows, due) == {"jane_doe_3003"}
    assert late_by_due([worksheet], rows, datetime.datetime(2026, 11, 20, 11, 0)) == {
        "ada_lovelace_2002", "jane_doe_3003", "alan_turing_4004"
    }  # fmt: skip
    assert late_by_due([worksheet], rows, None) == frozenset()
    done = finish(tmp_path / "out", rows, TRACKING.rubric(), NONE, late={"ada_lovelace_2002"})
    assert [r.student for r in done if r.late] == ["ada_lovelace_2002"]
    [written] = write_imports(tmp_path / "out", done, [worksheet])
    ada = next(r for r in read_csv(written.path) if r[0] == "Participant 2002")
    assert "submitted late" in ada[MOODLE_HEADER.index("Feedback comments")]


def test_a_submission_time_moodle_did_not_write_in_english_is_refused(tmp_path: Path) -> None:
    source = moodle_worksheet(tmp_path / "worksheet.csv")
    source.write_text(
        source.read_text(encoding="utf-8-sig").replace(
            "Friday, 20 November 2026, 12:00 PM", "vendredi 20 novembre 2026, 12:00"
        ),
        encoding="utf-8",
    )
    with pytest.raises(LmsExportError, match=r"Participant 2002's 'Last modified \(submission\)'"):
        late_by_due([read_moodle_worksheet(source)], [], datetime.datetime(2026, 11, 20))


def test_due_without_a_moodle_worksheet_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    assert main(["batch", str(tmp_path), "--out", out, "--due", "2026-11-20 23:59"]) == 2
    assert "pass the worksheet too, with --moodle-worksheet" in capsys.readouterr().err
