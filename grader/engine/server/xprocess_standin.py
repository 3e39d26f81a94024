"""`python -I -S standin.py PID`: a process standing for PID under pytest-xprocess.

pytest-xprocess starts (Popen) and stops (XProcessInfo.terminate, which ends a process tree)
each throwaway server. A server forked by a warm host is neither started by Popen nor in the
grader's process tree, so xprocess starts this in its place (grader.engine.server.throwaway): it
lives exactly as long as PID, and on SIGTERM it ends PID (its process group, then PID itself) and
exits once PID has ended. So xprocess's terminate() returns only when the server is gone, as for a
server it started itself, and a grading that dies leaves neither behind (the host ends a fork whose
grading hung up; this then sees PID end).

Standard library only and no site: it is up in ~20 ms, while the fork starts.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys

POLL = 0.05  # where pidfd_open is missing (Linux < 5.3), how often PID is looked for


def main(pid: int) -> None:
    def end(signum: int, frame: object) -> None:
        for kill in (os.killpg, os.kill):  # killpg first: PID leads its group once it serves
            with contextlib.suppress(OSError):  # not a group leader yet, or gone already
                kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, end)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:
        fd = -1
    if fd >= 0:
        select.select([fd], [], [])  # readable once PID has ended; retried after a signal
        return
    while True:
        select.select([], [], [], POLL)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # alive as another user: keep waiting
            pass


if __name__ == "__main__":
    main(int(sys.argv[1]))
