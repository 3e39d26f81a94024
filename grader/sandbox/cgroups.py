"""A cgroup per confined process tree: its memory and process caps, and whether OOM hit it.

cgroup v2 where the grader may create and enable controllers, else v1's memory and pids
hierarchies, nested under the grader's own cgroup so its limits still apply above ours.
Where neither can be written (no root, a read-only /sys/fs/cgroup in a container), there
is no cgroup and the sandbox falls back on rlimits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


CPU_PERIOD = 100_000  # microseconds: the kernel's default CFS period


@dataclass(frozen=True)
class Cgroup:
    dirs: tuple[Path, ...]  # one (v2) or one per controller (v1: memory, pids, maybe cpu)
    version: int

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in _read(self.dirs[0] / name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def peak_memory(self) -> int:
        """The most memory its processes used at once (0 where the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        value = _read(self.dirs[0] / name).strip()
        return int(value) if value.isdigit() else 0

    def pids(self) -> set[int]:
        return {int(p) for d in self.dirs for p in _read(d / "cgroup.procs").split() if p}

    def remove(self) -> None:
        """Kill whatever is left in it, then delete it (a cgroup with members cannot go)."""
        deadline = time.monotonic() + 5
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        for directory in self.dirs:
            with contextlib.suppress(OSError):
                directory.rmdir()


def create(name: str, memory: int, processes: int, cpus: float | None = None) -> Cgroup | None:
    """A new cgroup NAME with the limits, or None where this machine does not allow one.

    CPUS: at most that many CPUs' worth of time, where the cpu controller can be had (it is
    left out, not failed on, where it cannot).
    """
    if os.geteuid() != 0:
        return None
    if (ROOT / "cgroup.controllers").exists():
        return _create_v2(name, memory, processes, cpus)
    return _create_v1(name, memory, processes, cpus)


def _quota(cpus: float) -> int:
    return max(1000, int(cpus * CPU_PERIOD))


def _create_v2(name: str, memory: int, processes: int, cpus: float | None) -> Cgroup | None:
    own = _own_path("")
    # The grader's own cgroup holds processes, so it cannot delegate controllers (v2's
    # no-internal-process rule); the root cgroup is exempt from that rule.
    for parent in filter(None, [ROOT / own.lstrip("/") if own else None, ROOT]):
        directory = parent / name
        try:
            _enable(parent, ("memory", "pids"))
            directory.mkdir()
        except OSError:
            continue
        try:
            _write(directory / "memory.max", memory)
            _write(directory / "memory.swap.max", 0, optional=True)
            _write(directory / "pids.max", processes)
        except OSError:
            with contextlib.suppress(OSError):
                directory.rmdir()
            continue
        if cpus is not None:
            with contextlib.suppress(OSError):  # no cpu controller here: memory still bounds
                _enable(parent, ("cpu",))
                (directory / "cpu.max").write_text(f"{_quota(cpus)} {CPU_PERIOD}")
        return Cgroup((directory,), 2)
    return None


def _create_v1(name: str, memory: int, processes: int, cpus: float | None) -> Cgroup | None:
    made: list[Path] = []
    try:
        for controller in ("memory", "pids"):
            base = ROOT / controller
            own = _own_path(controller)
            if not base.is_dir() or own is None:
                _undo(made)
                return None
            directory = base / own.lstrip("/") / name
            directory.mkdir()
            made.append(directory)
        _write(made[0] / "memory.limit_in_bytes", memory)
        _write(made[0] / "memory.memsw.limit_in_bytes", memory, optional=True)
        _write(made[1] / "pids.max", processes)
    except OSError:
        _undo(made)
        return None
    if cpus is not None:
        cpu = _create_v1_cpu(name, cpus)
        made += [cpu] if cpu else []
    return Cgroup(tuple(made), 1)


def _create_v1_cpu(name: str, cpus: float) -> Path | None:
    own = _own_path("cpu")
    if own is None or not (ROOT / "cpu").is_dir():
        return None
    directory = ROOT / "cpu" / own.lstrip("/") / name
    try:
        directory.mkdir()
    except OSError:
        return None
    try:
        _write(directory / "cpu.cfs_period_us", CPU_PERIOD)
        _write(directory / "cpu.cfs_quota_us", _quota(cpus))
    except OSError:
        _undo([directory])
        return None
    return directory


def _undo(made: list[Path]) -> None:
    for directory in made:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _own_path(controller: str) -> str | None:
    """The grader's own cgroup in CONTROLLER's hierarchy ("" is v2's unified one)."""
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") if controller else controllers == "":
            return path
    return None


def _enable(parent: Path, controllers: tuple[str, ...]) -> None:
    enabled = _read(parent / "cgroup.subtree_control").split()
    missing = [c for c in controllers if c not in enabled]
    if missing:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))


def _write(path: Path, value: int, optional: bool = False) -> None:
    if optional and not path.exists():
        return
    path.write_text(str(value))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
