"""The equivalence fuzzer: a lab's labelled submissions, rewritten by seeded compositions of
semantics-preserving rewrites (tests.fuzz.rewrites), must grade exactly as they were labelled:
the reference (or any full-marks submission) full marks, and a submission with one mistake
losing exactly that mistake's checks. Every lab's labels are its own test module's CASES
(tests/labs/<id>/test_grading.py); a failure is replayed by its lab and seed:

    python -m tests.fuzz --lab tracking --seed 1234 --count 1
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.labs import load
from tests.fuzz.rewrites import Rewrite, Shape, compose, read, write


@dataclass(frozen=True)
class Labelled:
    """A labelled submission of a lab: what it must score, and the checks it must fail."""

    path: Path
    score: float
    failing: frozenset[str]


@dataclass(frozen=True)
class Trial:
    lab: str
    seed: int
    labelled: Labelled
    shape: Shape

    def describe(self) -> str:
        return (
            f"lab {self.lab}, seed {self.seed}: {self.labelled.path.name} rewritten by"
            f" {', '.join(self.shape.applied)}"
        )

    def replay(self) -> str:
        return f"python -m tests.fuzz --lab {self.lab} --seed {self.seed} --count 1"


def labelled(lab_id: str) -> tuple[Labelled, list[Labelled]]:
    """The lab's full-marks reference, and its labelled notebooks graded with no extra flag
    that ran to the end (status ok): the ones a rewrite must leave as they were labelled."""
    module = importlib.import_module(f"tests.labs.{lab_id}.test_grading")
    cases: list[Any] = list(module.CASES)
    found: list[Labelled] = []
    for case in cases:
        path = Path(case.path)
        notebook = path.suffix == ".ipynb" or (path.is_dir() and any(path.glob("*.ipynb")))
        if case.status != "ok" or getattr(case, "flags", ()) or not notebook:
            continue
        found.append(Labelled(path, float(case.score), frozenset(case.failing)))
    lab = load(lab_id)
    reference = next(c for c in found if c.path.resolve().parent == lab.reference.resolve())
    return reference, [c for c in found if c is not reference]


def lab_rewrites(lab_id: str) -> tuple[Rewrite, ...]:
    """The lab's own rewrites (REWRITES in tests/labs/<id>/rewrites.py), which know its code:
    its dataset's loader, its model's names. None when it has no such module."""
    try:
        module = importlib.import_module(f"tests.labs.{lab_id}.rewrites")
    except ModuleNotFoundError as missing:
        if missing.name != f"tests.labs.{lab_id}.rewrites":
            raise
        return ()
    return tuple(module.REWRITES)


def lab_classes(lab_id: str) -> dict[str, tuple[str, ...]]:
    """Which of issue 26's rewrite classes the lab's own rewrites make (CLASSES beside
    REWRITES in tests/labs/<id>/rewrites.py): {class: rewrite names}."""
    try:
        module = importlib.import_module(f"tests.labs.{lab_id}.rewrites")
    except ModuleNotFoundError as missing:
        if missing.name != f"tests.labs.{lab_id}.rewrites":
            raise
        return {}
    return dict(getattr(module, "CLASSES", {}))


def trials(lab_id: str, seed: int) -> list[Trial]:
    """SEED's two trials: the reference and one labelled submission (drawn by SEED), both
    rewritten by the same composition."""
    lab = load(lab_id)
    reference, others = labelled(lab_id)
    # Mostly one with a mistake: the rewrites must neither hide nor add one.
    rng = random.Random(seed)
    mistakes = [c for c in others if c.failing]
    mistake = rng.choice(mistakes if mistakes and rng.random() < 0.7 else others)
    wanted = lab.needs.capture(lab.rubric())
    keep = frozenset(wanted.variables) | frozenset(wanted.run_ids)
    raises = bool(lab.design.expected_errors)
    extra = lab_rewrites(lab_id)
    return [
        Trial(
            lab_id,
            seed,
            case,
            compose(read(case.path, raises), seed, keep, not case.failing, extra),
        )
        for case in (reference, mistake)
    ]


def verdict(trial: Trial, result: dict[str, Any] | None) -> str | None:
    """Why TRIAL's grading is not what its label says, or None when it is."""
    if result is None:
        return "the grader wrote no result"
    failing = frozenset(c["id"] for c in result["checks"] if not c["passed"])
    score = float(result["score"])
    if score == trial.labelled.score and failing == trial.labelled.failing:
        return None
    expected = sorted(trial.labelled.failing) or "none"
    details = "; ".join(
        f"{c['id']}: {c['message'][:200]}" for c in result["checks"] if not c["passed"]
    )
    problem = result["execution"].get("error") or ""
    return (
        f"scored {score:g} failing {sorted(failing) or 'none'}, labelled {trial.labelled.score:g}"
        f" failing {expected}. {details} {problem}".strip()
    )


def materialize(trial: Trial, root: Path) -> Path:
    """The rewritten submission, saved in a folder of its own under ROOT."""
    # The reference and the template may share a file name and, laid out as reference/<id>/
    # and student_template/<id>/, their folder's name: the two folders above name the case.
    folders = "-".join(trial.labelled.path.parent.parts[-2:])
    case = f"{folders}-{trial.labelled.path.stem}"
    return write(trial.shape, root / f"{trial.lab}-{trial.seed}-{case}")
