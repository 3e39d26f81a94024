"""Warm processes: the zygote holds no secret, a host forks servers and ends them, seeded stores."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from grader.course.batch import WORKER_ENTRY
from grader.engine.lab import Lab
from grader.engine.launcher import COLD, Launcher
from grader.engine.server import store_template
from grader.engine.server.throwaway import throwaway_server
from grader.warm import spares
from grader.warm.host import Warm, worker_env
from grader.warm.warm_launcher import PrivateHost
from tests.helpers import ROOT, TOKEN_VAR, describe, processes_with_token

SECRETS = {"GITHUB_TOKEN": "ghp_fake", "LABGRADE_SECRET_FOR_TESTS": "do-not-leak"}


def test_workers_see_an_allow_listed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(TOKEN_VAR, "t0k3n")
    env = worker_env({"LABGRADE_JOB": "job"})
    assert not set(SECRETS) & set(env)
    assert env[TOKEN_VAR] == "t0k3n"
    assert env["LABGRADE_JOB"] == "job"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)


def fresh_store(path: Path) -> Path:
    """The rows a freshly migrated MLflow store holds, in a store of the same shape."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.executescript(
            """
            CREATE TABLE alembic_version (version_num TEXT);
            CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT);
            CREATE TABLE workspaces (name TEXT);
            CREATE TABLE runs (run_uuid TEXT, experiment_id INTEGER);
            CREATE TABLE secrets (secret_id TEXT, secret_name TEXT);
            CREATE TRIGGER keep_secret_ids BEFORE UPDATE ON secrets
            BEGIN SELECT RAISE(ABORT, 'immutable'); END;
            INSERT INTO alembic_version VALUES ('head');
            INSERT INTO experiments VALUES (0, 'Default', 'active');
            INSERT INTO workspaces VALUES ('default');
            """
        )
        con.commit()
    return path


PLANTED = {
    "a run": "INSERT INTO runs VALUES ('r1', 0)",
    "another experiment": "INSERT INTO experiments VALUES (1, 'MLflow Quickstart', 'active')",
    "a writing trigger": "CREATE TRIGGER t AFTER INSERT ON experiments "
    "BEGIN INSERT INTO runs VALUES ('r', NEW.experiment_id); END",
    "a view": "CREATE VIEW v AS SELECT * FROM runs",
    "a trigger refusing a run": "CREATE TRIGGER t BEFORE INSERT ON runs "
    "BEGIN SELECT RAISE(ABORT, 'no runs here'); END",
}


def test_a_fresh_store_is_pristine_and_a_planted_one_is_not(tmp_path: Path) -> None:
    assert store_template.pristine(fresh_store(tmp_path / "fresh.db"))
    for name, sql in PLANTED.items():
        db = fresh_store(tmp_path / f"{name}.db")
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute(sql)
            con.commit()
        assert not store_template.pristine(db), name
    (tmp_path / "junk.db").write_bytes(os.urandom(4096))
    assert not store_template.pristine(tmp_path / "junk.db")


def test_a_template_is_kept_once_and_seeds_only_pristine_copies(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "store-x.db"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "store-older.db").write_bytes(b"an older MLflow's")
    store_template.save(fresh_store(tmp_path / "migrated.db"), cache)
    assert store_template.pristine(cache)
    assert not (tmp_path / "cache" / "store-older.db").exists()  # one template per cache
    assert store_template.seed(tmp_path / "a.db", cache)
    with contextlib.closing(sqlite3.connect(cache)) as con:  # planted after it was kept
        con.execute(PLANTED["a run"])
        con.commit()
    assert not store_template.seed(tmp_path / "b.db", cache)
    assert not (tmp_path / "b.db").exists()  # the server migrates its own store instead


def test_a_warm_seed_needs_the_hosts_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = fresh_store(tmp_path / "template.db")
    spares.set_template(template)
    try:
        seeded = tmp_path / "a" / "mlflow.db"
        seeded.parent.mkdir()
        spares.seed_store(["--backend-store-uri", f"sqlite:///{seeded}"])
        assert seeded.read_bytes() == template.read_bytes()
        with contextlib.closing(sqlite3.connect(template)) as con:  # still pristine, but
            con.execute("PRAGMA user_version = 7")  # no longer the bytes the host took
        other = tmp_path / "b" / "mlflow.db"
        other.parent.mkdir()
        spares.seed_store(["--backend-store-uri", f"sqlite:///{other}"])
        assert not other.exists()
        assert "changed; migrating afresh" in capsys.readouterr().err
    finally:
        spares.set_template(None)


