"""Known slips and how to fix them, for feedback on a failing cell."""

from __future__ import annotations

import re
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def hint_for(ename: str, evalue: str) -> str | None:
    """A fix for an exception a cell raised, or None when there is nothing specific to say."""
    if ename == "TypeError" and "multi_class" in evalue:
        return (
            f"scikit-learn {_version('scikit-learn')} removed LogisticRegression(multi_class=...)"
            ' (gone since 1.8). Delete the "multi_class" entry from params in Step 3:'
            " the default does the same, and it will not be logged as a param then."
        )
    if ename == "TypeError" and "artifact_path" in evalue:
        return (
            f"MLflow {_version('mlflow')} does not take artifact_path= here: use"
            ' mlflow.sklearn.log_model(sk_model=lr, name="iris_model", ...) (Step 4).'
        )
    if "artifact_path" in evalue and "name" in evalue and "Both" in evalue:
        return (
            "MLflow 3 renamed log_model's artifact_path= to name=: keep only"
            ' name="iris_model" in mlflow.sklearn.log_model(...) (Step 4).'
        )
    if ename in {"ModuleNotFoundError", "ImportError"}:
        missing = re.search(r"No module named '([^']+)'", evalue)
        name = missing.group(1) if missing else "that module"
        return (
            f"{name} is not installed where the grader runs. The lab needs only mlflow,"
            " scikit-learn and pandas; remove imports of anything else."
        )
    if ename == "NameError":
        missing = re.search(r"name '([^']+)' is not defined", evalue)
        name = missing.group(1) if missing else "a name"
        return (
            f"{name} is used before it is defined: the grader runs the cells top to bottom"
            " in a fresh kernel, so define it in an earlier cell (Restart & Run All to check)."
        )
    if "RESOURCE_DOES_NOT_EXIST" in evalue or "Connection refused" in evalue:
        return (
            "the code talks to an MLflow server or object that is not there. The grader"
            " provides the tracking server: keep mlflow.set_tracking_uri(...) as in Step 2,"
            " and do not depend on runs made outside this notebook."
        )
    return None
