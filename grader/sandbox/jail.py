"""`python -I jail.py SPEC -- ARGV...`: run ARGV confined as SPEC (JSON) says.

Run by path with -I (standard library only, no environment, no cwd on sys.path): it starts
as root, so nothing of the submission's may be imported before it drops its rights.

full (root): join the grading's network namespace (loopback only, where the tracking
server listens) and its cgroups, then a new PID and mount namespace. Inside, ARGV is PID 1:
when it ends, the kernel of the OS ends every process the submission started (setsid and
double forks included). Its root is a new, empty and read-only one holding only the paths
SPEC's view allows (grader.sandbox.sandbox.view: the system's programs and libraries, a few
files of /etc, Python and its packages), the grader's scripts under /labgrade, /proc, and
a private /tmp of the disk limit (also /var/tmp, /dev/shm) with the submission's folder
copied into it. The machine's own root is unmounted from its view: no checkout, home,
class folder or other mount can be named. Then rlimits, a user of its own, no new
privileges, exec.

process (no root): rlimits only, then exec; the sandbox module documents what is lost.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import stat
import sys
from collections.abc import Callable

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
# pivot_root(2) has no libc wrapper: its number on each machine the grader runs on.
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 217, "ppc64le": 203, "s390x": 217, "riscv64": 41}
SCRIPTS = "/labgrade"  # where the grader's own scripts sit in the jail, and nothing else
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SETUP_FAILED = 126
WRITABLE_ALIASES = ("/var/tmp", "/dev/shm", "/run/lock")
# Becomes the confined program with the environment given: execve, or (a warm spare,
# grader.warm.spares) runs it in-process and exits. Never returns.
Start = Callable[[dict[str, str]], None]

_libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _call(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _rlimits(spec: dict) -> None:
    import resource  # POSIX only: a Python without it is never given rlimits (has_rlimits)

    for name, value in spec.get("rlimits", {}).items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _enter_filesystem(spec: dict) -> None:
    """Make the confined process's root: an empty, read-only tmpfs holding only SPEC's view
    (each path bound read-only at its own place), the grader's scripts under /labgrade,
    /proc, and a private writable /tmp of the disk limit with the submission's copy in it.
    Nothing else of the machine is mounted, so nothing else can be named, listed or read."""
    uid, gid = spec["uid"], spec["gid"]
    # Every source is opened before the first mount: the new root is built over /tmp, where
    # the grading's own folders (and Python, in a clone under /tmp) may sit.
    keep = [(path, _source(path)) for path in spec["keep"]]
    view = [(path, _source(path)) for path in spec["view"] if os.path.lexists(path)]
    scripts = [(f"{SCRIPTS}/{name}", _source(path)) for name, path in spec["scripts"].items()]
    seed = os.open(spec["seed"], os.O_PATH | os.O_DIRECTORY)
    new = "/tmp"
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    _mount("proc", _under(new, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmp = _under(new, "/tmp")
    _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['disk']},mode=1777")
    shutil.copytree(f"/proc/self/fd/{seed}", f"{tmp}/work", symlinks=True)
    os.makedirs(f"{tmp}/home", mode=0o700)
    for root, dirs, files in os.walk(f"{tmp}/work"):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, uid, gid)
    os.chown(f"{tmp}/home", uid, gid)
    for path, source in sorted(view):  # parents first: /usr before a Python below it
        _show(new, path, source, read_only=True)
    for path, source in scripts:
        _show(new, path, source, read_only=True)
    for path, source in keep:  # the kernel's sockets and capture file stay at their own paths
        _show(new, path, source, read_only=False)
    for alias in WRITABLE_ALIASES:
        if os.path.isdir(alias):
            _mount(tmp, _under(new, alias), None, MS_BIND)
    for path in spec["hide"]:  # what lies inside a shown path but is not the submission's
        inside = new + path
        if os.path.isdir(inside) and not os.path.islink(inside):
            _mount("tmpfs", inside, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
        elif os.path.isfile(inside) and not os.path.islink(inside):
            _mount("/dev/null", inside, None, MS_BIND)
    os.chdir(new)
    _call(_libc.syscall(_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    _call(_libc.umount2(b".", MNT_DETACH), "umount the machine's root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path in spec.get("chown", []):
        os.chown(path, uid, gid)


def _source(path: str) -> int | str:
    """What PATH is to be shown as: its target if it is a symlink, else an open O_PATH fd."""
    if os.path.islink(path):
        return os.readlink(path)
    return os.open(path, os.O_PATH)


def _under(new: str, path: str) -> str:
    """PATH's place in the root being built at NEW, made as a folder (parents 0755)."""
    target = new + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _show(new: str, path: str, source: int | str, read_only: bool) -> None:
    """PATH at its own place in the root being built at NEW: a symlink (SOURCE its target)
    as the same symlink, a folder or file (SOURCE an O_PATH fd) bound there, with what is
    mounted below it."""
    target = new + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if isinstance(source, str):
        os.symlink(source, target)
        return
    if stat.S_ISDIR(os.fstat(source).st_mode):
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o444))
    _mount(f"/proc/self/fd/{source}", target, None, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    os.close(source)


def _become(spec: dict) -> None:
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    # After the user change, which would reset it: this tree dies with its jail process.
    _call(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _child(spec: dict, start: Start, report: int, status: int | None) -> None:
    """PID 1 of the new namespace: confine itself, START the program, reap until it ends.

    The program is not PID 1 itself, so it keeps the usual signal behaviour (PID 1 ignores
    SIGTERM, SIGXCPU and other signals it has no handler for); when it ends, this process
    exits and the OS ends every other process of the namespace.
    """
    try:
        _enter_filesystem(spec)
        _rlimits(spec)
        _become(spec)
        os.chdir(spec["cwd"])
        # A PID from outside the namespace means nothing inside it: ipykernel would take its
        # parent (PID 1 here) for a dead one and exit. The jail ends the kernel with its parent.
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        pid = os.fork()
        if pid == 0:
            start(env)
    except BaseException as err:  # told to the jail process, which reports and exits non-zero
        os.write(report, f"{type(err).__name__}: {err}".encode()[:2000])
        os._exit(SETUP_FAILED)
    # A cell's timeout interrupts the kernel with SIGINT to the jail's process group: it is
    # the kernel's to take. Here it would raise KeyboardInterrupt and end the namespace, and
    # the kernel with it, before the grader reads what the notebook left.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.close(report)
    while True:
        found, wait_status, usage = os.wait4(-1, 0)
        if found == pid:
            os._exit(_report(status, wait_status, usage.ru_utime + usage.ru_stime))


def _full(spec: dict, start: Start) -> int:
    if spec.get("netns"):
        fd = os.open(spec["netns"], os.O_RDONLY)
        _call(_libc.setns(fd, CLONE_NEWNET), "setns(net)")
        os.close(fd)
    for procs in spec.get("cgroups", []):
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))
    # Opened now: the child's mounts (a tmpfs on /tmp) are this process's view too.
    status = (
        os.open(spec["status"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if spec.get("status")
        else None
    )
    _call(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare(mount, pid)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    read_end, write_end = os.pipe()  # close-on-exec: EOF means the program started
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(spec, start, write_end, status)
    os.close(write_end)
    if status is not None:
        os.close(status)

    def end(signum: int, frame: object) -> None:
        os.kill(pid, signal.SIGKILL)

    # Interrupts reach the kernel through the process group; ending the jail ends the tree.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, end)
    failure = b""
    while chunk := os.read(read_end, 2000):
        failure += chunk
    _, wait_status = os.waitpid(pid, 0)
    if failure:
        sys.stderr.write(f"labgrade jail: could not confine the process: {failure.decode()}\n")
        return SETUP_FAILED
    return os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 137


def _report(fd: int | None, wait_status: int, cpu: float) -> int:
    """Write how ARGV ended (for the grader's message) and return an exit code for it."""
    signum = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else 0
    code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else 128 + signum
    if fd is not None:
        os.write(fd, json.dumps({"signal": signum, "code": code, "cpu": cpu}).encode())
        os.close(fd)
    return code


def run(spec: dict, start: Start) -> int:
    """Confine as SPEC says, then START; the exit code of the jail process."""
    if spec["mode"] == "full":
        return _full(spec, start)
    _rlimits(spec)
    start(dict(os.environ))
    return SETUP_FAILED  # not reached: START replaces or ends this process


def main(args: list[str]) -> int:
    spec = json.loads(args[0])
    argv = args[args.index("--") + 1 :]
    return run(spec, lambda env: os.execve(argv[0], argv, env))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
