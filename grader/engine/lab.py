"""What the engine needs of a lab: the one interface a lab plug-in fills in.

A lab is a folder whose package defines `LAB = Lab(...)`: one of grader/labs/<id>/, or an
instructor's own, named by its path (grader.labs finds both). The engine never names a lab's
dataset, estimator, experiment or model: it reads them from the Lab it is handed
(Settings.lab) and from the lab's rubric.

A Lab says four things, each a record documented where it is defined here:

- what the lab is (`Lab` itself): its id, title, the notebook students edit, its checks;
- what its notebook does by design (`Design`): errors it raises on purpose, library defaults
  its published code needs restored, web addresses it fetches (answered from the lab's files);
- what evidence its checks read (`Needs`): which runs are candidates, the rows a logged model
  is judged on, the notebook's variables reported after the run, the checks that name its
  experiment and models;
- what its feedback adds (`Feedback`): notes on the code, the fix for an error a cell raised.

and, optionally, how its gradings are made quick (`Speed`). Everything but the first has a
default that fits a lab which needs nothing of it. A lab of one folder keeps its notebooks in
it (reference/, template/, course/); the grader's own labs keep theirs outside the folder a
bundle ships: `reference/<id>/` and `student_template/<id>/` at the repository's top level, the
course's notebook among its labelled submissions in `tests/labs/<id>/submissions/`
(docs/writing-a-lab.md; tests/test_docs.py holds that page to the fields below).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.engine.evidence.records import Candidate, Check, Evidence, NamespaceCapture
    from grader.engine.evidence.rubric import CheckSpec, Rubric
    from grader.engine.evidence.server_reads import Search


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
    """What the kernel reports of the notebook's variables after the run (or a Python the
    notebook started left at its exit, where the kernel has none such).

    RUN_IDS: variables (also reported if not among VARIABLES) whose runs the kernel lists by
    id, in order: a DataFrame of mlflow.search_runs (its "run_id" column), a list of runs
    (search_runs(output_format="list"), MlflowClient.search_runs) or one run
    (evidence: VariableCapture.run_ids).
    """

    variables: tuple[str, ...] = ()
    column: str = ""  # the column of a DataFrame among them that holds predictions
    # Variables among VARIABLES reported whole, row by row (a DataFrame's every column, an
    # array's rows): the data the notebook itself used, for a lab that cannot regenerate it.
    tables: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()


def _no_searches(rubric: Rubric, capture: NamespaceCapture | None) -> Mapping[str, Search]:
    return {}


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
    (and in every Python it starts) before the first cell, so that the lab's published code
    runs here as it did then.

    The lab owns the code: FUNCTION of SCRIPT, a self-contained Python file (standard library
    and the environment's packages only: it runs inside the sandbox, where the grader's own
    modules are not importable), is called as FUNCTION(VALUE, changed), where `changed()`
    records that it changed one of the notebook's calls. The output names NAME only then,
    with WHY: what it restores and the fix on a student's own machine, which does not have it.
    """

    name: str
    script: Path
    function: str
    value: str
    why: str


@dataclass(frozen=True)
class Fixture:
    """A web address the lab's notebook fetches, answered inside the sandbox (which has no
    network) with a file the lab ships, however the notebook fetches it: urllib (and
    pandas.read_csv of a URL), requests, MLflow's own downloads. Every other address stays
    closed. The file is the lab's stand-in for the real one: its content need not be the same,
    only its shape (columns, separator) as the published code reads it."""

    url: str  # exactly as the notebook passes it
    path: Path  # the file that answers it, in the lab's folder
    content_type: str = "text/csv"


@dataclass(frozen=True)
class Design:
    """What a correct notebook of the lab does by design, which a grader must not hold
    against it."""

    # Errors a step raises on purpose: the cells after it still run (Lab.expected).
    expected_errors: tuple[ExpectedError, ...] = ()
    # Library defaults restored in the kernel before the first cell, each named in the
    # output where it changed a call.
    compatibility: tuple[Compatibility, ...] = ()
    # Web addresses the notebook fetches, answered from the lab's files (no network here).
    fixtures: tuple[Fixture, ...] = ()


