"""`python -m grader.engine.server.one_process [--also-fd N]... ARGS`: `mlflow server ARGS` in one
process.

`mlflow server` prepares the stores, then starts uvicorn as a second Python process that
imports MLflow all over again. Here MLflow's own CLI runs unchanged, except that the
uvicorn command it builds runs in this process: same options, same environment, one
interpreter start fewer. Anything else MLflow would launch is launched as usual.

`--also-fd N` serves on listening socket N as well as on uvicorn's own `--fd`: the socket
the sandbox made inside the submission's network namespace, which reaches no other port.

`--confine SPEC` (grader.sandbox.sandbox.Sandbox.server_spec) bounds the server before it
serves anything: it joins its cgroup (memory, CPU, processes), sets its rlimits (file size,
and address space where there is no cgroup), and serves MLflow's app behind the store guard
(grader.engine.server.store_guard), which bounds what the submission can make it store.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from grader.engine.server import store_guard, store_template


def _serve_on_fds(fds: list[int]) -> None:
    """Serve on uvicorn's `--fd` socket and on FDS, each taken as the TCP socket it is.

    uvicorn takes an `--fd` socket for a Unix one, so asyncio never sets TCP_NODELAY on its
    connections, and every request on a kept-alive connection (MLflow's client keeps them)
    waits ~40 ms for a delayed ACK.
    """
    from uvicorn.server import Server

    original = Server.startup

    async def startup(self: Server, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None and self.config.fd is not None:
            sockets = [socket.socket(fileno=fd) for fd in [self.config.fd, *fds]]
        await original(self, sockets=sockets)

    Server.startup = startup  # type: ignore[method-assign]


def _end_at_once_on_sigterm() -> None:
    """SIGTERM ends the server at once, as SIGKILL would.

    pytest-xprocess stops every throwaway server with SIGTERM, once the grading has read what
    it needs: uvicorn's graceful shutdown and tearing down what MLflow imported would add
    ~0.2 s to each grading for a store about to be deleted.
    """
    from uvicorn.server import Server

    original = Server.handle_exit

    def handle_exit(self: Server, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        original(self, sig, frame)

    Server.handle_exit = handle_exit  # type: ignore[method-assign]


def _run_uvicorn_here(original: Any, before: Callable[[], None]) -> Any:
    def exec_cmd(cmd: list[str], *args: Any, **kw: Any) -> Any:
        # Only the exact call this was written for; anything else runs as MLflow meant it.
        if args or list(cmd[1:3]) != ["-m", "uvicorn"] or not isinstance(kw.get("extra_env"), dict):
            return original(cmd, *args, **kw)
        before()  # the stores are ready, and nothing has been served yet
        os.environ.update(kw["extra_env"])
        from uvicorn.main import main as uvicorn_main

        uvicorn_main(_behind_guard(list(cmd[3:])))  # serves until signalled, then exits
        raise SystemExit(0)

    return exec_cmd


def _behind_guard(options: list[str]) -> list[str]:
    """uvicorn's options, serving MLflow's app (their last word) behind the store guard."""
    global _APP_NAME, _APP_FACTORY
    _APP_NAME, _APP_FACTORY = options[-1], "--factory" in options
    rest = [o for o in options[:-1] if o != "--factory"]
    return [*rest, "--factory", f"{__name__}:guarded_app"]


_APP_NAME, _APP_FACTORY = "", False


def guarded_app() -> Any:
    """uvicorn's app factory: MLflow's app, as MLflow named it, behind the store guard."""
    from uvicorn.importer import import_from_string

    app = import_from_string(_APP_NAME)
    return store_guard.guarded(app() if _APP_FACTORY else app)


def confine(spec: dict[str, Any]) -> None:
    """Bound this process as SPEC says (grader.sandbox.sandbox.Sandbox.server_spec), before
    it serves or imports anything big: what it allocates from now on is its cgroup's.

    A SPEC without rlimits (a Python without POSIX's resource module, as on Windows:
    grader.sandbox.sandbox.has_rlimits) imports nothing POSIX-only."""
    for procs in spec.get("cgroups", []):
        Path(procs).write_text(str(os.getpid()))
    rlimits, above = spec.get("rlimits", {}), spec.get("address_space_above")
    if rlimits or above is not None:
        import resource

        for name, value in rlimits.items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if above is not None:
            pages = int(Path("/proc/self/statm").read_text().split()[0])
            now = pages * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (now + above, now + above))
        # A write past RLIMIT_FSIZE fails with EFBIG (SQLite: "database or disk is full")
        # rather than killing the server with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if "store" in spec:
        store_guard.configure(store_guard.StoreLimits(**spec["store"]))


def remember_schema_head() -> None:
    """Work out MLflow's latest schema revision once per process, not once per store.

    Each store MLflow opens (tracking, then registry) checks the database against the newest
    revision of its migration scripts, and finding it executes all ~140 of them (~0.4 s).
    The scripts do not change while a process runs. A warm batch process calls this before
    it forks, so no server of the batch works it out again.
    """
    from mlflow.store.db import utils

    latest = utils._get_latest_schema_revision
    if not hasattr(latest, "cache_info"):
        utils._get_latest_schema_revision = functools.lru_cache(maxsize=1)(latest)


def main() -> None:
    args, extra_fds, save_to = sys.argv[1:], [], None
    while args[:1] in (["--also-fd"], ["--save-template"], ["--confine"]):
        if args[0] == "--also-fd":
            extra_fds.append(int(args[1]))
        elif args[0] == "--confine":
            confine(json.loads(args[1]))
        else:
            save_to = Path(args[1])
        args = args[2:]
    import mlflow.server
    from mlflow.cli import cli

    remember_schema_head()
    _serve_on_fds(extra_fds)
    _end_at_once_on_sigterm()

    original = getattr(mlflow.server, "_exec_cmd", None)
    if original is not None:  # an MLflow without it simply runs as `mlflow server`
        before = functools.partial(_save_template, args, save_to)
        mlflow.server._exec_cmd = _run_uvicorn_here(original, before)
    cli(["server", *args])


def _save_template(args: list[str], save_to: Path | None) -> None:
    """--save-template PATH: keep the store just migrated for the next server to copy."""
    store = store_template.sqlite_store(args)
    if save_to is None or store is None or Path(f"{store}-wal").exists():
        return
    try:
        store_template.save(store, save_to)
    except OSError as err:  # the next grading migrates its own store, as this one did
        print(f"labgrade: could not keep a template store at {save_to}: {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
