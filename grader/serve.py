"""`python -m grader.serve ARGS`: `mlflow server ARGS` in one process instead of two.

`mlflow server` prepares the stores, then starts uvicorn as a second Python process that
imports MLflow all over again. Here MLflow's own CLI runs unchanged, except that the
uvicorn command it builds runs in this process: same options, same environment, one
interpreter start fewer. Anything else MLflow would launch is launched as usual.
"""

from __future__ import annotations

import os
import sys
from typing import Any


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

    original = getattr(mlflow.server, "_exec_cmd", None)
    if original is not None:  # an MLflow without it simply runs as `mlflow server`
        mlflow.server._exec_cmd = _run_uvicorn_here(original)
    cli(["server", *sys.argv[1:]])


if __name__ == "__main__":
    main()
