"""Warm processes: a Python that imports the grader, MLflow and scikit-learn once, then
forks what gradings need instead of starting fresh interpreters that import them again.

    python -m grader.warm.host PARENT FD [--worker MODULE:FUNCTION] ROLE...
    (FD: its request socket)

    kernel  a grading's Jupyter kernel (ipykernel, jailed; full isolation only), with
            ipykernel, MLflow and the lab's preload list (Lab.preload, named in the
            environment under grader.engine.launcher.PRELOAD_VAR) imported
    worker  FUNCTION(ARGS) of MODULE, in its own session: a batch's workers, each one
            `labgrade grade ARGS` (the batch names the entry point: nothing here imports
            a front end)
    server a grading's throwaway MLflow server (grader.engine.server.one_process; see
    grader.warm.spares) probe a grading's model probe (probe_child, jailed; full isolation only)

A single grading starts two: one for its kernel, one for its server and probe
(grader.warm.warm_launcher.PrivateHost), which import at once on two cores. A batch starts one for
everything (the zygote); its workers ask it for their kernels, servers and probes on a socket
they inherit (grader.warm.warm_launcher.SharedHost). Roles
are imported in the order above, and each forks as soon as its own modules are in: a
grading needs its kernel first (the server only at the kernel's first request), and a
batch's first workers start while the zygote imports on; a request for a role not imported
yet waits. The kernel's imports come first for another reason too: what they leave behind
(warnings filters, environment variables) is read in a process that imported nothing else.

What a warm process holds is what every fork starts from, and a kernel runs a submission's
code and a probe its model: so it starts with an allow-listed environment (no tokens or
credentials), and it never sees a submission's path, code or a job's settings (the lab's
preload list is the lab's, the same for every submission). It receives file descriptors
only: a fork reads its request directly from whoever asked for it. The warm process reports
each fork's exit code on the fork's socket, ends a fork whose asker hung up, and ends every
fork when its own parent goes away. A fork serves one grading: it is never reused.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from grader.engine.launcher import PRELOAD_VAR
from grader.engine.server import store_template
from grader.engine.server.throwaway import importable
from grader.errors import GraderError
from grader.sandbox import sandbox
from grader.sandbox.procs import TAG_VARS, kill_tree
from grader.warm import spares

# What each role imports, in the order a host or zygote imports them; a module missing here
# is imported by whoever needs it, as usual (slower, never wrong).
SERVER_MODULES = (
    "grader.engine.server.one_process",
    "mlflow.cli",
    "mlflow.server",
    "mlflow.server.handlers",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "uvicorn.main",
    "fastapi",
    # What uvicorn picks at run time for `--workers 1` on a socket (~0.1 s per server).
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)
# The ASGI app module each server imports: its imports are preloaded, never the module
# itself, whose body builds the app from the server's own environment.
APP_MODULE = "mlflow.server.fastapi_app"
WORKER_MODULES = (  # after the worker's entry point's own module
    "grader.engine.grading",
    "grader.engine.output.report",
    "mlflow.artifacts",
    "mlflow.tracking",
    "nbclient",
    "jupyter_client.manager",
    "sklearn.datasets",  # the lab's split, recomputed by each grading
    "sklearn.model_selection",
)
PROBE_MODULES = (
    "grader.engine.probe.probe_child",
    "mlflow.models",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "sklearn.linear_model",
    "skops.io",
    "cloudpickle",
)
# A fresh kernel's own imports (ipykernel's app, its shell, IPython). ipykernel's debugger
# (debugpy) is left to the kernel's start: it sets environment variables when imported.
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "IPython.core.interactiveshell",
)
# What every kernel imports once it has started: the grader's set-up before the first cell
# (grader.engine.kernel.kernel_side); the lab's preload list follows.
SETUP_MODULES = ("mlflow", "mlflow.pyfunc", "mlflow.tracking.client", "requests")
ROLES = ("kernel", "worker", "server", "probe")
# Bytes of blank arguments a host of kernels is started with: the room a kernel fork writes
# its own command line in (spares._show_command), as /proc/PID/cmdline shows a process's.
TITLE_ROOM = 512
# The zygote's environment, and so every warm process's: nothing that could be a secret.
# A submission's allow-list, plus what the grader itself uses (its home, cache, Jupyter).
ALLOWED_ENV = {*sandbox.ALLOWED_ENV, "HOME", "TMPDIR", "USER", "LOGNAME", "TERM"}
ALLOWED_ENV |= {store_template.CACHE_VAR}  # where the template store is kept
ALLOWED_PREFIXES = ("LC_", "XDG_", "JUPYTER", "PYTHONPATH", "VIRTUAL_ENV")
START_TIMEOUT = 120.0
END_GRACE = 2.0  # an idle warm process ends at once; one still importing would take longer
MAX_MESSAGE = 1 << 20


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The allow-listed environment a warm process sees, plus EXTRA (its job tag)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ALLOWED_ENV or k in TAG_VARS or k.startswith(ALLOWED_PREFIXES)
    }
    return {**importable(env), **extra}


class WarmWorker(spares.ForkedProcess):
    """A batch worker forked by the zygote; its stderr went to a file."""

    def __init__(self, pid: int, sock: socket.socket, stderr: Path) -> None:
        super().__init__(pid, sock)
        self._stderr = stderr

    def communicate(self, timeout: float | None = None) -> tuple[None, bytes]:
        self.wait(timeout)
        return None, self._stderr.read_bytes()


class Warm:
    """A running warm process, seen from the process that started it."""

    def __init__(self, proc: subprocess.Popen[bytes], control: socket.socket, log: Path) -> None:
        self.proc, self.control, self.log = proc, control, log
        self.lock = threading.Lock()

    @classmethod
    @contextlib.contextmanager
    def running(
        cls,
        workdir: Path,
        roles: tuple[str, ...],
        wait: bool = True,
        env: Mapping[str, str] | None = None,
        worker: str | None = None,
    ) -> Iterator[Warm]:
        """Start a warm process for ROLES (WAIT: until it can fork the first); end it after.

        ENV: what its forks need to know ahead (the lab's probe head start). WORKER: the
        "worker" role's entry point, "module:function" (called with a worker's argv)."""
        if ("worker" in roles) != (worker is not None):
            raise ValueError("a warm process forks workers if and only if it is told their entry")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log = workdir / "warm.log"
        cmd = [sys.executable, "-m", "grader.warm.host", str(os.getpid()), str(theirs.fileno())]
        cmd += ["--worker", worker] if worker is not None else []
        cmd += [" " * TITLE_ROOM] if "kernel" in roles else []  # not a role: ignored
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*cmd, *roles],
                pass_fds=[theirs.fileno()],
                env=worker_env(dict(env or {})),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=workdir,
            )
        theirs.close()
        warm = cls(proc, mine, log)
        try:
            if wait:
                warm._ready()
            yield warm
        finally:
            mine.close()  # it ends its forks, then itself
            try:
                proc.wait(timeout=END_GRACE)
            except subprocess.TimeoutExpired:  # still importing (interrupted early): kill it
                kill_tree(proc.pid, grace=0)  # and whatever it forked

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
                f"the warm batch process ({sys.executable} -m grader.warm.host) did not start:"
                f" {' | '.join(tail) or 'no output'}. Run `labgrade batch --cold` to grade"
                " without it."
            )

    def spawn(self, argv: list[str], extra_env: dict[str, str], stderr: Path) -> WarmWorker:
        """`labgrade ARGV` in a fork of the zygote, in its own session; stderr to a file."""
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            pid, sock = spares.request_fork(self.control, "worker", [null, err], self.lock)
        except spares.HostGone as gone:
            raise GraderError(f"the warm batch process ended ({gone}); see {self.log}") from gone
        finally:
            os.close(null)
            os.close(err)
        # Straight to the worker: the zygote never holds a submission's path or settings.
        sock.sendall(json.dumps({"argv": argv, "env": extra_env, "cwd": os.getcwd()}).encode())
        return WarmWorker(pid, sock, stderr)


def imports_of(module: str) -> tuple[str, ...]:
    """The absolute imports at the top of MODULE's source, read without running it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return ()
    names: list[str] = []
    for node in ast.parse(Path(spec.origin).read_bytes()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return tuple(names)


# ----- inside the warm process -----


def main(argv: list[str]) -> None:
    parent, fd, rest = int(argv[0]), int(argv[1]), argv[2:]
    worker = None
    if rest[:1] == ["--worker"]:
        worker, rest = rest[1], rest[2:]
    roles = [r for r in ROLES if r in rest]
    spares.die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    forker = _Forker(socket.socket(fileno=fd), set(roles))  # end of file: the parent is gone
    forker.worker = worker
    if "worker" in roles and len(roles) > 1:  # workers ask this process for the rest
        workers_end, mine = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spares.use_host(workers_end)
        forker.listen(mine)
    for role in roles:
        _import_role(role, forker)
        if forker.gone:  # its parent has ended: nothing left to fork for
            break
        # Forks share these pages until they write to them; a garbage collection in a fork
        # would write to every object's header (and copy the page) only to find it alive.
        gc.freeze()
        forker.ready.add(role)
        forker.fork_pending()
        if role == roles[0]:
            forker.report_ready()
    forker.serve()
    forker.end()
    spares.flush_and_exit(0)  # tearing down what it imported took ~0.9 s its parent waited for


def _import_role(role: str, forker: _Forker) -> None:
    modules = {"server": SERVER_MODULES, "worker": WORKER_MODULES, "probe": PROBE_MODULES}
    if role == "server":
        modules["server"] += imports_of(APP_MODULE)
    if role == "worker" and forker.worker is not None:
        modules["worker"] = (forker.worker.partition(":")[0], *WORKER_MODULES)
    if role == "kernel":
        if not _import_kernel(forker):
            return
    elif not _import(modules[role], forker, keep_filters=False):
        return
    _work_out_once(role, forker)
    if threading.active_count() != 1:  # a fork would copy a thread's locks, not the thread
        names = ", ".join(t.name for t in threading.enumerate())
        raise SystemExit(f"labgrade warm: preloading started threads ({names})")


def _import(modules: tuple[str, ...], forker: _Forker, keep_filters: bool) -> bool:
    """Import MODULES (those there are); False if the parent ended meanwhile."""
    for module in modules:
        with contextlib.suppress(ImportError), contextlib.ExitStack() as stack:
            # The filters a kernel's imports add are the kernel's (KernelStart): kept. Any
            # other role's are dropped, and their deprecations left to the forks' logs.
            if not keep_filters:
                stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
            importlib.import_module(module)
        forker.poll(0)  # a request for a role already imported is not kept waiting
        if forker.gone:  # its parent has ended (a grading interrupted): nothing to fork for
            return False
    return True


def _import_kernel(forker: _Forker) -> bool:
    """The kernel's modules, then the set-up's and the lab's, and what a fork must be handed
    back to look like a fresh kernel (spares.KernelStart); False if the parent ended.

    sys.path is a fresh interpreter's, asked of one started with nothing in its environment
    that moves it (a kernel's environment is allow-listed: no PYTHONPATH). The filters and
    the environment are this process's as the imports leave them: it started with a fresh
    interpreter's, and the kernel's role is its first.
    """
    if not _import(KERNEL_MODULES, forker, keep_filters=True):
        return False
    own = list(warnings.filters)
    if not _import(SETUP_MODULES + _preload(), forker, keep_filters=True):
        return False
    after = list(warnings.filters)
    # A fresh kernel's shell adds filters of its own when it starts, and the set-up and the
    # notebook import after that: their filters go before (or, appended, after) the shell's.
    if own and own[0] in after and own[-1] in after:
        front, back = after[: after.index(own[0])], after[after.index(own[-1]) + 1 :]
    else:  # the imports moved the kernel's own: theirs all go first
        front, back = [f for f in after if f not in own], []
    fresh = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        env={"PATH": os.environ.get("PATH", os.defpath)},
        capture_output=True,
        text=True,
        check=True,
    )
    started = _initial_environ()
    spares.set_kernel_start(
        spares.KernelStart(
            path=tuple(json.loads(fresh.stdout)),
            filters=tuple(own),
            imported_filters=(tuple(front), tuple(back)),
            environ={k: v for k, v in os.environ.items() if k not in started},
        )
    )
    return True


