"""Reading what a submission left on the tracking server, as plain data."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.engine.server.throwaway import bounded_retries
from grader.errors import GraderError

# Models read per grading: a student who re-ran Step 4 a few times is covered; on a shared
# server, pass the run id (--run-id) so that only its models are read.
MAX_MODELS = 100


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    deleted: bool
    tags: dict[str, str] = field(default_factory=dict)  # experiment tags, mlflow.* ones included


@dataclass(frozen=True)
class LoggedModel:
    model_id: str
    name: str
    uri: str
    run_id: str | None
    has_signature: bool = False
    inputs: int = 0
    inputs_numeric: bool = False
    outputs: int = 0
    has_input_example: bool = False
    flavors: tuple[str, ...] = ()  # as its MLmodel lists them, e.g. ("python_function", "sklearn")
    input_names: tuple[str, ...] = ()  # its signature's input column names, in order (if named)
    problem: str | None = None  # MLmodel unreadable


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run logged as its input (mlflow.log_input): what MLflow stores of it.

    SOURCE, SCHEMA and PROFILE are MLflow's JSON text, cut at MAX_DATASET_TEXT characters;
    CONTEXT is the input's "mlflow.data.context" tag ("train", "test", ...), "" when unset.
    """

    name: str
    digest: str
    source_type: str
    source: str
    context: str
    schema: str
    profile: str


