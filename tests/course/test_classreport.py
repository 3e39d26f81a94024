"""report.html, the class at a glance: what it counts, that it escapes what students control,
that it loads nothing, and (in the real Chromium) that its plots render and its links resolve.

The graded rows come from the Tracking lab's own checks, scored on plain data (no server): the
messages, and the slips they name, are worded exactly as a batch's results.json words them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from grader.course.batch import BatchSettings, run_batch
from grader.course.classreport import (
    FEEDBACK_HTML,
    REPORT,
    causes_of,
    class_report,
    fix_of,
    summarize,
    write_class_report,
)
from grader.course.gradebook import FEEDBACK, Row, load_rows, merge, save_student
from grader.course.roster import content_hash
from grader.engine.evidence.records import (
    Evidence,
    ModelPredictions,
    NamespaceCapture,
    PyfuncLoad,
    VariableCapture,
)
from grader.engine.evidence.server_reads import Experiment, LoggedModel, ModelVersion, Run, Snapshot
from grader.engine.grading import ungraded_result
from grader.engine.output.results import ExecutionResult, GradeResult, Status, TrackingInfo
from grader.engine.scoring import evaluate
from grader.labs import load
from tests.helpers import CHROMIUM_ARGS, system_chromium

LAB = load("tracking")
RUBRIC = LAB.rubric()
Y_TEST = (1.0, 0.0, 2.0, 1.0)
PARAMS = {"solver": "lbfgs", "max_iter": "1000", "random_state": "8888"}
LR = "sklearn.linear_model._logistic.LogisticRegression"
LAB_CODE = """
lr = LogisticRegression(**params)
lr.fit(X_train, y_train)
with mlflow.start_run():
    mlflow.log_params(params)
    model_info = mlflow.sklearn.log_model(sk_model=lr, name="iris_model")
loaded_model = mlflow.pyfunc.load_model(model_info.model_uri)
predictions = loaded_model.predict(X_test)
"""
TYPE_ERROR = (
    "the code cell starting `# Load the Iris dataset` (code cell 2) raised TypeError:"
    " LogisticRegression.__init__() got an unexpected keyword argument 'multi_class'. Fix:"
    ' Delete the "multi_class" entry from params in Step 3.'
)
HOSTILE = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert('owned')</script>"


def graded(student: str, **changes: Any) -> Row:
    """STUDENT's row after the lab's checks scored one run, the lab's run with CHANGES."""
    model = LoggedModel(
        "m-1",
        "iris_model",
        "models:/m-1",
        "r1",
        has_signature=True,
        inputs=4,
        inputs_numeric=True,
        outputs=1,
        has_input_example=True,
        flavors=("python_function", "sklearn"),
    )
    logged: dict[str, Any] = {
        "params": dict(PARAMS),
        "metrics": {"accuracy": 1.0},
        "tags": {"Training Info": "Basic LR model for iris data"},
        **changes,
    }
    run = Run("r1", "run", "1", "FINISHED", 1, models=(model,), **logged)
    snapshot = Snapshot(
        (Experiment("0", "Default", False), Experiment("1", "MLflow Quickstart", False)),
        (run,),
        {
            "tracking-quickstart": (
                ModelVersion("tracking-quickstart", "1", model.uri, "r1", "m-1"),
            )
        },
    )
    own: dict[str, str | int] = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}
    evidence = Evidence(
        rubric=RUBRIC,
        snapshot=snapshot,
        capture=NamespaceCapture(
            {"predictions": VariableCapture(True, "ndarray", values=Y_TEST)},
            (PyfuncLoad(model.uri, "m-1", "r1", (Y_TEST,)),),
            (),
        ),
        capture_problem=None,
        predictions={model.uri: ModelPredictions(model.uri, Y_TEST, None, LR, own)},
        y_test=Y_TEST,
        code=LAB_CODE,
    )
    checks, _, _ = evaluate(LAB, evidence)
    result = GradeResult(
        f"/tmp/{student}/lab1.ipynb",
        checks,
        ExecutionResult("ok", 21.5),
        TrackingInfo("http://127.0.0.1:5099", "1", "r1"),
    )
    return Row(student, "lab1.ipynb", "0" * 64, result.to_json())


