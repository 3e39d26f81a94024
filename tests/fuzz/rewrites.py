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
import io
import json
import random
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader.engine.kernel.submission import load_submission

Cell = tuple[str, str]  # ("code" | "markdown", source)


@dataclass(frozen=True)
class Shape:
    """A submission as the rewrites see it: cells, files beside it, the form it is saved in."""

    cells: tuple[Cell, ...]
    files: tuple[tuple[str, str], ...] = ()  # (name, text) beside the notebook
    form: str = "ipynb"  # ipynb | py | ipynb-bom | py-bom-crlf | ipynb-42
    metadata: tuple[tuple[str, object], ...] = ()  # notebook metadata an editor adds
    raises: bool = False  # a step raises by design (the lab's expected errors)
    script: bool = False  # one program that runs as `python lab.py`: saved as a .py
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


def _inside_strings(source: str) -> set[int]:
    """Line numbers (1-based) that begin inside a string spanning lines: a line put before
    one would become part of the string's text."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.STRING, FSTRING_MIDDLE) and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return set(range(1, source.count("\n") + 2))  # unreadable: nowhere is safe
    return inside


# Python 3.12 tokenizes an f-string's text apart from it; 3.11 reads it as one STRING.
FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", -1)


def comments_and_blank_lines(shape: Shape, rng: random.Random) -> Shape:
    def edit(source: str) -> str:
        lines = []
        strings = _inside_strings(source)
        for number, line in enumerate(source.splitlines(), start=1):
            indent = line[: len(line) - len(line.lstrip())]
            if number in strings:
                lines.append(line)
                continue
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


class _Unannotated(ast.NodeTransformer):
    """`name: T = value` becomes `name = value`: Python refuses an annotated name declared
    global, and the rewrites below declare a cell's names global (lab 3's
    `dataset: PandasDataset = ...`). An annotation alone binds nothing: it goes."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return ast.Pass() if node.simple else node
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node  # a function's own names are not declared global

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        return node


def _globals_body(tree: ast.Module) -> str:
    """TREE's code indented as a function's body whose names are declared global."""
    tree = ast.fix_missing_locations(_Unannotated().visit(tree))
    return "\n".join("    " + ln for ln in ast.unparse(tree).splitlines())


