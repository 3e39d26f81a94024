"""A warm process for a batch: it imports the grader, MLflow and scikit-learn once, then
forks one worker per submission instead of starting a fresh Python that imports them all
again. Each worker forks spares (grader.spares) for its server and model probe.

    parent (labgrade batch) --socketpair--> zygote: `python -m grader.warm FD`
        zygote --fork--> worker (`labgrade grade ARGS`, own session) --fork--> spares

What the zygote holds is what every worker, server and probe starts from, and the probe
runs a submission's model: so the zygote starts with an allow-listed environment (no
tokens or credentials), and it never sees a submission's path or a job's settings. It
receives only file descriptors: the worker reads its command line from the parent
directly, after its spares are forked. The zygote reports each worker's exit code on
that worker's own socket, and ends every worker when the parent goes away.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from grader import sandbox, store_template
from grader.errors import GraderError
from grader.procs import TAG_VARS, kill_tree
from grader.server import importable

# What a worker, its server and its probe import; a module missing here is imported by
# whoever needs it, as usual (slower, never wrong). The server's first: the template
# store is made from them while the rest import.
SERVER_MODULES = (
    "grader.serve",
    "mlflow.cli",
    "mlflow.server",
    "mlflow.server.handlers",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "uvicorn.main",
    "fastapi",
)
PRELOAD = (
    *SERVER_MODULES,
    "grader.cli",
    "grader.grading",
    "grader.report",
    "grader.probe_child",
    "mlflow.artifacts",
    "mlflow.models",
    "mlflow.tracking",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "skops.io",
    "cloudpickle",
    "nbclient",
    "jupyter_client.manager",
)
# The zygote's environment, and so every warm worker's: nothing that could be a secret.
# A submission's allow-list, plus what the grader itself uses (its home, cache, Jupyter).
ALLOWED_ENV = {*sandbox.ALLOWED_ENV, "HOME", "TMPDIR", "USER", "LOGNAME", "TERM"}
ALLOWED_ENV |= {store_template.CACHE_VAR}  # where the template store is kept
ALLOWED_PREFIXES = ("LC_", "XDG_", "JUPYTER", "PYTHONPATH", "VIRTUAL_ENV")
START_TIMEOUT = 120.0
MAX_MESSAGE = 1 << 20


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The allow-listed environment a warm worker sees, plus EXTRA (its job tag)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ALLOWED_ENV or k in TAG_VARS or k.startswith(ALLOWED_PREFIXES)
    }
    return {**importable(env), **extra}


class WarmWorker:
    """A worker forked by the zygote: as much of subprocess.Popen as the batch uses."""

    def __init__(self, pid: int, sock: socket.socket, stderr: Path) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._sock, self._stderr = sock, stderr
        self._done = threading.Event()  # waited on by the job's thread and by Ctrl-C's
        threading.Thread(target=self._watch, name=f"warm-worker-{pid}", daemon=True).start()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout) or self.returncode is None:
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[None, bytes]:
        self.wait(timeout)
        return None, self._stderr.read_bytes()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _watch(self) -> None:
        try:
            data = self._sock.recv(MAX_MESSAGE)
        except OSError:
            data = b""
        # No message: the zygote ended (killing its workers) without a word for this one.
        self.returncode = int(json.loads(data)["code"]) if data else -signal.SIGKILL
        self._sock.close()
        self._done.set()


class Zygote:
    def __init__(self, proc: subprocess.Popen[bytes], control: socket.socket, log: Path) -> None:
        self.proc, self.control, self.log = proc, control, log
        self.lock = threading.Lock()

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path) -> Iterator[Zygote]:
        """Start the zygote and wait until it has imported everything; end it after."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log = workdir / "zygote.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "grader.warm", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=worker_env({}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=workdir,
            )
        theirs.close()
        zygote = cls(proc, mine, log)
        try:
            zygote._ready()
            yield zygote
        finally:
            mine.close()  # the zygote ends its workers, then itself
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid, grace=0)

    def _ready(self) -> None:
        self.control.settimeout(START_TIMEOUT)
        try:
            data = self.control.recv(MAX_MESSAGE)
        except TimeoutError:
            data = b""
        self.control.settimeout(None)
        if not data or not json.loads(data).get("ready"):
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise GraderError(
                f"the warm batch process ({sys.executable} -m grader.warm) did not start:"
                f" {' | '.join(tail) or 'no output'}. Run `labgrade batch --cold` to grade"
                " without it."
            )

    def spawn(self, argv: list[str], extra_env: dict[str, str], stderr: Path) -> WarmWorker:
        """`labgrade ARGV` in a fork of the zygote, in its own session; stderr to a file."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with self.lock:
                socket.send_fds(self.control, [b"fork"], [theirs.fileno(), null, err])
        finally:
            theirs.close()
            os.close(null)
            os.close(err)
        mine.settimeout(30)
        answer = mine.recv(MAX_MESSAGE)
        if not answer:
            raise GraderError(f"the warm batch process ended; see {self.log}")
        pid = int(json.loads(answer)["pid"])
        # Straight to the worker: the zygote never holds a submission's path or settings.
        mine.sendall(json.dumps({"argv": argv, "env": extra_env, "cwd": os.getcwd()}).encode())
        mine.settimeout(None)
        return WarmWorker(pid, mine, stderr)


# ----- inside the zygote -----


def main(fd: int) -> None:
    control = socket.socket(fileno=fd)  # end of file on it: the parent is gone, end all
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch parent's to handle
    _preload(SERVER_MODULES)
    maker = _fork_template_maker(Path.cwd() / "template.db")
    _preload(PRELOAD)
    _work_out_once()
    _adopt_template(maker, Path.cwd() / "template.db")
    control.sendall(json.dumps({"ready": True}).encode())
    _serve(control)


def _preload(modules: tuple[str, ...]) -> None:
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if threading.active_count() != 1:  # forking would copy a thread's locks, not the thread
        names = ", ".join(t.name for t in threading.enumerate())
        raise SystemExit(f"labgrade warm: preloading started threads ({names})")


def _work_out_once() -> None:
    """What each worker or server would otherwise work out for itself; forks inherit it."""
    from mlflow.store.db import utils as db_utils

    from grader.sandbox import full_unavailable
    from grader.serve import remember_schema_head

    remember_schema_head()
    db_utils._get_latest_schema_revision()
    full_unavailable()  # the preflight jail (cached)


def _fork_template_maker(path: Path) -> int:
    """A child that makes a migrated, empty tracking store, while the zygote imports on.

    Every server of the batch starts from a copy (grader.spares), instead of running
    MLflow's ~140 database migrations again (~1.5 s of CPU each). In a child: MLflow's
    server caches the store it opens, and the zygote must fork with none open.
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from mlflow.server.handlers import initialize_backend_stores
            from mlflow.utils.server_cli_utils import resolve_default_artifact_root

            uri = f"sqlite:///{path}"
            # As `mlflow server --serve-artifacts` resolves it: the Default experiment's
            # artifact location is the same as in a store the server migrates itself.
            initialize_backend_stores(uri, uri, resolve_default_artifact_root(True, "", uri))
            code = 0
        finally:
            os._exit(code)
    return pid


