"""The warm speed-up as the engine's Launcher (grader.engine.launch): a grading's server and
model probe forked from a process that imported MLflow once, not started as fresh Pythons.

PrivateHost is a single grading's (`pytest grader`, `labgrade grade`); SharedHost is a batch
worker's, the batch's own warm process (the zygote, which forked the worker). launcher()
picks the one this process has.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from grader.engine.launch import NO_HOST, Host, Launcher, Role
from grader.warm import spares
from grader.warm.host import Warm


class PrivateHost(Launcher):
    """A host of the grading's own, started when the grading starts.

    It imports while the grading prepares, the kernel starts and the notebook runs; the
    grading waits for a fork only if it needs one before the host is ready. It ends, with
    its forks, when the grading does.
    """

    @contextlib.contextmanager
    def hosting(self, roles: tuple[Role, ...], env: Mapping[str, str]) -> Iterator[Host]:
        if not roles:
            yield NO_HOST
            return
        with (
            tempfile.TemporaryDirectory(prefix="labgrade-host-") as tmp,
            Warm.running(Path(tmp), roles, wait=False, env=env) as warm,
        ):
            yield spares.HostForks(warm.control, warm.lock)


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
    """In a batch's worker, the batch's host; anywhere else, a host per grading."""
    forks = spares.inherited()
    return SharedHost(forks) if forks is not None else PrivateHost()
