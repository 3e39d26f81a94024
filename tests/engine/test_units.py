"""Fast checks of the grader's parts that need no server: `pytest tests -m "not slow"`."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader.engine.evidence.common_slips import hard_coded_metric as _hard_coded
from grader.engine.evidence.common_slips import typed_metric
from grader.engine.evidence.records import MetricCall, NamespaceCapture
from grader.engine.evidence.rubric import load_rubric
from grader.engine.grading import invalid_result
from grader.engine.kernel.execution import _neutralized, _prepared, kernel_side_call, redirect_note
from grader.engine.kernel.submission import load_submission, script_to_notebook
from grader.engine.output.report import score_table
from grader.engine.output.results import GradeResult
from grader.errors import GraderError, InvalidSubmission, RubricError
from grader.labs.tracking.hints import hint_for
from grader.platforms.release import student_rubric
from tests.helpers import CHECK_IDS, ROOT, SUBMISSIONS, TRACKING, finish, start_grader

KNOWN_IDS = TRACKING.known_ids
DEFAULT_RUBRIC = TRACKING.rubric_path


def test_default_rubric_has_the_contract_ids_and_totals_100() -> None:
    rubric = load_rubric(DEFAULT_RUBRIC, KNOWN_IDS)
    assert tuple(rubric.ids) == CHECK_IDS
    assert [c.points for c in rubric.checks] == [10, 15, 15, 10, 15, 20, 15]
    assert rubric.max_score == 100


def test_rubric_rejects_unknown_ids_and_bad_points(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text("[checks.nonsense]\npoints = 5\n")
    with pytest.raises(RubricError, match="unknown check id"):
        load_rubric(bad, KNOWN_IDS)
    bad.write_text('[checks.tag]\npoints = "ten"\n')
    with pytest.raises(RubricError, match="'points' must be a number"):
        load_rubric(bad, KNOWN_IDS)
    bad.write_text("not toml [")
    with pytest.raises(RubricError, match="not valid TOML"):
        load_rubric(bad, KNOWN_IDS)


@pytest.mark.parametrize(
    ("content", "name", "problem"),
    [
        (None, "missing.ipynb", "does not exist"),
        (b"", "empty.ipynb", "is empty"),
        (b"   \n", "blank.py", "only whitespace"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "binary.ipynb", "not UTF-8"),
        (b'{"cells": [', "broken.ipynb", "invalid JSON at line 1"),
        (b'{"hello": 1}', "wrong.ipynb", "not a valid Jupyter notebook"),
        (b"print(1)", "notes.txt", "not a .ipynb notebook or a .py script"),
        (b"# -*- coding: klingon -*-\nprint(1)\n", "odd.py", "cannot be read as Python reads"),
        (b"# coding: latin-1\n\xff\xfe\x00", "bad.ipynb", "not UTF-8"),
    ],
)
def test_invalid_submissions_get_a_one_line_reason(
    tmp_path: Path, content: bytes | None, name: str, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidSubmission) as err:
        load_submission(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("\ufeffx = 'é'\r\n".encode(), "notepad.py"),  # a byte-order mark, CRLF
        ("# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1"), "latin.py"),
        ("\tx = 'é'\f\n".replace("\t", "").encode(), "feed.py"),
    ],
)
def test_a_script_is_read_as_python_reads_it(tmp_path: Path, data: bytes, name: str) -> None:
    (tmp_path / name).write_bytes(data)
    cells = load_submission(tmp_path / name).notebook.cells
    source = cells[0].source
    assert source.startswith(("x = 'é'", "# -*- coding")), source
    assert "\ufeff" not in source
    exec(compile(source, name, "exec"), {})  # what the kernel will run compiles


def test_a_notebook_with_a_byte_order_mark_is_a_notebook(tmp_path: Path) -> None:
    text = (SUBMISSIONS / "loses_tag.ipynb").read_text(encoding="utf-8")
    (tmp_path / "bom.ipynb").write_bytes(text.encode("utf-8-sig"))
    assert load_submission(tmp_path / "bom.ipynb").notebook.cells


def test_hints_speak_to_the_submission_s_kind() -> None:
    from grader.engine.evidence.error_hints import hint_for as any_lab_hint

    script = any_lab_hint("NameError", "name '__file__' is not defined", kind="script")
    notebook = any_lab_hint("NameError", "name 'lr' is not defined")
    assert script is not None
    assert "Restart & Run All" not in script
    assert "script" in script
    assert notebook is not None
    assert "Restart & Run All" in notebook


def test_folder_must_hold_exactly_one_submission(tmp_path: Path) -> None:
    with pytest.raises(InvalidSubmission, match=r"holds no \.ipynb"):
        load_submission(tmp_path)
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / name).write_text((SUBMISSIONS / "loses_tag.ipynb").read_text())
    with pytest.raises(InvalidSubmission, match=r"holds 2 candidates \(a.ipynb, b.ipynb\)"):
        load_submission(tmp_path)
    (tmp_path / "b.ipynb").unlink()
    (tmp_path / "helpers.py").write_text("X = 1\n")  # a notebook beside helpers is the submission
    assert load_submission(tmp_path).path.name == "a.ipynb"


def test_script_splits_on_percent_markers() -> None:
    nb = script_to_notebook("import os\n# %% [markdown]\n# # Title\n# %%\nx = 1\n\n# %%\ny = 2\n")
    assert [c.cell_type for c in nb.cells] == ["code", "markdown", "code", "code"]
    assert nb.cells[1].source == "# Title"
    assert script_to_notebook("a = 1\nb = 2\n").cells[0].source == "a = 1\nb = 2"


def test_install_and_server_lines_are_not_run() -> None:
    source, skipped = _neutralized("%pip install mlflow\nimport os\n  !pip install x\n!mlflow ui")
    assert source == "pass\nimport os\n  pass\npass"
    assert skipped == ["%pip install mlflow", "  !pip install x", "!mlflow ui"]
    assert _neutralized("%%bash\npip install mlflow\n")[0] == "pass"
    assert _neutralized("x = '!pip install'")[1] == []


def test_stored_outputs_and_tags_are_dropped() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", text="=== 7 passed ===")]
    cell.metadata["tags"] = ["skip-execution"]
    nb.cells.append(cell)
    prepared, notes = _prepared(nb)
    assert prepared.cells[0].outputs == []
    assert "tags" not in prepared.cells[0].metadata
    assert nb.cells[0].outputs  # the student's notebook object is untouched
    assert notes == []


def test_hint_for_multi_class_on_new_scikit_learn() -> None:
    # The exact message scikit-learn 1.8+ raises for the lab's published params.
    hint = hint_for(
        "TypeError",
        "LogisticRegression.__init__() got an unexpected keyword argument 'multi_class'",
    )
    assert hint is not None
    assert "scikit-learn" in hint
    assert 'Delete the "multi_class"' in hint
    assert "Step 3" in hint
    assert hint_for("ValueError", "something else") is None


def test_hard_coded_metric_is_detected() -> None:
    assert _hard_coded('mlflow.log_metric("accuracy", 1.0)', "accuracy")
    assert _hard_coded('mlflow.log_metrics({"accuracy": 0.97})', "accuracy")
    assert not _hard_coded('mlflow.log_metric("accuracy", accuracy)', "accuracy")
    assert not _hard_coded("%pip install x\nmlflow.log_metric('accuracy', acc)", "accuracy")
    assert _hard_coded('mlflow.log_metric(key="accuracy", value=0.9, step=1)', "accuracy")
    assert not _hard_coded('mlflow.log_metric(key="accuracy", value=acc, step=1)', "accuracy")


def test_hard_coded_metric_through_the_client_reads_its_own_parameters() -> None:
    """MlflowClient's calls take the run id first (fuzz seed 91008 of lab 5: a typed mse
    logged with client.log_metric(run_id, "mse", 356.68) was taken for a computed one)."""
    typed = 'client.log_metric(run.info.run_id, "mse", 356.68)'
    assert _hard_coded(typed, "mse", client=True)
    assert not _hard_coded('client.log_metric(run.info.run_id, "mse", mse)', "mse", client=True)
    assert _hard_coded('c.log_metric(rid, key="mse", value=-1.5, step=2)', "mse", client=True)
    # A fluent call's third positional parameter is its step, never the value.
    assert not _hard_coded('mlflow.log_metric("mse", mse, 1)', "mse")
    batch = 'c.log_batch(rid, metrics=[Metric("mse", 356.68, 0, 0)])'
    assert _hard_coded(batch, "mse", client=True)
    assert not _hard_coded('c.log_batch(rid, metrics=[Metric("mse", mse, 0, 0)])', "mse", True)
    found = (MetricCall("graded", "mse", 356.68, 0, "cell", 3, typed, client=True),)
    assert typed_metric(NamespaceCapture({}, (), (), metric_calls=found), "graded", "mse")


def test_only_the_call_that_logged_the_graded_value_is_read() -> None:
    """A scratch run's typed accuracy, or a typed step 0 before the computed step 1, never
    costs the graded run: the kernel kept, per run and key, the latest value's own call."""

    def calls(*made: tuple[str, str | None]) -> NamespaceCapture:
        found = tuple(MetricCall(run, "accuracy", 1.0, 1, "cell", 3, call) for run, call in made)
        return NamespaceCapture({}, (), (), metric_calls=found)

    computed = 'mlflow.log_metric("accuracy", accuracy, step=1)'
    typed = 'mlflow.log_metric("accuracy", 0.1)'
    mixed = calls(("scratch", typed), ("graded", computed))
    assert not typed_metric(mixed, "graded", "accuracy")
    assert typed_metric(mixed, "scratch", "accuracy")
    assert not typed_metric(calls(("graded", None)), "graded", "accuracy")  # autolog: no call
    assert not typed_metric(None, "graded", "accuracy")