def cells_as_functions(shape: Shape, rng: random.Random) -> Shape:
    """Each cell's statements in a function that it calls, its names declared global."""

    def edit(source: str) -> str:
        tree = ast.parse(source)
        star = any(isinstance(n, ast.ImportFrom) and n.names[0].name == "*" for n in tree.body)
        if not tree.body or star or any(isinstance(n, ast.Global) for n in tree.body):
            return source
        names = sorted(_bound(tree))
        name = f"_step_{rng.randrange(10**6)}"
        body = _globals_body(tree)
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
    body = _globals_body(tree)
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
    """`with mlflow.start_run(...):` at the top level runs as a child of a parent run. The
    code after it that reads `mlflow.last_active_run()` (lab 3) reads the child by its id:
    the last active run is now the parent, which a student nesting runs would not read."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        child = ""
        for index, stmt in enumerate(node.body):
            if child:
                stmt = node.body[index] = _LastActive(child).visit(stmt)
            item = stmt.items[0] if isinstance(stmt, ast.With) else None
            call = item.context_expr if item is not None else None
            if (
                item is not None
                and isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "start_run"
                and not any(k.arg == "nested" for k in call.keywords)
            ):
                call.keywords.append(ast.keyword("nested", ast.Constant(True)))
                if not isinstance(item.optional_vars, ast.Name):
                    item.optional_vars = ast.Name("_nested_run", ast.Store())
                child = item.optional_vars.id
                parent = ast.parse(
                    f"with {ast.unparse(call.func.value)}.start_run(run_name='parent'):\n    pass"
                ).body[0]
                assert isinstance(parent, ast.With)
                parent.body = [stmt]
                node.body[index] = parent
        return node


class _LastActive(ast.NodeTransformer):
    """`X.last_active_run()` written `X.get_run(CHILD.info.run_id)`."""

    def __init__(self, child: str) -> None:
        self.child = child

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "last_active_run" and not node.args:
            return ast.parse(
                f"{ast.unparse(func.value)}.get_run({self.child}.info.run_id)", mode="eval"
            ).body
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


# -- fluent and client API -----------------------------------------------------------------

# The fluent call, its client twin, and the fluent names of its positional parameters: the
# client's third positional parameter of log_metric is a timestamp, the fluent one's a step.
CLIENT_TWINS = {
    "log_param": ("key", "value"),
    "log_metric": ("key", "value", "step"),
    "set_tag": ("key", "value"),
}
# A dict's items, one call each: a literal dict keeps each value's own expression at its call
# (a verdict on how a value was logged reads that call).
CLIENT_BATCHES = {"log_params": "log_param", "log_metrics": "log_metric", "set_tags": "set_tag"}


def _start_run(stmt: ast.stmt) -> tuple[ast.expr, ast.expr | None] | None:
    """`with M.start_run(...) [as R]:` -> (M, R)."""
    found = None
    for item in stmt.items if isinstance(stmt, ast.With) else ():
        call = item.context_expr
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "start_run"
        ):
            found = (call.func.value, item.optional_vars)  # the innermost of the items
    return found


class _FluentClient(ast.NodeTransformer):
    """Inside `with mlflow.start_run() [as run]:`, a fluent logging call becomes the client's
    call on the active run, and a client call on `run.info.run_id` the fluent one. Only
    there: outside a run, a fluent call starts one of its own."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.runs: list[tuple[ast.expr, ast.expr | None]] = []

    def visit_With(self, node: ast.With) -> ast.With:
        run = _start_run(node)
        if run is not None:
            self.runs.append(run)
        self.generic_visit(node)
        if run is not None:
            self.runs.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        outer, self.runs = self.runs, []  # a function body runs where it is called
        self.generic_visit(node)
        self.runs = outer
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
        call = node.value
        if not self.runs or not isinstance(call, ast.Call) or self.rng.random() < 0.2:
            return node
        module, var = self.runs[-1]
        func = call.func
        if not isinstance(func, ast.Attribute) or any(k.arg is None for k in call.keywords):
            return node
        m = ast.unparse(module)
        fluent = ast.unparse(func.value) == m
        run_id = f"{m}.active_run().info.run_id"
        if fluent and var is not None and self.rng.random() < 0.5:
            run_id = f"{ast.unparse(var)}.info.run_id"
        client = f"{m}.MlflowClient()"
        if fluent and func.attr in CLIENT_TWINS:
            names = CLIENT_TWINS[func.attr]
            if len(call.args) > len(names):
                return node
            given = dict(zip(names, (ast.unparse(a) for a in call.args), strict=False))
            given.update((k.arg, ast.unparse(k.value)) for k in call.keywords if k.arg)
            if set(given) - set(names) or not {"key", "value"} <= set(given):
                return node
            rest = "".join(f", {k}={given[k]}" for k in names[2:] if k in given)
            text = f"{client}.{func.attr}({run_id}, {given['key']}, {given['value']}{rest})"
            return ast.parse(text).body
        if fluent and func.attr in CLIENT_BATCHES and len(call.args) == 1:
            single = CLIENT_BATCHES[func.attr]
            allowed = {"step"} if single == "log_metric" else set()
            if any(k.arg not in allowed for k in call.keywords):
                return node
            rest = "".join(f", step={ast.unparse(k.value)}" for k in call.keywords)
            items = call.args[0]
            if isinstance(items, ast.Dict) and all(k is not None for k in items.keys):
                lines = [
                    f"{client}.{single}({run_id}, {ast.unparse(k)}, {ast.unparse(v)}{rest})"
                    for k, v in zip(items.keys, items.values, strict=True)
                    if k is not None
                ]
                return ast.parse("\n".join(lines) or "pass").body
            loop = (
                f"for _key, _value in ({ast.unparse(items)}).items():\n"
                f"    {client}.{single}({run_id}, _key, _value{rest})"
            )
            return ast.parse(loop).body
        # The client's call on the run of the `with`: the fluent one.
        if (
            not fluent
            and var is not None
            and func.attr in CLIENT_TWINS
            and len(call.args) == 3
            and not call.keywords
            and ast.unparse(call.args[0]) == f"{ast.unparse(var)}.info.run_id"
        ):
            args = ", ".join(ast.unparse(a) for a in call.args[1:])
            return ast.parse(f"{m}.{func.attr}({args})").body
        return node


