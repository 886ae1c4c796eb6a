"""Shared checks of the committed notebooks (layout, stripped outputs, checked cells), used by the notebook tests."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
PARAMETER_NAMES = {"profile", "dataset", "device", "seed", "seeds", "epochs", "data_root", "store_path"}
NOTEBOOK_PARAMETERS = {"04_training_comparison.ipynb": {"train_missing"}}  # a notebook's own, beyond the shared ones

sys.path.insert(0, str(REPO / "tools"))
import strip_notebooks  # noqa: E402


def cell_text(outputs: list) -> str:
    """The text of a cell's outputs: streams, then markdown, then plain text representations."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out and "text/markdown" in out["data"]:
            parts.append(out["data"]["text/markdown"])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def checked_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells whose output is committed and compared (``keep_output``)."""
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("keep_output") is True]


def check_committed_layout(name: str) -> None:
    """One parameters cell with the pinned names; stripped except checked cells, which have outputs."""
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert assigned == PARAMETER_NAMES | NOTEBOOK_PARAMETERS.get(name, set())
    # quick unless overridden (make test sets SNNLAB_PROFILE=smoke for nbval)
    assert 'profile = os.environ.get("SNNLAB_PROFILE", "quick")' in tagged[0].source
    checked = checked_cells(nb)
    assert checked and all("# NBVAL_CHECK_OUTPUT" in c.source and cell_text(c.outputs) for c in checked)
    assert not strip_notebooks.strip_file(path, check=True), f"{name} is not stripped: run tools/strip_notebooks.py"
