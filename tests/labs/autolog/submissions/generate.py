"""Regenerate the Autologging lab's labelled submissions from its reference.

Run: python tests/labs/autolog/submissions/generate.py. Each labelled submission is the
reference (reference/autolog/) or the course's notebook as handed out (published.ipynb, kept
as the course hands it out) with one deliberate change, named after the outcome it must get
(see tests/labs/autolog/test_grading.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[4]
HERE = Path(__file__).resolve().parent
REFERENCE = ROOT / "reference" / "autolog" / "lab6_autolog.ipynb"
PUBLISHED = HERE / "published.ipynb"

FOREST = "RandomForestRegressor(n_estimators=100, max_depth=6, max_features=3)"
FIT = "rf.fit(X_train, y_train)"


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
    "published_tag_filled": (PUBLISHED, swap(('"YOUR_TAG": "VALUE"', '"owner": "ada"'))),
    "rewrite_sklearn_autolog_default_experiment": (
        REFERENCE,
        swap(
            (
                "mlflow.autolog()\n\ndb",
                'mlflow.set_experiment("Default")\nmlflow.sklearn.autolog()\n\ndb',
            ),
            (
                "train_test_split(db.data, db.target)",
                "train_test_split(db.data, db.target, test_size=0.3)",
            ),
        ),
    ),
    "rewrite_split_named_otherwise": (
        REFERENCE,
        swap(
            (
                "X_train, X_test, y_train, y_test =",
                "features, held_out, targets, held_out_targets =",
            ),
            (FIT, "rf.fit(features, targets)"),
        ),
    ),
    # Wrong, each in one way.
    "loses_connection_bar": (
        REFERENCE,
        swap(('mlflow.log_metric("bar", 2)', 'mlflow.log_metric("bar", 3)')),
    ),
    "loses_params_max_depth": (
        REFERENCE,
        swap((FOREST, FOREST.replace("max_depth=6", "max_depth=5"))),
    ),
    "loses_model_not_logged": (
        REFERENCE,
        swap(("mlflow.autolog()\n\ndb", "mlflow.autolog(log_models=False)\n\ndb")),
    ),
    "loses_training_metrics_fit_on_test": (REFERENCE, swap((FIT, "rf.fit(X_test, y_test)"))),
    # An imitation of the right values: the params and metrics of another run typed in, the
    # model logged by hand, no autologging.
    "fake_typed_in_without_autolog": (
        REFERENCE,
        swap(
            ("mlflow.autolog()\n\ndb", "db"),
            (
                FIT,
                "with mlflow.start_run():\n"
                '    mlflow.log_params({"n_estimators": 100, "max_depth": 6, "max_features": 3})\n'
                f"    {FIT}\n"
                "    mlflow.log_metrics(\n"
                '        {"training_mean_squared_error": 1275.43, "training_mean_absolute_error":'
                ' 29.7142, "training_r2_score": 0.786531}\n'
                "    )\n"
                '    mlflow.sklearn.log_model(rf, name="model", serialization_format="cloudpickle")',
            ),
        ),
    ),
}


def main() -> None:
    for name, (base, edit) in VARIANTS.items():
        nbformat.write(variant(base, edit), HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
