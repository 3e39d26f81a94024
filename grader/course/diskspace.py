"""Free disk for a batch: each grading's throwaway MLflow server store may grow to the disk limit.

A disk that fills mid-grading fails the grading in ways that read as the student's fault (a
server that cannot write, a run that logged nothing). So a batch starts only where the disk
holds all its gradings at once, and starts each grading only while the disk holds one more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.sandbox.limits import size_text

# Beyond the gradings' stores: the gradebook, feedback, worker logs, the warm process's folder.
DISK_HEADROOM = 256 * 1024**2


class DiskSpaceError(GraderError):
    """Too little free disk for the batch's gradings: the grading machine's problem."""


@dataclass(frozen=True)
class Filesystem:
    """One filesystem holding some of the batch's folders, and its free bytes."""

    mount: Path
    folders: tuple[str, ...]  # each folder with what the batch keeps there, as a person reads it
    free: int


def batch_folders(out: Path) -> list[tuple[Path, str]]:
    """The folders a batch writing to OUT fills, with what it keeps in each."""
    # The workers inherit the batch's TMPDIR, so their work folders land where ours would.
    return [
        (Path(tempfile.gettempdir()), "TMPDIR: the gradings' work folders and MLflow stores"),
        (out, "--out: the gradebook and feedback"),
    ]


def filesystems(folders: Sequence[tuple[Path, str]]) -> list[Filesystem]:
    """Each distinct filesystem (by st_dev) holding FOLDERS, with its free bytes now."""
    by_device: dict[int, tuple[Path, list[str]]] = {}
    for folder, role in folders:
        device = os.stat(folder).st_dev
        _, roles = by_device.setdefault(device, (folder, []))
        roles.append(f"{folder} ({role})")
    return [
        Filesystem(mount_point(first), tuple(roles), shutil.disk_usage(first).free)
        for first, roles in by_device.values()
    ]


def mount_point(folder: Path) -> Path:
    path = folder.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


@dataclass(frozen=True)
class Shortage:
    """GRADINGS at once, each up to DISK bytes, need more than SHORT have free."""

    gradings: int
    disk: int
    disk_from: str  # where the disk limit was set, e.g. "--disk-limit 2GiB"
    headroom: int
    short: tuple[Filesystem, ...]

    @property
    def needed(self) -> int:
        return self.gradings * self.disk + self.headroom

    def describe(self) -> str:
        where = "; ".join(
            f"{' and '.join(fs.folders)} {'is' if len(fs.folders) == 1 else 'are'} on the"
            f" filesystem mounted at {fs.mount}, which has {size_text(fs.free)} free"
            for fs in self.short
        )
        return (
            f"{where}; {self.gradings} grading(s) at once need {size_text(self.needed)} there"
            f" ({self.gradings} x the disk limit {size_text(self.disk)} from {self.disk_from},"
            f" what each grading's MLflow server store may grow to,"
            f" + {size_text(self.headroom)} headroom)"
        )

    def fixes(self) -> str:
        # Fewer gradings at once cannot help when one alone does not fit.
        jobs = "lower --jobs, " if self.gradings > 1 else ""
        return (
            f"free space there, {jobs}lower --disk-limit (or the rubric's [limits] disk), or"
            " point TMPDIR or --out at a larger disk"
        )


def shortage(
    gradings: int,
    disk: int,
    disk_from: str,
    spaces: Sequence[Filesystem],
    headroom: int = DISK_HEADROOM,
) -> Shortage | None:
    """What GRADINGS at once need and where SPACES lack it; None where every one has it."""
    need = gradings * disk + headroom
    short = tuple(fs for fs in spaces if fs.free < need)
    return Shortage(gradings, disk, disk_from, headroom, short) if short else None


class DiskGate:
    """Lets a grading start only while the disk holds it too, on top of those running.

    MEASURE is called at every check (the batch's: `filesystems` of its folders), so the free
    space of now decides, whatever else on the machine writes meanwhile.
    """

    def __init__(
        self,
        disk: int,
        disk_from: str,
        measure: Callable[[], Sequence[Filesystem]],
        headroom: int = DISK_HEADROOM,
    ) -> None:
        self.disk, self.disk_from, self.measure, self.headroom = disk, disk_from, measure, headroom
        self.running = 0
        self.closed = False
        self.refused: Shortage | None = None  # why the gate closed itself, if it did
        self.changed = threading.Condition()  # a grading ended, or the gate closed

    def short_of(self, gradings: int) -> Shortage | None:
        return shortage(gradings, self.disk, self.disk_from, self.measure(), self.headroom)

    def check_start(self, gradings: int) -> None:
        """Before the batch starts anything: GRADINGS at once must fit."""
        short = self.short_of(gradings)
        if short is not None:
            raise DiskSpaceError(
                f"not enough free disk to start the batch: {short.describe()}."
                f" Nothing was graded. Fix: {short.fixes()}"
            )

    def enter(self) -> bool:
        """True: start a grading (then `leave` when it ends). False: start none any more."""
        with self.changed:
            while not self.closed:
                short = self.short_of(self.running + 1)
                if short is None:
                    self.running += 1
                    return True
                if self.running == 0:
                    # Nothing will end to free space: wait no longer, start nothing more.
                    self.refused = short
                    self._close()
                    return False
                self.changed.wait()
            return False

    def leave(self) -> None:
        with self.changed:
            self.running -= 1
            self.changed.notify_all()

    def close(self) -> None:
        """The batch is stopping: whoever waits for space starts nothing."""
        with self.changed:
            self._close()

    def _close(self) -> None:
        self.closed = True
        self.changed.notify_all()