def _preload() -> tuple[str, ...]:
    """The lab's modules its notebooks import (Lab.preload), as its grader named them."""
    try:
        names = json.loads(os.environ.get(PRELOAD_VAR) or "[]")
    except ValueError:
        return ()
    return tuple(str(n) for n in names if isinstance(n, str))


def _initial_environ() -> dict[str, str]:
    """The environment this process was started with (os.environ holds what imports set)."""
    raw = Path("/proc/self/environ").read_bytes()
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {os.fsdecode(k): os.fsdecode(v) for k, _, v in pairs}


def _work_out_once(role: str, forker: _Forker) -> None:
    """What each fork would otherwise work out for itself."""
    if role == "server":
        from grader.engine.server.one_process import remember_schema_head

        remember_schema_head()
        from mlflow.store.db import utils as db_utils

        db_utils._get_latest_schema_revision()
        forker.template = _Template(Path.cwd() / "template.db")
    elif role == "worker":
        from grader.sandbox.sandbox import full_unavailable

        full_unavailable()  # the preflight jail (cached)
    else:
        from grader.engine.probe import probe_child

        probe_child.rehearse(os.environ.get(probe_child.WARM_ENV, ""))  # the lab's model


class _Template:
    """The migrated, empty store every server of this host starts from (grader.warm.spares).

    A copy of the grader's cache when that holds exactly a fresh store; otherwise made by a
    child while the host imports on (MLflow's server caches the store it opens, and the
    host must fork with none open), then kept in the cache. Until then, servers migrate
    their own store (~1.5 s of CPU each), as a cold one does.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.maker = path, None
        cached = store_template.cached_path()
        if cached.is_file() and store_template.seed(path, cached):
            spares.set_template(path)
        else:
            self.maker = self._fork_maker()

    def _fork_maker(self) -> int:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                from mlflow.server.handlers import initialize_backend_stores
                from mlflow.utils.server_cli_utils import resolve_default_artifact_root

                uri = f"sqlite:///{self.path}"
                # As `mlflow server --serve-artifacts` resolves it: the Default experiment's
                # artifact location is the same as in a store the server migrates itself.
                initialize_backend_stores(uri, uri, resolve_default_artifact_root(True, "", uri))
                code = 0
            finally:
                os._exit(code)
        return pid

    def made(self, status: int) -> None:
        self.maker = None
        if os.waitstatus_to_exitcode(status) == 0 and self.path.is_file():
            spares.set_template(self.path)
            with contextlib.suppress(OSError):  # a cache that cannot be written stays cold
                store_template.save(self.path, store_template.cached_path())
        else:
            print(f"labgrade warm: no template store (maker exit {status})", file=sys.stderr)


class _Forker:
    """The warm process's requests: one fork per request, once its role is imported."""

    def __init__(self, control: socket.socket, offered: set[str]) -> None:
        self.control, self.offered = control, offered
        self.sources = {control.fileno(): control}  # where requests come from
        self.ready: set[str] = set()
        self.template: _Template | None = None
        self.worker: str | None = None  # the worker role's entry point, module:function
        self.pending: list[tuple[str, socket.socket, list[int]]] = []
        self.children: dict[int, socket.socket] = {}
        self.gone = False
        self.wake_r, wake_w = os.pipe()
        self.wake = (self.wake_r, wake_w)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.poller = select.poll()
        self.poller.register(control, select.POLLIN)
        self.poller.register(self.wake_r, select.POLLIN)

    def listen(self, sock: socket.socket) -> None:
        self.sources[sock.fileno()] = sock
        self.poller.register(sock, select.POLLIN)

    def report_ready(self) -> None:
        with contextlib.suppress(OSError):
            self.control.sendall(json.dumps({"ready": True}).encode())

    def serve(self) -> None:
        while not self.gone:
            self.poll(None)

    def poll(self, timeout: float | None) -> None:
        for fd, events in self.poller.poll(None if timeout is None else int(timeout * 1000)):
            if fd in self.sources:
                self._take(self.sources[fd])
            elif fd == self.wake_r:
                os.read(self.wake_r, 4096)
                self._reap()
            elif events & (select.POLLHUP | select.POLLRDHUP | select.POLLERR):
                self._hung_up(fd)

    def _take(self, source: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(source, MAX_MESSAGE, 3)
        except ConnectionResetError:  # the parent closed without reading "ready": gone, too
            data, fds = b"", []
        if not data:  # only the parent's socket ends: this process holds the workers' too
            self.gone = True
            self.poller.unregister(source)
            return
        report, role = socket.socket(fileno=fds[0]), data.decode()
        if role not in self.offered:  # never to be imported here: the asker starts it fresh
            report.close()
            for fd in fds[1:]:
                os.close(fd)
            return
        self.pending.append((role, report, fds[1:]))
        self.fork_pending()

    def fork_pending(self) -> None:
        for item in list(self.pending):
            role, report, fds = item
            if role in self.ready:
                self.pending.remove(item)
                self._fork(role, report, fds)

    def _fork(self, role: str, report: socket.socket, fds: list[int]) -> None:
        me = os.getpid()
        for stream in (sys.stdout, sys.stderr):  # or the fork would write it out again
            stream.flush()
        pid = os.fork()
        if pid == 0:
            self._in_child(report, role)
            if role == "worker":
                _worker(report, fds[0], fds[1], self.worker or "", me)
            spares.become(role, report, me)  # type: ignore[arg-type]
        for fd in fds:
            os.close(fd)
        self.children[pid] = report
        self.poller.register(report, select.POLLRDHUP)
        with contextlib.suppress(OSError):  # hung up already: _hung_up ends the fork
            report.sendall(json.dumps({"pid": pid}).encode())

    def _in_child(self, keep: socket.socket, role: str) -> None:
        for sock in [
            *self.sources.values(),
            *self.children.values(),
            *(p[1] for p in self.pending),
        ]:
            if sock is not keep:
                sock.close()
        host = spares.host()
        if role != "worker" and host is not None:  # only a worker asks this process for more
            host.close()
            spares.use_host(None)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in self.wake:
            os.close(fd)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            if self.template is not None and pid == self.template.maker:
                self.template.made(status)
                continue
            report = self.children.pop(pid, None)
            if report is not None:
                with contextlib.suppress(OSError):
                    report.sendall(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode())
                with contextlib.suppress(KeyError):  # unregistered when it hung up
                    self.poller.unregister(report)
                report.close()

    def _hung_up(self, fd: int) -> None:
        """Whoever asked for this fork is gone (a grading killed): so goes the fork."""
        for pid, report in self.children.items():
            # Asked again: since poll() answered, FD may have been closed and reused.
            if report.fileno() == fd and _peer_gone(report):
                self.poller.unregister(fd)
                del self.children[pid]  # kill_tree reaps it: _reap would never see it
                kill_tree(pid, grace=0)
                report.close()
                return

    def end(self) -> None:
        """The parent is gone: end every fork (and what it started), and wait for them."""
        for pid in list(self.children):
            kill_tree(pid, grace=0)
        for _, report, fds in self.pending:
            report.close()
            for fd in fds:
                os.close(fd)
        while self.children:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                return
            self.children.pop(pid, None)


def _peer_gone(sock: socket.socket) -> bool:
    probe = select.poll()
    probe.register(sock, select.POLLRDHUP)
    return bool(probe.poll(0))


# ----- inside a worker -----


def _worker(report: socket.socket, null: int, stderr: int, entry: str, host: int) -> None:
    """Become ENTRY(argv) (`labgrade grade ...`), reading the request from the batch directly."""
    code = 1
    try:
        # The zygote (HOST) ends each worker's session when the batch goes; a zygote killed
        # outright (its own death signal, when the batch was) cannot, so a worker is told
        # itself: SIGTERM, which a grading turns into its ordinary clean-up.
        spares.die_with(host, signal.SIGTERM)
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(stderr, 2)
        os.close(null)
        os.close(stderr)
        request = json.loads(report.recv(MAX_MESSAGE) or b"{}")
        report.close()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        tempfile.tempdir = None
        module, _, function = entry.partition(":")
        run = getattr(importlib.import_module(module), function)  # imported in this process
        code = run(list(request["argv"]))
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        spares.flush_and_exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