def test_kernel_side_code_is_self_contained() -> None:
    call = kernel_side_call("install", "http://127.0.0.1:1")
    compile(call, "<test>", "exec")  # valid Python the kernel can run
    assert "http://127.0.0.1:1" in call


def test_invalid_result_is_zero_with_every_check() -> None:
    rubric = load_rubric(DEFAULT_RUBRIC, KNOWN_IDS)
    result = invalid_result("x.ipynb", "is empty (0 bytes)", rubric)
    data = json.loads(json.dumps(result.to_json()))
    assert data["score"] == 0
    assert data["max_score"] == 100
    assert data["execution"] == {"status": "invalid", "seconds": 0.0, "error": "is empty (0 bytes)"}
    assert all("is empty" in c["message"] for c in data["checks"])
    lines = score_table(result, 100)
    assert lines[-1].split() == ["total", "0/100"]
    assert len(lines) == 2 + len(rubric.checks) + 1


def test_reference_and_template_are_generated_and_committed() -> None:
    for folder in (TRACKING.reference, TRACKING.template):
        nb = nbformat.read(folder / TRACKING.notebook, as_version=4)
        nbformat.validate(nb)
    template = (TRACKING.template / TRACKING.notebook).read_text()
    assert "TODO (Step 5)" in template
    assert "log_model(" not in template