def ungraded(student: str, status: Status, problem: str) -> Row:
    """STUDENT's row as a batch writes it when nothing could be graded."""
    result = ungraded_result(f"/tmp/{student}/lab1.ipynb", status, problem, RUBRIC, 90.0)
    return Row(student, "lab1.ipynb", "0" * 64, result.to_json())


def klass() -> list[Row]:
    return [
        graded("ada"),
        graded("alan"),
        graded("grace"),
        graded("bob", metrics={"acc": 1.0}),
        graded("carol", metrics={"Accuracy": 1.0}),
        graded("dan", tags={"training_info": "my model"}),
        ungraded("erin", "timeout", "the grading did not finish within 90 s"),
        ungraded("frank", "invalid", "not a notebook: the file is not JSON"),
        ungraded("gus", "error", TYPE_ERROR),
    ]


@pytest.fixture(scope="module")
def page() -> str:
    """The class's report.html (matplotlib takes about a second to draw its two plots)."""
    return class_report(klass(), RUBRIC)


class Links(HTMLParser):
    """Every attribute of the page that can make a browser fetch or navigate."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src", "xlink:href", "action", "srcset", "poster", "data"):
                self.urls.append((tag, name, value or ""))


def links_of(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


# ----- what the report counts -----


def test_scores_fall_in_ten_ranges_and_full_marks_in_the_last() -> None:
    summary = summarize(klass(), RUBRIC)
    assert summary.max_score == 100
    assert sorted(summary.totals) == [0, 0, 0, 85, 85, 90, 100, 100, 100]
    counts = {b.label: b.count for b in summary.bins}
    assert counts["0–<10"] == 3
    assert counts["80–<90"] == 2
    assert counts["90–100"] == 4
    assert sum(counts.values()) == 9


def test_pass_rates_follow_the_rubric_and_count_every_submission() -> None:
    rates = {r.id: r for r in summarize(klass(), RUBRIC).rates}
    assert list(rates) == RUBRIC.ids
    assert rates["metric"].title == RUBRIC.check("metric").title
    assert (rates["metric"].passed, rates["metric"].total) == (4, 9)  # two renamed, 3 ungraded
    assert (rates["tag"].passed, rates["tag"].total) == (5, 9)
    assert (rates["experiment"].passed, rates["experiment"].total) == (6, 9)
    assert rates["experiment"].percent == pytest.approx(66.67, abs=0.01)


def test_the_same_slip_with_each_students_own_name_is_counted_once_per_student() -> None:
    slips = summarize(klass(), RUBRIC).slips
    top = slips[0]
    assert top.students == ("bob", "carol")
    assert top.checks == ("metric",)
    # Each student renamed it differently: the shared words stay, their own name does not.
    assert top.fix == 'the accuracy was logged as "…": the lab\'s metric name is exactly "accuracy"'
    tag = next(s for s in slips if s.checks == ("tag",))
    assert tag.students == ("dan",)
    assert tag.fix == 'the tag was set as "training_info": tag keys are exact, use "Training Info"'
    # An execution error is no check's slip: the submissions that did not finish list it.
    assert not any({"erin", "frank", "gus"} & set(s.students) for s in slips)
    assert all(s.students for s in slips)
    assert {c for s in slips for c in s.checks} <= set(RUBRIC.ids)


def test_unnamed_causes_count_too_and_a_student_once_per_cause() -> None:
    rows = [
        graded("hal", params={**PARAMS, "max_iter": "100"}),
        graded("ivy", params={**PARAMS, "max_iter": "100"}),
        graded("jo", params={**PARAMS, "max_iter": "10"}),
        graded("kim", params={"solver": "lbfgs", "random_state": "8888"}),
        graded("ada"),
    ]
    slips = {s.fix: s for s in summarize(rows, RUBRIC).slips}
    # No fix was named for a wrong max_iter: what the check found is the cause, its run's
    # name and id (each student's own) left out, the value shown where all agree.
    # Their models were all trained with the lab's 1000 (the check says so): one cause.
    trained = "the logged LogisticRegression was trained with max_iter=1000"
    wrong = slips[f"max_iter=… (expected 1000, and {trained})"]
    assert (wrong.students, wrong.checks, wrong.named) == (("hal", "ivy", "jo"), ("params",), False)
    missing = slips["max_iter missing"]
    assert missing.students == ("kim",)
    assert not any("ada" in s.students for s in slips.values())


def test_a_check_the_notebook_did_not_reach_is_not_that_checks_slip() -> None:
    row = graded("lee", metrics={})
    stopped = (
        "no run was logged. Expected: with mlflow.start_run(): mlflow.log_metric(...). Fix: the"
        " notebook stopped with TypeError in the code cell starting `lr.fit(X_train, y_train)`"
        " (code cell 3) before this was logged: fix that first"
        " (revisit Step 4 of the lab)"
    )
    first = "no version registered. Expected: mlflow.register_model(...). Fix: do Step 1 first"
    for check in row.result["checks"]:
        if check["id"] in ("metric", "registered_model"):
            check["passed"] = False
            check["message"] = stopped if check["id"] == "metric" else first
    assert summarize([row], RUBRIC).slips == ()
    assert causes_of(stopped) == []
    both = (
        'found. Fix: the key is "x"; the notebook stopped in the code cell starting `x`'
        " (code cell 2): fix that first"
    )
    assert causes_of(both) == [(True, 'the key is "x"')]
    own = 'none. Fix: 2 run(s) went to the "Default" experiment: set the experiment first'
    assert causes_of(own) == [
        (True, '2 run(s) went to the "Default" experiment: set the experiment first')
    ]


def test_a_slip_row_names_each_check_by_title_and_id(page: str) -> None:
    section = page.split('id="slips"', 1)[1].split("</section>", 1)[0]
    assert f"{RUBRIC.check('metric').title} (<code>metric</code>)" in section
    assert "the notebook&#x27;s run" not in section
    assert "the notebook's run" not in section


def test_a_fix_is_read_without_the_lab_step_to_revisit() -> None:
    message = (
        'run r1 has no "accuracy" metric (metrics: acc=1). Expected: mlflow.log_metric(...).'
        ' Fix: the accuracy was logged as "acc" (revisit Step 4 of the lab)'
    )
    assert fix_of(message) == 'the accuracy was logged as "acc"'
    assert fix_of('experiment "x" exists (id 1)') == ""


def test_submissions_that_did_not_finish_are_listed_with_their_reason(page: str) -> None:
    problems = {p.student: p for p in summarize(klass(), RUBRIC).problems}
    assert set(problems) == {"erin", "frank", "gus"}
    assert problems["erin"].status == "timeout"
    assert problems["erin"].reason == "the grading did not finish within 90 s"
    assert problems["frank"].status == "invalid"
    assert problems["gus"].reason == TYPE_ERROR
    section = page.split('id="problems"', 1)[1].split("</section>", 1)[0]
    for student in ("erin", "frank", "gus"):
        assert f'<a href="{student}/{FEEDBACK_HTML}">{student}</a>' in section
    assert "not a notebook: the file is not JSON" in section
    assert "ada" not in section


def test_the_page_has_both_plots_inline_and_a_link_to_every_students_feedback(page: str) -> None:
    assert page.count("<svg ") == 2
    assert 'id="scores-plot"' in page
    assert 'id="checks-plot"' in page
    for i in range(10):
        assert f'<g id="scores-bin-{i}">' in page
    for i in range(len(RUBRIC.checks)):
        assert f'<g id="checks-rate-{i}">' in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two plots share an id"
    for row in klass():
        assert f'href="{row.student}/{FEEDBACK_HTML}"' in page


def test_student_text_is_escaped_everywhere() -> None:
    hostile = ungraded(
        HOSTILE,
        "error",
        f"the code cell starting `x` (code cell 2) raised ValueError: {SCRIPT}. Fix: {SCRIPT}",
    )
    row = Row(hostile.student, SCRIPT, hostile.sha256, hostile.result, note=SCRIPT)
    page = class_report([row, graded("ada")], RUBRIC)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # In a link, the id is one path segment: no quote ends the attribute, no scheme starts.
    assert f'href="%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/{FEEDBACK_HTML}"' in page


def test_nothing_on_the_page_loads_from_the_network(page: str) -> None:
    found = links_of(page)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(found.tags)
    assert [u for u in found.urls if u[1] not in ("href", "xlink:href")] == []
    for tag, _, url in found.urls:
        assert tag in ("a", "use"), tag
        assert tag == "a" or url.startswith("#"), url
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.IGNORECASE), url
    assert re.findall(r"https?:", page) == []  # not even a namespace or a DTD
    assert "@import" not in page
    assert re.findall(r"url\((?!#)", page) == []
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page


def test_an_empty_class_still_writes_a_page() -> None:
    page = class_report([], RUBRIC)
    assert "No graded submissions yet" in page
    assert "<svg" not in page
    assert "None: every submission ran to the end" in page


# ----- the files written -----


def test_each_student_gets_a_feedback_page_beside_their_feedback(tmp_path: Path) -> None:
    rows = klass()
    for row in rows:
        save_student(tmp_path, row, f"# {row.student}: Zoë’s feedback\n\n| check | pts |\n")
    (tmp_path / "gus" / FEEDBACK).unlink()
    report = write_class_report(tmp_path, load_rows(tmp_path), RUBRIC, FEEDBACK)
    assert report == tmp_path / REPORT
    page = (tmp_path / "ada" / FEEDBACK_HTML).read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in page
    assert "<pre># ada: Zoë’s feedback\n\n| check | pts |\n</pre>" in page
    assert f'href="../{REPORT}"' in page
    assert f'href="{FEEDBACK}"' in page
    missing = (tmp_path / "gus" / FEEDBACK_HTML).read_text(encoding="utf-8")
    assert f"There is no {FEEDBACK} in this folder" in missing


def test_merge_writes_the_report_of_the_whole_class(tmp_path: Path, page: str) -> None:
    rows = klass()
    shards = [tmp_path / "shard1", tmp_path / "shard2"]
    for i, row in enumerate(rows):
        save_student(shards[i % 2], row, f"# {row.student}\n")
    merged = tmp_path / "merged"
    merge(shards, merged, RUBRIC)
    assert (merged / REPORT).read_text(encoding="utf-8") == page
    assert (merged / "frank" / FEEDBACK_HTML).is_file()


class _Quiet:
    def start(self, total: int, skipped: int) -> None:
        pass

    def done(self, row: Row, count: int, total: int) -> None:
        pass


def test_a_batch_with_nothing_left_to_grade_still_writes_the_report(tmp_path: Path) -> None:
    # Every submission is already graded and unchanged: the batch starts no worker or server,
    # and rebuilds the gradebook and the report from the rows on disk.
    source, out = tmp_path / "submissions", tmp_path / "out"
    source.mkdir()
    rows = []
    for row in klass():
        path = source / f"{row.student}.ipynb"
        path.write_text(f'{{"student": "{row.student}"}}', encoding="utf-8")
        rows.append(Row(row.student, path.name, content_hash(path), row.result))
        save_student(out, rows[-1], f"# {row.student}\n")
    report = run_batch(source, BatchSettings(LAB, RUBRIC, out, jobs=1), _Quiet())
    assert report.graded == []
    assert sorted(report.skipped) == sorted(r.student for r in rows)
    assert (out / REPORT).read_text(encoding="utf-8") == class_report(rows, RUBRIC)
    assert (out / "ada" / FEEDBACK_HTML).is_file()


# ----- in the browser -----


@pytest.mark.slow
def test_the_report_renders_its_plots_in_chromium_and_fetches_nothing(tmp_path: Path) -> None:
    chromium = system_chromium()
    from playwright.sync_api import Request, Route, sync_playwright

    rows = klass()
    for row in rows:
        save_student(tmp_path, row, f"# {row.student}: 42/100 — Zoë\n\n## What to fix\n")
    report = write_class_report(tmp_path, rows, RUBRIC, FEEDBACK)
    requested: list[str] = []
    refused: list[str] = []
    console: list[str] = []

    def only_files(route: Route, request: Request) -> None:
        if request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", only_files)
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(report.as_uri())
            page.wait_for_load_state("networkidle")

            plots = page.locator("figure svg")
            assert plots.count() == 2
            for i in range(2):
                box = plots.nth(i).bounding_box()
                assert box is not None
                assert box["width"] > 300
                assert box["height"] > 100

            # Bars are as tall as their counts: 4 in 90-100, 2 in 80-90, none in 50-60 (the
            # drawn shape's own box: a white outline would give an empty bar some height).
            def drawn(selector: str) -> dict[str, float]:
                found: dict[str, float] = page.eval_on_selector(
                    f"{selector} path",
                    "p => { const b = p.getBBox(); return {width: b.width, height: b.height}; }",
                )
                return found

            height = {i: drawn(f"#scores-bin-{i}")["height"] for i in (5, 8, 9)}
            assert height[5] == 0
            assert height[9] == pytest.approx(2 * height[8], rel=0.01)
            assert height[8] > 20
            # Pass-rate bars are as long as their rates: metric 4/9, experiment 6/9.
            ids = RUBRIC.ids
            width = {
                cid: drawn(f"#checks-rate-{ids.index(cid)}")["width"]
                for cid in ("metric", "experiment")
            }
            assert width["experiment"] == pytest.approx(1.5 * width["metric"], rel=0.01)

            hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            assert len(hrefs) >= len(rows)
            for href in hrefs:
                assert href.startswith("file://"), href
                target, _, fragment = href.partition("#")
                if target == report.as_uri():
                    assert page.locator(f"#{fragment}").count() == 1, href
                else:
                    assert Path(re.sub("^file://", "", target)).is_file(), href

            page.locator("#students").get_by_role("link", name="gus", exact=True).click()
            page.wait_for_load_state()
            assert page.url == (tmp_path / "gus" / FEEDBACK_HTML).as_uri()
            assert "# gus: 42/100 — Zoë" in page.inner_text("pre")
        finally:
            browser.close()
    assert refused == []
    assert {url for url in requested} == {
        report.as_uri(),
        (tmp_path / "gus" / FEEDBACK_HTML).as_uri(),
    }
    assert console == []  # nothing blocked by the page's policy, no error


def test_one_cause_stopping_several_checks_is_one_slip_naming_them_all() -> None:
    row = graded("max", metrics={})
    said = 'found. Fix: the notebook still has "UPDATE_HERE" in place of the ids it stands for'
    for check, what in (("metric", "(the run id)"), ("registered_model", "(the source)")):
        found = next(c for c in row.result["checks"] if c["id"] == check)
        found["passed"] = False
        found["message"] = f"{said} {what}: use run.info.run_id (revisit Step 4 of the lab)"
    [slip] = summarize([row], RUBRIC).slips
    assert slip.checks == ("metric", "registered_model")
    assert slip.students == ("max",)
    assert slip.fix.endswith("in place of the ids it stands for (…): use run.info.run_id")
