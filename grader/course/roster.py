"""Finding a class's submissions in a folder or an LMS zip, and whose each one is."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.course.unpack import ARCHIVES, CLASS_CAPS, JUNK, UnpackError, unpack
from grader.engine.kernel.execution import IGNORED
from grader.engine.kernel.submission import SUFFIXES
from grader.errors import InputError


class RosterError(InputError):
    """What the instructor handed the batch cannot be read as a class: fix the command or its
    inputs (labgrade exits 2)."""


# Canvas: lastname_firstname[_LATE]_12345_67890_file.ipynb (user id, submission id, file name)
_CANVAS = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
# Canvas's name for a file uploaded again under the same name: helper-1.py, lab1-2.ipynb.
_RESUBMITTED = re.compile(r"-\d+(?=\.[^.]+$)")
# Moodle: "Full Name_12345_assignsubmission_file_" (a folder, or a prefix of a file name)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_?(?P<file>.*)$")
_SKIP = JUNK


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
    """One student's submission as found: the newest version of each file or folder under
    their id, graded together as one folder (grader.course.staging)."""

    student: str
    path: Path  # the file or folder FILE names: the notebook when there are several files
    file: str
    sha256: str  # of every part: a changed helper module grades the student again
    mtime: float
    superseded: tuple[str, ...] = ()  # older versions of a part, ignored
    lms: LmsIdentity | None = None  # None: not an LMS download's name
    # (name in the student's folder, where it is) of every part; () for PATH alone under its
    # own name. A folder's name is "": its files are the submission's.
    parts: tuple[tuple[str, Path], ...] = ()
    late: bool = False  # the LMS's download says it came after the due date

    @property
    def staged(self) -> tuple[tuple[str, Path], ...]:
        """What the student's private folder holds: (own name, source) of each part."""
        return self.parts or ((own_name(self.path), self.path),)

    def note(self) -> str:
        """What grades.csv says of how the files were taken, if anything needs saying."""
        notes = []
        if len(self.staged) > 1:
            names = ", ".join(name or "(folder)" for name, _ in self.staged)
            notes.append(f"graded {len(self.staged)} files together as one folder: {names}")
        if self.superseded:
            if len(self.staged) > 1:
                notes.append(f"older versions ignored: {', '.join(self.superseded)}")
            else:
                notes.append(
                    f"newest of {len(self.superseded) + 1} files;"
                    f" ignored {', '.join(self.superseded)}"
                )
        return "; ".join(notes)


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
    ends = [end for end in (*SUFFIXES, *ARCHIVES) if name.lower().endswith(end)]
    return _slug(name[: -len(ends[0])] if ends else name), False


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-").lower()
    return slug or "student"


def own_name(path: Path) -> str:
    """The name a file had on the student's machine, which their code imports or opens it by:
    the LMS's prefix taken off, and for code Canvas's resubmission suffix too (helper-1.py is
    helper.py: a module named with a dash could not be imported). A folder's is "" (its files
    are the submission's)."""
    if path.is_dir():
        return ""
    match = _CANVAS.match(path.name)
    if match is not None:
        name = match.group("file")
        return _RESUBMITTED.sub("", name) if Path(name).suffix in SUFFIXES else name
    match = _MOODLE.match(path.name)
    return match.group("file") if match is not None and match.group("file") else path.name


def resubmitted_as(path: Path) -> str | None:
    """The name a Canvas data file may have had before Canvas suffixed it (a.csv for a-1.csv),
    or None. Whether data-2024.csv was renamed or named so cannot be told: both are kept."""
    match = _CANVAS.match(path.name) if path.is_file() else None
    if match is None or Path(match.group("file")).suffix in SUFFIXES:
        return None
    name = match.group("file")
    bare = _RESUBMITTED.sub("", name)
    return bare if bare != name else None


def is_late(name: str) -> bool:
    """Whether a Canvas download's name marks the submission late (its _LATE)."""
    match = _CANVAS.match(name)
    return match is not None and match.group("late") is not None


def discover(source: Path, unpack_to: Path) -> list[Entry]:
    """Every student's submission in SOURCE (a folder or a .zip), the newest version of each of
    their files (UnpackError: a .zip the grader will not unpack)."""
    if not source.exists():
        raise RosterError(
            f"{source}: does not exist. Fix: pass a folder of submissions or an LMS .zip"
        )
    folder = _unzip(source, unpack_to) if source.is_file() else source
    found: dict[str, list[Path]] = {}
    for item in sorted(folder.iterdir()):
        if item.name in _SKIP or item.name.startswith("."):
            continue
        student, lms = student_id(item.name)
        if item.is_file() and not lms and not _gradable(item):
            continue  # a stray README or PDF with no student's name on it
        found.setdefault(student, []).append(item)
    return [_entry(student, items) for student, items in sorted(found.items())]


def _gradable(item: Path) -> bool:
    return item.suffix in SUFFIXES or item.name.lower().endswith(ARCHIVES)


def _entry(student: str, items: list[Path]) -> Entry:
    """STUDENT's files: several versions of one name (a resubmission) leave the newest; files
    of different names (a notebook and its helper module, uploaded apart) are graded together."""
    versions: dict[str, list[Path]] = {}
    for item in items:
        versions.setdefault(own_name(item), []).append(item)
    parts: list[tuple[str, Path]] = []
    superseded: list[str] = []
    for name, paths in sorted(versions.items()):
        ordered = sorted(paths, key=lambda p: (_mtime(p), p.name))
        parts.append((name, ordered[-1]))
        superseded += [p.name for p in ordered[:-1]]
    main = min(parts, key=lambda part: _rank(part[1]))[1]
    if len(parts) == 1:
        sha256 = content_hash(main)  # as it always was: a finished row's hash still matches
    else:
        digest = hashlib.sha256()
        for name, path in parts:
            digest.update(f"{name}\0{content_hash(path)}\0".encode())
        sha256 = digest.hexdigest()
    return Entry(
        student,
        main,
        main.name,
        sha256,
        max(_mtime(p) for _, p in parts),
        tuple(superseded),
        lms_identity(main.name),
        tuple(parts) if len(parts) > 1 else (),
        any(is_late(p.name) for _, p in parts),
    )


def _rank(path: Path) -> tuple[int, str]:
    """Which part names the row: a folder, the notebook, a script, an archive, anything."""
    if path.is_dir():
        return 0, path.name
    if path.suffix == ".ipynb":
        return 1, path.name
    if path.suffix == ".py":
        return 2, path.name
    return (3 if path.name.lower().endswith(ARCHIVES) else 4), path.name


def _unzip(archive: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    try:
        unpack(archive, dest, CLASS_CAPS)
    except UnpackError as err:
        raise RosterError(f"{archive}: {err}") from err
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
