"""Running `pytest grader` as a student would, and seeing what it left running."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import nbformat
import psutil
import pytest

from grader.engine.probe.model_probe import host_env
from grader.labs import ids, load
from grader.warm.host import ROLES, Warm

TRACKING = load("tracking")  # lab 1, the default lab
ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "labs" / "tracking" / "submissions"
# Headless Chromium as the browser tests start it: nothing fetched in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A lab of one folder, named by its path (docs/writing-a-lab.md's example).
ONE_FOLDER_LAB = ROOT / "tests" / "labs" / "one_folder" / "wine"
TOKEN_VAR = "LABGRADE_TEST_TOKEN"
# The check ids of the --grade-json contract, in rubric order.
CHECK_IDS = (
    "experiment",
    "params",
    "metric",
    "tag",
    "signature",
    "registered_model",
    "predictions",
)


def later_labs(group: str) -> list[Any]:
    """Every installed lab but the first, as slow pytest parameters for a test of one path
    (a batch, Gradescope, Classroom 50) that grades its reference and template end to end.
    Lab 1 (tracking) is left out: each path's own tests grade its notebooks already. Lab
    LAB's parameter is in the xdist group GROUP-LAB: the tests reading one grading share it."""
    slow = pytest.mark.slow
    return [
        pytest.param(lab_id, id=lab_id, marks=[slow, pytest.mark.xdist_group(f"{group}-{lab_id}")])
        for lab_id in ids()
        if lab_id != TRACKING.id
    ]


@dataclass(frozen=True)
class GradingRun:
    exit_code: int
    stdout: str
    stderr: str
    result: dict[str, Any] | None
    leftovers: list[str]
    junit: str
    changed_files: list[str]
    # What the grader wrote for GitHub Actions (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT).
    step_summary: str = ""
    github_output: str = ""

    def check(self, check_id: str) -> dict[str, Any]:
        assert self.result is not None
        return next(c for c in self.result["checks"] if c["id"] == check_id)


