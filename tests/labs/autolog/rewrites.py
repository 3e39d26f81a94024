"""Lab 6's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its dataset (load_diabetes), which the catalogue's generic ones must not.
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


def _loads(tree: ast.AST) -> list[tuple[list[ast.stmt], int, str]]:
    """Each `<name> = load_diabetes()` with no argument: (its block, index, name)."""
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            for index, stmt in enumerate(body if isinstance(body, list) else []):
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and isinstance(stmt.value, ast.Call)
                    and ast.unparse(stmt.value.func).rsplit(".", 1)[-1] == "load_diabetes"
                    and not stmt.value.args
                    and not stmt.value.keywords
                ):
                    found.append((body, index, stmt.targets[0].id))
    return found


def _each_load(shape: Shape, make: object) -> tuple[Shape, bool]:
    found = False

    def edit(source: str) -> str:
        nonlocal found
        tree = ast.parse(source)
        loads = _loads(tree)
        for body, index, name in reversed(loads):  # later indices first: earlier ones hold
            assert callable(make)
            body[index : index + 1] = ast.parse(make(name)).body
        found = found or bool(loads)
        return ast.unparse(tree) if loads else source

    return _code_map(shape, edit), found


def diabetes_as_dataframe(shape: Shape, rng: random.Random) -> Shape:
    """numpy -> pandas: the data as DataFrames with named columns (as_frame=True), so that
    X_train is a frame and the autologged model's signature names the columns."""
    load = "from sklearn.datasets import load_diabetes\n{name} = load_diabetes(as_frame=True)"
    out, found = _each_load(shape, lambda name: load.format(name=name))
    return out if found else shape


def diabetes_csv() -> str:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    rows = [",".join([*data.feature_names, "target"])]
    pairs = zip(data.data, data.target, strict=True)
    rows += [",".join(repr(float(v)) for v in [*x, t]) for x, t in pairs]
    return "\n".join(rows) + "\n"


READERS = {
    # the same floats (repr round-trips them), as numpy arrays either way
    "pandas": (
        "import pandas as pd\n"
        "from types import SimpleNamespace\n"
        "_data = pd.read_csv(DATA_DIR / 'diabetes.csv', float_precision='round_trip')\n"
        "{name} = SimpleNamespace(data=_data.drop(columns='target').to_numpy(),"
        " target=_data['target'].to_numpy())"
    ),
    "numpy": (
        "import numpy as np\n"
        "from types import SimpleNamespace\n"
        "_data = np.loadtxt(DATA_DIR / 'diabetes.csv', delimiter=',', skiprows=1)\n"
        "{name} = SimpleNamespace(data=_data[:, :10], target=_data[:, 10])"
    ),
}


def diabetes_from_file(shape: Shape, rng: random.Random) -> Shape:
    """The lab's data saved beside the notebook as diabetes.csv and read from there (found
    through __file__ when the code runs as a script), as pandas or numpy."""
    reader = READERS[rng.choice(sorted(READERS))]
    out, found = _each_load(shape, lambda name: DATA_DIR + reader.format(name=name))
    if not found or any(name == "diabetes.csv" for name, _ in shape.files):
        return shape
    return replace(out, files=(*out.files, ("diabetes.csv", diabetes_csv())))


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("diabetes_as_dataframe", diabetes_as_dataframe),
    Rewrite("diabetes_from_file", diabetes_from_file),
)
# Issue 26's rewrite classes these make for this lab (tests/fuzz/test_fuzz.py).
CLASSES = {
    "numpy <-> pandas features, named columns": ("diabetes_as_dataframe",),
    "data found through __file__": ("diabetes_from_file",),
}