@dataclass(frozen=True)
class Needs:
    """The evidence the lab's checks read, beyond what every grading collects (the server's
    experiments, runs, logged and registered models; the notebook's pyfunc loads and logging
    calls; the code as run)."""

    # The runs the run checks are scored on, as (run, logged model) candidates; the best is
    # graded. None: every run on the server (grader.engine.scoring.all_runs).
    candidates: Callable[[Evidence], list[Candidate]] | None = None
    # The rows each candidate's logged model predicts in the confined probe, and the true
    # targets a check recomputes a metric from. None: the lab judges no model's predictions,
    # and no probe is started.
    test_split: Callable[[Rubric], TestSplit] | None = None
    # The notebook's variables the kernel reports after the run (e.g. lab 1's `result`).
    capture: Callable[[Rubric], Capture] = field(default=lambda rubric: Capture())
    # The split the notebook itself used, read from its capture after the run, in place of
    # test_split's rows and targets: for a lab whose data cannot be regenerated (it depends on
    # the day the notebook runs). None from it: the notebook left no such data, and
    # test_split's stand (the checks say what is missing).
    used_split: Callable[[NamespaceCapture | None], TestSplit | None] | None = None
    # The check whose `name` option is the experiment graded (`--experiment` overrides it;
    # `--tracking-uri` grading reads it); None: runs go to the Default experiment.
    experiment_check: str | None = None
    # Checks whose `name` option is a registered model (the UI links of --keep-server).
    model_checks: tuple[str, ...] = ()
    # Searches of runs the grader makes on the server after the run, by name, from the rubric
    # and the capture (ids the notebook chose, say); their answers are Evidence.searches, what
    # a check compares the notebook's own search results with (None capture: nothing ran).
    searches: Callable[[Rubric, NamespaceCapture | None], Mapping[str, Search]] = field(
        default=_no_searches
    )


def _no_notes(ev: Evidence, best: Candidate | None, pool: list[Candidate]) -> list[str]:
    return []


def _no_hint(ename: str, evalue: str) -> str | None:
    return None


@dataclass(frozen=True)
class Feedback:
    """What the lab adds to the feedback the engine writes for every lab."""

    # Notes on the code as run (a deprecated spelling, say), given the evidence, the graded
    # candidate and all of them.
    notes: Callable[[Evidence, Candidate | None, list[Candidate]], list[str]] = field(
        default=_no_notes
    )
    # The fix for an error a cell raised (ENAME, EVALUE), where the lab knows one; the engine
    # adds the generic ones (a name not defined, a missing module).
    error_hint: Callable[[str, str], str | None] = field(default=_no_hint)