def listening_on(port: int, among: list[psutil.Process]) -> list[int]:
    """The processes of AMONG holding a socket listening on PORT.

    Asked process by process: psutil.net_connections() names one holder per socket, the
    highest pid, which is the test process itself once pids have wrapped around.
    """
    found = []
    for proc in among:
        with contextlib.suppress(psutil.Error):  # gone meanwhile, or another test's zombie
            if any(
                c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                for c in proc.net_connections(kind="tcp")
            ):
                found.append(proc.pid)
    return found


def warm_children(besides: frozenset[int] = frozenset()) -> list[psutil.Process]:
    """This process's warm hosts but those in BESIDES (the session's: helpers.SessionHosts)."""
    found = []
    for proc in psutil.Process().children():
        if proc.pid in besides:
            continue
        with contextlib.suppress(psutil.Error):  # a zombie of another test's, say
            if "grader.warm.host" in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def started_hosts(besides: frozenset[int], count: int) -> list[psutil.Process]:
    """The COUNT warm hosts just started, once each shows as one: between its fork and its
    exec a host still has this process's command line, and is not yet told apart by it."""
    deadline = time.monotonic() + 30
    found = warm_children(besides)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        found = warm_children(besides)
    return found


def stand_ins() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if proc.cmdline()[-2:-1] and proc.cmdline()[-2].endswith("xprocess_standin.py"):
                found.append(proc)
    return found


@pytest.mark.slow
def test_a_warm_host_forks_the_server_and_ends_with_the_grading(tmp_path: Path) -> None:
    session = frozenset(p.pid for p in warm_children())
    with PrivateHost().hosting(("server",), {}) as forks:
        (host,) = warm_children(session)
        with throwaway_server(tmp_path, host=forks) as server:
            server.wait_ready()
            port = int(server.url.rsplit(":", 1)[1])
            (listener,) = listening_on(port, host.children())  # a fork of the host
            fresh = [p for p in psutil.Process().children(recursive=True) if p.pid != host.pid]
            assert listening_on(port, fresh) == [listener]  # and no fresh Python beside it
            # xprocess started a stand-in for it: terminating that ends the fork.
            (stand_in,) = stand_ins()
            assert stand_in.cmdline()[-1] == str(listener)
        assert not psutil.pid_exists(listener)  # ended, and reaped by the host
        assert not psutil.pid_exists(stand_in.pid)
    host.wait(10)
    assert warm_children(session) == []


@pytest.mark.slow
def test_a_grading_takes_the_hosts_started_for_it_and_others_end_at_once(tmp_path: Path) -> None:
    """`pytest grader` starts its hosts as it configures (PrivateHost.start); the grading then
    forks from those, one host for the kernel and one for the server and probe. Hosts started
    for other roles, or taken by no grading, end at once, still importing."""
    session = frozenset(p.pid for p in warm_children())
    private = PrivateHost()
    private.start(("kernel", "server", "probe"), {})
    early = {p.pid for p in started_hosts(session, 2)}
    assert len(early) == 2  # the kernel's host, and the server's and probe's
    with private.hosting(("kernel", "server", "probe"), {}) as forks:
        assert {p.pid for p in warm_children(session)} == early  # no other host started
        with throwaway_server(tmp_path, host=forks) as server:
            server.wait_ready()
            port = int(server.url.rsplit(":", 1)[1])
            hosts = [psutil.Process(pid) for pid in early]
            (listener,) = [p for h in hosts for p in listening_on(port, h.children())]
            assert psutil.Process(listener).ppid() in early
    assert warm_children(session) == []

    private.start(("server",), {})
    (unused,) = started_hosts(session, 1)
    begun = time.monotonic()
    private.close()  # no grading took it: it ends now, not once its imports are done
    assert not unused.is_running() or unused.status() == psutil.STATUS_ZOMBIE
    assert time.monotonic() - begun < 1.5

    private.start(("server",), {})
    (other,) = started_hosts(session, 1)
    with private.hosting(("server",), {"CHANGED": "1"}):  # not what it was started for
        assert other.pid not in {p.pid for p in warm_children(session)}
        assert len(warm_children(session)) == 1
    assert warm_children(session) == []


