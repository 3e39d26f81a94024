"""A clean Ubuntu root to run the Gradescope bundle's setup.sh in, as on a bare base image.

Gradescope builds autograder images from its Ubuntu base images. Where Docker cannot run, a
root made by debootstrap from Ubuntu's own archive stands in for one: the release's minimal
system plus python3 (Gradescope's harness needs python3 on every base image), without pip,
venv, curl, wget or CA certificates, which a base image may lack too. Commands run in it by
chroot inside new mount and PID namespaces, so its /proc, /dev and /sys mounts, and every
process started in it, end with the command, whatever happens to the test.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

UBUNTU = "http://archive.ubuntu.com/ubuntu"
RELEASES = {"22.04": "jammy", "24.04": "noble"}
# Ubuntu Archive Automatic Signing Key (2018), which signs both releases' Release files: the one
# key debootstrap is given, whatever else the downloaded keyring package holds.
ARCHIVE_KEY = "F6ECB3762474EDA9D21B7022871920D1991BC93C"
# Where Ubuntu's ca-certificates puts its bundle; setup.sh installs that package on a bare root.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Local CAs of the site, which update-ca-certificates adds to that bundle.
SITE_CAS = Path("/usr/local/share/ca-certificates")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What uv downloads a managed CPython from (python-build-standalone's releases).
PYTHON_DOWNLOADS = "https://github.com/astral-sh/python-build-standalone/releases"
# Root's tools (debootstrap, chroot) are in sbin, which a non-login PATH may lack.
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
TOOLS = {
    "debootstrap": "apt-get install debootstrap",
    "unshare": "apt-get install util-linux",
    "chroot": "apt-get install coreutils",
    "gpg": "apt-get install gpg",
    "dpkg-deb": "apt-get install dpkg",
    "tar": "apt-get install tar",
}


@functools.cache
def unavailable() -> str | None:
    """Why no clean Ubuntu root can be made and used here, or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "debootstrap, chroot and namespaces need root on Linux"
    for tool, fix in TOOLS.items():
        if shutil.which(tool, path=SEARCH) is None:
            return f"{tool} is not installed ({fix})"
    for what, url in (
        ("Ubuntu's archive", f"{UBUNTU}/dists/{RELEASES['22.04']}/Release"),
        ("PyPI, which setup.sh installs uv and the grader from,", "https://pypi.org/simple/uv/"),
    ):
        problem = unreachable(url)
        if problem:
            return f"{what} is not reachable from here ({url}: {problem})"
    return None


@functools.cache
def python_downloads_reachable() -> bool:
    return unreachable(PYTHON_DOWNLOADS) is None


def unreachable(url: str) -> str | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15):
            return None
    except (urllib.error.URLError, OSError) as err:
        return str(getattr(err, "reason", err))


def archive_keyring(work: Path) -> Path:
    """A keyring holding ARCHIVE_KEY alone, taken from Ubuntu's ubuntu-keyring package."""
    arch = _dpkg_arch()
    index = f"{UBUNTU}/dists/{RELEASES['22.04']}/main/binary-{arch}/Packages.gz"
    packages = gzip.decompress(_get(index)).decode()
    stanza = next(s for s in packages.split("\n\n") if s.startswith("Package: ubuntu-keyring\n"))
    filename = next(line.split()[1] for line in stanza.splitlines() if line.startswith("Filename:"))
    deb = work / "ubuntu-keyring.deb"
    deb.write_bytes(_get(f"{UBUNTU}/{filename}"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "keyring")], check=True)
    keyring = work / "keyring" / "usr" / "share" / "keyrings" / "ubuntu-archive-keyring.gpg"
    with tempfile.TemporaryDirectory() as home:  # gpg's own state, thrown away
        export = ["--no-default-keyring", "--keyring", str(keyring), "--export", ARCHIVE_KEY]
        key = subprocess.run(
            ["gpg", "--batch", *export],
            env={**os.environ, "GNUPGHOME": home},
            capture_output=True,
            check=True,
        ).stdout
    assert key, f"{filename} has no key {ARCHIVE_KEY}"
    pinned = work / "archive-key.gpg"
    pinned.write_bytes(key)
    return pinned