def test_instructors_actions_matrix_example_is_valid_yaml() -> None:
    import yaml

    page = (ROOT / "docs" / "instructors.md").read_text()
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    jobs = yaml.safe_load(block)["jobs"]
    shards = jobs["grade"]["strategy"]["matrix"]["shard"]
    steps = " ".join(str(s.get("run", "")) for s in jobs["grade"]["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in steps
    assert jobs["gradebook"]["needs"] == "grade"
    assert "labgrade merge" in " ".join(str(s.get("run", "")) for s in jobs["gradebook"]["steps"])


def test_first_readme_lines_are_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2] == "```sh"
    assert "pytest grader --submission reference/tracking/" in lines[3]
    assert lines[4] == (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]


def test_rubric_visibility_defaults_to_visible_and_rejects_unknown_values(tmp_path: Path) -> None:
    assert {c.visibility for c in TRACKING.rubric().checks} == {"visible"}
    bad = tmp_path / "bad.toml"
    secret = "[checks.tag]\nvisibility = 'secret'\n"
    bad.write_text(DEFAULT_RUBRIC.read_text().replace("[checks.tag]\n", secret))
    with pytest.raises(RubricError, match="'visibility' must be one of visible, hidden"):
        load_rubric(bad, KNOWN_IDS)


def test_student_rubric_drops_hidden_tables_with_their_sub_tables(tmp_path: Path) -> None:
    text = DEFAULT_RUBRIC.read_text().replace(
        "[checks.params]\n", "# about params\n[checks.params]\nvisibility = 'hidden'\n"
    )
    text += "\n[checks.params.extra]\nnote = 'sub-table of a hidden check'\n"
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    student = student_rubric(load_rubric(path))
    assert "params" not in student
    assert "lbfgs" not in student
    out = tmp_path / "student.toml"
    out.write_text(student)
    assert load_rubric(out, KNOWN_IDS).ids == [c for c in CHECK_IDS if c != "params"]


def test_grade_json_reads_back_into_the_same_result() -> None:
    result = invalid_result("x.ipynb", "is empty (0 bytes)", load_rubric(DEFAULT_RUBRIC, KNOWN_IDS))
    again = GradeResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.to_json() == result.to_json()
    with pytest.raises(GraderError, match="not in the --grade-json shape"):
        GradeResult.from_json({"score": 1})


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--submission", "reference", "--experiment", "X"), "--experiment selects what to grade"),
        (("--submission", "reference", "--tracking-uri", "http://127.0.0.1:9"), "not both"),
        (("--tracking-uri", "http://127.0.0.1:9", "--keep-server"), "stays up anyway"),
    ],
    ids=["experiment-without-uri", "submission-and-uri", "keep-server-with-uri"],
)
def test_conflicting_grader_options_are_refused(
    tmp_path: Path, args: tuple[str, ...], error: str
) -> None:
    proc, token = start_grader(None, tmp_path, *args)
    run = finish(proc, token, tmp_path, timeout=120)
    assert run.exit_code == 4
    assert error in run.stderr
    assert run.leftovers == []


def test_the_redirect_note_says_whether_the_server_outlives_the_grading() -> None:
    redirects = (("mlflow.set_tracking_uri", "http://127.0.0.1:8080"),)
    gone = redirect_note(redirects)
    assert "the notebook points MLflow at http://127.0.0.1:8080 (mlflow.set_tracking_uri)" in gone
    assert "gone once grading ended" in gone
    # --keep-server: the same server is printed as kept running just below the note.
    kept = redirect_note(redirects, kept=True)
    assert "gone" not in kept
    assert "kept running after grading for --keep-server, and deleted when you stop it" in kept


def test_the_redirect_note_names_a_script_as_a_script() -> None:
    redirects = (("mlflow.set_tracking_uri", "http://127.0.0.1:8080"),)
    assert redirect_note(redirects, kind="script").startswith("the script points MLflow at")
