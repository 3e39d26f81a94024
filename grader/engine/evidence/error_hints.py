"""Known slips and how to fix them, for feedback on a failing cell: the lab's own first,
then those of any MLflow notebook."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from typing import Literal


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def version(dist: str) -> str:
    """The installed version of DIST, for hints that depend on it."""
    return _version(dist)


def hint_for(
    ename: str,
    evalue: str,
    lab_hint: Callable[[str, str], str | None] | None = None,
    kind: Literal["notebook", "script"] = "notebook",
) -> str | None:
    """A fix for an exception a cell raised, or None when there is nothing specific to say;
    KIND: the submission's, whose terms the fix speaks in."""
    own = lab_hint(ename, evalue) if lab_hint else None
    if own:
        return own
    if ename in {"ModuleNotFoundError", "ImportError"}:
        missing = re.search(r"No module named '([^']+)'", evalue)
        name = missing.group(1) if missing else "that module"
        return (
            f"{name} is not installed where the grader runs. The lab needs only mlflow,"
            " scikit-learn and pandas; remove imports of anything else."
        )
    if ename == "NameError":
        missing = re.search(r"name '([^']+)' is not defined", evalue)
        name = missing.group(1) if missing else "a name"
        if kind == "script":
            return (
                f"{name} is used before it is defined: the grader runs the script top to"
                " bottom as `python` does, so define it above the line that uses it (run"
                " the script on its own to check)."
            )
        return (
            f"{name} is used before it is defined: the grader runs the cells top to bottom"
            " in a fresh kernel, so define it in an earlier cell (Restart & Run All to check)."
        )
    if "RESOURCE_DOES_NOT_EXIST" in evalue or "Connection refused" in evalue:
        return (
            "the code talks to an MLflow server or object that is not there. The grader"
            " provides the tracking server: keep the lab's mlflow.set_tracking_uri(...),"
            " and do not depend on runs or ids made outside this notebook."
        )
    return None