def processes_with_token(token: str) -> list[psutil.Process]:
    """Every live process started under this grading run (the token is in its environment)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(TOKEN_VAR) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:150]}")
        except psutil.Error:
            continue
    return out


def run_watched(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """ARGV run as a platform runs it (ENV whole, no stdin, output captured), with what it
    left running: told, then killed, so that a failing test still leaves the machine clean."""
    token = uuid.uuid4().hex
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env={**env, TOKEN_VAR: token},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    leftovers = describe(processes_with_token(token))
    for leftover in processes_with_token(token):
        leftover.kill()
    return proc, leftovers


def run_labgrade(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`labgrade ARGS` (python -m grader.frontends.cli) from the repository, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "grader.frontends.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_grader(
    submission: Path | None,
    out_dir: Path,
    *extra: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """`pytest grader` on SUBMISSION (None: no --submission, e.g. with --tracking-uri)."""
    token = uuid.uuid4().hex
    env = {**os.environ, **_grading_env(out_dir, env), TOKEN_VAR: token}
    cmd = [sys.executable, "-m", "pytest", *_grader_args(submission, out_dir, extra)]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return proc, token


def finish(
    proc: subprocess.Popen[str], token: str, out_dir: Path, timeout: float = 600
) -> GradingRun:
    stdout, stderr = proc.communicate(timeout=timeout)
    # The grader must have ended everything before it exits: look right away, no grace period.
    leftovers = describe(processes_with_token(token))
    for leftover in processes_with_token(token):  # leave the machine clean even when failing
        leftover.kill()
    return _collected(out_dir, proc.returncode, stdout, stderr, leftovers)


def _collected(
    out_dir: Path, code: int, stdout: str, stderr: str, leftovers: list[str]
) -> GradingRun:
    """A finished grading as the tests read it: what it printed and the files it wrote."""
    json_path = out_dir / "result.json"
    result = json.loads(json_path.read_text()) if json_path.exists() else None
    junit_path = out_dir / "junit.xml"
    junit = junit_path.read_text() if junit_path.exists() else ""
    summary, output = out_dir / "step_summary.md", out_dir / "github_output"
    return GradingRun(
        code,
        stdout,
        stderr,
        result,
        leftovers,
        junit,
        [],
        summary.read_text() if summary.exists() else "",
        output.read_text() if output.exists() else "",
    )


def pytest_in_fork(argv: list[str]) -> int:
    """`pytest ARGV[1:]` in a fork of a session's warm process, its stdout into the file ARGV[0]
    (a warm worker's own stdout is /dev/null)."""
    out = os.open(argv[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.close(out)
    # The warm process imported pytest's plugins (the grader's, xprocess) before this pytest
    # could mark them for assertion rewriting: it warns so, a subprocess would not.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*argv[1:], *quiet]))


class SessionHosts:
    """The warm processes a test session grades through: one per lab, started at first use.

    A grading forked from one is `pytest grader` as a subprocess runs it, minus starting
    Python and importing pytest, the grader, MLflow and scikit-learn again: a batch's path
    (grader.course.batch), with its server, probe and kernel forked from the same process.
    Tests about a single grading's own start and end (Ctrl-C, --keep-server, its private
    host, another working folder) start it as a subprocess instead.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stack = contextlib.ExitStack()
        self.hosts: dict[str, tuple[Warm, str]] = {}

    def close(self) -> None:
        self.stack.close()

    def _host(self, lab_id: str) -> tuple[Warm, str]:
        known = self.hosts.get(lab_id)
        if known is not None and known[0].proc.poll() is None:
            return known
        # Started afresh if a hostile submission (process isolation) ended the last one.
        token = uuid.uuid4().hex  # its forks' environment: leftovers are found by it
        folder = self.workdir / f"{lab_id}-{token[:8]}"
        folder.mkdir(parents=True)
        lab = load(lab_id)
        env = {**host_env(lab), TOKEN_VAR: token}
        warm = self.stack.enter_context(
            Warm.running(folder, ROLES, env=env, worker=f"{__name__}:pytest_in_fork")
        )
        self.hosts[lab_id] = (warm, token)
        return warm, token

    def grade(
        self, submission: Path, out_dir: Path, extra: tuple[str, ...], env: dict[str, str]
    ) -> GradingRun:
        lab_id = extra[extra.index("--lab") + 1] if "--lab" in extra else TRACKING.id
        warm, host_token = self._host(lab_id)
        token = uuid.uuid4().hex
        argv = [str(out_dir / "stdout.txt"), *_grader_args(submission, out_dir, extra)]
        worker = warm.spawn(
            argv, {**_grading_env(out_dir, env), TOKEN_VAR: token}, out_dir / "stderr.txt"
        )
        code = worker.wait(timeout=600)
        # What a fresh grader started carries its token; what the host forked, the host's.
        found = processes_with_token(token) + [
            p for p in processes_with_token(host_token) if p.pid != warm.proc.pid
        ]
        leftovers = describe(found)
        for leftover in found:
            leftover.kill()
        stdout = (out_dir / "stdout.txt").read_text(errors="replace")
        stderr = (out_dir / "stderr.txt").read_text(errors="replace")
        return _collected(out_dir, code, stdout, stderr, leftovers)


def _grader_args(submission: Path | None, out_dir: Path, extra: tuple[str, ...]) -> list[str]:
    return [
        "grader",
        *(["--submission", str(submission)] if submission else []),
        "--grade-json",
        str(out_dir / "result.json"),
        "--junitxml",
        str(out_dir / "junit.xml"),
        "-p",
        "no:xdist",
        *extra,
    ]


def _grading_env(out_dir: Path, env: dict[str, str] | None) -> dict[str, str]:
    # Every grading runs as on GitHub Actions: the job summary and step outputs land in OUT_DIR.
    return {
        "GITHUB_STEP_SUMMARY": str(out_dir / "step_summary.md"),
        "GITHUB_OUTPUT": str(out_dir / "github_output"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }


def run_grader(
    submission: Path,
    out_dir: Path,
    *extra: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    hosts: SessionHosts | None = None,
) -> GradingRun:
    """`pytest grader` on SUBMISSION, forked from HOSTS' warm process where given (and the
    grading runs from the repository), else as a subprocess; it must not write beside it."""
    before = folder_state(submission.parent)
    if hosts is not None and cwd == ROOT and Path.cwd() == ROOT:
        run = hosts.grade(submission, out_dir, extra, env or {})
    else:
        proc, token = start_grader(submission, out_dir, *extra, cwd=cwd, env=env)
        run = finish(proc, token, out_dir)
    after = folder_state(submission.parent)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return dataclasses.replace(run, changed_files=changed)


# Where hostile submissions (tests/labs/tracking/adversarial/generate.py) try to leave files.
MARKER = "labgrade-adversarial-marker"
MARKER_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/root", "/work", "/etc")


def escaped_markers() -> list[str]:
    """Files a submission wrote outside its sandbox (there must be none)."""
    folders = [Path(f) for f in MARKER_FOLDERS] + [Path.home(), ROOT, ROOT.parent]
    found = [p for f in folders for p in (f / MARKER, f / f"{MARKER}-pickle") if p.exists()]
    found += [p for p in (Path("/tmp/result.json"), Path("/autograder/results")) if p.exists()]
    return sorted(map(str, found))


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file below FOLDER: grading must not write into it."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def signal_when_running(
    proc: subprocess.Popen[str], token: str, limit: float, sig: int = signal.SIGINT
) -> bool:
    """Signal the grader once its kernel and its MLflow server both run (mid-grading).

    When that never happens, the grader is killed with everything it started, and False
    is returned: a failing test must not leave a grading running.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        lines = " ".join(describe(processes_with_token(token)))
        # A cold server shows its command line; a warm batch's is a fork of `grader.warm.host`.
        server = "--backend-store-uri" in lines or "grader.warm.host" in lines
        if "ipykernel_launcher" in lines and server:
            time.sleep(3)  # let the kernel get into the submission's cells
            proc.send_signal(sig)
            return True
        time.sleep(0.2)
    proc.kill()
    for leftover in processes_with_token(token):
        leftover.kill()
    return False


@dataclass
class KeptServer:
    """`pytest grader --keep-server` running: its output so far and the links it printed."""

    proc: subprocess.Popen[str]
    token: str
    out_dir: Path
    lines: list[str]
    links: dict[str, str]  # "experiment" / "run" / "model" -> URL

    @property
    def server(self) -> str:
        return self.links["experiment"].split("/#/", 1)[0]

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def start_kept(submission: Path, out_dir: Path, limit: float = 420) -> KeptServer:
    """Start `pytest grader --keep-server` and wait until it prints its UI links."""
    proc, token = start_grader(submission, out_dir, "--keep-server")
    kept = KeptServer(proc, token, out_dir, [], {})
    assert proc.stdout is not None
    assert proc.stderr is not None
    errors: list[str] = []

    def read(stream: IO[str], into: list[str]) -> None:
        for line in stream:  # drained as it comes: a full pipe would block the grader
            into.append(line.rstrip("\n"))

    for stream, into in ((proc.stdout, kept.lines), (proc.stderr, errors)):
        threading.Thread(target=read, args=(stream, into), daemon=True).start()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if any("Ctrl-C stops it" in ln for ln in kept.lines):
            time.sleep(0.5)  # the links follow the heading line
            kept.links.update(_links(kept.lines))
            if "run" in kept.links:
                return kept
        time.sleep(0.2)
    stop(kept)
    raise AssertionError(f"no UI links printed within {limit:.0f} s:\n{kept.output[-3000:]}")


def _links(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        url = next((w for w in line.split() if w.startswith("http") and "/#/" in w), None)
        if url is None:
            continue
        kind = "model" if "/#/models/" in url else "run" if "/runs/" in url else "experiment"
        found[kind] = url
    return found


def stop(
    kept: KeptServer, sig: int = signal.SIGINT, timeout: float = 60
) -> tuple[int | None, list[str]]:
    """Signal the grader (Ctrl-C) and wait. Its exit code (None: it did not exit) and what
    it left running, looked at right away; then whatever is left is killed."""
    if kept.proc.poll() is None:
        kept.proc.send_signal(sig)
    try:
        code: int | None = kept.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    leftovers = describe(processes_with_token(kept.token))
    for leftover in processes_with_token(kept.token):
        leftover.kill()
    if kept.proc.poll() is None:
        kept.proc.kill()
        kept.proc.wait(timeout=10)
    return code, leftovers


def log_runs_into(server: str, workdir: Path) -> None:
    """Log into SERVER what a student working against a course's server leaves there: a run
    left FAILED by training inside `with mlflow.start_run():` that raised, then the lab's run,
    by executing the reference notebook's code in a subprocess."""
    nb = nbformat.read(
        ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb", as_version=4
    )
    code = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    lab = code.replace("http://127.0.0.1:8080", server)
    failed = f"""
import mlflow
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri({server!r})
mlflow.set_experiment("MLflow Quickstart")
X, y = datasets.load_iris(return_X_y=True)
try:
    with mlflow.start_run():
        mlflow.log_params({{"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}})
        LogisticRegression(max_iter=1000).fit(X)  # y forgotten: raises inside the run
except TypeError:
    pass
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    for name, script in (("failed.py", failed), ("lab.py", lab)):
        path = workdir / name
        path.write_text(script, encoding="utf-8")
        subprocess.run(
            [sys.executable, str(path)],
            cwd=workdir,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
        )


def system_chromium() -> str:
    """The system's Chromium executable; the calling test is skipped when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(
            "no Chromium executable on PATH (chromium or chromium-browser): .ci/run installs"
            " Debian's chromium with apt-get when it runs as root; Playwright's own browser"
            " downloads are not used"
        )
    return found
