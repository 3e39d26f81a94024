"""Regenerate the Logging a Model lab's labelled submissions.

Run: python tests/labs/logging/submissions/generate.py. Each labelled submission is the
reference (reference/logging/) or the course-shaped notebook (published.ipynb, the course's
code as handed out, its pandas 2 and MLflow 2 spellings included) with one deliberate change,
named after the outcome it must get (see tests/labs/logging/test_grading.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[4]
HERE = Path(__file__).resolve().parent
REFERENCE = ROOT / "reference" / "logging" / "lab2_logging_model.ipynb"
PUBLISHED = HERE / "published.ipynb"

LOG_MODEL = (
    "mlflow.sklearn.log_model(sk_model=rf, input_example=X_val, artifact_path=artifact_path)"
)


def swap(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """Replaces each OLD by NEW in the cells that hold it (variant() checks each one did)."""

    def edit(source: str) -> str:
        for old, new in pairs:
            source = source.replace(old, new)
        return source

    edit.pairs = pairs  # type: ignore[attr-defined]
    return edit


def variant(base: Path, edit: Callable[[str], str]) -> nbformat.NotebookNode:
    nb = nbformat.read(base, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for old, _ in getattr(edit, "pairs", ()):
        if old not in code:
            raise SystemExit(f"generate.py: {old!r} is not in {base.name} any more")
    before = [c.source for c in nb.cells]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = edit(cell.source)
    if [c.source for c in nb.cells] == before:
        raise SystemExit("generate.py: a variant changed nothing")
    return nb


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
    for name, (base, edit) in VARIANTS.items():
        nbformat.write(variant(base, edit), HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
