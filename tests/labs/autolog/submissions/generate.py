"""Regenerate the Autologging lab's labelled submissions from its reference.

Run: python tests/labs/autolog/submissions/generate.py. Each labelled submission is the
reference (reference/autolog/) or the course's notebook as handed out (published.ipynb, kept
as the course hands it out) with one deliberate change, named after the outcome it must get
(see tests/labs/autolog/test_grading.py).
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
REFERENCE = ROOT / "reference" / "autolog" / "lab6_autolog.ipynb"
PUBLISHED = HERE / "published.ipynb"

FOREST = "RandomForestRegressor(n_estimators=100, max_depth=6, max_features=3)"
FIT = "rf.fit(X_train, y_train)"


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
    write_variants(VARIANTS, HERE)


if __name__ == "__main__":
    main()
