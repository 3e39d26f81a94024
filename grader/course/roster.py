"""Finding a class's submissions in a folder or an LMS zip, and whose each one is."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from grader.engine.execution import IGNORED
from grader.engine.submission import SUFFIXES
from grader.errors import GraderError

# Canvas: lastname_firstname[_LATE]_12345_67890_file.ipynb (user id, submission id, file name)
_CANVAS = re.compile(r"^(?P<name>.+?)(?:_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
# Moodle: "Full Name_12345_assignsubmission_file_" (a folder, or a prefix of a file name)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_?(?P<file>.*)$")
_SKIP = {"__MACOSX", ".DS_Store", "Thumbs.db"}


Lms = Literal["canvas", "moodle"]


@dataclass(frozen=True)
class LmsIdentity:
    """Whose submission an LMS download's file or folder name says it is, in the LMS's terms:
    what its gradebook import matches on (grader.course.lms)."""

    lms: Lms
    # Canvas: the user's Canvas ID (the gradebook export's ID column); Moodle: the participant
    # id of this assignment (the grading worksheet's "Participant 12345").
    user_id: str
    name: str  # as the download spells it


@dataclass(frozen=True)
class Entry:
    """One student's submission as found: the newest file or folder under their id."""

    student: str
    path: Path
    file: str
    sha256: str
    mtime: float
    superseded: tuple[str, ...] = ()
    lms: LmsIdentity | None = None  # None: not an LMS download's name


def lms_identity(name: str) -> LmsIdentity | None:
    """The LMS identity a download's file or folder name carries, if it is LMS-style."""
    patterns: tuple[tuple[Lms, re.Pattern[str]], ...] = (("moodle", _MOODLE), ("canvas", _CANVAS))
    for lms, pattern in patterns:
        match = pattern.match(name)
        if match:
            return LmsIdentity(lms, match.group("uid"), match.group("name"))
    return None


def student_id(name: str) -> tuple[str, bool]:
    """The student id a file or folder name stands for, and whether it is LMS-style."""
    identity = lms_identity(name)
    if identity is not None:
        return _slug(f"{identity.name}_{identity.user_id}"), True
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in SUFFIXES else name
    return _slug(stem), False


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-").lower()
    return slug or "student"


def discover(source: Path, unpack_to: Path) -> list[Entry]:
    """Every student's submission in SOURCE (a folder or a .zip), newest per student."""
    if not source.exists():
        raise GraderError(f"{source}: does not exist; pass a folder of submissions or an LMS .zip")
    folder = _unzip(source, unpack_to) if source.is_file() else source
    found: dict[str, list[Entry]] = {}
    for item in sorted(folder.iterdir()):
        if item.name in _SKIP or item.name.startswith("."):
            continue
        student, lms = student_id(item.name)
        if item.is_file() and not lms and item.suffix not in SUFFIXES:
            continue  # a stray README or PDF with no student's name on it
        found.setdefault(student, []).append(
            Entry(
                student,
                item,
                item.name,
                content_hash(item),
                _mtime(item),
                lms=lms_identity(item.name),
            )
        )
    return [_newest(entries) for _, entries in sorted(found.items())]


def _newest(entries: list[Entry]) -> Entry:
    ordered = sorted(entries, key=lambda e: (e.mtime, e.file))
    return replace(ordered[-1], superseded=tuple(e.file for e in ordered[:-1]))


def _unzip(archive: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if dest.resolve() not in target.parents:  # zip slip: ../ or absolute names
                    continue
                zf.extract(info, dest)
                stamp = time.mktime((*info.date_time, 0, 0, -1))
                os.utime(target, (stamp, stamp))
    except (zipfile.BadZipFile, OSError) as err:
        raise GraderError(f"{archive}: not a readable .zip ({err})") from err
    return _single_top_folder(dest)


def _single_top_folder(dest: Path) -> Path:
    """LMS zips sometimes wrap everything in one folder: grade what is inside it."""
    visible = [p for p in dest.iterdir() if p.name not in _SKIP and not p.name.startswith(".")]
    if len(visible) == 1 and visible[0].is_dir() and not student_id(visible[0].name)[1]:
        inner = list(visible[0].iterdir())
        if len(inner) > 1 or (inner and inner[0].is_dir()):
            return visible[0]
    return dest


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(_files(path))
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part in IGNORED for part in p.relative_to(folder).parts)
    ]


def _mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in _files(path)), default=path.stat().st_mtime)
