"""Process lifecycle: a failing server start, Ctrl-C and SIGTERM leave nothing behind."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import py
import pytest
from xprocess import ProcessStarter, XProcess

from grader.engine.server.throwaway import standin_command, throwaway_server
from grader.errors import ServerError
from grader.sandbox.procs import reserve_port
from tests.helpers import SUBMISSIONS, finish, signal_when_running, start_grader

HANG = SUBMISSIONS / "timeout_after_logging.ipynb"


@pytest.mark.slow
def test_server_that_dies_while_starting_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))  # a socket uvicorn cannot listen on: it exits at start
        with (
            pytest.raises(ServerError) as err,
            throwaway_server(tmp_path, udp, startup_timeout=300) as server,
        ):
            server.wait_ready()
    # It failed because the process exited (with its log), not by waiting out the deadline.
    assert "exited with code" in str(err.value)
    assert "End of its log" in str(err.value)
    assert "did not answer /health" not in str(err.value)


def test_the_server_port_is_held_from_the_start() -> None:
    sock = reserve_port()
    port = sock.getsockname()[1]
    with socket.socket() as other, pytest.raises(OSError, match="Address already in use"):
        other.bind(("127.0.0.1", port))  # nobody else can take it before the server does
    sock.close()


@pytest.mark.slow
@pytest.mark.xdist_group("interrupt")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_grading_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    proc, token = start_grader(HANG, tmp_path, "--grade-timeout", "600")
    assert signal_when_running(proc, token, limit=240, sig=sig)
    run = finish(proc, token, tmp_path, timeout=120)
    assert run.leftovers == []
    assert run.exit_code != 0


def stand_in(tmp_path: Path, pid: int) -> tuple[XProcess, str]:
    """A stand-in for PID started by xprocess, as a warm server's is; ready once it catches
    SIGTERM (its handler is what ends PID)."""
    xproc = XProcess(SimpleNamespace(), py.path.local(str(tmp_path)), log=_Quiet())
    name = "stand-in"

    class Starter(ProcessStarter):
        args = standin_command(pid)
        timeout = 60

        def startup_check(self) -> bool:
            status = Path(f"/proc/{xproc.getinfo(name).pid}/status").read_text()
            caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
            return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

    xproc.ensure(name, Starter, restart=True)
    return xproc, name


class _Quiet:
    def debug(self, *args: Any) -> None:
        pass


def test_terminating_a_stand_in_ends_what_it_stands_for_first(tmp_path: Path) -> None:
    # In a session of its own, as a served fork is: its whole group goes.
    target = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        xproc, name = stand_in(tmp_path, target.pid)
        standin = psutil.Process(xproc.getinfo(name).pid)
        assert standin.status() != psutil.STATUS_ZOMBIE
        assert xproc.getinfo(name).terminate(timeout=10) == 1
        assert target.wait(timeout=0.5) == -signal.SIGKILL  # ended before terminate() returned
        assert not xproc.getinfo(name).isrunning()
    finally:
        target.kill()
        target.wait()


def test_a_stand_in_ends_with_what_it_stands_for(tmp_path: Path) -> None:
    target = subprocess.Popen(["sleep", "300"])
    try:
        xproc, name = stand_in(tmp_path, target.pid)
        standin = psutil.Process(xproc.getinfo(name).pid)
        target.kill()
        target.wait()
        assert standin.wait(timeout=10) == 0
    finally:
        target.kill()  # and so its stand-in, if the test failed before
        target.wait()
