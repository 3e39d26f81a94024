"""Where the submission's code runs: its own user, namespaces, cgroups, limits and env.

Two modes, chosen per grading (`--isolation`, default auto):
- full (the grader runs as root, as in batch, Gradescope and CI containers): the kernel
  and the model probe each run as a user of their own, in a PID namespace (all their
  processes die with them), a mount namespace whose root holds only `view()` (an
  allow-list: the system's programs and libraries, a few files of /etc, Python and its
  packages) and a private /tmp of the disk limit, and a network namespace with loopback
  only, where the tracking server also listens. Memory and process caps come from a cgroup.
- process (no root, e.g. a student's laptop): the grader's own user; rlimits for CPU,
  memory, processes and file size where Python has POSIX's resource module (not on Windows:
  there the kernel runs unwrapped, see has_rlimits); a watchdog for disk; processes found by
  their tag.
  A submission could read the grader's files and reach the network here: only the
  instructor's run, in full mode, is authoritative (docs/security.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psutil

from grader.errors import ExecutionSetupError
from grader.sandbox import cgroups
from grader.sandbox import jail as jail_module
from grader.sandbox.limits import Limits, size_text
from grader.sandbox.procs import TAG_VARS, kill_tree, reap_tagged

Isolation = Literal["auto", "full", "process"]
Role = Literal["kernel", "probe"]
JAIL = Path(__file__).with_name("jail.py")
GRADER = JAIL.resolve().parents[1]  # the grader's package: its labs' rubrics and references
# What a confined process sees of the machine besides its own /tmp (see `view`): the
# system's programs and libraries, devices and kernel tables, and of /etc what Python, the C
# library and TLS read (accounts, name lookup, time zone, certificates, linker cache).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev", "/sys")
ETC = (
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "protocols",
    "services",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "locale.alias",
    "os-release",
    "debian_version",
    "lsb-release",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "mime.types",
    "fonts",
    "inputrc",
    "terminfo",
)
WRITABLE_ALIASES = ("/var/tmp", "/dev/shm", "/run/lock")  # as jail.py binds its /tmp there
# Only these of the grader's environment reach the submission; no tokens, keys or settings.
ALLOWED_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ")
CLONE_NEWNET = 0x40000000
# Tags every process of one jail in process mode, where no PID namespace or user does.
SANDBOX_VAR = "LABGRADE_SANDBOX"
_UID_BASE, _UID_SPAN = 2_000_000, 400_000  # no account owns these: nothing to read or kill


@dataclass
class _Jail:
    role: Role
    uid: int
    conn: Path  # the grader and the process both see this folder at the same path
    status: Path  # written by the jail (root) only
    cgroup: cgroups.Cgroup | None = None
    disk_breach: list[str] = field(default_factory=list)
    oom_killed: bool = False  # read before the cgroup goes


class Sandbox:
    """One per grading; `with Sandbox(...) as box:` then box.command()/box.env() per role."""

    def __init__(
        self,
        workdir: Path,
        limits: Limits,
        port: int | None,  # where the tracking server listens in the sandbox; None: nowhere
        isolation: Isolation = "auto",
        hide: tuple[Path, ...] = (),
    ) -> None:
        self.workdir, self.limits, self.port = workdir, limits, port
        self.mode, self.reason = choose_mode(isolation)
        # In full mode only what lies inside the view needs covering (the grader's package,
        # installed among the packages the kernel imports). Never a folder holding Python (a
        # student's repository with its .venv inside): covering it would break the jail.
        self.hide = tuple(
            p
            for p in (GRADER, *hide)
            if p.exists() and not any(n == p or p in n.parents for n in python_roots())
        )
        self._scripts: dict[str, Path] = {}
        self.listen: list[socket.socket] = []  # extra sockets the tracking server serves on
        self._netns: int | None = None
        self._jails: dict[Role, _Jail] = {}
        self._uid = _UID_BASE + 2 * random.randrange(_UID_SPAN // 2)
        self._token = uuid.uuid4().hex
        self._baseline_threads = 0
        self._server: cgroups.Cgroup | None = None
        self.server_usage: dict[str, float] = {}  # the server's cgroup, read before it goes

    def __enter__(self) -> Sandbox:
        # The server and the grader traverse workdir; the sandbox users only reach their own
        # folders below it, and cannot list it.
        self.workdir.chmod(0o711)
        if self.mode == "full":
            self._netns, inner = _loopback_namespace(self.port)
            self.listen += [inner] if inner else []
        elif has_rlimits():
            self._baseline_threads = _threads_of(os.getuid())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for jail in self._jails.values():
            self.reap(jail.role)
        if self._server is not None:
            # Its processes were counted while it ran (the grading reads them then).
            self.server_usage = self.server_state()
            self.server_usage.pop("server processes")
            self._server.remove()
            self._server = None
        for sock in self.listen:
            sock.close()
        if self._netns is not None:
            os.close(self._netns)
            self._netns = None

    def describe(self) -> str:
        if self.mode == "full":
            if not self._jails:  # nothing confined yet: whether a cgroup can be had is unknown
                caps = "cgroup caps where the machine allows, else rlimits"
            elif any(j.cgroup for j in self._jails.values()):
                caps = "cgroup caps"
            else:
                caps = "rlimit caps (no cgroup could be made)"
            return f"full (own user, PID/mount/network namespaces, {caps})"
        if not has_rlimits():
            return (
                f"process only ({self.reason}); no rlimits: this Python has no resource module"
                " (Windows), so CPU, memory, processes and file size are not capped, only the"
                " time limits and the disk watchdog apply"
            )
        return f"process only ({self.reason}; rlimits cap CPU, memory, processes, file size)"

    def server_spec(self, kept: bool = False) -> dict[str, object]:
        """How the grading's MLflow server bounds itself (grader.engine.server.one_process,
        --confine).

        No one file it writes may pass the disk limit (RLIMIT_FSIZE; the store as a whole is
        the store guard's, grader.engine.server.store_guard). In full mode it gets a cgroup of its
        own (memory, CPU, threads), unless KEPT past the grading (the cgroup ends with the
        sandbox); else its address space is capped, as the kernel's is without a cgroup.
        """
        limits = self.limits
        if self.mode == "process" and not has_rlimits():
            # nothing it could bound itself with (grader.engine.server.one_process.confine)
            return {}
        spec: dict[str, object] = {"rlimits": {"RLIMIT_FSIZE": limits.disk, "RLIMIT_CORE": 0}}
        if self.mode == "full" and not kept and self._server is None:
            name = f"{self.workdir.name}-server"
            self._server = cgroups.create(name, limits.server_memory, SERVER_THREADS, SERVER_CPUS)
        if self._server is not None:
            spec["cgroups"] = self._server.procs_files
        else:
            spec["address_space_above"] = limits.server_memory + ADDRESS_SPACE_SLACK
        return spec

    def server_state(self) -> dict[str, float]:
        """The server's cgroup now: its processes, memory limit and peak, OOM kills; after
        the sandbox closed, as it last was; {} without one."""
        if self._server is None:
            return self.server_usage
        return {
            "server processes": float(len(self._server.pids())),
            "server memory limit": float(self.limits.server_memory),
            "server memory peak": float(self._server.peak_memory()),
            "server oom kills": float(self._server.oom_kills()),
        }

    def jail(self, role: Role) -> _Jail:
        if role not in self._jails:
            conn = self.workdir / f"{role}-io"
            conn.mkdir(mode=0o700)
            uid = self._uid + (role == "probe")
            if self.mode == "full":
                os.chown(conn, uid, uid)
            name = f"{self.workdir.name}-{role}"
            group = (
                cgroups.create(name, self.limits.memory, self.limits.processes)
                if self.mode == "full"
                else None
            )
            self._jails[role] = _Jail(role, uid, conn, self.workdir / f"{role}.status", group)
        return self._jails[role]

    def paths(self, role: Role, work: Path) -> tuple[Path, Path, Path]:
        """(cwd, home, tmp) as the confined process sees them."""
        if self.mode == "full":
            return Path("/tmp/work"), Path("/tmp/home"), Path("/tmp")
        own = self.workdir / f"{role}-fs"
        (own / "home").mkdir(parents=True, exist_ok=True)
        (own / "tmp").mkdir(exist_ok=True)
        return work, own / "home", own / "tmp"

    def script(self, path: Path, name: str = "") -> str:
        """PATH, a file of the grader's that a confined process runs or reads, as that process
        finds it: alone under /labgrade (as NAME there, default its own) in full mode, where
        nothing else of the grader is."""
        if self.mode != "full":
            return str(path)
        self._scripts[name or path.name] = path
        return f"{jail_module.SCRIPTS}/{name or path.name}"

    def command(
        self, role: Role, argv: list[str], work: Path, chown: tuple[str, ...] = ()
    ) -> list[str]:
        """ARGV wrapped in the jail; WORK is copied to its cwd (full mode) or is its cwd.

        ARGV as it is where the jail would do nothing (process mode without rlimits): there
        its exec would not replace the process, as on Windows, where exec starts another."""
        if self.mode == "process" and not has_rlimits():
            return list(argv)
        spec = self.spec(role, work, chown)
        return [sys.executable, "-I", str(JAIL), json.dumps(spec), "--", *argv]

    def spec(self, role: Role, work: Path, chown: tuple[str, ...] = ()) -> dict[str, object]:
        """What jail.py is told: how to confine ROLE (see `command`)."""
        jail = self.jail(role)
        spec: dict[str, object] = {"mode": self.mode, "rlimits": self._rlimits(jail)}
        if self.mode == "full":
            spec.update(
                uid=jail.uid,
                gid=jail.uid,
                netns=f"/proc/{os.getpid()}/fd/{self._netns}",
                cgroups=jail.cgroup.procs_files if jail.cgroup else [],
                disk=self.limits.disk,
                keep=[str(jail.conn)],
                seed=str(work),
                view=list(view()),
                scripts={name: str(path) for name, path in self._scripts.items()},
                hide=[str(p) for p in self.hide],
                chown=list(chown),
                cwd="/tmp/work",
                status=str(jail.status),
            )
        return spec

    def env(self, role: Role, work: Path, extra: dict[str, str]) -> dict[str, str]:
        """The allow-listed environment: nothing of the grader's but locale, PATH and tags."""
        _, home, tmp = self.paths(role, work)
        env = {k: v for k, v in os.environ.items() if k in ALLOWED_ENV or k in TAG_VARS}
        env.setdefault("PATH", "/usr/bin:/bin")
        env.update(
            HOME=str(home),
            TMPDIR=str(tmp),
            USER="student",
            LOGNAME="student",
            PYTHONDONTWRITEBYTECODE="1",
            **{SANDBOX_VAR: f"{self._token}-{role}"},
            **extra,
        )
        return env

    def _rlimits(self, jail: _Jail) -> dict[str, object]:
        limits = self.limits
        cpu = int(limits.cpu_time)
        found: dict[str, object] = {
            "RLIMIT_CORE": 0,
            "RLIMIT_CPU": [cpu, cpu + 5],  # SIGXCPU first, SIGKILL if it is ignored
            "RLIMIT_FSIZE": limits.disk,
        }
        # Per user: in full mode the jail's user runs nothing else; here it is the grader's.
        found["RLIMIT_NPROC"] = limits.processes + (
            0 if self.mode == "full" else self._baseline_threads
        )
        if jail.cgroup is None:
            # Without a cgroup, address space is the only cap: mapped, not used, memory.
            found["RLIMIT_AS"] = limits.memory + ADDRESS_SPACE_SLACK
        return found

    def watch_disk(self, role: Role, work: Path, kill: int) -> threading.Thread | None:
        """Process mode: a thread that kills KILL's group once ROLE wrote past the disk limit.

        (Full mode needs none: its /tmp is a tmpfs of that size.)
        """
        if self.mode == "full":
            return None
        jail = self.jail(role)
        roots = [work, self.workdir / f"{role}-fs"]

        def watch() -> None:
            while psutil.pid_exists(kill):
                if sum(disk_usage(root) for root in roots) > self.limits.disk:
                    jail.disk_breach.append(f"wrote over {size_text(self.limits.disk)}")
                    if not hasattr(os, "killpg"):  # no process groups (Windows): its tree
                        kill_tree(kill, grace=0)
                        return
                    with contextlib.suppress(OSError):
                        os.killpg(kill, signal.SIGKILL)
                    return
                time.sleep(1)

        thread = threading.Thread(target=watch, name=f"disk-{role}", daemon=True)
        thread.start()
        return thread

    def exit_cause(self, role: Role, returncode: int | None) -> str:
        """Why the confined process ended, in words a student can act on."""
        jail = self.jail(role)
        signum, code, cpu = _status(jail.status, returncode)
        if jail.disk_breach:
            return f"it hit the disk limit: it {jail.disk_breach[0]}"
        if jail.oom_killed or (jail.cgroup is not None and jail.cgroup.oom_kills() > 0):
            return f"it ran out of memory (limit {size_text(self.limits.memory)})"
        if signum:  # never on Windows, whose processes end with a code (nor has it SIGKILL)
            if signum == signal.SIGSEGV:
                return (
                    "it crashed with a segmentation fault (SIGSEGV), e.g. from ctypes or native"
                    " code"
                )
            killed = signum == signal.SIGKILL and cpu >= self.limits.cpu_time
            if signum == signal.SIGXCPU or killed:
                return f"it used up its CPU time limit ({self.limits.cpu_time:g} s)"
            if signum == signal.SIGKILL:
                return "it was killed with SIGKILL"
            return f"it was ended by signal {signal.Signals(signum).name}"
        if code is not None:
            return f"its process exited with code {code} (os._exit or a native abort)"
        return "its process ended"

    def reap(self, role: Role) -> None:
        """End every process of ROLE's jail, wherever it went (setsid, double fork)."""
        jail = self._jails.get(role)
        if jail is None:
            return
        if self.mode == "full":
            _kill_user(jail.uid)
        else:  # a process that dropped the tag or left its group escapes: docs/security.md
            reap_tagged(SANDBOX_VAR, f"{self._token}-{role}")
        if jail.cgroup is not None:
            jail.oom_killed = jail.oom_killed or jail.cgroup.oom_kills() > 0
            jail.cgroup.remove()


ADDRESS_SPACE_SLACK = 2 * 1024**3  # thread stacks and malloc arenas map far more than they use
# The MLflow server: uvicorn's event loop, its thread pool (40 threads) and SQLAlchemy's;
# one CPU, so that a submission keeping it busy slows its own grading only.
SERVER_THREADS = 128
SERVER_CPUS = 1.0


@functools.cache
def has_rlimits() -> bool:
    """Whether this Python can cap a process's resources: POSIX's resource module, which
    Windows lacks (there process isolation has the time limits and the disk watchdog only)."""
    return importlib.util.find_spec("resource") is not None


def choose_mode(isolation: Isolation) -> tuple[Literal["full", "process"], str]:
    """The mode a Sandbox of ISOLATION runs in here, and why not full when it is not."""
    if isolation == "process":
        return "process", "--isolation process"
    problem = full_unavailable()
    if problem is None:
        return "full", ""
    if isolation == "full":
        raise ExecutionSetupError(
            f"--isolation full is not available here: {problem}. Run the grader as root"
            " (batch, CI containers), or use --isolation process"
        )
    return "process", problem


def full_unavailable() -> str | None:
    """Why full isolation cannot be had here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"namespaces need Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "the grader does not run as root, so it cannot switch user or use namespaces"
    return _python_unusable()


@functools.cache
def _python_unusable() -> str | None:
    """Whether a sandbox user, in a jail, can run this Python and find the lab's packages."""
    check = "import importlib.util as u; assert all(map(u.find_spec, ('ipykernel', 'mlflow')))"
    uid = _UID_BASE - 1
    with tempfile.TemporaryDirectory(prefix="labgrade-check-") as seed:
        spec = {
            "mode": "full",
            "uid": uid,
            "gid": uid,
            "disk": 1024**2,
            "seed": seed,
            "keep": [],
            "view": list(view()),
            "scripts": {},
            "hide": [],
            "cwd": "/tmp/work",
        }
        command = [sys.executable, "-I", str(JAIL), json.dumps(spec), "--"]
        try:
            subprocess.run(
                [*command, sys.executable, "-I", "-c", check],
                cwd="/",
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                capture_output=True,
                timeout=60,
                check=True,
            )
        except subprocess.CalledProcessError as err:
            why = err.stderr.decode(errors="replace").strip().splitlines()[-1:] or [str(err)]
            return f"a sandbox user could not run {sys.executable} in a jail: {why[0]}"
        except (OSError, subprocess.SubprocessError) as err:
            return f"a sandbox user could not run {sys.executable} in a jail: {err}"
    return None


@functools.cache
def python_roots() -> frozenset[Path]:
    """The Python a confined process runs, with its packages: the interpreter's folder, its
    installation and the environment's (as given and as resolved: a venv's python links to
    its base). Never the grader's checkout: an editable install's path entries are not here."""
    given = {
        Path(sys.base_prefix),
        Path(sys.prefix),
        Path(sys.base_exec_prefix),
        Path(sys.exec_prefix),
        Path(sys.executable).parent,
    }
    needed = {p.absolute() for p in given} | {p.resolve() for p in given}
    return frozenset(p for p in needed if not any(q in p.parents for q in needed))


@functools.cache
def view() -> tuple[str, ...]:
    """The allow-list: all of this machine a confined process can read, read-only
    (docs/security.md: "What a submission can read"). The jail binds each path that exists
    into an otherwise empty root, a symlink as itself; a path below another is covered by it."""
    wanted = {*SYSTEM, *(f"/etc/{name}" for name in ETC), *map(str, python_roots())}
    return tuple(
        sorted(p for p in wanted if not any(q != p and Path(q) in Path(p).parents for q in wanted))
    )


def _loopback_namespace(port: int | None) -> tuple[int, socket.socket | None]:
    """A network namespace with only loopback, up, and a socket bound there to PORT.

    Made in a thread of its own (network namespaces are per thread), so the grader stays
    where it was. The returned fd keeps the namespace alive until it is closed.
    """
    made: list[tuple[int, socket.socket | None]] = []
    failed: list[OSError] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            _loopback_up()
            sock = None
            if port is not None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", port))
            made.append((os.open("/proc/thread-self/ns/net", os.O_RDONLY), sock))
        except OSError as err:
            failed.append(err)

    thread = threading.Thread(target=work, name="labgrade-netns")
    thread.start()
    thread.join()
    if failed:
        raise ExecutionSetupError(
            f"could not make the submission's network namespace: {failed[0]}"
        ) from failed[0]
    return made[0]


def _loopback_up() -> None:
    import fcntl  # POSIX only; only full isolation, Linux's, comes here

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(probe, siocgifflags, request))[1]
        fcntl.ioctl(probe, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


def _status(path: Path, returncode: int | None) -> tuple[int, int | None, float]:
    """(signal, exit code, CPU seconds) of the confined process, from its jail or Popen."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        raw = json.loads(path.read_text())
        return int(raw["signal"]), int(raw["code"]), float(raw["cpu"])
    if returncode is None:
        return 0, None, 0.0
    return (-returncode, None, 0.0) if returncode < 0 else (0, returncode, 0.0)


def _kill_user(uid: int) -> None:
    """SIGKILL every process of UID (only sandbox users have these uids)."""
    for _ in range(3):
        procs = []
        for proc in psutil.process_iter(["uids"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["uids"] and proc.info["uids"].real == uid:
                    proc.kill()
                    procs.append(proc)
        if not procs:
            return
        psutil.wait_procs(procs, timeout=3)


def _threads_of(uid: int) -> int:
    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if proc.info["uids"].real == uid:
                total += int(proc.info["num_threads"])
    return total


def disk_usage(root: Path) -> int:
    """Bytes the files under ROOT take on disk (allocated blocks, sparse files as they are)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total
