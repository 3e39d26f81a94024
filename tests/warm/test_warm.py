"""Warm processes: the zygote holds no secret, a host forks servers and ends them, seeded stores."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from grader.course.batch import WORKER_ENTRY
from grader.engine import store_template
from grader.engine.server import throwaway_server
from grader.warm import spares
from grader.warm.host import Warm, worker_env
from grader.warm.launch import PrivateHost
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


def warm_children() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error):  # a zombie of another test's, say
            if "grader.warm.host" in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def stand_ins() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if proc.cmdline()[-2:-1] and proc.cmdline()[-2].endswith("standin.py"):
                found.append(proc)
    return found


@pytest.mark.slow
def test_a_warm_host_forks_the_server_and_ends_with_the_grading(tmp_path: Path) -> None:
    with PrivateHost().hosting(("server",), {}) as forks:
        (host,) = warm_children()
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
    assert warm_children() == []


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
