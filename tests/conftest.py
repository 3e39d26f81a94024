"""Fixtures of the grader's own suite: each labelled submission is graded once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import GradingRun, run_grader


@pytest.fixture(scope="session")
def graded_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., GradingRun]:
    cache: dict[tuple[Path, tuple[str, ...], str], GradingRun] = {}

    def get(submission: Path, *extra: str, env: dict[str, str] | None = None) -> GradingRun:
        key = (submission, extra, repr(sorted((env or {}).items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(submission.stem)
            cache[key] = run_grader(submission, out, *extra, env=env)
        return cache[key]

    return get


@pytest.fixture(scope="session", autouse=True)
def _no_github_actions_files() -> Iterator[None]:
    """A grading in this suite never writes into the real job summary of a CI run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.delenv("GITHUB_OUTPUT", raising=False)
        yield