# Characters kept of a dataset's source, schema and profile: a dataset's description, not data.
MAX_DATASET_TEXT = 4000


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str
    experiment_id: str
    status: str
    start_time: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    models: tuple[LoggedModel, ...] = ()
    # MLflow's own tags (mlflow.*), kept apart from the notebook's: what MLflow says of the
    # run, e.g. "mlflow.autologging" = the flavor whose autologging created it.
    system_tags: dict[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()  # the datasets it logged with mlflow.log_input


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    source: str
    run_id: str | None
    model_id: str | None
    stage: str = "None"  # "None", "Staging", "Production" or "Archived" (stages: MLflow 2.x)


@dataclass(frozen=True)
class Snapshot:
    experiments: tuple[Experiment, ...]
    runs: tuple[Run, ...]
    versions: dict[str, tuple[ModelVersion, ...]] = field(default_factory=dict)

    def experiment_named(self, name: str) -> Experiment | None:
        live = [e for e in self.experiments if e.name == name]
        return next((e for e in live if not e.deleted), live[0] if live else None)


# Runs a search the grader makes for a lab reads at most (what a notebook's result is compared
# with, run id by run id, in order; the kernel's capture keeps as many).
SEARCH_MAX = 10000


@dataclass(frozen=True)
class Search:
    """A search of runs that a lab asks the grader to make on the server after the notebook
    ran, as mlflow.search_runs makes it (grader.engine.lab.Lab.searches): a check compares the
    run ids a notebook's own search returned, in order, with the server's answer to it.

    EXPERIMENTS names experiments (names the server does not hold are skipped, as
    mlflow.search_runs skips them); ALL_EXPERIMENTS searches every active one
    (search_all_experiments=True). VIEW is a ViewType name: ACTIVE_ONLY, DELETED_ONLY or ALL.
    """

    experiments: tuple[str, ...] = ()
    all_experiments: bool = False
    filter: str = ""
    order_by: tuple[str, ...] = ()
    max_results: int = SEARCH_MAX
    view: str = "ACTIVE_ONLY"


@dataclass(frozen=True)
class SearchResult:
    """The server's answer to a Search: run ids in its order, or why it failed."""

    run_ids: tuple[str, ...] | None
    error: str | None = None


def run_searches(tracking_uri: str, searches: Mapping[str, Search]) -> dict[str, SearchResult]:
    """Each of SEARCHES made on the server through MlflowClient: {its name: the result}.

    A search the server refuses (a filter MLflow cannot parse) is that search's result, not
    an error of the grading; an unreachable server is (GraderError), as for read_snapshot.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    found: dict[str, SearchResult] = {}
    if not searches:
        return found
    try:
        with bounded_retries():
            client = MlflowClient(tracking_uri=tracking_uri)
            for name, search in searches.items():
                try:
                    found[name] = SearchResult(_search(client, search))
                except MlflowException as err:
                    found[name] = SearchResult(None, f"{type(err).__name__}: {err.message}")
    except OSError as err:
        raise GraderError(f"could not search the tracking server at {tracking_uri}: {err}") from err
    return found


def _search(client: Any, search: Search) -> tuple[str, ...]:
    from mlflow.entities import ViewType

    if search.all_experiments and not search.experiments:
        ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    else:
        named = (client.get_experiment_by_name(n) for n in search.experiments)
        ids = [e.experiment_id for e in named if e is not None]
    if not ids:
        return ()
    view = ViewType.from_string(search.view.lower())
    wanted = min(search.max_results, SEARCH_MAX)
    run_ids: list[str] = []
    token = None
    while len(run_ids) < wanted:
        page = client.search_runs(
            ids,
            search.filter,
            view,
            max_results=min(wanted - len(run_ids), 1000),
            order_by=list(search.order_by) or None,
            page_token=token,
        )
        run_ids += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    return tuple(run_ids)


def read_snapshot(
    tracking_uri: str, experiment_ids: Collection[str] | None = None, run_id: str | None = None
) -> Snapshot:
    """Everything the checks look at, read once through MlflowClient.

    EXPERIMENT_IDS and RUN_ID narrow the runs and models read (a shared server holds many);
    every experiment's name is still listed.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        with bounded_retries():
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            experiments = _experiments(client)
            ids = [e.id for e in experiments if experiment_ids is None or e.id in experiment_ids]
            # Three independent reads at once: the grading waits for them after the run.
            with ThreadPoolExecutor(max_workers=3, thread_name_prefix="labgrade-read") as pool:
                found_models = pool.submit(_logged_models, client, ids, tracking_uri, run_id)
                found_runs = pool.submit(_search_runs, client, ids)
                found_versions = pool.submit(_versions, client)
                runs = _runs(found_runs.result(), found_models.result())
                versions = found_versions.result()
    except (MlflowException, OSError) as err:
        raise GraderError(f"could not read the tracking server at {tracking_uri}: {err}") from err
    if run_id is not None:
        runs = tuple(r for r in runs if r.run_id == run_id)
    return Snapshot(experiments, runs, versions)


def _experiments(client: Any) -> tuple[Experiment, ...]:
    from mlflow.entities import ViewType

    found = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    return tuple(
        Experiment(e.experiment_id, e.name, e.lifecycle_stage == "deleted", dict(e.tags or {}))
        for e in found
    )


def _search_runs(client: Any, experiment_ids: list[str]) -> list[Any]:
    from mlflow.entities import ViewType

    if not experiment_ids:
        return []
    return list(
        client.search_runs(
            experiment_ids,
            run_view_type=ViewType.ALL,
            max_results=1000,
            order_by=["start_time DESC"],
        )
    )


def _runs(found: list[Any], models: dict[str, list[LoggedModel]]) -> tuple[Run, ...]:
    return tuple(
        Run(
            run_id=r.info.run_id,
            name=r.info.run_name or "",
            experiment_id=r.info.experiment_id,
            status=r.info.status,
            start_time=int(r.info.start_time or 0),
            params=dict(r.data.params),
            metrics={k: float(v) for k, v in r.data.metrics.items()},
            tags={k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
            models=tuple(models.get(r.info.run_id, [])),
            system_tags={k: v for k, v in r.data.tags.items() if k.startswith("mlflow.")},
            inputs=_inputs(r),
        )
        for r in found
    )


def _inputs(run: Any) -> tuple[DatasetInput, ...]:
    """The run's dataset inputs as search_runs returns them (each with its context tag)."""
    inputs = getattr(run, "inputs", None)
    found = []
    for entry in getattr(inputs, "dataset_inputs", None) or ():
        d = entry.dataset
        tags = {t.key: t.value for t in entry.tags or ()}
        found.append(
            DatasetInput(
                name=d.name or "",
                digest=d.digest or "",
                source_type=d.source_type or "",
                source=(d.source or "")[:MAX_DATASET_TEXT],
                context=tags.get("mlflow.data.context", ""),
                schema=(d.schema or "")[:MAX_DATASET_TEXT],
                profile=(d.profile or "")[:MAX_DATASET_TEXT],
            )
        )
    return tuple(found)


def _logged_models(
    client: Any, experiment_ids: list[str], tracking_uri: str, run_id: str | None = None
) -> dict[str, list[LoggedModel]]:
    if not experiment_ids:
        return {}
    only = f"source_run_id = '{run_id}'" if run_id else None
    by_run: dict[str, list[LoggedModel]] = {}
    with tempfile.TemporaryDirectory(prefix="labgrade-mlmodel-") as tmp:
        found = client.search_logged_models(
            experiment_ids=experiment_ids, filter_string=only, max_results=MAX_MODELS
        )
        for m in found:
            dest = Path(tmp) / m.model_id
            model = _describe(m, tracking_uri, dest)
            by_run.setdefault(m.source_run_id or "", []).append(model)
    return by_run


def _describe(m: Any, tracking_uri: str, dest: Path) -> LoggedModel:
    """Read the model's MLmodel file (YAML metadata; the pickle is never loaded here)."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    model_id, name, run_id = m.model_id, m.name, m.source_run_id
    uri = f"models:/{model_id}"
    try:
        local = download_artifacts(
            artifact_uri=f"{m.artifact_location.rstrip('/')}/MLmodel",
            tracking_uri=tracking_uri,
            dst_path=str(dest),
        )
        meta = Model.load(local)
    except (MlflowException, OSError, ValueError) as err:
        return LoggedModel(model_id, name, uri, run_id, problem=f"{type(err).__name__}: {err}")
    sig = meta.signature
    inputs, numeric = _width(sig.inputs) if sig and sig.inputs else (0, False)
    outputs, _ = _width(sig.outputs) if sig and sig.outputs else (0, False)
    return LoggedModel(
        model_id,
        name,
        uri,
        run_id,
        has_signature=sig is not None,
        inputs=inputs,
        inputs_numeric=numeric,
        outputs=outputs,
        has_input_example=meta.saved_input_example_info is not None,
        flavors=tuple(sorted(str(f) for f in (meta.flavors or {}))),
        input_names=_names(sig.inputs) if sig and sig.inputs else (),
    )


def _width(schema: Any) -> tuple[int, bool]:
    """How many features a schema describes and whether all are numeric."""
    if schema.is_tensor_spec():
        width, numeric = 0, True
        for spec in schema.inputs:
            shape = tuple(spec.shape or ())
            width += int(shape[-1]) if len(shape) >= 2 and shape[-1] > 0 else 1
            numeric = numeric and spec.type.kind in "iuf"
        return width, numeric
    kinds = {"double", "float", "long", "integer"}
    cols = list(schema.inputs)
    return len(cols), all(str(getattr(c.type, "name", c.type)) in kinds for c in cols)


def _names(schema: Any) -> tuple[str, ...]:
    """The input names of a column-based schema, in order; () when its inputs are unnamed."""
    if schema.is_tensor_spec() or not schema.has_input_names():
        return ()
    return tuple(str(name) for name in schema.input_names())


def _versions(client: Any) -> dict[str, tuple[ModelVersion, ...]]:
    result: dict[str, list[ModelVersion]] = {
        rm.name: [] for rm in client.search_registered_models(max_results=1000)
    }
    # No name filter: any registered name, quotes included, is listed as it is.
    for v in client.search_model_versions(max_results=10000):
        result.setdefault(v.name, []).append(
            ModelVersion(
                v.name,
                str(v.version),
                v.source or "",
                v.run_id,
                getattr(v, "model_id", None),
                str(v.current_stage or "None"),
            )
        )
    return {name: tuple(found) for name, found in result.items()}
