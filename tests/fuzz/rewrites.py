"""Semantics-preserving rewrites of a lab's notebook, for any lab (issue 26: search, don't list).

A rewrite takes a submission (its code and markdown cells, the files beside it, the form it is
saved in) and returns one that a correct grader grades exactly as the original: same score,
same failing checks. Each works on the code's syntax tree (never on one lab's text), so that
it applies to every lab's reference and labelled submissions, and each says when it applies
(e.g. not to a notebook with a step that raises by design, where moving code across that step
would change what runs). `compose` draws several at random from a seed.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader.engine.submission import load_submission

Cell = tuple[str, str]  # ("code" | "markdown", source)


@dataclass(frozen=True)
class Shape:
    """A submission as the rewrites see it: cells, files beside it, the form it is saved in."""

    cells: tuple[Cell, ...]
    files: tuple[tuple[str, str], ...] = ()  # (name, text) beside the notebook
    form: str = "ipynb"  # ipynb | py | ipynb-bom | py-bom-crlf | ipynb-42
    metadata: tuple[tuple[str, object], ...] = ()  # notebook metadata an editor adds
    raises: bool = False  # a step raises by design (the lab's expected errors)
    applied: tuple[str, ...] = field(default=())

    def code(self) -> list[str]:
        return [src for kind, src in self.cells if kind == "code"]


@dataclass(frozen=True)
class Rewrite:
    name: str
    apply: Callable[[Shape, random.Random], Shape]
    # Not for a notebook whose step raises by design: it moves code across cells or into one
    # block, so what runs after the raise would change.
    moves_code: bool = False
    # Only for a submission with nothing wrong: on one with a mistake it interacts with it
    # (autolog logs the model's own params first; MLflow then refuses the differing ones
    # the notebook logs, and the run fails).
    full_marks_only: bool = False
    # Moves the whole program somewhere else (a script, a module, a function): one such per
    # composition (a module imported whole does not run a main() guarded by __name__).
    whole: bool = False


def _magic(source: str) -> bool:
    return any(ln.lstrip().startswith(("%", "!")) for ln in source.splitlines())


def _parses(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _code_map(shape: Shape, edit: Callable[[str], str]) -> Shape:
    cells = tuple(
        (kind, edit(src) if kind == "code" and not _magic(src) and _parses(src) else src)
        for kind, src in shape.cells
    )
    return replace(shape, cells=cells)


def _transformed(shape: Shape, transformer: Callable[[], ast.NodeTransformer]) -> Shape:
    """Each code cell through a fresh TRANSFORMER of its syntax tree."""

    def edit(source: str) -> str:
        tree = transformer().visit(ast.parse(source))
        return ast.unparse(ast.fix_missing_locations(tree))

    return _code_map(shape, edit)


# -- cells and layout ----------------------------------------------------------------------


def markdown_between(shape: Shape, rng: random.Random) -> Shape:
    cells: list[Cell] = []
    for cell in shape.cells:
        if rng.random() < 0.4:
            cells.append(("markdown", f"### Note {rng.randrange(1000)}\nWhat the next step does."))
        cells.append(cell)
    return replace(shape, cells=tuple(cells))


def no_markdown(shape: Shape, rng: random.Random) -> Shape:
    return replace(shape, cells=tuple(c for c in shape.cells if c[0] == "code"))


def empty_cells(shape: Shape, rng: random.Random) -> Shape:
    cells: list[Cell] = []
    for cell in shape.cells:
        cells.append(cell)
        if rng.random() < 0.3:
            cells.append(("code", rng.choice(["", "\n", "# nothing here yet", "pass"])))
    return replace(shape, cells=tuple(cells))


def comments_and_blank_lines(shape: Shape, rng: random.Random) -> Shape:
    def edit(source: str) -> str:
        lines = []
        for line in source.splitlines():
            indent = line[: len(line) - len(line.lstrip())]
            if line.strip() and rng.random() < 0.2:
                lines.append(f"{indent}# step detail {rng.randrange(100)}")
            elif rng.random() < 0.05:
                lines.append("\x0c")  # a form feed: a page break some editors keep
            lines.append(line)
        return "\n".join(lines) + "\n\n"

    return _code_map(shape, edit)


def printed_values(shape: Shape, rng: random.Random) -> Shape:
    """Print every name a cell assigns, after it: output changes nothing graded."""

    def edit(source: str) -> str:
        tree = _parses(source)
        names = sorted(_bound(tree)) if tree else []
        shown = [n for n in names if not n.startswith("_")][:3]
        return source + "".join(f"\nprint({n!r}, type({n}).__name__)" for n in shown)

    return _code_map(shape, edit)


def hoisted_imports(shape: Shape, rng: random.Random) -> Shape:
    """Every top-level import moved into one first cell, as tidy notebooks do."""
    imports: list[str] = []
    cells: list[Cell] = []
    for kind, src in shape.cells:
        tree = _parses(src) if kind == "code" and not _magic(src) else None
        if tree is None:
            cells.append((kind, src))
            continue
        kept = []
        for node in tree.body:
            segment = ast.get_source_segment(src, node) or ""
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "\n" not in segment:
                imports.append(segment)
            else:
                kept.append(segment)
        cells.append((kind, "\n".join(kept) or "pass"))
    first = ("code", "\n".join(dict.fromkeys(imports)))
    return replace(shape, cells=(first, *cells) if imports else tuple(cells))


# -- names and structure ---------------------------------------------------------------------


def _bound(tree: ast.Module) -> set[str]:
    """Names a module's top level binds (assignments, loops, with-as, imports, defs), into
    its compound statements but never into a function, class, lambda or comprehension."""
    found: set[str] = set()

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                found.add(sub.id)

    def statements(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (a.asname or a.name for a in node.names if a.name != "*")
                found.update(name.split(".")[0] for name in names)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    targets(target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for field_name in ("body", "orelse", "finalbody"):
                inner = getattr(node, field_name, None)
                if isinstance(inner, list) and not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    statements(inner)
            for handler in getattr(node, "handlers", []):
                if handler.name:
                    found.add(handler.name)
                statements(handler.body)

    statements(tree.body)
    return found


class _Renamer(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)

    def visit_Global(self, node: ast.Global) -> ast.Global:
        node.names = [self.names.get(n, n) for n in node.names]
        return node

    def visit_alias(self, node: ast.alias) -> ast.alias:
        if node.asname and node.asname in self.names:
            node.asname = self.names[node.asname]
        return node


def renamed_variables(
    shape: Shape, rng: random.Random, keep: frozenset[str] = frozenset()
) -> Shape:
    """Variables the notebook assigns get other names, everywhere (not the ones the lab's
    guide names and the grader reads after the run: KEEP)."""
    trees = [_parses(s) for s in shape.code() if not _magic(s)]
    assigned: set[str] = set()
    arguments: set[str] = set()  # a parameter's name: renaming its uses alone would break them
    for tree in trees:
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
            elif isinstance(node, ast.arg):
                arguments.add(node.arg)
    candidates = sorted(n for n in assigned - arguments if n not in keep and not n.startswith("_"))
    chosen = rng.sample(candidates, k=min(len(candidates), rng.randint(1, 4)))
    names = {n: f"{n}_v{rng.randrange(10, 99)}" for n in chosen}
    if not names:
        return shape

    def edit(source: str) -> str:
        tree = ast.parse(source)
        # f-strings and the like come back as the same code; comments are lost, as a reformat
        return ast.unparse(_Renamer(names).visit(tree))

    return _code_map(shape, edit)


def cells_as_functions(shape: Shape, rng: random.Random) -> Shape:
    """Each cell's statements in a function that it calls, its names declared global."""

    def edit(source: str) -> str:
        tree = ast.parse(source)
        star = any(isinstance(n, ast.ImportFrom) and n.names[0].name == "*" for n in tree.body)
        if not tree.body or star or any(isinstance(n, ast.Global) for n in tree.body):
            return source
        names = sorted(_bound(tree))
        name = f"_step_{rng.randrange(10**6)}"
        body = "\n".join("    " + ln for ln in ast.unparse(tree).splitlines())
        declared = f"    global {', '.join(names)}\n" if names else ""
        return f"def {name}():\n{declared}{body}\n\n\n{name}()\n"

    return _code_map(shape, edit)


