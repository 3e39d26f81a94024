"""The grader end to end on labelled submissions: `pytest grader --submission X --grade-json J`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.helpers import CHECK_IDS, ROOT, SUBMISSIONS, GradingRun
from tests.labs.tracking.submissions.generate import write_heavy

ALL = frozenset(CHECK_IDS)


@dataclass(frozen=True)
class Case:
    path: Path
    score: float
    status: str = "ok"
    failing: frozenset[str] = frozenset()
    # check id (or "execution", or "output" for the terminal) -> fragments that must appear
    says: dict[str, tuple[str, ...]] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    # On a fresh server the lab's experiment is the first after Default, unless the notebook
    # made others before it.
    experiment_id: str = "1"

    @property
    def id(self) -> str:
        return self.path.stem if self.path.parent == SUBMISSIONS else self.path.parent.name


def sub(name: str) -> Path:
    return SUBMISSIONS / name


# Where the error submissions raise, as feedback names it: the third code cell (the sixth
# cell, counting the markdown ones Jupyter does not number).
SET_URI_CELL = "the code cell starting `# Set our tracking server uri for logging` (code cell 3)"

CASES = [
    Case(
        ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb",
        100,
        says={"output": ("MLflow Tracking lab: 100/100", "grader: submission")},
    ),
    Case(
        ROOT / "student_template" / "tracking" / "lab1_tracking_quickstart.ipynb",
        0,
        failing=frozenset(ALL),
        says={
            "experiment": ('no experiment named "MLflow Quickstart"', "Step 4"),
            "params": ("no run was logged",),
            "predictions": ("`result` or `predictions`", "Step 5"),
        },
    ),
    Case(
        sub("full_marks_published.ipynb"),
        100,
        says={"output": ("artifact_path=...) is deprecated in MLflow 3", "multi_class is deprec")},
    ),
    Case(sub("full_marks_mlflow3.ipynb"), 100),
    Case(sub("full_marks_script.py"), 100),
    Case(
        sub("full_marks_hardcoded_uri.ipynb"),
        100,
        says={
            "output": (
                "http://127.0.0.1:8081",
                "http://localhost:8081",
                "throwaway server instead (a temporary one, gone once grading ended)",
            )
        },
    ),
    Case(sub("full_marks_rerun.ipynb"), 100, says={"output": ("best complete one of 3 runs",)}),
    Case(sub("full_marks_cleanup.ipynb"), 100, says={"experiment": ("deleted",)}),
    Case(
        sub("full_marks_pip_cell.ipynb"),
        100,
        says={
            "output": (
                "did not run `%pip install mlflow scikit-learn`",
                "did not run `!mlflow server",
            )
        },
    ),
    Case(
        sub("loses_experiment.ipynb"),
        90,
        failing=frozenset({"experiment"}),
        says={"experiment": ('"MLflow quickstart "', "only in case or spaces")},
    ),
    Case(
        sub("loses_params.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={"params": ("random_state missing", "mlflow.log_params")},
    ),
    Case(
        sub("loses_metric.ipynb"),
        85,
        failing=frozenset({"metric"}),
        says={"metric": ("accuracy=0.975 is logged", "scores 1 on the lab's test split")},
    ),
    Case(
        sub("loses_metric_typed_wrong.ipynb"),
        85,
        failing=frozenset({"metric"}),
        says={"metric": ("0.97 is logged as a number typed into the code", "accuracy variable")},
    ),
    Case(
        sub("loses_metric_hardcoded.ipynb"),
        85,
        failing=frozenset({"metric"}),
        says={"metric": ("typed into the code",)},
    ),
    Case(
        sub("loses_tag.ipynb"),
        90,
        failing=frozenset({"tag"}),
        says={"tag": ('no "Training Info" tag', "mlflow.set_tag")},
    ),
    Case(
        sub("loses_signature.ipynb"),
        85,
        failing=frozenset({"signature"}),
        says={"signature": ("no signature", "no input example")},
    ),
    Case(
        sub("loses_registered_model.ipynb"),
        80,
        failing=frozenset({"registered_model"}),
        says={
            "registered_model": (
                'no registered model "tracking-quickstart"',
                "was logged but not registered",
                'Expected: mlflow.sklearn.log_model(..., registered_model_name="tracking-quick',
                'mlflow.register_model(model_info.model_uri, "tracking-quickstart")',
            )
        },
    ),
    Case(
        sub("loses_registered_model_name.ipynb"),
        80,
        failing=frozenset({"registered_model"}),
        says={
            "registered_model": (
                'is registered as "tracking_quickstart" (version 1), not as "tracking-quickstart"',
                'pass registered_model_name="tracking-quickstart"',
            )
        },
    ),
    Case(
        sub("loses_params_renamed_key.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={
            "params": (
                "random_state missing",
                'random_state was logged under the key "seed" (seed=8888)',
                'Expected: params = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}',
            )
        },
    ),
    Case(
        sub("loses_metric_renamed.ipynb"),
        85,
        failing=frozenset({"metric"}),
        says={
            "metric": (
                "metrics: test_accuracy=1",
                'the accuracy was logged as "test_accuracy"',
                'mlflow.log_metric("accuracy", accuracy)',
            )
        },
    ),
    Case(
        sub("loses_predictions_sklearn_flavor.ipynb"),
        85,
        failing=frozenset({"predictions"}),
        says={"predictions": ("mlflow.sklearn.load_model gives back the scikit-learn model",)},
    ),
    Case(
        sub("error_artifact_path_and_name.ipynb"),
        20,
        status="error",
        failing=frozenset({"params", "metric", "signature", "registered_model", "predictions"}),
        says={
            "execution": ("Both `artifact_path` (deprecated) and `name`", "Fix: MLflow 3 renamed"),
            "signature": ("renamed log_model's artifact_path= to name=", 'only name="iris_model"'),
            "params": (
                "the run is FAILED",
                f"the notebook stopped with MlflowException in {SET_URI_CELL}",
            ),
        },
    ),
    Case(
        sub("error_training_inside_run.ipynb"),
        10,
        status="error",
        failing=ALL - {"experiment"},
        says={
            "execution": ("LogisticRegression.fit() missing 1 required positional argument",),
            "params": ("training is inside `with mlflow.start_run():`", "lab's Step 4 note"),
            "tag": (
                (f"the notebook stopped with TypeError in {SET_URI_CELL} before this was logged"),
            ),
        },
    ),
    Case(
        sub("loses_predictions.ipynb"),
        85,
        failing=frozenset({"predictions"}),
        says={
            "predictions": (
                "mlflow.pyfunc.load_model",
                "made with the scikit-learn model (lr.predict(X_test))",
            )
        },
    ),
    # A shell escape that fails (a typo in the script's name): the notebook goes on, and the
    # feedback names the command, its exit status and what it printed.
    Case(
        sub("error_shell_command_fails"),
        0,
        failing=ALL,
        says={"output": ("`!python trian.py`", "exited with status 2", "can't open file")},
    ),
    Case(
        sub("error_in_cell.ipynb"),
        20,
        status="error",
        # No model was logged: nothing shows the logged params are a trained model's.
        failing=frozenset({"params", "metric", "signature", "registered_model", "predictions"}),
        says={
            "execution": (f"{SET_URI_CELL} raised NameError", "signatures", "Fix:"),
            "metric": ("cannot be verified",),
            "params": (
                "the run logged no model",
                f"the notebook stopped with NameError in {SET_URI_CELL}",
            ),
        },
    ),
    Case(
        sub("timeout_after_logging.ipynb"),
        85,
        status="timeout",
        failing=frozenset({"predictions"}),
        flags=("--grade-timeout", "60"),
        says={"execution": ("60 s limit", "the code cell starting `import time` (code cell 4)")},
    ),
    # Equivalent rewrites of the reference (submissions/generate.py EQUIVALENT): 100.
    Case(
        sub("rewrite_env_var_uri.ipynb"),
        100,
        says={"output": ("MLFLOW_TRACKING_URI in os.environ or %env", "http://127.0.0.1:8080")},
    ),
    Case(
        sub("rewrite_percent_env_uri.ipynb"),
        100,
        says={"output": ("MLFLOW_REGISTRY_URI in os.environ or %env", "throwaway server")},
    ),
    Case(
        sub("rewrite_client_positional.ipynb"),
        100,
        says={"output": ("MlflowClient(tracking_uri=...)",)},
    ),
    Case(sub("rewrite_main_function.py"), 100),
    Case(sub("rewrite_helper_module"), 100, says={"output": ("MLFLOW_TRACKING_URI",)}),
    Case(sub("rewrite_nested_child_run.ipynb"), 100),
    Case(sub("rewrite_register_model_after.ipynb"), 100),
    Case(sub("rewrite_create_model_version.ipynb"), 100),
    Case(sub("rewrite_experiment_id.ipynb"), 100),
    Case(sub("rewrite_experiment_env.ipynb"), 100),
    Case(sub("rewrite_autolog.ipynb"), 100),
    Case(sub("rewrite_named_columns.ipynb"), 100),
    Case(sub("rewrite_scratch_run.ipynb"), 100, experiment_id="2"),
    Case(sub("rewrite_metric_history.ipynb"), 100),
    Case(sub("rewrite_class_and_loop.ipynb"), 100),
    Case(sub("rewrite_predict_row_by_row.ipynb"), 100),
    Case(sub("rewrite_crlf.py"), 100),
    Case(sub("rewrite_bom.py"), 100),
    Case(sub("rewrite_shell_escape"), 100, says={"output": ("throwaway server",)}),
    Case(sub("rewrite_subprocess"), 100),
    Case(sub("rewrite_bom.ipynb"), 100),
    Case(
        sub("rewrite_argparse_script"),
        100,
        says={"output": ("the script ended with exit status 0",)},
    ),
    Case(sub("rewrite_nbformat_42.ipynb"), 100),
    # Not the lab (NOT_THE_LAB): each loses exactly what the README's check table says.
    Case(
        sub("not_lab_params_differ.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={
            "params": (
                "was trained with max_iter=200, random_state=1, not the logged max_iter=1000,"
                " random_state=8888",
                "LogisticRegression(**params)",
            )
        },
    ),
    Case(
        sub("not_lab_other_estimator.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={"params": ("RidgeClassifier, not a LogisticRegression",)},
    ),
    Case(
        sub("not_lab_pyfunc_wrapper.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={
            "params": (
                "has no sklearn flavor (flavors: python_function; it holds a __main__.Wrapped)",
            )
        },
    ),
    Case(
        sub("not_lab_constant_model.ipynb"),
        85,
        failing=frozenset({"params"}),
        says={"params": ("it holds a __main__.AlwaysSetosa)",)},
    ),
    Case(
        sub("not_lab_predict_train.ipynb"),
        85,
        failing=frozenset({"predictions"}),
        says={"predictions": ("holds 120 values that differ from what the model predicts",)},
    ),
    Case(
        sub("invalid_not_json.ipynb"),
        0,
        status="invalid",
        failing=frozenset(ALL),
        says={"execution": ("invalid JSON",), "stderr": ("invalid_not_json.ipynb",)},
    ),
]
PARAMS = [
    pytest.param(
        c,
        id=c.id,
        marks=[
            pytest.mark.xdist_group(c.id),
            pytest.mark.slow,
            *([pytest.mark.long] if c.status == "timeout" else []),  # waits out its limit
        ],
    )
    for c in CASES
]

Grade = Callable[..., GradingRun]


def _run(graded_run: Grade, case: Case) -> GradingRun:
    return graded_run(case.path, *case.flags)


@pytest.mark.parametrize("case", PARAMS)
def test_score_status_and_verdicts(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    assert run.result is not None, run.stderr
    assert run.result["execution"]["status"] == case.status, run.result["execution"]
    assert run.result["score"] == case.score, [c["message"] for c in run.result["checks"]]
    assert run.result["max_score"] == 100
    failed = {c["id"] for c in run.result["checks"] if not c["passed"]}
    assert failed == case.failing
    for check in run.result["checks"]:
        assert check["score"] == (check["max_score"] if check["passed"] else 0)


@pytest.mark.parametrize("case", PARAMS)
def test_messages_say_what_to_fix(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    assert run.result is not None
    texts = {c["id"]: c["message"] for c in run.result["checks"]}
    texts["execution"] = run.result["execution"]["error"] or ""
    texts["output"], texts["stderr"] = run.stdout, run.stderr
    for where, fragments in case.says.items():
        for fragment in fragments:
            assert fragment in texts[where], f"{where}: {texts[where]!r}"
    # The throwaway server is gone when the student reads this: its address is never cited.
    server = run.result["tracking"]["server"]
    shown = [c["message"] for c in run.result["checks"]]
    shown.append(run.result["execution"]["error"] or "")
    shown += [line for line in run.stdout.splitlines() if "throwaway server instead" in line]
    assert not server or not any(server in text for text in shown)
    for check in run.result["checks"]:
        if not check["passed"] and case.status != "invalid":
            # Each failure names its lab step and shows the call the lab expects.
            assert "revisit Step" in check["message"]
            assert ". Expected: " in check["message"]


@pytest.mark.parametrize("case", PARAMS)
def test_exit_code_and_json_shape(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    expected = {100: 0}.get(int(case.score), 1) if case.status != "invalid" else 4
    assert run.exit_code == expected, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.result is not None
    assert set(run.result) == {
        "submission",
        "score",
        "max_score",
        "checks",
        "execution",
        "tracking",
        "notes",
    }
    assert all(isinstance(note, str) for note in run.result["notes"])
    assert tuple(c["id"] for c in run.result["checks"]) == CHECK_IDS
    for check in run.result["checks"]:
        assert set(check) == {"id", "title", "score", "max_score", "passed", "message"}
    assert set(run.result["execution"]) == {"status", "seconds", "error"}
    assert set(run.result["tracking"]) == {"server", "experiment_id", "run_id"}
    if case.status != "invalid":
        assert run.result["tracking"]["server"].startswith("http://127.0.0.1:")
        assert f"grader: tracking server {run.result['tracking']['server']}" in run.stdout
        # The grading's progress comes before the line of the check tests' results, which
        # therefore names their file once, not once before the progress and once after.
        results = [ln for ln in run.stdout.splitlines() if ln.startswith("grader/test_lab.py ")]
        assert len(results) == 1, run.stdout[:3000]
        assert run.stdout.index("grader: executed in") < run.stdout.index(results[0])
    if case.status == "invalid":
        assert "Traceback" not in run.stdout + run.stderr
        assert len([ln for ln in run.stderr.splitlines() if ln.strip()]) == 1, run.stderr


@pytest.mark.parametrize("case", PARAMS)
def test_nothing_left_running(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    assert run.leftovers == []


@pytest.mark.parametrize("case", [p for p in PARAMS if p.values[0].score < 100])
def test_failing_checks_show_their_reason_not_a_traceback(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    if case.status == "invalid":
        return
    assert "FAILED grader/test_lab.py::test_check[" in run.stdout
    assert "grader/engine/output/results.py" not in run.stdout  # a reason, not the grader's innards
    assert "Captured stderr" not in run.stdout  # nor the kernel's chatter
    for check_id in case.failing:
        title = run.check(check_id)["title"]
        block = run.stdout.split(f"{title} (0/", 1)[1].split("\n_", 1)[0]
        assert "  found:    " in block
        assert "  expected: " in block


@pytest.mark.parametrize("case", [p for p in PARAMS if len(p.values[0].failing) == 1])
def test_one_failing_check_fits_one_screen(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    report = run.stdout.split("= FAILURES =", 1)[1]
    # From the failure to the exit line: what to change and the score table, 50 rows at most.
    assert len(report.splitlines()) <= 30
    assert sum(len(line) // 120 + 1 for line in report.splitlines()) <= 50


@pytest.mark.parametrize("case", PARAMS)
def test_student_files_are_never_written(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    assert run.changed_files == []


@pytest.mark.parametrize("case", [p for p in PARAMS if p.values[0].status != "invalid"])
def test_junit_xml_has_one_case_per_check(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    cases = ElementTree.fromstring(run.junit).iter("testcase")
    verdicts = {c.get("name"): c.find("failure") is None for c in cases}
    assert verdicts == {f"test_check[{cid}]": cid not in case.failing for cid in sorted(ALL)}


@pytest.mark.parametrize("case", [p for p in PARAMS if "experiment" not in p.values[0].failing])
def test_every_grading_gets_a_fresh_server(graded_run: Grade, case: Case) -> None:
    run = _run(graded_run, case)
    assert run.result is not None
    # Nothing was reused: the lab's experiment has the id a fresh server gives it.
    assert run.result["tracking"]["experiment_id"] == case.experiment_id


HEAVY = ("heavy_image_outputs", "heavy_1500_cells", "heavy_20000_metric_values")
# Seconds of execution that no heavy-but-correct submission needs on the 2-core CI machine:
# a guard against work that grows out of proportion (per cell, per output byte, per logged
# value), not a speed target (those are measured by `python -m grader.bench`).
SANE_SECONDS = 150


@pytest.fixture(scope="session")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_heavy(tmp_path_factory.mktemp("heavy"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in HEAVY])
def test_heavy_but_correct_submissions_get_full_marks(
    graded_run: Grade, heavy: dict[str, Path], name: str
) -> None:
    run = graded_run(heavy[name])
    assert run.result is not None, run.stderr[-2000:]
    assert run.result["execution"]["status"] == "ok", run.result["execution"]
    assert run.result["score"] == 100, [c["message"] for c in run.result["checks"]]
    assert run.result["execution"]["seconds"] < SANE_SECONDS
    assert run.leftovers == []