def _adopt_template(maker: int, path: Path) -> None:
    from grader import spares

    _, status = os.waitpid(maker, 0)
    if os.waitstatus_to_exitcode(status) == 0 and path.is_file():
        spares.set_template(path)
        with contextlib.suppress(OSError):  # a cache that cannot be written only stays cold
            store_template.save(path, store_template.cached_path())
    else:  # each server migrates its own store, as a cold one does: slower, same result
        print(f"labgrade warm: no template store (maker exit {status})", file=sys.stderr)


def _serve(control: socket.socket) -> None:
    children: dict[int, socket.socket] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is control and not _fork(control, children, (wake_r, wake_w)):
                    _end(children)
                    return
                if key.fileobj == wake_r:
                    os.read(wake_r, 4096)
                    _reap(children)


def _fork(
    control: socket.socket, children: dict[int, socket.socket], wake: tuple[int, int]
) -> bool:
    """One worker per request; False once the parent has gone."""
    data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
    if not data:
        return False
    report = socket.socket(fileno=fds[0])
    pid = os.fork()
    if pid == 0:
        control.close()
        for sock in children.values():
            sock.close()
        signal.set_wakeup_fd(-1)
        for fd in wake:
            os.close(fd)
        _worker(report, fds[1], fds[2])
    os.close(fds[1])
    os.close(fds[2])
    children[pid] = report
    report.sendall(json.dumps({"pid": pid}).encode())
    return True


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        report = children.pop(pid, None)
        if report is not None:
            with contextlib.suppress(OSError):
                report.sendall(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode())
            report.close()


def _end(children: dict[int, socket.socket]) -> None:
    """The parent is gone: end every worker (its session: server, kernel, probe) and wait."""
    for pid in list(children):
        kill_tree(pid, grace=0)
    deadline = time.monotonic() + 10
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.05)


# ----- inside a worker -----


def _worker(report: socket.socket, null: int, stderr: int) -> None:
    """Become `labgrade grade ...`: spares first (from a clean memory), then the request."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(stderr, 2)
        os.close(null)
        os.close(stderr)
        # No death signal: if the batch goes, the zygote ends each worker's whole session.
        from grader import spares

        spares.prefork()
        request = json.loads(report.recv(MAX_MESSAGE) or b"{}")
        report.close()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        tempfile.tempdir = None
        from grader.cli import main

        code = main(list(request["argv"]))
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    main(int(sys.argv[1]))
