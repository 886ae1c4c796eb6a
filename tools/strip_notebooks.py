"""Strip outputs and execution counts from notebooks before committing them.

Cells whose metadata has ``"keep_output": true`` keep their outputs (and execution count): those
are the cells nbval checks (``# NBVAL_CHECK_OUTPUT``). Notebook-level widget state and
papermill's execution metadata are removed too, so a re-run that changes nothing leaves no diff.

    python tools/strip_notebooks.py notebooks/*.ipynb          # rewrite in place
    python tools/strip_notebooks.py --check notebooks/*.ipynb  # exit 1 if any would change
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

CELL_METADATA_DROP = ("execution", "papermill", "collapsed", "scrolled")
NOTEBOOK_METADATA_DROP = ("widgets", "papermill")


def strip_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``nb`` with outputs removed from every code cell not marked ``keep_output`` (modified in place)."""
    for cell in nb.cells:
        for key in CELL_METADATA_DROP:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("keep_output") is True:
            cell.outputs = [out for out in cell.outputs if out.get("output_type") != "display_data"
                            or "application/vnd.jupyter.widget-view+json" not in out.get("data", {})]
            continue
        cell.outputs = []
        cell.execution_count = None
    for key in NOTEBOOK_METADATA_DROP:
        nb.metadata.pop(key, None)
    return nb


def strip_file(path: Path, *, check: bool = False) -> bool:
    """Strip ``path`` in place (or only compare when ``check``); True when the file changes / would change."""
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    stripped = nbformat.writes(strip_notebook(nb)) + "\n"
    changed = stripped != original
    if changed and not check:
        path.write_text(stripped, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: strip the given notebooks; with ``--check`` report those that are not stripped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook is not stripped")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"notebook {path} does not exist")
        if strip_file(path, check=args.check):
            dirty.append(path)
    verb = "not stripped" if args.check else "stripped"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
