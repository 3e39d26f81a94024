"""The pytest plugin behind `pytest grader`: options, the graded fixture, score output.

Wired in by the root conftest.py (`pytest_plugins = ["grader.frontends.plugin"]`). Grading starts
only when the grader's own tests are collected, so `pytest tests` pays nothing for it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Lab
from grader.engine.output.results import GradeResult
from grader.errors import GraderError, InvalidSubmission
from grader.frontends import quickexit
from grader.frontends.options import FLAGS, ISOLATION, LAB, RUBRIC
from grader.sandbox.limits import ISOLATIONS, Limits

if TYPE_CHECKING:
    from grader.engine.grade_server import Target
    from grader.engine.launcher import Launcher

PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class GradingState:
    submission: Path
    lab: Lab
    rubric: Rubric
    timeout: float
    port: socket.socket | None  # held from start-up: the header's URL is the one graded on
    json_path: Path | None
    limits: Limits
    isolation: str
    feedback_path: Path | None = None
    result: GradeResult | None = None
    failure: str | None = None  # why the grading machine failed, when it did
    keep_server: bool = False  # --keep-server: browse the graded run until Ctrl-C
    warm: bool = True  # --grade-cold: False
    launcher: Launcher | None = None  # what grading forks from; None: chosen when it starts
    target: Target | None = None  # --tracking-uri: grade what a server holds, run nothing
    # Owns the throwaway server handed over by the grading when --keep-server is given.
    kept: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    exitstatus: int | None = None
    session: pytest.Session | None = None  # its exitstatus is final once pytest unconfigures


STATE = pytest.StashKey[GradingState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "MLflow lab grader")
    group.addoption(LAB.flag, metavar=LAB.metavar, help=f"{LAB.help} [ini: {LAB.ini}]")
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
    group.addoption(RUBRIC.flag, metavar=RUBRIC.metavar, help=f"{RUBRIC.help} [ini: {RUBRIC.ini}]")
    group.addoption(
        ISOLATION.flag, choices=ISOLATIONS, help=f"{ISOLATION.help} [ini: {ISOLATION.ini}]"
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
    group.addoption(
        "--keep-server",
        action="store_true",
        default=None,
        help="after grading, keep the throwaway MLflow server up and print links to the graded"
        " run in the MLflow UI; Ctrl-C stops it [ini: grade_keep_server]",
    )
    group.addoption(
        "--grade-cold",
        action="store_true",
        default=None,
        help="start the kernel, the MLflow server and the model probe as fresh Pythons (slower)"
        " instead of forking them from a process that imported MLflow once [ini: grade_cold]",
    )
    group.addoption(
        "--tracking-uri",
        metavar="URL",
        help="grade what this tracking server already holds (e.g. a course's shared one),"
        " executing nothing; instead of --submission [ini: grade_tracking_uri]",
    )
    group.addoption(
        "--experiment",
        metavar="NAME",
        help="with --tracking-uri: the experiment to grade (default: the rubric's)"
        " [ini: grade_experiment]",
    )
    group.addoption(
        "--run-id",
        metavar="ID",
        help="with --tracking-uri: grade this run only (default: the best run of the"
        " experiment) [ini: grade_run_id]",
    )
    parser.addini("grade_lab", "the lab to grade", default="")
    parser.addini("grade_submission", "submission graded by default", default="")
    parser.addini("grade_timeout", "seconds allowed for executing the submission", default="300")
    parser.addini("grade_json", "where to write the JSON result", default="")
    parser.addini("grade_rubric", "rubric TOML", default="")
    parser.addini("grade_feedback", "where to write the feedback (Markdown)", default="")
    parser.addini("grade_keep_server", "keep the server up after grading", type="bool")
    parser.addini("grade_cold", "start kernel, server and probe as fresh Pythons", type="bool")
    parser.addini("grade_tracking_uri", "tracking server to grade as it is", default="")
    parser.addini("grade_experiment", "experiment to grade with --tracking-uri", default="")
    parser.addini("grade_run_id", "run to grade with --tracking-uri", default="")


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
    from grader import labs
    from grader.errors import RubricError
    from grader.sandbox.limits import with_values
    from grader.sandbox.procs import reserve_port

    try:
        lab = labs.load(*_setting(config, "--lab", "grade_lab"))
        rubric = lab.rubric(_path(config, "--rubric", "grade_rubric"))
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
    json_path = _path(config, "--grade-json", "grade_json")
    feedback_path = _path(config, "--grade-feedback", "grade_feedback")
    keep = _flag(config, "--keep-server", "grade_keep_server")
    tracking_uri = _setting(config, "--tracking-uri", "grade_tracking_uri")[0]
    if tracking_uri:
        state = GradingState(
            Path(tracking_uri),
            lab,
            rubric,
            timeout,
            None,
            json_path,
            limits,
            isolation,
            feedback_path,
        )
        config.stash[STATE] = _logged_state(config, tracking_uri, state)
        return
    for option, ini in (("--experiment", "grade_experiment"), ("--run-id", "grade_run_id")):
        if _setting(config, option, ini)[0]:
            raise pytest.UsageError(f"{option} selects what to grade with --tracking-uri URL only")
    # Without one: the lab's student template (what a fresh checkout of the course holds).
    submission = _path(config, "--submission", "grade_submission") or lab.template / lab.notebook
    state = GradingState(
        submission,
        lab,
        rubric,
        timeout,
        reserve_port(),
        json_path,
        limits,
        isolation,
        feedback_path,
        keep_server=keep,
        warm=not _flag(config, "--grade-cold", "grade_cold"),
    )
    config.stash[STATE] = state
    config.add_cleanup(state.kept.close)  # also when pytest_unconfigure is never reached
    state.launcher = _launcher(state, config)
    _reject_invalid(state)


def _launcher(state: GradingState, early: pytest.Config | None = None) -> Launcher:
    """Its own warm hosts (in a fork of a warm process that hands one down, that one), or cold.

    EARLY (as pytest configures): the hosts start now, and import while pytest collects and
    the grading prepares; they end with EARLY's cleanups if no grading takes them. A kept
    server is always cold: never a fork that outlives its host.
    """
    from grader.engine.launcher import COLD, roles_for
    from grader.engine.probe.model_probe import host_env
    from grader.sandbox.sandbox import choose_mode
    from grader.warm.warm_launcher import PrivateHost, launcher

    if not state.warm:
        return COLD
    chosen = launcher()
    if early and isinstance(chosen, PrivateHost) and not state.keep_server:
        try:
            mode = choose_mode(state.isolation)[0]  # type: ignore[arg-type]  # checked above
        except GraderError:
            return chosen  # the grading fails the same way, and says so where it does
        chosen.start(roles_for(mode), host_env(state.lab))
        early.add_cleanup(chosen.close)
    return chosen


def _flag(config: pytest.Config, option: str, ini: str) -> bool:
    value = config.getoption(option)
    return bool(config.getini(ini)) if value is None else bool(value)


def _logged_state(config: pytest.Config, uri: str, state: GradingState) -> GradingState:
    """--tracking-uri: what to grade on that server, checked before anything runs."""
    from grader.engine.grade_server import resolve
    from grader.engine.grading import invalid_result

    if config.getoption("--submission"):
        raise pytest.UsageError("pass either --submission PATH or --tracking-uri URL, not both")
    if config.getoption("--keep-server"):
        raise pytest.UsageError(
            "--keep-server keeps the grader's own throwaway server; with --tracking-uri the"
            " server is yours and stays up anyway (the links to the graded run are printed)"
        )
    experiment = _setting(config, "--experiment", "grade_experiment")[0] or None
    run_id = _setting(config, "--run-id", "grade_run_id")[0] or None
    try:
        state.target = resolve(uri, state.lab, state.rubric, experiment, run_id)
    except InvalidSubmission as err:
        state.result = invalid_result(uri, err.problem, state.rubric)
        _write_outputs(state)  # pytest stops here: no sessionfinish will write them
        raise pytest.UsageError(f"cannot grade {err}") from None
    return state


def _reject_invalid(state: GradingState) -> None:
    """An ungradable file: one line, no traceback, a non-zero exit, and still a JSON result."""
    from grader.engine.kernel.submission import load_submission

    try:
        load_submission(state.submission)
    except InvalidSubmission as err:
        from grader.engine.grading import invalid_result

        state.result = invalid_result(str(state.submission), err.problem, state.rubric)
        _write_outputs(state)  # pytest stops here: no sessionfinish will write them
        raise pytest.UsageError(f"cannot grade {err}") from None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    if state.target is not None:
        return [
            f"grader: grading what {state.target.label} holds; nothing is executed",
            f"grader: rubric {state.rubric.path}",
        ]
    assert state.port is not None
    return [
        f"grader: submission {state.submission}",
        f"grader: tracking server http://127.0.0.1:{state.port.getsockname()[1]} (throwaway),"
        f" timeout {state.timeout:g} s, rubric {state.rubric.path}"
        + ("" if state.warm else ", --grade-cold"),
        f"grader: isolation {state.isolation}, limits: {state.limits.describe()}",
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check_id" in metafunc.fixturenames:
        state = metafunc.config.stash.get(STATE, None)
        ids = state.rubric.ids if state else []
        metafunc.parametrize("check_id", ids)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Grade before the first check test starts: its progress lines then come before pytest
    opens the line of grader/test_lab.py's results, which they would otherwise split in two
    (the file's name printed twice)."""
    if session.config.option.collectonly or STATE not in session.config.stash:
        return
    if any("graded" in getattr(item, "fixturenames", ()) for item in session.items):
        _grade(session.config)