@pytest.mark.slow
def test_a_host_ends_a_fork_whose_asker_is_gone_and_refuses_other_roles(tmp_path: Path) -> None:
    lock = threading.Lock()
    with Warm.running(tmp_path, ("server",)) as host:  # ready: its descriptors are settled
        with pytest.raises(spares.HostGone):  # not a role of this host: no waiting for it
            spares.request_fork(host.control, "probe", [], lock)
        held = psutil.Process(host.proc.pid).num_fds
        before = held()
        pid, sock = spares.request_fork(host.control, "server", [], lock)
        fork = psutil.Process(pid)
        assert fork.ppid() == host.proc.pid
        sock.close()  # as when a grading is killed before it sent its request
        fork.wait(10)  # the host ended it (and reaped it)
        deadline = time.monotonic() + 10
        while held() != before and time.monotonic() < deadline:
            time.sleep(0.05)  # the host closes its socket to the fork right after
        assert held() == before  # nothing kept of it: no descriptor leaks per killed grading
        assert host.proc.poll() is None  # the host itself serves on
    assert host.proc.wait(10) == 0


@pytest.mark.slow
def test_the_zygote_holds_no_secret_and_relays_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = uuid.uuid4().hex
    for name, value in {**SECRETS, TOKEN_VAR: token}.items():
        monkeypatch.setenv(name, value)
    with Warm.running(tmp_path, ("worker",), worker=WORKER_ENTRY) as zygote:
        environ = Path(f"/proc/{zygote.proc.pid}/environ").read_bytes()
        ok = zygote.spawn(["--help"], {"LABGRADE_JOB": "a"}, tmp_path / "ok.err")
        bad = zygote.spawn(["no-such-command"], {"LABGRADE_JOB": "b"}, tmp_path / "bad.err")
        assert ok.wait(60) == 0
        assert bad.wait(60) == 2
        assert "invalid choice" in (tmp_path / "bad.err").read_text()
    assert not any(value.encode() in environ for value in SECRETS.values())
    assert token.encode() in environ  # its forks are still found by the tests' token
    assert describe(processes_with_token(token)) == []


# ----- warm kernels: forked from the host, a fresh kernel to the submission -----

OBSERVE = """
import json, os, sys, warnings
observed.append(json.dumps({
    "argv": sys.argv,
    "orig_argv": sys.orig_argv,
    "path": sys.path,
    "cwd": os.getcwd(),
    "environ": sorted(os.environ),
    "name": __name__,
    "filters": [repr(f) for f in warnings.filters],
    "executable": sys.executable,
    "cmdline": open("/proc/self/cmdline", "rb").read().rstrip(b"\\0").decode().split("\\0"),
    "flags": repr(sys.flags),
    "umask": os.umask(0o022),
    "stdin": os.isatty(0),
    "ids": [os.getuid() == os.getgid() >= 2_000_000, os.getpgid(0) == os.getpid()],
}))
"""
# What the lab's notebooks do first: the state a submission's code runs in.
IMPORTS = """
import mlflow
from mlflow.models import infer_signature
import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
"""
PRELOADED = "import sys\nobserved = [int('sklearn.linear_model' in sys.modules)]"
RANDOM = "import random, numpy\nobserved = [random.random(), float(numpy.random.rand())]"


