"""What a grading can read in full isolation: its view (grader.sandbox.sandbox.view), an
allow-list, and nothing of the checkout, the corpora, the references or the rubrics."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from grader import labs
from grader.engine.kernel.submission import load_submission
from grader.engine.lab import Lab
from grader.engine.probe.model_probe import CHILD
from grader.sandbox.limits import Limits
from grader.sandbox.sandbox import GRADER, Sandbox, full_unavailable, python_roots, view
from tests.helpers import ROOT, GradingRun

FULL = full_unavailable()
needs_full = pytest.mark.skipif(FULL is not None, reason=f"full isolation unavailable: {FULL}")

# Lists every root a process can read: a path whose parent is a folder of the jail's own
# empty root, and which is itself something else (a mount, a file, a symlink).
LIST_ROOTS = r"""
import json, os, sys
roots = []
def walk(path):
    if path != "/" and (os.path.islink(path) or not os.path.isdir(path) or os.path.ismount(path)):
        roots.append(path)
        return
    for name in sorted(os.listdir(path)):
        walk(os.path.join(path, name))
walk("/")
probe = {p: os.path.exists(p) for p in sys.argv[1:]}
print(json.dumps({"roots": roots, "exists": probe}))
"""


def _in_jail(tmp_path: Path, code: str, *args: str, hide: tuple[Path, ...] = ()) -> str:
    work = tmp_path / "work"
    work.mkdir()
    with Sandbox(tmp_path, Limits(), port=5000, isolation="full", hide=hide) as box:
        script = box.script(CHILD)
        command = box.command("probe", [sys.executable, "-I", "-c", code, *args], work)
        done = subprocess.run(
            command,
            env=box.env("probe", work, {}),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert script == "/labgrade/probe_child.py"
    return done.stdout


@needs_full
def test_a_jail_reads_its_view_and_nothing_more(tmp_path: Path) -> None:
    """Fails on any new readable root: what is not in the allow-list cannot be named."""
    secrets = [ROOT / "tests", ROOT / ".git", ROOT / "reference", GRADER, Path.home() / ".bashrc"]
    shown = [p for p in view() if Path(p).exists() or Path(p).is_symlink()]
    out = json.loads(_in_jail(tmp_path, LIST_ROOTS, *map(str, secrets), *shown))
    # A Python under /tmp (a clone there, its .venv) is shown inside the jail's own /tmp.
    expected = {p for p in shown if not p.startswith("/tmp/")}
    expected |= {"/proc", "/tmp", "/var/tmp", "/run/lock", "/labgrade/probe_child.py"}
    assert set(out["roots"]) == expected
    assert out["exists"] == {
        **dict.fromkeys(map(str, secrets), False),
        **dict.fromkeys(shown, True),
    }


def test_the_view_holds_python_and_never_the_checkout() -> None:
    shown = [Path(p) for p in view()]
    assert all(any(r == s or s in r.parents for s in shown) for r in python_roots())
    for path in shown:
        # Python's own folders may sit inside a clone (.venv); nothing else of it may.
        inside = path == ROOT or ROOT in path.parents
        assert not inside or path.name == ".venv" or ".venv" in path.parts, path
        assert path != GRADER, path
        assert GRADER not in path.parents, path
        assert path not in ROOT.parents, path


@needs_full
def test_what_lies_inside_the_view_but_is_the_grader_s_is_covered(tmp_path: Path) -> None:
    """A wheel install puts the grader's package (labs, rubrics, references) among the
    packages the kernel imports: it is covered there, as any path the grading hides."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    planted = site / "labgrade_test_hidden"
    planted.mkdir()
    try:
        (planted / "answers.py").write_text("SOLUTION = 1\n")
        hidden = planted / "answers.py"
        out = json.loads(_in_jail(tmp_path, LIST_ROOTS, str(hidden), hide=(planted,)))
    finally:
        (planted / "answers.py").unlink()
        planted.rmdir()
    assert out["exists"] == {str(hidden): False}


# A submission with no lab code of its own: it searches all it can read for a file that holds
# the lab's solution (the reference's own longest lines), executes the first one it finds, and
# reports what it read, found and suspected in its last line, which the feedback shows.
HUNTER = r"""
import json, os, re
MARKS = {marks!r}
SUFFIXES = (".ipynb", ".py", ".toml", ".md", ".txt")
read, hits, suspects = 0, [], []
for root, dirs, files in os.walk("/"):
    # Not its own folder (a copy of itself: /tmp, and the same tmpfs at /var/tmp, /run/lock).
    if root in ("/proc", "/sys", "/dev", "/tmp", "/var/tmp", "/run/lock"):
        dirs[:] = []
        continue
    here = [os.path.join(root, d) for d in dirs]
    suspects += [p for p in here if p.endswith(("/.git", "/grader/labs", "/tests/labs"))]
    for name in files:
        if not name.endswith(SUFFIXES):
            continue
        path = os.path.join(root, name)
        try:
            if os.stat(path).st_size > 262144:
                continue
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        read += 1
        if all(m in text for m in MARKS):
            hits.append(path)
for path in hits[:1]:
    text = open(path, encoding="utf-8").read()
    cells = json.loads(text)["cells"] if path.endswith(".ipynb") else [{{"source": text}}]
    for cell in cells:
        source = "".join(cell["source"]) if cell.get("cell_type", "code") == "code" else ""
        source = re.sub(r"(?m)^\s*[%!].*$", "", source)
        exec(compile(source, path, "exec"), globals())
raise RuntimeError(f"HUNT read={{read}} hits={{len(hits)}} suspects={{len(suspects)}}")
"""


def _marks(lab: Lab) -> list[str]:
    """The reference's three longest code lines: a file holding all three is its solution."""
    cells = load_submission(lab.reference).notebook.cells
    lines = {ln.strip() for c in cells if c.cell_type == "code" for ln in c.source.splitlines()}
    return sorted(lines, key=len)[-3:]


def _hunter(lab_id: str, folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(HUNTER.format(marks=_marks(labs.load(lab_id)))))
    path = folder / f"hunter_{lab_id}.ipynb"
    nbformat.write(nb, path)
    return path


@needs_full
@pytest.mark.slow
@pytest.mark.parametrize("lab_id", labs.ids())
def test_no_submission_finds_and_runs_a_solution(
    lab_id: str, tmp_path: Path, graded_run: Callable[..., GradingRun]
) -> None:
    """Graded from a clone whose corpora, references and git history are all on disk."""
    assert any((ROOT / "tests" / "labs").rglob("*.ipynb"))
    run = graded_run(_hunter(lab_id, tmp_path), "--lab", lab_id)
    assert run.result is not None, run.stderr[-2000:]
    error = run.result["execution"]["error"] or ""
    found = dict(x.split("=") for x in error.split("HUNT ", 1)[1].split()[:3])
    assert int(found["read"]) > 1000, error  # it did search: Python's own files are there
    assert found["hits"] == "0", error
    assert found["suspects"] == "0", error
    assert run.result["score"] < run.result["max_score"]
    # What the submission said reaches its result (the terminal also shows the grader's own
    # banner, which names the rubric it grades with).
    said = json.dumps(run.result)
    lab = labs.load(lab_id)
    for name in ("submissions", "adversarial", str(ROOT / "tests"), str(lab.reference), "rubric"):
        assert name not in said, name
