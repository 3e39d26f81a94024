"""What a grading's MLflow server may be made to store and read: in front of MLflow's own app.

Trust boundary: every request the submission sends its throwaway server passes through this
ASGI middleware, in the server's own process (grader.engine.server.one_process puts it in front of
the app uvicorn serves), before MLflow reads a byte of it. The submission reaches the server only
over HTTP, so there is no way around it.

- The store (database and artifacts together) may hold the grading's disk limit. Every write
  request's body counts as it streams in: once the store would pass the limit the request is
  refused with 507 and nothing more of it is read into the store. What counts: the database
  file's growth, plus every body the server accepted (rounded up to whole disk blocks, at least
  one per request), so a store is never under-counted whatever MLflow makes of a body.
- A body other than an artifact upload (which MLflow streams to its file) is read whole into
  memory by MLflow: one beyond MAX_BODY is refused with 413 before it is.
- A compressed body could unpack to any size inside the server: refused with 415.

A refused request's rest is read and dropped, never kept, so that the client
reads the answer, not a reset connection. Each refusal is recorded in a JSON file the grading
reads afterwards, to tell the student which limit their code ran into.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.sandbox.limits import size_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# MLflow's own limits keep every API call far below this (a log-batch of 1,000 metrics is
# ~100 KB); artifacts, the only big payloads, are uploads and are not bound by it.
MAX_BODY = 16 * 1024**2
BLOCK = 4096
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# MLflow's searches are POSTs that store nothing: a full store still answers them (the
# grading reads the server that way), though their bodies are bounded as any other.
SEARCH_SUFFIX = "/search"
UPLOAD_PATH = "/mlflow-artifacts/artifacts/"
DATABASE_FILES = ("", "-journal", "-wal", "-shm")
REFUSALS = "refused.json"  # in the store's folder


@dataclass(frozen=True)
class StoreLimits:
    """What the guard of one server enforces; made by the grading, read by the server."""

    limit: int  # bytes the store may hold (the grading's disk limit)
    database: str  # the SQLite file whose growth counts
    record: str  # where refusals are written (JSON)
    limit_source: str  # how the limit was set, for the message
    max_body: int = MAX_BODY


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def read_refusals(record: Path) -> dict[str, Any] | None:
    """The refusals a server recorded (count, the first message, the limit), or None."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


