"""What every lab's corpus generator shares (tests/labs/<id>/submissions/generate.py): a
labelled submission is the lab's reference (or the course's notebook) with one deliberate
edit, checked to have changed what it says it changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat


def swap(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """Replaces each OLD by NEW in the cells that hold it (variant() checks each one did)."""

    def edit(source: str) -> str:
        for old, new in pairs:
            source = source.replace(old, new)
        return source

    edit.pairs = pairs  # type: ignore[attr-defined]
    return edit


def drop(marker: str) -> Callable[[str], str]:
    """Empties the code cell holding MARKER (the step is not done)."""

    def edit(source: str) -> str:
        return "" if marker in source else source

    return edit


def variant(base: Path, edit: Callable[[str], str]) -> nbformat.NotebookNode:
    nb = nbformat.read(base, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for old, _ in getattr(edit, "pairs", ()):
        if old not in code:
            raise SystemExit(f"generate.py: {old!r} is not in {base.name} any more")
    before = [c.source for c in nb.cells]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = edit(cell.source)
    if [c.source for c in nb.cells] == before:
        raise SystemExit("generate.py: a variant changed nothing")
    return nb


def write_variants(variants: dict[str, tuple[Path, Callable[[str], str]]], here: Path) -> None:
    """Each VARIANTS entry name -> (base notebook, edit) written as HERE/<name>.ipynb."""
    for name, (base, edit) in variants.items():
        nbformat.write(variant(base, edit), here / f"{name}.ipynb")
