"""Notebooks 03–05 execute end to end (papermill, smoke profile) and are committed stripped.

The checked cells (``keep_output`` + ``# NBVAL_CHECK_OUTPUT``) hold profile-independent output, so
the smoke run must reproduce the committed output exactly (what ``pytest --nbval-lax notebooks/``
checks with the default parameters, here at smoke cost). Notebook 04 is also run twice on the same
store to check that the second run reuses every trial instead of training it again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("03_snn_aware_dropout.ipynb", "04_training_comparison.ipynb", "05_neuron_importance.ipynb")
PARAMETER_NAMES = {"profile", "dataset", "device", "seed", "seeds", "epochs", "data_root", "store_path"}

sys.path.insert(0, str(REPO / "tools"))
import strip_notebooks  # noqa: E402


def _text(outputs: list) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out and "text/markdown" in out["data"]:
            parts.append(out["data"]["text/markdown"])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def _checked(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("keep_output") is True]


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
    """One parameters cell with the pinned names; stripped except checked cells, which have outputs."""
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert assigned == PARAMETER_NAMES
    assert 'profile = os.environ.get("SNNLAB_PROFILE", "quick")' in tagged[0].source  # quick unless overridden (make test: smoke)
    checked = _checked(nb)
    assert checked and all("# NBVAL_CHECK_OUTPUT" in c.source and _text(c.outputs) for c in checked)
    assert not strip_notebooks.strip_file(path, check=True), f"{name} is not stripped: run tools/strip_notebooks.py"


@pytest.mark.parametrize("name", ("03_snn_aware_dropout.ipynb", "05_neuron_importance.ipynb"))
def test_notebook_runs_in_smoke_profile(name: str, tmp_path: Path) -> None:
    """papermill with profile="smoke" and a store in tmp_path; checked outputs equal the committed ones."""
    ran = _run(name, tmp_path, tmp_path / "results.sqlite")
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert [_text(c.outputs) for c in _checked(ran)] == [_text(c.outputs) for c in _checked(committed)]
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors


def test_training_comparison_uses_the_store(tmp_path: Path) -> None:
    """Notebook 04 trains its grid through run_trials into the store and reports trained vs reused;
    with one seed (smoke) the generated text claims no verdict."""
    from snnlab.study import ResultsStore

    store = tmp_path / "results.sqlite"
    ran = _run("04_training_comparison.ipynb", tmp_path, store)
    committed = nbformat.read(NOTEBOOKS / "04_training_comparison.ipynb", as_version=4)
    assert [_text(c.outputs) for c in _checked(ran)] == [_text(c.outputs) for c in _checked(committed)]
    text = "".join(_text(c.outputs) for c in ran.cells if c.cell_type == "code")
    n_trials = len(ResultsStore(store))
    assert n_trials > 0 and f"from the store: 0 trial(s); trained now: {n_trials}" in text
    assert "digits · spiking_mlp" in text and "cannot be judged (fewer than two seeds)" in text
    assert "Of the 4 classic methods, 0 help, 0 hurt and 0 are indistinguishable" in text
