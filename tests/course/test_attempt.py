"""An unattempted submission: the lab's template with no code cell edited."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from grader.course.attempt import is_unattempted
from grader.labs import all_labs, load


def test_each_labs_template_is_unattempted_and_its_reference_is_not(tmp_path: Path) -> None:
    for lab in all_labs():
        template = lab.template / lab.notebook
        assert is_unattempted(template, lab)
        assert not is_unattempted(lab.reference / lab.notebook, lab)
        # Markdown written, cells reordered or emptied, trailing spaces: still not attempted.
        nb = json.loads(template.read_text(encoding="utf-8"))
        nb["cells"].append({"cell_type": "markdown", "id": "x", "metadata": {}, "source": "hi"})
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code[0]["source"] = "".join(code[0]["source"]) + "   \n\n"
        code[-1]["source"] = ""
        copy = tmp_path / f"{lab.id}.ipynb"
        copy.write_text(json.dumps(nb), encoding="utf-8")
        assert is_unattempted(copy, lab)
        # One line of code of their own is an attempt.
        code[1]["source"] = "".join(code[1]["source"]) + "\nx = 1"
        copy.write_text(json.dumps(nb), encoding="utf-8")
        assert not is_unattempted(copy, lab)


def test_what_cannot_be_read_is_left_to_the_grading(tmp_path: Path) -> None:
    lab = next(iter(all_labs()))
    (tmp_path / "lab.ipynb").write_bytes(b"\x00 not json")
    assert not is_unattempted(tmp_path / "lab.ipynb", lab)


def test_an_installed_grader_without_templates_grades_every_submission(tmp_path: Path) -> None:
    """A wheel has no student_template/: nothing is judged unattempted, nothing crashes."""
    lab = load("tracking")
    installed = dataclasses.replace(lab, folder=tmp_path / "site" / "grader" / "labs" / lab.id)
    assert not (installed.template / lab.notebook).exists()
    assert is_unattempted(lab.template / lab.notebook, lab)
    assert not is_unattempted(lab.template / lab.notebook, installed)
