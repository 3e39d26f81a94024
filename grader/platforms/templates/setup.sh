#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# It installs the grader, with the versions it was tested with (constraints.txt), in a venv.
# Written by `labgrade gradescope` from grader/platforms/templates/setup.sh.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The pins in constraints.txt were resolved on this minor version of Python: it is installed
# (Ubuntu images carry python3.X packages in apt) rather than whatever python3 the image has,
# where a pinned wheel may not exist.
PYTHON_VERSION="@PYTHON@"
LAB="@LAB@"

PY="$(command -v "python$PYTHON_VERSION" || true)"
if [ -z "$PY" ] && command -v apt-get >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "python$PYTHON_VERSION" "python$PYTHON_VERSION-venv"
  PY="$(command -v "python$PYTHON_VERSION" || true)"
fi
if [ -z "$PY" ]; then
  echo "setup.sh: Python $PYTHON_VERSION is not available on this image. Pick a Gradescope" \
       "base image that has it, or rebuild the bundle with labgrade under the image's Python." >&2
  exit 1
fi

"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -c "$SOURCE/constraints.txt" "$SOURCE"
# Fail the image build now rather than at the first submission: the grader imports, and the
# lab and its rubric load as installed.
cd "$ROOT"
"$ROOT/venv/bin/python" -c "import sys, grader.engine.grading, grader.platforms.gradescope
from grader import labs
labs.load(sys.argv[1]).rubric()" "$LAB"
echo "setup.sh: grader installed in $ROOT/venv (lab $LAB)"
