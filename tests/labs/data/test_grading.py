"""The mlflow.data lab end to end on labelled submissions:
`pytest grader --lab data --submission X --grade-json J`.

The corpus (submissions/, made by submissions/generate.py) holds the lab's reference, its
template, the course-shaped notebook as handed out (read_csv without sep=";": full marks), two
correct rewrites (sep=";"; the address with https), one slip per check and an imitation (the
wine frame typed in).
Every verdict is asserted, not only the score.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun
from tests.labs.corpus import Case, assert_graded_as_labelled, assert_messages, params

LAB = load("data")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"


def sub(name: str) -> Path:
    return HERE / f"{name}.ipynb"


CASES = [
    Case(LAB.reference / LAB.notebook, 100, says={"output": ("MLflow mlflow.data lab: 100/100",)}),
    Case(
        LAB.template / LAB.notebook,
        0,
        failing=ALL,
        says={
            "logged_input": ("no run logged a dataset input",),
            "read_back": ("no variable `dataset_info`",),
        },
    ),
    Case(sub("published"), 100),
    Case(sub("rewrite_sep_semicolon"), 100),
    Case(sub("rewrite_https"), 100),
    Case(
        sub("loses_logged_input_context_train"),
        70,
        failing=frozenset({"logged_input"}),
        says={"logged_input": ('logged with "train"', 'context="training"')},
    ),
    Case(
        sub("loses_read_back_own_dataset"),
        85,
        failing=frozenset({"read_back"}),
        says={"read_back": ("is a PandasDataset",)},
    ),
    Case(
        sub("loses_source_loaded_not_loaded"),
        85,
        failing=frozenset({"source_loaded"}),
        says={"source_loaded": ("not downloaded again",)},
    ),
    Case(
        sub("loses_pandas_targets_swapped"),
        80,
        failing=frozenset({"pandas_targets"}),
        says={"pandas_targets": ("targets 'ModelOutput'",)},
    ),
    Case(
        sub("loses_numpy_basic_shape"),
        90,
        failing=frozenset({"numpy_basic"}),
        says={"numpy_basic": ("[2, 4, 5]",)},
    ),
    Case(
        sub("loses_numpy_dict_one_feature"),
        90,
        failing=frozenset({"numpy_dict"}),
        says={"numpy_dict": ("feature_1, feature_2",)},
    ),
    Case(
        sub("fake_wine_typed_in"),
        70,
        failing=frozenset({"logged_input"}),
        says={"logged_input": ("1599 rows",)},
    ),
]
PARAMS = params("data", CASES)

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    assert_graded_as_labelled(graded_run(case.path, "--lab", "data"), case, IDS)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    assert_messages(graded_run(case.path, "--lab", "data"), case)
