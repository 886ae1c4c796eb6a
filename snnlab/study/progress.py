"""Terminal progress for ``snnlab run``: which notebook and cell is running, and the kernel's own progress bars.

A papermill engine (registered as ``snnlab``) runs notebooks with a client that reports to a
``NotebookProgress``: one tqdm bar per notebook (cells done out of all, the running cell's first
line), and, while a cell shows a tqdm bar of its own in the notebook (``run_trials``' "trials"
bar: an ipywidgets bar whose updates reach papermill as widget-state messages), that bar's text
(``trials 3/12 [00:10<00:30, 3.3s/trial]``) as the bar's postfix. The notebook's bars stay as they are.
"""

from __future__ import annotations

import html
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

ENGINE_NAME = "snnlab"
_TAGS = re.compile(r"<[^>]+>")


def _plain(text: Any) -> str:
    return " ".join(html.unescape(_TAGS.sub("", str(text))).split())


def tqdm_widget_texts(widget_state: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The text of each tqdm notebook bar in a client's widget state (``{model_id: state}``), in creation order.

    A tqdm bar is an HBox of [HTML (description), progress (value/max), HTML (``n/total [elapsed<eta, rate]``)];
    the result maps the HBox's id to ``"description n/total [elapsed<eta, rate]"``.
    """
    texts = {}
    def model(child: Any) -> Mapping[str, Any]:
        found = widget_state.get(str(child).removeprefix("IPY_MODEL_"))
        return found if isinstance(found, Mapping) else {}

    for key, state in widget_state.items():
        if not isinstance(state, Mapping) or state.get("_model_name") != "HBoxModel":
            continue
        children = state.get("children")
        if not isinstance(children, list) or len(children) != 3:
            continue
        left, bar, right = (model(c) for c in children)
        if "Progress" not in str(bar.get("_model_name", "")) or left.get("_model_name") != "HTMLModel":
            continue
        text = " ".join(t for t in (_plain(left.get("value", "")), _plain(right.get("value", ""))) if t)
        if text:
            texts[str(key)] = text
    return texts


def _terminal_width(stream: TextIO) -> int | None:
    """None when the terminal reports its width (tqdm follows it), else a fixed 100 (a pty with no size says 0)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 100
    return None if columns > 0 else 100


class NotebookProgress:
    """One notebook's terminal bar: cells done of all, the running cell, the kernel's progress bars.

    ``enabled=None`` shows the bar only on a terminal (tqdm's rule), so logs and CI get no redraws.
    """

    def __init__(self, name: str, *, file: TextIO | None = None, enabled: bool | None = None) -> None:
        self.name = name
        self.file = file if file is not None else sys.stderr
        self.enabled = enabled
        self.bar: Any = None
        self.cell_text = ""
        self.kernel_text = ""
        self.n_cells = 0
        self._current: dict[str, str] = {}  # tqdm bar id -> its text, as last seen
        self._seen: set[str] = set()  # the bars made before the running cell

    def start(self, n_cells: int) -> None:
        """Open the bar for ``n_cells`` cells."""
        from tqdm import tqdm

        width = _terminal_width(self.file)
        self.n_cells = n_cells
        self.bar = tqdm(total=n_cells, desc=self.name, unit="cell", file=self.file, leave=False,
                        disable=False if self.enabled else None if self.enabled is None else True,
                        dynamic_ncols=width is None, ncols=width, nrows=None if width is None else 24,
                        bar_format="{desc} |{bar:10}| {n_fmt}/{total_fmt} cells [{elapsed}]{postfix}")

    def cell(self, index: int, source: str) -> None:
        """Cell ``index`` (from 0) starts: show its first non-empty line."""
        lines = [line.strip() for line in str(source).splitlines() if line.strip() and not line.strip().startswith("#")]
        first = lines[0] if lines else ""
        self.cell_text = f"cell {index + 1}: {first[:40]}"
        self.kernel_text = ""
        self._seen = set(self._current)
        self._show()

    def cell_done(self) -> None:
        """The running cell finished."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.refresh()  # update() redraws at most every 0.1 s

    def kernel_bars(self, widget_state: Mapping[str, Mapping[str, Any]]) -> None:
        """A widget changed in the kernel: show the text of the newest tqdm bar the running cell made."""
        bars = tqdm_widget_texts(widget_state)
        self._current = bars
        fresh = [text for key, text in bars.items() if key not in self._seen]
        text = fresh[-1] if fresh else ""
        if text != self.kernel_text:
            self.kernel_text = text
            self._show()

    def _show(self) -> None:
        if self.bar is not None:
            # the kernel's bar first: a narrow terminal cuts the end of the line
            self.bar.set_postfix_str(" | ".join(t for t in (self.kernel_text, self.cell_text) if t), refresh=True)

    def close(self) -> None:
        """Remove the bar (the run's one-line summary follows)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def register_engine() -> str | None:
    """Register the ``snnlab`` papermill engine; returns its name, or None when papermill has no engine registry."""
    try:
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.engines import NBClientEngine, papermill_engines
        from papermill.utils import merge_kwargs, remove_args
        from traitlets import Any as AnyTrait
    except ImportError:  # a stand-in papermill (tests) or a very old one
        return None

    class ProgressClient(PapermillNotebookClient):
        """Papermill's client reporting cells and widget updates to ``snnlab_progress``."""

        snnlab_progress = AnyTrait(None)

        def execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
            progress = self.snnlab_progress
            if progress is not None:
                if progress.bar is None:
                    progress.start(len(self.nb.cells))
                progress.cell(cell_index, cell.get("source", ""))
            try:
                return super().execute_cell(cell, cell_index, *args, **kwargs)
            finally:
                if progress is not None:
                    progress.cell_done()

        def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
            super().handle_comm_msg(outs, msg, cell_index)
            if self.snnlab_progress is not None:
                self.snnlab_progress.kernel_bars(self.widget_state)

    class ProgressEngine(NBClientEngine):
        """NBClientEngine with ``ProgressClient``."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            # NBClientEngine.execute_managed_notebook (papermill 2.x) with this client class.
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logging.getLogger("papermill"),
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
            )
            return ProgressClient(nb_man, **final_kwargs).execute()

    papermill_engines.register(ENGINE_NAME, ProgressEngine)
    return ENGINE_NAME
