"""The warm speed-up as the engine's Launcher (grader.engine.launcher): a grading's server and
model probe forked from a process that imported MLflow once, not started as fresh Pythons.

PrivateHost is a single grading's (`pytest grader`, `labgrade grade`); SharedHost is a batch
worker's, the batch's own warm process (the zygote, which forked the worker). launcher()
picks the one this process has.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from grader.engine.launcher import COLD, NO_HOST, Forked, Host, Launcher, Role
from grader.sandbox.procs import kill_tree
from grader.warm import spares
from grader.warm.host import Warm


class PrivateHost(Launcher):
    """Hosts of the grading's own: one for its kernel, one for its server and probe.

    They import while the grading prepares; the grading waits for a fork only if it needs
    one before its host is ready. Two, because one process imports its roles' modules in a
    row: the server's fork would wait behind the kernel's imports, where two processes import
    on two cores at once. They end, with their forks, when the grading does.

    A front end that knows what the grading will ask for before it starts the grading
    (`pytest grader`, as it configures) calls start(), and the hosts import meanwhile; close()
    ends hosts that no grading took.
    """

    def __init__(self) -> None:
        self._early: _Early | None = None

    def start(self, roles: tuple[Role, ...], env: Mapping[str, str]) -> None:
        """Start, now, the hosts a grading will ask hosting() for with ROLES and ENV."""
        self.close()
        stack = contextlib.ExitStack()
        with contextlib.ExitStack() as failed:
            failed.push(stack)  # a host that cannot start ends those started before it
            warms: list[Warm] = []
            host = _started(stack, roles, env, warms)
            failed.pop_all()
        self._early = _Early(_asked(roles, env), stack, host, warms)

    def close(self) -> None:
        """End the hosts start() began that no grading has taken."""
        early, self._early = self._early, None
        if early is not None:
            early.end()

    @contextlib.contextmanager
    def hosting(self, roles: tuple[Role, ...], env: Mapping[str, str]) -> Iterator[Host]:
        early, self._early = self._early, None
        if early is not None and early.asked == _asked(roles, env):
            with early.stack:
                yield early.host
            return
        if early is not None:  # started for another grading than this one
            early.end()
        with contextlib.ExitStack() as stack:
            yield _started(stack, roles, env)


_Asked = tuple[tuple[Role, ...], tuple[tuple[str, str], ...]]


class _Early(NamedTuple):
    """Hosts start() began, for the grading that asks for ASKED."""

    asked: _Asked
    stack: contextlib.ExitStack  # ends them
    host: Host
    warms: list[Warm]

    def end(self) -> None:
        for warm in self.warms:  # nothing forked yet, and likely still importing: no grace
            kill_tree(warm.proc.pid, grace=0)
        self.stack.close()


def _asked(roles: tuple[Role, ...], env: Mapping[str, str]) -> _Asked:
    return roles, tuple(sorted(env.items()))


def _started(
    stack: contextlib.ExitStack,
    roles: tuple[Role, ...],
    env: Mapping[str, str],
    warms: list[Warm] | None = None,
) -> Host:
    """The hosts of ROLES, started, on STACK (which ends them), each added to WARMS."""
    groups = [
        group
        for group in (
            tuple(r for r in roles if r == "kernel"),
            tuple(r for r in roles if r != "kernel"),
        )
        if group
    ]
    if not groups:
        return NO_HOST
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="labgrade-host-")))
    by_role: dict[Role, Host] = {}
    for number, group in enumerate(groups):
        folder = tmp / str(number)  # each host's own log
        folder.mkdir()
        warm = stack.enter_context(Warm.running(folder, group, wait=False, env=env))
        if warms is not None:
            warms.append(warm)
        by_role.update(dict.fromkeys(group, spares.HostForks(warm.control, warm.lock)))
    return _ByRole(by_role)


class _ByRole:
    """Each role's fork from the host that has it."""

    def __init__(self, hosts: Mapping[Role, Host]) -> None:
        self.hosts = hosts

    def fork(
        self,
        role: Role,
        request: Mapping[str, Any],
        fds: list[int],
        cancelled: threading.Event,
    ) -> Forked | None:
        host = self.hosts.get(role)
        return None if host is None else host.fork(role, request, fds, cancelled)


class SharedHost(Launcher):
    """The batch's warm process, on the socket its workers inherit: it was started for every
    role, with the lab's head start, before it forked this worker."""

    def __init__(self, forks: spares.HostForks) -> None:
        self.forks = forks

    def hosting(
        self, roles: tuple[Role, ...], env: Mapping[str, str]
    ) -> contextlib.AbstractContextManager[Host]:
        return contextlib.nullcontext(self.forks)


def launcher() -> Launcher:
    """In a batch's worker, the batch's host; anywhere else, a host per grading; fresh
    Pythons where there is no fork (Windows): the warm speed-up is forks."""
    if not hasattr(os, "fork"):
        return COLD
    forks = spares.inherited()
    return SharedHost(forks) if forks is not None else PrivateHost()
