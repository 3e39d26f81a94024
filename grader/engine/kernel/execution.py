"""Executing a submission in a fresh kernel on the grader's own interpreter (nbclient).

The kernel is a fork of the grading's warm host where it offers one (grader.engine.launcher),
started through a provisioner of jupyter_client's that asks the host instead of Popen;
otherwise, and whenever the fork cannot be had or does not start, a fresh Python.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import queue
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from grader.engine.evidence.error_hints import hint_for
from grader.engine.evidence.records import (
    BuiltDataset,
    DataShape,
    MetricCall,
    NamespaceCapture,
    PyfuncLoad,
    VariableCapture,
)
from grader.engine.kernel import kernel_side
from grader.engine.kernel.sanitize import clean_text
from grader.engine.kernel.submission import Kind, Submission, cell_label
from grader.engine.lab import Capture, Lab
from grader.engine.launcher import NO_HOST, Forked, Host
from grader.engine.output.results import ExecutionResult, Status
from grader.engine.server.throwaway import CLIENT_ENV, log_tail
from grader.errors import ExecutionSetupError
from grader.sandbox.limits import Limits, size_text
from grader.sandbox.procs import descendants, kill_tree
from grader.sandbox.sandbox import Sandbox

KERNEL_NAME = "labgrade-python"
KERNEL_SIDE = Path(kernel_side.__file__)
CHILDREN_START = Path(__file__).with_name("children") / "sitecustomize.py"
KERNEL_STARTUP_TIMEOUT = 90
# Seconds an interrupted cell is given to end before the grader reads the notebook's
# variables (_await_idle).
INTERRUPT_SETTLE = 5.0
# Folders never copied from the student's folder: environments, VCS data and earlier
# MLflow stores (a committed mlruns/ or mlflow.db must not leak into the grading).
IGNORED = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    "mlruns",
    "mlartifacts",
    "mlflow.db",
}
# How an error names the grading's server: its address is dead by the time anyone reads it.
TEMPORARY_SERVER = "<the grader's temporary MLflow server>"
MAX_COPIED_FILE = 20 * 1024 * 1024
MAX_HELPER_CODE = 1024 * 1024  # characters of helper modules read for the static hints
# Files that would change how Python, pytest or the kernel start if they sat in the kernel's
# working folder (first on sys.path): never copied, whatever the student meant by them.
NEUTRALIZED = {
    "conftest.py",
    "pytest.ini",
    "pyproject.toml",
    "setup.cfg",
    "tox.ini",
    "sitecustomize.py",
    "usercustomize.py",
}
_INSTALL = re.compile(r"^\s*[!%]\s*(pip3?|conda|mamba|uv|python3?\s+-m\s+pip)\s+install\b")
_SERVER = re.compile(r"^\s*[!%]\s*(mlflow\s+(server|ui)|mlflow\.server)\b")
_CELL_MAGIC = re.compile(r"^\s*%%(bash|sh|script|system)\b")


@dataclass(frozen=True)
class Execution:
    result: ExecutionResult
    capture: NamespaceCapture | None
    capture_problem: str | None
    code: str = ""  # every code cell as run, for static hints
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Outcome:
    status: Status = "ok"
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def execute(
    submission: Submission,
    sandbox: Sandbox,
    tracking_uri: str,
    timeout: float,
    lab: Lab,
    wanted: Capture,
    *,
    before_first_cell: Callable[[], None] = lambda: None,
    host: Host = NO_HOST,
    kept: bool = False,
) -> Execution:
    """Run SUBMISSION top to bottom, confined, on a copy of its folder; never raises for it.

    A cell stops the run when it raises, unless LAB expects that error (a step that raises by
    design); WANTED names the variables reported after the run. HOST: where the kernel may
    be forked from (full isolation only), else it is a fresh Python. KEPT: the server outlives
    the grading (`--keep-server`), which the notes then say.
    """
    started = time.monotonic()
    work, notes = _copy_folder(submission.folder, sandbox.workdir / "work")
    nb, cell_notes = _prepared(submission.notebook, submission.kind)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    outcome = _Outcome(notes=notes + cell_notes)
    capture_path = sandbox.jail("kernel").conn / f"capture-{uuid.uuid4().hex}.json"
    timings: dict[str, float] = {}
    limits = sandbox.limits
    compatibility = compatibility_setup(sandbox, lab)
    fixtures = fixture_setup(sandbox, lab)
    # Only where a PID namespace and the jail's own user end all the kernel started: in
    # process isolation what it starts is found by its environment's tag, which a fork's
    # /proc/PID/environ (its host's) would not show.
    host = host if sandbox.mode == "full" else NO_HOST
    children = children_setup(
        sandbox, capture_path.parent, wanted
    )  # before the kernel's jail is made
    with _kernel(nb, sandbox, work, tracking_uri, host) as (client, popen):
        _run_setup(
            client,
            kernel_side_call(
                "install", tracking_uri, compatibility, children=children, fixtures=fixtures
            ),
        )
        if submission.kind == "script":
            _run_setup(client, kernel_side_call("as_script", submission.path.name))
        timings["kernel start"] = time.monotonic() - started
        before_first_cell()
        # The limit is the submission's own: kernel and server start-up do not count.
        started = time.monotonic()
        _run_cells(client, nb, started + timeout, timeout, limits, lab, outcome, submission.kind)
        if outcome.status != "kernel_died":
            call = kernel_side_call(
                "capture",
                str(capture_path),
                list(wanted.variables),
                wanted.column,
                tables=list(wanted.tables),
                run_ids=list(wanted.run_ids),
            )
            _run_capture(client, call, outcome)
        timings["cells"] = time.monotonic() - started
    if outcome.status == "kernel_died":
        outcome.error = f"{outcome.error}: {sandbox.exit_cause('kernel', popen.returncode)}"
    if client.dropped:
        outcome.notes.append(
            f"the notebook printed over {size_text(limits.output)} of output; the grader kept"
            f" the first {size_text(limits.output)} and dropped {size_text(client.dropped)}"
        )
    capture, problem = _read_capture(capture_path, outcome)
    if capture is not None:
        code = "\n".join([code, *_module_sources(work, capture.modules)])
    # A switch is named where it changed a call; where the capture is lost, it may have.
    outcome.notes += [
        f"the grader applied {c.name}={c.value}: {c.why}"
        for c in lab.design.compatibility
        if capture is None or c.name in capture.switched
    ]
    if capture and capture.redirects:
        outcome.notes.append(redirect_note(capture.redirects, kept, submission.kind))
    if capture and capture.ids:
        outcome.notes.append(_ids_note(capture.ids))
    if capture:
        outcome.notes += [
            _shell_note(nb, *failure, kind=submission.kind) for failure in capture.shell_failures
        ]
    error = outcome.error and outcome.error.replace(tracking_uri, TEMPORARY_SERVER)
    result = ExecutionResult(
        outcome.status, time.monotonic() - started, error, tuple(outcome.notes)
    )
    return Execution(result, capture, problem, code, timings)


def kernel_side_call(function: str, *args: Any, **kwargs: Any) -> str:
    """Source that defines grader.engine.kernel.kernel_side privately in the kernel and calls
    FUNCTION."""
    source = KERNEL_SIDE.read_text(encoding="utf-8")
    return (
        f"exec(compile({source!r}, '<labgrade>', 'exec'), __labgrade := {{}})\n"
        f"__labgrade[{function!r}](*{args!r}, **{kwargs!r}); del __labgrade"
    )


def compatibility_setup(sandbox: Sandbox, lab: Lab) -> list[list[str]]:
    """LAB's compatibility switches as kernel_side.compatible takes them, each script bound
    into the kernel's view (before the kernel's jail is made)."""
    return [
        [c.name, sandbox.script(c.script, f"compat/{c.name}.py"), c.function, c.value]
        for c in lab.design.compatibility
    ]


def fixture_setup(sandbox: Sandbox, lab: Lab) -> list[list[str]]:
    """LAB's web fixtures as kernel_side.answer_fixtures takes them, each file bound into the
    kernel's view (before the kernel's jail is made)."""
    return [
        [f.url, sandbox.script(f.path, f"fixtures/{n}-{f.path.name}"), f.content_type]
        for n, f in enumerate(lab.design.fixtures)
    ]


def children_setup(sandbox: Sandbox, out: Path, wanted: Capture | None = None) -> dict[str, Any]:
    """What the kernel set-up hands every Python the notebook starts: the folder of their
    start-up hook, the kernel set-up's own source, where they leave their records, and the
    variables of the lab's capture (WANTED) they leave at exit, for a notebook whose steps
    run in a script of their own."""
    site = sandbox.script(CHILDREN_START, "site/sitecustomize.py")
    found: dict[str, Any] = {
        "site": site.rsplit("/", 1)[0],
        "kernel_side": sandbox.script(KERNEL_SIDE),
        "out": str(out),
    }
    if wanted is not None:
        found["capture"] = {
            "variables": list(wanted.variables),
            "column": wanted.column,
            "run_ids": list(wanted.run_ids),
            "tables": list(wanted.tables),
        }
    return found


def _copy_folder(folder: Path, dest: Path) -> tuple[Path, list[str]]:
    """Copy FOLDER, leaving out stores, environments and files that would change start-up."""
    notes: list[str] = []

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in IGNORED}
        top = Path(directory) == folder
        for name in names:
            path = Path(directory) / name
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_size > MAX_COPIED_FILE:
                    skipped.add(name)
            why = _neutralized_file(name) if top else None
            if why and name not in skipped:
                skipped.add(name)
                notes.append(f"ignored {name} beside the submission: {why}")
        return skipped

    shutil.copytree(folder, dest, symlinks=True, ignore=ignore)
    return dest, notes


def _module_sources(work: Path, modules: tuple[str, ...]) -> list[str]:
    """The helper modules the submission imported from its folder, for the static hints:
    steps done in a helper module are the submission's code as much as its cells."""
    sources, budget = [], MAX_HELPER_CODE
    root = work.resolve()
    for relative in modules:
        path = (work / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            text = path.read_text(encoding="utf-8", errors="replace")[:budget]
            budget -= len(text)
            sources.append(text)
    return sources


def _neutralized_file(name: str) -> str | None:
    if name in NEUTRALIZED:
        return "the grader's own configuration and start-up are not the submission's to change"
    if name.endswith(".pth"):
        return ".pth files run code when Python starts"
    module = name[:-3] if name.endswith(".py") else name
    if module.isidentifier() and module != "__init__" and _installed(module):
        return f"it would hide the installed module `{module}` from the notebook and the grader"
    return None


def _installed(module: str) -> bool:
    if module in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _prepared(original: NotebookNode, kind: Kind = "notebook") -> tuple[NotebookNode, list[str]]:
    """A copy without stored outputs and without lines that install packages or start servers."""
    nb = copy.deepcopy(original)
    notes: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("tags", None)  # skip-execution / raises-exception change nothing here
        lines = cell.source.splitlines()
        cell.source, skipped = _neutralized(cell.source)
        for line in skipped:
            why = (
                "the grader's environment already has the lab's packages"
                if _INSTALL.match(line)
                else "the grader provides its own tracking server"
            )
            # Named where the student reads it: the original cell, before it was neutralized.
            offset = lines.index(line) + 1 if line in lines else None
            where = cell_label(original, index, kind, offset)
            notes.append(f"{where}: did not run `{line.strip()}`: {why}")
    return nb, notes


def _neutralized(source: str) -> tuple[str, list[str]]:
    lines = source.splitlines()
    if lines and _CELL_MAGIC.match(lines[0]):
        body = lines[1:]
        if any(
            re.search(r"\b(pip3?|conda)\s+install\b|\bmlflow\s+(server|ui)\b", ln) for ln in body
        ):
            return "pass", [lines[0] + " ..."]
        return source, []
    skipped = [ln for ln in lines if _INSTALL.match(ln) or _SERVER.match(ln)]
    if not skipped:
        return source, []
    kept = [re.sub(r"^(\s*).*$", r"\1pass", ln) if ln in skipped else ln for ln in lines]
    return "\n".join(kept), skipped


class _Client(NotebookClient):
    """nbclient keeping at most `budget` bytes of cell output (the rest never reaches memory)."""

    budget = 0
    dropped = 0

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        size = len(json.dumps(msg.get("content", {})))
        if size > self.budget:
            self.budget, self.dropped = 0, self.dropped + size
            return None
        self.budget -= size
        return super().output(outs, msg, display_id, cell_index)


class _ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, the kernel forked by a warm host where it can.

    The kernelspec's command (`python -I jail.py SPEC -- python -m ipykernel_launcher ARGV`)
    is what the fork is handed, with the environment, folder and log descriptors Popen would
    have given it: it confines itself with that SPEC and becomes the kernel with that ARGV.
    The host never sees any of it. Without a fork, what LocalProvisioner does: Popen.
    """

    host: Host = NO_HOST

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        proc = _forked_kernel(self.host, cmd, kwargs)
        if proc is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = proc  # type: ignore[assignment]  # all of Popen the provisioner uses
        # Its own session (the fork's first step), as Popen's start_new_session gives a fresh
        # one: never the group getpgid would find before the fork has left its host's.
        self.pid = self.pgid = proc.pid
        self.cwd = kwargs.get("cwd")
        return self.connection_info


def _forked_kernel(host: Host, cmd: list[str], kwargs: dict[str, Any]) -> Forked | None:
    """The kernel CMD names, forked by HOST; None when it is not one the host can fork."""
    if host is NO_HOST or "--" not in cmd or kwargs.get("stdout") is None:
        return None
    split = cmd.index("--")
    inner = cmd[split + 1 :]
    if inner[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
        return None
    env = dict(kwargs["env"])
    env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launch_kernel sets it
    request = {
        "spec": json.loads(cmd[split - 1]),
        "env": env,
        "cwd": str(kwargs.get("cwd") or os.getcwd()),
        "argv": inner[3:],
    }
    fds = [kwargs["stdout"].fileno(), (kwargs.get("stderr") or kwargs["stdout"]).fileno()]
    return host.fork("kernel", request, fds, threading.Event())


@contextlib.contextmanager
def _kernel(
    nb: NotebookNode, sandbox: Sandbox, work: Path, tracking_uri: str, host: Host
) -> Iterator[tuple[_Client, Any]]:
    """A fresh kernel on this interpreter, whatever kernelspec the notebook names, confined;
    forked by HOST where it can, else (or if that kernel does not start) a fresh Python."""
    conn = sandbox.jail("kernel").conn
    kernel_dir = sandbox.workdir / "kernelspec"
    spec_dir = kernel_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    connection_file = conn / "connection.json"
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {
        "argv": sandbox.command("kernel", kernel, work, chown=(str(connection_file),)),
        "display_name": "labgrade (grader's Python)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir / "kernels")], ensure_native_kernel=False)
    _, home, _ = sandbox.paths("kernel", work)
    env = sandbox.env(
        "kernel",
        work,
        {
            "MLFLOW_TRACKING_URI": tracking_uri,
            **CLIENT_ENV,
            "IPYTHONDIR": str(home / ".ipython"),  # no user profile or startup files
            "MPLBACKEND": "Agg",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            # As in an activated environment: `!python train.py`, `!mlflow ...` run the
            # grading's own Python, the one that holds the lab's packages.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        },
    )

    def client(host: Host) -> _Client:
        # nbclient drives an asyncio loop: a blocking client would hang it on a silent kernel.
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        km.connection_file = str(connection_file)
        if sandbox.mode == "full":
            km.transport = "ipc"  # no TCP between namespaces: sockets in the kernel's folder
        km.kernel_id = str(uuid.uuid4())
        # Set before the start, which then uses it instead of making one from the kernelspec.
        km.provisioner = _ForkProvisioner(
            kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
        )
        km.provisioner.host = host
        made = _Client(
            nb,
            km=km,
            kernel_name=KERNEL_NAME,
            timeout=60,
            startup_timeout=KERNEL_STARTUP_TIMEOUT,
            allow_errors=False,
            force_raise_errors=True,
            skip_cells_with_tag=f"labgrade-never-{uuid.uuid4().hex}",
            shutdown_kernel="immediate",
            record_timing=False,
            extra_arguments=["--HistoryManager.enabled=False"],
            resources={"metadata": {"path": str(work)}},
        )
        made.budget = sandbox.limits.output
        return made

    log_path = sandbox.workdir / "kernel.log"
    kernel_pid: int | None = None
    children: list[Any] = []
    with log_path.open("wb") as log:

        def start(host: Host) -> tuple[_Client, contextlib.AbstractContextManager[Any]]:
            made = client(host)
            # The kernel's own stdout/stderr go to a log: nothing it prints reaches the
            # grader's terminal or its results.
            cm = made.setup_kernel(
                env=env,
                cwd=str(work if sandbox.mode == "process" else conn),
                stdout=log,
                stderr=log,
            )
            try:
                cm.__enter__()
            except BaseException:
                _end_kernel(made.km)  # a fork that did not start, or a fresh one
                raise
            return made, cm

        try:
            try:
                try:
                    kernel_client, cm = start(host)
                except Exception as err:
                    if host is NO_HOST:
                        raise
                    # Not the submission's doing (no cell has run): the fresh kernel it
                    # would have had, and the warm one's failure in the log.
                    log.write(f"labgrade: the forked kernel did not start ({err})\n".encode())
                    log.flush()
                    kernel_client, cm = start(NO_HOST)
            except Exception as err:
                raise ExecutionSetupError(
                    f"could not start a Python kernel ({sys.executable} -m ipykernel_launcher,"
                    f" isolation {sandbox.describe()}): {type(err).__name__}: {err}."
                    f" Kernel log: {log_tail(log_path, 5)}"
                ) from err
            popen = _kernel_popen(kernel_client.km)
            kernel_pid = popen.pid if popen else None
            if kernel_pid:
                sandbox.watch_disk("kernel", work, kernel_pid)
            try:
                yield kernel_client, popen
            finally:
                if kernel_pid:
                    children = descendants(kernel_pid)
                with contextlib.suppress(Exception):  # the kernel may be dead already
                    cm.__exit__(None, None, None)
        finally:
            if kernel_pid:
                kill_tree(kernel_pid, extra=children, grace=2)
            sandbox.reap("kernel")


def _kernel_popen(km: Any) -> Any:
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "process", None)


def _end_kernel(km: Any) -> None:
    """End the whole tree of a kernel that did not start (a jailed one: with its jail)."""
    popen = _kernel_popen(km)
    if popen is not None:
        kill_tree(popen.pid, grace=0)


def _await_idle(client: NotebookClient, seconds: float) -> None:
    """Wait, at most SECONDS, until the kernel has ended the interrupted cell (its idle status).

    ipykernel aborts every request queued behind a cell that raised, KeyboardInterrupt too:
    the grader's read of the notebook's variables, sent at once, would be aborted with it and
    the work done before the loop lost. A kernel that ignores the interrupt never goes idle:
    the read then meets its own short limit."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = run_sync(client.kc.get_iopub_msg)(timeout=left)  # type: ignore[union-attr]
        except queue.Empty:
            return
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            return


def _run_hidden(client: NotebookClient, source: str, timeout: int) -> None:
    """Run grader code in the kernel; nbclient stores a cell by index, so lend it a slot."""
    client.nb.cells.append(nbformat.v4.new_code_cell(source))
    client.timeout = timeout
    try:
        client.execute_cell(client.nb.cells[-1], len(client.nb.cells) - 1, store_history=False)
    finally:
        client.nb.cells.pop()


def _run_setup(client: NotebookClient, source: str) -> None:
    try:
        _run_hidden(client, source, KERNEL_STARTUP_TIMEOUT)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        raise ExecutionSetupError(
            f"the grader could not prepare the kernel (importing mlflow failed?): {err}"
        ) from err


def _run_cells(
    client: NotebookClient,
    nb: NotebookNode,
    deadline: float,
    timeout: float,
    limits: Limits,
    lab: Lab,
    outcome: _Outcome,
    kind: Kind = "notebook",
) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        remaining = deadline - time.monotonic()
        where = cell_label(nb, index, kind)
        if remaining <= 0:
            outcome.status, outcome.error = "timeout", _timeout_message(timeout, where)
            return
        per_cell = remaining > limits.cell_timeout
        client.timeout = max(1, int(min(remaining, limits.cell_timeout)))
        try:
            client.execute_cell(cell, index)
        except CellTimeoutError:
            outcome.status = "timeout"
            outcome.error = (
                _timeout_message(limits.cell_timeout, where, "per-cell ")
                if per_cell
                else _timeout_message(timeout, where)
            )
            with contextlib.suppress(Exception):  # a kernel that ignores SIGINT is killed later
                run_sync(client.km.interrupt_kernel)()  # type: ignore[union-attr,arg-type]
            _await_idle(client, INTERRUPT_SETTLE)
            return
        except DeadKernelError:
            outcome.status = "kernel_died"
            outcome.error = f"the kernel died in {where}"
            return
        except CellExecutionError as err:
            ename, evalue = _error_parts(err)
            if kind == "script":  # a script's reader looks for the line that raised
                where = cell_label(nb, index, kind, _raising_line(err))
            expected = lab.expected(ename, evalue)
            if expected is not None:
                outcome.notes.append(f"{where} raised {ename}, as the lab expects: {expected.why}")
                continue
            if kind == "script" and ename == "SystemExit":
                _script_exit(evalue, where, outcome)
                return
            outcome.status, outcome.error = "error", _error_message(where, err, lab, kind)
            return


def _script_exit(evalue: str, where: str, outcome: _Outcome) -> None:
    """A script's sys.exit ends it as `python script.py` ends: status 0 (no argument, None or
    0) is a normal end; any other is the script's failure, with its exit status."""
    if evalue in ("", "None", "0"):
        outcome.notes.append(f"the script ended with exit status 0 in {where}, as under python")
        return
    status = evalue if evalue.lstrip("-").isdigit() else f"1 ({evalue})"
    outcome.status = "error"
    outcome.error = f"the script exited with status {status} in {where} (sys.exit)"


def _shell_note(
    nb: NotebookNode, command: str, status: int, cell_source: str, kind: Kind = "notebook"
) -> str:
    """A shell escape that failed, with the last lines it printed: the notebook went on, but
    what the command was to do (a training script, say) did not happen."""
    where, printed = "a cell", ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell_source and cell.source.strip() == cell_source:
            where = cell_label(nb, index, kind)
            printed = "".join(o.get("text", "") for o in cell.get("outputs", []))
            break
    tail = " | ".join(ln for ln in printed.strip().splitlines()[-3:] if ln.strip())
    said = f"; its last lines: {clean_text(tail, 400)}" if tail else ""
    return (
        f"the shell command `!{clean_text(command, 120)}` in {where} exited with status"
        f" {status}, and the notebook went on without what it was to do{said}"
    )


# IPython's traceback names a frame of the cell's own code "Cell In[N], line L" (colored).
_CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _raising_line(err: CellExecutionError) -> int | None:
    """The line of the cell that was running when ERR was raised: the outermost frame, as an
    inner one may be a function that an earlier cell defined."""
    frames = _CELL_FRAME.findall(_ANSI.sub("", str(err)))
    return int(frames[0]) if frames else None


def _timeout_message(timeout: float, where: str, kind: str = "") -> str:
    return (
        f"execution stopped after the {timeout:g} s {kind}limit in {where}: look for a loop"
        " that never ends or a call that waits for input"
    )


def _error_parts(err: CellExecutionError) -> tuple[str, str]:
    return (
        clean_text(str(getattr(err, "ename", "Error")), 80),
        clean_text(str(getattr(err, "evalue", err)), 400),
    )


def _error_message(where: str, err: CellExecutionError, lab: Lab, kind: Kind) -> str:
    ename, evalue = _error_parts(err)
    message = f"{where} raised {ename}: {evalue}".strip()
    hint = hint_for(ename, evalue, lab.feedback.error_hint, kind)
    return f"{message}. Fix: {hint}" if hint else message


def _run_capture(client: NotebookClient, source: str, outcome: _Outcome) -> None:
    # Even after a timeout the grader reads what the namespace holds, on a short leash:
    # shorter still when the interrupt may have been ignored and the kernel is still busy.
    try:
        _run_hidden(client, source, 5 if outcome.status == "timeout" else 30)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        outcome.notes.append(f"the grader could not read the notebook's variables ({err})")


def _read_capture(path: Path, outcome: _Outcome) -> tuple[NamespaceCapture | None, str | None]:
    if not path.exists():
        reason = {
            "timeout": "the notebook was stopped by the time limit",
            "kernel_died": "the kernel died",
        }.get(outcome.status, "the notebook's variables could not be read")
        return None, reason
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _parse_capture(raw), None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return None, f"the notebook's variables were not plain data ({err})"


def _table(name: str, rows: Any) -> tuple[tuple[Any, ...], ...] | None:
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise TypeError(f"{name}: rows must be a list of lists")
    return tuple(tuple(_scalar(v) for v in row) for row in rows)


def _parse_capture(raw: dict[str, Any]) -> NamespaceCapture:
    variables: dict[str, VariableCapture] = {}
    for name, entry in dict(raw["variables"]).items():
        values, ids = entry.get("values"), entry.get("run_ids")
        if values is not None and not isinstance(values, list):
            raise TypeError(f"{name}: values must be a list")
        if ids is not None and not isinstance(ids, list):
            raise TypeError(f"{name}: run_ids must be a list")
        variables[str(name)] = VariableCapture(
            present=bool(entry["present"]),
            type=str(entry.get("type", "")),
            columns=tuple(str(c) for c in entry.get("columns", [])),
            values=None if values is None else tuple(_scalar(v) for v in values),
            rows=_table(name, entry.get("rows")),
            run_ids=None if ids is None else tuple(str(i) for i in ids),
        )
    loads = tuple(_parse_load(dict(entry)) for entry in raw["loads"])
    redirects = tuple((str(a), str(b)) for a, b in raw["redirects"])
    modules = tuple(str(m) for m in raw.get("modules", []))
    ids = tuple((str(a), str(b)) for a, b in raw.get("ids", []))
    calls = tuple(_parse_metric_call(dict(entry)) for entry in raw.get("metric_calls", []))
    failed = tuple(
        (str(f["command"])[:300], int(f["status"]), str(f.get("cell") or ""))
        for f in raw.get("shell_failures", [])
    )
    switched = tuple(str(s) for s in raw.get("switched", []))
    datasets = tuple(_parse_dataset(dict(entry)) for entry in raw.get("datasets", []))
    fetched = tuple((str(url), str(library)) for url, library in raw.get("fetched", []))
    return NamespaceCapture(
        variables, loads, redirects, modules, ids, calls, failed, switched, datasets, fetched
    )


def _parse_dataset(entry: dict[str, Any]) -> BuiltDataset:
    data = entry.get("data", {})
    if not isinstance(data, dict):
        raise TypeError("a built dataset's data must be a mapping")
    return BuiltDataset(
        type=str(entry.get("type", "")),
        name=str(entry.get("name") or ""),
        digest=str(entry.get("digest") or ""),
        source_type=str(entry.get("source_type") or ""),
        source=str(entry.get("source") or ""),
        schema=str(entry.get("schema") or ""),
        profile=str(entry.get("profile") or ""),
        data={str(k): _shape(v) for k, v in data.items()},
        error=_optional_text(entry.get("error")),
    )


def _shape(value: Any) -> DataShape:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return tuple(int(n) for n in value)
    if isinstance(value, dict):
        return {str(k): _shape(v) for k, v in value.items()}
    raise TypeError(f"unexpected shape {type(value).__name__}")


def _parse_metric_call(entry: dict[str, Any]) -> MetricCall:
    line = entry.get("line")
    return MetricCall(
        run_id=str(entry["run_id"]),
        key=str(entry["key"]),
        value=_scalar(entry.get("value")),
        step=int(entry.get("step") or 0),
        file=_optional_text(entry.get("file")),
        line=int(line) if isinstance(line, int) else None,
        call=_optional_text(entry.get("call")),
        client=entry.get("client") is True,
    )


def _parse_load(entry: dict[str, Any]) -> PyfuncLoad:
    made = []
    for values in entry.get("predictions", []):
        if values is not None and not isinstance(values, list):
            raise TypeError("a pyfunc prediction must be a list")
        made.append(None if values is None else tuple(_scalar(v) for v in values))
    return PyfuncLoad(
        uri=str(entry["uri"]),
        model_id=_optional_text(entry.get("model_id")),
        run_id=_optional_text(entry.get("run_id")),
        predictions=tuple(made),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"unexpected value {type(value).__name__}")


def _ids_note(ids: tuple[tuple[str, str], ...]) -> str:
    swaps = "; ".join(f"{typed} stood for {used}" for typed, used in ids[:5])
    return (
        "the notebook names ids this fresh server does not hold (typed in from your own MLflow"
        " UI?): the grader used the notebook's own last run or logged model in their place"
        f" ({swaps}). Getting them from the code (run.info.run_id, model_info.model_id) works"
        " anywhere"
    )


def redirect_note(
    redirects: tuple[tuple[str, str], ...], kept: bool = False, kind: Kind = "notebook"
) -> str:
    """The note naming the tracking URIs the submission set (REDIRECTS: (call, uri) pairs) and
    where its logging went instead; KEPT: that server is kept after grading (--keep-server);
    KIND: the submission's, named as such."""
    uris = sorted({uri for _, uri in redirects})
    calls = sorted({call for call, _ in redirects})
    lifetime = (
        "kept running after grading for --keep-server, and deleted when you stop it"
        if kept
        else "gone once grading ended"
    )
    return (
        f"the {kind} points MLflow at {', '.join(uris)} ({', '.join(calls)}); the grader"
        f" sent everything to its own throwaway server instead (a temporary one, {lifetime}),"
        " so grading never touches a server of yours"
    )
