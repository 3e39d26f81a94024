"""Lab 5's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its dataset (make_regression), which the catalogue's generic ones must not.
tests.fuzz.equivalence adds REWRITES to the catalogue for this lab."""

from __future__ import annotations

import ast
import random
from dataclasses import replace

from tests.fuzz.rewrites import Rewrite, Shape, _code_map

# In a notebook there is no __file__ (Jupyter's working directory is the notebook's folder);
# in a script or under %run there is, and the data is found beside it whatever the directory.
DATA_DIR = (
    "from pathlib import Path\n"
    "DATA_DIR = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()\n"
)
# The call the lab makes its data with, in Step 1 and again in Step 5.
DATASET = {"n_features": 4, "n_informative": 2, "random_state": 0, "shuffle": False}


def _dataset_calls(tree: ast.AST) -> list[tuple[list[ast.stmt], int, str, str]]:
    """Each `X, y = make_regression(<the lab's arguments>)`: (its block, index, X, y)."""
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            for index, stmt in enumerate(body if isinstance(body, list) else []):
                value = stmt.value if isinstance(stmt, ast.Assign) else None
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
                if not (
                    isinstance(value, ast.Call)
                    and isinstance(target, ast.Tuple)
                    and len(target.elts) == 2
                    and all(isinstance(e, ast.Name) for e in target.elts)
                    and ast.unparse(value.func).rsplit(".", 1)[-1] == "make_regression"
                    and not value.args
                ):
                    continue
                given = {k.arg: k.value for k in value.keywords}
                lab = {k: v.value for k, v in given.items() if isinstance(v, ast.Constant)}
                if lab == DATASET and len(given) == len(DATASET):
                    x, y = (ast.unparse(e) for e in target.elts)
                    found.append((body, index, x, y))
    return found


def _each_dataset(shape: Shape, make: object) -> tuple[Shape, bool]:
    found = False

    def edit(source: str) -> str:
        nonlocal found
        tree = ast.parse(source)
        calls = _dataset_calls(tree)
        for body, index, x, y in reversed(calls):  # later indices first: earlier ones hold
            assert callable(make)
            body[index : index + 1] = ast.parse(make(body[index], x, y)).body
        found = found or bool(calls)
        return ast.unparse(tree) if calls else source

    return _code_map(shape, edit), found


def regression_as_dataframe(shape: Shape, rng: random.Random) -> Shape:
    """numpy -> pandas: the features as a DataFrame with named columns, wherever the lab
    makes its data (so the model's signature names the columns, and Step 5 predicts on a
    frame with the same names)."""
    names = rng.choice([["x0", "x1", "x2", "x3"], ["size", "age", "rooms", "distance"]])

    def make(stmt: ast.stmt, x: str, y: str) -> str:
        return (
            f"{ast.unparse(stmt)}\nimport pandas as pd\n{x} = pd.DataFrame({x}, columns={names!r})"
        )

    out, found = _each_dataset(shape, make)
    return out if found else shape


def regression_csv() -> str:
    from sklearn.datasets import make_regression

    X, y = make_regression(**DATASET)
    rows = ["x0,x1,x2,x3,target"]
    rows += [",".join(repr(float(v)) for v in [*x, t]) for x, t in zip(X, y, strict=True)]
    return "\n".join(rows) + "\n"


READERS = {
    # the same floats: as a DataFrame with the columns named, or as numpy arrays
    "pandas": (
        "import pandas as pd\n"
        "_data = pd.read_csv(DATA_DIR / 'regression.csv')\n"
        "{X}, {y} = _data.drop(columns='target'), _data['target'].to_numpy()"
    ),
    "numpy": (
        "import numpy as np\n"
        "_data = np.loadtxt(DATA_DIR / 'regression.csv', delimiter=',', skiprows=1)\n"
        "{X}, {y} = _data[:, :4], _data[:, 4]"
    ),
}


def regression_from_file(shape: Shape, rng: random.Random) -> Shape:
    """The lab's data saved beside the notebook as regression.csv and read from there
    (found through __file__ when the code runs as a script), as pandas or numpy."""
    reader = READERS[rng.choice(sorted(READERS))]
    out, found = _each_dataset(shape, lambda stmt, x, y: DATA_DIR + reader.format(X=x, y=y))
    if not found or any(name == "regression.csv" for name, _ in shape.files):
        return shape
    return replace(out, files=(*out.files, ("regression.csv", regression_csv())))


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("regression_as_dataframe", regression_as_dataframe),
    Rewrite("regression_from_file", regression_from_file),
)