def notebook(folder: Path, *cells: str) -> Path:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = folder / "lab.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """A warm host of lab 1's kernels, servers and probes, shared as a batch's zygote is."""
    from grader.engine.probe.model_probe import host_env
    from grader.warm.warm_launcher import SharedHost
    from tests.helpers import TRACKING

    env = host_env(TRACKING)
    folder = tmp_path_factory.mktemp("lab-host")
    with Warm.running(folder, ("kernel", "server", "probe"), env=env) as warm:
        yield SharedHost(spares.HostForks(warm.control, warm.lock))


def observe(
    path: Path, launcher: Launcher, monkeypatch: pytest.MonkeyPatch, lab: Lab | None = None
) -> tuple[list[Any], Any, Any]:
    """Grade PATH in this process; what its `observed` list held after the run, how its
    kernel was started (a fork of the host or a Popen) and the grade."""
    from grader.engine import grading
    from grader.engine.kernel import execution
    from grader.engine.lab import Capture
    from tests.helpers import TRACKING

    lab = lab or TRACKING
    observed = dataclasses.replace(lab.needs, capture=lambda rubric: Capture(("observed",)))
    lab = dataclasses.replace(lab, needs=observed)
    seen: dict[str, Any] = {}
    kernel = execution._kernel

    @contextlib.contextmanager
    def recorded(*args: Any) -> Iterator[tuple[Any, Any]]:
        with kernel(*args) as (client, popen):
            seen["kernel"] = popen
            yield client, popen

    original = grading.execute

    def execute(*args: Any, **kwargs: Any) -> execution.Execution:
        seen["execution"] = found = original(*args, **kwargs)
        return found

    monkeypatch.setattr(execution, "_kernel", recorded)
    monkeypatch.setattr(grading, "execute", execute)
    result = grading.grade(path, grading.Settings(lab, lab.rubric(), launcher=launcher))
    capture = seen["execution"].capture
    assert capture is not None, seen["execution"].result
    values = capture.variables["observed"].values
    assert values is not None, seen["execution"].result
    return list(values), seen["kernel"], result


def needs_full_isolation() -> None:
    from grader.sandbox.sandbox import full_unavailable

    problem = full_unavailable()
    if problem:
        pytest.skip(f"kernels are forked in full isolation only: {problem}")


def normalised(text: str) -> str:
    """TEXT without what differs between any two gradings: temporary folders, ids, times."""
    text = re.sub(r"labgrade-[A-Za-z0-9_]+", "labgrade-X", text)
    text = re.sub(r"\b[0-9a-f]{32}\b", "ID", text)
    text = re.sub(r"\bm-[0-9a-f]{32}\b|\bm-ID\b", "MODEL", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "TIME", text)
    return re.sub(r"\b\d{13}\b", "MILLIS", text)


@pytest.mark.slow
def test_a_warm_kernel_is_a_fresh_one_to_the_submission(
    tmp_path: Path, lab_host: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_full_isolation()
    path = notebook(tmp_path / "nb", PRELOADED, IMPORTS, OBSERVE)
    warm, warm_kernel, _ = observe(path, lab_host, monkeypatch)
    cold, cold_kernel, _ = observe(path, COLD, monkeypatch)
    assert isinstance(warm_kernel, spares.ForkedProcess)  # forked, with the lab's modules
    assert not isinstance(cold_kernel, spares.ForkedProcess)
    assert (warm[0], cold[0]) == (1, 0)
    warm_seen, cold_seen = json.loads(normalised(warm[1])), json.loads(normalised(cold[1]))
    for key in cold_seen:
        assert warm_seen[key] == cold_seen[key], key
    assert cold_seen["name"] == "__main__"
    assert cold_seen["argv"][0].endswith("ipykernel_launcher.py")


@pytest.mark.slow
def test_two_warm_kernels_draw_different_random_numbers(
    tmp_path: Path, lab_host: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_full_isolation()
    path = notebook(tmp_path / "nb", RANDOM)
    first, kernel, _ = observe(path, lab_host, monkeypatch)
    second, _, _ = observe(path, lab_host, monkeypatch)
    assert isinstance(kernel, spares.ForkedProcess)
    assert first[0] != second[0]  # random
    assert first[1] != second[1]  # numpy's global RandomState


@pytest.mark.slow
def test_without_a_warm_kernel_the_kernel_is_a_fresh_python(
    tmp_path: Path, lab_host: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that forks no kernels, and a forked kernel that does not start: a fresh one."""
    needs_full_isolation()
    from grader.engine.kernel import execution
    from grader.warm.warm_launcher import SharedHost

    path = notebook(tmp_path / "nb", PRELOADED)
    (tmp_path / "host").mkdir()
    with Warm.running(tmp_path / "host", ("server",)) as warm:
        seen, kernel, _ = observe(
            path, SharedHost(spares.HostForks(warm.control, warm.lock)), monkeypatch
        )
    assert not isinstance(kernel, spares.ForkedProcess)
    assert seen == [0]

    forked = execution._forked_kernel

    def unconfinable(host: Any, cmd: list[str], kwargs: dict[str, Any]) -> Any:
        split = cmd.index("--")
        spec = {**json.loads(cmd[split - 1]), "cwd": "/no/such/folder"}  # the jail gives up
        return forked(host, [*cmd[: split - 1], json.dumps(spec), *cmd[split:]], kwargs)

    monkeypatch.setattr(execution, "_forked_kernel", unconfinable)
    seen, kernel, result = observe(path, lab_host, monkeypatch)
    assert not isinstance(kernel, spares.ForkedProcess)
    assert seen == [0]
    assert result.execution.status == "ok"