def fluent_client(shape: Shape, rng: random.Random) -> Shape:
    """Logging calls in a run through MlflowClient instead of the fluent API, or back."""
    return _transformed(shape, lambda: _FluentClient(rng))


# -- the model loaded back ---------------------------------------------------------------------


def _logged_models(shape: Shape) -> dict[str, str | None]:
    """Names the code binds to a log_model(...) call's result (its ModelInfo) -> the name
    the model was logged under, when the code types it."""
    found: dict[str, str | None] = {}
    for source in shape.code():
        tree = _parses(source) if not _magic(source) else None
        for node in ast.walk(tree) if tree else ():
            value = node.value if isinstance(node, ast.Assign) else None
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "log_model"
            ):
                named = [k.value for k in value.keywords if k.arg in ("name", "artifact_path")]
                named += value.args[1:2]
                name = named[0] if named else None
                text = name.value if isinstance(name, ast.Constant) else None
                found[node.targets[0].id] = text if isinstance(text, str) else None
    return found


REGISTERED = re.compile(r"models:/([^/@]+)/(\d+)")


class InsertsBefore(ast.NodeTransformer):
    """A transformer that may put statements (self.pending) before the statement it is in."""

    def __init__(self) -> None:
        self.pending: list[ast.stmt] = []

    def visit(self, node: ast.AST) -> ast.AST | list[ast.stmt]:
        if not isinstance(node, ast.stmt):
            return super().visit(node)
        out = super().visit(node)
        before, self.pending = self.pending, []
        return [*before, out] if before and isinstance(out, ast.stmt) else out


class _Loads(InsertsBefore):
    """`load_model(info.model_uri)` loads the same logged model by `models:/<model id>` or
    `runs:/<run id>/<name>`; `load_model("models:/NAME/N")` loads version N by an alias set
    on it first. A logged model stays a logged model and a version a version: a lab may tell
    the two apart (lab 5 grades loading the registry's version 1)."""

    def __init__(self, rng: random.Random, infos: dict[str, str | None]) -> None:
        super().__init__()
        self.rng = rng
        self.infos = infos

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr != "load_model":
            return node
        where = [k for k in node.keywords if k.arg == "model_uri"]
        uri = where[0].value if where else (node.args[0] if node.args else None)
        new = self.other_uri(uri) if uri is not None else None
        if new is not None:
            if where:
                where[0].value = new
            else:
                node.args[0] = new
        return node

    def other_uri(self, uri: ast.expr) -> ast.expr | None:
        if (
            isinstance(uri, ast.Attribute)
            and uri.attr == "model_uri"
            and isinstance(uri.value, ast.Name)
            and uri.value.id in self.infos
        ):
            info, name = uri.value.id, self.infos[uri.value.id]
            forms = [f'f"models:/{{{info}.model_id}}"']
            if name is not None and "{" not in name and "}" not in name:
                forms.append(f'f"runs:/{{{info}.run_id}}/{name}"')
            return ast.parse(self.rng.choice(forms), mode="eval").body
        text = uri.value if isinstance(uri, ast.Constant) else None
        match = REGISTERED.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            return None
        alias = self.rng.choice(["champion", "current", "fuzzed"])
        self.pending += ast.parse(
            "import mlflow as _mlflow_alias\n"
            f"_mlflow_alias.MlflowClient().set_registered_model_alias({match[1]!r}, {alias!r},"
            f" {match[2]!r})"
        ).body
        return ast.Constant(f"models:/{match[1]}@{alias}")


