"""The pytest plugin behind `pytest grader`: options, the graded fixture, score output.

Wired in by the root conftest.py (`pytest_plugins = ["grader.plugin"]`). Grading starts
only when the grader's own tests are collected, so `pytest tests` pays nothing for it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.errors import GraderError, InvalidSubmission
from grader.limits import FLAGS, ISOLATIONS, Limits
from grader.results import GradeResult
from grader.rubric import Rubric

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class GradingState:
    submission: Path
    rubric: Rubric
    timeout: float
    port: socket.socket  # held from start-up: the header's URL is the one graded on
    json_path: Path | None
    limits: Limits
    isolation: str
    feedback_path: Path | None = None
    result: GradeResult | None = None
    failure: str | None = None  # why the grading machine failed, when it did


STATE = pytest.StashKey[GradingState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "MLflow Tracking lab grader")
    group.addoption(
        "--submission",
        metavar="PATH",
        help="notebook (.ipynb), script (.py) or folder holding one [ini: grade_submission]",
    )
    group.addoption(
        "--grade-timeout",
        metavar="SECONDS",
        type=float,
        help="limit for executing the whole submission (default 300) [ini: grade_timeout]",
    )
    group.addoption(
        "--grade-json", metavar="PATH", help="write the result as JSON to PATH [ini: grade_json]"
    )
    group.addoption(
        "--rubric",
        metavar="PATH",
        help="rubric TOML with points and expected values [ini: grade_rubric]",
    )
    group.addoption(
        "--isolation",
        choices=ISOLATIONS,
        help="how the submission is confined: full (own user and namespaces, needs root),"
        " process (rlimits only) or auto (full where possible) [ini: grade_isolation]",
    )
    for flag in FLAGS:
        group.addoption(
            flag.flag,
            metavar=flag.metavar,
            help=f"{flag.help} (default: the rubric's [limits]) [ini: {flag.ini}]",
        )
        parser.addini(flag.ini, flag.help, default="")
    parser.addini("grade_isolation", "auto, full or process", default="auto")
    group.addoption(
        "--grade-feedback",
        metavar="PATH",
        help="write the student's feedback (Markdown) to PATH [ini: grade_feedback]",
    )
    parser.addini("grade_submission", "submission graded by default", default="")
    parser.addini("grade_timeout", "seconds allowed for executing the submission", default="300")
    parser.addini("grade_json", "where to write the JSON result", default="")
    parser.addini("grade_rubric", "rubric TOML", default="")
    parser.addini("grade_feedback", "where to write the feedback (Markdown)", default="")


def _is_grading(config: pytest.Config) -> bool:
    """True when the run collects the grader's own tests (pytest grader, or plain pytest)."""
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        if path.resolve() == PACKAGE_DIR or PACKAGE_DIR in path.resolve().parents:
            return True
    return False


def _setting(config: pytest.Config, option: str, ini: str) -> tuple[str, Path]:
    """An option's value and the folder a relative path in it is relative to."""
    value = config.getoption(option)
    if value not in (None, ""):
        return str(value), Path(config.invocation_params.dir)
    base = config.inipath.parent if config.inipath else config.rootpath
    return str(config.getini(ini) or ""), base


def _path(config: pytest.Config, option: str, ini: str) -> Path | None:
    value, base = _setting(config, option, ini)
    return (base / value) if value else None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _is_grading(config):
        return
    from grader.checks import KNOWN_IDS
    from grader.errors import RubricError
    from grader.limits import with_values
    from grader.procs import reserve_port
    from grader.rubric import load_rubric

    try:
        rubric = load_rubric(_path(config, "--rubric", "grade_rubric"), KNOWN_IDS)
        timeout = float(_setting(config, "--grade-timeout", "grade_timeout")[0] or 300)
        values = {f.field: _setting(config, f.flag, f.ini)[0] for f in FLAGS}
        limits = with_values(rubric.limits, values, "limit")
    except (RubricError, ValueError) as err:
        raise pytest.UsageError(f"grader settings: {err}") from None
    isolation = _setting(config, "--isolation", "grade_isolation")[0] or "auto"
    if isolation not in ISOLATIONS:
        raise pytest.UsageError(
            f"grader settings: isolation {isolation!r} is not one of {', '.join(ISOLATIONS)}"
        )
    submission = _path(config, "--submission", "grade_submission")
    if submission is None:
        raise pytest.UsageError("no submission: pass --submission PATH (a .ipynb, .py or folder)")
    state = GradingState(
        submission,
        rubric,
        timeout,
        reserve_port(),
        _path(config, "--grade-json", "grade_json"),
        limits,
        isolation,
        _path(config, "--grade-feedback", "grade_feedback"),
    )
    config.stash[STATE] = state
    _reject_invalid(state)


