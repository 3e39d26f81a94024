"""The mlflow.data lab's checks: the wine data logged as a run's input (Step 1), read back and
its source loaded again; the PandasDataset with targets and predictions (Step 2) and the two
NumpyDatasets (Step 3), built and never logged, so judged on the datasets the notebook built
(grader.engine.evidence.records.BuiltDataset), never on what it printed.

The course reads the semicolon-separated CSV with pd.read_csv(url), no sep=";": one wide column
whose name holds the twelve. That is what the course asks, so it is full marks; twelve columns
(sep=";") are the same data and pass too. The logged digest must be that of a dataset the
notebook built from the data it read at the URL: the data it read, not a typed-in digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from grader.engine.evidence.records import BuiltDataset, Candidate, Check, Evidence, Verdict
from grader.engine.evidence.rubric import CheckSpec
from grader.engine.evidence.server_reads import DatasetInput
from grader.engine.scoring import not_applicable, stopped


def _url_of(source: str) -> str:
    """The address of a dataset's HTTP source (MLflow's JSON), with or without https: the
    same file."""
    try:
        found = json.loads(source)
    except ValueError:
        return ""
    url = str(found.get("url", "")) if isinstance(found, dict) else ""
    return _same(url)


def _same(url: str) -> str:
    return url.replace("https://", "http://", 1)


def _schema_names(schema: str) -> list[str]:
    try:
        found = json.loads(schema)
    except ValueError:
        return []
    specs = found.get("mlflow_colspec", []) if isinstance(found, dict) else []
    return [str(c.get("name", "")) for c in specs if isinstance(c, dict)]


def _has_columns(names: list[str], wanted: list[str]) -> bool:
    """The twelve columns, as twelve (sep=";") or as the one wide column read without sep."""
    if names == wanted:
        return True
    return len(names) == 1 and [n.strip('"') for n in names[0].split(";")] == wanted


def _built(ev: Evidence) -> tuple[BuiltDataset, ...]:
    return ev.capture.datasets if ev.capture is not None else ()


def _unreadable(ev: Evidence, call: str) -> Verdict | None:
    if ev.capture is None:
        return Verdict(
            False,
            f"the notebook's records could not be read: {ev.capture_problem}",
            call,
            stopped(ev),
        )
    return None


def check_logged_input(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    url, context = str(spec.option("url")), str(spec.option("context"))
    wanted = [str(c) for c in spec.option("columns")]
    call = (
        "mlflow.log_input(mlflow.data.from_pandas(pd.read_csv(url), source=url),"
        f' context="{context}")'
    )
    if not ev.executed:
        return not_applicable(spec, "the data the notebook read")
    inputs = [i for r in ev.snapshot.runs for i in r.inputs]
    if not inputs:
        return Verdict(
            False,
            "no run logged a dataset input",
            call,
            stopped(ev) or "log the dataset inside `with mlflow.start_run():`",
        )
    from_url = [i for i in inputs if _url_of(i.source) == _same(url)]
    if not from_url:
        sources = sorted({i.source[:120] for i in inputs})
        return Verdict(
            False,
            f"the logged datasets' sources are {', '.join(sources)}, not the lab's URL",
            call,
            f"build it with mlflow.data.from_pandas(df, source=dataset_source_url), the URL {url}",
        )
    problems = [_input_problem(i, spec, ev, wanted, context) for i in from_url]
    found = [p for p in problems if p is not None]
    if len(found) < len(problems):
        return Verdict(True, f'a run logged the wine data from {url} as its "{context}" input')
    return Verdict(False, found[0][0], call, found[0][1])


def _input_problem(
    given: DatasetInput, spec: CheckSpec, ev: Evidence, wanted: list[str], context: str
) -> tuple[str, str] | None:
    if given.context != context:
        shown = f'"{given.context}"' if given.context else "no context"
        return (
            f"the wine dataset was logged with {shown}",
            f'log it with mlflow.log_input(dataset, context="{context}")',
        )
    if not _has_columns(_schema_names(given.schema), wanted):
        return (
            f"the logged dataset's columns are not the wine file's twelve ({given.schema[:200]})",
            "log the DataFrame read from the URL, all of it",
        )
    read = [d for d in _built(ev) if _url_of(d.source) == _same(str(spec.option("url")))]
    if not any(d.digest == given.digest for d in read):
        return (
            f"the logged digest {given.digest} is not that of a dataset the notebook built from"
            " the data it read at the URL",
            "log the dataset mlflow.data.from_pandas made of pd.read_csv(url):"
            " do not set its digest",
        )
    rows = int(spec.option("rows"))
    if not any(d.digest == given.digest and _rows(d) == rows for d in read):
        return (
            f"the logged dataset does not hold the file's {rows} rows",
            "log the whole DataFrame read from the URL",
        )
    return None


def _rows(built: BuiltDataset) -> int | None:
    shape = built.data.get("df")
    return shape[0] if isinstance(shape, tuple) and shape else None


def check_read_back(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    variable = str(spec.option("variable"))
    call = f"{variable} = mlflow.get_run(run_id).inputs.dataset_inputs[0].dataset"
    if not ev.executed:
        return not_applicable(spec, f"`{variable}`")
    lost = _unreadable(ev, call)
    if lost is not None or ev.capture is None:
        return lost or Verdict(False, "", call)
    held = ev.capture.variables.get(variable)
    if held is None or not held.present:
        return Verdict(
            False,
            f"the notebook has no variable `{variable}` after the run",
            call,
            stopped(ev) or f"keep the dataset read back from the run in `{variable}`",
        )
    if held.type != "Dataset":
        return Verdict(
            False,
            f"`{variable}` is a {held.type}, not the dataset MLflow stored with the run",
            call,
            "read it back from the run: run.inputs.dataset_inputs[0].dataset",
        )
    return Verdict(True, f"`{variable}` holds the dataset read back from the run")


def check_source_loaded(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    url = str(spec.option("url"))
    call = "mlflow.data.get_source(dataset_info).load()"
    if not ev.executed:
        return not_applicable(spec, "what the notebook downloaded")
    lost = _unreadable(ev, call)
    if lost is not None or ev.capture is None:
        return lost or Verdict(False, "", call)
    # MLflow's HTTP source downloads with requests; pandas reads a URL with urllib.
    if any(_same(u) == _same(url) and how == "requests" for u, how in ev.capture.fetched):
        return Verdict(True, "the dataset's source was downloaded again from its URL")
    return Verdict(
        False,
        "the dataset's source was not downloaded again after it was logged",
        call,
        stopped(ev) or "load the source of the dataset read back from the run",
    )


def check_pandas_targets(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    columns = [str(c) for c in spec.option("columns")]
    targets, predictions = str(spec.option("targets")), str(spec.option("predictions"))
    rows = int(spec.option("rows"))
    call = f'mlflow.data.from_pandas(x, targets="{targets}", predictions="{predictions}")'
    if not ev.executed:
        return not_applicable(spec, "the datasets the notebook built")
    lost = _unreadable(ev, call)
    if lost is not None:
        return lost
    frames = [
        d for d in _built(ev) if d.type == "PandasDataset" and _schema_names(d.schema) == columns
    ]
    if not frames:
        return Verdict(
            False,
            f"no PandasDataset of a frame with columns {', '.join(columns)} was built",
            call,
            stopped(ev) or "build the 3-row frame of Step 2 and pass it to mlflow.data.from_pandas",
        )
    for d in frames:
        named = d.data.get("targets") == targets and d.data.get("predictions") == predictions
        if named and _rows(d) == rows:
            return Verdict(
                True, f"a PandasDataset with targets {targets} and predictions {predictions}"
            )
    got = frames[-1]
    return Verdict(
        False,
        f"the PandasDataset built has targets {got.data.get('targets')!r}, predictions"
        f" {got.data.get('predictions')!r} and {_rows(got)} rows",
        call,
        f'name the columns: targets="{targets}", predictions="{predictions}", of the {rows} rows',
    )


def _shape(value: object) -> list[int]:
    return [int(n) for n in value] if isinstance(value, (list, tuple)) else []


def check_numpy_basic(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    features, targets = _shape(spec.option("features_shape")), _shape(spec.option("targets_shape"))
    call = f"mlflow.data.from_numpy(np.random.uniform(size={features}), targets=y)"
    if not ev.executed:
        return not_applicable(spec, "the datasets the notebook built")
    lost = _unreadable(ev, call)
    if lost is not None:
        return lost
    found = [d for d in _built(ev) if d.type == "NumpyDataset"]
    for d in found:
        if _shape(d.data.get("features")) == features and _shape(d.data.get("targets")) == targets:
            return Verdict(True, f"a NumpyDataset of features {features} and targets {targets}")
    return Verdict(
        False,
        f"no NumpyDataset of one feature array shaped {features} with targets shaped {targets}"
        f" was built ({_shapes(found)})",
        call,
        stopped(ev) or f"features of size={features}, targets of size={targets}",
    )


def check_numpy_dict(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    names = [str(n) for n in spec.option("features")]
    features, targets = _shape(spec.option("features_shape")), _shape(spec.option("targets_shape"))
    call = "mlflow.data.from_numpy({" + ", ".join(f'"{n}": ...' for n in names) + "}, targets=y)"
    if not ev.executed:
        return not_applicable(spec, "the datasets the notebook built")
    lost = _unreadable(ev, call)
    if lost is not None:
        return lost
    found = [d for d in _built(ev) if d.type == "NumpyDataset"]
    for d in found:
        given = d.data.get("features")
        if not isinstance(given, dict) or sorted(given) != sorted(names):
            continue
        if (
            all(_shape(given[n]) == features for n in names)
            and _shape(d.data.get("targets")) == targets
        ):
            return Verdict(True, f"a NumpyDataset of features {', '.join(names)}, each {features}")
    return Verdict(
        False,
        f"no NumpyDataset of a dict of {', '.join(names)}, each shaped {features}, with targets"
        f" shaped {targets} was built ({_shapes(found)})",
        call,
        stopped(ev) or f"a dict of {', '.join(names)}, each of size={features}",
    )


def _shapes(found: list[BuiltDataset]) -> str:
    if not found:
        return "none was built"
    return "built: " + "; ".join(f"features {_shown(d.data.get('features'))}" for d in found[:5])


def _shown(shape: object) -> str:
    """A shape as the notebook writes it ([2, 5, 4]), a dict of them by key."""
    if isinstance(shape, tuple):
        return str(list(shape))
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in shape.items()) + "}"
    return str(shape)


CHECKS: dict[str, Check] = {
    "logged_input": check_logged_input,
    "read_back": check_read_back,
    "source_loaded": check_source_loaded,
    "pandas_targets": check_pandas_targets,
    "numpy_basic": check_numpy_basic,
    "numpy_dict": check_numpy_dict,
}

WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "logged_input": lambda spec: (
        "A run logs, with `mlflow.log_input`, the wine data read from the lab's URL"
        f' (`mlflow.data.from_pandas(df, source=url)`) with context "{spec.option("context")}".'
    ),
    "read_back": lambda spec: (
        f"`{spec.option('variable')}` holds the dataset read back from the run"
        " (`run.inputs.dataset_inputs[0].dataset`)."
    ),
    "source_loaded": lambda spec: (
        "The dataset's source is loaded again with `mlflow.data.get_source(dataset_info).load()`."
    ),
    "pandas_targets": lambda spec: (
        "A PandasDataset of the 3-row frame (Name, Age, Label, ModelOutput) built with"
        f' "{spec.option("targets")}" as its targets and "{spec.option("predictions")}" as its'
        " predictions."
    ),
    "numpy_basic": lambda spec: (
        f"A NumpyDataset of random features of size {list(spec.option('features_shape'))} with"
        f" {_shape(spec.option('targets_shape'))} random 0/1 targets."
    ),
    "numpy_dict": lambda spec: (
        f"A NumpyDataset of a dict of {', '.join(spec.option('features'))}, each of size"
        f" {list(spec.option('features_shape'))}, with targets."
    ),
}
