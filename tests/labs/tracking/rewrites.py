"""Lab 1's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its code (the iris loader, the registered model), which the catalogue's generic ones must not.
tests.fuzz.equivalence adds REWRITES to the catalogue for this lab."""

from __future__ import annotations

import ast
import random
from dataclasses import replace

from tests.fuzz.rewrites import InsertsBefore, Rewrite, Shape, _code_map, _transformed

# In a notebook there is no __file__ (Jupyter's working directory is the notebook's folder);
# in a script or under %run there is, and the data is found beside it whatever the directory.
DATA_DIR = (
    "from pathlib import Path\n"
    "DATA_DIR = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()\n"
)


def _is_iris_loader(node: ast.AST) -> bool:
    """`datasets.load_iris(return_X_y=True, ...)` or `load_iris(return_X_y=True, ...)`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    wants_xy = any(
        k.arg == "return_X_y" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in node.keywords
    )
    return name == "load_iris" and wants_xy


class _AsFrame(ast.NodeTransformer):
    """numpy <-> pandas: `as_frame=True` added to the loader (the features a DataFrame with
    the iris's column names, the target a Series), or taken off where the code has it."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if _is_iris_loader(node):
            framed = [k for k in node.keywords if k.arg == "as_frame"]
            node.keywords = [k for k in node.keywords if k.arg != "as_frame"]
            if not framed:
                node.keywords.append(ast.keyword("as_frame", ast.Constant(True)))
        return node


class _NamedColumns(ast.NodeTransformer):
    """After `X, y = load_iris(return_X_y=True)`: `X = pd.DataFrame(X, columns=...)` with
    the dataset's feature names, so that the signature names the columns."""

    def visit_Assign(self, node: ast.Assign) -> ast.AST | list[ast.stmt]:
        target = node.targets[0] if len(node.targets) == 1 else None
        if not (
            _is_iris_loader(node.value)
            and isinstance(target, ast.Tuple)
            and len(target.elts) == 2
            and isinstance(target.elts[0], ast.Name)
        ):
            return node
        x = target.elts[0].id
        loader = ast.unparse(node.value.func) if isinstance(node.value, ast.Call) else ""
        return [
            node,
            *ast.parse(
                f"import pandas as pd\n{x} = pd.DataFrame({x}, columns={loader}().feature_names)"
            ).body,
        ]


def iris_as_dataframe(shape: Shape, rng: random.Random) -> Shape:
    """The features as a pandas DataFrame with named columns (or as numpy again)."""
    return _transformed(shape, rng.choice([_AsFrame, _NamedColumns]))


def iris_csv() -> str:
    from sklearn import datasets

    X, y = datasets.load_iris(return_X_y=True)
    rows = ["sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),target"]
    rows += [
        ",".join([*(repr(float(v)) for v in x), str(int(t))]) for x, t in zip(X, y, strict=True)
    ]
    return "\n".join(rows) + "\n"


READERS = {
    # the same floats, as a DataFrame with the columns named, or as numpy arrays
    "pandas": (
        "import pandas as pd\n"
        "_iris = pd.read_csv(DATA_DIR / 'iris.csv')\n"
        "{X}, {y} = _iris.drop(columns='target'), _iris['target'].to_numpy()"
    ),
    "numpy": (
        "import numpy as np\n"
        "_iris = np.loadtxt(DATA_DIR / 'iris.csv', delimiter=',', skiprows=1)\n"
        "{X}, {y} = _iris[:, :4], _iris[:, 4].astype(int)"
    ),
}


def iris_from_file(shape: Shape, rng: random.Random) -> Shape:
    """The dataset saved beside the notebook as iris.csv and read from there (found through
    __file__ when the code runs as a script), as pandas or numpy."""
    reader = rng.choice(sorted(READERS))
    found = False

    def edit(source: str) -> str:
        nonlocal found
        tree = ast.parse(source)
        changed = False
        for node in ast.walk(tree):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list):
                    continue
                for index, stmt in enumerate(body):
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
                    if (
                        isinstance(stmt, ast.Assign)
                        and _is_iris_loader(stmt.value)
                        and isinstance(target, ast.Tuple)
                        and len(target.elts) == 2
                        and all(isinstance(e, ast.Name) for e in target.elts)
                        and isinstance(stmt.value, ast.Call)
                        and not any(k.arg == "as_frame" for k in stmt.value.keywords)
                    ):
                        x, y = (ast.unparse(e) for e in target.elts)
                        text = DATA_DIR + READERS[reader].format(X=x, y=y)
                        body[index : index + 1] = ast.parse(text).body
                        changed = True
        if not changed:
            return source
        found = True
        return ast.unparse(tree)

    out = _code_map(shape, edit)
    if not found or any(name == "iris.csv" for name, _ in shape.files):
        return shape
    return replace(out, files=(*out.files, ("iris.csv", iris_csv())))


class _RegisteredLoad(InsertsBefore):
    """`load_model(info.model_uri)` as the registered version the same log_model made, by its
    number or by an alias set on it: lab 1 grades predictions of the run's model, however it
    is reached (a load's model id is the logged model's)."""

    def __init__(self, rng: random.Random, registered: dict[str, str]) -> None:
        super().__init__()
        self.rng = rng
        self.registered = registered

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        uri = node.args[0] if node.args else None
        if not (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "load_model"
            and isinstance(uri, ast.Attribute)
            and uri.attr == "model_uri"
            and isinstance(uri.value, ast.Name)
            and uri.value.id in self.registered
        ):
            return node
        info, name = uri.value.id, self.registered[uri.value.id]
        version = f"{info}.registered_model_version"
        if self.rng.random() < 0.5:
            node.args[0] = ast.parse(f'f"models:/{name}/{{{version}}}"', mode="eval").body
            return node
        self.pending += ast.parse(
            "import mlflow as _mlflow_alias\n"
            f"_mlflow_alias.MlflowClient().set_registered_model_alias({name!r}, 'champion',"
            f" {version})"
        ).body
        node.args[0] = ast.Constant(f"models:/{name}@champion")
        return node


def _registered(shape: Shape) -> dict[str, str]:
    """ModelInfo names -> the model name their log_model registered it under."""
    found: dict[str, str] = {}
    for source in shape.code():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            value = node.value if isinstance(node, ast.Assign) else None
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "log_model"
            ):
                for k in value.keywords:
                    if k.arg == "registered_model_name" and isinstance(k.value, ast.Constant):
                        found[node.targets[0].id] = str(k.value.value)
    return found


def registered_version_loaded(shape: Shape, rng: random.Random) -> Shape:
    registered = _registered(shape)
    return _transformed(shape, lambda: _RegisteredLoad(rng, registered))


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("iris_as_dataframe", iris_as_dataframe),
    Rewrite("iris_from_file", iris_from_file),
    Rewrite("registered_version_loaded", registered_version_loaded),
)
