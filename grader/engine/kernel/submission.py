"""Finding and validating a submission: a .ipynb notebook or a .py script."""

from __future__ import annotations

import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nbformat
from nbformat import NotebookNode
from nbformat.validator import ValidationError

from grader.engine.kernel.sanitize import clean_text
from grader.errors import InvalidSubmission

MAX_BYTES = 50 * 1024 * 1024
SUFFIXES = (".ipynb", ".py")
# jupytext "percent" cell markers: `# %%`, optionally `# %% [markdown]`
_CELL_MARKER = re.compile(r"^# ?%%(?P<rest>.*)$")


Kind = Literal["notebook", "script"]

# A script's cell keeps the line of the file where it starts (feedback names lines of a .py).
FIRST_LINE = "labgrade_first_line"
# How feedback names the place code ran (cell_label), to find it again in a message.
# ("the script", a whole script of one cell, is the fallback: "the script exited ..." has it.)
LABEL = re.compile(
    r"the code cell starting `[^`]*` \(code cell \d+\)|line \d+ of the script \(`[^`]*`\)"
)
WHOLE_SCRIPT = "the script"


def cell_label(nb: NotebookNode, index: int, kind: Kind, offset: int | None = None) -> str:
    """Cell INDEX of NB as its author sees it. A notebook's code cell is named by its first
    line of code and its position among the code cells (Jupyter numbers no markdown cell, so
    counting those would point at the wrong cell); a script's, by its line in the file: line
    OFFSET of the cell (1 for its first) where known, else the cell's first line."""
    cell = nb.cells[index]
    lines = cell.source.splitlines()
    if kind == "script":
        start = int(cell.metadata.get(FIRST_LINE, 1))
        at = offset if offset is not None and 1 <= offset <= len(lines) else None
        if at is None:
            if sum(c.cell_type == "code" for c in nb.cells) == 1 and start == 1:
                return WHOLE_SCRIPT
            at = next((n for n, ln in enumerate(lines, start=1) if ln.strip()), 1)
        text = lines[at - 1].strip() if lines else ""
        return f"line {start + at - 1} of the script (`{clean_text(text, 60)}`)"
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    position = sum(c.cell_type == "code" for c in nb.cells[: index + 1])
    return f"the code cell starting `{clean_text(first, 60)}` (code cell {position})"


@dataclass(frozen=True)
class Submission:
    path: Path
    kind: Kind
    notebook: NotebookNode

    @property
    def folder(self) -> Path:
        return self.path.parent


def load_submission(path: Path) -> Submission:
    """Resolve PATH (file or folder) and parse it; InvalidSubmission carries a one-line reason."""
    path = _resolve(path)
    text = _read_text(path)
    if path.suffix == ".ipynb":
        return Submission(path, "notebook", _parse_notebook(path, text))
    return Submission(path, "script", script_to_notebook(text))


def _resolve(path: Path) -> Path:
    if not path.exists():
        raise InvalidSubmission(
            str(path), "does not exist; pass --submission PATH to a .ipynb or .py"
        )
    if path.is_dir():
        return _pick_from_folder(path)
    if path.suffix not in SUFFIXES:
        raise InvalidSubmission(str(path), "is not a .ipynb notebook or a .py script")
    return path.resolve()


def candidates(folder: Path) -> list[Path]:
    """What a folder submission could be: its notebooks, else its scripts (a notebook beside
    helper modules is the submission; scripts alone must be one)."""

    def visible(pattern: str) -> list[Path]:
        return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))

    return visible("*.ipynb") or visible("*.py")


def _pick_from_folder(folder: Path) -> Path:
    found = candidates(folder)
    if len(found) == 1:
        return found[0].resolve()
    if not found:
        problem = "holds no .ipynb notebook or .py script"
    else:
        names = ", ".join(p.name for p in found)
        problem = f"holds {len(found)} candidates ({names}); pass the one to grade"
    raise InvalidSubmission(str(folder), problem)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size == 0:
            raise InvalidSubmission(str(path), "is empty (0 bytes); save your work and try again")
        if size > MAX_BYTES:
            raise InvalidSubmission(
                str(path), f"is {size // (1024 * 1024)} MiB; clear the outputs and save again"
            )
        data = path.read_bytes()
    except OSError as err:
        raise InvalidSubmission(str(path), f"cannot be read ({err.strerror or err})") from err
    text = _decoded(path, data)
    if not text.strip():
        raise InvalidSubmission(str(path), "is empty (only whitespace)")
    return text


def _decoded(path: Path, data: bytes) -> str:
    """DATA as Python reads a script (a UTF-8 byte-order mark, or a `# -*- coding: ... -*-`
    line in the first two, as Windows editors save them) and as Jupyter reads a notebook
    (UTF-8, with or without a byte-order mark)."""
    encoding = "utf-8-sig"
    if path.suffix == ".py":
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as err:  # a coding line Python itself refuses
            raise InvalidSubmission(
                str(path), f"cannot be read as Python reads it: {err.msg}; save it as UTF-8"
            ) from err
        encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as err:
        named = "UTF-8" if encoding.startswith("utf-8") else f"{encoding} (its coding line)"
        raise InvalidSubmission(
            str(path), f"is not {named} text (binary data?); save it as UTF-8"
        ) from err


def _parse_notebook(path: Path, text: str) -> NotebookNode:
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidSubmission(
            str(path),
            f"is not a Jupyter notebook: invalid JSON at line {err.lineno} column {err.colno}"
            " (open and save it in Jupyter, or restore it from git)",
        ) from err
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (ValidationError, nbformat.reader.NotJSONError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InvalidSubmission(str(path), f"is not a valid Jupyter notebook ({first})") from err
    return nb


def script_to_notebook(text: str) -> NotebookNode:
    """A .py script as a notebook: one cell, or one per `# %%` marker (jupytext percent format)."""
    nb = nbformat.v4.new_notebook()
    cells: list[tuple[str, int, list[str]]] = [("code", 1, [])]
    for number, line in enumerate(text.splitlines(), start=1):
        marker = _CELL_MARKER.match(line)
        if marker:
            kind = "markdown" if "[markdown]" in marker.group("rest") else "code"
            cells.append((kind, number + 1, []))
            continue
        cells[-1][2].append(line)
    for kind, start, lines in cells:
        source = "\n".join(lines).strip("\n")
        if not source.strip():
            continue
        if kind == "markdown":
            source = "\n".join(re.sub(r"^# ?", "", ln) for ln in source.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            # strip("\n") dropped the empty lines before the code: the cell starts after them
            skipped = next(n for n, ln in enumerate(lines) if ln)
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata[FIRST_LINE] = start + skipped
            nb.cells.append(cell)
    return nb
