"""The Search Runs lab's checks: the ten runs Step 1 logs (their values and dataset inputs), and
each search of Step 2 judged by what it returned in the notebook against the same search made
on the server after the run (grader.engine.evidence.server_reads.Search: run ids, in order).

A run is known by its index i (0-9) through its accuracy (0.1 * i), the one value the lab's
lists make unique; every other value of run i is then what the lab's lists hold at i.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from grader.engine.evidence import common_slips as slips
from grader.engine.evidence.records import Candidate, Check, Evidence, NamespaceCapture, Verdict
from grader.engine.evidence.rubric import CheckSpec, Rubric
from grader.engine.evidence.server_reads import DatasetInput, Run, Search
from grader.engine.scoring import not_applicable, stopped

COUNT = 10
# MLflow logs a None param or tag value as this text.
NONE = "None"


@dataclass(frozen=True)
class Expected:
    """What run I logs, as the lab's lists hold it at I."""

    i: int
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    dataset: str
    digest: str | None  # None: MLflow computes it from the random data
    context: str


def _expected(i: int) -> Expected:
    loss = 1 - 0.1 * i
    models = ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"]
    tasks = ["classification", "regression", "causal lm"]
    return Expected(
        i,
        metrics={
            "loss": loss,
            "accuracy": 0.1 * i,
            "log-scale-loss": math.log(loss),
            "f1 score": 0.1 * i,
        },
        params={
            "batch_size": "2" if i < 5 else "4",
            "learning rate": "0.001" if i % 2 == 0 else "0.01",
            "model": models[i] if i < len(models) else NONE,
        },
        tags={
            "task": tasks[i] if i < len(tasks) else NONE,
            "environment": "notebook" if i < 5 else NONE,
        },
        dataset="custom" if i < 5 else "also custom",
        digest=["s8ds293b", "jks834s2"][i] if i < 2 else None,
        context="train" if i < 5 else "test",
    )


RUNS = tuple(_expected(i) for i in range(COUNT))
STEP1 = (
    "for i in range(10): with mlflow.start_run(): mlflow.log_metrics({...});"
    " mlflow.log_params({...}); mlflow.set_tags({...}); mlflow.log_input(dataset,"
    " context=dataset_context[i])"
)


def _index(run: Run) -> int | None:
    """The lab's index of RUN, from its accuracy (0.1 * i); None if it logged none such."""
    accuracy = run.metrics.get("accuracy")
    if accuracy is None or not math.isfinite(accuracy):
        return None
    i = round(accuracy * 10)
    return i if 0 <= i < COUNT and math.isclose(accuracy, 0.1 * i, abs_tol=1e-9) else None


def _experiment_runs(spec: CheckSpec, ev: Evidence) -> tuple[list[Run], str] | Verdict:
    name = str(spec.option("name"))
    experiment = ev.snapshot.experiment_named(name)
    if experiment is None:
        names = [e.name for e in ev.snapshot.experiments]
        near = slips.similar_names(name, names)
        hint = stopped(ev) or (
            f'experiment names are exact: "{near[0]}" is not "{name}"'
            if near
            else f'mlflow.set_experiment("{name}") before the runs'
        )
        listed = ", ".join(f'"{n}"' for n in names) or "none"
        return Verdict(
            False,
            f'no experiment named "{name}" (experiments: {listed})',
            f'mlflow.set_experiment("{name}"); {STEP1}',
            hint,
        )
    runs = [r for r in ev.snapshot.runs if r.experiment_id == experiment.id]
    return runs, name


def _by_index(runs: list[Run]) -> dict[int, list[Run]]:
    found: dict[int, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.start_time, reverse=True):
        i = _index(run)
        if i is not None:
            found.setdefault(i, []).append(run)
    return found


def _label(run: Run) -> str:
    return f"run '{run.name}' ({run.run_id})"


def _run_problems(run: Run, want: Expected, tolerance: float) -> list[str]:
    problems = []
    for key, value in want.metrics.items():
        got = run.metrics.get(key)
        if got is None:
            near = slips.similar_names(key, list(run.metrics))
            problems.append(f'no metric "{key}"' + (f' (it has "{near[0]}")' if near else ""))
        elif not math.isclose(got, value, rel_tol=tolerance, abs_tol=1e-12):
            problems.append(f'metric "{key}" = {got:.6g} (expected {value:.6g})')
    for kind, logged, wanted in (("param", run.params, want.params), ("tag", run.tags, want.tags)):
        for key, text in wanted.items():
            if key not in logged:
                near = slips.similar_names(key, list(logged))
                problems.append(f'no {kind} "{key}"' + (f' (it has "{near[0]}")' if near else ""))
            elif not _same_text(logged[key], text):
                problems.append(f'{kind} "{key}" = "{logged[key]}" (expected "{text}")')
    if run.status != "FINISHED":
        problems.append(f"it is {run.status}, not FINISHED")
    return problems


