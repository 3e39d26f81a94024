"""What a bundle or a wheel installs of the grader is what the grader needs at run time."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

import pytest
import tomllib

from grader import labs
from grader.platforms.distribution import PACKAGE_DATA, package_files, pyproject_text
from tests.helpers import ROOT


def test_the_repositorys_package_data_is_the_bundles() -> None:
    own = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    written = tomllib.loads(pyproject_text("x", labs.load()))["tool"]["setuptools"]
    wanted = {k: list(v) for k, v in PACKAGE_DATA.items()}
    assert own["package-data"] == wanted
    assert written["package-data"] == wanted


def _installed_by(name: str) -> bool:
    """Whether `pip install` of a bundle's files installs NAME (grader/...): a module of a
    package, or a file one of PACKAGE_DATA's patterns takes in."""
    path = PurePosixPath(name)
    if path.suffix == ".py" and (ROOT / path.parent / "__init__.py").exists():
        return True
    for package, patterns in PACKAGE_DATA.items():
        folders = (
            [p for p in path.parents if p.name]
            if package == "*"
            else [PurePosixPath(package.replace(".", "/"))]
        )
        for folder in folders:
            if folder in path.parents and any(
                fnmatch.fnmatch(str(path.relative_to(folder)), pattern) for pattern in patterns
            ):
                return True
    return False


@pytest.mark.parametrize("lab_id", labs.ids())
def test_every_file_a_bundle_ships_is_installed_from_it(lab_id: str) -> None:
    """A file the bundle carries but its pyproject leaves out of the install is missing where
    the grader runs (the data lab's CSV, the children's start-up script)."""
    lab = labs.load(lab_id)
    shipped = package_files(lab, lab.rubric_path.read_text())
    assert [n for n in shipped if not _installed_by(n)] == []
    assert any(n.startswith(f"grader/labs/{lab_id}/") for n in shipped)
