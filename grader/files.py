"""Writing a file whole or not at all: a reader (Gradescope, an LMS import, a resumed batch)
never sees half of one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str, newline: str | None = None) -> None:
    """TEXT to PATH through a temporary file beside it, renamed over PATH. NEWLINE as for
    open(): "" keeps TEXT's own line ends (a csv writer's CRLF)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline=newline) as fh:
        fh.write(text)
    tmp.replace(path)


def write_json_atomic(path: Path, data: Any) -> None:
    """DATA as indented JSON, atomically (write_atomic)."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")