def _same_text(logged: str, wanted: str) -> bool:
    if logged == wanted:
        return True
    try:
        return float(logged) == float(wanted)
    except ValueError:
        return False


def _runs_hint(problems: list[str], ev: Evidence) -> str:
    text = " ".join(problems)
    hints = []
    if re.search(r'no (metric|param) "(f1 score|learning rate)" \(it has', text):
        hints.append(
            'names with a space are logged as they are: "f1 score" and "learning rate", not'
            " another spelling"
        )
    if f'(expected "{NONE}")' in text or re.search(
        r'no (param|tag) "(model|task|environment)"', text
    ):
        hints.append(
            "log the lab's lists whole, None included: MLflow logs a None value as the text"
            ' "None" (the searches of Step 2 find those runs by it)'
        )
    return (
        stopped(ev)
        or "; ".join(hints)
        or "log run i with the i-th value of each of the lab's lists"
    )


def check_runs(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    found = _experiment_runs(spec, ev)
    if isinstance(found, Verdict):
        return found
    runs, name = found
    call = STEP1
    tolerance = float(spec.options.get("tolerance", 1e-9))
    if not runs:
        return Verdict(False, f'"{name}" holds no run', call, stopped(ev))
    by_index = _by_index(runs)
    problems = []
    for want in RUNS:
        candidates = by_index.get(want.i, [])
        if not candidates:
            problems.append(f"no run logged accuracy {want.metrics['accuracy']:.1f} (run {want.i})")
            continue
        judged = [(c, _run_problems(c, want, tolerance)) for c in candidates]
        if not any(not p for _, p in judged):
            run, found_problems = judged[0]
            problems.append(f"{_label(run)}, run {want.i}: {', '.join(found_problems)}")
    if problems:
        shown = "; ".join(problems[:4]) + (
            f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        )
        return Verdict(
            False,
            f'"{name}" holds {len(runs)} run(s), not the lab\'s ten: {shown}',
            call,
            _runs_hint(problems, ev),
        )
    extra = f" ({len(runs)} runs in all: a cell run more than once)" if len(runs) > COUNT else ""
    return Verdict(
        True,
        f'"{name}" holds the ten runs with the lab\'s metrics, params and tags, None values'
        f" included{extra}",
    )


def _profile_shapes(dataset: DatasetInput) -> dict[str, object]:
    try:
        profile = json.loads(dataset.profile or "{}")
    except ValueError:
        return {}
    return profile if isinstance(profile, dict) else {}


def _dataset_problems(run: Run, want: Expected, spec: CheckSpec) -> list[str]:
    if not run.inputs:
        return ["no dataset input"]
    named = [d for d in run.inputs if d.name == want.dataset]
    if not named:
        listed = ", ".join(f'"{d.name}"' for d in run.inputs)
        return [f'no dataset named "{want.dataset}" (inputs: {listed})']
    best: list[str] = []
    for d in named:
        problems = []
        if d.context != want.context:
            problems.append(f'context "{d.context or "not set"}" (expected "{want.context}")')
        if want.digest is not None and d.digest != want.digest:
            problems.append(f'digest "{d.digest}" (expected "{want.digest}")')
        profile = _profile_shapes(d)
        for key in ("features_shape", "targets_shape"):
            wanted = list(spec.options.get(key, ()))
            if wanted and profile.get(key) != wanted:
                problems.append(f"{key} {profile.get(key, 'unknown')} (expected {wanted})")
        if not problems:
            return []
        best = best or problems
    return best


def check_datasets(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    found = _experiment_runs(spec, ev)
    call = (
        "dataset = mlflow.data.from_numpy(features=..., targets=..., name=dataset_name[i],"
        " digest=dataset_digest[i]); mlflow.log_input(dataset, context=dataset_context[i])"
    )
    if isinstance(found, Verdict):
        return Verdict(False, found.message, call, found.hint)
    runs, name = found
    by_index = _by_index(runs)
    if not by_index:
        return Verdict(False, f'"{name}" holds none of the lab\'s runs', call, stopped(ev))
    problems = []
    for want in RUNS:
        candidates = by_index.get(want.i, [])
        if not candidates:
            problems.append(f"no run {want.i} (accuracy {want.metrics['accuracy']:.1f})")
            continue
        judged = [_dataset_problems(c, want, spec) for c in candidates]
        if all(judged):
            problems.append(f"{_label(candidates[0])}, run {want.i}: {', '.join(judged[0])}")
    if problems:
        shown = "; ".join(problems[:4]) + (
            f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        )
        text = " ".join(problems)
        hint = stopped(ev)
        if not hint and "context" in text:
            hint = 'pass context=dataset_context[i] to mlflow.log_input ("train" or "test")'
        elif not hint and "digest" in text:
            hint = "pass digest=dataset_digest[i] to mlflow.data.from_numpy"
        elif not hint and "no dataset" in text:
            hint = "log the dataset of run i with mlflow.log_input inside its run"
        return Verdict(False, f'dataset inputs of "{name}": {shown}', call, hint)
    return Verdict(
        True,
        "each of the ten runs logged its numpy dataset with the lab's name, digest and context",
    )


# Step 2: the searches.


def _listed(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return ()


def search_of(spec: CheckSpec, filter_string: str | None = None) -> Search:
    """The search SPEC's options describe (FILTER_STRING in place of its filter)."""
    return Search(
        experiments=_listed(spec.options.get("experiments", ())),
        all_experiments=bool(spec.options.get("all_experiments", False)),
        filter=str(spec.options.get("filter", "")) if filter_string is None else filter_string,
        order_by=_listed(spec.options.get("order_by", ())),
        max_results=int(spec.options.get("max_results", 10000)),
        view=str(spec.options.get("view", "ACTIVE_ONLY")),
    )


ANY = ".any"  # the name of a search without its run-id clause


def _ids(spec: CheckSpec, capture: NamespaceCapture | None) -> tuple[str, ...] | None:
    """The run ids the notebook put in the check's ids_variable (None: not a list of ids)."""
    name = spec.options.get("ids_variable")
    if name is None or capture is None:
        return None
    found = capture.variables.get(str(name))
    if found is None or not found.present or found.values is None:
        return None
    if not all(isinstance(v, str) for v in found.values):
        return None
    return tuple(str(v) for v in found.values)


SAFE_ID = re.compile(r"^[\w.-]+$")


def id_clause(ids: tuple[str, ...]) -> str | None:
    """The lab's run-id clause for IDS, as its code builds it; None when an id cannot be
    quoted in a filter (MLflow's filters have no escape for a quote)."""
    if not ids or not all(SAFE_ID.match(i) for i in ids):
        return None
    return "attributes.run_id IN ('" + "','".join(ids) + "')"


def searches(rubric: Rubric, capture: NamespaceCapture | None) -> dict[str, Search]:
    """The searches of the rubric's search checks, made on the server after the run."""
    found: dict[str, Search] = {}
    for spec in rubric.checks:
        if "variable" not in spec.options:
            continue
        found[spec.id] = search_of(spec)
        if "ids_variable" in spec.options:
            found[spec.id + ANY] = search_of(spec)
            clause = id_clause(_ids(spec, capture) or ())
            if clause is not None:
                conditions = str(spec.options.get("filter", ""))
                both = f"{clause} AND {conditions}" if conditions else clause
                found[spec.id] = search_of(spec, both)
    return found


def _call(spec: CheckSpec) -> str:
    args = []
    experiments = _listed(spec.options.get("experiments", ()))
    if experiments:
        args.append(f"experiment_names={list(experiments)!r}")
    if spec.options.get("all_experiments"):
        args.append("search_all_experiments=True")
    if "filter" in spec.options:
        shown = (
            "complex_filter"
            if "ids_variable" in spec.options
            else repr(str(spec.options["filter"]))
        )
        args.append(f"filter_string={shown}")
    view = str(spec.options.get("view", ""))
    if view:
        args.append(f"run_view_type=ViewType.{view}")
    if "max_results" in spec.options:
        args.append(f"max_results={spec.options['max_results']}")
    order = _listed(spec.options.get("order_by", ()))
    if order:
        args.append(f"order_by={list(order)!r}")
    return f"{spec.option('variable')} = mlflow.search_runs({', '.join(args)})"


def _plural(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def check_search(spec: CheckSpec, ev: Evidence, _: Candidate | None) -> Verdict:
    variable = str(spec.option("variable"))
    call = _call(spec)
    if not ev.executed:
        return not_applicable(spec, f"what the notebook's search left in `{variable}`")
    if ev.capture is None:
        return Verdict(
            False,
            f"the notebook's variables could not be read: {ev.capture_problem}",
            call,
            stopped(ev),
        )
    held = ev.capture.variables.get(variable)
    if held is None or not held.present:
        return Verdict(
            False,
            f"the notebook has no variable `{variable}` after the run",
            call,
            stopped(ev) or f"keep the search's result in `{variable}`, as the lab names it",
        )
    if held.run_ids is None and held.type == "NoneType":
        return Verdict(
            False,
            f"`{variable}` is still None: the search was not made",
            call,
            stopped(ev) or f"assign the result of mlflow.search_runs to `{variable}`",
        )
    if held.run_ids is None:
        return Verdict(
            False,
            f"`{variable}` is a {held.type}, not the runs a search returns (a DataFrame with a"
            " run_id column, or a list of runs)",
            call,
            stopped(ev) or f"assign the result of mlflow.search_runs to `{variable}`",
        )
    answer = ev.searches.get(spec.id)
    if answer is None or answer.run_ids is None:
        why = answer.error if answer is not None else "it was not made"
        return Verdict(False, f"the same search on the server failed: {why}", call)
    got, want = held.run_ids, answer.run_ids
    placeholder = _placeholder_left(spec, ev)
    if placeholder:
        return Verdict(
            False,
            f"`{spec.option('ids_variable')}` still holds the placeholders {placeholder}, so"
            f" `{variable}` holds {_plural(len(got))}: no run was chosen",
            call,
            f'replace the placeholders with two run ids of "{_experiment(spec)}" copied from'
            ' the MLflow UI (or taken from all_runs["run_id"])',
        )
    known = {r.run_id for r in ev.snapshot.runs}
    later = _logged_later(ev, got, want)
    if later:
        # Runs of other experiments started after every run the notebook found: logged
        # after its search (a smoke test, say), so not what that search could return.
        want = tuple(i for i in want if i not in later)
    if got == want:
        return _matched(spec, ev, variable, got, known)
    strangers = [i for i in got if i not in known]
    if strangers:
        return Verdict(
            False,
            f"`{variable}` holds {_plural(len(got))}, {len(strangers)} of them not runs of this"
            f" server (e.g. {strangers[0]}); the same search on the server gives"
            f" {_plural(len(want))}",
            call,
            "keep what mlflow.search_runs returns: run ids typed in name runs of another server",
        )
    if sorted(got) == sorted(want):
        order = (
            ", ".join(_listed(spec.options.get("order_by", ()))) or "start_time DESC (the default)"
        )
        return Verdict(
            False,
            f"`{variable}` holds the {_plural(len(want))} the search gives, in another order",
            call,
            f"order as the lab does: {order}",
        )
    missing = [i for i in want if i not in got]
    extra = [i for i in got if i not in want]
    said = []
    if missing:
        said.append(f"{len(missing)} of them missing")
    if extra:
        said.append(f"{len(extra)} that it does not give")
    return Verdict(
        False,
        f"`{variable}` holds {_plural(len(got))}; the same search on the server gives"
        f" {_plural(len(want))} ({', '.join(said)})",
        call,
        stopped(ev) or _search_hint(spec, len(got), len(want)),
    )


def _logged_later(ev: Evidence, got: tuple[str, ...], want: tuple[str, ...]) -> set[str]:
    """Runs of WANT, not in GOT, in an experiment none of GOT's runs is in and started after
    every run of GOT."""
    runs = {r.run_id: r for r in ev.snapshot.runs}
    found = [runs[i] for i in got if i in runs]
    if not found:
        return set()
    latest = max(r.start_time for r in found)
    experiments = {r.experiment_id for r in found}
    return {
        i
        for i in want
        if i not in got
        and i in runs
        and runs[i].experiment_id not in experiments
        and runs[i].start_time > latest
    }


def _search_hint(spec: CheckSpec, got: int, want: int) -> str:
    if "max_results" in spec.options and got > want:
        return f"keep only the best run: max_results={spec.options['max_results']}"
    if "max_results" in spec.options and "order_by" in spec.options and got == want:
        # As many runs as the search keeps, but others: the first ones of another order.
        order = ", ".join(f'"{o}"' for o in _listed(spec.options["order_by"]))
        return f"the best run comes first in the lab's order: order_by=[{order}]"
    if "filter" in spec.options:
        return f"filter exactly as the lab does: {spec.options['filter']}"
    if spec.options.get("all_experiments"):
        return "search every experiment: search_all_experiments=True"
    return "search as the lab does, after the runs of Step 1 are logged"


def _experiment(spec: CheckSpec) -> str:
    experiments = _listed(spec.options.get("experiments", ()))
    return experiments[0] if experiments else "the experiment"


def _placeholder_left(spec: CheckSpec, ev: Evidence) -> str:
    """The placeholders still in the check's ids_variable, quoted, or ""."""
    marker = spec.options.get("placeholder")
    ids = _ids(spec, ev.capture)
    if marker is None or ids is None:
        return ""
    left = [i for i in ids if str(marker) in i]
    return ", ".join(f'"{i}"' for i in left)


RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _matched(
    spec: CheckSpec, ev: Evidence, variable: str, got: tuple[str, ...], known: set[str]
) -> Verdict:
    order = ", ".join(_listed(spec.options.get("order_by", ())))
    said = f"`{variable}` holds the {_plural(len(got))} the same search gives on the server" + (
        f", in its order ({order})" if order and len(got) > 1 else ""
    )
    if "ids_variable" not in spec.options:
        return Verdict(True, said)
    ids = _ids(spec, ev.capture)
    if ids is None:
        # The ids are not in the lab's variable: the result must still be runs that meet the
        # lab's conditions, and some.
        meets = ev.searches.get(spec.id + ANY)
        if not got or meets is None or meets.run_ids is None or not set(got) <= set(meets.run_ids):
            return Verdict(
                False,
                f"`{spec.option('ids_variable')}` holds no list of run ids, and `{variable}` holds"
                f" {_plural(len(got))} that cannot be shown to meet the lab's conditions",
                _call(spec),
                f"put the two pasted run ids in `{spec.option('ids_variable')}`, as the lab does",
            )
        return Verdict(True, f"{said}: runs that meet the lab's conditions")
    mine = [i for i in ids if i in known]
    if mine:
        return Verdict(True, f"{said}: those of {', '.join(ids)} that meet the lab's conditions")
    if all(RUN_ID.match(i) for i in ids):
        # Copied from the student's own MLflow UI, as the lab asks: this fresh server cannot
        # hold them, and both the notebook and the server find no run.
        return Verdict(
            True,
            f"{said}: the ids in `{spec.option('ids_variable')}` ({', '.join(ids)}) name runs"
            " of your own MLflow server, which this grader's fresh server does not hold, so"
            " the search finds no run here, as it should",
        )
    return Verdict(
        False,
        f"`{spec.option('ids_variable')}` holds {', '.join(repr(i) for i in ids)}: not run ids",
        _call(spec),
        'a run id is 32 hexadecimal digits, as the MLflow UI shows it (or all_runs["run_id"])',
    )


SEARCH_IDS = (
    "all_runs",
    "bad_runs",
    "complex_filter",
    "ordered_by_accuracy",
    "highest_accuracy",
    "gpt_4_runs",
)
CHECKS: dict[str, Check] = {
    "runs": check_runs,
    "datasets": check_datasets,
    **{cid: check_search for cid in SEARCH_IDS},
}


def _search_words(spec: CheckSpec) -> str:
    parts = []
    if spec.options.get("all_experiments"):
        parts.append("over every experiment")
    experiments = _listed(spec.options.get("experiments", ()))
    if experiments:
        parts.append("in " + ", ".join(f'"{e}"' for e in experiments))
    if "ids_variable" in spec.options:
        parts.append(f"among the runs whose ids `{spec.options['ids_variable']}` holds")
    if "filter" in spec.options:
        parts.append(f"matching `{spec.options['filter']}`")
    if str(spec.options.get("view", "")) == "ALL":
        parts.append("deleted runs included")
    order = _listed(spec.options.get("order_by", ()))
    if order:
        parts.append("ordered by " + ", ".join(f"`{o}`" for o in order))
    if "max_results" in spec.options:
        parts.append(f"keeping the first {spec.options['max_results']}")
    return (
        f"`{spec.options['variable']}` holds the runs that `mlflow.search_runs` finds "
        + ", ".join(parts)
        + ": the same runs, in the same order, as that search gives after the notebook ran."
    )


def _wants_runs(spec: CheckSpec) -> str:
    return (
        f'Experiment "{spec.option("name")}" holds ten runs; run i logs the i-th value of the'
        ' lab\'s lists: metrics loss, accuracy, log-scale-loss and "f1 score", params'
        ' batch_size, "learning rate" and model, tags task and environment (None values'
        " included)."
    )


def _wants_datasets(spec: CheckSpec) -> str:
    return (
        "Each run logs its numpy dataset with `mlflow.log_input`: the lab's dataset name"
        ' ("custom" or "also custom"), the digests it gives for the first two runs, and the'
        ' context "train" or "test".'
    )


# What each check wants, in a student's words (the released README's table).
WANTS: dict[str, Callable[[CheckSpec], str]] = {
    "runs": _wants_runs,
    "datasets": _wants_datasets,
    **{cid: _search_words for cid in SEARCH_IDS},
}
