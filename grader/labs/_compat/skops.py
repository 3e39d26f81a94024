"""Run inside the kernel (and every Python it starts) by the engine, for a lab that declares
it (grader.engine.lab.Compatibility): standard library and the environment's packages only.

MLflow 3.14+ saves scikit-learn models with skops, which refuses a tree model's node storage
unless the caller trusts its type; the course's labs were written before, and their
RandomForests call log_model without it. MLflow's own error message asks for this keyword.
"""

# mypy: ignore-errors
# (patched into MLflow at run time, as grader.engine.kernel.kernel_side is)

import functools
import importlib
import inspect


def trust_types(value, changed):
    """mlflow.sklearn.log_model/save_model trust the types VALUE names (comma-separated) when
    the caller passes no skops_trusted_types=. The model stays in the skops format, and its
    MLmodel lists the trusted types. CHANGED() records that a call was changed."""
    trusted = [t.strip() for t in str(value).split(",") if t.strip()]
    # The module itself: `mlflow.sklearn` may still be MLflow's lazy stand-in for it.
    sklearn_flavor = importlib.import_module("mlflow.sklearn")
    if "skops_trusted_types" not in inspect.signature(sklearn_flavor.log_model).parameters:
        return  # an MLflow before skops: nothing refuses the lab's model

    def trusting(original):
        @functools.wraps(original)
        def call(*args, **kwargs):
            if kwargs.get("skops_trusted_types") is None:
                kwargs["skops_trusted_types"] = list(trusted)
                changed()
            return original(*args, **kwargs)

        return call

    sklearn_flavor.log_model = trusting(sklearn_flavor.log_model)
    sklearn_flavor.save_model = trusting(sklearn_flavor.save_model)