ARTIFACTS = (
    "MLmodel",
    "requirements.txt",
    "conda.yaml",
    "python_env.yaml",
    "input_example.json",
    "serving_input_example.json",
)


@pytest.mark.slow
def test_the_reference_logs_the_same_warm_and_cold(
    tmp_path: Path, lab_host: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same grade (JSON) and the same model files as with a fresh kernel, bar ids and times."""
    needs_full_isolation()
    from grader.engine import grading

    reference = ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"
    path = notebook(tmp_path / "nb", PRELOADED, *code_cells(reference))
    kept: dict[str, dict[str, str]] = {}
    read = grading._read_server

    def artifacts(url: str, sandbox: Any) -> Any:
        """What the server stored, while it still runs: its artifacts, by file name."""
        found: dict[str, str] = {}
        for file in sorted((sandbox.workdir / "server").rglob("*")):
            if file.is_file() and file.name in ARTIFACTS:
                assert file.name not in found, f"more than one {file.name}"
                found[file.name] = normalised(file.read_text())
        kept[str(len(kept))] = found
        return read(url, sandbox)

    monkeypatch.setattr(grading, "_read_server", artifacts)
    warm, warm_kernel, warm_result = observe(path, lab_host, monkeypatch)
    cold, _, cold_result = observe(path, COLD, monkeypatch)
    assert isinstance(warm_kernel, spares.ForkedProcess)
    assert (warm, cold) == ([1], [0])
    assert warm_result.score == warm_result.max_score == 100
    assert normalised_grade(warm_result.to_json()) == normalised_grade(cold_result.to_json())
    assert set(ARTIFACTS) - {"serving_input_example.json"} <= set(kept["0"])
    assert kept["0"] == kept["1"]


def code_cells(path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def normalised_grade(raw: dict[str, Any]) -> dict[str, Any]:
    """The grade JSON without what differs between runs: seconds, the server, ids and the
    runs' names (the server's random `adjective-animal-number`)."""
    text = re.sub(r"run '[a-z]+-[a-z]+-\d+'", "run 'NAME'", json.dumps(raw))
    raw = json.loads(normalised(text))
    raw.pop("submission")
    raw["execution"].pop("seconds")
    raw["tracking"].pop("server")
    return raw


LEAK_CHECK = """
import sys
assert "sklearn.linear_model" in sys.modules, "not a kernel forked with the lab's modules"
import mlflow
assert not hasattr(mlflow, "LEAK"), "a module attribute of an earlier submission"
assert "LEAKED" not in globals(), "a global of an earlier submission"
mlflow.LEAK = 1
LEAKED = 1
"""


@pytest.mark.slow
def test_a_batchs_kernels_share_nothing(tmp_path: Path) -> None:
    """Two submissions graded one after the other by the batch's warm kernels: each one sets
    a module attribute and a global, and fails a cell if it finds the other's."""
    needs_full_isolation()
    from tests.helpers import run_labgrade

    reference = ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"
    folder = tmp_path / "class"
    for student in ("first", "second"):
        notebook(tmp_path / student, LEAK_CHECK, *code_cells(reference))
        folder.mkdir(exist_ok=True)
        (tmp_path / student / "lab.ipynb").rename(folder / f"{student}.ipynb")
    out = tmp_path / "out"
    token = uuid.uuid4().hex
    proc = run_labgrade(
        "batch",
        str(folder),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--timeout",
        "240",
        timeout=900,
        env={**os.environ, TOKEN_VAR: token},
    )
    assert proc.returncode == 0, proc.stderr
    assert describe(processes_with_token(token)) == []
    with (out / "grades.csv").open(newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh) if r["id"] != "POINTS POSSIBLE"}
    assert {s: (r["status"], float(r["total"])) for s, r in rows.items()} == {
        "first": ("ok", 100.0),
        "second": ("ok", 100.0),
    }, {s: r["note"] for s, r in rows.items()}
