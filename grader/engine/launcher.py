"""How a grading's kernel, MLflow server and model probe come to run: the seam of the warm
speed-up.

The engine is handed a Launcher (Settings.launcher). Around each grading it asks the launcher
for a Host, early, so that whatever forks the grading's processes can import what they need
while the grading prepares. Then it asks the host for each process: a fork that has its
modules imported already, or None, and the engine starts a fresh Python as it always can.
Either way the process gets the command line, environment and descriptors a fresh one gets,
and is confined and ended the same way. The kernel is asked for first: the server is needed
only at its first request. A kernel fork holds ipykernel, MLflow and the lab's preload list
(Lab.preload) imported; to the submission it is a fresh kernel in all but time (argv,
sys.path, environment, warnings filters, random state: grader.warm.spares.KernelStart).

Cold starts fresh Pythons only (`--cold`, `--grade-cold`, a server kept after the grading):
what the warm path is tested against. The forking hosts are grader.warm's (a single grading's
own, or the batch's), handed in by the front ends; the engine never imports them.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import IO, Any, Literal, Protocol

Role = Literal["kernel", "server", "probe"]
# The lab's preload list (Lab.preload, JSON), in the environment a host is started with.
PRELOAD_VAR = "LABGRADE_KERNEL_PRELOAD"


def roles_for(mode: str) -> tuple[Role, ...]:
    """What a grading asks its host for, with its sandbox in MODE: the kernel first (needed
    before the server's first request); kernels and probes only where a PID namespace confines
    each fork (full isolation: grader.engine.kernel.execution)."""
    return ("kernel", "server", "probe") if mode == "full" else ("server",)


def preload_env(modules: tuple[str, ...]) -> dict[str, str]:
    """What a host of a lab's gradings is told ahead for their kernels: MODULES, the lab's
    preload list (Lab.preload).

    And no bytecode written, as in a kernel's own environment (grader.sandbox.sandbox.env):
    sys.flags are set when Python starts, and a fork's are its host's.
    """
    return {PRELOAD_VAR: json.dumps(list(modules)), "PYTHONDONTWRITEBYTECODE": "1"}


class Forked(Protocol):
    """A process a host forked for the grading: not the grader's child, so its exit code is the
    host's to tell; as much of subprocess.Popen as the engine uses."""

    pid: int
    returncode: int | None
    stdin: IO[bytes] | None
    stdout: IO[bytes] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Host(Protocol):
    def fork(
        self,
        role: Role,
        request: Mapping[str, Any],
        fds: list[int],
        cancelled: threading.Event,
    ) -> Forked | None:
        """ROLE, forked with its modules imported, handed REQUEST and FDS directly (what a
        fresh one would get as its arguments and descriptors; the host never sees them).

        Waits while the host still imports, until CANCELLED is set (the grading is ending).
        None: the host cannot (or was cancelled); the caller starts a fresh process, unless
        cancelled.
        """
        ...


class Launcher(Protocol):
    def hosting(
        self, roles: tuple[Role, ...], env: Mapping[str, str]
    ) -> AbstractContextManager[Host]:
        """The host of one grading's ROLES, from now until the context ends (then every fork
        of it ends too). ENV: what its forks must know ahead, the same for every grading of
        the lab (grader.engine.probe.model_probe.host_env: the probe's head start, and the modules
        its kernels import)."""
        ...


class _NoHost:
    def fork(
        self,
        role: Role,
        request: Mapping[str, Any],
        fds: list[int],
        cancelled: threading.Event,
    ) -> Forked | None:
        return None


NO_HOST: Host = _NoHost()


class Cold:
    """Every kernel, server and probe a fresh Python."""

    def hosting(
        self, roles: tuple[Role, ...], env: Mapping[str, str]
    ) -> AbstractContextManager[Host]:
        return contextlib.nullcontext(NO_HOST)


COLD: Launcher = Cold()
