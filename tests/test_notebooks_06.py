"""Notebook 06 (uncertainty and energy) executes end to end (papermill, smoke profile) and is committed stripped.

The checked cell (``keep_output`` + ``# NBVAL_CHECK_OUTPUT``) lists the conditions and prediction
variants, which do not depend on the profile, so the smoke run must reproduce the committed output.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from notebook_checks import NOTEBOOKS, cell_text, check_committed_layout, checked_cells

NAME = "06_uncertainty_and_energy.ipynb"


def test_committed_notebook_layout() -> None:
    check_committed_layout(NAME)


def test_notebook_runs_in_smoke_profile(tmp_path: Path) -> None:
    """papermill with profile="smoke" and a store in tmp_path: no error, checked outputs equal the
    committed ones, every section's computed text is there and the trained models reach the store."""
    papermill = pytest.importorskip("papermill")
    from snnlab.study import ResultsStore

    store = tmp_path / "results.sqlite"
    out_path = tmp_path / NAME
    papermill.execute_notebook(
        str(NOTEBOOKS / NAME), str(out_path),
        parameters={"profile": "smoke", "device": "cpu", "store_path": str(store)},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )
    ran = nbformat.read(out_path, as_version=4)
    committed = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    assert [cell_text(c.outputs) for c in checked_cells(ran)] == [cell_text(c.outputs) for c in checked_cells(committed)]
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    text = "".join(cell_text(c.outputs) for c in ran.cells if c.cell_type == "code")
    assert "MC passes=4" in text and "trained 10 models (10 conditions x 1 seed(s))" in text
    assert "Best calibrated: " in text and "Averaging 4 MC passes lowers the NLL" in text
    assert "rotated 90°: the predictive entropy separates" in text and "noised (sigma 0.5): the predictive" in text
    assert "Synaptic operations per inference range from" in text and "The Pareto front" in text
    assert "Calibration: best calibrated" in text and "Energy: the accuracy/operations front is" in text
    assert len(ResultsStore(store)) == 10  # none and every method, one preset each
