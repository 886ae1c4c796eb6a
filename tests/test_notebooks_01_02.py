"""Notebooks 01 and 02 execute end to end (papermill, smoke profile) and are committed stripped.

The checked cells (``keep_output`` + ``# NBVAL_CHECK_OUTPUT``) hold profile-independent numbers, so
the smoke run must reproduce the committed output exactly: the same check ``pytest --nbval-lax
notebooks/`` makes with the default (quick) parameters, here at smoke cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("01_spike_dynamics.ipynb", "02_why_classic_dropout_fails.ipynb")
PARAMETER_NAMES = {"profile", "dataset", "device", "seed", "seeds", "epochs", "data_root", "store_path"}

sys.path.insert(0, str(REPO / "tools"))
import strip_notebooks  # noqa: E402


def _text(outputs: list) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def _checked(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("keep_output") is True]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_layout(name: str) -> None:
    """One parameters cell with the pinned names; stripped except checked cells, which have outputs."""
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert assigned == PARAMETER_NAMES
    assert "profile = os.environ.get(\"SNNLAB_PROFILE\", \"quick\")" in tagged[0].source  # quick unless overridden (make test: smoke)
    checked = _checked(nb)
    assert checked and all("# NBVAL_CHECK_OUTPUT" in c.source and _text(c.outputs) for c in checked)
    assert not strip_notebooks.strip_file(path, check=True), f"{name} is not stripped: run tools/strip_notebooks.py"


def test_strip_keeps_only_marked_outputs() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", text="1\n")], execution_count=3),
        nbformat.v4.new_code_cell("2", outputs=[nbformat.v4.new_output("stream", text="2\n")], execution_count=4),
    ])
    nb.cells[1].metadata["keep_output"] = True
    nb.metadata["widgets"] = {"state": {}}
    out = strip_notebooks.strip_notebook(nb)
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    assert _text(out.cells[1].outputs) == "2\n" and out.cells[1].execution_count == 4
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
    got = [_text(c.outputs) for c in _checked(ran)]
    want = [_text(c.outputs) for c in _checked(committed)]
    assert got == want