def make_root(release: str, target: Path, keyring: Path) -> str:
    """Ubuntu RELEASE's minimal system plus python3 at TARGET; returns debootstrap's log."""
    suite = RELEASES[release]
    # bookworm's debootstrap predates noble: every Ubuntu release since gutsy uses one script.
    options = ["--variant=minbase", "--include=python3", f"--keyring={keyring}"]
    script = "/usr/share/debootstrap/scripts/gutsy"
    proc = _namespaced(["debootstrap", *options, suite, str(target), UBUNTU, script], timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert f"Valid Release signature (key id {ARCHIVE_KEY})" in log, log[-3000:]
    shutil.copy("/etc/resolv.conf", target / "etc" / "resolv.conf")  # the host's name servers
    return log


def trust_site_cas(root: Path) -> dict[str, str]:
    """Where this machine reaches the Internet through a TLS-inspecting proxy whose CA is one of
    the site's local CAs, ROOT gets them where Ubuntu's update-ca-certificates reads them, as
    such a site's image would; returns the environment that points uv and Python at the bundle
    made from them once setup.sh installs ca-certificates. Elsewhere nothing."""
    cas = sorted(SITE_CAS.glob("*.crt")) if os.environ.get("SSL_CERT_FILE") else []
    if not cas:
        return {}
    folder = root / SITE_CAS.relative_to("/")
    folder.mkdir(parents=True, exist_ok=True)
    for ca in cas:
        shutil.copy(ca, folder / ca.name)
    return {"SSL_CERT_FILE": CA_BUNDLE}


def run(
    root: Path, argv: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """ARGV in ROOT as root, with ENV alone (and PATH, HOME), its own /proc and the host's
    /dev and /sys, in mount and PID namespaces that end with it."""
    mounts = (
        'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev"'
        ' && mount --rbind /sys "$1/sys" && exec chroot "$@"'
    )
    variables = [f"{k}={v}" for k, v in {"PATH": PATH, "HOME": "/root", **env}.items()]
    command = ["sh", "-c", mounts, "sh", str(root), "/usr/bin/env", "-i", *variables, *argv]
    return _namespaced(command, timeout=timeout, pid=True)


def _namespaced(
    argv: list[str], timeout: float, pid: bool = False
) -> subprocess.CompletedProcess[str]:
    # --kill-child: if the test kills unshare (a timeout), its child and so the namespace go too.
    spaces = ["--mount", "--propagation", "private", *(["--pid"] if pid else [])]
    return subprocess.run(
        ["unshare", *spaces, "--fork", "--kill-child", *argv],
        env={**os.environ, "PATH": SEARCH},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def standin_unavailable() -> str | None:
    """Why python_standin cannot pack the running interpreter, or None."""
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and shutil.which("patchelf") is None:
        return (
            "python-build-standalone is out of reach, and its stand-in (this Python, whose"
            " libpython is shared) needs patchelf (apt-get install patchelf)"
        )
    return None


def python_standin(work: Path) -> tuple[Path, Path]:
    """The running interpreter packed as uv packs a managed CPython (python/ at the archive's
    root), for where python-build-standalone's downloads are out of reach: the archive, and a
    downloads list for UV_PYTHON_DOWNLOADS_JSON_URL naming it at /standin/ in a root. The same
    release as the bundle's by construction; linked against this host's libraries, which the
    root's python3 package brings too."""
    version = platform.python_version()
    short = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix)
    stage = work / "stage" / "python"
    (stage / "bin").mkdir(parents=True)
    shutil.copy2(base / "bin" / f"python{short}", stage / "bin" / f"python{short}")
    for alias in ("python3", "python"):
        (stage / "bin" / alias).symlink_to(f"python{short}")
    (stage / "lib").mkdir()
    libdir = Path(sysconfig.get_config_var("LIBDIR") or base / "lib")
    for lib in sorted(libdir.glob(f"libpython{short}*.so*")):
        shutil.copy2(lib, stage / "lib" / lib.name, follow_symlinks=False)
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):  # its RUNPATH names where it was built
        subprocess.run(
            ["patchelf", "--set-rpath", "$ORIGIN/../lib", str(stage / "bin" / f"python{short}")],
            check=True,
        )
    shutil.copytree(
        base / "lib" / f"python{short}",
        stage / "lib" / f"python{short}",
        symlinks=True,
        ignore=lambda folder, names: [
            n for n in names if n in {"site-packages", "test", "__pycache__"}
        ],
    )
    (stage / "lib" / f"python{short}" / "site-packages").mkdir()
    archive = work / f"cpython-{version}-standin.tar.gz"
    subprocess.run(["tar", "-C", str(stage.parent), "-czf", str(archive), "python"], check=True)
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    major, minor, patch = (int(part) for part in version.split(".")[:3])
    entry = {
        "name": "cpython",
        "arch": {"family": arch, "variant": None},
        "os": "linux",
        "libc": "gnu",
        "major": major,
        "minor": minor,
        "patch": patch,
        "prerelease": "",
        "url": f"file:///standin/{archive.name}",
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "variant": None,
        "build": "standin",
    }
    downloads = work / "downloads.json"
    downloads.write_text(json.dumps({f"cpython-{version}-linux-{arch}-gnu": entry}))
    return archive, downloads


def _dpkg_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        data: bytes = response.read()
    return data
