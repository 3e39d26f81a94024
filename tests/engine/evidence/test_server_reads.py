"""Reading the server as plain data (grader.engine.evidence.server_reads), on MLflow's entities."""

from __future__ import annotations

from mlflow.entities import Run as MlflowRun
from mlflow.entities import RunData, RunInfo, RunTag

from grader.engine.evidence.server_reads import _runs


def test_mlflow_s_own_tags_are_kept_apart_from_the_notebook_s() -> None:
    info = RunInfo("r1", "0", "root", "FINISHED", 1, 2, "active", run_name="autologged")
    tags = [RunTag("mlflow.autologging", "sklearn"), RunTag("team", "ml")]
    (run,) = _runs([MlflowRun(info, RunData(tags=tags))], {})
    assert run.tags == {"team": "ml"}
    assert run.system_tags == {"mlflow.autologging": "sklearn"}
