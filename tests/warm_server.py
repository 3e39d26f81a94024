"""Run by test_warm in a fresh, single-threaded Python: a spare becomes the tracking server.

Prints one JSON line: the spares' pids before, the pid listening on the server's port, and
which of those processes are left once the server's context has ended.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import psutil

from grader import spares
from grader.server import throwaway_server


def main() -> None:
    spares.prefork()
    before = spares.waiting()
    with tempfile.TemporaryDirectory(prefix="labgrade-warm-test-") as tmp:
        with throwaway_server(Path(tmp)) as server:
            server.wait_ready()
            port = int(server.url.rsplit(":", 1)[1])
            listeners = [
                c.pid
                for c in psutil.net_connections(kind="tcp")
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
            ]
        after = spares.waiting()
        spares.discard()
        probe_exit = os.waitstatus_to_exitcode(os.waitpid(before["probe"], 0)[1])
    alive = [pid for pid in before.values() if psutil.pid_exists(pid)]
    print(
        json.dumps(
            {
                "before": before,
                "listeners": listeners,
                "after": after,
                "probe_exit": probe_exit,
                "alive": alive,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
