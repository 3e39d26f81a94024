"""The one atomic writer: whole files, their own line ends, no temporary left behind."""

from __future__ import annotations

import json
from pathlib import Path

from grader.files import write_atomic, write_json_atomic


def test_a_rewrite_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    path.write_text("old, longer than the new text\n")
    write_atomic(path, "a,b\r\n1,2\r\n", newline="")
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"  # a csv writer's CRLF stays as written
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


def test_json_is_indented_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"score": 85, "notes": ["é"]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"score": 85, "notes": ["é"]}
    assert path.read_text(encoding="utf-8").endswith("}\n")
