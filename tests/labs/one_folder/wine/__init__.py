"""An instructor's own lab, as one folder: the example docs/writing-a-lab.md walks through.

Lab 7 of no course: a LogisticRegression on scikit-learn's wine data, its accuracy logged and
the model logged, in the experiment "Wine Quickstart". Everything the grader knows of it is in
this folder, its notebooks too: rubric.toml, checks.py, hints.py, reference/ (full marks) and
template/ (a useful zero). `pytest grader --lab tests/labs/one_folder/wine` grades with it;
the grader's own labs are not touched. tests/labs/test_one_folder.py grades it.
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Feedback, Lab, Needs, TestSplit

from . import checks, hints


def test_split(rubric: Rubric) -> TestSplit:
    """The rows the notebook's test split holds, as the rubric's [split] sets it."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    X, y = load_wine(return_X_y=True)
    split = train_test_split(X, y, test_size=rubric.test_size, random_state=rubric.random_state)
    return TestSplit(split[1].tolist(), tuple(float(v) for v in split[3]))


LAB = Lab(
    id="wine",
    title="Lab 7 (an example of one folder): a wine classifier's accuracy and model",
    folder=Path(__file__).resolve().parent,
    notebook="lab7_wine.ipynb",
    checks=checks.CHECKS,
    run_checks=frozenset(checks.RUN_CHECKS),
    wants=checks.WANTS,
    needs=Needs(test_split=test_split, experiment_check="experiment"),
    feedback=Feedback(error_hint=hints.hint_for),
)