class _RunWithout(ast.NodeTransformer):
    """`with mlflow.start_run(...) as r:` at the top level becomes start_run / end_run."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        body: list[ast.stmt] = []
        for stmt in node.body:
            call = stmt.items[0].context_expr if isinstance(stmt, ast.With) else None
            if (
                isinstance(stmt, ast.With)
                and len(stmt.items) == 1
                and isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "start_run"
            ):
                target = stmt.items[0].optional_vars
                start: ast.stmt = (
                    ast.Assign(targets=[target], value=call)
                    if target is not None
                    else ast.Expr(call)
                )
                end = ast.parse(f"{ast.unparse(call.func.value)}.end_run()").body[0]
                body += [start, *stmt.body, end]
            else:
                body.append(stmt)
        node.body = body
        return node


def run_without_with(shape: Shape, rng: random.Random) -> Shape:
    return _transformed(shape, _RunWithout)


class _History(ast.NodeTransformer):
    """Before each `X.log_metric(key, value)`, a provisional value at step 0; the real one
    then at step 1: MLflow shows the latest, as the lab's own call logged it."""

    def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
        call = node.value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "log_metric"
            and len(call.args) == 2
            and not any(k.arg == "step" for k in call.keywords)
        ):
            early = ast.parse(
                f"{ast.unparse(call.func)}({ast.unparse(call.args[0])}, 0.0, step=0)"
            ).body[0]
            call.keywords.append(ast.keyword("step", ast.Constant(1)))
            return [early, node]
        return node


