"""Whether a submission was attempted at all: the lab's template handed in with no code cell
edited scores 0 like a real attempt that got everything wrong, and must not read like one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nbformat import NotebookNode

from grader.course.classreport import UNATTEMPTED
from grader.engine.kernel.submission import load_submission
from grader.engine.lab import Lab
from grader.errors import InvalidSubmission

__all__ = ["UNATTEMPTED", "UNATTEMPTED_NOTE", "code_cells", "is_unattempted", "unedited"]

UNATTEMPTED_NOTE = (
    "unattempted: the lab's template as handed out, no code cell edited; not run, 0 points."
    " Fill in the template's code cells, run it top to bottom, and hand it in again"
)


def code_cells(nb: NotebookNode) -> list[str]:
    """NB's code cells as compared: trailing spaces and blank lines do not make an edit."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = [line.rstrip() for line in str(cell.source).splitlines()]
        text = "\n".join(lines).strip("\n")
        if text:
            cells.append(text)
    return cells


def unedited(theirs: Iterable[str], template: Iterable[str]) -> bool:
    """Whether every one of THEIRS is one of TEMPLATE's code cells (none written or edited)."""
    handed_out = set(template)
    return all(cell in handed_out for cell in theirs)


def is_unattempted(graded: Path, lab: Lab) -> bool:
    """Whether the submission at GRADED (a file, or the folder holding it) is LAB's template
    with no code cell edited. A submission that cannot be read is not judged here: its
    grading says why it cannot be graded."""
    handed_out = lab.template / lab.notebook
    if not handed_out.is_file():
        # An installed grader has no template (a clone's student_template/<id>/): every
        # submission is graded as it is, which scores an untouched template 0 all the same.
        return False
    try:
        submission = load_submission(graded)
    except InvalidSubmission:
        return False
    template = load_submission(handed_out)
    return unedited(code_cells(submission.notebook), code_cells(template.notebook))
