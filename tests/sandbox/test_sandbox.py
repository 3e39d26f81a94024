"""The sandbox's own guarantees, without MLflow: limits, neutralized files, a jail's end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from grader.engine.evidence.rubric import load_rubric
from grader.engine.kernel.execution import _copy_folder
from grader.engine.kernel.sanitize import clean_text
from grader.errors import RubricError
from grader.labs import load
from grader.sandbox.limits import Limits, parse_size, with_values
from grader.sandbox.sandbox import Sandbox, full_unavailable

FULL = full_unavailable()
needs_full = pytest.mark.skipif(FULL is not None, reason=f"full isolation unavailable: {FULL}")


def test_sizes_and_limits_parse_from_flags_and_rubric(tmp_path: Path) -> None:
    assert parse_size("2GiB", "x") == 2 * 1024**3
    assert parse_size("512M", "x") == 512 * 1024**2
    assert parse_size(1024, "x") == 1024
    limits = with_values(Limits(), {"memory": "3g", "cell_timeout": "7", "processes": "9"}, "w")
    assert (limits.memory, limits.cell_timeout, limits.processes) == (3 * 1024**3, 7.0, 9)
    for bad in ({"memory": "lots"}, {"cpu_time": "-1"}, {"nonsense": "1"}):
        with pytest.raises(ValueError, match="w"):
            with_values(Limits(), bad, "w")
    rubric = tmp_path / "r.toml"
    rubric.write_text('[limits]\nmemory = "big"\n[checks.experiment]\npoints = 1\n')
    with pytest.raises(RubricError, match=r"\[limits\] memory"):
        load_rubric(rubric)


def test_default_rubric_limits_are_the_documented_ones() -> None:
    limits = load().rubric().limits
    assert limits == Limits()
    assert limits.memory == 1024**3
    assert limits.disk == 512 * 1024**2


def test_files_that_change_start_up_are_not_copied(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    (folder / "mlruns").mkdir(parents=True)
    names = ["lab.ipynb", "helpers.py", "conftest.py", "mlflow.py", "json.py", "evil.pth"]
    names += ["pytest.ini", "sitecustomize.py", "mlflow.db", "data.csv"]
    for name in names:
        (folder / name).write_text("x")
    copy, notes = _copy_folder(folder, tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["data.csv", "helpers.py", "lab.ipynb"]
    joined = " ".join(notes)
    for name in ("conftest.py", "mlflow.py", "json.py", "evil.pth", "sitecustomize.py"):
        assert f"ignored {name}" in joined


def test_text_shown_from_a_submission_has_no_escapes_and_is_short() -> None:
    assert clean_text("\x1b[2J\x1b[1;32mok\x1b[0m\x07 \x1b]0;title\x07done", 100) == "ok done"
    assert clean_text("A" * 500, 50) == "A" * 47 + "..."


@needs_full
def test_a_jail_ends_with_everything_it_started(tmp_path: Path) -> None:
    """Double forks and setsid included; its user runs nothing and its cgroup is gone after."""
    escape = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(300)\n"
        "time.sleep(300)\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    with Sandbox(tmp_path, Limits(), port=5000, isolation="full") as box:
        command = box.command("kernel", [sys.executable, "-c", escape], work)
        proc = subprocess.Popen(command, env=box.env("kernel", work, {}), cwd=tmp_path)
        jail = box.jail("kernel")
        assert jail.cgroup is not None
        deadline = time.monotonic() + 30
        # The namespace's init (the jail's reaper), the process and its two descendants.
        while len(_of_user(jail.uid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_of_user(jail.uid)) == 4
        assert jail.cgroup.pids()  # the whole tree is in its cgroup
        proc.kill()  # the jail process dies: its PID namespace, and everything in it, with it
        proc.wait()
        deadline = time.monotonic() + 10
        while _of_user(jail.uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _of_user(jail.uid) == []
        dirs = jail.cgroup.dirs
    assert not any(d.exists() for d in dirs)
    assert os.listdir(tmp_path / "kernel-io") == []


def _of_user(uid: int) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["uids", "status"])
        if p.info["uids"] and p.info["uids"].real == uid and p.info["status"] != "zombie"
    ]
