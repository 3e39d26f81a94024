"""The one way the grader unpacks an archive: a class's LMS download, or a student's upload.

Nothing lands outside the destination (no `../` or absolute names, no link pointing out), and an
archive is refused before anything is written when it holds more files or more bytes than its
caps: a zip bomb costs a refusal, not the disk every other grading needs.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import GraderError

MIB = 1024 * 1024
# What a student's own .zip or .tar.gz may unpack to: a lab's notebook, helpers and data.
STUDENT_CAPS_BYTES, STUDENT_CAPS_FILES = 200 * MIB, 1000
# What a whole class's download may unpack to.
CLASS_CAPS_BYTES, CLASS_CAPS_FILES = 8 * 1024 * MIB, 50_000
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
# Folders archivers add that are nobody's work: macOS's resource forks.
JUNK = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})


OUTSIDE = "would land outside the archive's folder"


class UnpackError(GraderError):
    """An archive the grader will not unpack: unreadable, escaping its folder, or over a cap."""


@dataclass(frozen=True)
class Caps:
    bytes: int
    files: int
    fix: str  # what whoever made the archive does about a refusal

    def describe(self) -> str:
        return f"{self.files} files and {self.bytes // MIB} MiB uncompressed"


STUDENT_CAPS = Caps(
    STUDENT_CAPS_BYTES,
    STUDENT_CAPS_FILES,
    "make the archive again from the folder of your work alone (no links, no data sets,"
    " environments or outputs such as mlruns/ or .venv/), or upload the notebook by itself",
)
CLASS_CAPS = Caps(
    CLASS_CAPS_BYTES,
    CLASS_CAPS_FILES,
    "download the submissions from the LMS again, or unpack them yourself and pass the folder",
)


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVES)


def unpack(archive: Path, dest: Path, caps: Caps) -> None:
    """ARCHIVE (.zip, .tar.gz, .tgz, .tar) into DEST, a new or empty folder; UnpackError
    (nothing left in DEST) when it is unreadable, a name or link would land outside DEST, or
    it holds more than CAPS."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, dest, caps)
        else:
            _untar(archive, dest, caps)
    except UnpackError:
        _empty(dest)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
        _empty(dest)
        raise UnpackError(
            f"{archive.name}: not a readable archive ({err}). Fix: {caps.fix}"
        ) from err


def look_through(folder: Path) -> Path:
    """FOLDER, or the one folder it holds when it holds nothing else (an archive made of a
    folder): what was meant to be unpacked. Archivers' junk (__MACOSX) does not count."""
    visible = [p for p in folder.iterdir() if p.name not in JUNK and not p.name.startswith(".")]
    if len(visible) == 1 and visible[0].is_dir() and not visible[0].is_symlink():
        return visible[0]
    return folder


def _refuse(archive: Path, caps: Caps, name: str, why: str) -> UnpackError:
    return UnpackError(f"{archive.name}: refused to unpack: {name!r} {why}. Fix: {caps.fix}")


def _over(archive: Path, caps: Caps, files: int, size: int) -> UnpackError:
    return UnpackError(
        f"{archive.name}: refused to unpack: it holds {files} files, {size // MIB} MiB"
        f" uncompressed, over the grader's cap of {caps.describe()}. Fix: {caps.fix}"
    )


def _inside(dest: Path, name: str) -> Path | None:
    """Where NAME lands in DEST, or None when it would land outside it."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    target = dest.joinpath(*pure.parts)
    return target if target.resolve().is_relative_to(dest.resolve()) else None


def _unzip(archive: Path, dest: Path, caps: Caps) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        members = [i for i in infos if not i.is_dir()]
        # A zip's declared sizes bound what reading yields: zipfile stops at file_size.
        total = sum(i.file_size for i in members)
        if len(members) > caps.files or total > caps.bytes:
            raise _over(archive, caps, len(members), total)
        for info in infos:
            target = _inside(dest, info.filename)
            if target is None:
                raise _refuse(archive, caps, info.filename, OUTSIDE)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(archive, caps, info.filename, "is a link")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target, (stamp, stamp))


def _untar(archive: Path, dest: Path, caps: Caps) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        files = [m for m in members if m.isfile()]
        total = sum(m.size for m in files)
        if len(files) > caps.files or total > caps.bytes:
            raise _over(archive, caps, len(files), total)
        for member in members:
            if member.issym() or member.islnk():
                raise _refuse(archive, caps, member.name, "is a link")
            if _inside(dest, member.name) is None:
                raise _refuse(archive, caps, member.name, OUTSIDE)
        try:
            # 'data': no absolute names, no escaping links, no devices, no set-uid bits.
            tf.extractall(dest, filter="data")
        except tarfile.FilterError as err:
            raise _refuse(archive, caps, err.tarinfo.name, f"was refused ({err})") from err


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
