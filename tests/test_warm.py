"""Warm batch processes: the zygote holds no secret, spares become servers, seeded stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grader import spares
from grader.warm import Zygote, worker_env
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


def test_a_store_is_seeded_only_from_a_pristine_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "template.db"
    template.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    spares.set_template(template)
    try:
        seeded = tmp_path / "a" / "mlflow.db"
        seeded.parent.mkdir()
        spares.seed_store(["--backend-store-uri", f"sqlite:///{seeded}"])
        assert seeded.read_bytes() == template.read_bytes()
        template.write_bytes(b"SQLite format 3\x00planted runs")  # changed after the zygote made it
        other = tmp_path / "b" / "mlflow.db"
        other.parent.mkdir()
        spares.seed_store(["--backend-store-uri", f"sqlite:///{other}"])
        assert not other.exists()  # the server migrates its own store instead
        assert "changed; migrating afresh" in capsys.readouterr().err
    finally:
        spares.set_template(None)


@pytest.mark.slow
def test_a_spare_becomes_the_server_and_ends_with_it() -> None:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("warm_server.py"))],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["listeners"] == [found["before"]["server"]]  # the spare serves, no new Python
    assert found["after"] == {"probe": found["before"]["probe"]}  # the server's spare was taken
    assert found["probe_exit"] == 0  # an unneeded spare ends when told
    assert found["alive"] == []


@pytest.mark.slow
def test_the_zygote_holds_no_secret_and_relays_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = uuid.uuid4().hex
    for name, value in {**SECRETS, TOKEN_VAR: token}.items():
        monkeypatch.setenv(name, value)
    with Zygote.running(tmp_path) as zygote:
        environ = Path(f"/proc/{zygote.proc.pid}/environ").read_bytes()
        ok = zygote.spawn(["--help"], {"LABGRADE_JOB": "a"}, tmp_path / "ok.err")
        bad = zygote.spawn(["no-such-command"], {"LABGRADE_JOB": "b"}, tmp_path / "bad.err")
        assert ok.wait(60) == 0
        assert bad.wait(60) == 2
        assert "invalid choice" in (tmp_path / "bad.err").read_text()
    assert not any(value.encode() in environ for value in SECRETS.values())
    assert token.encode() in environ  # its forks are still found by the tests' token
    assert describe(processes_with_token(token)) == []
