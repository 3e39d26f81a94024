"""Ending process trees: a grading leaves no server, kernel or child behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterable

import psutil

# Environment variables whose random value tags every process of one job (batch) or one
# test: the only variables of the grader's that reach a submission, so they can be reaped.
TAG_VARS = ("LABGRADE_JOB", "LABGRADE_TEST_TOKEN")


def reserve_port(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port, held until the server takes it over (no race for it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


def reap_tagged(var: str, token: str) -> list[int]:
    """Kill every process whose environment has VAR=TOKEN: all a job started, even orphans."""
    tagged = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(var) == token:
                tagged.append(proc)
    _each(tagged, psutil.Process.kill)
    psutil.wait_procs(tagged, timeout=5)
    return [p.pid for p in tagged]


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(pid: int, extra: Iterable[psutil.Process] = (), grace: float = 3.0) -> None:
    """SIGTERM the process, its descendants and its process group; SIGKILL what is left.

    grace=0 skips the SIGTERM: for a throwaway process whose state is no longer needed.
    """
    group = _own_group(pid)
    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        procs.append(psutil.Process(pid))
    procs += descendants(pid)
    procs += [p for p in extra if p not in procs]
    alive = procs
    if grace > 0:
        _each(procs, psutil.Process.terminate)
        if group is not None:
            _killpg(group, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
    _each(alive, psutil.Process.kill)
    if group is not None:
        _killpg(group, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=max(grace, 3.0))


def _each(procs: Iterable[psutil.Process], end: Callable[[psutil.Process], None]) -> None:
    """END (terminate: SIGTERM; kill: SIGKILL, or Windows' TerminateProcess) each of PROCS."""
    for proc in procs:
        # NoSuchProcess: it ended already; AccessDenied: not the grader's to end.
        with contextlib.suppress(psutil.Error):
            end(proc)


def _own_group(pid: int) -> int | None:
    """The process group PID leads, if any; never the grader's own group. None where there
    are no process groups (Windows): each process is then ended on its own."""
    if not hasattr(os, "getpgid"):
        return None
    try:
        group = os.getpgid(pid)
    except OSError:
        return None
    return group if group == pid and group != os.getpgid(0) else None


def _killpg(group: int, sig: int) -> None:
    # The leader may be gone while members of its group live on.
    with contextlib.suppress(OSError):
        os.killpg(group, sig)
