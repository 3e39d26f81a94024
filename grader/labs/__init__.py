"""The installed labs: each folder here whose package defines LAB is one (`labgrade labs`).

A lab is read by the engine only through grader.engine.lab.Lab; adding a lab is adding a
folder (docs/writing-a-lab.md). Imports run one way: front ends and course tools pick a lab
here and hand it to the engine; a lab imports the engine's evidence and scoring types.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from grader.engine.lab import Lab
from grader.errors import RubricError

DEFAULT = "tracking"  # lab 1: what `pytest grader` grades without --lab
_HERE = Path(__file__).resolve().parent


def ids() -> list[str]:
    """Ids of the installed labs, sorted."""
    # A folder starting with "_" holds what labs share (grader/labs/_compat), not a lab.
    found = pkgutil.iter_modules([str(_HERE)])
    return sorted(m.name for m in found if m.ispkg and not m.name.startswith("_"))


def load(lab_id: str | None = None) -> Lab:
    """The lab named LAB_ID (default: DEFAULT); RubricError names the installed ones."""
    lab_id = lab_id or DEFAULT
    if lab_id not in ids():
        raise RubricError(
            f"no lab {lab_id!r} is installed; installed labs: {', '.join(ids())}"
            " (`labgrade labs` lists them; a lab is a folder under grader/labs/)"
        )
    module = importlib.import_module(f"grader.labs.{lab_id}")
    lab = getattr(module, "LAB", None)
    if not isinstance(lab, Lab) or lab.id != lab_id:
        raise RubricError(
            f"grader/labs/{lab_id}/__init__.py must define LAB = Lab(id={lab_id!r}, ...)"
        )
    return lab


def all_labs() -> list[Lab]:
    return [load(lab_id) for lab_id in ids()]
