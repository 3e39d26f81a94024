"""The evidence a grading collects, as plain data, and the verdict a check gives on it.

What the kernel reported after the run (its capture), what the model probe found of each
logged model, what the server holds (grader.engine.evidence.server_reads), and the code as run: a
lab's checks (grader.engine.lab.Check) read only this, never a live object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.engine.evidence.rubric import CheckSpec, Rubric
from grader.engine.evidence.server_reads import LoggedModel, Run, SearchResult, Snapshot


@dataclass(frozen=True)
class VariableCapture:
    present: bool
    type: str = ""
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] | None = None  # a flat list's values
    rows: tuple[tuple[Any, ...], ...] | None = None  # Capture.tables: the whole table, by row
    # The runs it holds, by id in its order, if the lab asked (grader.engine.lab.Capture
    # run_ids) and it holds runs (a search_runs DataFrame, a list of runs, a run); else None.
    run_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PyfuncLoad:
    """A model the submission's code loaded with mlflow.pyfunc, and what it predicted.

    Recorded at the load itself (grader.engine.kernel.kernel_side), wherever in the code it
    happened.
    """

    uri: str  # as the code passed it: models:/m-..., runs:/<run>/..., models:/<name>/<version>
    model_id: str | None  # of the loaded model, from its metadata
    run_id: str | None
    predictions: tuple[tuple[Any, ...] | None, ...] = ()  # each predict() call's output


@dataclass(frozen=True)
class MetricCall:
    """The call that logged a run's metric as MLflow shows it (its latest value): where it
    was made and the text of the call expression there (None: not found in the source)."""

    run_id: str
    key: str
    value: Param
    step: int
    file: str | None
    line: int | None
    call: str | None
    # Made by calling MlflowClient (run id first), not a fluent function (key first).
    client: bool = False


# The shape of a dataset's data: an array's shape, a column's name (a PandasDataset's
# targets), a dict of them (numpy features given as a dict), or None.
DataShape = tuple[int, ...] | str | None | Mapping[str, "DataShape"]


@dataclass(frozen=True)
class BuiltDataset:
    """An MLflow dataset the notebook built (mlflow.data.from_pandas, from_numpy, ...), as
    MLflow would log it: NAME, DIGEST, SOURCE_TYPE; SOURCE, SCHEMA and PROFILE are MLflow's
    JSON text (cut at 4,000 characters). DATA: the shapes of its "df", "features", "targets"
    and "predictions", where the dataset has them. ERROR: why it could not be described."""

    type: str  # its class: PandasDataset, NumpyDataset, ...
    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str
    data: Mapping[str, DataShape]
    error: str | None = None


@dataclass(frozen=True)
class NamespaceCapture:
    """Plain data read from the kernel after the submission ran."""

    variables: dict[str, VariableCapture]
    loads: tuple[PyfuncLoad, ...]
    redirects: tuple[tuple[str, str], ...]
    modules: tuple[str, ...] = ()  # helper modules imported from the submission's folder
    # (typed, used): ids the notebook names that this fresh server does not hold (copied from
    # the student's own MLflow UI), and the id of the notebook's own run or model used instead.
    ids: tuple[tuple[str, str], ...] = ()
    metric_calls: tuple[MetricCall, ...] = ()  # per run and key, the latest value's call
    # (command, exit status, source of its cell): shell escapes (`!command`) that failed
    shell_failures: tuple[tuple[str, int, str], ...] = ()
    # The lab's compatibility switches (grader.engine.lab.Compatibility) that changed a call.
    switched: tuple[str, ...] = ()
    # MLflow datasets the notebook built (mlflow.data.from_*), in order, logged or not.
    datasets: tuple[BuiltDataset, ...] = ()
    # (url, library): the lab's web fixtures the notebook fetched (grader.engine.lab.Fixture).
    fetched: tuple[tuple[str, str], ...] = ()


Param = bool | int | float | str | None


@dataclass(frozen=True)
class ModelPredictions:
    """What the probe found of one logged model: its predictions on the lab's X, and what the
    model really is (the class behind the pyfunc wrapper and its own hyperparameters)."""

    model_uri: str
    predictions: tuple[float, ...] | None
    error: str | None = None
    model_class: str | None = None  # module.qualname of the object behind the pyfunc wrapper
    model_params: Mapping[str, Param] | None = None  # its get_params(); None: not an estimator
    # Set when it loaded and its predict refused the input built from its signature: what it
    # expects and what it was given.
    refused: str | None = None


def unusable(preds: ModelPredictions | None) -> str:
    """Why a logged model gave no predictions, as a check says it: "the logged model ..."."""
    if preds is None:
        return "was not probed"
    if preds.refused is not None:
        return (
            f"loaded, but its predict refused the grader's input ({preds.error}): {preds.refused}"
        )
    return f"could not be loaded: {preds.error or 'no predictions'}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str  # what was found
    expected: str = ""  # the call the lab expects, shown when the check fails
    hint: str = ""  # a known slip and what exactly to change
    applicable: bool = True  # False: the check cannot apply (nothing was executed)


@dataclass(frozen=True)
class Evidence:
    rubric: Rubric
    snapshot: Snapshot
    capture: NamespaceCapture | None
    capture_problem: str | None
    predictions: dict[str, ModelPredictions]  # logged model uri -> what it predicts on X
    y_test: tuple[float, ...]  # the lab's true targets for those rows
    code: str
    execution_error: str | None = None  # the cell that raised or timed out, if any
    kind: str = "notebook"  # what ran: "notebook" or "script" (a .py run as Python runs it)

    @property
    def subject(self) -> str:
        """What ran, as feedback names it: "the notebook" or "the script"."""
        return f"the {self.kind}"

    executed: bool = True  # False: grading what a server already holds
    # The lab's searches (grader.engine.lab.Lab.searches) as the server answered them.
    searches: Mapping[str, SearchResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    run: Run
    model: LoggedModel | None

    @property
    def label(self) -> str:
        return f"run '{self.run.name}' ({self.run.run_id})"


Check = Callable[[CheckSpec, Evidence, "Candidate | None"], Verdict]
