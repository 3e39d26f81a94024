"""A late penalty and per-student overrides, applied after grading, kept for the next runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.adjust import (
    FEEDBACK_HEADING,
    NONE,
    OverridesError,
    Policy,
    adjust,
    check_students,
    feedback_with,
    load_policy,
    policy_for,
    read_overrides,
    save_policy,
)
from grader.course.gradebook import Row, finish, load_rows, save_student
from grader.engine.grading import ungraded_result
from grader.frontends.cli import main
from grader.labs import load

RUBRIC = load("tracking").rubric()


def graded(score_each: float = 1.0) -> dict[str, object]:
    """A result whose every check scored SCORE_EACH of its points (a fraction)."""
    result = ungraded_result("lab1.ipynb", "ok", "x", RUBRIC).to_json()
    for check in result["checks"]:
        check["score"] = check["max_score"] * score_each
        check["passed"] = score_each == 1.0
    result["score"] = sum(c["score"] for c in result["checks"])
    return result


def overrides(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "overrides.csv"
    path.write_text("\n".join(["student,check_or_total,points,reason", *lines]) + "\n")
    return path


def test_a_check_override_then_the_penalty_then_a_total_override(tmp_path: Path) -> None:
    policy = Policy(
        10.0,
        read_overrides(
            overrides(tmp_path, "ada,experiment,0,wrong experiment", "bob,total,77,by hand"),
            RUBRIC,
        ),
    )
    result = graded()
    ada = adjust(result, True, "ada", policy, RUBRIC)
    assert ada.result["score"] == 81  # 100 - 10 for the check, then 10% off 90
    assert ada.notes == (
        "experiment: 10 -> 0 points by your instructor: wrong experiment",
        "late: 10% late penalty, 90 -> 81",
    )
    assert next(c for c in ada.result["checks"] if c["id"] == "experiment")["passed"] is False
    assert ada.result["adjustments"]["graded_score"] == 100
    assert result["score"] == 100  # the graded result is left as it was
    bob = adjust(result, True, "bob", policy, RUBRIC)
    assert (bob.result["score"], bob.notes[-1]) == (
        77,
        "total: 90 -> 77 points by your instructor: by hand",
    )
    on_time = adjust(result, False, "carol", policy, RUBRIC)
    assert on_time.result is result
    assert on_time.notes == ()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ada,nope,1,x", "'nope' is neither a check"),
        ("ada,experiment,11,x", "not a number from 0 to 10"),
        ("ada,total,-1,x", "not a number from 0 to 100"),
        ("ada,experiment,ten,x", "'ten'"),
        ("ada,experiment,5,", "a reason are both needed"),
    ],
)
def test_an_override_that_cannot_apply_is_refused_with_its_row(
    tmp_path: Path, line: str, problem: str
) -> None:
    with pytest.raises(OverridesError, match=problem) as caught:
        read_overrides(overrides(tmp_path, line), RUBRIC)
    assert "overrides.csv: row 2" in str(caught.value)
    assert "Fix: " in str(caught.value)


def test_a_file_without_the_header_or_twice_the_same_override_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.csv").write_text("ada,total,5,x\n")
    with pytest.raises(OverridesError, match="not the header student, check_or_total"):
        read_overrides(tmp_path / "bare.csv", RUBRIC)
    with pytest.raises(OverridesError, match="a second override of total for ada"):
        read_overrides(overrides(tmp_path, "ada,total,5,x", "ada,total,6,y"), RUBRIC)
    with pytest.raises(OverridesError, match="cannot read"):
        read_overrides(tmp_path / "none.csv", RUBRIC)


def test_an_override_of_a_student_the_class_lacks_is_refused(tmp_path: Path) -> None:
    policy = Policy(0.0, read_overrides(overrides(tmp_path, "adaa,total,5,typo"), RUBRIC))
    with pytest.raises(OverridesError, match="overrides for adaa, who have no submission"):
        check_students(policy, ["ada", "bob"])


def test_the_policy_is_kept_for_the_next_run_and_replaced_by_new_flags(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert policy_for(out, None, None, RUBRIC) == NONE
    first = policy_for(out, 5.0, overrides(tmp_path, "ada,total,5,x"), RUBRIC)
    assert load_policy(out) == NONE  # not kept before its students are checked
    save_policy(out, first)
    assert load_policy(out) == first
    assert policy_for(out, None, None, RUBRIC) == first  # a resume without the flags
    second = policy_for(out, 20.0, None, RUBRIC)
    assert (second.late_penalty, second.overrides) == (20.0, first.overrides)
    save_policy(out, NONE)
    assert load_policy(out) == NONE
    with pytest.raises(OverridesError, match="--late-penalty 120: not a percent"):
        policy_for(out, 120.0, None, RUBRIC)


def test_feedback_gets_one_section_however_often_it_is_written() -> None:
    once = feedback_with("# Lab: 90/100\n", ["late: 10% late penalty, 90 -> 81"], 81, 100)
    twice = feedback_with(once, ["late: 10% late penalty, 90 -> 81"], 81, 100)
    assert once == twice
    assert once.count(FEEDBACK_HEADING) == 1
    assert "Your score: 81/100" in once
    assert feedback_with(once, [], 90, 100) == "# Lab: 90/100\n"


def test_the_gradebook_shows_adjusted_scores_and_keeps_the_graded_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = [
        Row("ada", "ada_LATE_1_2_lab1.ipynb", "0" * 64, graded(), "", late=True),
        Row("bob", "bob_3_4_lab1.ipynb", "0" * 64, graded(0.0), "", unattempted=True),
    ]
    for row in rows:
        save_student(out, row, f"# {row.student}\n")
    policy = Policy(10.0, read_overrides(overrides(tmp_path, "bob,total,5,tried"), RUBRIC))
    adjusted = {r.student: r for r in finish(out, load_rows(out), RUBRIC, policy, ["Knuth (8)"])}
    assert adjusted["ada"].result["score"] == 90
    assert adjusted["bob"].status == "unattempted"
    assert adjusted["bob"].result["score"] == 5  # an override is the instructor's word
    assert {r.student: r.result["score"] for r in load_rows(out)} == {"ada": 100, "bob": 0}
    csv_text = (out / "grades.csv").read_text()
    assert csv_text.splitlines()[0].endswith(",note,late")
    assert "late: 10% late penalty, 100 -> 90" in csv_text
    assert "Knuth (8)" in (out / "report.html").read_text()
    assert FEEDBACK_HEADING in (out / "ada" / "feedback.md").read_text()


def test_a_merge_applies_the_shards_policy_and_refuses_two_that_differ(tmp_path: Path) -> None:
    shards = [tmp_path / "s1", tmp_path / "s2"]
    save_student(shards[0], Row("ada", "a.ipynb", "0" * 64, graded(), "", late=True), "# ada\n")
    save_student(shards[1], Row("bob", "b.ipynb", "0" * 64, graded()), "# bob\n")
    policy = Policy(10.0, read_overrides(overrides(tmp_path, "bob,total,42,by hand"), RUBRIC))
    for shard in shards:  # what each shard's batch kept
        save_policy(shard, policy)
    out = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--out", str(out)]) == 0
    totals = {row.student: row.result["score"] for row in load_rows(out)}
    assert totals == {"ada": 100, "bob": 100}  # results.json: what the grading gave
    csv_text = (out / "grades.csv").read_text()
    assert "late: 10% late penalty, 100 -> 90" in csv_text
    assert "total: 100 -> 42 points by your instructor: by hand" in csv_text
    assert load_policy(out) == policy  # kept for the next merge into OUT
    save_policy(shards[1], Policy(20.0))
    assert main(["merge", *map(str, shards), "--out", str(tmp_path / "again")]) == 2
