"""A student's files, found in the class download and staged into a folder of their own."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from grader.course.roster import discover, own_name
from grader.course.staging import stage
from grader.course.unpack import UnpackError


def put(folder: Path, files: dict[str, bytes]) -> Path:
    for age, (name, data) in enumerate(files.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_790_000_000 + age, 1_790_000_000 + age))
    return folder


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_own_names_drop_the_lms_prefix_and_canvas_resubmission_suffix(tmp_path: Path) -> None:
    put(tmp_path, {"a.py": b""})
    assert own_name(tmp_path / "a.py") == "a.py"
    for name, own in [
        ("smith_john_1001_5001_lab1.ipynb", "lab1.ipynb"),
        ("smith_john_LATE_1001_5001_helper-1.py", "helper.py"),
        ("smith_john_1001_5001_my-model-12.py", "my-model.py"),
        ("smith_john_1001_5001_iris-1.csv", "iris-1.csv"),  # data: renamed or named so?
        ("Ada Lovelace_2002_assignsubmission_file_lab1.ipynb", "lab1.ipynb"),
        ("bob.ipynb", "bob.ipynb"),
    ]:
        put(tmp_path, {name: b""})
        assert own_name(tmp_path / name) == own


def test_a_students_files_in_a_flat_folder_are_staged_alone_under_their_own_names(
    tmp_path: Path,
) -> None:
    source = put(
        tmp_path / "class",
        {
            "smith_john_1001_5001_lab1.ipynb": b"old notebook",
            "smith_john_1001_5002_helper.py": b"old helper",
            "smith_john_LATE_1001_5003_lab1-1.ipynb": b"notebook",
            "smith_john_LATE_1001_5004_helper-1.py": b"helper",
            "smith_john_1001_5005_iris-1.csv": b"data",
            "smith_john_1001_5007_data-2024.csv": b"2024",
            "smith_john_1001_5008_data-2025.csv": b"2025",
            "doe_jane_3003_5006_lab1.ipynb": b"jane's",
            "README.txt": b"not a student",
        },
    )
    entries = {e.student: e for e in discover(source, tmp_path / "unpacked")}
    assert sorted(entries) == ["doe_jane_3003", "smith_john_1001"]
    smith = entries["smith_john_1001"]
    assert smith.file == "smith_john_LATE_1001_5003_lab1-1.ipynb"  # the notebook names the row
    assert smith.late
    assert not entries["doe_jane_3003"].late
    assert smith.superseded == (
        "smith_john_1001_5002_helper.py",
        "smith_john_1001_5001_lab1.ipynb",
    )
    assert "graded 5 files together" in smith.note()
    graded = stage(smith, tmp_path / "stage" / smith.student)
    # A data file keeps Canvas's name, and the one it had before a resubmission renamed it
    # where that name is free: two data files are never taken for versions of one.
    assert tree(graded) == {
        "data-2024.csv": b"2024",
        "data-2025.csv": b"2025",
        "helper.py": b"helper",
        "iris-1.csv": b"data",
        "iris.csv": b"data",
        "lab1.ipynb": b"notebook",
    }
    # A lone file is staged alone: no classmate sits beside it.
    jane = stage(entries["doe_jane_3003"], tmp_path / "stage" / "doe_jane_3003")
    assert tree(jane) == {"lab1.ipynb": b"jane's"}


def test_a_helper_changed_alone_changes_the_hash_a_resume_compares(tmp_path: Path) -> None:
    files = {"smith_john_1001_5001_lab1.ipynb": b"nb", "smith_john_1001_5002_helper.py": b"v1"}
    [before] = discover(put(tmp_path / "a", files), tmp_path / "u")
    files["smith_john_1001_5002_helper.py"] = b"v2"
    [after] = discover(put(tmp_path / "b", files), tmp_path / "u")
    assert before.sha256 != after.sha256
    assert before.file == after.file


def test_an_uploaded_zip_is_graded_as_the_folder_it_holds(tmp_path: Path) -> None:
    upload = zipped(
        {
            "lab1/lab1.ipynb": b"nb",
            "lab1/helper.py": b"h",
            "lab1/data/iris.csv": b"d",
            "__MACOSX/lab1/._lab1.ipynb": b"junk",
        }
    )
    source = put(tmp_path / "class", {"turing_alan_4004_8004_lab1.zip": upload})
    [entry] = discover(source, tmp_path / "unpacked")
    graded = stage(entry, tmp_path / "stage")
    assert graded.name == "lab1"
    assert tree(graded) == {"data/iris.csv": b"d", "helper.py": b"h", "lab1.ipynb": b"nb"}
    assert "__MACOSX" not in tree(tmp_path / "stage" / "unpacked")


def test_a_moodle_folder_tree_is_staged_as_the_students_own(tmp_path: Path) -> None:
    source = put(
        tmp_path / "class",
        {
            "Ada Lovelace_2002_assignsubmission_file_/lab1/lab1.ipynb": b"ada",
            "Ada Lovelace_2002_assignsubmission_file_/lab1/helper.py": b"h",
            "Bob Byte_3003_assignsubmission_file_/work.zip": zipped({"lab1.ipynb": b"bob"}),
        },
    )
    entries = {e.student: e for e in discover(source, tmp_path / "unpacked")}
    ada = stage(entries["ada_lovelace_2002"], tmp_path / "ada")
    assert tree(ada) == {"helper.py": b"h", "lab1.ipynb": b"ada"}
    bob = stage(entries["bob_byte_3003"], tmp_path / "bob")
    assert tree(bob) == {"lab1.ipynb": b"bob"}


def test_a_link_in_a_students_folder_is_not_followed(tmp_path: Path) -> None:
    source = put(tmp_path / "class", {"ada/lab1.ipynb": b"ada", "bob/lab1.ipynb": b"bob"})
    (source / "ada" / "peek.ipynb").symlink_to(source / "bob" / "lab1.ipynb")
    entries = {e.student: e for e in discover(source, tmp_path / "unpacked")}
    assert tree(stage(entries["ada"], tmp_path / "ada")) == {"lab1.ipynb": b"ada"}


def test_a_refused_upload_raises_for_its_row(tmp_path: Path) -> None:
    source = put(tmp_path / "class", {"eve.zip": zipped({"../x.ipynb": b"{}"})})
    [entry] = discover(source, tmp_path / "unpacked")
    assert entry.student == "eve"
    with pytest.raises(UnpackError, match=r"eve\.zip: refused to unpack"):
        stage(entry, tmp_path / "stage")
    assert not (tmp_path / "x.ipynb").exists()
