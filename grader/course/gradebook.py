"""A class's gradebook on disk: per-student results and feedback, grades.csv and grades.json.

DIR/<id>/results.json is the `--grade-json` shape; DIR/<id>/submission.json records which
file was graded (and its hash, for resuming); both are written as soon as a student is done,
so an interrupted batch keeps every finished row.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.course.adjust import NONE, Policy, adjust, feedback_with
from grader.course.classreport import UNATTEMPTED, write_class_report
from grader.engine.evidence.rubric import Rubric
from grader.files import write_atomic, write_json_atomic

RESULTS, META, FEEDBACK = "results.json", "submission.json", "feedback.md"
NOTE_CAUSE = 200  # characters of an execution error kept in a grades.csv note


@dataclass(frozen=True)
class Row:
    student: str
    file: str
    sha256: str
    result: dict[str, Any]
    note: str = ""
    late: bool = False  # the LMS's download says it came after the due date
    unattempted: bool = False  # the lab's template, no code cell edited: not run (attempt.py)

    @property
    def status(self) -> str:
        """The gradebook's status: the grading's, or UNATTEMPTED."""
        return UNATTEMPTED if self.unattempted else str(self.result["execution"]["status"])


def status_note(result: dict[str, Any]) -> str:
    """Why a row's execution status is not "ok", in a few words for grades.csv's note: a full
    score beside status "error" reads as a contradiction unless the cause is next to it."""
    ex = result["execution"]
    if ex["status"] == "ok":
        return ""
    cause = _shortened(" ".join(str(ex.get("error") or f"execution {ex['status']}").split()))
    if result["checks"] and result["score"] >= result["max_score"]:
        return f"{cause}; every check still passed on what the notebook had logged"
    return cause


def _shortened(cause: str) -> str:
    """CAUSE in at most NOTE_CAUSE characters; what is cut is the error's own text, not the
    fix after it ("... Fix: ..."), which is what the reader acts on."""
    if len(cause) <= NOTE_CAUSE:
        return cause
    head, sep, fix = cause.partition(" Fix: ")
    room = NOTE_CAUSE - len(sep) - len(fix) - 3
    if sep and room >= 40:
        return head[:room].rstrip() + "..." + sep + fix
    return cause[: NOTE_CAUSE - 3] + "..."


def save_student(out: Path, row: Row, feedback: str) -> None:
    folder = out / row.student
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RESULTS, row.result)
    (folder / FEEDBACK).write_text(feedback, encoding="utf-8")
    write_json_atomic(
        folder / META,
        {
            "student": row.student,
            "file": row.file,
            "sha256": row.sha256,
            "note": row.note,
            "late": row.late,
            "unattempted": row.unattempted,
        },
    )


def load_row(folder: Path) -> Row | None:
    """A finished student's row, or None when the folder holds no complete grading."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        result = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Row(
        meta["student"],
        meta["file"],
        meta["sha256"],
        result,
        meta.get("note", ""),
        bool(meta.get("late", False)),
        bool(meta.get("unattempted", False)),
    )


def load_rows(out: Path) -> list[Row]:
    if not out.is_dir():
        return []
    rows = (load_row(folder) for folder in sorted(out.iterdir()) if folder.is_dir())
    return [row for row in rows if row is not None]


def write_gradebook(out: Path, rows: list[Row], rubric: Rubric) -> None:
    """grades.csv (a points row, then a row per student) and grades.json, sorted by id."""
    rows = sorted(rows, key=lambda r: r.student)
    ids = rubric.ids
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "grades.csv.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        # New columns go last: a reader of the columns before them reads what it always did.
        writer.writerow(["id", "file", *ids, "total", "max", "status", "seconds", "note", "late"])
        writer.writerow(
            [
                "POINTS POSSIBLE",
                "",
                *(_num(c.points) for c in rubric.checks),
                _num(rubric.max_score),
                _num(rubric.max_score),
                "",
                "",
                "",
                "",
            ]
        )
        for row in rows:
            scores = {c["id"]: c["score"] for c in row.result["checks"]}
            writer.writerow(
                [
                    row.student,
                    row.file,
                    *(_num(scores.get(cid, 0)) for cid in ids),
                    _num(row.result["score"]),
                    _num(row.result["max_score"]),
                    row.status,
                    f"{row.result['execution']['seconds']:.1f}",
                    row.note,
                    "late" if row.late else "",
                ]
            )
    tmp.replace(out / "grades.csv")
    write_json_atomic(
        out / "grades.json",
        [
            {
                "id": r.student,
                "file": r.file,
                "sha256": r.sha256,
                "note": r.note,
                "status": r.status,
                "late": r.late,
                **r.result,
            }
            for r in rows
        ],
    )


def finish(
    out: Path,
    rows: Sequence[Row],
    rubric: Rubric,
    policy: Policy,
    missing: Sequence[str] = (),
    late: Collection[str] = (),
) -> list[Row]:
    """The class's gradebook, report and feedback with POLICY applied to ROWS (their
    results.json unchanged); MISSING: the LMS export's students with no submission; LATE: the
    students an LMS export dates after the due time. Returns the rows as adjusted, for the LMS
    imports."""
    dated = [replace(row, late=True) if row.student in late else row for row in rows]
    adjusted = [_adjusted(out, row, rubric, policy) for row in dated]
    write_gradebook(out, adjusted, rubric)
    write_class_report(out, adjusted, rubric, FEEDBACK, missing)
    return adjusted


def _adjusted(out: Path, row: Row, rubric: Rubric, policy: Policy) -> Row:
    done = adjust(row.result, row.late and not row.unattempted, row.student, policy, rubric)
    feedback = out / row.student / FEEDBACK
    if feedback.is_file():
        text = feedback.read_text(encoding="utf-8")
        score, most = float(done.result["score"]), float(done.result["max_score"])
        adjusted = feedback_with(text, done.notes, score, most)
        if adjusted != text:  # a class's feedback is not rewritten on every resume
            write_atomic(feedback, adjusted)
    late = ["late"] if row.late and not done.notes else []
    note = "; ".join(filter(None, [row.note, *late, *done.notes]))
    return replace(row, result=done.result, note=note)


def merge(
    sources: list[Path],
    out: Path,
    rubric: Rubric,
    policy: Policy = NONE,
    missing: Sequence[str] = (),
    late: Collection[str] = (),
) -> list[Row]:
    """Join shard outputs into OUT: every student folder copied, the gradebook rebuilt (finish)."""
    rows: dict[str, Row] = {}
    for source in sources:
        for row in load_rows(source):
            shutil.copytree(source / row.student, out / row.student, dirs_exist_ok=True)
            rows[row.student] = row
    return finish(out, list(rows.values()), rubric, policy, missing, late)


def _num(value: float) -> str:
    return f"{value:g}"
