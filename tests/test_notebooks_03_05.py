"""Notebooks 03–05 execute end to end (papermill, smoke profile) and are committed stripped.

The checked cells (``keep_output`` + ``# NBVAL_CHECK_OUTPUT``) hold profile-independent output, so
the smoke run must reproduce the committed output exactly (what ``pytest --nbval-lax notebooks/``
checks with the default parameters, here at smoke cost). Notebook 04 is also run twice on the same
store to check that the second run reuses every trial instead of training it again.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from notebook_checks import NOTEBOOKS, cell_text, check_committed_layout, checked_cells

NAMES = ("03_snn_aware_dropout.ipynb", "04_training_comparison.ipynb", "05_neuron_importance.ipynb")


def _run(name: str, tmp_path: Path, store: Path) -> nbformat.NotebookNode:
    papermill = pytest.importorskip("papermill")
    out_path = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out_path),
        parameters={"profile": "smoke", "device": "cpu", "store_path": str(store)},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )
    return nbformat.read(out_path, as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_layout(name: str) -> None:
    check_committed_layout(name)


@pytest.mark.parametrize("name", ("03_snn_aware_dropout.ipynb", "05_neuron_importance.ipynb"))
def test_notebook_runs_in_smoke_profile(name: str, tmp_path: Path) -> None:
    """papermill with profile="smoke" and a store in tmp_path; checked outputs equal the committed ones."""
    ran = _run(name, tmp_path, tmp_path / "results.sqlite")
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert [cell_text(c.outputs) for c in checked_cells(ran)] == [cell_text(c.outputs) for c in checked_cells(committed)]
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors


def test_training_comparison_uses_the_store(tmp_path: Path) -> None:
    """Notebook 04 runs both tuning stages through run_trials into the store (a second run reuses
    every trial and trains none); with one seed (smoke) its computed text claims no verdict."""
    from snnlab.study import ResultsStore

    store = tmp_path / "results.sqlite"
    ran = _run("04_training_comparison.ipynb", tmp_path, store)
    committed = nbformat.read(NOTEBOOKS / "04_training_comparison.ipynb", as_version=4)
    assert [cell_text(c.outputs) for c in checked_cells(ran)] == [cell_text(c.outputs) for c in checked_cells(committed)]
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    text = "".join(cell_text(c.outputs) for c in ran.cells if c.cell_type == "code")
    n_trials = len(ResultsStore(store))
    assert n_trials > 0 and text.count(" reused from ") == 2 and "trained, 0 reused" in text
    assert "too few for a test" in text and "inconclusive" in text
    assert "the base network fits its training data" in text  # the regime sentence, computed
    (tmp_path / "again").mkdir()
    again = _run("04_training_comparison.ipynb", tmp_path / "again", store)
    text2 = "".join(cell_text(c.outputs) for c in again.cells if c.cell_type == "code")
    assert len(ResultsStore(store)) == n_trials and text2.count(": 0 trained, ") == 2


def test_training_comparison_reads_shipped_results_instead_of_training(tmp_path: Path, monkeypatch) -> None:
    """With an artefact under ``$SNNLAB_RESULTS/<profile>/`` notebook 04 imports it and trains nothing."""
    from snnlab.study import ResultsStore, export_results

    first = tmp_path / "first.sqlite"
    (tmp_path / "a").mkdir()
    _run("04_training_comparison.ipynb", tmp_path / "a", first)
    export_results(ResultsStore(first), tmp_path / "results" / "smoke", profile="smoke")
    monkeypatch.setenv("SNNLAB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "b").mkdir()
    ran = _run("04_training_comparison.ipynb", tmp_path / "b", tmp_path / "fresh.sqlite")
    text = "".join(cell_text(c.outputs) for c in ran.cells if c.cell_type == "code")
    n = len(ResultsStore(first))
    assert f"{n} trial(s) in " in text and f": {n} imported, 0 already in" in text
    assert text.count(": 0 trained, ") == 2  # both stages come from the artefact