def metric_history(shape: Shape, rng: random.Random) -> Shape:
    return _transformed(shape, _History)


def artifact_path_keyword(shape: Shape, rng: random.Random) -> Shape:
    """MLflow 2's `artifact_path=` where the code says MLflow 3's `name=` (still accepted)."""

    def edit(source: str) -> str:
        return re.sub(r"(log_model\([^)]*?\b)name=", r"\1artifact_path=", source, flags=re.S)

    return _code_map(shape, edit)


def uri_in_environment(shape: Shape, rng: random.Random) -> Shape:
    """set_tracking_uri(X) written as MLFLOW_TRACKING_URI in os.environ."""

    def edit(source: str) -> str:
        tree = ast.parse(source)
        body: list[ast.stmt] = []
        for stmt in tree.body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "set_tracking_uri"
                and (call.args or call.keywords)
            ):
                uri = call.args[0] if call.args else call.keywords[0].value
                body += ast.parse(
                    f"import os\nos.environ['MLFLOW_TRACKING_URI'] = {ast.unparse(uri)}"
                ).body
            else:
                body.append(stmt)
        tree.body = body
        return ast.unparse(tree)

    return _code_map(shape, edit)


SCRATCH = (
    "import mlflow as _scratch_mlflow\n"
    "_scratch_id = _scratch_mlflow.MlflowClient().create_experiment('scratch {tag}')\n"
    "with _scratch_mlflow.start_run(experiment_id=_scratch_id, run_name='smoke test'):\n"
    "    _scratch_mlflow.log_metric('accuracy', 0.1)\n"
    "    _scratch_mlflow.log_metric('mse', 123.0)\n"
    "    _scratch_mlflow.log_param('max_iter', 1)\n"
)


def scratch_run_before(shape: Shape, rng: random.Random) -> Shape:
    """A smoke-test run in an experiment of its own first: the lab's active experiment is not
    changed, and nothing of it is graded."""
    cell = ("code", SCRATCH.format(tag=f"before {rng.randrange(10**6)}"))
    return replace(shape, cells=(cell, *shape.cells))


def scratch_run_after(shape: Shape, rng: random.Random) -> Shape:
    cell = ("code", SCRATCH.format(tag=f"after {rng.randrange(10**6)}"))
    return replace(shape, cells=(*shape.cells, cell))


