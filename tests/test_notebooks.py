"""Notebooks are source code: clean in git (nbval itself runs them, see pyproject.toml)."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

spec = importlib.util.spec_from_file_location("nbtools", ROOT / "scripts" / "notebooks.py")
nbtools = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbtools)


def test_the_three_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"rep_coaching.ipynb", "team_overview.ipynb", "self_coaching.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_in_git(path):
    assert nbtools.problems(nbformat.read(path, as_version=4), path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_checks_its_key_numbers_with_nbval(path):
    nb = nbformat.read(path, as_version=4)
    checked = [c for c in nb.cells if nbtools.is_checked(c)]
    assert checked, f"{path.name} has no # NBVAL_CHECK_OUTPUT cell"
    assert all(c.outputs for c in checked), "refresh it: python scripts/notebooks.py refresh"


def test_the_clean_check_catches_stray_outputs():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3"}
    cell = nbformat.v4.new_code_cell("1 + 1", metadata={"tags": ["parameters"]})
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
    nb.cells.append(cell)
    found = nbtools.problems(nb, "x")
    assert any("execution_count" in f for f in found)
    assert any("not marked" in f for f in found)
