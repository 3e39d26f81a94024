"""Executing a submission in a fresh kernel on the grader's own interpreter (nbclient)."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from grader import kernel_side
from grader.errors import ExecutionSetupError
from grader.hints import hint_for
from grader.procs import descendants, kill_tree
from grader.results import ExecutionResult, Status
from grader.server import clean_env
from grader.submission import Submission

KERNEL_NAME = "labgrade-python"
KERNEL_STARTUP_TIMEOUT = 90
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
MAX_COPIED_FILE = 20 * 1024 * 1024
_INSTALL = re.compile(r"^\s*[!%]\s*(pip3?|conda|mamba|uv|python3?\s+-m\s+pip)\s+install\b")
_SERVER = re.compile(r"^\s*[!%]\s*(mlflow\s+(server|ui)|mlflow\.server)\b")
_CELL_MAGIC = re.compile(r"^\s*%%(bash|sh|script|system)\b")


@dataclass(frozen=True)
class VariableCapture:
    present: bool
    type: str = ""
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class NamespaceCapture:
    """Plain data read from the kernel after the submission ran."""

    variables: dict[str, VariableCapture]
    pyfunc_models: tuple[dict[str, str | None], ...]
    redirects: tuple[tuple[str, str], ...]


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
    workdir: Path,
    tracking_uri: str,
    timeout: float,
    *,
    variables: list[str],
    column: str,
    before_first_cell: Callable[[], None] = lambda: None,
) -> Execution:
    """Run SUBMISSION top to bottom in a temp copy of its folder; never raises for its errors."""
    started = time.monotonic()
    cwd = _copy_folder(submission.folder, workdir / "work")
    nb, notes = _prepared(submission.notebook)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    outcome = _Outcome(notes=notes)
    capture_path = workdir / f"capture-{uuid.uuid4().hex}.json"
    timings: dict[str, float] = {}
    with _kernel(nb, workdir, cwd, tracking_uri) as client:
        _run_setup(client, kernel_side_call("install", tracking_uri))
        timings["kernel start"] = time.monotonic() - started
        before_first_cell()
        # The limit is the submission's own: kernel and server start-up do not count.
        started = time.monotonic()
        _run_cells(client, nb, started + timeout, timeout, outcome)
        if outcome.status != "kernel_died":
            call = kernel_side_call("capture", str(capture_path), variables, column)
            _run_capture(client, call, outcome)
        timings["cells"] = time.monotonic() - started
    capture, problem = _read_capture(capture_path, outcome)
    if capture and capture.redirects:
        outcome.notes.append(_redirect_note(capture.redirects, tracking_uri))
    result = ExecutionResult(
        outcome.status, time.monotonic() - started, outcome.error, tuple(outcome.notes)
    )
    return Execution(result, capture, problem, code, timings)


def kernel_side_call(function: str, *args: Any) -> str:
    """Source that defines grader.kernel_side privately in the kernel and calls FUNCTION."""
    source = Path(kernel_side.__file__).read_text(encoding="utf-8")
    return (
        f"exec(compile({source!r}, '<labgrade>', 'exec'), __labgrade := {{}})\n"
        f"__labgrade[{function!r}](*{args!r}); del __labgrade"
    )


def _copy_folder(folder: Path, dest: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in IGNORED}
        for name in names:
            path = Path(directory) / name
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_size > MAX_COPIED_FILE:
                    skipped.add(name)
        return skipped

    shutil.copytree(folder, dest, symlinks=True, ignore=ignore)
    return dest


def _prepared(original: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """A copy without stored outputs and without lines that install packages or start servers."""
    nb = copy.deepcopy(original)
    notes: list[str] = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("tags", None)  # skip-execution / raises-exception change nothing here
        cell.source, skipped = _neutralized(cell.source)
        for line in skipped:
            why = (
                "the grader's environment already has the lab's packages"
                if _INSTALL.match(line)
                else "the grader provides its own tracking server"
            )
            notes.append(f"cell {index}: did not run `{line.strip()}`: {why}")
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


@contextlib.contextmanager
def _kernel(
    nb: NotebookNode, workdir: Path, cwd: Path, tracking_uri: str
) -> Iterator[NotebookClient]:
    """A fresh kernel on this interpreter, whatever kernelspec the notebook names."""
    kernel_dir = workdir / "kernel"
    spec_dir = kernel_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "labgrade (grader's Python)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir / "kernels")], ensure_native_kernel=False)
    # nbclient drives an asyncio loop: a blocking client would hang it on a silent kernel.
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    km.connection_file = str(kernel_dir / "connection.json")
    env = clean_env(
        {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "IPYTHONDIR": str(kernel_dir / "ipython"),  # no user profile or startup files
            "MPLBACKEND": "Agg",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
        }
    )
    client = NotebookClient(
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
        resources={"metadata": {"path": str(cwd)}},
    )
    kernel_pid: int | None = None
    children: list[Any] = []
    try:
        try:
            cm = client.setup_kernel(env=env, cwd=str(cwd))
            cm.__enter__()
        except Exception as err:
            raise ExecutionSetupError(
                f"could not start a Python kernel ({sys.executable} -m ipykernel_launcher):"
                f" {type(err).__name__}: {err}"
            ) from err
        kernel_pid = _kernel_pid(km)
        try:
            yield client
        finally:
            if kernel_pid:
                children = descendants(kernel_pid)
            with contextlib.suppress(Exception):  # the kernel may be dead already
                cm.__exit__(None, None, None)
    finally:
        if kernel_pid:
            kill_tree(kernel_pid, extra=children, grace=2)


def _kernel_pid(km: AsyncKernelManager) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pid = getattr(process, "pid", None)
    return int(pid) if pid else None


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
    client: NotebookClient, nb: NotebookNode, deadline: float, timeout: float, outcome: _Outcome
) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        remaining = deadline - time.monotonic()
        where = _cell_label(index, cell)
        if remaining <= 0:
            outcome.status, outcome.error = "timeout", _timeout_message(timeout, where)
            return
        client.timeout = max(1, int(remaining))
        try:
            client.execute_cell(cell, index)
        except CellTimeoutError:
            outcome.status, outcome.error = "timeout", _timeout_message(timeout, where)
            with contextlib.suppress(Exception):  # a kernel that ignores SIGINT is killed later
                run_sync(client.km.interrupt_kernel)()  # type: ignore[union-attr,arg-type]
            return
        except DeadKernelError:
            outcome.status = "kernel_died"
            outcome.error = (
                f"the kernel died in {where}: the code ended the Python process"
                " (os._exit, a crash, or running out of memory)"
            )
            return
        except CellExecutionError as err:
            outcome.status, outcome.error = "error", _error_message(where, err)
            return


def _cell_label(index: int, cell: NotebookNode) -> str:
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    return f"cell {index + 1} (`{first}`)"


def _timeout_message(timeout: float, where: str) -> str:
    return (
        f"execution stopped after the {timeout:g} s limit in {where}: look for a loop that"
        " never ends or a call that waits for input"
    )


def _error_message(where: str, err: CellExecutionError) -> str:
    ename, evalue = getattr(err, "ename", "Error"), str(getattr(err, "evalue", err))
    message = f"{where} raised {ename}: {evalue}".strip()
    hint = hint_for(ename, evalue)
    return f"{message}. Fix: {hint}" if hint else message


def _run_capture(client: NotebookClient, source: str, outcome: _Outcome) -> None:
    # Even after a timeout the grader reads what the namespace holds, on a short leash.
    try:
        _run_hidden(client, source, 30)
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


def _parse_capture(raw: dict[str, Any]) -> NamespaceCapture:
    variables: dict[str, VariableCapture] = {}
    for name, entry in dict(raw["variables"]).items():
        values = entry.get("values")
        if values is not None and not isinstance(values, list):
            raise TypeError(f"{name}: values must be a list")
        variables[str(name)] = VariableCapture(
            present=bool(entry["present"]),
            type=str(entry.get("type", "")),
            columns=tuple(str(c) for c in entry.get("columns", [])),
            values=None if values is None else tuple(_scalar(v) for v in values),
        )
    models = tuple(
        {str(k): (None if v is None else str(v)) for k, v in dict(m).items()}
        for m in raw["pyfunc_models"]
    )
    redirects = tuple((str(a), str(b)) for a, b in raw["redirects"])
    return NamespaceCapture(variables, models, redirects)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"unexpected value {type(value).__name__}")


def _redirect_note(redirects: tuple[tuple[str, str], ...], tracking_uri: str) -> str:
    uris = sorted({uri for _, uri in redirects})
    calls = sorted({call for call, _ in redirects})
    return (
        f"the notebook points MLflow at {', '.join(uris)} ({', '.join(calls)}); the grader"
        f" sent everything to its own throwaway server ({tracking_uri}) instead, so grading"
        " never touches a server of yours"
    )