def as_run_script(shape: Shape, rng: random.Random) -> Shape:
    """The code saved beside the notebook as a script the notebook runs with %run: it runs in
    the kernel's namespace, as the cells did."""
    code = "\n\n".join(s for s in shape.code() if not _magic(s))
    magics = [s for s in shape.code() if _magic(s)]
    cells: list[Cell] = [("markdown", "The lab's code is in lab_steps.py.")]
    cells += [("code", m) for m in magics]
    cells.append(("code", "%run lab_steps.py"))
    return replace(shape, cells=tuple(cells), files=(*shape.files, ("lab_steps.py", code)))


def tab_indents(shape: Shape, rng: random.Random) -> Shape:
    """Indentation with tabs, as some editors save it."""

    def edit(source: str) -> str:
        tree = ast.parse(source)
        if any(isinstance(n, ast.Constant) and "\n" in str(n.value) for n in ast.walk(tree)):
            return source  # a line inside a string is text, not indentation
        tidy = ast.unparse(tree)  # indentation in fours, continuation lines joined
        return "\n".join(_tabbed(line) for line in tidy.splitlines())

    return _code_map(shape, edit)


def _tabbed(line: str) -> str:
    depth = (len(line) - len(line.lstrip(" "))) // 4
    return "\t" * depth + line.lstrip(" ")


def _all_code(shape: Shape) -> tuple[str, list[Cell]]:
    """The code of every cell that has no magic, joined, and the magic cells themselves."""
    code = "\n\n".join(s for s in shape.code() if not _magic(s))
    magics: list[Cell] = [("code", s) for s in shape.code() if _magic(s)]
    return code, magics


def in_main_function(shape: Shape, rng: random.Random) -> Shape:
    """All the steps in one main() run under `if __name__ == "__main__":`, its names global
    so that what the lab's guide names is still there after the run."""
    code, magics = _all_code(shape)
    tree = ast.parse(code)
    names = sorted(_bound(tree))
    body = "\n".join("    " + ln for ln in ast.unparse(tree).splitlines())
    declared = f"    global {', '.join(names)}\n" if names else ""
    main = f"def main():\n{declared}{body}\n\n\nif __name__ == '__main__':\n    main()\n"
    return replace(shape, cells=(*magics, ("code", main)))


def helper_module(shape: Shape, rng: random.Random) -> Shape:
    """The steps in a module beside the notebook, which the notebook imports everything of.
    Not for code that defines a class: MLflow pickles a model's class by reference to that
    module, and its requirement inference, unpickling it in a fresh Python, would import the
    module, and so run the whole lab again, without end."""
    code, magics = _all_code(shape)
    if any(isinstance(n, ast.ClassDef) for n in ast.walk(ast.parse(code))):
        return shape
    cells: list[Cell] = [*magics, ("code", "from lab_code import *  # noqa: F403")]
    return replace(shape, cells=tuple(cells), files=(*shape.files, ("lab_code.py", code)))


SUBPROCESS = """import subprocess
import sys

subprocess.run([sys.executable, "train.py"], check=True)"""


def child_process(shape: Shape, rng: random.Random) -> Shape:
    """The steps saved as train.py, which the notebook runs in a process of its own, with a
    shell escape or subprocess and the notebook's own Python."""
    code, magics = _all_code(shape)
    run = rng.choice(["!python train.py", SUBPROCESS])
    return replace(shape, cells=(*magics, ("code", run)), files=(*shape.files, ("train.py", code)))


