"""The README and docs/: every relative link resolves, and every command they print runs as
printed from a clone (the venv's own programs, labgrade's real sub-commands)."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import labs
from grader.engine.lab import Design, Feedback, Lab, Needs, Speed
from grader.frontends.cli import subcommands

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target), not an image's; the target up to its closing parenthesis or a title.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`[^`]*`")


def prose(text: str) -> Iterator[str]:
    """TEXT's lines outside fenced code blocks, inline code spans blanked."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield CODE_SPAN.sub("``", line)


def anchors(text: str) -> set[str]:
    """The #fragments GitHub gives TEXT's headings: lower case, punctuation other than '-'
    and '_' dropped, spaces as '-', a repeated one suffixed -1, -2, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> Iterator[str]:
    for line in prose(page.read_text(encoding="utf-8")):
        yield from LINK.findall(line)


def commands(page: Path) -> Iterator[str]:
    """Each shell line PAGE shows: in ```sh blocks, and the inline spans that are commands."""
    lang = None
    for line in page.read_text(encoding="utf-8").splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            lang = None if lang is not None else fence.group(1)
            continue
        if lang == "sh":
            yield line.strip()
        elif lang is None:
            # A span of three words or more that starts with labgrade is a command; one of
            # two names a sub-command in prose ("`labgrade batch` takes ...").
            for span in re.findall(r"`([^`]+)`", line):
                if span.startswith(".venv") or (
                    span.startswith("labgrade ") and len(span.split()) >= 3
                ):
                    yield span


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:: not a file of this repository
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif fragment and fragment not in anchors(dest.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with anchor #{fragment} in {dest.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_anchors_follow_githubs_rules() -> None:
    text = "## Seeing the run (`--keep-server`)\n## The grading's server\n## A\n## A\n"
    assert anchors(text) == {"seeing-the-run---keep-server", "the-gradings-server", "a", "a-1"}
    assert anchors("```\n# not a heading\n```\n") == set()


def test_the_readme_is_a_landing_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    for section in ("## For students", "## For instructors", "## For course platforms"):
        assert section in text
    for platform in ("Gradescope", "Classroom 50", "GitHub Actions", "Canvas", "Moodle"):
        assert f"- **{platform}**" in text


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_docs_page_has_a_table_of_contents(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if page.name == "performance.md":
        pytest.skip("docs/performance.md is a measurement log, kept as it was")
    listed = re.findall(r"^\s*- \[[^\]]*\]\(#([^)]+)\)", text, re.M)
    assert set(listed) == anchors(text) - anchors(text.splitlines()[0])


def test_every_command_names_the_venvs_program() -> None:
    """After the README's first command labgrade is on no PATH: a command that names it bare
    fails as printed ('labgrade: command not found'), and one naming a sub-command labgrade
    lacks fails too."""
    known = {"", *subcommands()}  # "": the program named on its own, in prose
    wrong = []
    # docs/performance.md records what was measured, in the words of the day.
    for page in (p for p in PAGES if p.name != "performance.md"):
        for line in commands(page):
            words = shlex.split(line.replace("\\", "/"), comments=True) if line else []
            for i, word in enumerate(words):
                if word == "labgrade" or word == "pytest":
                    wrong.append(f"{page.name}: {line!r} names {word} bare")
                sub = words[i + 1] if i + 1 < len(words) else ""
                if word.endswith("/labgrade") and sub not in known and not sub.startswith("-"):
                    wrong.append(f"{page.name}: {line!r}: labgrade has no {sub!r}")
    assert not wrong, "\n".join(wrong)


def test_the_labs_page_lists_the_notebooks_labgrade_labs_prints() -> None:
    text = (ROOT / "docs" / "labs.md").read_text(encoding="utf-8")
    for lab in labs.all_labs():
        assert lab.course is not None, f"{lab.id}: no course notebook named"
        for path in (lab.reference / lab.notebook, lab.template / lab.notebook, lab.course):
            assert f"`{path.relative_to(ROOT).as_posix()}`" in text, path


def test_writing_a_lab_names_every_field_of_the_lab_interface() -> None:
    """The page's field table is held to grader/engine/lab.py: a field added there and not
    documented, or documented and gone, fails here."""
    page = (ROOT / "docs" / "writing-a-lab.md").read_text(encoding="utf-8")
    table = page.split("## What a `Lab` says", 1)[1].split("\n## ", 1)[0]
    records = {"Lab": Lab, "Design": Design, "Needs": Needs, "Feedback": Feedback, "Speed": Speed}
    for name, record in records.items():
        for f in dataclasses.fields(record):
            assert f"`{f.name}`" in table, f"{name}.{f.name} is not in docs/writing-a-lab.md"
    # A field is named in a row's first column, or as "`name`:" in a record's row.
    first = " ".join(row.split("|")[1] for row in table.splitlines() if row.startswith("| `"))
    named = set(re.findall(r"`([a-z_]+)`", first)) | set(
        re.findall(r"`([a-z_]+)`(?: \(of the rubric\))?:", table)
    )
    known = {f.name for r in records.values() for f in dataclasses.fields(r)}
    assert named <= known, f"the page names fields Lab has not: {named - known}"
