"""Common slips in MLflow labs, recognised from what was logged and from the code as run.

Each function answers one question a specific hint needs ("was random_state logged under
another key?"); a lab's checks word the hint. Code is read statically (ast), never run.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterator, Mapping

from grader.engine.evidence.records import NamespaceCapture
from grader.engine.evidence.server_reads import LoggedModel, ModelVersion, Run


def squash(text: str) -> str:
    """TEXT without spaces, underscores, dashes or case: what a slip in a name keeps."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def similar_names(name: str, names: list[str]) -> list[str]:
    """NAMES that are NAME spelled differently (case, spaces, underscores, a close typo)."""
    same = [n for n in names if n != name and squash(n) == squash(name)]
    close = difflib.get_close_matches(name.casefold(), [n.casefold() for n in names], cutoff=0.75)
    near = [n for n in names if n.casefold() in close and n != name and n not in same]
    return same + near


def renamed_param(
    key: str, value: object, logged: Mapping[str, str], taken: set[str]
) -> str | None:
    """A logged key (not in TAKEN) that holds what KEY should: a near spelling or same value."""
    spare = [k for k in logged if k not in taken]
    by_name = similar_names(key, spare)
    by_value = [k for k in spare if logged[k] == str(value)]
    both = [k for k in by_name if k in by_value]
    found = both or by_name or by_value
    return found[0] if found else None


def renamed_metric(name: str, metrics: Mapping[str, float], true_value: float | None) -> str | None:
    """A logged metric that is NAME under another name: a near spelling, or the true value."""
    keys = list(metrics)
    by_name = similar_names(name, keys) + [
        k for k in keys if squash(name) in squash(k) and k != name
    ]
    if by_name:
        return by_name[0]
    if true_value is not None:
        return next((k for k in keys if abs(metrics[k] - true_value) < 1e-9), None)
    return None


def registered_elsewhere(
    versions: Mapping[str, tuple[ModelVersion, ...]], model: LoggedModel, name: str
) -> ModelVersion | None:
    """A version of MODEL registered under a name other than NAME."""
    for other, found in sorted(versions.items()):
        if other == name:
            continue
        for version in found:
            if is_version_of(version, model):
                return version
    return None


def is_version_of(
    version: ModelVersion,
    model: LoggedModel,
    versions: Mapping[str, tuple[ModelVersion, ...]] | None = None,
) -> bool:
    """VERSION's source is MODEL, however it was named: models:/<id>, its artifact location,
    MLflow 2's runs:/<run id>/<name> or run-artifact path that the labs' guides still print,
    or (given VERSIONS, the registry) another version of MODEL: models:/<name>/<version>."""
    run = model.run_id
    if (
        version.model_id == model.model_id
        or version.source == model.uri
        or model.model_id in version.source
        or (run is not None and version.source == f"runs:/{run}/{model.name}")
        or (run is not None and version.source.endswith(f"/{run}/artifacts/{model.name}"))
    ):
        return True
    target = registry_target(version.source, versions or {})
    return target is not None and target is not version and is_version_of(target, model)


def registry_target(
    source: str, versions: Mapping[str, tuple[ModelVersion, ...]]
) -> ModelVersion | None:
    """The version a models:/<name>/<version> source names, if the registry holds it."""
    if not source.startswith("models:/"):
        return None
    name, _, number = source.removeprefix("models:/").rpartition("/")
    return next((v for v in versions.get(name, ()) if v.version == number), None)


def failed_runs_beside(runs: list[Run], graded: Run) -> list[Run]:
    """Runs left FAILED next to the graded one (a cell raised inside `with start_run():`)."""
    return [r for r in runs if r.run_id != graded.run_id and r.status == "FAILED"]


def parse(code: str) -> ast.Module | None:
    """The submission's code as run (magics blanked); None when it does not parse."""
    lines = ["pass" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _calls(tree: ast.AST) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def training_inside_run(code: str) -> bool:
    """True when a `.fit(...)` call sits inside a `with mlflow.start_run():` block."""
    tree = parse(code)
    if tree is None:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.With):
            continue
        opens_run = any(
            isinstance(item.context_expr, ast.Call)
            and _dotted(item.context_expr.func).endswith("start_run")
            for item in node.items
        )
        if opens_run and any(name == "fit" for stmt in node.body for name, _ in _calls(stmt)):
            return True
    return False


def log_model_keywords(code: str) -> set[str]:
    """Keyword arguments passed to any `*.log_model(...)` call."""
    tree = parse(code)
    if tree is None:
        return set()
    return {
        kw.arg
        for name, call in _calls(tree)
        if name == "log_model"
        for kw in call.keywords
        if kw.arg
    }


def mentions(code: str, name: str) -> bool:
    """True when the code passes or defines NAME (a string key, e.g. of params, or a keyword)."""
    tree = parse(code)
    if tree is None:
        return name in code
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == name:
            return True
        if isinstance(node, ast.keyword) and node.arg == name:
            return True
    return False


def calls(code: str, dotted: str) -> bool:
    """True when the code calls DOTTED (e.g. "mlflow.sklearn.load_model")."""
    tree = parse(code)
    return tree is not None and any(_dotted(c.func) == dotted for _, c in _calls(tree))


def predicted_with(code: str, variables: list[str]) -> str | None:
    """The object whose .predict(...) fills one of VARIABLES (e.g. "lr"), if the code says."""
    tree = parse(code)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        func = node.value.func
        if not (isinstance(func, ast.Attribute) and func.attr == "predict"):
            continue
        for target in node.targets:
            base = target.value if isinstance(target, ast.Subscript) else target
            if isinstance(base, ast.Name) and base.id in variables:
                return _dotted(func.value) or None
    return None


def typed_metric(capture: NamespaceCapture | None, run_id: str, metric: str) -> bool:
    """True when the call that logged RUN_ID's METRIC as MLflow shows it (its latest value)
    passed that value as a number typed into the call. Only that call counts: a scratch
    run, another experiment or an earlier step of the metric never does."""
    for call in capture.metric_calls if capture else ():
        if call.run_id == run_id and call.key == metric:
            return call.call is not None and hard_coded_metric(call.call, metric, call.client)
    return False


def hard_coded_metric(code: str, metric: str, client: bool = False) -> bool:
    """True when CODE passes METRIC to log_metric(s) as a number literal (by position or by
    keyword); a key that is not written out counts as METRIC's (CODE is that one call).
    CLIENT: the call is MlflowClient's, whose positional parameters start with the run id,
    and whose log_batch takes Metric(key, value, ...) objects."""
    try:
        tree = ast.parse(_without_magics(code))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        names = ("run_id", "key", "value") if client else ("key", "value")
        given = dict(zip(names, node.args, strict=False))
        given.update({k.arg: k.value for k in node.keywords if k.arg})
        if func == "log_metric" and "value" in given:
            key = given.get("key")
            named = not isinstance(key, ast.Constant) or key.value == metric
            if named and _is_number(given["value"]):
                return True
        metrics = node.args[0] if node.args else given.get("metrics")
        if func == "log_metrics" and isinstance(metrics, ast.Dict):
            for k, v in zip(metrics.keys, metrics.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == metric and _is_number(v):
                    return True
        if func == "Metric" and client:
            fields = dict(zip(("key", "value"), node.args, strict=False))
            fields.update({k.arg: k.value for k in node.keywords if k.arg})
            key, value = fields.get("key"), fields.get("value")
            named = not isinstance(key, ast.Constant) or key.value == metric
            if named and value is not None and _is_number(value):
                return True
    return False


def _without_magics(code: str) -> str:
    return "\n".join(
        "pass" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()
    )


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
