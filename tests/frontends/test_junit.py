"""`--junitxml` of a real grading: valid JUnit XML, with each check's points as properties."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree import ElementTree

import pytest

from tests.helpers import ROOT, GradingRun
from tests.platform_formats import xunit2_problems

REFERENCE = ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"
TEMPLATE = ROOT / "student_template" / "tracking" / "lab1_tracking_quickstart.ipynb"
Grade = Callable[..., GradingRun]


@pytest.mark.slow
@pytest.mark.xdist_group("reference")  # the grading test_grading.py also reads
def test_default_xunit2_is_schema_valid_with_points_on_the_testsuite(graded_run: Grade) -> None:
    run = graded_run(REFERENCE)
    assert run.result is not None
    assert xunit2_problems(run.junit) == []
    suite = ElementTree.fromstring(run.junit).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    for check in run.result["checks"]:
        assert props[f"{check['id']}.points"] == f"{check['score']:g}"
        assert props[f"{check['id']}.max_points"] == f"{check['max_score']:g}"
    assert len(props) == 2 * len(run.result["checks"])


@pytest.mark.slow
@pytest.mark.xdist_group("student_template")
def test_xunit1_carries_points_on_each_testcase(graded_run: Grade) -> None:
    run = graded_run(TEMPLATE, "-o", "junit_family=xunit1")
    assert run.result is not None
    cases = list(ElementTree.fromstring(run.junit).iter("testcase"))
    assert len(cases) == len(run.result["checks"])
    for case, check in zip(cases, run.result["checks"], strict=True):
        assert case.get("name") == f"test_check[{check['id']}]"
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props == {
            "check_id": check["id"],
            "points": f"{check['score']:g}",
            "max_points": f"{check['max_score']:g}",
        }
        assert (case.find("failure") is None) == check["passed"]