def model_loaded_another_way(shape: Shape, rng: random.Random) -> Shape:
    infos = _logged_models(shape)
    return _transformed(shape, lambda: _Loads(rng, infos))


# -- order and classes -----------------------------------------------------------------------


def _names(node: ast.AST) -> set[str]:
    """Every name a statement mentions, in any role (a read, a write, a mutation through an
    attribute or a call), and the names its imports bind."""
    found = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in sub.names)
            found.update(a.name.split(".")[0] for a in sub.names)
            if isinstance(sub, ast.ImportFrom) and sub.module:
                found.add(sub.module.split(".")[0])
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(sub.name)
        elif isinstance(sub, ast.Global | ast.Nonlocal):
            found.update(sub.names)
    return found


def _inert(node: ast.stmt) -> bool:
    """A statement that touches no state but the names it binds: an import of something other
    than MLflow, or an assignment to plain names of a value that calls nothing (a literal)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or "", *modules] if node.level == 0 else ["."]
        return not any(m == "." or m.split(".")[0] == "mlflow" for m in modules) and not any(
            a.name == "*" for a in node.names
        )
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return not any(
            isinstance(sub, (ast.Call, ast.Await, ast.Yield, ast.NamedExpr, ast.Lambda))
            for sub in ast.walk(node.value)
        )
    return False


def _independent(a: ast.stmt, b: ast.stmt, late: frozenset[str]) -> bool:
    """Whether A and B run the same in either order: one is inert, they share no name, and
    neither binds a name that a function reads when it is called (LATE), wherever that is."""
    shared = _names(a) & _names(b)
    return (_inert(a) or _inert(b)) and not shared and not (_bound_by(a) | _bound_by(b)) & late


def _bound_by(node: ast.stmt) -> set[str]:
    return _bound(ast.Module(body=[node], type_ignores=[]))


def _late(shape: Shape) -> frozenset[str]:
    """Names mentioned in any function, class or lambda body of the code."""
    found: set[str] = set()
    for source in shape.code():
        tree = _parses(source) if not _magic(source) else None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found |= {n.id for b in node.body for n in ast.walk(b) if isinstance(n, ast.Name)}
            elif isinstance(node, ast.Lambda):
                found |= {n.id for n in ast.walk(node.body) if isinstance(n, ast.Name)}
    return frozenset(found)


def _shuffled(units: list[ast.stmt], rng: random.Random, late: frozenset[str]) -> list[ast.stmt]:
    """Swaps of adjacent independent statements, a few passes of them, in `with` blocks too
    (a run's body: what runs inside the run stays inside it)."""
    units = list(units)
    for unit in units:
        if isinstance(unit, ast.With):
            unit.body = _shuffled(unit.body, rng, late)
    for _ in range(3):
        for i in range(len(units) - 1):
            if rng.random() < 0.5 and _independent(units[i], units[i + 1], late):
                units[i], units[i + 1] = units[i + 1], units[i]
    return units


def independent_steps_reordered(shape: Shape, rng: random.Random) -> Shape:
    """Statements and cells that do not depend on each other in another order. Independent
    means: one is inert (an import, a literal assigned) and they share no name. Across cells
    only when no step raises by design (where a statement runs relative to the raise would
    change); otherwise within each cell."""
    late = _late(shape)
    if shape.raises:

        def edit(source: str) -> str:
            tree = ast.parse(source)
            tree.body = _shuffled(tree.body, rng, late)
            return ast.unparse(tree)

        return _code_map(shape, edit)
    # Each plain code cell cut into one cell per statement, the cuts shuffled, each run of
    # them joined back into one cell; cells with magics and markdown stay where they are.
    cells: list[Cell] = []
    run: list[ast.stmt] = []

    def flush() -> None:
        if run:
            cells.extend(("code", ast.unparse(stmt)) for stmt in _shuffled(run, rng, late))
            run.clear()

    for kind, src in shape.cells:
        tree = _parses(src) if kind == "code" and not _magic(src) else None
        if tree is None or not tree.body:
            flush()
            cells.append((kind, src))
            continue
        run.extend(tree.body)
        if rng.random() < 0.3:
            flush()  # sometimes a cell's end is a barrier, as a markdown cell would be
    flush()
    return replace(shape, cells=tuple(cells))


def steps_in_class(shape: Shape, rng: random.Random) -> Shape:
    """The steps as methods of one class, defined in a first cell; each cell calls its own
    step where it was, so each still runs in its place (and a step raising by design still
    raises in its own cell). Their names are declared global, as the lab's guide's names
    must still be there after the run."""
    methods: list[str] = []
    cells: list[Cell] = []
    instance = f"lab_{rng.randrange(100)}"
    for kind, src in shape.cells:
        tree = _parses(src) if kind == "code" and not _magic(src) else None
        awkward = (
            tree is None
            or not tree.body
            or any(
                (isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names))
                or isinstance(n, ast.Global | ast.Nonlocal)
                # a private name in a class body is mangled to another one
                or (isinstance(n, ast.Name) and n.id.startswith("__") and not n.id.endswith("__"))
                for n in ast.walk(tree)
            )
            if tree is not None
            else True
        )
        if awkward or tree is None:
            cells.append((kind, src))
            continue
        step = f"step_{len(methods) + 1}"
        names = sorted(_bound(tree))
        body = "\n".join("    " + ln for ln in _globals_body(tree).splitlines())
        declared = f"        global {', '.join(names)}\n" if names else ""
        methods.append(f"    def {step}(self):\n{declared}{body}\n")
        cells.append(("code", f"{instance}.{step}()"))
    if not methods:
        return shape
    lab = 'class LabSteps:\n    """The lab\'s steps, in order."""\n\n' + "\n".join(methods)
    first = ("code", f"{lab}\n\n{instance} = LabSteps()\n")
    return replace(shape, cells=(first, *cells))


