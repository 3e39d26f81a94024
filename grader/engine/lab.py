"""What the engine needs of a lab: the one interface a lab plug-in fills in.

A lab lives in its own folder, grader/labs/<id>/, whose package defines `LAB = Lab(...)`
(grader.labs finds it). The engine never names a lab's dataset, estimator, experiment or
model: it reads them from the Lab it is handed (Settings.lab) and from the lab's rubric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.engine.evidence import Candidate, Check, Evidence, NamespaceCapture
    from grader.engine.rubric import CheckSpec, Rubric
    from grader.engine.tracking import Search


@dataclass(frozen=True)
class TestSplit:
    """The rows the lab's models are judged on, recomputed by the grader.

    X: what the probe asks each logged model to predict (rows of floats);
    y: the true targets, for a metric the checks recompute.
    """

    X: Any
    y: tuple[float, ...]


@dataclass(frozen=True)
class Capture:
    """What the kernel reports of the notebook's variables after the run.

    RUN_IDS: variables (also reported if not among VARIABLES) whose runs the kernel lists by
    id, in order: a DataFrame of mlflow.search_runs (its "run_id" column), a list of runs
    (search_runs(output_format="list"), MlflowClient.search_runs) or one run
    (evidence: VariableCapture.run_ids).
    """

    variables: tuple[str, ...] = ()
    column: str = ""  # the column of a DataFrame among them that holds predictions
    run_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectedError:
    """An error a correct notebook raises on purpose (the lab says so): the cells after it
    still run, and the feedback says why it was expected."""

    ename: str  # the exception's class name, as the kernel reports it
    contains: str  # text its message must contain
    why: str  # for the feedback: the lab step that raises it by design


@dataclass(frozen=True)
class Compatibility:
    """A default of the libraries as it was when the lab was written, restored in the kernel
    before the first cell, so that the lab's published code runs here as it did then.

    SWITCH names one of the switches grader.engine.kernel_side knows (SWITCHES there), set to
    VALUE. Named in the feedback like a tracking-URI redirect: a student's own environment
    does not have it, and WHY says what it restores and the fix there.
    """

    switch: str
    value: str
    why: str


def _no_notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    return []


def _no_hint(ename: str, evalue: str) -> str | None:
    return None


def _no_searches(rubric: Rubric, capture: NamespaceCapture | None) -> Mapping[str, Search]:
    return {}


@dataclass(frozen=True)
class Lab:
    """A gradable lab: its checks and the facts the engine needs to collect their evidence."""

    id: str  # the folder's name: `--lab ID`
    folder: Path  # grader/labs/<id>/: its rubric.toml and its data
    notebook: str  # the file name students edit (a released repository, Gradescope)
    reference: Path  # folder of the reference solution (full marks)
    template: Path  # folder of the student template (a useful zero)
    checks: Mapping[str, Check]  # check id -> check function (the rubric's ids are these)
    # Ids scored per (run, logged model) candidate; the best candidate is graded.
    run_checks: frozenset[str]
    candidates: Callable[[Evidence], list[Candidate]]
    # The rows its logged models are probed on; None: the lab judges no model, so no model
    # is probed (Evidence.predictions stays empty, Evidence.y_test is ()).
    test_split: Callable[[Rubric], TestSplit] | None = None
    summary: str = ""  # one line for `labgrade labs`
    # The course's own notebook for the lab, as handed out to students: kept among the tests'
    # labelled submissions of a clone, so an installed wheel has none (`labgrade labs` says so).
    course: Path | None = None
    # Variables the kernel reports after the run (e.g. ("result", "predictions")), and the
    # column of a DataFrame among them that holds predictions, as the rubric names them.
    capture: Callable[[Rubric], Capture] = field(default=lambda rubric: Capture())
    expected_errors: tuple[ExpectedError, ...] = ()
    compatibility: tuple[Compatibility, ...] = ()
    # Modules the model probe imports while the notebook runs, and one model the probe saves
    # and loads once before any real one ("module:Class", fitted on 4 rows), so that its first
    # real load finds MLflow's lazy imports warm.
    probe_modules: tuple[str, ...] = ()
    probe_rehearsal: str = ""
    # Modules the lab's notebooks import, imported once by a warm host so that each kernel it
    # forks starts holding them (grader.engine.launch). Only the lab's own modules: a module
    # a notebook does not import would be there for it all the same.
    preload: tuple[str, ...] = ()
    # The check whose `name` option is the experiment graded (`--experiment` overrides it);
    # None: the lab sets no experiment (runs go to the Default one).
    experiment_check: str | None = None
    # Checks whose `name` option is a registered model (for the UI links of --keep-server).
    model_checks: tuple[str, ...] = ()
    notes: Callable[[Evidence, Candidate | None, list[Candidate]], list[str]] = field(
        default=_no_notes
    )
    error_hint: Callable[[str, str], str | None] = field(default=_no_hint)
    # Check id -> what the check wants, in a student's words, from its rubric options (the
    # released README's table): a rubric's options are the grader's terms, not theirs.
    wants: Mapping[str, Callable[[CheckSpec], str]] = field(default_factory=dict)
    # Searches of runs the grader makes on the server after the run, by name, from the rubric
    # and what the notebook left (ids it chose, say): their answers are Evidence.searches,
    # what a check compares a notebook's own search results with.
    searches: Callable[[Rubric, NamespaceCapture | None], Mapping[str, Search]] = field(
        default=_no_searches
    )

    def split(self, rubric: Rubric) -> TestSplit | None:
        """The lab's test split, or None when it has no model to probe."""
        return None if self.test_split is None else self.test_split(rubric)

    @property
    def rubric_path(self) -> Path:
        return self.folder / "rubric.toml"

    @property
    def known_ids(self) -> frozenset[str]:
        return frozenset(self.checks)

    def rubric(self, path: Path | None = None) -> Rubric:
        """The lab's rubric, or the one at PATH (an instructor's own), checked against the
        lab's check ids."""
        from grader.engine.rubric import load_rubric

        return load_rubric(path or self.rubric_path, self.known_ids)

    def expected(self, ename: str, evalue: str) -> ExpectedError | None:
        """The lab's expected error that ENAME: EVALUE is, if any."""
        return next(
            (e for e in self.expected_errors if e.ename == ename and e.contains in evalue), None
        )

    def experiment(self, rubric: Rubric) -> str | None:
        """The experiment the rubric expects, if the lab sets one."""
        if self.experiment_check is None or self.experiment_check not in rubric.ids:
            return None
        return str(rubric.check(self.experiment_check).option("name"))

    def describe(self, spec: CheckSpec) -> str:
        """What SPEC's check wants, in plain words (its title where the lab says nothing)."""
        wants = self.wants.get(spec.id)
        return wants(spec) if wants is not None else spec.title

    def registered_models(self, rubric: Rubric) -> tuple[str, ...]:
        return tuple(
            str(rubric.check(cid).option("name")) for cid in self.model_checks if cid in rubric.ids
        )
