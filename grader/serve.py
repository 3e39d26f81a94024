"""`python -m grader.serve [--also-fd N]... ARGS`: `mlflow server ARGS` in one process.

`mlflow server` prepares the stores, then starts uvicorn as a second Python process that
imports MLflow all over again. Here MLflow's own CLI runs unchanged, except that the
uvicorn command it builds runs in this process: same options, same environment, one
interpreter start fewer. Anything else MLflow would launch is launched as usual.

`--also-fd N` serves on listening socket N as well as on uvicorn's own `--fd`: the socket
the sandbox made inside the submission's network namespace, which reaches no other port.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any


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


def _run_uvicorn_here(original: Any) -> Any:
    def exec_cmd(cmd: list[str], *args: Any, **kw: Any) -> Any:
        # Only the exact call this was written for; anything else runs as MLflow meant it.
        if args or list(cmd[1:3]) != ["-m", "uvicorn"] or not isinstance(kw.get("extra_env"), dict):
            return original(cmd, *args, **kw)
        os.environ.update(kw["extra_env"])
        from uvicorn.main import main as uvicorn_main

        uvicorn_main(list(cmd[3:]))  # serves until signalled, then exits the process
        raise SystemExit(0)

    return exec_cmd


def main() -> None:
    import mlflow.server
    from mlflow.cli import cli

    args, extra_fds = sys.argv[1:], []
    while args[:1] == ["--also-fd"]:
        extra_fds.append(int(args[1]))
        args = args[2:]
    _serve_on_fds(extra_fds)

    original = getattr(mlflow.server, "_exec_cmd", None)
    if original is not None:  # an MLflow without it simply runs as `mlflow server`
        mlflow.server._exec_cmd = _run_uvicorn_here(original)
    cli(["server", *args])


if __name__ == "__main__":
    main()
