"""A lab's rubric: points, titles and expected values of every check, from one TOML file."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import RubricError
from grader.sandbox.limits import Limits, from_rubric

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# When students see a check: Gradescope's test visibility values
# (https://gradescope-autograders.readthedocs.io/en/latest/specs/#controlling-test-case-visibility).
# "hidden" checks are also left out of the student repository (`labgrade release`).
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# How a check that cannot apply (nothing was executed: --tracking-uri) is scored.
WHEN_NOT_EXECUTED = ("zero", "full", "skip")


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    points: float
    step: str
    options: Mapping[str, Any] = field(default_factory=dict)
    visibility: str = "visible"

    def option(self, key: str) -> Any:
        try:
            return self.options[key]
        except KeyError:
            raise RubricError(
                f"rubric check {self.id!r} has no {key!r}: add it under [checks.{self.id}]"
            ) from None


@dataclass(frozen=True)
class Rubric:
    path: Path
    title: str
    test_size: float
    random_state: int
    checks: tuple[CheckSpec, ...]
    limits: Limits = field(default_factory=Limits)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def check(self, check_id: str) -> CheckSpec:
        for spec in self.checks:
            if spec.id == check_id:
                return spec
        raise KeyError(check_id)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.checks]

    @property
    def hidden_ids(self) -> list[str]:
        return [c.id for c in self.checks if c.visibility == "hidden"]


def load_rubric(path: Path, known_ids: frozenset[str] | None = None) -> Rubric:
    """The rubric at PATH; KNOWN_IDS: the check ids its lab has (others are refused)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RubricError(f"rubric {path}: cannot be read ({err.strerror or err})") from err
    return parse_rubric(text, path, known_ids)


def parse_rubric(text: str, path: Path, known_ids: frozenset[str] | None = None) -> Rubric:
    """The rubric in TEXT; PATH is where it comes from (for messages and relative use)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RubricError(f"rubric {path}: not valid TOML ({err})") from err
    return _parse(path, data, known_ids)


def _parse(path: Path, data: Mapping[str, Any], known_ids: frozenset[str] | None) -> Rubric:
    tables = data.get("checks")
    if not isinstance(tables, dict) or not tables:
        raise RubricError(f"rubric {path}: needs at least one [checks.<id>] table")
    checks = tuple(_parse_check(path, cid, table, known_ids) for cid, table in tables.items())
    split = data.get("split", {})
    try:
        test_size = float(split.get("test_size", 0.2))
        random_state = int(split.get("random_state", 42))
    except (TypeError, ValueError) as err:
        raise RubricError(f"rubric {path}: [split] values must be numbers ({err})") from err
    title = str(data.get("lab", {}).get("title", path.parent.name))
    return Rubric(path, title, test_size, random_state, checks, from_rubric(data, path))


def _parse_check(path: Path, cid: str, table: Any, known_ids: frozenset[str] | None) -> CheckSpec:
    where = f"rubric {path}, [checks.{cid}]"
    if known_ids is not None and cid not in known_ids:
        raise RubricError(
            f"{where}: unknown check id; known ids are {', '.join(sorted(known_ids))}"
        )
    if not isinstance(table, dict):
        raise RubricError(f"{where}: must be a table")
    points = table.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
        raise RubricError(f"{where}: 'points' must be a number >= 0, got {points!r}")
    visibility = table.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise RubricError(
            f"{where}: 'visibility' must be one of {', '.join(VISIBILITIES)}, got {visibility!r}"
        )
    reserved = {"title", "points", "step", "visibility"}
    mode = table.get("when_not_executed", "zero")
    if mode not in WHEN_NOT_EXECUTED:
        raise RubricError(
            f"{where}: 'when_not_executed' must be one of"
            f" {', '.join(repr(m) for m in WHEN_NOT_EXECUTED)}, got {mode!r}"
        )
    return CheckSpec(
        id=cid,
        title=str(table.get("title", cid)),
        points=float(points),
        step=str(table.get("step", "")),
        options={k: v for k, v in table.items() if k not in reserved},
        visibility=visibility,
    )
