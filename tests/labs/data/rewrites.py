"""Lab 3's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its 3-row frame, which the catalogue's generic ones must not. tests.fuzz.equivalence adds
REWRITES to the catalogue for this lab."""

from __future__ import annotations

import random
from dataclasses import replace

from tests.fuzz.rewrites import Rewrite, Shape, _code_map

# Step 2's frame, as the lab writes it.
FRAME = (
    'x = pd.DataFrame(\n    [["tom", 10, 1, 1], ["nick", 15, 0, 1], ["juli", 14, 1, 1]],\n'
    '    columns=["Name", "Age", "Label", "ModelOutput"],\n)\n'
)
FROM_NUMPY = (
    "import numpy as np\n\n"
    '_rows = np.array([["tom", 10, 1, 1], ["nick", 15, 0, 1], ["juli", 14, 1, 1]], dtype=object)\n'
    'x = pd.DataFrame(_rows, columns=["Name", "Age", "Label", "ModelOutput"])\n'
    'x[["Age", "Label", "ModelOutput"]] = x[["Age", "Label", "ModelOutput"]].astype(int)\n'
)
FROM_FILE = (
    "from pathlib import Path\n\n"
    "DATA_DIR = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()\n"
    "x = pd.read_csv(DATA_DIR / 'people.csv')\n"
)
PEOPLE = "Name,Age,Label,ModelOutput\ntom,10,1,1\nnick,15,0,1\njuli,14,1,1\n"


def frame_from_numpy(shape: Shape, rng: random.Random) -> Shape:
    """Step 2's frame made from a numpy array, its columns named as the lab's."""
    return _code_map(shape, lambda source: source.replace(FRAME, FROM_NUMPY))


def frame_from_file(shape: Shape, rng: random.Random) -> Shape:
    """Step 2's rows saved beside the notebook as people.csv and read from there, found
    through __file__ when the code runs as a script."""
    out = _code_map(shape, lambda source: source.replace(FRAME, FROM_FILE))
    if out == shape or any(name == "people.csv" for name, _ in shape.files):
        return shape
    return replace(out, files=(*out.files, ("people.csv", PEOPLE)))


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("frame_from_numpy", frame_from_numpy),
    Rewrite("frame_from_file", frame_from_file),
)
# Issue 26's rewrite classes these make for this lab (tests/fuzz/test_fuzz.py).
CLASSES = {
    "numpy <-> pandas features, named columns": ("frame_from_numpy",),
    "data found through __file__": ("frame_from_file",),
}
