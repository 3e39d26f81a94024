"""A student's submission copied into a folder of its own before it is graded.

The engine gives the kernel a copy of the folder its notebook sits in: for a notebook in a
flat class folder, that folder is the whole class. Staged, it is the student's own files
alone, under the names they had on the student's machine (a notebook imports its helper
module by its own name, not by the LMS's download name). An upload that is an archive is
unpacked (grader.course.unpack) and graded as the folder it holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.course.roster import Entry, resubmitted_as
from grader.course.unpack import JUNK, STUDENT_CAPS, is_archive, look_through, unpack
from grader.engine.kernel.execution import IGNORED
from grader.engine.kernel.submission import SUFFIXES

STAGING = ".staging"  # under a batch's --out: one folder per student being graded


def stage(entry: Entry, dest: Path) -> Path:
    """ENTRY's files copied into DEST (emptied first), and what to grade there: the folder
    holding the notebook. UnpackError when the student's archive is refused."""
    if dest.exists():
        shutil.rmtree(dest)
    files = dest / "files"
    files.mkdir(parents=True, mode=0o700)
    for name, source in entry.staged:
        if source.is_dir():
            _copy_folder(source, files)
        else:
            # A name is a file's own, never a path: nothing lands outside FILES.
            shutil.copy2(source, files / (Path(name).name or source.name))
    for alias, source in _aliases(entry).items():  # the name the notebook may open it by
        shutil.copy2(source, files / Path(alias).name)
    return _opened(files, dest / "unpacked")


def _aliases(entry: Entry) -> dict[str, Path]:
    """The names Canvas data files had before a resubmission suffixed them, where that name is
    free and no other file claims it (data-2024.csv and data-2025.csv claim none)."""
    names = {name for name, _ in entry.staged}
    claims: dict[str, list[Path]] = {}
    for _, source in entry.staged:
        alias = resubmitted_as(source)
        if alias is not None and alias not in names:
            claims.setdefault(alias, []).append(source)
    return {alias: sources[0] for alias, sources in claims.items() if len(sources) == 1}


def _opened(folder: Path, unpack_to: Path) -> Path:
    """FOLDER, or, when it holds no notebook or script but one archive, what that holds."""
    visible = [p for p in folder.iterdir() if p.name not in JUNK and not p.name.startswith(".")]
    gradable = [p for p in visible if p.is_file() and p.suffix in SUFFIXES]
    archives = [p for p in visible if is_archive(p)]
    if gradable or len(archives) != 1:
        return look_through(folder) if not gradable else folder
    unpack(archives[0], unpack_to, STUDENT_CAPS)
    for junk in JUNK:
        path = unpack_to / junk
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return look_through(unpack_to)


def _copy_folder(source: Path, dest: Path) -> None:
    """SOURCE's files into DEST; links are not followed (one could point at another student's
    work), nor are stores and environments copied."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in IGNORED or (Path(directory) / n).is_symlink()}

    shutil.copytree(source, dest, symlinks=True, ignore=ignore, dirs_exist_ok=True)
