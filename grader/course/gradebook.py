"""A class's gradebook on disk: per-student results and feedback, grades.csv and grades.json.

DIR/<id>/results.json is the `--grade-json` shape; DIR/<id>/submission.json records which
file was graded (and its hash, for resuming); both are written as soon as a student is done,
so an interrupted batch keeps every finished row.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.course.classreport import write_class_report
from grader.engine.rubric import Rubric
from grader.files import write_json_atomic

RESULTS, META, FEEDBACK = "results.json", "submission.json", "feedback.md"
NOTE_CAUSE = 200  # characters of an execution error kept in a grades.csv note


@dataclass(frozen=True)
class Row:
    student: str
    file: str
    sha256: str
    result: dict[str, Any]
    note: str = ""

    @property
    def status(self) -> str:
        return str(self.result["execution"]["status"])


def status_note(result: dict[str, Any]) -> str:
    """Why a row's execution status is not "ok", in a few words for grades.csv's note: a full
    score beside status "error" reads as a contradiction unless the cause is next to it."""
    ex = result["execution"]
    if ex["status"] == "ok":
        return ""
    cause = " ".join(str(ex.get("error") or f"execution {ex['status']}").split())
    cause = cause if len(cause) <= NOTE_CAUSE else cause[: NOTE_CAUSE - 3] + "..."
    if result["checks"] and result["score"] >= result["max_score"]:
        return f"{cause}; every check still passed on what the notebook had logged"
    return cause


def save_student(out: Path, row: Row, feedback: str) -> None:
    folder = out / row.student
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RESULTS, row.result)
    (folder / FEEDBACK).write_text(feedback, encoding="utf-8")
    write_json_atomic(
        folder / META,
        {"student": row.student, "file": row.file, "sha256": row.sha256, "note": row.note},
    )


def load_row(folder: Path) -> Row | None:
    """A finished student's row, or None when the folder holds no complete grading."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        result = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Row(meta["student"], meta["file"], meta["sha256"], result, meta.get("note", ""))


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
        writer.writerow(["id", "file", *ids, "total", "max", "status", "seconds", "note"])
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
                ]
            )
    tmp.replace(out / "grades.csv")
    write_json_atomic(
        out / "grades.json",
        [
            {"id": r.student, "file": r.file, "sha256": r.sha256, "note": r.note, **r.result}
            for r in rows
        ],
    )


def merge(sources: list[Path], out: Path, rubric: Rubric) -> list[Row]:
    """Join shard outputs into OUT: every student folder copied, the gradebook rebuilt."""
    rows: dict[str, Row] = {}
    for source in sources:
        for row in load_rows(source):
            shutil.copytree(source / row.student, out / row.student, dirs_exist_ok=True)
            rows[row.student] = row
    write_gradebook(out, list(rows.values()), rubric)
    write_class_report(out, list(rows.values()), rubric, FEEDBACK)
    return list(rows.values())


def _num(value: float) -> str:
    return f"{value:g}"