def _grade(config: pytest.Config) -> GradeResult:
    """The submission graded once per session, into the session's state."""
    from grader.engine.grade_server import grade_logged
    from grader.engine.grading import Settings, grade

    state = config.stash[STATE]
    if state.result is None:
        settings = Settings(
            state.lab,
            state.rubric,
            state.timeout,
            state.port,
            _progress(config),
            state.limits,
            state.isolation,  # type: ignore[arg-type]  # checked in pytest_configure
            launcher=state.launcher or _launcher(state),
        )
        try:
            if state.target is not None:
                state.result = grade_logged(state.target, settings)
            else:
                keep = state.kept if state.keep_server else None
                state.result = grade(state.submission, settings, keep)
        except GraderError as err:
            state.failure = str(err)
            pytest.exit(f"the grader failed (not your submission's fault): {err}", returncode=3)
    return state.result


@pytest.fixture(scope="session")
def graded(request: pytest.FixtureRequest) -> GradeResult:
    """The submission graded once per session; every check test reads this result."""
    result = _grade(request.config)
    if _junit_family(request.config) == "xunit2":
        # xunit2 allows <properties> on the testsuite only (pytest's junit-10.xsd).
        record = request.getfixturevalue("record_testsuite_property")
        for check in result.checks:
            record(f"{check.id}.points", f"{check.score:g}")
            record(f"{check.id}.max_points", f"{check.max_score:g}")
    return result


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
        from grader.engine.output.report import failure_text

        # The reason is the feedback; a traceback into the grader would only hide it, and so
        # would the kernel's and the server's chatter captured while grading.
        report.longrepr = failure_text(state.result, str(check_id))
        report.sections = [s for s in report.sections if not s[0].startswith("Captured")]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE, None)
    if state is None or state.result is None:
        return
    from grader.engine.output.report import execution_lines, score_table

    result = state.result
    terminalreporter.section(
        f"{state.rubric.title}: {result.score:g}/{result.max_score:g}", sep="=", bold=True
    )
    width = shutil.get_terminal_size((120, 24)).columns
    for line in [*score_table(result, width), "", *execution_lines(result)]:
        terminalreporter.write_line(line)
    if state.target is not None:
        terminalreporter.write_line("")
        for line in _ui_lines(state, "MLflow UI of the graded run:"):
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state:
        state.exitstatus, state.session = exitstatus, session
        _write_outputs(state)
        if quickexit.pytest_command_line() and not state.keep_server:
            quickexit.freeze()


