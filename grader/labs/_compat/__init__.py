"""Compatibility code shared by labs (grader.engine.lab.Compatibility). Each script here runs
inside the kernel, never imported by the grader itself; this package holds what the labs that
declare it say of it. Not a lab: grader.labs skips folders whose name starts with an
underscore."""

from __future__ import annotations

from pathlib import Path

from grader.engine.lab import Compatibility

# The type skops refuses in a RandomForest (and any tree model) unless it is trusted.
TREE = "sklearn.tree._tree.Tree"

# The fix for skops's refusal, where a lab's notebook met it (a check's or an error's hint).
SKOPS_FIX = (
    "MLflow 3.14+ saves scikit-learn models with skops, which refuses a RandomForest's trees"
    f' ("untrusted types: {TREE}"): pass'
    f' skops_trusted_types=["{TREE}"] (or serialization_format="cloudpickle")'
    " to mlflow.sklearn.log_model"
)


def trust_trees(step: str) -> Compatibility:
    """The switch that lets mlflow.sklearn.log_model save a tree model as the course's code
    calls it (skops.py), named in the feedback with the fix at the lab's STEP."""
    return Compatibility(
        "sklearn_skops_trusted_types",
        Path(__file__).with_name("skops.py"),
        "trust_types",
        TREE,
        "mlflow.sklearn.log_model trusts the RandomForest's tree type, as the lab's code"
        " needs: MLflow 3.14+ saves scikit-learn models with skops, which refuses it"
        f' ("untrusted types: {TREE}"). On your own machine pass'
        f' skops_trusted_types=["{TREE}"] (or serialization_format="cloudpickle") to'
        f" log_model in {step}",
    )