# -- a script with options ---------------------------------------------------------------------

OPTIONS_HEADER = '''"""{doc}"""
import argparse
import json
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent


def parse_options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
{options}
    # The settings file beside the script, found from the script's own path whatever the
    # working directory, overrides the defaults.
    settings = SCRIPT_DIR / "settings.json"
    if settings.exists():
        parser.set_defaults(**json.loads(settings.read_text(encoding="utf-8")))
    return parser.parse_args(argv)
'''
OWN_NAMES = frozenset({"argparse", "json", "Path", "SCRIPT_DIR", "parse_options", "cli", "main"})


class _Options(ast.NodeTransformer):
    """A number a call passes by keyword (test_size=0.2, random_state=42) becomes an option
    with that default. Not in a call that logs or registers: how a logged value was written
    is graded (a number typed into the code)."""

    def __init__(self) -> None:
        self.options: dict[str, int | float] = {}

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        callee = ast.unparse(node.func)
        attr = callee.rsplit(".", 1)[-1]
        if "mlflow" in callee or attr.startswith(("log", "set", "register", "create")):
            return node
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg is None or not isinstance(value, ast.Constant):
                continue
            number = value.value
            if type(number) not in (int, float):
                continue
            name, n = keyword.arg, 1
            while name in self.options and (
                self.options[name] != number or type(self.options[name]) is not type(number)
            ):
                n += 1
                name = f"{keyword.arg}_{n}"
            self.options[name] = number
            keyword.value = ast.parse(f"cli.{name}", mode="eval").body
        return node

    def header(self, doc: str) -> str:
        lines = [
            f"    parser.add_argument({'--' + k.replace('_', '-')!r},"
            f" type={type(v).__name__}, default={v!r})"
            for k, v in self.options.items()
        ]
        return OPTIONS_HEADER.format(doc=doc, options="\n".join(lines) or "    pass")


def _settings(options: dict[str, int | float]) -> tuple[str, str]:
    return "settings.json", json.dumps(options, indent=2) + "\n"


