"""Lab 2's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its data (the apple demand generator, its columns), which the catalogue's generic ones must not.
tests.fuzz.equivalence adds REWRITES to the catalogue for this lab; CLASSES says which of
issue 26's rewrite classes each one makes for it."""

from __future__ import annotations

import ast
import random

from tests.fuzz.rewrites import Rewrite, Shape, _code_map

# The features the lab trains on, in the order the generator makes them.
FEATURES = (
    "average_temperature",
    "rainfall",
    "weekend",
    "holiday",
    "price_per_kg",
    "promo",
    "previous_days_demand",
)
DATA_DIR = (
    "from pathlib import Path\n"
    "DATA_DIR = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()\n"
)


def _features_drop(node: ast.stmt) -> tuple[str, str] | None:
    """`X = DATA.drop(columns=["date", "demand"])`: (X, DATA)."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target, call = node.targets[0], node.value
    if not (
        isinstance(target, ast.Name)
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "drop"
        and isinstance(call.func.value, ast.Name)
    ):
        return None
    dropped = {k.arg: k.value for k in call.keywords}.get("columns")
    if not isinstance(dropped, ast.List):
        return None
    names = {e.value for e in dropped.elts if isinstance(e, ast.Constant)}
    return (target.id, call.func.value.id) if names == {"date", "demand"} else None


def _edit_features(make: object) -> object:
    def edit(source: str) -> str:
        tree = ast.parse(source)
        # Found first, replaced after (later ones first): a replacement may hold the statement
        # it replaces, which must not be found again.
        found = [
            (body, index, match)
            for node in ast.walk(tree)
            for body in [getattr(node, "body", None)]
            if isinstance(body, list)
            for index, stmt in enumerate(body)
            if (match := _features_drop(stmt)) is not None
        ]
        assert callable(make)
        for body, index, match in reversed(found):
            body[index : index + 1] = ast.parse(make(*match)).body
        return ast.unparse(tree) if found else source

    return edit


def features_by_name(shape: Shape, rng: random.Random) -> Shape:
    """The features selected by their names, not by dropping the others: the same columns in
    the same order (a named-column signature either way), or dropped by position-free axis=1."""
    listed = ", ".join(f'"{c}"' for c in FEATURES)
    forms = (
        lambda x, data: f"{x} = {data}[[{listed}]]",
        lambda x, data: f'{x} = {data}.drop(["date", "demand"], axis=1)',
        lambda x, data: f"{x} = {data}.loc[:, [{listed}]].copy()",
    )
    return _code_map(shape, _edit_features(rng.choice(forms)))  # type: ignore[arg-type]


def data_through_file(shape: Shape, rng: random.Random) -> Shape:
    """The generated data written to a file beside the code (found through __file__ where
    there is one) and read back before the features are taken: the same rows and columns."""

    def make(x: str, data: str) -> str:
        path = "DATA_DIR / 'apples.pkl'"
        saved = f"{data}.to_pickle({path})\n{data} = pd.read_pickle({path})\n"
        features = f"{x} = {data}.drop(columns=['date', 'demand'])"
        return f"import pandas as pd\n{DATA_DIR}{saved}{features}"

    return _code_map(shape, _edit_features(make))  # type: ignore[arg-type]


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("features_by_name", features_by_name),
    Rewrite("data_through_file", data_through_file),
)
# Issue 26's rewrite classes these make for this lab (tests/fuzz/test_fuzz.py): its data are
# pandas with named columns by design (a numpy array would lose the signature's names the lab
# grades), so its numpy <-> pandas class is the columns chosen by name another way.
CLASSES = {
    "numpy <-> pandas features, named columns": ("features_by_name",),
    "data found through __file__": ("data_through_file",),
}
