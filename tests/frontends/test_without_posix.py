"""`pytest grader` where Windows and macOS differ from Linux, as far as Linux can show it.

A start-up hook takes from the grader's own process what Windows lacks (POSIX's fcntl and
resource, os.fork) and makes multiprocessing spawn, as Windows and macOS do; macOS keeps
fork and both modules, and spawns by default. The grading runs with process isolation, what
`auto` gives on both (no namespaces there; here, as root, it would be full). The real
systems are not proven here: the released student repository's workflow is where they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT, finish, start_grader

HOOK = """
import multiprocessing
import os
import sys

# Only the grader's own process: what it starts is a Linux Python as usual.
system = os.environ.pop("LABGRADE_SIMULATE", "")
if system == "windows":
    # Libraries whose Linux code needs them first (on Windows they have code of their own).
    import psutil  # noqa: F401

    sys.modules["fcntl"] = None  # import fcntl now raises ImportError, as on Windows
    sys.modules["resource"] = None
    del os.fork
if system:
    multiprocessing.set_start_method("spawn", force=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("system", ["windows", "macos"])
def test_the_reference_grades_100_without_what_the_system_lacks(
    tmp_path: Path, system: str
) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    (tmp_path / "out").mkdir()
    env = {"PYTHONPATH": str(hook), "LABGRADE_SIMULATE": system}
    proc, token = start_grader(
        ROOT / "reference" / "tracking", tmp_path / "out", "--isolation", "process", env=env
    )
    run = finish(proc, token, tmp_path / "out")
    assert run.result is not None, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.result["score"] == 100, [c["message"] for c in run.result["checks"]]
    assert run.exit_code == 0
    assert run.leftovers == []
    isolation = next(ln for ln in run.stdout.splitlines() if ln.startswith("grader: isolation:"))
    if system == "windows":
        assert "no rlimits: this Python has no resource module" in isolation
    else:
        assert "rlimits cap CPU, memory, processes, file size" in isolation