class _Nested(ast.NodeTransformer):
    """`with mlflow.start_run(...):` at the top level runs as a child of a parent run."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        for index, stmt in enumerate(node.body):
            call = stmt.items[0].context_expr if isinstance(stmt, ast.With) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "start_run"
                and not any(k.arg == "nested" for k in call.keywords)
            ):
                call.keywords.append(ast.keyword("nested", ast.Constant(True)))
                parent = ast.parse(
                    f"with {ast.unparse(call.func.value)}.start_run(run_name='parent'):\n    pass"
                ).body[0]
                assert isinstance(parent, ast.With)
                parent.body = [stmt]
                node.body[index] = parent
        return node


def nested_runs(shape: Shape, rng: random.Random) -> Shape:
    return _transformed(shape, _Nested)


def autolog_on(shape: Shape, rng: random.Random) -> Shape:
    """MLflow's autologging turned on first: it logs more, never less, of the lab's run."""
    cell = ("code", "import mlflow\n\nmlflow.autolog()")
    return replace(shape, cells=(cell, *shape.cells))


def reformatted(shape: Shape, rng: random.Random) -> Shape:
    """Every cell as a code formatter leaves it (comments gone, quotes and spacing its own)."""
    return _code_map(shape, lambda source: ast.unparse(ast.parse(source)))


# MLflow's fluent calls and the names of their positional parameters.
KEYWORDS = {
    "log_metric": ("key", "value"),
    "log_param": ("key", "value"),
    "set_tag": ("key", "value"),
    "set_experiment": ("experiment_name",),
    "log_params": ("params",),
    "log_metrics": ("metrics",),
    "set_tags": ("tags",),
}


class _Keywords(ast.NodeTransformer):
    """`mlflow.log_metric("a", x)` written `mlflow.log_metric(key="a", value=x)`."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        func = node.func
        names = KEYWORDS.get(func.attr, ()) if isinstance(func, ast.Attribute) else ()
        base = func.value if isinstance(func, ast.Attribute) else None
        if names and isinstance(base, ast.Name) and base.id == "mlflow":
            given = [ast.keyword(n, a) for n, a in zip(names, node.args, strict=False)]
            node.keywords = [*given, *node.keywords]
            node.args = node.args[len(given) :]
        return node


def keyword_arguments(shape: Shape, rng: random.Random) -> Shape:
    return _transformed(shape, _Keywords)


# -- the form it is saved in ------------------------------------------------------------------

