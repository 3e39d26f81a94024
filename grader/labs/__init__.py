"""The labs: each folder here whose package defines LAB is one (`labgrade labs`), and any lab
folder of an instructor's own, named by its path (`--lab path/to/folder`).

A lab is read by the engine only through grader.engine.lab.Lab; adding a lab is adding a
folder (docs/writing-a-lab.md). Imports run one way: front ends and course tools pick a lab
here and hand it to the engine; a lab imports the engine's evidence and scoring types.

A lab folder outside this package is imported as if it were in it (`grader.labs.<id>`), so
its modules import each other as the installed labs' do, and a Gradescope or Classroom 50
bundle that copies the folder here runs it unchanged. Its code is the instructor's, run by
the grader as trusted as the installed labs': never a student's.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import sys
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


def load(lab: str | None = None, base: Path | None = None) -> Lab:
    """The lab LAB names: an installed lab's id (default: DEFAULT), or the path of a lab's
    folder (one with a separator in it, or `.`), relative to BASE if given (a pyproject's
    folder). RubricError says what is wrong and how to fix it."""
    lab = lab or DEFAULT
    if _is_path(lab):
        return _load_folder((base or Path.cwd()) / lab)
    if lab not in ids():
        raise RubricError(
            f"no lab {lab!r} is installed; installed labs: {', '.join(ids())}"
            " (`labgrade labs` lists them; a lab of your own is graded by its folder's path:"
            " --lab path/to/folder, docs/writing-a-lab.md)"
        )
    return _checked(importlib.import_module(f"grader.labs.{lab}"), lab, _HERE / lab)


def all_labs() -> list[Lab]:
    return [load(lab_id) for lab_id in ids()]


def argument(lab: Lab) -> str:
    """What `--lab` takes to load LAB again in another process: its id if it is installed,
    else its folder's path."""
    return lab.id if lab.folder == _HERE / lab.id else str(lab.folder)


def _is_path(text: str) -> bool:
    return text in (".", "..") or "/" in text or "\\" in text


def _load_folder(given: Path) -> Lab:
    folder = given.resolve()
    lab_id = folder.name
    shown = f"lab folder {given}"
    if not (folder / "__init__.py").is_file():
        why = "does not exist" if not folder.exists() else "has no __init__.py"
        raise RubricError(
            f"{shown} {why}: a lab is a folder holding __init__.py (LAB = Lab(...)),"
            " rubric.toml, checks.py and hints.py (docs/writing-a-lab.md)"
        )
    if not lab_id.isidentifier() or lab_id.startswith("_"):
        better = re.sub(r"\W", "_", lab_id).strip("_") or "lab7"
        better = better if better.isidentifier() else f"lab_{better}"
        raise RubricError(
            f"{shown}: its name {lab_id!r} is the lab's id and must be a Python identifier"
            f" not starting with '_': rename the folder, e.g. to {better}, and set LAB's id"
            " to the same"
        )
    if lab_id in ids() and folder != _HERE / lab_id:
        raise RubricError(
            f"{shown}: the grader has a lab {lab_id!r} of its own; rename your folder"
        )
    name = f"grader.labs.{lab_id}"
    module = sys.modules.get(name)
    if module is None or Path(getattr(module, "__file__", "")).resolve().parent != folder:
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise RubricError(f"{shown}: Python cannot import its __init__.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]  # a second try imports it afresh, not a half-made module
            raise
    return _checked(module, lab_id, folder)


def _checked(module: object, lab_id: str, folder: Path) -> Lab:
    init = folder / "__init__.py"
    lab = getattr(module, "LAB", None)
    if not isinstance(lab, Lab):
        raise RubricError(f"{init} must define LAB = Lab(id={lab_id!r}, ...); it defines none")
    if lab.id != lab_id:
        raise RubricError(
            f"{init}: LAB's id is {lab.id!r}, and a lab's id is its folder's name: set"
            f" id={lab_id!r}, or rename the folder to {lab.id}"
        )
    strays = sorted((set(lab.run_checks) | set(lab.wants)) - set(lab.checks))
    if strays:
        raise RubricError(
            f"{init}: run_checks or wants name {', '.join(strays)}, which are not among its"
            f" checks ({', '.join(lab.checks)})"
        )
    if lab.folder.resolve() != folder:
        raise RubricError(
            f"{folder / '__init__.py'}: LAB's folder is {lab.folder}, not this folder"
            " (set folder=Path(__file__).resolve().parent)"
        )
    return lab
