"""How feedback names the place code ran: a notebook's code cell as Jupyter shows it, a
script's line in its file."""

from __future__ import annotations

import nbformat

from grader.engine.kernel.submission import LABEL, WHOLE_SCRIPT, cell_label, script_to_notebook


def test_a_code_cell_is_named_by_its_first_line_and_counted_among_code_cells_only() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Step 3"),
        nbformat.v4.new_code_cell("\n\nmodel.fit(X, y)\nmodel.score(X, y)"),
        nbformat.v4.new_markdown_cell("Markdown cells have no number in Jupyter"),
        nbformat.v4.new_code_cell("import time"),
    ]
    first = cell_label(nb, 1, "notebook")
    assert first == "the code cell starting `model.fit(X, y)` (code cell 1)"
    assert cell_label(nb, 3, "notebook") == "the code cell starting `import time` (code cell 2)"
    assert LABEL.fullmatch(first)


def test_a_scripts_cell_is_named_by_its_line_in_the_file() -> None:
    text = "import os\n# %%\n\n\nx = 1\ny = 2\n# %% [markdown]\n# notes\n# %%\nz()\n"
    nb = script_to_notebook(text)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    lines = text.splitlines()
    labels = [cell_label(nb, i, "script") for i in code]
    assert labels == [
        "line 1 of the script (`import os`)",
        "line 5 of the script (`x = 1`)",
        "line 10 of the script (`z()`)",
    ]
    assert lines[4] == "x = 1"
    assert lines[9] == "z()"
    # The line that raised, where the traceback names it: the cell's second line is line 6.
    assert cell_label(nb, code[1], "script", 2) == "line 6 of the script (`y = 2`)"
    assert all(LABEL.fullmatch(label) for label in labels)


def test_a_script_of_one_cell_without_a_known_line_is_the_script() -> None:
    nb = script_to_notebook("import os\nx = 1\n")
    assert cell_label(nb, 0, "script") == WHOLE_SCRIPT
    assert cell_label(nb, 0, "script", 2) == "line 2 of the script (`x = 1`)"
