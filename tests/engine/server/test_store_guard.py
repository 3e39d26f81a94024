"""The store guard in front of a real throwaway server: what it refuses, and what it lets by."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from grader.engine.grading import store_refusals
from grader.engine.server.store_guard import REFUSALS, StoreLimits
from grader.engine.server.throwaway import throwaway_server

LIMIT = 4 * 1024**2
pytestmark = pytest.mark.slow  # a real MLflow server


def _request(url: str, method: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("guarded")

    def confine(store: Path) -> dict[str, object]:
        guard = StoreLimits(LIMIT, str(store / "mlflow.db"), str(store / REFUSALS), "a test")
        return {"store": asdict(guard)}

    with throwaway_server(workdir, startup_timeout=300, confine=confine) as handle:
        handle.wait_ready()
        yield handle.url, workdir / "server"


def test_uploads_within_the_limit_are_stored(server: tuple[str, Path]) -> None:
    url, store = server
    path = "/api/2.0/mlflow-artifacts/artifacts/small/one.bin"
    assert _request(url + path, "PUT", b"x" * 1024) == 200
    assert (store / "artifacts" / "small" / "one.bin").stat().st_size == 1024


def test_past_the_limit_nothing_more_is_stored_but_searches_answer(
    server: tuple[str, Path],
) -> None:
    url, store = server
    path = "/api/2.0/mlflow-artifacts/artifacts/big/too.bin"
    assert _request(url + path, "PUT", b"\0" * (LIMIT + 1)) == 507
    assert not (store / "artifacts" / "big" / "too.bin").exists()
    search = json.dumps({"max_results": 10}).encode()
    headers = {"Content-Type": "application/json"}
    assert _request(url + "/api/2.0/mlflow/experiments/search", "POST", search, headers) == 200
    (refused,) = store_refusals(store)
    assert "limited to 4 MiB" in refused
    assert "(a test)" in refused


def test_bodies_the_server_would_hold_in_memory_are_bounded(server: tuple[str, Path]) -> None:
    url, _ = server
    headers = {"Content-Type": "application/json"}
    huge = b'{"name": "' + b"x" * (17 * 1024**2) + b'"}'
    assert _request(url + "/api/2.0/mlflow/experiments/create", "POST", huge, headers) == 413
    bomb = gzip.compress(b"\0" * 1024**2)
    packed = {**headers, "Content-Encoding": "gzip"}
    assert _request(url + "/api/2.0/mlflow/experiments/create", "POST", bomb, packed) == 415
