"""What the Gradescope bundle's setup.sh installs its environment with: uv, at a pinned release,
and the exact Python the bundle was built on.

setup.sh fetches that uv from PyPI and has it install that Python as a standalone CPython
build, so the bundle needs no particular Python on Gradescope's base image.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

# The release setup.sh was last tested with, on clean Ubuntu 22.04 and 24.04 roots
# (tests/platforms/test_gradescope.py). Used when the build machine has no uv of its own: a
# bundle names an exact release, so that every image built from it installs the same.
UV_VERSION = "0.13.9"
# Every uv environment variable setup.sh sets exists from this release on (UV_PYTHON_BIN_DIR
# came last): an older uv would ignore it and put Python's links outside the bundle's folder.
UV_OLDEST = (0, 4, 29)
_RELEASE = re.compile(r"uv (\d+)\.(\d+)\.(\d+)(?:\s|$)")


def python_release() -> str:
    """The running Python's exact release (3.11.7): constraints.txt's pins were resolved on it."""
    return platform.python_version()


def uv_version() -> str:
    """The uv release for setup.sh: the build machine's (`uv` on PATH), which the instructor
    works with, when it is a release no older than UV_OLDEST; else UV_VERSION."""
    uv = shutil.which("uv")
    if uv is None:
        return UV_VERSION
    try:
        proc = subprocess.run(
            [uv, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return UV_VERSION
    found = _RELEASE.match(proc.stdout.strip())
    if found is None or tuple(int(part) for part in found.groups()) < UV_OLDEST:
        return UV_VERSION  # a development build or an old uv: not one to pin a bundle to
    return ".".join(found.groups())
