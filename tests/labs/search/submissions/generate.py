"""Regenerate the Search Runs lab's labelled submissions from its reference.

Run: python tests/labs/search/submissions/generate.py. Each labelled submission is the
reference (reference/search/) or the course-shaped notebook (published_placeholders.ipynb, kept
as the course hands it out, placeholders left) with one deliberate change, named after the
outcome it must get (see tests/labs/search/test_grading.py).
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
REFERENCE = ROOT / "reference" / "search" / "lab4_search_runs.ipynb"
PUBLISHED = HERE / "published_placeholders.ipynb"
# Run ids as a student copies them from the MLflow UI of their own server.
TYPED = ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210")
PLACEHOLDERS = 'run_ids = ["UPDATE_RUNID_HERE", "UPDATE_RUNID2_HERE"]'


VARIANTS: dict[str, tuple[Path, Callable[[str], str]]] = {
    # Correct, written another way: 100.
    "published_typed_ids": (
        PUBLISHED,
        swap((PLACEHOLDERS, f"run_ids = [{TYPED[0]!r}, {TYPED[1]!r}]")),
    ),
    # Lists of runs (output_format="list", MlflowClient.search_runs) in place of DataFrames,
    # and the complex filter's ids from a list of runs.
    "rewrite_lists_of_runs": (
        REFERENCE,
        swap(
            (
                'filter_string="metrics.loss > 0.8", search_all_experiments=True\n',
                'filter_string="metrics.loss > 0.8",\n    search_all_experiments=True,\n'
                '    output_format="list",\n',
            ),
            (
                "    max_results=1,\n",
                '    max_results=1,\n    output_format="list",\n',
            ),
            (
                "gpt_4_runs_global = mlflow.search_runs(\n",
                "experiments = [e.experiment_id for e in mlflow.search_experiments()]\n"
                "gpt_4_runs_global = mlflow.MlflowClient().search_runs(\n"
                "    experiments,\n",
            ),
            ("    search_all_experiments=True,\n)", ")"),
        ),
    ),
    # Wrong, each in one way.
    "loses_runs_f1_underscore": (
        REFERENCE,
        swap(('"f1 score": f1_score[i]', '"f1_score": f1_score[i]')),
    ),
    "loses_datasets_no_context": (
        REFERENCE,
        swap(
            ("mlflow.log_input(dataset, context=dataset_context[i])", "mlflow.log_input(dataset)")
        ),
    ),
    "loses_bad_runs_at_least": (
        REFERENCE,
        swap(('filter_string="metrics.loss > 0.8"', 'filter_string="metrics.loss >= 0.8"')),
    ),
    "loses_ordered_ascending": (
        REFERENCE,
        swap(
            (
                "active_runs_ordered_by_accuracy = mlflow.search_runs(\n"
                '    experiment_names=["search-run-guide"],\n'
                "    run_view_type=ViewType.ACTIVE_ONLY,\n"
                '    order_by=["metrics.accuracy DESC"],',
                "active_runs_ordered_by_accuracy = mlflow.search_runs(\n"
                '    experiment_names=["search-run-guide"],\n'
                "    run_view_type=ViewType.ACTIVE_ONLY,\n"
                '    order_by=["metrics.accuracy ASC"],',
            )
        ),
    ),
    "loses_highest_without_max_results": (REFERENCE, swap(("    max_results=1,\n", ""))),
    # The right runs typed in: ids of another server, not what a search returned here.
    "fake_bad_runs_typed_in": (
        REFERENCE,
        swap(
            (
                'import mlflow\n\nbad_runs = mlflow.search_runs(\n    filter_string="metrics.loss >'
                ' 0.8", search_all_experiments=True\n)',
                f"import pandas as pd\n\ntyped = {list(TYPED)!r}\n"
                'bad_runs = pd.DataFrame({"run_id": typed})',
            )
        ),
    ),
    # A name with a space left unquoted in the filter: MLflow refuses it, the notebook stops.
    "error_filter_unquoted_name": (
        REFERENCE,
        swap(('AND metrics."f1 score" < 0.5', "AND metrics.f1 score < 0.5")),
    ),
}


def main() -> None:
    write_variants(VARIANTS, HERE)


if __name__ == "__main__":
    main()
