"""Fixes for the errors the Model Registry lab's published code meets, or a student's slip in
it raises."""

from __future__ import annotations

from grader.labs._compat import SKOPS_FIX
from grader.labs.registry.checks import PLACEHOLDER


def hint_for(ename: str, evalue: str) -> str | None:
    """The lab's own fix for an exception a cell raised, or None."""
    if "untrusted types" in evalue:
        return SKOPS_FIX + " (Step 1)."
    if PLACEHOLDER in evalue:
        return (
            f'replace "{PLACEHOLDER}" with the id it stands for: run.info.run_id from'
            " `with mlflow.start_run() as run:`, model_info.model_uri and model_info.model_id"
            " from log_model, or the ids shown in the MLflow UI."
        )
    if "model_id request parameter must identify" in evalue:
        return (
            "a models:/ source needs its model id: create_model_version(name=..., "
            "source=model_info.model_uri, run_id=run.info.run_id, model_id=model_info.model_id)"
            " (Step 4)."
        )
    if "run_id request parameter must identify" in evalue:
        return "a run-artifact source needs run_id= of the run that logged it (Step 4)."
    if "Invalid Model Version stage" in evalue:
        return 'the stage is "Archived" (Step 6).'
    return None
