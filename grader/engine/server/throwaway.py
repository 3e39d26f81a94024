"""The throwaway MLflow tracking server every grading runs against.

pytest-xprocess is its one lifecycle, whether a warm host forks it or it starts as a fresh
Python: XProcess.ensure starts it (the server itself, or a stand-in for the fork:
grader.engine.server.xprocess_standin) and probes /health until it answers, within a deadline;
XProcessInfo.terminate ends it. Each server has its own port, store and control dir.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import py
from xprocess import ProcessStarter, XProcess
from xprocess.xprocess import XPROCESS_BLOCK_DELIMITER  # xprocess's mark in every log

from grader.engine.launcher import NO_HOST, Forked, Host
from grader.engine.server import store_template
from grader.errors import ServerError
from grader.sandbox.procs import kill_tree, reserve_port

HOST = "127.0.0.1"
# The client retries a dead server for minutes by default; a grader must fail in seconds.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # MLflow's telemetry thread sets and unsets a variable in os.environ while the client's
    # requests read os.environ (requests' proxy lookup): a KeyError now and then in a student's
    # cell, which would be a wrong grade. It could not send anything from a sandbox anyway.
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# terminate()'s wait after SIGTERM, then after SIGKILL: a server ends at once on SIGTERM
# (grader.engine.server.one_process), a stand-in once its fork has.
STOP_TIMEOUT = 10.0


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    kept = [line for line in text.strip().splitlines() if XPROCESS_BLOCK_DELIMITER not in line]
    return "\n".join(kept[-lines:])


@contextlib.contextmanager
def bounded_retries() -> Iterator[None]:
    """CLIENT_ENV for MlflowClient calls made in the grader's own process, then restored.

    Also no artifact progress bars: the grader's downloads are its own business, and a bar
    on stderr would only clutter `labgrade grade` and the batch workers' logs.
    """
    quiet = {**CLIENT_ENV, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    saved = {k: os.environ.get(k) for k in quiet}
    os.environ.update(quiet)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The grader's environment without any MLflow setting of the user's, plus EXTRA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(CLIENT_ENV)
    env.update(extra or {})
    return env


def importable(env: dict[str, str]) -> dict[str, str]:
    """ENV with the grader importable by `python -m grader.<module>`, installed or not."""
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


class _QuietLog:
    def debug(self, msg: str, *args: Any) -> None:
        """xprocess echoes every server log line to stdout; the log file keeps them."""


def _starter(
    url: str,
    server: list[str],
    command: list[str],
    env: dict[str, str],
    deadline: float,
    fds: tuple[int, ...],
    exit_code: Callable[[], int | None],
    cancelled: threading.Event,
) -> type:
    """What xprocess starts: COMMAND (the SERVER command itself, or a stand-in for its fork);
    ready once /health answers, within DEADLINE; EXIT_CODE tells the server's, once it ended."""

    class MlflowServerStarter(ProcessStarter):
        terminate_on_interrupt = True
        timeout = deadline
        popen_kwargs: ClassVar[dict[str, Any]] = {"stdin": subprocess.DEVNULL, "pass_fds": fds}

        @property
        def args(self) -> list[str]:
            return command

        @property
        def env(self) -> dict[str, str]:
            return env

        def startup_check(self) -> bool:
            if cancelled.is_set():
                raise ServerError("the grading ended before its MLflow server was ready")
            code = exit_code()
            if code is not None:
                log = log_tail(Path(str(self.control_dir)) / "xprocess.log")
                raise ServerError(
                    f"MLflow server exited with code {code} while starting "
                    f"(command: {' '.join(server)}). End of its log:\n{log}"
                )
            return _healthy(url)

    return MlflowServerStarter


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


class ServerHandle:
    """A server being started in the background; wait_ready() blocks until /health answers."""

    def __init__(self, url: str, thread: threading.Thread, failure: list[BaseException]) -> None:
        self.url = url
        self._thread = thread
        self._failure = failure
        self.started = time.monotonic()
        self.ready_at: float | None = None

    @property
    def ready_seconds(self) -> float:
        """From the start until /health answered (for the benchmark)."""
        return (self.ready_at or time.monotonic()) - self.started

    def settled(self) -> bool:
        """Block until the start is over; True when the server answers (no exception)."""
        self._thread.join()
        return not self._failure

    def wait_ready(self) -> None:
        self._thread.join()
        if self._failure:
            raise self._failure[0]


