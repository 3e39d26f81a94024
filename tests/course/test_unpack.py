"""The one safe unpacker: nothing lands outside its folder, and caps are kept."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.course.unpack import STUDENT_CAPS, Caps, UnpackError, look_through, unpack


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            content = data.get(info.name)
            if content is not None:
                info.size = len(content)
            tf.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_a_zip_unpacks_with_its_folders_and_is_looked_through(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "lab1.zip",
        {"lab1/lab1.ipynb": b"{}", "lab1/data/x.csv": b"x\n", "__MACOSX/lab1/._lab1.ipynb": b""},
    )
    unpack(archive, tmp_path / "out", STUDENT_CAPS)
    assert (tmp_path / "out" / "lab1" / "data" / "x.csv").read_bytes() == b"x\n"
    assert look_through(tmp_path / "out") == tmp_path / "out" / "lab1"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.py", "would land outside"),
        ("/etc/evil.py", "would land outside"),
        ("a/../../evil.py", "would land outside"),
        ("C:/evil.py", "would land outside"),
    ],
)
def test_a_zip_whose_names_leave_it_is_refused_and_leaves_nothing(
    tmp_path: Path, name: str, why: str
) -> None:
    archive = write_zip(tmp_path / "up.zip", {"ok.ipynb": b"{}", name: b"x"})
    dest = tmp_path / "box" / "out"
    with pytest.raises(UnpackError, match=why) as caught:
        unpack(archive, dest, STUDENT_CAPS)
    assert "up.zip: refused to unpack" in str(caught.value)
    assert "Fix: " in str(caught.value)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "box" / "evil.py").exists()


def test_a_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("data.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/home/other/lab1.ipynb")
    with pytest.raises(UnpackError, match=r"'data\.csv' is a link"):
        unpack(archive, tmp_path / "out", STUDENT_CAPS)


@pytest.mark.parametrize(
    "member",
    [
        tar_member("data.csv", tarfile.SYMTYPE, "/etc/passwd"),
        tar_member("data.csv", tarfile.LNKTYPE, "../../other.ipynb"),
        tar_member("../evil.py"),
        tar_member("/abs/evil.py"),
    ],
)
def test_a_tar_with_links_or_names_leaving_it_is_refused(
    tmp_path: Path, member: tarfile.TarInfo
) -> None:
    data = {} if member.issym() or member.islnk() else {member.name: b"x"}
    archive = write_tar(
        tmp_path / "up.tar.gz", [tar_member("lab1.ipynb"), member], data | {"lab1.ipynb": b"{}"}
    )
    with pytest.raises(UnpackError, match="refused to unpack"):
        unpack(archive, tmp_path / "out", STUDENT_CAPS)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_tar_gz_unpacks(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "up.tgz",
        [tar_member("lab1/lab1.ipynb"), tar_member("lab1/helper.py")],
        {"lab1/lab1.ipynb": b"{}", "lab1/helper.py": b"WORD = 1\n"},
    )
    unpack(archive, tmp_path / "out", STUDENT_CAPS)
    assert (look_through(tmp_path / "out") / "helper.py").read_bytes() == b"WORD = 1\n"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_over_its_caps_is_refused_before_anything_is_written(
    tmp_path: Path, kind: str
) -> None:
    members = {f"f{i}.txt": b"0" * 600 for i in range(4)}
    if kind == "zip":
        archive = write_zip(tmp_path / "up.zip", members)
    else:
        infos = [tar_member(name) for name in members]
        archive = write_tar(tmp_path / "up.tar.gz", infos, members)
    with pytest.raises(UnpackError, match="over the grader's cap of 3 files"):
        unpack(archive, tmp_path / "a", Caps(10**9, 3, "smaller"))
    with pytest.raises(UnpackError, match=r"4 files, 0 MiB uncompressed.*Fix: smaller"):
        unpack(archive, tmp_path / "b", Caps(2000, 100, "smaller"))
    assert list((tmp_path / "a").iterdir()) == list((tmp_path / "b").iterdir()) == []


def test_what_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "up.zip").write_bytes(b"PK not really")
    with pytest.raises(UnpackError, match=r"up\.zip: not a readable archive"):
        unpack(tmp_path / "up.zip", tmp_path / "out", STUDENT_CAPS)
