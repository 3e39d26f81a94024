"""Rendering a GradeResult for people: the terminal score table and feedback text."""

from __future__ import annotations

import textwrap
from pathlib import Path

from grader.results import GradeResult

_VERDICT = {True: "PASS", False: "FAIL"}


def _points(score: float, max_score: float) -> str:
    return f"{score:g}/{max_score:g}"


def score_table(result: GradeResult, width: int = 100) -> list[str]:
    """Check, points, verdict and a one-line reason per check, then the total."""
    rows = [
        (c.id, _points(c.score, c.max_score), _VERDICT[c.passed], c.message) for c in result.checks
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
    if ex.error:
        lines.append(f"  {ex.error}")
    if result.tracking.run_id:
        lines.append(
            f"graded run: {result.tracking.run_id} (experiment {result.tracking.experiment_id})"
        )
    lines += [f"note: {n}" for n in result.notes]
    return lines


def failure_text(result: GradeResult, check_id: str) -> str:
    """What a student reads under a failing check (execution is summarized once, below)."""
    check = result.check(check_id)
    return f"{check.title}: {check.message}"


def feedback_markdown(result: GradeResult) -> str:
    """What a student reads after a batch: score, each verdict, what to fix and the lab step."""
    ex = result.execution
    lines = [
        f"# MLflow Tracking lab: {result.score:g}/{result.max_score:g}",
        "",
        f"Submission: `{Path(result.submission).name}`. Execution: **{ex.status}**"
        f" in {ex.seconds:.1f} s.",
    ]
    if ex.error:
        lines += ["", f"> {ex.error}"]
    lines += ["", "| check | points | verdict |", "|---|---|---|"]
    lines += [
        f"| {c.title} | {_points(c.score, c.max_score)} | {'pass' if c.passed else '**fail**'} |"
        for c in result.checks
    ]
    failing = [c for c in result.checks if not c.passed]
    if failing:
        lines += ["", "## What to fix", ""]
        lines += [f"- **{c.title}** ({_points(0, c.max_score)}): {c.message}" for c in failing]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
