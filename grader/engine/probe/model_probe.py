"""Predicting on the lab's test split with logged models, in a confined process.

Logged models are submission-controlled pickles: the grader never loads them in its own
process. The grader downloads each model's files (plain files, nothing deserialized) into a
folder the probe sees; probe_child.py loads them with pyfunc inside the sandbox (the
submission's limits, its own user, no network) and answers with plain numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from grader.engine.evidence.records import ModelPredictions, Param
from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Lab
from grader.engine.launcher import NO_HOST, Forked, Host, preload_env
from grader.engine.probe.probe_child import WARM_ENV
from grader.engine.server.throwaway import CLIENT_ENV, bounded_retries
from grader.errors import GraderError
from grader.sandbox.procs import kill_tree
from grader.sandbox.sandbox import Sandbox

CHILD = Path(__file__).with_name("probe_child.py")
MAX_ANSWER = 8 * 1024**2  # bytes of the probe's stdout read; a model could print forever


def probe_env(lab: Lab) -> dict[str, str]:
    """What a model probe of LAB is told ahead: its head start (the modules, and a model of
    the lab's kind saved as the lab says: Speed.rehearsal_options)."""
    warm = {
        "modules": list(lab.speed.probe_modules),
        "model": lab.speed.probe_rehearsal,
        "options": dict(lab.speed.rehearsal_options),
    }
    return {**CLIENT_ENV, WARM_ENV: json.dumps(warm)}


def host_env(lab: Lab) -> dict[str, str]:
    """What a host of LAB's gradings is told ahead, the same for each of them: the probe's head
    start, and the modules its kernels import (Speed.preload)."""
    return {**probe_env(lab), **preload_env(lab.speed.preload)}


class ModelProbe:
    """A confined subprocess that imports MLflow early, then predicts on request.

    Started while the notebook runs, so its imports cost the grading nothing; closing it
    (always, via the context manager) ends its whole process tree.
    """

    def __init__(
        self, tracking_uri: str, sandbox: Sandbox, lab: Lab, rubric: Rubric, host: Host = NO_HOST
    ) -> None:
        self.tracking_uri, self.sandbox, self.lab, self.rubric = tracking_uri, sandbox, lab, rubric
        self.proc: subprocess.Popen[bytes] | Forked | None = None
        self.log = sandbox.workdir / "probe.log"
        self._answer: list[bytes] = []
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()  # started from a warm-up thread or by predict()
        self._closed = False
        # A fork of a warm host has MLflow imported already; it confines itself the same
        # way, but only where confinement includes a PID namespace to end it all.
        self._host = host if sandbox.mode == "full" else NO_HOST
        self._cancelled = threading.Event()  # set on close: a start still waiting gives up

    def start(self) -> None:
        if self.lab.needs.test_split is None:
            return  # the lab judges no model's predictions: nothing to load them for
        with self._lock:
            if self.proc is None and not self._closed:
                self._start()

    def _start(self) -> None:
        work = self.sandbox.workdir / "probe-work"
        work.mkdir(exist_ok=True)
        # Models come as files: no server, no network.
        env = self.sandbox.env("probe", work, probe_env(self.lab))
        if self._host is not NO_HOST:
            spec = self.sandbox.spec("probe", work)
            self.proc = _fork(self._host, spec, env, work, self.log, self._cancelled)
            if self._cancelled.is_set():
                return  # closed meanwhile: no fresh probe either
        if self.proc is None:
            child = self.sandbox.script(CHILD)
            command = self.sandbox.command("probe", [sys.executable, "-I", child], work)
            with self.log.open("wb") as log:
                self.proc = subprocess.Popen(
                    command,
                    cwd=work,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:  # a BufferedReader: read1 returns what is there
        total = 0
        while chunk := stream.read1(65536):
            if total < MAX_ANSWER:
                self._answer.append(chunk[: MAX_ANSWER - total])
            total += len(chunk)

    def predict(self, model_uris: list[str], timeout: float = 180) -> dict[str, ModelPredictions]:
        """Predictions of each model on X_test; a model's failure is its verdict, not raised."""
        split = self.lab.split(self.rubric)
        if not model_uris or split is None:
            return {}
        self.start()
        assert self.proc is not None
        assert self.proc.stdin is not None
        local, failed = self._download(model_uris)
        X_test = split.X
        request = {"uris": list(local.values()), "X": [[float(v) for v in row] for row in X_test]}
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it died already: its exit tells why
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return _all_failed(model_uris, f"loading or predicting took over {timeout:.0f} s")
        assert self._reader is not None
        self._reader.join(timeout=10)
        return {**self._results(local), **failed}

    def _download(
        self, model_uris: list[str]
    ) -> tuple[dict[str, str], dict[str, ModelPredictions]]:
        """Each model's files, in the probe's own folder: {uri: local path}, and failures."""
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        local: dict[str, str] = {}
        failed: dict[str, ModelPredictions] = {}
        client = MlflowClient(tracking_uri=self.tracking_uri)
        for index, uri in enumerate(model_uris):
            dest = self.sandbox.jail("probe").conn / f"model-{index}"
            try:
                with bounded_retries():
                    # models:/<id> resolves against the global tracking URI: ask this server.
                    location = client.get_logged_model(uri.removeprefix("models:/"))
                    path = download_artifacts(
                        artifact_uri=location.artifact_location,
                        tracking_uri=self.tracking_uri,
                        dst_path=str(dest),
                    )
            except (MlflowException, OSError, ValueError) as err:
                failed[uri] = ModelPredictions(uri, None, f"could not download it: {err}"[:500])
                continue
            _readable(dest)
            local[uri] = path
        return local, failed

    def _results(self, local: dict[str, str]) -> dict[str, ModelPredictions]:
        assert self.proc is not None
        lines = b"".join(self._answer).decode("utf-8", "replace").strip().splitlines()
        if not lines or not lines[0].startswith('{"ready"'):
            tail = " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
            raise GraderError(
                f"the model probe ({sys.executable} -I {CHILD}) could not start (exit code"
                f" {self.proc.returncode}): {tail}"
            )
        try:
            raw = json.loads(lines[-1])["results"]
            return {uri: _predictions(uri, raw.get(path, {})) for uri, path in local.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            cause = self.sandbox.exit_cause("probe", self.proc.returncode)
            return _all_failed(list(local), f"loading the logged model ended the probe: {cause}")

    def close(self) -> None:
        self._cancelled.set()
        with self._lock:  # a warm-up thread must not start it after this
            self._closed = True
        if self.proc is not None:
            kill_tree(self.proc.pid, grace=1)
            self.sandbox.reap("probe")

    def __enter__(self) -> ModelProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fork(
    host: Host,
    spec: dict[str, object],
    env: dict[str, str],
    work: Path,
    log: Path,
    cancelled: threading.Event,
) -> Forked | None:
    """The probe forked by HOST, with the jail and pipes of the fresh command; None if the
    host does not fork it (the fresh command runs instead)."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        request = {"spec": spec, "env": env, "cwd": str(work)}
        proc = host.fork("probe", request, [stdin_r, stdout_w, log_fd], cancelled)
    finally:
        for fd in (stdin_r, stdout_w, log_fd):
            os.close(fd)
    if proc is None:
        for fd in (stdin_w, stdout_r):
            os.close(fd)
        return None
    proc.stdin, proc.stdout = os.fdopen(stdin_w, "wb"), os.fdopen(stdout_r, "rb")
    return proc


def _readable(root: Path) -> None:
    """Downloaded as the grader; the probe's own user reads it (it only ever reads)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _all_failed(uris: list[str], reason: str) -> dict[str, ModelPredictions]:
    return {uri: ModelPredictions(uri, None, reason) for uri in uris}


def _predictions(uri: str, entry: dict[str, Any]) -> ModelPredictions:
    preds = entry.get("predictions")
    if preds is None:
        refused = entry.get("refused")
        return ModelPredictions(
            uri,
            None,
            str(entry.get("error", "no predictions"))[:500],
            refused=None if refused is None else str(refused)[:600],
        )
    model = entry.get("model") or {}
    kind, params = model.get("class"), model.get("params")
    return ModelPredictions(
        uri,
        tuple(float(v) for v in preds),
        model_class=None if kind is None else str(kind)[:200],
        model_params=None if params is None else {str(k): _param(v) for k, v in params.items()},
    )


def _param(value: Any) -> Param:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:200]
