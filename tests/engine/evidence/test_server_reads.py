"""What grader.engine.evidence.server_reads reads of a server: MLflow's own tags kept apart,
and, on a local SQLite store (no server process), each run's dataset inputs and a lab's
searches answered run id by run id, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.entities import Run as MlflowRun
from mlflow.entities import RunData, RunInfo, RunTag

from grader.engine.evidence.server_reads import Search, _runs, read_snapshot, run_searches

# The store tests migrate a fresh SQLite store (~10 s): slow; the others read entities.
slow = pytest.mark.slow


def test_mlflow_s_own_tags_are_kept_apart_from_the_notebook_s() -> None:
    info = RunInfo("r1", "0", "root", "FINISHED", 1, 2, "active", run_name="autologged")
    tags = [RunTag("mlflow.autologging", "sklearn"), RunTag("team", "ml")]
    (run,) = _runs([MlflowRun(info, RunData(tags=tags))], {})
    assert run.tags == {"team": "ml"}
    assert run.system_tags == {"mlflow.autologging": "sklearn"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A store with three runs in "searched" (the last one deleted), each with a dataset
    input; their ids, oldest first."""
    import mlflow
    import numpy as np

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("searched")
    ids = []
    for i in range(3):
        run = client.create_run(experiment, start_time=1000 + i, run_name=f"run {i}")
        client.log_metric(run.info.run_id, "f1 score", 0.1 * i)
        client.log_param(run.info.run_id, "model", "GPT-4" if i else "None")
        dataset = mlflow.data.from_numpy(
            np.zeros((2, 3)), targets=np.zeros(2), name=f"set {i}", digest=f"d{i}"
        )
        client.log_inputs(
            run.info.run_id,
            [
                mlflow.entities.DatasetInput(
                    dataset._to_mlflow_entity(),
                    [mlflow.entities.InputTag("mlflow.data.context", "train")],
                )
            ],
        )
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    client.delete_run(ids[2])
    return uri, ids


@slow
def test_each_run_s_dataset_inputs_are_read_with_their_context(
    store: tuple[str, list[str]],
) -> None:
    uri, ids = store
    runs = {r.run_id: r for r in read_snapshot(uri).runs}
    (found,) = runs[ids[0]].inputs
    assert (found.name, found.digest, found.context) == ("set 0", "d0", "train")
    assert found.source_type
    assert found.source
    assert '"features_shape": [2, 3]' in found.profile
    assert found.schema.startswith("{")


@slow
def test_searches_are_answered_in_the_server_s_order(
    store: tuple[str, list[str]], tmp_path: Path
) -> None:
    uri, ids = store
    found = run_searches(
        uri,
        {
            "all": Search(all_experiments=True),
            "named": Search(experiments=("searched", "no such experiment")),
            "ordered": Search(experiments=("searched",), order_by=('metrics."f1 score" ASC',)),
            "first": Search(experiments=("searched",), max_results=1),
            "deleted too": Search(
                all_experiments=True, filter="params.model = 'GPT-4'", view="ALL"
            ),
            "none": Search(experiments=("no such experiment",)),
            "refused": Search(all_experiments=True, filter="metrics.f1 score < 1"),
        },
    )
    assert found["all"].run_ids == (ids[1], ids[0])  # start_time DESC, the deleted one left out
    assert found["named"].run_ids == (ids[1], ids[0])
    assert found["ordered"].run_ids == (ids[0], ids[1])
    assert found["first"].run_ids == (ids[1],)
    assert found["deleted too"].run_ids == (ids[2], ids[1])
    assert found["none"].run_ids == ()
    assert found["refused"].run_ids is None
    assert "filter" in (found["refused"].error or "").casefold()
    assert run_searches(uri, {}) == {}
