"""Executing the ordered notebooks with papermill (``snnlab run``).

Every ``notebooks/NN_*.ipynb`` runs in order, with the same injected parameters, on a kernel
started from *this* interpreter (so a venv's ``snnlab run`` uses the venv, whatever kernels the
user has installed), with the notebooks folder as working directory. Each executed notebook is
written to the output folder next to its HTML export, and ``index.html`` links them all.

Files are written atomically (a temporary file in the same folder, then a rename), so a full disk
or a kill never leaves a truncated notebook, page or index. Ctrl-C stops the run: the notebook
it interrupted is saved marked "interrupted" (not completed) with what it had run, and the HTML
and the index are written for everything that ran.

The HTML pages stand alone (``report_html``): maths as MathML, plotly.js inline, no CDN script, a
static rendering of every widget (the kernels load ``report_html`` as an IPython extension so a
displayed widget also records its snapshot). With kaleido and a Chromium, every figure is also
written as PNG and SVG under ``figures/<notebook>/``. On a terminal a bar shows the running
notebook, its cell and the kernel's own progress bars (``progress``).
"""

from __future__ import annotations

import contextlib
import gc
import html
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_.*\.ipynb$")
PLOTLY_RENDERER = "plotly_mimetype+notebook"
INTERRUPTED = "interrupted"
PARTIAL_SUFFIX = ".partial.ipynb"
KERNEL_LOG = "kernel-stderr.log"
FIGURES_DIR = "figures"
KERNEL_EXTENSION = "snnlab.study.report_html"


def _kernel_manager_class(stderr_log: Path | None = None) -> type:
    """An AsyncKernelManager whose kernel is ``sys.executable -m ipykernel_launcher`` (no kernelspec lookup).

    ``stderr_log``: append the kernel process's own stderr there (ipykernel's warnings, and the ZMQ
    traceback it prints when it is shut down mid-cell by Ctrl-C) instead of the terminal. A cell's
    output is not affected: the kernel sends it to the notebook.
    """
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
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                      f"--ext={KERNEL_EXTENSION}"],
                display_name=f"Python ({sys.executable})",
                language="python",
                name="python3",
                env=env,
            )

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if stderr_log is None or "stderr" in kw:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(stderr_log, "ab") as stream:  # the kernel keeps its own copy of the descriptor
                return await super()._async_launch_kernel(kernel_cmd, stderr=stream, **kw)

    return InterpreterKernelManager


@dataclass(frozen=True)
class NotebookOutcome:
    """How one notebook went: ``status`` is "done", "failed" or "interrupted" (then ``error`` says why)."""

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
    figures: str = ""  # one line: where the static figures went, or why none were written

    @property
    def ok(self) -> bool:
        """True when every selected notebook ran to the end."""
        return all(o.status == "done" for o in self.outcomes)

    @property
    def failed(self) -> list[NotebookOutcome]:
        """The outcomes that did not run to the end (failed or interrupted)."""
        return [o for o in self.outcomes if o.status != "done"]

    @property
    def interrupted(self) -> bool:
        """True when Ctrl-C stopped the run."""
        return any(o.status == INTERRUPTED for o in self.outcomes)


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


# Loggers that report a kernel shut down by Ctrl-C as an error with a traceback (the notebook's outcome says it).
KERNEL_DEATH_LOGGERS = ("papermill", "asyncio", "nbclient", "traitlets")


def _is_kernel_death(record: logging.LogRecord) -> bool:
    """True for a log record about a kernel that died under a cell (the notebook's outcome reports it)."""
    error = record.exc_info[1] if record.exc_info else None
    return type(error).__name__ == "DeadKernelError" or "Kernel died" in record.getMessage()


@contextlib.contextmanager
def _quiet_kernel_deaths() -> Iterator[None]:
    """Drop the tracebacks papermill, nbclient and asyncio log when a kernel dies (Ctrl-C) during the block.

    Orphaned asyncio tasks log theirs when garbage-collected, so the block ends with a collection.
    """
    class Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not _is_kernel_death(record)

    drop = Drop()
    loggers = [logging.getLogger(name) for name in KERNEL_DEATH_LOGGERS]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        gc.collect()
        for logger in loggers:
            logger.removeFilter(drop)


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    Either the whole new content is there or the old file (if any) is untouched: a failing write
    (a full disk) removes the temporary file and re-raises.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")  # created with the umask
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def export_html(notebook: Path) -> Path:
    """Write ``notebook`` as a standalone HTML page next to it (``.html``, atomically); returns the HTML path."""
    import nbformat

    from snnlab.study.report_html import notebook_html

    node = nbformat.read(notebook, as_version=4)
    return write_atomic(notebook.with_suffix(".html"), notebook_html(node))


def _export_figures(notebooks: Sequence[Path], folder: Path) -> str:
    """Write the figures of the executed ``notebooks`` under ``folder/<stem>/``; one line saying what happened."""
    import nbformat

    from snnlab.study.report_html import export_figures, figure_export_unavailable

    why = figure_export_unavailable()
    if why is not None:
        return f"figures: no PNG/SVG written: {why}"
    count, errors = 0, []
    for notebook in notebooks:
        try:
            count += len(export_figures(nbformat.read(notebook, as_version=4), folder / notebook.stem))
        except Exception as exc:  # noqa: BLE001 - a failed image export does not fail the notebook
            errors.append(f"{notebook.name}: {type(exc).__name__}: {exc}")
    line = f"figures: {count} file(s) (PNG and SVG) in {folder}" if count else "figures: the notebooks made no plotly figure"
    return line + (f"; failed for {'; '.join(errors)}" if errors else "")