EDITORS: dict[str, dict[str, object]] = {
    "vscode": {
        "kernelspec": {"display_name": ".venv", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.7"},
        "vscode": {"interpreter": {"hash": "0" * 64}},
    },
    "colab": {
        "colab": {"provenance": [], "toc_visible": True},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "accelerator": "GPU",
    },
    "pycharm": {"kernelspec": {"display_name": "mlops", "language": "python", "name": "mlops"}},
}


def editor_metadata(shape: Shape, rng: random.Random) -> Shape:
    editor = rng.choice(sorted(EDITORS))
    return replace(shape, metadata=tuple(EDITORS[editor].items()))


def saved_as(form: str) -> Callable[[Shape, random.Random], Shape]:
    def save(shape: Shape, rng: random.Random) -> Shape:
        return replace(shape, form=form)

    return save


CATALOGUE: tuple[Rewrite, ...] = (
    Rewrite("markdown_between", markdown_between),
    Rewrite("no_markdown", no_markdown),
    Rewrite("empty_cells", empty_cells),
    Rewrite("comments_and_blank_lines", comments_and_blank_lines),
    Rewrite("printed_values", printed_values),
    Rewrite("hoisted_imports", hoisted_imports),
    Rewrite("renamed_variables", renamed_variables),
    Rewrite("cells_as_functions", cells_as_functions),
    # A step that raises inside `with start_run()` ends its run as FAILED; without the
    # `with`, the run would stay active into the next cells.
    Rewrite("run_without_with", run_without_with, moves_code=True),
    Rewrite("metric_history", metric_history),
    Rewrite("artifact_path_keyword", artifact_path_keyword),
    Rewrite("uri_in_environment", uri_in_environment),
    Rewrite("scratch_run_before", scratch_run_before),
    Rewrite("scratch_run_after", scratch_run_after),
    Rewrite("editor_metadata", editor_metadata),
    Rewrite("as_run_script", as_run_script, moves_code=True, whole=True),
    Rewrite("tab_indents", tab_indents),
    Rewrite("in_main_function", in_main_function, moves_code=True, whole=True),
    Rewrite("helper_module", helper_module, moves_code=True, whole=True),
    Rewrite("child_process", child_process, moves_code=True, whole=True),
    Rewrite("nested_runs", nested_runs, moves_code=True),
    Rewrite("autolog_on", autolog_on, full_marks_only=True),
    Rewrite("reformatted", reformatted),
    Rewrite("keyword_arguments", keyword_arguments),
)
FORMS: tuple[Rewrite, ...] = (
    Rewrite("saved_as_ipynb", saved_as("ipynb")),
    Rewrite("saved_as_py", saved_as("py")),
    Rewrite("saved_with_bom", saved_as("ipynb-bom")),
    Rewrite("saved_as_py_bom_crlf", saved_as("py-bom-crlf")),
    Rewrite("saved_as_nbformat_42", saved_as("ipynb-42")),
)


def compose(
    shape: Shape, seed: int, keep: frozenset[str] = frozenset(), full_marks: bool = True
) -> Shape:
    """Several rewrites drawn with SEED, applied in a random order, then a form to save in.
    FULL_MARKS: the submission is labelled with nothing wrong."""
    rng = random.Random(seed)
    usable = [r for r in CATALOGUE if not (r.moves_code and shape.raises)]
    chosen = rng.sample(usable, k=rng.randint(2, 5))
    wholes = [r for r in chosen if r.whole]
    chosen = [r for r in chosen if not r.whole or r is wholes[0]]
    for rewrite in chosen:
        if rewrite.full_marks_only and not full_marks:
            continue
        if rewrite.name == "renamed_variables":
            shape = renamed_variables(shape, rng, keep)
        else:
            shape = rewrite.apply(shape, rng)
        shape = replace(shape, applied=(*shape.applied, rewrite.name))
    # A script runs as one program: a step raising by design would end it; and a folder of
    # two scripts has no one submission.
    scripts_beside = any(name.endswith(".py") for name, _ in shape.files)
    as_script = shape.raises or scripts_beside
    form = rng.choice([f for f in FORMS if not (f.name.startswith("saved_as_py") and as_script)])
    shape = form.apply(shape, rng)
    return replace(shape, applied=(*shape.applied, form.name))


def read(path: Path, raises: bool) -> Shape:
    """A labelled submission (a notebook, alone or in a folder with the files beside it)."""
    folder = path if path.is_dir() else None
    submission = load_submission(path)  # read as the grader reads it (a BOM, say)
    notebook, nb = submission.path, submission.notebook
    cells = tuple(
        ("code" if c.cell_type == "code" else "markdown", c.source)
        for c in nb.cells
        if c.cell_type in ("code", "markdown")
    )
    files = tuple(
        (p.name, p.read_text(encoding="utf-8"))
        for p in sorted(folder.iterdir() if folder else [])
        if p.is_file() and p != notebook
    )
    return Shape(cells, files, raises=raises)


def write(shape: Shape, folder: Path, stem: str = "lab") -> Path:
    """SHAPE saved in FOLDER as its form says; the path to grade (the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in shape.files:
        (folder / name).write_text(text, encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(dict(shape.metadata))
    for kind, src in shape.cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(src))
        if kind == "markdown" and shape.metadata:
            # An editor's notebook: a picture pasted into a markdown cell (JupyterLab, Colab).
            nb.cells[-1]["attachments"] = {"figure.png": {"image/png": PIXEL}}
            nb.cells[-1]["source"] += "\n\n![figure](attachment:figure.png)"
    if shape.form.startswith("py"):
        text = "\n\n".join(
            f"# %%\n{src}" if kind == "code" else "# %% [markdown]\n" + _commented(src)
            for kind, src in shape.cells
        )
        data = text.replace("\n", "\r\n").encode("utf-8-sig") if "bom" in shape.form else None
        target = folder / f"{stem}.py"
        target.write_bytes(data if data is not None else text.encode())
        return folder
    raw = nbformat.writes(nb)
    if shape.form == "ipynb-42":
        loaded = json.loads(raw)
        loaded["nbformat_minor"] = 2
        for cell in loaded["cells"]:
            cell.pop("id", None)
        raw = json.dumps(loaded, indent=1)
    encoding = "utf-8-sig" if shape.form == "ipynb-bom" else "utf-8"
    (folder / f"{stem}.ipynb").write_bytes(raw.encode(encoding))
    return folder


PIXEL = (  # a 1x1 PNG, base64
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _commented(text: str) -> str:
    return "\n".join(f"# {ln}" if ln else "#" for ln in text.splitlines())
