"""`pytest grader --tracking-uri URL`: grading what a server already holds, executing nothing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.helpers import CHECK_IDS, TRACKING, GradingRun, finish, start_grader

DEFAULT_RUBRIC = TRACKING.rubric_path

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("course_server")]


def _grade(out: Path, *args: str) -> GradingRun:
    proc, token = start_grader(None, out, *args)
    return finish(proc, token, out, timeout=300)


def _runs(server: str) -> dict[str, str]:
    """run id -> status of the runs in "MLflow Quickstart" on SERVER."""
    body = json.dumps({"experiment_ids": ["1"], "max_results": 100}).encode()
    request = urllib.request.Request(
        f"{server}/api/2.0/mlflow/runs/search", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        runs = json.load(resp)["runs"]
    return {r["info"]["run_id"]: r["info"]["status"] for r in runs}


def test_grades_the_best_run_and_says_why_predictions_cannot_apply(
    course_server: str, tmp_path: Path
) -> None:
    run = _grade(tmp_path, "--tracking-uri", course_server)
    assert run.result is not None, run.stdout + run.stderr
    finished = [i for i, s in _runs(course_server).items() if s == "FINISHED"]
    assert run.result["tracking"] == {
        "server": course_server,
        "experiment_id": "1",
        "run_id": finished[0],
    }
    assert run.result["execution"]["status"] == "not_executed"
    assert run.result["execution"]["error"] is None
    scores = {c["id"]: c["score"] for c in run.result["checks"]}
    assert tuple(scores) == CHECK_IDS
    predictions = run.check("predictions")
    assert not predictions["passed"]
    assert predictions["score"] == 0  # the default rubric: when_not_executed = "zero"
    assert "cannot apply: nothing was executed" in predictions["message"]
    assert all(c["passed"] for c in run.result["checks"] if c["id"] != "predictions")
    assert run.result["score"] == run.result["max_score"] - predictions["max_score"]
    assert run.exit_code == 1
    # Nothing was executed: no kernel, no server of the grader's; the links are the server's.
    assert "fresh kernel" not in run.stdout
    assert run.leftovers == []
    assert f"{course_server}/#/experiments/1/runs/{finished[0]}" in run.stdout
    # The failed run beside it gets its hint (the lab's Step 4 note).
    assert "1 run(s) ended FAILED next to the graded one" in run.stdout
    assert "Step 4 note" in run.stdout


def test_run_id_grades_that_run(course_server: str, tmp_path: Path) -> None:
    failed = next(i for i, s in _runs(course_server).items() if s == "FAILED")
    run = _grade(tmp_path, "--tracking-uri", course_server, "--run-id", failed)
    assert run.result is not None, run.stdout + run.stderr
    assert run.result["tracking"]["run_id"] == failed
    params = run.check("params")
    assert not params["passed"]
    assert "the run is FAILED, not FINISHED" in params["message"]
    assert not run.check("metric")["passed"]
    assert run.check("experiment")["passed"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (
            ("--experiment", "MLflow quickstart"),
            'no experiment named "MLflow quickstart" (experiments there: "Default",'
            ' "MLflow Quickstart"); did you mean "MLflow Quickstart"?',
        ),
        (("--run-id", "0" * 32), f"no run with id {'0' * 32} on this server"),
    ],
    ids=["wrong-experiment", "unknown-run"],
)
def test_a_wrong_selection_fails_clearly(
    course_server: str, tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    run = _grade(tmp_path, "--tracking-uri", course_server, *args)
    assert run.exit_code == 4
    assert run.stderr.strip().splitlines() == [f"ERROR: cannot grade {course_server}: {problem}"]
    assert run.result is not None
    assert run.result["execution"]["status"] == "invalid"
    assert run.result["score"] == 0


@pytest.mark.parametrize(("mode", "score", "max_score"), [("skip", 85, 85), ("full", 100, 100)])
def test_rubric_decides_how_predictions_score(
    course_server: str, tmp_path: Path, mode: str, score: float, max_score: float
) -> None:
    rubric = tmp_path / "rubric.toml"
    text = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    rubric.write_text(text.replace('when_not_executed = "zero"', f'when_not_executed = "{mode}"'))
    run = _grade(tmp_path, "--tracking-uri", course_server, "--rubric", str(rubric))
    assert run.result is not None, run.stdout + run.stderr
    assert (run.result["score"], run.result["max_score"]) == (score, max_score)
    assert run.exit_code == 0
    cases = {c.get("name"): c for c in ElementTree.fromstring(run.junit).iter("testcase")}
    skipped = cases["test_check[predictions]"].find("skipped") is not None
    assert skipped == (mode == "skip")
