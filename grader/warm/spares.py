"""Spares: a grading's tracking server, model probe and kernel, forked by a warm host
(grader.warm.host).

A fresh `python -m grader.engine.server.one_process` imports MLflow's server (~3 s of CPU), a fresh
probe imports pyfunc, scikit-learn and skops (~3 s), and a fresh kernel imports ipykernel, then the
submission's first cells import MLflow, scikit-learn and pandas (2-3 s). A warm host imported them
once: a grading asks it for a fork per role, and hands that fork the arguments and file descriptors
a fresh process would have got, directly; the host never sees them. The fork then becomes the
server, the probe or the kernel without importing anything again.

A grading asks through HostForks, the engine's Host (grader.engine.launcher), which
grader.warm.warm_launcher hands it; a forked server is then started and stopped by pytest-xprocess
through a stand-in (grader.engine.server.xprocess_standin), as a fresh one is started and stopped
itself. The host ends a fork whose grading has hung up (died) on it, and every fork when it ends
itself. The probe and the kernel confine themselves with the same code as `jail.py` (full isolation
only: PID namespace, own user, cgroups), then run probe_child or ipykernel in-process. A kernel fork
serves one grading and ends with it, and is made to look like a fresh `python -m ipykernel_launcher`
to the submission (KernelStart): the same argv, sys.path, environment, warnings filters, fresh
random state; only what it has imported already differs.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, cast

from grader.engine.server import store_template

SpareRole = Literal["kernel", "server", "probe"]
MAX_REQUEST = 1 << 20
FORK_TIMEOUT = 120.0  # a host still importing answers late; one that hangs, never
PR_SET_PDEATHSIG = 1

# This process's warm host (a request socket), if it inherited one: a batch worker's, its
# batch's (a single grading's host is its own: grader.warm.warm_launcher.PrivateHost).
_host: socket.socket | None = None
_host_lock = threading.Lock()
# The host's migrated, empty store and its digest, inherited by every fork of it.
_template: tuple[Path, str] | None = None


@dataclass(frozen=True)
class KernelStart:
    """What a fresh kernel's interpreter holds that a fork of the host must be given back,
    worked out once by the host (grader.warm.host) when it imported the kernel's modules."""

    # sys.path of a fresh `python -m ipykernel_launcher` once the launcher dropped its cwd.
    path: tuple[str, ...]
    # warnings.filters of a fresh Python once it imported ipykernel, as the launcher has them.
    filters: tuple[Any, ...]
    # The filters the set-up's and the lab's imports added (before the others, and after
    # them), put in place once the kernel's shell has added its own: where a fresh kernel
    # holds them once the set-up and the notebook's import cells ran, as those imports will
    # not run again in the fork.
    imported_filters: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())
    # What those imports put in os.environ (scikit-learn's KMP_* switches, MLflow's session):
    # a fresh kernel holds them once the notebook imported those modules.
    environ: Mapping[str, str] = field(default_factory=dict)


_kernel_start: KernelStart | None = None


def set_kernel_start(start: KernelStart) -> None:
    global _kernel_start
    _kernel_start = start


class HostGone(OSError):
    """The warm process did not fork: it ended, or never started."""


def use_host(sock: socket.socket | None) -> None:
    global _host
    _host = sock


def host() -> socket.socket | None:
    return _host


def set_template(path: Path | None) -> None:
    """Seed every server forked from now on with a copy of PATH (None: no seeding)."""
    global _template
    _template = (path, store_template.file_digest(path)) if path is not None else None


def seed_store(argv: list[str]) -> None:
    """Start the server's store as a copy of the host's template, unless one is there.

    The copy is checked, not the template: whatever wrote to the template after the host
    took it (a submission in process isolation runs as the same user) cannot get into a
    grading; the server then makes its store itself, as a cold one does.
    """
    store = store_template.sqlite_store(argv)
    if _template is None or store is None or store.exists():
        return
    template, digest = _template
    if not store_template.seed(store, template, digest):
        print(f"labgrade: template store {template} changed; migrating afresh", file=sys.stderr)


def request_fork(
    control: socket.socket,
    role: str,
    fds: list[int],
    lock: threading.Lock,
    cancelled: threading.Event | None = None,
) -> tuple[int, socket.socket]:
    """Ask the warm process on CONTROL for a fork in ROLE: its pid, and a socket to it.

    The fork reads its request from that socket; the warm process reports the fork's exit
    code on it, and ends the fork if this side hangs up first. Waits while the warm process
    still imports, until CANCELLED is set (the grading is ending) or FORK_TIMEOUT.
    """
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        with lock:
            socket.send_fds(control, [role.encode()], [theirs.fileno(), *fds])
        theirs.close()  # the warm process's copy alone: its closing it says "no"
        answer = _answer(mine, cancelled or threading.Event())
    except OSError as err:
        mine.close()
        raise HostGone(f"the warm process did not fork a {role}: {err}") from err
    finally:
        theirs.close()
    if not answer:
        mine.close()
        raise HostGone(f"the warm process did not fork a {role} (it ended, or has none)")
    return int(json.loads(answer)["pid"]), mine


