"""Regenerate the Logging a Model lab's labelled submissions.

Run: python tests/labs/logging/submissions/generate.py. Each labelled submission is the
reference (reference/logging/) or the course-shaped notebook (published.ipynb, the course's
code as handed out, its pandas 2 and MLflow 2 spellings included) with one deliberate change,
named after the outcome it must get (see tests/labs/logging/test_grading.py).
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
REFERENCE = ROOT / "reference" / "logging" / "lab2_logging_model.ipynb"
PUBLISHED = HERE / "published.ipynb"

LOG_MODEL = (
    "mlflow.sklearn.log_model(sk_model=rf, input_example=X_val, artifact_path=artifact_path)"
)


VARIANTS: dict[str, tuple[Path, Callable[[str], str]]] = {
    # Correct, written another way: 100.
    "rewrite_head_example_one_metric_each": (
        PUBLISHED,
        swap(
            ("input_example=X_val,", "input_example=X_val.head(5),"),
            (
                "    mlflow.log_metrics(metrics)",
                "    for key, value in metrics.items():\n        mlflow.log_metric(key, value)",
            ),
            ('.fillna(method="bfill", inplace=True)', ".bfill(inplace=True)"),
        ),
    ),
    # Wrong, each in one way.
    "loses_experiment_tags": (
        PUBLISHED,
        swap(('    "store_dept": "produce",\n', ""), ('"Q3-2023"', '"Q4-2023"')),
    ),
    "loses_run_name": (PUBLISHED, swap(('run_name = "apples_rf_test"', 'run_name = "apples_rf"'))),
    "loses_params_unlike_model": (
        PUBLISHED,
        swap(("rf = RandomForestRegressor(**params)", "rf = RandomForestRegressor(max_depth=4)")),
    ),
    "loses_metrics_on_train": (
        PUBLISHED,
        swap(
            ("y_pred = rf.predict(X_val)", "y_pred = rf.predict(X_train)"),
            ("(y_val, y_pred)", "(y_train, y_pred)"),
        ),
    ),
    # Its split named otherwise: the metrics are recomputed on the notebook's own X_val and
    # y_val, which it does not leave; what the model is still counts.
    "loses_metrics_split_renamed": (
        PUBLISHED,
        lambda text: text.replace("X_val", "X_valid").replace("y_val", "y_valid"),
    ),
    "loses_model_array_example": (
        PUBLISHED,
        swap(("input_example=X_val,", "input_example=X_val.to_numpy(),")),
    ),
    # Imitations of the right values: the numbers a run on 2026-12-07 logged, typed in.
    "fake_metrics_typed_in": (
        PUBLISHED,
        swap(
            (
                "    mlflow.log_metrics(metrics)",
                "    mlflow.log_metrics("
                '{"mae": 47.2115, "mse": 3681.58, "rmse": 60.676, "r2": 0.9})',
            )
        ),
    ),
}


def main() -> None:
    write_variants(VARIANTS, HERE)


if __name__ == "__main__":
    main()
