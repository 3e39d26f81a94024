"""Ending process trees: a grading leaves no server, kernel or child behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterable

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
    _signal_all(tagged, signal.SIGKILL)
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
        _signal_all(procs, signal.SIGTERM)
        _killpg(group, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
    _signal_all(alive, signal.SIGKILL)
    _killpg(group, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=max(grace, 3.0))


def _signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _own_group(pid: int) -> int | None:
    """The process group PID leads, if any; never the grader's own group."""
    try:
        group = os.getpgid(pid)
    except OSError:
        return None
    return group if group == pid and group != os.getpgid(0) else None


def _killpg(group: int | None, sig: int) -> None:
    if group is not None:
        # The leader may be gone while members of its group live on.
        with contextlib.suppress(OSError):
            os.killpg(group, sig)