def _answer(sock: socket.socket, cancelled: threading.Event) -> bytes:
    deadline = time.monotonic() + FORK_TIMEOUT
    sock.settimeout(0.1)
    while True:
        try:
            answer = sock.recv(MAX_REQUEST)
        except TimeoutError:
            if cancelled.is_set() or time.monotonic() > deadline:
                raise
            continue
        sock.settimeout(None)
        return answer


class ForkedProcess:
    """A fork of a warm process, as much of subprocess.Popen as the grader uses.

    Not this process's child: its exit code comes from the warm process, on the fork's socket.
    """

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[bytes] | None = None
        self.stdout: IO[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self._sock = sock
        self._done = threading.Event()
        threading.Thread(target=self._watch, name=f"fork-{pid}", daemon=True).start()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout) or self.returncode is None:
            raise subprocess.TimeoutExpired(f"fork {self.pid}", timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _watch(self) -> None:
        try:
            data = self._sock.recv(MAX_REQUEST)
        except OSError:
            data = b""
        # No message: the warm process ended (ending its forks) without a word for this one.
        self.returncode = int(json.loads(data)["code"]) if data else -signal.SIGKILL
        self._sock.close()
        self._done.set()


class HostForks:
    """The forks of the warm host on CONTROL, as the engine asks for them (its Host)."""

    def __init__(self, control: socket.socket, lock: threading.Lock) -> None:
        self.control, self.lock = control, lock  # LOCK: for every sender on CONTROL

    def fork(
        self,
        role: SpareRole,
        request: Mapping[str, Any],
        fds: list[int],
        cancelled: threading.Event,
    ) -> ForkedProcess | None:
        """Fork ROLE (waiting while the host still imports) and hand it REQUEST and FDS.

        None when the host cannot, or once CANCELLED: unless cancelled, the caller starts a
        fresh process instead.
        """
        try:
            pid, sock = request_fork(self.control, role, [], self.lock, cancelled)
        except HostGone:
            return None
        if cancelled.is_set():  # hung up: the host ends the fork
            sock.close()
            return None
        try:
            socket.send_fds(sock, [json.dumps(dict(request)).encode()], fds)
        except OSError:  # the fork is gone already: the caller starts a fresh one
            sock.close()
            return None
        return ForkedProcess(pid, sock)


def inherited() -> HostForks | None:
    """The batch's host in one of its workers (which inherit it), else None."""
    return HostForks(_host, _host_lock) if _host is not None else None


def become(role: SpareRole, sock: socket.socket, host_pid: int) -> None:
    """In a fresh fork of the host: read the request on SOCK and become ROLE; never returns."""
    code = 1
    try:
        die_with(host_pid)
        _null_stdio()
        data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 16)
        sock.close()
        if not data:  # the grading never needed this role
            os._exit(0)
        request = json.loads(data)
        start = {"server": _serve, "probe": _probe, "kernel": _kernel}[role]
        code = start(request, fds)
    except BaseException:  # said on its stderr (the server log or the probe log), then exit
        with contextlib.suppress(OSError):
            os.write(2, traceback.format_exc().encode(errors="replace"))
    finally:
        flush_and_exit(code)


