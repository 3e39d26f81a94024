"""Lab 4's own semantics-preserving rewrites for the equivalence fuzzer (tests.fuzz): they know
its lists of metric values and of params and tags, which the catalogue's generic ones must not.
tests.fuzz.equivalence adds REWRITES to the catalogue for this lab."""

from __future__ import annotations

import json
import random
from dataclasses import replace

from tests.fuzz.rewrites import Rewrite, Shape, _code_map

# The lab's metric arrays, as Step 1 makes them with numpy.
METRICS = (
    "accuracy = np.arange(0, 1, 0.1)\nloss = np.arange(1, 0, -0.1)\nlog_scale_loss = np.log(loss)\n"
    "f1_score = np.arange(0, 1, 0.1)\n"
)
AS_FRAME = (
    "import pandas as pd\n\n"
    "_metrics = pd.DataFrame({'accuracy': np.arange(0, 1, 0.1), 'loss': np.arange(1, 0, -0.1)})\n"
    "_metrics['log-scale-loss'] = np.log(_metrics['loss'])\n"
    "_metrics['f1 score'] = _metrics['accuracy']\n"
    "accuracy, loss = _metrics['accuracy'], _metrics['loss']\n"
    "log_scale_loss, f1_score = _metrics['log-scale-loss'], _metrics['f1 score']\n"
)
# The lists of params, tags and dataset facts, as Step 1 writes them.
LISTS = {
    "batch_size": [2] * 5 + [4] * 5,
    "learning_rate": [0.001, 0.01] * 5,
    "model": ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"] + [None] * 6,
    "task": ["classification", "regression", "causal lm"] + [None] * 7,
    "environment": ["notebook"] * 5 + [None] * 5,
    "dataset_name": ["custom"] * 5 + ["also custom"] * 5,
    "dataset_digest": ["s8ds293b", "jks834s2"] + [None] * 8,
    "dataset_context": ["train"] * 5 + ["test"] * 5,
}
FROM_FILE = (
    "import json\nfrom pathlib import Path\n\n"
    "DATA_DIR = Path(__file__).resolve().parent if '__file__' in globals() else Path.cwd()\n"
    "_lists = json.loads((DATA_DIR / 'runs.json').read_text())\n"
    + "".join(f"{name} = _lists[{name!r}]\n" for name in LISTS)
)


def metrics_as_dataframe(shape: Shape, rng: random.Random) -> Shape:
    """The metric values as columns of a pandas DataFrame, named as the metrics are, in place
    of numpy arrays: run i logs the same i-th values."""
    return _code_map(shape, lambda source: source.replace(METRICS, AS_FRAME))


def lists_from_file(shape: Shape, rng: random.Random) -> Shape:
    """The params', tags' and datasets' lists saved beside the notebook as runs.json (None as
    null) and read from there, found through __file__ when the code runs as a script."""
    start = "batch_size = [2] * 5 + [4] * 5\n"
    end = 'dataset_context = ["train"] * 5 + ["test"] * 5\n'

    def edit(source: str) -> str:
        if start not in source or end not in source:
            return source
        head, rest = source.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + FROM_FILE + tail

    out = _code_map(shape, edit)
    if out == shape or any(name == "runs.json" for name, _ in shape.files):
        return shape
    return replace(out, files=(*out.files, ("runs.json", json.dumps(LISTS))))


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("metrics_as_dataframe", metrics_as_dataframe),
    Rewrite("lists_from_file", lists_from_file),
)
# Issue 26's rewrite classes these make for this lab (tests/fuzz/test_fuzz.py).
CLASSES = {
    "numpy <-> pandas features, named columns": ("metrics_as_dataframe",),
    "data found through __file__": ("lists_from_file",),
}