def _reject_invalid(state: GradingState) -> None:
    """An ungradable file: one line, no traceback, a non-zero exit, and still a JSON result."""
    from grader.grading import invalid_result
    from grader.submission import load_submission

    try:
        load_submission(state.submission)
    except InvalidSubmission as err:
        state.result = invalid_result(str(state.submission), err.problem, state.rubric)
        _write_outputs(state)  # pytest stops here: no sessionfinish will write them
        raise pytest.UsageError(f"cannot grade {err}") from None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    return [
        f"grader: submission {state.submission}",
        f"grader: tracking server http://127.0.0.1:{state.port.getsockname()[1]} (throwaway),"
        f" timeout {state.timeout:g} s, rubric {state.rubric.path}",
        f"grader: isolation {state.isolation}, limits: {state.limits.describe()}",
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check_id" in metafunc.fixturenames:
        state = metafunc.config.stash.get(STATE, None)
        ids = state.rubric.ids if state else []
        metafunc.parametrize("check_id", ids)


@pytest.fixture(scope="session")
def graded(request: pytest.FixtureRequest) -> GradeResult:
    """The submission graded once per session; every check test reads this result."""
    from grader.grading import Settings, grade

    state = request.config.stash[STATE]
    if state.result is None:
        settings = Settings(
            state.rubric,
            state.timeout,
            state.port,
            _progress(request.config),
            state.limits,
            state.isolation,  # type: ignore[arg-type]  # checked in pytest_configure
        )
        try:
            state.result = grade(state.submission, settings)
        except GraderError as err:
            state.failure = str(err)
            pytest.exit(f"the grader failed (not your submission's fault): {err}", returncode=3)
        if _junit_family(request.config) == "xunit2":
            # xunit2 allows <properties> on the testsuite only (pytest's junit-10.xsd).
            record = request.getfixturevalue("record_testsuite_property")
            for check in state.result.checks:
                record(f"{check.id}.points", f"{check.score:g}")
                record(f"{check.id}.max_points", f"{check.max_score:g}")
    return state.result


def _junit_family(config: pytest.Config) -> str | None:
    """The --junitxml flavour, None when pytest's junitxml plugin is off (-p no:junitxml)."""
    if not config.pluginmanager.has_plugin("junitxml"):
        return None
    return str(config.getini("junit_family") or "xunit2")


def _per_case(config: pytest.Config) -> bool:
    return _junit_family(config) in ("xunit1", "legacy")


def _progress(config: pytest.Config) -> Callable[[str], None]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(message: str) -> None:
        if reporter is None or config.get_verbosity() < 0:
            return
        # Progress goes to the terminal even while pytest captures output.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(f"grader: {message}")

    return say


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    state = item.config.stash.get(STATE, None)
    callspec = getattr(item, "callspec", None) if isinstance(item, pytest.Function) else None
    check_id = callspec.params.get("check_id") if callspec else None
    # record_property style: <properties> on the testcase, which only xunit1/legacy allow.
    if call.when == "call" and state and state.result and check_id and _per_case(item.config):
        check = state.result.check(str(check_id))
        item.user_properties += [
            ("check_id", check.id),
            ("points", f"{check.score:g}"),
            ("max_points", f"{check.max_score:g}"),
        ]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and state and state.result and check_id:
        from grader.report import failure_text

        # The reason is the feedback; a traceback into the grader would only hide it.
        report.longrepr = failure_text(state.result, str(check_id))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE, None)
    if state is None or state.result is None:
        return
    from grader.report import execution_lines, score_table

    result = state.result
    terminalreporter.section(
        f"{state.rubric.title}: {result.score:g}/{result.max_score:g}", sep="=", bold=True
    )
    width = shutil.get_terminal_size((120, 24)).columns
    for line in [*score_table(result, width), "", *execution_lines(result)]:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state:
        _write_outputs(state)


def _write_outputs(state: GradingState) -> None:
    """The JSON result, the feedback and, on GitHub Actions, the job summary and step outputs."""
    from grader import github
    from grader.report import feedback_markdown

    if state.result and state.json_path:
        state.result.write_json(state.json_path)
    if state.result and state.feedback_path:
        state.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        state.feedback_path.write_text(feedback_markdown(state.result), encoding="utf-8")
    if state.result or state.failure:
        github.publish(state.result, state.rubric, state.failure)
