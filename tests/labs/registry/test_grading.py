"""The Model Registry lab end to end on labelled submissions:
`pytest grader --lab registry --submission X --grade-json J`.

The corpus (submissions/, made by submissions/generate.py) holds the lab's reference, its
template, the course's published notebook as handed out (placeholders left) and with the ids
typed in as a student copies them from the MLflow UI, correct rewrites, one slip per check, and
imitations of the right values. Every verdict is asserted, not only the score.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.labs import load
from tests.helpers import GradingRun
from tests.labs.corpus import Case, assert_graded_as_labelled, assert_messages, params

LAB = load("registry")
IDS = tuple(LAB.rubric().ids)
ALL = frozenset(IDS)
HERE = Path(__file__).resolve().parent / "submissions"


def sub(name: str) -> Path:
    return HERE / f"{name}.ipynb"


APPLIED = "the grader applied sklearn_skops_trusted_types"
STAGES = "model registry stages are deprecated"
EXPECTED_RAISE = "raised RestException, as the lab expects"

CASES = [
    Case(
        LAB.reference / LAB.notebook,
        100,
        says={"output": ("MLflow Model Registry lab: 100/100", APPLIED, EXPECTED_RAISE)},
    ),
    Case(
        LAB.template / LAB.notebook,
        0,
        failing=ALL,
        says={"run": ("no run was logged",), "archived": ("no version 1",)},
        # It logs no model: the skops switch changed nothing, so nothing is said of it.
        never={"output": (APPLIED, STAGES)},
    ),
    # The course's notebook with the ids typed in from the student's own MLflow UI.
    Case(
        sub("published_typed_ids"),
        100,
        says={"output": ("0123456789abcdef0123456789abcdef stood for", STAGES)},
    ),
    Case(sub("rewrite_register_logged_uri"), 100),
    Case(sub("rewrite_register_from_version"), 100),
    Case(
        sub("rewrite_guide_source"),
        100,
        says={"client_version": ("the guide's MLflow 2 form",)},
    ),
    Case(sub("rewrite_own_skops_fix"), 100),
    Case(sub("rewrite_alias_and_lowercase_stage"), 100),
    # The course's notebook as handed out: it stops at the first placeholder (Step 2).
    Case(
        sub("published_placeholders"),
        30,
        status="error",
        failing=frozenset({"register_model", "client_version", "load_version", "archived"}),
        says={
            "execution": ('replace "UPDATE_HERE" with the id it stands for',),
            "client_version": ("UPDATE_HERE",),
            "output": (APPLIED,),  # Step 1 logged the forest before the placeholder stopped it
        },
        # It stops before archiving: no word on a stage it never set.
        never={"output": (STAGES,)},
    ),
    Case(
        sub("loses_register_model"),
        80,
        failing=frozenset({"register_model"}),
        says={"register_model": ('no version of "sk-learn-random-forest-reg"',)},
    ),
    Case(
        sub("loses_register_model_wrong_name"),
        80,
        failing=frozenset({"register_model"}),
        says={"register_model": ('"sk-learn-random-forest-regressor" is not',)},
    ),
    Case(
        sub("loses_client_version"),
        85,
        failing=frozenset({"client_version"}),
        says={"client_version": ("no further one",)},
    ),
    Case(
        sub("loses_load_version_logged_model"),
        80,
        failing=frozenset({"load_version"}),
        says={"load_version": ("but Step 5 loads version 1 of",)},
    ),
    Case(
        sub("loses_archived_version_2"),
        85,
        failing=frozenset({"archived"}),
        says={"archived": ("version 2 is Archived instead",)},
    ),
    Case(
        sub("loses_run_mse_on_train"),
        85,
        failing=frozenset({"run"}),
        says={"run": ("not on the training data",)},
    ),
    Case(
        sub("loses_run_params_unlike_model"),
        85,
        failing=frozenset({"run"}),
        says={"run": ("trained with max_depth=3, not the logged max_depth=2",)},
    ),
    Case(
        sub("loses_registered_at_log_no_signature"),
        85,
        failing=frozenset({"registered_at_log"}),
        says={"registered_at_log": ("without a signature",)},
    ),
    Case(
        sub("fake_mse_typed_in"),
        85,
        failing=frozenset({"run"}),
        says={"run": ("typed into the code",)},
    ),
    Case(
        sub("fake_predictions_without_registry"),
        80,
        failing=frozenset({"load_version"}),
        says={"load_version": ("it made no mlflow.pyfunc.load_model call",)},
        never={"load_version": ("loaded no model", "loaded  with")},
    ),
    Case(
        sub("error_untrusted_skops"),
        0,
        status="error",
        failing=ALL,
        says={"execution": ("untrusted types", 'skops_trusted_types=["sklearn.tree._tree.Tree"]')},
    ),
]
PARAMS = params("registry", CASES)

Grade = Callable[..., GradingRun]


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    assert_graded_as_labelled(graded_run(case.path, "--lab", "registry"), case, IDS)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    assert_messages(graded_run(case.path, "--lab", "registry"), case)
