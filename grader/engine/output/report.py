"""Rendering a GradeResult for people: the terminal score table and feedback text."""

from __future__ import annotations

import textwrap
from pathlib import Path

from grader.engine.output.results import CheckResult, GradeResult

_VERDICT = {True: "PASS", False: "FAIL"}


def _verdict(check: CheckResult) -> str:
    return "SKIP" if check.skipped else _VERDICT[check.passed]


def _points(score: float, max_score: float) -> str:
    return f"{score:g}/{max_score:g}"


def score_table(result: GradeResult, width: int = 100) -> list[str]:
    """Check, points, verdict and a one-line reason per check, then the total."""
    # What was found is the one-line reason; the expected call and the fix are printed above.
    rows = [
        (c.id, _points(c.score, c.max_score), _verdict(c), c.found or c.message)
        for c in result.checks
    ]
    id_w = max([len("check")] + [len(r[0]) for r in rows])
    pt_w = max([len("points")] + [len(r[1]) for r in rows])
    head = f"{'check':<{id_w}}  {'points':>{pt_w}}  verdict  reason"
    reason_w = max(20, width - len(head) + len("reason"))
    lines = [head, "-" * min(width, len(head) + reason_w - len("reason"))]
    for cid, pts, verdict, message in rows:
        reason = textwrap.shorten(message, reason_w, placeholder="...")
        lines.append(f"{cid:<{id_w}}  {pts:>{pt_w}}  {verdict:<7}  {reason}")
    lines.append(f"{'total':<{id_w}}  {_points(result.score, result.max_score):>{pt_w}}")
    return lines


def execution_lines(result: GradeResult) -> list[str]:
    ex = result.execution
    lines = [f"execution: {ex.status} in {ex.seconds:.1f} s"]
    if ex.status == "not_executed":
        lines = [f"execution: none (graded what the server holds) in {ex.seconds:.1f} s"]
    if ex.error:
        lines.append(f"  {ex.error}")
    if result.tracking.run_id:
        lines.append(
            f"graded run: {result.tracking.run_id} (experiment {result.tracking.experiment_id})"
        )
    lines += [f"note: {n}" for n in result.notes]
    return lines


def failure_text(result: GradeResult, check_id: str) -> str:
    """What a student reads under a failing check: found, the expected call, the fix, the step.

    Execution is summarized once, below the score table.
    """
    check = result.check(check_id)
    if not check.found:  # not graded at all (an invalid submission): the message says why
        return f"{check.title}: {check.message}"
    where = f", revisit {check.step} of the lab" if check.step and check.expected else ""
    lines = [f"{check.title} ({_points(check.score, check.max_score)}{where})"]
    lines.append(f"  found:    {check.found}")
    if check.expected:
        lines.append(f"  expected: {check.expected}")
    if check.hint:
        lines.append(f"  fix:      {check.hint}")
    return "\n".join(lines)


# What a status means to a student reading feedback, where its token says little.
_STATUS_WORDS = {"not_executed": "not run"}


def feedback_markdown(result: GradeResult, title: str) -> str:
    """What a student reads after a batch: score, each verdict, what to fix and the lab step.
    TITLE: the lab's (its rubric's [lab] title)."""
    ex = result.execution
    status = _STATUS_WORDS.get(ex.status, ex.status)
    lines = [
        f"# {title}: {result.score:g}/{result.max_score:g}",
        "",
        f"Submission: `{Path(result.submission).name}`. Execution: **{status}**"
        f" in {ex.seconds:.1f} s.",
    ]
    if ex.error:
        lines += ["", f"> {ex.error}"]
    lines += ["", "| check | points | verdict |", "|---|---|---|"]
    lines += [
        f"| {c.title} | {_points(c.score, c.max_score)} | {'pass' if c.passed else '**fail**'} |"
        for c in result.checks
    ]
    # A check that says only why nothing ran (an unattempted or unreadable submission) says
    # what the line above says already: once is enough.
    said = ex.error or None
    failing = [c for c in result.checks if not c.passed and not (said and c.message.endswith(said))]
    if failing:
        lines += ["", "## What to fix", ""]
        lines += [_fix_item(c) for c in failing]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _fix_item(check: CheckResult) -> str:
    if not check.found:
        return f"- **{check.title}** ({_points(0, check.max_score)}): {check.message}"
    step = f", {check.step}" if check.step else ""
    item = f"- **{check.title}** ({_points(0, check.max_score)}{step}): {check.found}."
    if check.expected:
        item += f" Expected: `{check.expected}`."
    if check.hint:
        item += f" Fix: {check.hint}."
    return item
