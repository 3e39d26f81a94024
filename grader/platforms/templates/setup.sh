#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# It installs the grader, with the versions it was tested with (constraints.txt), in a venv.
# Written by `labgrade gradescope` from grader/platforms/templates/setup.sh.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The pins in constraints.txt were resolved on this exact Python. uv installs it as a standalone
# CPython build, whatever Pythons the base image has (each OS release ships its own, and not
# every release packages every python3.X), so the grader runs on the interpreter it was tested
# with on every base image.
PYTHON_VERSION="@PYTHON@"
UV_VERSION="@UV@"
LAB="@LAB@"
# uv and the Python it installs live here, in the image: the venv's python links into it.
UV_HOME="$ROOT/uv"
UV="$UV_HOME/bin/uv"
# Where uv's own package index is set (UV_DEFAULT_INDEX), uv itself comes from there too.
INDEX="${UV_DEFAULT_INDEX:-${UV_INDEX_URL:-https://pypi.org/simple}}"

die() {
  echo "setup.sh: $*" >&2
  exit 1
}

# What a bare base image may lack (python3, CA certificates), from its own package manager.
install_packages() {
  if command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "$@" >/dev/null
  elif command -v dnf >/dev/null; then
    dnf install -y -q "$@"
  elif command -v yum >/dev/null; then
    yum install -y -q "$@"
  else
    return 1
  fi
}

# uv comes from PyPI as a wheel, unpacked by the image's python3 with nothing but its standard
# library: Gradescope's harness needs python3 on every base image, while pip, venv, curl and
# wget are each missing from some (Ubuntu ships pip and venv as separate packages). The
# wheel's sha256 is the one the index lists (its simple API in PEP 691's JSON form).
fetch_uv() {
  python3 - "$UV_VERSION" "$UV_HOME/bin" "$INDEX" <<'PY'
import hashlib, io, json, os, platform, sys, urllib.error, urllib.parse, urllib.request, zipfile

version, bin_dir, index = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/")


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()
    except urllib.error.URLError as err:
        reason = getattr(err, "reason", err)
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            sys.stderr.write("setup.sh: no CA certificate vouches for %s: installing the"
                             " image's CA certificates\n" % url)
            sys.exit(3)  # setup.sh installs them and tries again
        sys.exit("setup.sh: could not download %s (%s): the image build needs access to the"
                 " package index %s (set UV_DEFAULT_INDEX for another one)" % (url, reason, index))


machine = platform.machine().lower()
arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
libc = "manylinux" if platform.libc_ver()[0] == "glibc" else "musllinux"
try:
    files = json.loads(get(index + "/uv/", "application/vnd.pypi.simple.v1+json"))["files"]
except (ValueError, KeyError):
    sys.exit("setup.sh: %s/uv/ is not a PEP 691 JSON page: use an index that serves one"
             " (pypi.org does)" % index)
wheels = [
    f for f in files
    if f["filename"].startswith("uv-%s-" % version) and f["filename"].endswith(".whl")
    and any(tag.startswith(libc) and tag.endswith("_" + arch)
            for tag in f["filename"][:-4].split("-")[-1].split("."))
]
wheels.sort(key=lambda f: f["filename"])  # manylinux_2_17 before manylinux_2_28: oldest glibc
if not wheels:
    sys.exit("setup.sh: %s has no uv %s wheel for %s %s: rebuild the bundle with a uv release"
             " that has one" % (index, version, libc, arch))
url = urllib.parse.urljoin(index + "/uv/", wheels[0]["url"])
sha256 = wheels[0].get("hashes", {}).get("sha256")
if not sha256:
    sys.exit("setup.sh: %s lists no sha256 for %s: use an index that does" % (index, url))
data = get(url)
if hashlib.sha256(data).hexdigest() != sha256:
    sys.exit("setup.sh: %s does not match the sha256 the index lists: try again" % url)
with zipfile.ZipFile(io.BytesIO(data)) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".data/scripts/uv"))
    os.makedirs(bin_dir, exist_ok=True)
    target = os.path.join(bin_dir, "uv")
    with open(target, "wb") as out:
        out.write(archive.read(name))
os.chmod(target, 0o755)
PY
}

uv_ready() {
  [ -x "$UV" ] && [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]
}

if ! uv_ready; then
  if ! command -v python3 >/dev/null; then
    install_packages python3 || true
    command -v python3 >/dev/null \
      || die "no python3 on this image, and none could be installed with apt-get, dnf or" \
             "yum: pick a Gradescope base image with python3 (all of Gradescope's own have it)"
  fi
  code=0
  fetch_uv || code=$?
  if [ "$code" -eq 3 ]; then
    install_packages ca-certificates \
      || die "could not install CA certificates with apt-get, dnf or yum: add them to the image"
    code=0
    fetch_uv || code=$?
  fi
  [ "$code" -eq 0 ] || die "could not install uv $UV_VERSION (see above)"
  uv_ready || die "$UV is not uv $UV_VERSION: $("$UV" --version 2>&1 || true)"
fi

export UV_PYTHON_INSTALL_DIR="$UV_HOME/python"
# No python3.X links on PATH: the grader runs from the venv, and the image's python3 stays the
# one Gradescope's harness runs on (a uv older than 0.8 ignores UV_PYTHON_INSTALL_BIN and puts
# its links in UV_PYTHON_BIN_DIR, in the bundle's folder).
export UV_PYTHON_INSTALL_BIN=0 UV_PYTHON_BIN_DIR="$UV_HOME/bin"
# Never the image's own Python, even of the same version: distribution builds differ (Debian's
# and Ubuntu's split off venv and ensurepip), and the grader should meet the same one everywhere.
export UV_PYTHON_PREFERENCE=only-managed
UV_CACHE_DIR="$(mktemp -d)"
export UV_CACHE_DIR
trap 'rm -rf "$UV_CACHE_DIR"' EXIT  # the image keeps what was installed, not the downloads

"$UV" python install "$PYTHON_VERSION" \
  || die "uv could not install Python $PYTHON_VERSION (see above). uv downloads it from" \
         "python-build-standalone's GitHub releases: the image build needs access to them, or" \
         "set UV_PYTHON_INSTALL_MIRROR at the top of this script to a mirror of them."
rm -rf "$ROOT/venv"  # a venv from an earlier run: uv venv would not overwrite it everywhere
"$UV" venv --quiet --python "$PYTHON_VERSION" "$ROOT/venv" \
  || die "uv could not make the venv $ROOT/venv (see above)"
"$UV" pip install --quiet --python "$ROOT/venv/bin/python" -c "$SOURCE/constraints.txt" \
  "$SOURCE" \
  || die "could not install the grader with the versions in constraints.txt (see above): the" \
         "image build needs access to $INDEX"
# Fail the image build now rather than at the first submission: the grader imports on the
# tested Python, and the lab and its rubric load as installed.
cd "$ROOT"
"$ROOT/venv/bin/python" -c "import platform, sys, grader.engine.grading, grader.platforms.gradescope
from grader import labs
labs.load(sys.argv[1]).rubric()
if platform.python_version() != sys.argv[2]:
    sys.exit('the venv runs Python %s, not %s' % (platform.python_version(), sys.argv[2]))" \
  "$LAB" "$PYTHON_VERSION" \
  || die "the installed grader does not load lab $LAB (see above): rebuild the bundle"
echo "setup.sh: grader installed in $ROOT/venv (lab $LAB, Python $PYTHON_VERSION, uv $UV_VERSION)"
