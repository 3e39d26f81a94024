"""Resource limits of one submission: defaults in the rubric's [limits], overridden by flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from grader.errors import RubricError

ISOLATIONS = ("auto", "full", "process")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    """Per submission. The whole run's wall time is Settings.timeout (--grade-timeout)."""

    cell_timeout: float = 120.0  # seconds of wall time per cell
    # The reference's kernel peaks at 370 MiB, its model probe at 180 MiB (cgroup peak
    # usage, docs/performance.md): 1 GiB leaves the kernel 2.8x headroom.
    memory: int = 1024**3  # bytes, per sandboxed process tree (kernel, model probe)
    cpu_time: float = 600.0  # seconds of CPU per process
    processes: int = 256  # processes and threads of the submission's user
    output: int = 1024**2  # bytes of cell output kept; the rest is dropped
    # Bytes the submission may write (its home, work dir, /tmp), and, apart from that, bytes
    # its MLflow server's store may hold (grader.engine.server.store_guard).
    disk: int = 512 * 1024**2
    # The grading's MLflow server, in a cgroup of its own where there is one (docs/performance.md:
    # a server's peak while grading the reference).
    server_memory: int = 1024**3

    def describe(self) -> str:
        return (
            f"cell {self.cell_timeout:g} s, memory {size_text(self.memory)},"
            f" CPU {self.cpu_time:g} s, {self.processes} processes,"
            f" output {size_text(self.output)}, disk {size_text(self.disk)},"
            f" server memory {size_text(self.server_memory)}"
        )


_SIZES = {"memory", "output", "disk", "server_memory"}


def parse_size(value: object, what: str) -> int:
    """Bytes from 2147483648, "2GiB", "512M" or "1.5g"."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a size like 2GiB, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"{what}: expected a size like 2GiB or 512MiB, got {value!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{what}: must be more than 0, got {value!r}")
    return size


def size_text(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def with_values(base: Limits, values: Mapping[str, Any], where: str) -> Limits:
    """BASE with VALUES (strings from flags or TOML values) applied; ValueError names WHERE."""
    known = {f.name for f in fields(Limits)}
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        if raw is None or raw == "":
            continue
        if key not in known:
            raise ValueError(f"{where}: unknown limit {key!r}; known: {', '.join(sorted(known))}")
        changes[key] = _value(key, raw, f"{where} {key}")
    return replace(base, **changes)


def _value(key: str, raw: object, what: str) -> float | int:
    if key in _SIZES:
        return parse_size(raw, what)
    try:
        number = float(str(raw)) if not isinstance(raw, bool) else float("nan")
    except ValueError:
        raise ValueError(f"{what}: expected a number, got {raw!r}") from None
    if not number > 0:
        raise ValueError(f"{what}: must be a number more than 0, got {raw!r}")
    return int(number) if key == "processes" else number


def from_rubric(data: Mapping[str, Any], path: object) -> Limits:
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise RubricError(f"rubric {path}: [limits] must be a table")
    try:
        return with_values(Limits(), table, f"rubric {path}, [limits]")
    except ValueError as err:
        raise RubricError(str(err)) from err