@contextlib.contextmanager
def throwaway_server(
    workdir: Path,
    port: socket.socket | None = None,
    startup_timeout: float = 90,
    also: tuple[socket.socket, ...] = (),
    host: Host = NO_HOST,
    confine: Callable[[Path], dict[str, Any]] | None = None,
) -> Iterator[ServerHandle]:
    """Start a fresh MLflow server storing everything under WORKDIR; end its whole tree after.

    PORT is a socket bound to the port to serve on (reserve_port()); the server serves on
    that very socket, so no other process can take the port in between. It also serves on
    the bound sockets ALSO (the sandbox's, in another network namespace). Starting runs in
    a thread so that the kernel can start meanwhile; call wait_ready().

    HOST forks the server if it can (grader.engine.launcher), else it is a fresh Python.
    pytest-xprocess starts and stops it either way: the fresh server itself, or a stand-in
    for the fork (grader.engine.server.xprocess_standin).

    CONFINE, given the store folder, says how the server bounds itself before it serves
    (grader.sandbox.sandbox.Sandbox.server_spec: its cgroup, rlimits and store limit).
    """
    store = workdir / "server"
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    (store / "tmp").mkdir(mode=0o700, exist_ok=True)
    sock = port or reserve_port(HOST)
    url = f"http://{HOST}:{sock.getsockname()[1]}"
    # `mlflow server` itself, run by grader.engine.server.one_process in one interpreter instead of
    # two.
    head = [sys.executable, "-m", "grader.engine.server.one_process"]
    for extra in also:
        head += ["--also-fd", str(extra.fileno())]
    if confine is not None:
        head += ["--confine", json.dumps(confine(store))]
    tail = ["--host", HOST, "--port", url.rsplit(":", 1)[1]]
    tail += ["--uvicorn-opts", f"--fd {sock.fileno()}"]
    tail += ["--workers", "1", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}"]
    tail += ["--artifacts-destination", str(store / "artifacts"), "--serve-artifacts"]
    # Its temporary files (e.g. a form's upload spooled to disk) stay in its store's folder.
    extra_env = {"TMPDIR": str(store / "tmp")}
    env = importable(
        clean_env(
            {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1", **extra_env}
        )
    )
    # A fresh control dir and a unique name: xprocess never finds an earlier server to reuse.
    xproc = XProcess(SimpleNamespace(), py.path.local(str(store / "xprocess")), log=_QuietLog())
    name = f"mlflow-{uuid.uuid4().hex[:12]}"
    log_path = Path(str(xproc.getinfo(name).logpath))
    failure: list[BaseException] = []
    forks: list[Forked] = []
    cancelled = threading.Event()  # set when the grading ends: a start still going gives up

    def start() -> None:
        args = head + tail
        try:
            fds = (sock.fileno(), *(extra.fileno() for extra in also))
            fork = _fork(host, args, env, fds, log_path, cancelled)
            if fork is not None:
                forks.append(fork)
                # The fork holds the sockets and the log already: its stand-in needs neither.
                command, fds, exited = standin_command(fork.pid), (), fork.poll
            elif cancelled.is_set():
                raise ServerError("the grading ended before its MLflow server started")
            else:
                args = command = head + _cold_store(store / "mlflow.db") + tail
                exited = functools.partial(_child_exit_code, xproc, name)
            starter = _starter(url, args, command, env, startup_timeout, fds, exited, cancelled)
            xproc.ensure(name, starter, restart=True)
            handle.ready_at = time.monotonic()
        except TimeoutError as err:
            failure.append(
                ServerError(
                    f"MLflow server at {url} did not answer /health within {startup_timeout:.0f} s."
                    f" End of its log:\n{log_tail(log_path)}"
                )
            )
            failure[-1].__cause__ = err
        except ServerError as err:
            failure.append(err)
        except Exception as err:  # reported through wait_ready(), never lost
            failure.append(ServerError(f"could not start the MLflow server ({args[0]}): {err}"))
            failure[-1].__cause__ = err

    thread = threading.Thread(target=start, name=f"start-{name}", daemon=True)
    handle = ServerHandle(url, thread, failure)
    thread.start()
    try:
        yield handle
    finally:
        _stop(xproc, name, thread, cancelled, forks)
        sock.close()


def standin_command(pid: int) -> list[str]:
    """The command of a process standing for PID under xprocess
    (grader.engine.server.xprocess_standin)."""
    return [
        sys.executable,
        "-I",
        "-S",
        str(Path(__file__).with_name("xprocess_standin.py")),
        str(pid),
    ]


def _fork(
    host: Host,
    args: list[str],
    env: dict[str, str],
    fds: tuple[int, ...],
    log: Path,
    cancelled: threading.Event,
) -> Forked | None:
    """The server forked by HOST, with the command line, sockets and log a fresh one gets;
    None if the host does not fork it (a fresh server is started instead)."""
    # Appending: xprocess appends to the same log when it starts the fork's stand-in.
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        request = {"argv": args[3:], "env": env, "targets": list(fds)}
        return host.fork("server", request, [log_fd, *fds], cancelled)
    finally:
        os.close(log_fd)


def _child_exit_code(xproc: XProcess, name: str) -> int | None:
    """The exit code of the server xprocess started, once it has ended; left for xprocess
    to collect (WNOWAIT)."""
    pid = xproc.getinfo(name).pid
    if pid is None:
        return None
    try:
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # collected already
        return None
    if ended is None:
        return None
    return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status


def _cold_store(db: Path) -> list[str]:
    """A fresh server's store: a copy of the grader's template, or it keeps one once migrated."""
    template = store_template.cached_path()
    if template.is_file() and store_template.seed(db, template):
        return []
    return ["--save-template", str(template)]


def _stop(
    xproc: XProcess,
    name: str,
    thread: threading.Thread,
    cancelled: threading.Event,
    forks: list[Forked],
) -> None:
    cancelled.set()  # a start still waiting for its host or for /health gives up at once
    # Twice: a start that was about to launch the server has launched it after the first.
    for _ in range(2):
        xproc.getinfo(name).terminate(timeout=STOP_TIMEOUT)
        thread.join(timeout=10)
    for fork in forks:
        # Its stand-in ended it, and the host's word on that follows; unless the stand-in never
        # ran, or died before it could (the grading ended just as the fork was handed over).
        with contextlib.suppress(subprocess.TimeoutExpired):
            fork.wait(timeout=1)
        if fork.poll() is None:
            kill_tree(fork.pid, grace=0)
