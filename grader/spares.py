"""Spare processes: forks of a warm batch worker that wait to become its server or probe.

A batch worker (grader.warm) starts as a fork of a process that already imported MLflow's
server, pyfunc and scikit-learn. Right away, while it is still single-threaded and before it
has read anything of its submission, it forks one spare per role. When the grading needs
its tracking server or its model probe, it hands the spare the arguments and file
descriptors a fresh process would have got, and the spare becomes that process without
importing anything again (~3 s of CPU for the server, ~2.5 s for the probe).

Each spare is the worker's child (killed with it: PDEATHSIG), so the worker's process tree
still holds everything of its grading. A spare never needed ends when the worker does.
The probe spare confines itself with the same code as `jail.py` (full isolation only:
PID namespace, own user, cgroups), then runs probe_child in-process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any, Literal

from grader import store_template

SpareRole = Literal["server", "probe"]
ROLES: tuple[SpareRole, ...] = ("server", "probe")
MAX_REQUEST = 1 << 20
PR_SET_PDEATHSIG = 1

_spares: dict[str, Spare] = {}  # this process's unused spares (a warm worker's only)
# The zygote's migrated, empty store and its digest, inherited by every fork of it.
_template: tuple[Path, str] | None = None


def set_template(path: Path | None) -> None:
    """Seed every server forked from now on with a copy of PATH (None: no seeding)."""
    global _template
    _template = (path, store_template.file_digest(path)) if path is not None else None


def seeds_stores() -> bool:
    """Whether servers forked here start from the zygote's template (checked by digest)."""
    return _template is not None


def waiting() -> dict[str, int]:
    """Role -> pid of each spare not taken yet."""
    return {role: spare.pid for role, spare in _spares.items()}


def seed_store(argv: list[str]) -> None:
    """Start the server's store as a copy of the zygote's template, unless one is there.

    The copy is checked, not the template: whatever wrote to the template after the zygote
    made it (a submission in process isolation runs as the same user) cannot get into a
    grading; the server then makes its store itself, as a cold one does.
    """
    store = store_template.sqlite_store(argv)
    if _template is None or store is None or store.exists():
        return
    template, digest = _template
    if not store_template.seed(store, template, digest):
        print(f"labgrade: template store {template} changed; migrating afresh", file=sys.stderr)


class SpareProcess:
    """The started spare, as much of subprocess.Popen as the server and the probe use."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[bytes] | None = None
        self.stdout: IO[bytes] | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:  # Linux before 5.3: wait() polls instead
            self._pidfd = -1

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by psutil while ending its tree
                self.returncode = -signal.SIGKILL
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        if self.returncode is not None and self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        end = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            left = None if end is None else max(0.0, end - time.monotonic())
            if left == 0.0:
                raise subprocess.TimeoutExpired(f"spare {self.pid}", timeout or 0)
            if self._pidfd >= 0:
                select.select([self._pidfd], [], [], left)  # readable once it has ended
            else:
                time.sleep(0.05 if left is None else min(0.05, left))
        return code


class Spare:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid, self.sock = pid, sock

    def start(self, request: dict[str, Any], fds: list[int]) -> SpareProcess:
        """Become the process REQUEST describes, with FDS (the spare takes copies)."""
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        finally:
            self.sock.close()
        return SpareProcess(self.pid)


def prefork() -> None:
    """Fork one spare per role. Only while single-threaded: the children run on in Python."""
    import threading

    if threading.active_count() != 1:
        raise RuntimeError("spares are forked only while the process is single-threaded")
    for role in ROLES:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            mine.close()
            for other in _spares.values():
                other.sock.close()
            _spare_main(role, theirs, parent)
        theirs.close()
        _spares[role] = Spare(pid, mine)


def take(role: SpareRole) -> Spare | None:
    """The unused spare for ROLE, if this process is a warm worker that still has one."""
    return _spares.pop(role, None)


def discard() -> None:
    """Close every unused spare: each reads end-of-file and exits."""
    while _spares:
        _, spare = _spares.popitem()
        spare.sock.close()


def _spare_main(role: SpareRole, sock: socket.socket, parent: int) -> None:
    code = 1
    try:
        _die_with(parent)
        _null_stdio()
        data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 16)
        sock.close()
        if not data:  # the grading never needed this role
            os._exit(0)
        request = json.loads(data)
        code = _serve(request, fds) if role == "server" else _probe(request, fds)
    except BaseException:  # said on its stderr (the server log or the probe log), then exit
        with contextlib.suppress(OSError):
            os.write(2, traceback.format_exc().encode(errors="replace"))
    finally:
        _flush()
        os._exit(code)


def _die_with(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the worker died before the line above
        os._exit(1)


def _null_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _place(fds: list[int], targets: list[int]) -> None:
    """Put FDS at the numbers TARGETS (the numbers the command line names), inheritable."""
    high = [os.dup(fd) for fd in fds]  # out of the way of any target number first
    for fd in fds:
        os.close(fd)
    for fd, target in zip(high, targets, strict=True):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)


def _set_environ(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


def _serve(request: dict[str, Any], fds: list[int]) -> int:
    """`python -m grader.serve ARGV`, in this process: ends only when the server is killed."""
    log, *listen = fds
    os.setsid()  # its own group, as the cold server: ended with kill_tree
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _place(listen, list(request["targets"]))
    _set_environ(request["env"])
    seed_store(list(request["argv"]))
    sys.argv = ["grader.serve", *request["argv"]]
    from grader import serve

    try:
        serve.main()
    except SystemExit as err:
        return err.code if isinstance(err.code, int) else 1
    return 0


def _probe(request: dict[str, Any], fds: list[int]) -> int:
    """The jail, as `python -I jail.py SPEC -- python -I probe_child.py` would run it."""
    from grader import jail

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
    from grader import probe_child

    try:
        probe_child.main()  # ends the process itself once it has answered
    except BaseException:
        traceback.print_exc()
        _flush()
        os._exit(1)
    _flush()
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
