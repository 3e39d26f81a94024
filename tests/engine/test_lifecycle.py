"""Process lifecycle: a failing server start, Ctrl-C and SIGTERM leave nothing behind."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from grader.engine.server import throwaway_server
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
