"""Process lifecycle: a failing server start, Ctrl-C and SIGTERM leave nothing behind."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from grader.errors import ServerError
from grader.server import throwaway_server
from tests.helpers import SUBMISSIONS, finish, signal_when_running, start_grader

HANG = SUBMISSIONS / "timeout_after_logging.ipynb"


@pytest.mark.slow
def test_server_that_dies_while_starting_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(ServerError) as err,
            throwaway_server(tmp_path, port, startup_timeout=300) as server,
        ):
            server.wait_ready()
    # It failed because the process exited (with its log), not by waiting out the deadline.
    assert "exited with code" in str(err.value)
    assert "End of its log" in str(err.value)
    assert "did not answer /health" not in str(err.value)


@pytest.mark.slow
@pytest.mark.xdist_group("interrupt")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_grading_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    proc, token = start_grader(HANG, tmp_path, "--grade-timeout", "600")
    assert signal_when_running(proc, token, limit=240, sig=sig)
    run = finish(proc, token, tmp_path, timeout=120)
    assert run.leftovers == []
    assert run.exit_code != 0
