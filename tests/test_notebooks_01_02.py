"""Notebooks 01 and 02 execute end to end (papermill, smoke profile) and are committed stripped.

The checked cells (``keep_output`` + ``# NBVAL_CHECK_OUTPUT``) hold profile-independent numbers, so
the smoke run must reproduce the committed output exactly: the same check ``pytest --nbval-lax
notebooks/`` makes with the default (quick) parameters, here at smoke cost.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from notebook_checks import NOTEBOOKS, cell_text, check_committed_layout, checked_cells, strip_notebooks

NAMES = ("01_spike_dynamics.ipynb", "02_why_classic_dropout_fails.ipynb")


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_layout(name: str) -> None:
    check_committed_layout(name)


def test_strip_keeps_only_marked_outputs() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", text="1\n")], execution_count=3),
        nbformat.v4.new_code_cell("2", outputs=[nbformat.v4.new_output("stream", text="2\n")], execution_count=4),
    ])
    nb.cells[1].metadata["keep_output"] = True
    nb.metadata["widgets"] = {"state": {}}
    out = strip_notebooks.strip_notebook(nb)
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    assert cell_text(out.cells[1].outputs) == "2\n" and out.cells[1].execution_count == 4
    assert "widgets" not in out.metadata


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_smoke_profile(name: str, tmp_path: Path) -> None:
    """papermill with profile="smoke" and a store in tmp_path; checked outputs equal the committed ones."""
    papermill = pytest.importorskip("papermill")
    out_path = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out_path),
        parameters={"profile": "smoke", "store_path": str(tmp_path / "results.sqlite")},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )
    ran = nbformat.read(out_path, as_version=4)
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    got = [cell_text(c.outputs) for c in checked_cells(ran)]
    want = [cell_text(c.outputs) for c in checked_cells(committed)]
    assert got == want
