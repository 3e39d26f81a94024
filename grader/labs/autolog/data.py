"""The Autologging lab's data: scikit-learn's diabetes set, whole (Step 2 loads it).

The notebook splits it without a seed, so the grader asks the logged model to predict every
row and reads the rows of the notebook's own X_train (SPLIT_VARIABLES) from the kernel.
"""

from __future__ import annotations

import functools

from grader.engine.lab import TestSplit

# Step 2's training split, as the lab names it: the checks find its rows in the data.
SPLIT_VARIABLES = ("X_train", "y_train")


@functools.lru_cache(maxsize=1)
def diabetes() -> TestSplit:
    """Every row of load_diabetes() and its target, in the data set's order."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return TestSplit(data.data, tuple(float(v) for v in data.target))