def _mark_interrupted(node: Any) -> None:
    """Mark an executed notebook that Ctrl-C stopped: the notebook, the cell that was running, and a note on top.

    papermill records the interrupted cell as "completed"; here it is the last cell that started
    (status neither "pending" nor absent), and becomes "interrupted".
    """
    import nbformat

    node.metadata.setdefault("snnlab", {})["status"] = INTERRUPTED
    started = [c for c in node.cells if c.get("metadata", {}).get("papermill", {}).get("status") not in (None, "pending")]
    if started:
        started[-1].metadata["papermill"]["status"] = INTERRUPTED
    note = nbformat.v4.new_markdown_cell(
        "<span style=\"color:red; font-size:1.5em\">**Interrupted** (Ctrl-C): this notebook did not run to the end; "
        "the outputs below are partial.</span>")
    note.metadata["tags"] = ["snnlab-interrupted"]
    node.cells.insert(0, note)


def _finish_notebook(partial: Path, target: Path, *, interrupted: bool) -> None:
    """Move papermill's output (``partial``) to ``target`` atomically, marked when the run was interrupted."""
    import nbformat

    node = nbformat.read(partial, as_version=4)
    if interrupted:
        _mark_interrupted(node)
    write_atomic(target, nbformat.writes(node))
    partial.unlink()


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
tr.failed{{background:#fdd}} tr.interrupted{{background:#ffd}} pre{{margin:0;white-space:pre-wrap}}</style></head>
<body><h1>snnlab run: {html.escape(run.out_dir.name)}</h1>
<p>Parameters:</p><ul>{params}</ul>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>executed</th><th>error</th></tr>
{''.join(rows)}
</table></body></html>
"""
    return write_atomic(run.out_dir / "index.html", page)


def run_notebooks(
    notebooks: Sequence[Path],
    out_dir: str | Path,
    parameters: Mapping[str, Any],
    *,
    cwd: str | Path,
    keep_going: bool = False,
    log: Callable[[str], None] = print,
    start_timeout: int = 120,
    progress: bool | None = None,
    figures: bool = True,
) -> NotebookRun:
    """Execute ``notebooks`` in order into ``out_dir`` with ``parameters``; export HTML; write the index.

    A failing notebook stops the run (later ones are not started) unless ``keep_going``; Ctrl-C
    (KeyboardInterrupt, in this process or in the kernel) always stops it, with the notebook marked
    "interrupted" and the HTML and index written for what ran (``run.interrupted`` is then True).
    ``log`` receives one line per notebook (status, seconds, and the error when it failed).
    Executed notebooks are written atomically: papermill writes ``.STEM.partial.ipynb`` as it goes, which
    replaces ``NAME`` when the notebook ends. The kernels' own stderr goes to ``kernel-stderr.log`` there.
    ``progress``: the terminal bar per notebook (None: only when stderr is a terminal). ``figures``: also
    write every figure as PNG and SVG under ``figures/`` when kaleido and a Chromium are present;
    ``run.figures`` says where they went or why there are none.
    """
    import papermill

    from snnlab.study.progress import NotebookProgress, register_engine

    engine = register_engine() if progress is not False else None

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(out_dir=out, parameters=dict(parameters))
    manager = _kernel_manager_class(out / KERNEL_LOG)
    for source in notebooks:
        target = out / source.name
        partial = out / f".{source.stem}{PARTIAL_SUFFIX}"
        partial.unlink(missing_ok=True)
        t0 = time.perf_counter()
        error = ""
        interrupted = False
        bar = NotebookProgress(source.stem, enabled=progress) if engine is not None else None
        extra = {"engine_name": engine, "snnlab_progress": bar} if engine is not None else {}
        try:
            with _quiet_kernel_deaths():
                papermill.execute_notebook(
                    str(source), str(partial), parameters=dict(parameters), kernel_name="python3",
                    language="python", cwd=str(cwd), progress_bar=False, start_timeout=start_timeout,
                    kernel_manager_class=manager, **extra,
                )
        except KeyboardInterrupt:
            interrupted, error = True, "interrupted (Ctrl-C)"
        except Exception as exc:  # noqa: BLE001 - any failure is this notebook's outcome
            error = _describe_error(exc)
            interrupted = getattr(exc, "ename", None) == "KeyboardInterrupt"  # the kernel got the Ctrl-C
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - t0
        html_path = None
        if partial.is_file():
            try:
                _finish_notebook(partial, target, interrupted=interrupted)
                html_path = export_html(target)
            except Exception as exc:  # noqa: BLE001 - a write or export failure fails the notebook
                error = error or f"writing {target.name} failed: {type(exc).__name__}: {exc}"
                partial.unlink(missing_ok=True)
        elif not error:
            error = f"papermill wrote no output notebook at {target}"
        status = INTERRUPTED if interrupted else ("failed" if error else "done")
        outcome = NotebookOutcome(source.name, status, seconds, target, html_path, error)
        run.outcomes.append(outcome)
        line = f"{status:>6}  {source.name:<40} {seconds:7.1f} s"
        log(line if not error else f"{line}  {error}")
        if interrupted or (error and not keep_going):
            break
    run.index = write_index(run)
    if figures and run.interrupted:
        run.figures = "figures: none written (interrupted)"
    elif figures:
        executed = [o.notebook for o in run.outcomes if o.html is not None and o.notebook.is_file()]
        run.figures = _export_figures(executed, out / FIGURES_DIR) if executed else ""
    return run
