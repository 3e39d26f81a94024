"""A seeded sample of the equivalence fuzzer (tests.fuzz.equivalence) for every lab: each
seed's composition of rewrites, applied to the lab's reference and to one labelled mistake,
must grade as labelled. The seed is random unless LABGRADE_FUZZ_SEED sets it; a failure
prints the command that replays it, and `python -m tests.fuzz` runs any number."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from grader import labs
from tests.fuzz.equivalence import materialize, trials, verdict
from tests.helpers import GradingRun

SEEDS_PER_LAB = 2
BASE = int(os.environ.get("LABGRADE_FUZZ_SEED") or random.randrange(10**6))


@pytest.mark.slow
@pytest.mark.parametrize("index", range(SEEDS_PER_LAB))
@pytest.mark.parametrize("lab_id", labs.ids())
def test_rewrites_of_a_lab_grade_as_labelled(
    lab_id: str, index: int, tmp_path: Path, graded_run: Callable[..., GradingRun]
) -> None:
    seed = BASE + index
    print(f"fuzz seed {seed} (LABGRADE_FUZZ_SEED={BASE})")
    for trial in trials(lab_id, seed):
        run = graded_run(materialize(trial, tmp_path), "--lab", lab_id)
        problem = verdict(trial, run.result)
        assert problem is None, f"{trial.describe()}: {problem}. Replay: {trial.replay()}"


def test_a_seed_always_draws_the_same_submissions() -> None:
    for lab_id in labs.ids():
        first = [(t.labelled.path, t.shape) for t in trials(lab_id, 7)]
        assert first == [(t.labelled.path, t.shape) for t in trials(lab_id, 7)]
        assert first[0][1].applied  # a composition, not the submission as it was