def die_with(parent: int, sig: int = signal.SIGKILL) -> None:
    """Be sent SIG when PARENT (this process's parent) ends; exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _null_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _place(fds: list[int], targets: list[int]) -> None:
    """Put FDS at the numbers TARGETS (the numbers the command line names), inheritable."""
    import fcntl  # POSIX only, as forks are: a warm host is never used without os.fork

    # Out of the way of every target number first (a plain dup takes the lowest free one).
    above = max([*fds, *targets]) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in fds]
    for fd in fds:
        os.close(fd)
    for fd, target in zip(high, targets, strict=True):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)


def _set_environ(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


def _serve(request: dict[str, Any], fds: list[int]) -> int:
    """`python -m grader.engine.server.one_process ARGV` in this process: ends only when killed."""
    log, *listen = fds
    os.setsid()  # its own group, as the cold server: ended with kill_tree
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _place(listen, list(request["targets"]))
    _set_environ(request["env"])
    seed_store(list(request["argv"]))
    sys.argv = ["grader.engine.server.one_process", *request["argv"]]
    from grader.engine.server import one_process as serve

    try:
        serve.main()
    except SystemExit as err:
        return err.code if isinstance(err.code, int) else 1
    return 0


def _probe(request: dict[str, Any], fds: list[int]) -> int:
    """The jail, as `python -I jail.py SPEC -- python -I probe_child.py` would run it."""
    from grader.sandbox import jail

    stdin, stdout, log = fds
    os.setsid()
    os.dup2(stdin, 0)
    os.dup2(stdout, 1)
    os.dup2(log, 2)
    for fd in fds:
        os.close(fd)
    _set_environ(request["env"])
    os.chdir(request["cwd"])
    return jail.run(request["spec"], _run_probe_child)


def _run_probe_child(env: dict[str, str]) -> None:
    """In the jail, confined: what `python -I probe_child.py` does, with MLflow imported."""
    import tempfile

    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    _set_environ(env)
    tempfile.tempdir = None  # TMPDIR is the jail's now
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # as -I: not its own folder
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the process's own)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    from grader.engine.probe import probe_child

    try:
        probe_child.main()  # ends the process itself once it has answered
    except BaseException:
        traceback.print_exc()
        flush_and_exit(1)
    flush_and_exit(0)


def _kernel(request: dict[str, Any], fds: list[int]) -> int:
    """The jail, as `python -I jail.py SPEC -- python -m ipykernel_launcher ARGV` would run it
    when jupyter_client starts it (its own session, stdout and stderr to the kernel's log)."""
    from grader.sandbox import jail

    if _kernel_start is None:  # never asked before the host imported the kernel: a bug
        raise RuntimeError("this warm process has not imported the kernel's modules")
    out, err = fds
    os.setsid()
    # jupyter_client hands a kernel a pipe for stdin and closes its end at once.
    stdin, closed = os.pipe()
    os.close(closed)
    os.dup2(stdin, 0)
    os.close(stdin)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    _set_environ(request["env"])
    os.chdir(request["cwd"])
    _show_command([sys.executable, "-m", "ipykernel_launcher", *request["argv"]])
    # Python's own Ctrl-C handler, as `python -I jail.py` starts with (the host ignores it):
    # the jail's processes meet the grader's interrupt of the kernel's group as a fresh
    # jail's do.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = [str(a) for a in request["argv"]]
    return jail.run(request["spec"], functools.partial(_run_kernel, _kernel_start, argv))


def _show_command(argv: list[str]) -> None:
    """Have /proc/PID/cmdline of this process (and of what it forks) read ARGV, not its host's
    command: ps, psutil and a submission reading its own see the command a fresh kernel has
    (trailing empty arguments aside). Written over the host's own arguments, where the host
    leaves room (grader.warm.host.TITLE_ROOM); kept as it is if ARGV does not fit."""
    with open("/proc/self/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()  # from field 3 on: comm may hold spaces
    start, end = int(fields[45]), int(fields[46])  # fields 48 and 49: arg_start, arg_end
    raw = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    if 0 < start < end and len(raw) <= end - start:
        ctypes.memmove(start, raw.ljust(end - start, b"\0"), end - start)


def _run_kernel(start: KernelStart, argv: list[str], env: dict[str, str]) -> None:
    """In the jail, confined: what `python -m ipykernel_launcher ARGV` does, with the lab's
    modules imported; never returns."""
    import importlib.util
    import random
    import tempfile
    import warnings

    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    # The kernel's environment as the jail passes it; what the preloaded imports set comes
    # after, as it would once the notebook imported them.
    _set_environ({**env, **{k: v for k, v in start.environ.items() if k not in env}})
    tempfile.tempdir = None  # TMPDIR is the jail's now
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.path[:] = start.path
    launcher = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [launcher.origin if launcher and launcher.origin else "ipykernel_launcher", *argv]
    sys.orig_argv = [sys.executable, "-m", "ipykernel_launcher", *argv]
    filters = cast("list[Any]", warnings.filters)
    filters[:] = start.filters
    warnings._filters_mutated()  # type: ignore[attr-defined]  # caches of the old filters
    # A fork holds the host's random state: every kernel forked from it would draw the same
    # numbers. Seeded from the OS, as a fresh interpreter and a fresh numpy seed themselves.
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a fresh Python has it
    code, interrupted = 0, False
    try:
        from ipykernel.kernelapp import IPKernelApp

        # ipykernel's launch_new_instance, with the imports' filters put in where a fresh
        # kernel has them: after its shell's own.
        app = IPKernelApp.instance()
        app.initialize()
        front, back = start.imported_filters
        filters[:] = [*front, *filters, *back]
        warnings._filters_mutated()  # type: ignore[attr-defined]
        app.start()
    except SystemExit as err:
        code = _exit_code(err.code)
    except BaseException as err:
        # As the interpreter reports it (the notebook may have broken what that uses).
        with contextlib.suppress(BaseException):
            sys.excepthook(type(err), err, err.__traceback__)
        code, interrupted = 1, type(err) is KeyboardInterrupt
    _end_as_interpreter(code, interrupted)


def _exit_code(code: object) -> int:
    """What a fresh Python exits with for `raise SystemExit(CODE)`."""
    if code is None:
        return 0
    if type(code) is int:  # not isinstance: a notebook can have replaced it
        return code
    with contextlib.suppress(BaseException):
        print(code, file=sys.stderr)
    return 1


def _end_as_interpreter(code: int, interrupted: bool) -> NoReturn:
    """End as a fresh kernel's interpreter ends once its main module is done: wait for the
    threads that are not daemons, run the atexit handlers (MLflow's ends an active run),
    then exit (by SIGINT after an uncaught KeyboardInterrupt). A kernel whose threads hang
    hangs here too, as a fresh one would, until the grader ends it."""
    import atexit

    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    if interrupted:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    flush_and_exit(code)


def flush_and_exit(code: int) -> NoReturn:
    """End a fork: flush what it said, and skip tearing down what it inherited imported."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
