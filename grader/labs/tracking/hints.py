"""Fixes for the errors the Tracking lab's published code meets in today's libraries."""

from __future__ import annotations

from grader.engine.evidence.error_hints import version


def hint_for(ename: str, evalue: str) -> str | None:
    """The lab's own fix for an exception a cell raised, or None."""
    if ename == "TypeError" and "multi_class" in evalue:
        return (
            f"scikit-learn {version('scikit-learn')} removed LogisticRegression(multi_class=...)"
            ' (gone since 1.8). Delete the "multi_class" entry from params in Step 3:'
            " the default does the same, and it will not be logged as a param then."
        )
    if ename == "TypeError" and "artifact_path" in evalue:
        return (
            f"MLflow {version('mlflow')} does not take artifact_path= here: use"
            ' mlflow.sklearn.log_model(sk_model=lr, name="iris_model", ...) (Step 4).'
        )
    if "artifact_path" in evalue and "name" in evalue and "Both" in evalue:
        return (
            "MLflow 3 renamed log_model's artifact_path= to name=: keep only"
            ' name="iris_model" in mlflow.sklearn.log_model(...) (Step 4).'
        )
    return None
