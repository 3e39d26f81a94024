"""What the instructor changes after the grading: a late penalty and per-student overrides.

Each student's results.json stays what the grading gave (the `--grade-json` shape); the
gradebook, the report, the LMS imports and the student's feedback show the adjusted scores,
each adjustment with its reason. The policy (penalty, overrides) is kept in OUT/adjustments.json,
so a resumed batch or a merge applies it again without the flags being passed again.

Order: the overrides of checks, then the late penalty on the total, then an override of the
total (the instructor's last word: no penalty is taken from it).
"""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from grader.engine.evidence.rubric import Rubric
from grader.errors import InputError
from grader.files import write_json_atomic

POLICY = "adjustments.json"
TOTAL = "total"
OVERRIDE_COLUMNS = ("student", "check_or_total", "points", "reason")
# The heading of what feedback.md says of the adjustments: the text under it is rewritten
# whenever the gradebook is, never appended twice.
FEEDBACK_HEADING = "## Adjusted by your instructor"


class OverridesError(InputError):
    """An overrides file or a late penalty the gradebook cannot apply (labgrade exits 2)."""


@dataclass(frozen=True)
class Override:
    student: str
    target: str  # a check id, or TOTAL
    points: float
    reason: str


@dataclass(frozen=True)
class Policy:
    late_penalty: float = 0.0  # percent of the total taken from a late submission
    overrides: tuple[Override, ...] = ()
    source: str = ""  # the overrides file it was read from

    def to_json(self) -> dict[str, Any]:
        return {
            "late_penalty": self.late_penalty,
            "source": self.source,
            "overrides": [
                {"student": o.student, "target": o.target, "points": o.points, "reason": o.reason}
                for o in self.overrides
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        return cls(
            float(data.get("late_penalty", 0.0)),
            tuple(
                Override(str(o["student"]), str(o["target"]), float(o["points"]), str(o["reason"]))
                for o in data.get("overrides", [])
            ),
            str(data.get("source", "")),
        )


NONE = Policy()  # no penalty, no overrides


@dataclass(frozen=True)
class Adjusted:
    """A row's result with the policy applied, and what was changed, in words."""

    result: dict[str, Any]
    notes: tuple[str, ...]


def read_overrides(path: Path, rubric: Rubric) -> tuple[Override, ...]:
    """PATH's overrides: a CSV with the header student, check_or_total, points, reason."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise OverridesError(
            f"{path}: cannot read this overrides file ({err}). Fix: pass a UTF-8 CSV with the"
            f" columns {', '.join(OVERRIDE_COLUMNS)}"
        ) from err
    table = [row for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
    header = tuple(c.strip().lower() for c in table[0]) if table else ()
    if header != OVERRIDE_COLUMNS:
        raise OverridesError(
            f"{path}: its first row reads {', '.join(header) or 'nothing'}, not the header"
            f" {', '.join(OVERRIDE_COLUMNS)}. Fix: start the file with that header row"
        )
    limits = {c.id: c.points for c in rubric.checks} | {TOTAL: rubric.max_score}
    found: list[Override] = []
    seen: set[tuple[str, str]] = set()
    for number, cells in enumerate(table[1:], start=2):
        cells = [c.strip() for c in cells] + [""] * (4 - len(cells))
        student, target, points_text, reason = cells[:4]
        where = f"{path}: row {number}"
        if target not in limits:
            raise OverridesError(
                f"{where}: {target!r} is neither a check of {rubric.title} nor {TOTAL!r}."
                f" Fix: use one of {', '.join(limits)}"
            )
        points = _number(points_text)
        if points is None or not 0 <= points <= limits[target]:
            raise OverridesError(
                f"{where}: points {points_text!r} for {target} is not a number from 0 to"
                f" {limits[target]:g}. Fix: give the points the student gets for it"
            )
        if not student or not reason:
            raise OverridesError(
                f"{where}: a student id and a reason are both needed (the reason is shown to"
                " the student). Fix: fill in both"
            )
        if (student, target) in seen:
            raise OverridesError(
                f"{where}: a second override of {target} for {student}. Fix: keep one"
            )
        seen.add((student, target))
        found.append(Override(student, target, points, reason))
    return tuple(found)


def policy_for(out: Path, penalty: float | None, overrides: Path | None, rubric: Rubric) -> Policy:
    """The policy a batch or merge into OUT applies: what the flags give (kept with
    save_policy once its students are checked, for the runs after it); without flags, what
    OUT holds from an earlier run (or none)."""
    stored = load_policy(out)
    if penalty is None and overrides is None:
        return stored
    if penalty is not None and not 0 <= penalty <= 100:
        raise OverridesError(
            f"--late-penalty {penalty:g}: not a percent from 0 to 100. Fix: e.g. --late-penalty 10"
        )
    policy = Policy(
        stored.late_penalty if penalty is None else penalty,
        stored.overrides if overrides is None else read_overrides(overrides, rubric),
        stored.source if overrides is None else str(overrides),
    )
    return policy


def save_policy(out: Path, policy: Policy) -> None:
    """POLICY kept in OUT for the runs after this one (none written when there is none)."""
    if policy == load_policy(out):
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / POLICY, policy.to_json())


def load_policy(out: Path) -> Policy:
    path = out / POLICY
    if not path.is_file():
        return Policy()
    try:
        return Policy.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as err:
        raise OverridesError(
            f"{path}: not the adjustments a batch wrote ({err}). Fix: delete it and pass"
            " --late-penalty / --overrides again"
        ) from err


def check_students(policy: Policy, students: Sequence[str]) -> None:
    """Refuse overrides of students the class does not have: a typo would go unseen."""
    unknown = sorted({o.student for o in policy.overrides} - set(students))
    if unknown:
        raise OverridesError(
            f"{policy.source or POLICY}: overrides for {', '.join(unknown)}, who have no"
            " submission here. Fix: spell each id as grades.csv's id column does"
        )


def adjust(
    result: dict[str, Any], late: bool, student: str, policy: Policy, rubric: Rubric
) -> Adjusted:
    """RESULT with POLICY applied to STUDENT's checks and total (a copy; RESULT unchanged)."""
    mine = [o for o in policy.overrides if o.student == student]
    penalised = late and policy.late_penalty > 0
    if not mine and not penalised:
        return Adjusted(result, ())
    adjusted = copy.deepcopy(result)
    notes: list[str] = []
    for override in (o for o in mine if o.target != TOTAL):
        for check in adjusted["checks"]:
            if check["id"] == override.target:
                notes.append(
                    f"{override.target}: {check['score']:g} -> {override.points:g} points by"
                    f" your instructor: {override.reason}"
                )
                check["score"] = override.points
                check["passed"] = override.points >= check["max_score"]
    score = sum(float(c["score"]) for c in adjusted["checks"]) if notes else result["score"]
    if penalised:
        kept = round(score * (100 - policy.late_penalty) / 100, 2)
        notes.append(f"late: {policy.late_penalty:g}% late penalty, {score:g} -> {kept:g}")
        score = kept
    for override in (o for o in mine if o.target == TOTAL):
        notes.append(
            f"total: {score:g} -> {override.points:g} points by your instructor: {override.reason}"
        )
        score = override.points
    adjusted["score"] = score
    adjusted["adjustments"] = {"graded_score": result["score"], "notes": notes}
    return Adjusted(adjusted, tuple(notes))


def feedback_with(feedback: str, notes: Sequence[str], score: float, max_score: float) -> str:
    """FEEDBACK with a section on NOTES in place of any earlier one (none when NOTES is ())."""
    base = feedback.split(f"\n{FEEDBACK_HEADING}\n", 1)[0].rstrip("\n") + "\n"
    if not notes:
        return base
    lines = [f"- {note}" for note in notes]
    return "\n".join(
        [base, FEEDBACK_HEADING, "", *lines, "", f"Your score: {score:g}/{max_score:g}", ""]
    )


def _number(text: str) -> float | None:
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() else None