def argparse_script(shape: Shape, rng: random.Random) -> Shape:
    """The lab as a command, `python lab.py [options]`: the numbers its calls pass by keyword
    are options, each with its default, overridden by a settings file found beside the script
    through __file__; it ends with sys.exit(main()). A lab whose step raises by design is one
    such script per step instead, each run where its cell was with `%run -i` (which sets
    __file__ and sys.argv as Python would)."""
    trees = [_parses(s) for s in shape.code() if not _magic(s)]
    unusual = any(
        tree is None
        or _names(tree) & OWN_NAMES
        or any(
            isinstance(n, ast.ImportFrom) and (n.module == "__future__" or n.names[0].name == "*")
            for n in ast.walk(tree)
        )
        for tree in trees
    )
    if unusual or any(name.endswith((".py", ".json")) for name, _ in shape.files):
        return shape
    if shape.raises:
        return _step_scripts(shape)
    code, magics = _all_code(shape)
    if magics:
        return shape  # a script is plain Python
    options = _Options()
    tree = options.visit(ast.parse(code))
    names = sorted(_bound(tree))
    body = _globals_body(tree)
    declared = f"    global {', '.join(['cli', *names])}\n"
    header = options.header("The lab as a command: python lab.py [options].")
    script = (
        f"{header}\n\ndef main():\n{declared}    cli = parse_options()\n{body}\n    return 0\n\n\n"
        "if __name__ == '__main__':\n    import sys\n\n    sys.exit(main())\n"
    )
    files = (*shape.files, _settings(options.options))
    return replace(shape, cells=(("code", script),), files=files, script=True)


def _step_scripts(shape: Shape) -> Shape:
    cells: list[Cell] = []
    files = list(shape.files)
    settings: dict[str, int | float] = {}
    for kind, src in shape.cells:
        tree = _parses(src) if kind == "code" and not _magic(src) else None
        if tree is None or not tree.body:
            cells.append((kind, src))
            continue
        step = f"step_{len(files) + 1}.py"
        options = _Options()
        tree = options.visit(tree)
        # One settings file for every step: a name is an option of one value in all of them.
        clash = any(settings.get(k, v) != v for k, v in options.options.items())
        if clash:
            return shape
        settings.update(options.options)
        header = options.header(f"One step of the lab: %run -i {step}")
        files.append((step, f"{header}\n\ncli = parse_options()\n{ast.unparse(tree)}\n"))
        cells.append(("code", f"%run -i {step}"))
    return replace(shape, cells=tuple(cells), files=(*files, _settings(settings)))


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
    Rewrite("fluent_client", fluent_client),
    Rewrite("model_loaded_another_way", model_loaded_another_way),
    Rewrite("independent_steps_reordered", independent_steps_reordered),
    Rewrite("steps_in_class", steps_in_class),
    # One program (or, for a lab whose step raises, one script per step): nothing else moves
    # the whole program after it.
    Rewrite("argparse_script", argparse_script, whole=True),
)
FORMS: tuple[Rewrite, ...] = (
    Rewrite("saved_as_ipynb", saved_as("ipynb")),
    Rewrite("saved_as_py", saved_as("py")),
    Rewrite("saved_with_bom", saved_as("ipynb-bom")),
    Rewrite("saved_as_py_bom_crlf", saved_as("py-bom-crlf")),
    Rewrite("saved_as_nbformat_42", saved_as("ipynb-42")),
)


def compose(
    shape: Shape,
    seed: int,
    keep: frozenset[str] = frozenset(),
    full_marks: bool = True,
    extra: tuple[Rewrite, ...] = (),
) -> Shape:
    """Several rewrites drawn with SEED from the catalogue and the lab's own EXTRA ones,
    applied in a random order, then a form to save in. FULL_MARKS: the submission is
    labelled with nothing wrong."""
    rng = random.Random(seed)
    usable = [r for r in (*CATALOGUE, *extra) if not (r.moves_code and shape.raises)]
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
    forms = [f for f in FORMS if not (f.name.startswith("saved_as_py") and as_script)]
    if shape.script:  # a program that reads its own command line: a notebook has the kernel's
        forms = [f for f in FORMS if f.name.startswith("saved_as_py")]
    form = rng.choice(forms)
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