class StoreGuard:
    def __init__(self, app: App, limits: StoreLimits) -> None:
        self.app, self.limits = app, limits
        self.accepted = 0  # bodies the server took in and answered with success
        self.inflight = 0  # bodies being read now
        self.refused = 0
        self._first: Refusal | None = None
        self.database_start = self.database_size()

    def database_size(self) -> int:
        total = 0
        for suffix in DATABASE_FILES:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(self.limits.database + suffix).st_blocks * 512
        return total

    def used(self, database_growth: int) -> int:
        return self.accepted + self.inflight + database_growth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        request = _Request(self, scope)
        refusal = request.refusal_before_reading()
        if refusal is None:
            with contextlib.suppress(_Cut):
                await self._let_through(request, scope, receive, send)
        else:
            request.refusal = refusal
        if request.refusal is not None and not request.started:
            if not request.ended:
                await _drain(receive)
            await self._refuse(request.refusal, send)

    async def _let_through(
        self, request: _Request, scope: Scope, receive: Receive, send: Send
    ) -> None:
        async def guarded_receive() -> Message:
            if request.refusal is not None:  # the app sees its client gone
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                request.ended = not message.get("more_body", False)
                request.take(len(message.get("body", b"")))
                if request.refusal is not None:
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if request.refusal is not None and not request.started:
                return  # the app's answer to a cut-off body: the guard's goes instead
            if message["type"] == "http.response.start":
                request.started, request.status = True, int(message["status"])
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            # The app failing on the body the guard cut off is the refusal the guard answers;
            # any other failure is the server's own, and uvicorn reports it as always.
            if request.refusal is None or request.started:
                raise
            raise _Cut from None
        finally:
            self.inflight -= request.count
            if request.refusal is None and 200 <= request.status < 400 and not request.search:
                self.accepted += -(-max(request.count, 1) // BLOCK) * BLOCK

    async def _refuse(self, refusal: Refusal, send: Send) -> None:
        self.refused += 1
        if self._first is None:
            self._first = refusal
        self._record()
        body = json.dumps({"error_code": refusal.code, "message": refusal.message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self) -> None:
        assert self._first is not None
        data = {
            "refused": self.refused,
            "status": self._first.status,
            "message": self._first.message,
            "limit": self.limits.limit,
        }
        record = Path(self.limits.record)
        partial = record.with_suffix(".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(record)  # the grading never reads half a record


class _Cut(Exception):
    """The app gave up on a body the guard cut off."""


class _Request:
    def __init__(self, guard: StoreGuard, scope: Scope) -> None:
        self.guard = guard
        self.method, self.path = str(scope["method"]), str(scope.get("path", ""))
        self.upload = self.method == "PUT" and UPLOAD_PATH in self.path
        self.search = self.method == "POST" and self.path.endswith(SEARCH_SUFFIX)
        self.headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers", [])}
        self.growth = max(0, guard.database_size() - guard.database_start)
        self.count = 0
        self.status = 0
        self.started = False
        self.ended = False  # the whole body has been read
        self.refusal: Refusal | None = None

    def refusal_before_reading(self) -> Refusal | None:
        encoding = self.headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
        if encoding not in ("", "identity"):
            return Refusal(
                415,
                "INVALID_PARAMETER_VALUE",
                f"labgrade: this grading's MLflow server does not take compressed request"
                f" bodies ({self.method} {self.path} came with Content-Encoding: {encoding}):"
                " send it uncompressed.",
            )
        declared = self.headers.get(b"content-length", b"").decode("latin-1").strip()
        return self._over(int(declared) if declared.isdigit() else 0)

    def take(self, size: int) -> None:
        self.count += size
        self.guard.inflight += size
        self.refusal = self._over(0)

    def _over(self, coming: int) -> Refusal | None:
        limits = self.guard.limits
        if not self.upload and max(self.count, coming) > limits.max_body:
            return Refusal(
                413,
                "RESOURCE_EXHAUSTED",
                f"labgrade: this grading's MLflow server refused {self.method} {self.path}:"
                f" its body is over {size_text(limits.max_body)}, the most the server reads"
                " into memory for one call. Send less per call (MLflow's own calls stay far"
                " below it); files belong in artifacts (mlflow.log_artifact).",
            )
        used = self.guard.used(self.growth) + max(0, coming - self.count)
        if used > limits.limit and not self.search:
            return Refusal(
                507,
                "RESOURCE_EXHAUSTED",
                f"labgrade: this grading's MLflow server refused {self.method} {self.path}:"
                f" its store (artifacts and database together) is limited to"
                f" {size_text(limits.limit)}, the grading's disk limit ({limits.limit_source}),"
                " and this would go past it. Log only what the lab asks for (a model is a few"
                " KB); datasets and other big files do not belong in the tracking server.",
            )
        return None


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of a refused body (never called after the body's end, when
    uvicorn's receive() would wait for the answer).

    To its end: a client still sending when the server closes gets a reset connection, not
    the answer that names the limit. An endless body costs the server's one CPU until the
    cell's time limit: the grading's own time, not the machine's disk or memory.
    """
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


_CONFIGURED: list[StoreLimits] = []


def configure(limits: StoreLimits) -> None:
    """The limits of this server process, set before uvicorn builds the app (serve.main)."""
    _CONFIGURED[:] = [limits]


def guarded(app: App) -> App:
    """APP behind this process's guard, if one was configured."""
    return StoreGuard(app, _CONFIGURED[0]) if _CONFIGURED else app
