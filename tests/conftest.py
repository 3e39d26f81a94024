"""Fixtures of the grader's own suite: each labelled submission is graded once per session."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.engine.server.throwaway import throwaway_server
from tests.helpers import (
    ROOT,
    GradingRun,
    KeptServer,
    SessionHosts,
    log_runs_into,
    run_grader,
    start_kept,
    stop,
)


@pytest.fixture(scope="session")
def session_hosts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHosts | None]:
    """The session's warm processes (one per lab), for gradings not about their own start.

    Only where the session grades end to end (a slow test is selected): starting one costs
    what a few gradings of invalid notebooks cost, the only kind the fast subset holds.
    """
    if not any(item.get_closest_marker("slow") for item in request.session.items):
        yield None
        return
    hosts = SessionHosts(tmp_path_factory.mktemp("hosts"))
    yield hosts
    hosts.close()


@pytest.fixture(scope="session")
def graded_run(
    tmp_path_factory: pytest.TempPathFactory, session_hosts: SessionHosts | None
) -> Callable[..., GradingRun]:
    cache: dict[tuple[Path, tuple[str, ...], str], GradingRun] = {}

    def get(submission: Path, *extra: str, env: dict[str, str] | None = None) -> GradingRun:
        key = (submission, extra, repr(sorted((env or {}).items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(submission.stem)
            cache[key] = run_grader(submission, out, *extra, env=env, hosts=session_hosts)
        return cache[key]

    return get


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Minutes-long tests first: xdist hands out work in this order once its own reordering is
    # off (pytest_configure), so that none of them is left to end the run alone on one worker.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    # The tests that read one grading share it through their xdist group. pytest-xdist 3.8 names
    # an item's group by rewriting `_nodeid`, which pytest 9.2 no longer reads
    # (pytest-dev/pytest-xdist#1386): the groups are then silently lost and a worker grades
    # again what the other one graded. Once xdist's own suffix is there, this does nothing.
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = type(item._id).parse(item.nodeid + suffix)


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts the suite in the background (no job control) hands it SIGINT
    # ignored, and every grader it starts would inherit that: the Ctrl-C tests need it
    # delivered, as at a terminal. A handler (unlike SIG_IGN) is reset to default at exec.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # xdist would start the groups holding the most tests first, and so the single tests of
    # minutes (marked "long") last, each alone on one worker at the end: the collection's
    # order instead (pytest_collection_modifyitems puts those first).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.fixture(scope="session", autouse=True)
def _no_github_actions_files() -> Iterator[None]:
    """A grading in this suite never writes into the real job summary of a CI run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.delenv("GITHUB_OUTPUT", raising=False)
        yield


@pytest.fixture(scope="module")
def kept_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptServer]:
    """`pytest grader --submission reference/ --keep-server`, up until a test stops it."""
    out = tmp_path_factory.mktemp("kept")
    kept = start_kept(ROOT / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb", out)
    yield kept
    stop(kept)  # ends it even when a test failed before the Ctrl-C test


@pytest.fixture(scope="module")
def course_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tracking server as a course shares it: a failed run, then the lab's run, logged."""
    workdir = tmp_path_factory.mktemp("course")
    with throwaway_server(workdir) as server:
        server.wait_ready()
        log_runs_into(server.url, workdir)
        yield server.url
