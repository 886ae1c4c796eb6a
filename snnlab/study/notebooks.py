"""Executing the ordered notebooks with papermill (``snnlab run``).

Every ``notebooks/NN_*.ipynb`` runs in order, with the same injected parameters, on a kernel
started from *this* interpreter (so a venv's ``snnlab run`` uses the venv, whatever kernels the
user has installed), with the notebooks folder as working directory. Each executed notebook is
written to the output folder next to its HTML export, and ``index.html`` links them all.
"""

from __future__ import annotations

import html
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_.*\.ipynb$")
PLOTLY_RENDERER = "plotly_mimetype+notebook"


def _kernel_manager_class() -> type:
    """An AsyncKernelManager whose kernel is ``sys.executable -m ipykernel_launcher`` (no kernelspec lookup)."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    # Plotly figures go into the outputs both as the plotly mimetype (for JupyterLab) and as HTML
    # with plotly.js embedded, so the exported HTML pages show them offline. A renderer the
    # user chose through $PLOTLY_RENDERER wins.
    env = {"PLOTLY_RENDERER": os.environ.get("PLOTLY_RENDERER", PLOTLY_RENDERER)}

    class InterpreterKernelManager(AsyncKernelManager):
        """Starts the ipykernel of the interpreter running snnlab."""

        @property
        def kernel_spec(self) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python ({sys.executable})",
                language="python",
                name="python3",
                env=env,
            )

    return InterpreterKernelManager


@dataclass(frozen=True)
class NotebookOutcome:
    """How one notebook went: ``status`` is "done" or "failed" (then ``error`` says why)."""

    name: str
    status: str
    seconds: float
    notebook: Path
    html: Path | None
    error: str = ""


@dataclass
class NotebookRun:
    """All outcomes of one ``run_notebooks`` call and where the index page is."""

    out_dir: Path
    parameters: dict[str, Any]
    outcomes: list[NotebookOutcome] = field(default_factory=list)
    index: Path | None = None

    @property
    def ok(self) -> bool:
        """True when every selected notebook ran to the end."""
        return all(o.status == "done" for o in self.outcomes)

    @property
    def failed(self) -> list[NotebookOutcome]:
        return [o for o in self.outcomes if o.status != "done"]


def find_notebooks(directory: str | Path, only: Sequence[str] | None = None) -> list[Path]:
    """The ``NN_*.ipynb`` files of ``directory`` in numeric order, optionally only the numbers in ``only``.

    ``only`` holds notebook numbers ("01", "4"); a number with no notebook is a ValueError
    listing the available ones.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"notebooks directory {str(folder)!r} does not exist")
    found = sorted(
        (p for p in folder.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name)),
        key=lambda p: (int(NOTEBOOK_PATTERN.match(p.name).group(1)), p.name),
    )
    if only is None:
        return found
    numbers = {int(NOTEBOOK_PATTERN.match(p.name).group(1)) for p in found}
    wanted: list[int] = []
    for item in only:
        text = str(item).strip()
        if not text.isdigit():
            raise ValueError(f"only={list(only)!r}: {text!r} is not a notebook number (like 01 or 4)")
        if int(text) not in numbers:
            available = ", ".join(f"{n:02d}" for n in sorted(numbers)) or "(none)"
            raise ValueError(f"only={list(only)!r}: there is no notebook {text} in {folder}; available: {available}")
        wanted.append(int(text))
    return [p for p in found if int(NOTEBOOK_PATTERN.match(p.name).group(1)) in wanted]


def _describe_error(error: BaseException) -> str:
    """The failing cell's error for papermill failures (ename: evalue), else the exception itself."""
    ename = getattr(error, "ename", None)
    if ename is not None:
        count = getattr(error, "exec_count", None)
        where = f"cell [{count}]: " if count is not None else ""
        return f"{where}{ename}: {getattr(error, 'evalue', '')}"
    return f"{type(error).__name__}: {error}"


def export_html(notebook: Path) -> Path:
    """Write ``notebook`` as HTML next to it (``.html``); returns the HTML path."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(node)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def write_index(run: NotebookRun) -> Path:
    """Write ``index.html`` in the run folder linking every executed notebook and its HTML."""
    rows = []
    for o in run.outcomes:
        link = (f'<a href="{html.escape(o.html.name)}">{html.escape(o.name)}</a>' if o.html is not None
                else html.escape(o.name))
        rows.append(
            f"<tr class='{o.status}'><td>{link}</td><td>{o.status}</td><td>{o.seconds:.1f} s</td>"
            f"<td><a href=\"{html.escape(o.notebook.name)}\">ipynb</a></td><td><pre>{html.escape(o.error)}</pre></td></tr>"
        )
    params = "".join(f"<li><code>{html.escape(k)} = {html.escape(repr(v))}</code></li>" for k, v in run.parameters.items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>snnlab run: {html.escape(run.out_dir.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 12px;text-align:left;vertical-align:top}}
tr.failed{{background:#fdd}} pre{{margin:0;white-space:pre-wrap}}</style></head>
<body><h1>snnlab run: {html.escape(run.out_dir.name)}</h1>
<p>Parameters:</p><ul>{params}</ul>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>executed</th><th>error</th></tr>
{''.join(rows)}
</table></body></html>
"""
    target = run.out_dir / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def run_notebooks(
    notebooks: Sequence[Path],
    out_dir: str | Path,
    parameters: Mapping[str, Any],
    *,
    cwd: str | Path,
    keep_going: bool = False,
    log: Callable[[str], None] = print,
    start_timeout: int = 120,
) -> NotebookRun:
    """Execute ``notebooks`` in order into ``out_dir`` with ``parameters``; export HTML; write the index.

    A failing notebook stops the run (later ones are not started) unless ``keep_going``.
    ``log`` receives one line per notebook (status, seconds, and the error when it failed).
    """
    import papermill

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(out_dir=out, parameters=dict(parameters))
    manager = _kernel_manager_class()
    for source in notebooks:
        target = out / source.name
        t0 = time.perf_counter()
        error = ""
        try:
            papermill.execute_notebook(
                str(source), str(target), parameters=dict(parameters), kernel_name="python3", language="python",
                cwd=str(cwd), progress_bar=False, start_timeout=start_timeout, kernel_manager_class=manager,
            )
        except Exception as exc:  # noqa: BLE001 - any failure is this notebook's outcome
            error = _describe_error(exc)
        seconds = time.perf_counter() - t0
        html_path = None
        if target.is_file():
            try:
                html_path = export_html(target)
            except Exception as exc:  # noqa: BLE001 - an export failure fails the notebook
                error = error or f"HTML export failed: {type(exc).__name__}: {exc}"
        elif not error:
            error = f"papermill wrote no output notebook at {target}"
        status = "failed" if error else "done"
        outcome = NotebookOutcome(source.name, status, seconds, target, html_path, error)
        run.outcomes.append(outcome)
        line = f"{status:>6}  {source.name:<40} {seconds:7.1f} s"
        log(line if not error else f"{line}  {error}")
        if error and not keep_going:
            break
    run.index = write_index(run)
    return run
