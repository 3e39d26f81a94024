"""A seeded sample of the equivalence fuzzer (tests.fuzz.equivalence) for every lab: each
seed's composition of rewrites, applied to the lab's reference and to one labelled mistake,
must grade as labelled. The seed is random unless LABGRADE_FUZZ_SEED sets it; a failure
prints the command that replays it, and `python -m tests.fuzz` runs any number."""

from __future__ import annotations

import ast
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from grader import labs
from tests.fuzz.equivalence import lab_rewrites, labelled, materialize, trials, verdict
from tests.fuzz.rewrites import CATALOGUE, read
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


# The rewrite classes issue 26 names that a generic rewrite alone cannot make for every lab,
# and the generic ones added with them; a lab's own rewrites (tests/labs/<id>/rewrites.py)
# count for it. Each class must change every lab's reference, or it is a class in name only.
CLASSES = {
    "numpy <-> pandas features, named columns": (
        "iris_as_dataframe",
        "regression_as_dataframe",
        "metrics_as_dataframe",
    ),
    "data found through __file__": ("iris_from_file", "regression_from_file", "lists_from_file"),
    "a script with argparse defaults": ("argparse_script",),
    "a class holding the steps": ("steps_in_class",),
    "independent steps reordered": ("independent_steps_reordered",),
    "runs:/, models:/ and alias loads": ("model_loaded_another_way",),
    "fluent <-> client API": ("fluent_client",),
}


@pytest.mark.parametrize("lab_id", labs.ids())
def test_every_rewrite_class_changes_the_labs_reference(lab_id: str) -> None:
    reference, _ = labelled(lab_id)
    shape = read(reference.path, bool(labs.load(lab_id).design.expected_errors))
    catalogue = {r.name: r for r in (*CATALOGUE, *lab_rewrites(lab_id))}
    for kind, names in CLASSES.items():
        made = [catalogue[n].apply(shape, random.Random(0)) for n in names if n in catalogue]
        changed = [m for m in made if m != shape]
        assert changed, f"lab {lab_id}: no rewrite makes {kind} of its reference"
        for rewritten in changed:
            for source in rewritten.code():
                if not any(ln.lstrip().startswith(("%", "!")) for ln in source.splitlines()):
                    ast.parse(source)
