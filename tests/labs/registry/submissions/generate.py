"""Regenerate the Model Registry lab's labelled submissions from its reference.

Run: python tests/labs/registry/submissions/generate.py. Each labelled submission is the
reference (reference/registry/) or the course's published notebook
(published_placeholders.ipynb, kept as the course hands it out) with one deliberate change,
named after the outcome it must get (see tests/labs/registry/test_grading.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
# Run as a script (`python tests/labs/<id>/submissions/generate.py`): the checkout's
# tests package is not on the path by itself.
sys.path.insert(0, str(ROOT))

from tests.labs.variants import drop, swap, write_variants  # noqa: E402

HERE = Path(__file__).resolve().parent
REFERENCE = ROOT / "reference" / "registry" / "lab5_model_registry.ipynb"
PUBLISHED = HERE / "published_placeholders.ipynb"
# A run id as a student copies it from the MLflow UI of their own server.
TYPED = "0123456789abcdef0123456789abcdef"

STEP2 = 'model_uri = f"runs:/{run_id}/sklearn-model"'
STEP4_SOURCE = "    source=model_info.model_uri,\n    run_id=run.info.run_id,\n    model_id=model_info.model_id,\n"
STEP5 = 'model_uri="models:/sk-learn-random-forest-reg-model/1"'
STEP6 = 'name="sk-learn-random-forest-reg-model", version=1, stage="Archived"'


VARIANTS: dict[str, tuple[Path, Callable[[str], str]]] = {
    # Correct, written another way: 100.
    "published_typed_ids": (PUBLISHED, swap(("UPDATE_HERE", TYPED))),
    "rewrite_register_logged_uri": (
        REFERENCE,
        swap((STEP2, "model_uri = model_info.model_uri")),
    ),
    "rewrite_register_from_version": (
        REFERENCE,
        swap((STEP2, 'model_uri = "models:/sk-learn-random-forest-reg-model/1"')),
    ),
    "rewrite_guide_source": (
        REFERENCE,
        swap(
            (
                STEP4_SOURCE,
                '    source=f"mlflow-artifacts:/0/{run.info.run_id}/artifacts/sklearn-model",\n'
                "    run_id=run.info.run_id,\n",
            )
        ),
    ),
    "rewrite_own_skops_fix": (
        REFERENCE,
        swap(
            (
                "        signature=signature,\n",
                '        signature=signature,\n        serialization_format="cloudpickle",\n',
            )
        ),
    ),
    "rewrite_alias_and_lowercase_stage": (
        REFERENCE,
        swap(
            (
                STEP5,
                'model_uri="models:/sk-learn-random-forest-reg-model@champion"',
            ),
            (
                "import mlflow.pyfunc\n",
                "import mlflow.pyfunc\n\nMlflowClient().set_registered_model_alias("
                '"sk-learn-random-forest-reg-model", "champion", 1)\n',
            ),
            ('stage="Archived"', 'stage="archived"'),
        ),
    ),
    # Wrong, each in one way.
    "loses_register_model": (REFERENCE, drop("mlflow.register_model(")),
    "loses_register_model_wrong_name": (
        REFERENCE,
        swap(('"sk-learn-random-forest-reg")', '"sk-learn-random-forest-regressor")')),
    ),
    "loses_client_version": (REFERENCE, drop("create_model_version(")),
    "loses_load_version_logged_model": (
        REFERENCE,
        swap((STEP5, "model_uri=model_info.model_uri")),
    ),
    "loses_archived_version_2": (REFERENCE, swap((STEP6, STEP6.replace("1", "2")))),
    "loses_run_mse_on_train": (
        REFERENCE,
        swap(
            (
                'mlflow.log_metrics({"mse": mean_squared_error(y_test, y_pred)})',
                'mlflow.log_metrics({"mse": mean_squared_error(y_train, model.predict(X_train))})',
            )
        ),
    ),
    "loses_run_params_unlike_model": (
        REFERENCE,
        swap(
            (
                "model = RandomForestRegressor(**params)",
                "model = RandomForestRegressor(max_depth=3, random_state=42)",
            )
        ),
    ),
    "loses_registered_at_log_no_signature": (
        REFERENCE,
        swap(("        signature=signature,\n", "")),
    ),
    # Imitations of the right values.
    "fake_mse_typed_in": (
        REFERENCE,
        swap(
            (
                'mlflow.log_metrics({"mse": mean_squared_error(y_test, y_pred)})',
                'mlflow.log_metrics({"mse": 356.6847104398046})',
            )
        ),
    ),
    "fake_predictions_without_registry": (
        REFERENCE,
        swap(
            (
                'model = mlflow.pyfunc.load_model(model_uri="models:/sk-learn-random-forest-reg-model/1")',
                "model = model  # the forest trained in Step 1, not the registered version",
            )
        ),
    ),
    "error_untrusted_skops": (
        REFERENCE,
        swap(
            (
                "        signature=signature,\n",
                "        signature=signature,\n        skops_trusted_types=[],\n",
            )
        ),
    ),
}


def main() -> None:
    write_variants(VARIANTS, HERE)


if __name__ == "__main__":
    main()
