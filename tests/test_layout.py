"""The layout shows the design: imports run one way, the engine knows no front end, course tool,
platform, lab or speed-up, and nothing outside grader/labs/ knows which lab it grades.

Read statically (ast), every import counts: at the top, in a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sklearn.datasets

from grader import labs
from grader.engine.lab import Lab
from tests.helpers import ROOT

GRADER = ROOT / "grader"
# Above the engine and the sandbox: they are handed what they need, never import it.
ABOVE_ENGINE = (
    "grader.warm",
    "grader.frontends",
    "grader.course",
    "grader.platforms",
    "grader.labs",
)


def lab_words(lab: Lab) -> set[str]:
    """A lab's own words, read from the lab itself: the names its rubric gives (an experiment,
    a registered model, a tag: the option values with a space, a hyphen or a dotted class
    path), the estimator it rehearses, and the datasets its folder's code loads."""
    words: set[str] = set()
    for spec in lab.rubric().checks:
        for value in spec.options.values():
            values = value if isinstance(value, (list, tuple, dict)) else [value]
            for text in (v for v in values if isinstance(v, str)):
                if "." in text and text.rpartition(".")[2][:1].isupper():
                    words.add(text.rpartition(".")[2])  # sklearn.ensemble.RandomForestRegressor
                elif (" " in text or "-" in text) and len(text) >= 6:
                    words.add(text)
    if lab.speed.probe_rehearsal:
        words.add(lab.speed.probe_rehearsal.rpartition(":")[2])
    for path in lab.folder.rglob("*.py"):
        for loader in re.findall(r"\b((?:load|make|fetch)_\w+)\(", path.read_text()):
            if not hasattr(sklearn.datasets, loader):
                continue  # mlflow.pyfunc.load_model, say: not a dataset of the lab's
            words |= (
                {loader, loader.removeprefix("load_")} if loader.startswith("load_") else {loader}
            )
    return words


LAB_WORDS = tuple(sorted(set().union(*(lab_words(lab) for lab in labs.all_labs()))))


def modules(root: Path, package: str) -> dict[str, Path]:
    """{dotted name: file} of every module of PACKAGE, found in ROOT/PACKAGE."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    """NAME, or the module it is an attribute of: its longest prefix that is a module."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: dict[str, Path], package: str) -> set[str]:
    """The modules of PACKAGE that MODULE imports; `from a import b` is a.b if that is one."""
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            found |= {_known(a.name, known) for a in node.names if _ours(a.name, package)}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if _ours(base, package):
                found |= {_known(f"{base}.{a.name}", known) for a in node.names}
    found.discard(None)
    found.discard(module)
    return {name for name in found if name is not None}