@dataclass(frozen=True)
class Speed:
    """Optional head starts: a grading is the same without them, only slower."""

    # Modules the lab's notebooks import, imported once by a warm host so that each kernel it
    # forks starts holding them (grader.engine.launcher). Only the lab's own modules: a module
    # a notebook does not import would be there for it all the same.
    preload: tuple[str, ...] = ()
    # Modules the model probe imports while the notebook runs, and one model it saves and
    # loads once before any real one ("module:Class", fitted on 4 rows, saved with
    # REHEARSAL_OPTIONS as keywords of mlflow.sklearn.save_model), so that its first real load
    # finds MLflow's lazy imports warm.
    probe_modules: tuple[str, ...] = ()
    probe_rehearsal: str = ""
    rehearsal_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lab:
    """A gradable lab: what it is, its checks, and the records above (each has a default)."""

    id: str  # the folder's name: `--lab ID`
    title: str  # one line for `labgrade labs`
    folder: Path  # grader/labs/<id>/ or the lab's own: its rubric.toml, checks and data
    notebook: str  # the file name students edit (a released repository, Gradescope)
    checks: Mapping[str, Check]  # check id -> check function (the rubric's ids are these)
    # Ids scored per (run, logged model) candidate (Needs.candidates); the best is graded.
    run_checks: frozenset[str] = frozenset()
    # Check id -> what the check wants, in a student's words, from its rubric options (the
    # released README's table): a rubric's options are the grader's terms, not theirs.
    wants: Mapping[str, Callable[[CheckSpec], str]] = field(default_factory=dict)
    # The file name, in the folder's course/ or else among tests/labs/<id>/submissions/, of the
    # course's notebook as handed out to students ("": none). A clone has it; an installed
    # wheel has no tests.
    course_notebook: str = ""
    design: Design = Design()
    needs: Needs = Needs()
    feedback: Feedback = Feedback()
    speed: Speed = Speed()

    @property
    def repository(self) -> Path:
        """The checkout the lab's folder is in (grader/labs/<id> -> its root)."""
        return self.folder.parents[2]

    @property
    def reference(self) -> Path:
        """Folder of the reference solution (full marks): the lab folder's own reference/,
        where it has one (a lab of one folder), else reference/<id>/ at the top level."""
        return self._notebooks("reference", "reference", self.id)

    @property
    def template(self) -> Path:
        """Folder of the student template (a useful zero): the lab folder's own template/,
        where it has one, else student_template/<id>/ at the top level."""
        return self._notebooks("template", "student_template", self.id)

    @property
    def course(self) -> Path | None:
        """The course's notebook as handed out, where this checkout has it: in the lab
        folder's own course/, else among the lab's labelled submissions."""
        if not self.course_notebook:
            return None
        where = self._notebooks("course", "tests", "labs", self.id, "submissions")
        return where / self.course_notebook

    def _notebooks(self, own: str, *top: str) -> Path:
        # A lab of one folder keeps its notebooks in it; the grader's own labs keep theirs at
        # the repository's top level, which a bundle's copy of the lab's folder never holds.
        mine = self.folder / own
        return mine if mine.is_dir() else self.repository.joinpath(*top)

    @property
    def rubric_path(self) -> Path:
        return self.folder / "rubric.toml"

    @property
    def known_ids(self) -> frozenset[str]:
        return frozenset(self.checks)

    def rubric(self, path: Path | None = None) -> Rubric:
        """The lab's rubric, or the one at PATH (an instructor's own), checked against the
        lab's check ids."""
        from grader.engine.evidence.rubric import load_rubric

        return load_rubric(path or self.rubric_path, self.known_ids)

    def split(self, rubric: Rubric) -> TestSplit | None:
        """The rows logged models are judged on (Needs.test_split), if the lab judges any."""
        return self.needs.test_split(rubric) if self.needs.test_split is not None else None

    def split_used(self, rubric: Rubric, capture: NamespaceCapture | None) -> TestSplit | None:
        """The rows the probe predicts and the targets the checks compare: what the notebook
        used (Needs.used_split) where the lab reads that, else the lab's test split."""
        used = self.needs.used_split(capture) if self.needs.used_split is not None else None
        return used if used is not None else self.split(rubric)

    def targets(self, rubric: Rubric) -> tuple[float, ...]:
        """The true targets of the test split; none for a lab without one."""
        split = self.split(rubric)
        return split.y if split is not None else ()

    def expected(self, ename: str, evalue: str) -> ExpectedError | None:
        """The lab's expected error that ENAME: EVALUE is, if any."""
        return next(
            (e for e in self.design.expected_errors if e.ename == ename and e.contains in evalue),
            None,
        )

    def experiment(self, rubric: Rubric) -> str | None:
        """The experiment the rubric expects, if the lab sets one."""
        check = self.needs.experiment_check
        if check is None or check not in rubric.ids:
            return None
        return str(rubric.check(check).option("name"))

    def describe(self, spec: CheckSpec) -> str:
        """What SPEC's check wants, in plain words (its title where the lab says nothing)."""
        wants = self.wants.get(spec.id)
        return wants(spec) if wants is not None else spec.title

    def registered_models(self, rubric: Rubric) -> tuple[str, ...]:
        return tuple(
            str(rubric.check(cid).option("name"))
            for cid in self.needs.model_checks
            if cid in rubric.ids
        )
