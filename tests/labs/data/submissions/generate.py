"""Regenerate the mlflow.data lab's labelled submissions from the course-shaped notebook.

Run: python tests/labs/data/submissions/generate.py. Each labelled submission is the
course-shaped notebook (published.ipynb, as the course hands it out: read_csv without sep=";")
with one deliberate change, named after the outcome it must get
(see tests/labs/data/test_grading.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
# Run as a script (`python tests/labs/<id>/submissions/generate.py`): the checkout's
# tests package is not on the path by itself.
sys.path.insert(0, str(ROOT))

from tests.labs.variants import swap, write_variants  # noqa: E402

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published.ipynb"
COLUMNS = (
    '["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",'
    ' "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",'
    ' "quality"]'
)


VARIANTS: dict[str, tuple[Path, Callable[[str], str]]] = {
    # Correct, written another way: twelve columns (sep=";") in place of the course's one.
    "rewrite_sep_semicolon": (
        PUBLISHED,
        swap(("pd.read_csv(dataset_source_url)", 'pd.read_csv(dataset_source_url, sep=";")')),
    ),
    # The same address with https (where the real one now sends it): the same file.
    "rewrite_https": (
        PUBLISHED,
        swap(('"http://archive', '"https://archive')),
    ),
    # One slip per check.
    "loses_logged_input_context_train": (
        PUBLISHED,
        swap(('context="training"', 'context="train"')),
    ),
    "loses_read_back_own_dataset": (
        PUBLISHED,
        swap(("dataset_info = run.inputs.dataset_inputs[0].dataset", "dataset_info = dataset")),
    ),
    "loses_source_loaded_not_loaded": (
        PUBLISHED,
        swap(("dataset_source.load()", "print(dataset_source)")),
    ),
    "loses_pandas_targets_swapped": (
        PUBLISHED,
        swap(
            (
                'targets="Label", predictions="ModelOutput"',
                'targets="ModelOutput", predictions="Label"',
            )
        ),
    ),
    "loses_numpy_basic_shape": (
        PUBLISHED,
        swap(
            ("x = np.random.uniform(size=[2, 5, 4])\n", "x = np.random.uniform(size=[2, 4, 5])\n")
        ),
    ),
    "loses_numpy_dict_one_feature": (
        PUBLISHED,
        swap(('    "feature_2": np.random.uniform(size=[2, 5, 4]),\n', "")),
    ),
    # An imitation: a frame typed in with the file's columns, given the URL as its source,
    # never read from it.
    "fake_wine_typed_in": (
        PUBLISHED,
        swap(
            (
                "df = pd.read_csv(dataset_source_url)",
                "df = pd.DataFrame([[7.4, 0.7, 0.0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56,"
                f" 9.4, 5]], columns={COLUMNS})",
            )
        ),
    ),
}


def main() -> None:
    write_variants(VARIANTS, HERE)


if __name__ == "__main__":
    main()