def _write_outputs(state: GradingState) -> None:
    """The JSON result, the feedback and, on GitHub Actions, the job summary and step outputs."""
    from grader.engine.output.report import feedback_markdown
    from grader.platforms import github

    if state.result and state.json_path:
        state.result.write_json(state.json_path)
    if state.result and state.feedback_path:
        state.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        state.feedback_path.write_text(
            feedback_markdown(state.result, state.rubric.title), encoding="utf-8"
        )
    if state.result or state.failure:
        github.publish(state.result, state.rubric, state.failure)


def pytest_unconfigure(config: pytest.Config) -> None:
    """--keep-server: after everything is reported, serve the graded run until Ctrl-C."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    with state.kept:  # ends the server's whole process tree, then removes its store
        if state.keep_server and state.result is not None and _ended_normally(state):
            _serve_until_interrupted(config, state)
    if state.session is not None and quickexit.pytest_command_line():
        quickexit.arm(state.session.exitstatus)


def _ended_normally(state: GradingState) -> bool:
    return state.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def _serve_until_interrupted(config: pytest.Config, state: GradingState) -> None:
    from grader.engine.grading import sigterm_as_interrupt

    assert state.result is not None
    server = state.result.tracking.server
    head = f"MLflow UI of the graded run (server {server} kept running; Ctrl-C stops it):"
    _say(config, ["", *_ui_lines(state, head)])
    try:
        with sigterm_as_interrupt():
            while True:
                time.sleep(0.5)
    except KeyboardInterrupt:
        _say(config, [f"stopping the MLflow server at {server}"])


def _ui_lines(state: GradingState, head: str) -> list[str]:
    from grader.engine.output.ui_links import graded_links, link_lines

    assert state.result is not None
    links, notes = graded_links(state.result, state.lab.registered_models(state.rubric))
    return [head, *link_lines(links, notes)]


def _say(config: pytest.Config, lines: list[str]) -> None:
    """Lines on the terminal, flushed: after the session pytest's capture may still be on."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line)
        if reporter is not None:
            reporter.flush()