def _ours(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def import_graph(root: Path, package: str = "grader") -> dict[str, set[str]]:
    known = modules(root, package)
    return {name: imports_of(name, path, known, package) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of modules that import each other, as [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _named(cycle: list[str], graph: dict[str, set[str]]) -> str:
    """The cycle, and every module that is in a cycle with it."""
    group = {m for m in graph if m in _reach(cycle[0], graph) and cycle[0] in _reach(m, graph)}
    others = sorted(group - set(cycle))
    return " -> ".join(cycle) + (f" (and through {', '.join(others)})" if others else "")


def _reach(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the group's first module (breadth first, within the group)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in sorted(graph[node] & group):
                if dep == start:
                    return [*paths[node], start]
                if dep not in paths:
                    paths[dep] = [*paths[node], dep]
                    following.append(dep)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


def imports_from_above(graph: dict[str, set[str]]) -> list[str]:
    """'module imports dep' for each import of the engine or the sandbox from above them."""
    return [
        f"{module} imports {dep}"
        for module, deps in sorted(graph.items())
        if _ours_any(module, ("grader.engine", "grader.sandbox"))
        for dep in sorted(deps)
        if _ours_any(dep, ABOVE_ENGINE)
    ]


# The engine's rooms, bottom up: each imports only those below it (kernel and probe share a
# level and import neither the other). What is not listed is the engine's top: grading, the
# grading of a server as it is, and scoring, which may import any room.
ENGINE_ROOMS: tuple[tuple[str, ...], ...] = (
    ("grader.engine.launcher",),
    ("grader.engine.server",),
    ("grader.engine.evidence",),
    ("grader.engine.output",),
    ("grader.engine.lab",),
    ("grader.engine.kernel", "grader.engine.probe"),
)


def _room(module: str) -> int | None:
    for level, rooms in enumerate(ENGINE_ROOMS):
        if any(_ours(module, room) for room in rooms):
            return level
    return None


def upward_in_the_engine(graph: dict[str, set[str]]) -> list[str]:
    """'module imports dep' for each import of a room at its level or above it (its own
    room excepted), or of the engine's top from a room."""
    found = []
    for module, deps in sorted(graph.items()):
        level = _room(module)
        if level is None:
            continue
        own = next(r for r in ENGINE_ROOMS[level] if _ours(module, r))
        for dep in sorted(deps):
            if not _ours(dep, "grader.engine") or _ours(dep, own):
                continue
            other = _room(dep)
            if other is None or other >= level:
                found.append(f"{module} imports {dep}")
    return found


def beyond_the_engine(graph: dict[str, set[str]], module: str = "grader.engine.lab") -> list[str]:
    """The grader's modules MODULE imports that are not the engine's."""
    return sorted(d for d in graph.get(module, ()) if not d.startswith("grader.engine."))


def _ours_any(name: str, packages: tuple[str, ...]) -> bool:
    return any(_ours(name, package) for package in packages)


def lab_words_in(folder: Path, skip: Path | None = None) -> list[str]:
    """'file: word' for each file under FOLDER (not under SKIP) naming one lab's specifics."""
    pattern = re.compile("|".join(re.escape(w) for w in LAB_WORDS), re.IGNORECASE)
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if skip is not None and skip in path.parents:
            continue
        words = sorted({m.group(0) for m in pattern.finditer(path.read_text(errors="replace"))})
        found += [f"{path.relative_to(folder.parent)}: {word!r}" for word in words]
    return found


# ----- the grader's own layout -----


def test_no_module_of_the_grader_imports_itself_back() -> None:
    graph = import_graph(ROOT)
    found = cycles(graph)
    assert found == [], "import cycles:\n" + "\n".join(_named(c, graph) for c in found)


def test_the_engine_and_the_sandbox_import_nothing_above_them() -> None:
    assert imports_from_above(import_graph(ROOT)) == []


def test_the_engine_rooms_import_downwards_only() -> None:
    graph = import_graph(ROOT)
    rooms = {r for level in ENGINE_ROOMS for r in level}
    assert all(any(_ours(m, r) for m in graph) for r in rooms), "a room of the list is gone"
    assert upward_in_the_engine(graph) == []


def test_the_lab_interface_imports_the_engine_only() -> None:
    graph = import_graph(ROOT)
    assert "grader.engine.lab" in graph
    assert beyond_the_engine(graph) == []


def test_every_lab_has_words_of_its_own_for_the_check_below() -> None:
    for lab in labs.all_labs():
        assert len(lab_words(lab)) >= 3, (lab.id, lab_words(lab))
    assert {"iris", "LogisticRegression", "MLflow Quickstart", "tracking-quickstart"} <= set(
        LAB_WORDS
    )


def test_nothing_outside_the_labs_names_a_labs_specifics() -> None:
    assert lab_words_in(GRADER, skip=GRADER / "labs") == []


# ----- the checks above can fail -----


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_counts_every_kind_of_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\nfrom pkg.sub.c import thing\nimport os\n",
            "pkg/b.py": "def f():\n    import pkg.sub.c.thing\n",
            "pkg/sub/__init__.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from ..a import x\n",
            "pkg/sub/c.py": "from . import d\nfrom .. import a\n",
            "pkg/sub/d.py": "import pkgless\nfrom pkg import sub\n",
        },
    )
    assert import_graph(root, "pkg") == {
        "pkg": set(),
        "pkg.a": {"pkg.b", "pkg.sub.c"},  # a name from a module: that module
        "pkg.b": {"pkg.sub.c"},  # in a function, an attribute's module
        "pkg.sub": {"pkg.a"},  # relative, under TYPE_CHECKING
        "pkg.sub.c": {"pkg.sub.d", "pkg.a"},
        "pkg.sub.d": {"pkg.sub"},  # a package is a module too
    }


def test_a_cycle_is_found_and_named() -> None:
    graph = {
        "g.a": {"g.b"},
        "g.b": {"g.c", "g.x"},
        "g.c": {"g.a"},
        "g.x": set(),
        "g.y": {"g.z"},
        "g.z": {"g.y"},
    }
    assert cycles(graph) == [["g.a", "g.b", "g.c", "g.a"], ["g.y", "g.z", "g.y"]]
    assert cycles({"g.a": {"g.b"}, "g.b": set()}) == []


def test_a_labs_name_is_found_in_any_file_and_case(tmp_path: Path) -> None:
    root = _package(
        tmp_path / "grader",
        {
            "engine/x.py": "# trains on IRIS\n",
            "engine/notes.md": "logisticregression\n",
            "labs/tracking/checks.py": "iris\n",
        },
    )
    assert lab_words_in(root, skip=root / "labs") == [
        "grader/engine/notes.md: 'logisticregression'",
        "grader/engine/x.py: 'IRIS'",
    ]


def test_the_rules_catch_an_upward_import_in_the_engine() -> None:
    graph = {
        "grader.engine.server.throwaway": {"grader.engine.evidence.records"},
        "grader.engine.kernel.execution": {"grader.engine.probe.model_probe"},
        "grader.engine.evidence.rubric": {"grader.engine.grading"},
        "grader.engine.kernel.submission": {"grader.engine.kernel.sanitize"},  # its own room
        "grader.engine.grading": {"grader.engine.kernel.execution"},  # the top: anything
    }
    assert upward_in_the_engine(graph) == [
        "grader.engine.evidence.rubric imports grader.engine.grading",
        "grader.engine.kernel.execution imports grader.engine.probe.model_probe",
        "grader.engine.server.throwaway imports grader.engine.evidence.records",
    ]


def test_the_rules_catch_an_import_from_above() -> None:
    graph = {
        "grader.engine.grading": {"grader.engine.server.throwaway", "grader.warm.warm_launcher"},
        "grader.engine.lab": {"grader.engine.evidence.rubric", "grader.errors", "grader.labs"},
        "grader.sandbox.jail": {"grader.frontends.cli"},
        "grader.frontends.cli": {"grader.warm.warm_launcher", "grader.engine.grading"},
        "grader.engineering": {"grader.course.batch"},  # not the engine: a name alike
    }
    assert imports_from_above(graph) == [
        "grader.engine.grading imports grader.warm.warm_launcher",
        "grader.engine.lab imports grader.labs",
        "grader.sandbox.jail imports grader.frontends.cli",
    ]
    assert beyond_the_engine(graph) == ["grader.errors", "grader.labs"]
