"""What the labs that log a scikit-learn forest share: MLflow 3.14+'s skops refusal of it.

MLflow 3.14+ saves scikit-learn models with skops, which refuses a RandomForest at log_model
("untrusted types: sklearn.tree._tree.Tree") unless its tree type is trusted, so a lab's
published code that logs one fails as written. Each lab that does restores the trust the
same way (the engine's sklearn_skops_trusted_types switch), named in the feedback with the
fix below. A module, not a package: grader.labs lists packages as labs.
"""

from __future__ import annotations

from grader.engine.lab import Compatibility

TREE = "sklearn.tree._tree.Tree"
SWITCH = "sklearn_skops_trusted_types"
FIX = (
    f'pass skops_trusted_types=["{TREE}"] (or serialization_format="cloudpickle") to'
    " mlflow.sklearn.log_model"
)
REFUSED = (
    "MLflow 3.14+ saves scikit-learn models with skops, which refuses a RandomForest's trees"
    f' ("untrusted types: {TREE}"): {FIX}'
)


def trust_trees(step: str) -> Compatibility:
    """The switch that lets the lab's log_model at STEP save its forest, as it did when the
    lab was written."""
    return Compatibility(
        SWITCH,
        TREE,
        "mlflow.sklearn.log_model trusts the RandomForest's tree type, as the lab's code"
        " needs: MLflow 3.14+ saves scikit-learn models with skops, which refuses it"
        f' ("untrusted types: {TREE}"). On your own machine pass'
        f' skops_trusted_types=["{TREE}"] (or serialization_format="cloudpickle") to'
        f" log_model in {step}",
    )
