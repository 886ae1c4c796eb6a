"""snnlab.study.notebooks: finding and selecting the NN_*.ipynb notebooks, error descriptions, the index page,
the kernel manager, and the run loop (papermill replaced by a stand-in; the real runs are in test_cli.py)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import nbformat
import pytest

from snnlab.study.notebooks import (
    NotebookOutcome,
    NotebookRun,
    _describe_error,
    _kernel_manager_class,
    export_html,
    find_notebooks,
    run_notebooks,
    write_index,
)


def _folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("{}")
    return folder


def test_find_notebooks_in_numeric_order(tmp_path) -> None:
    folder = _folder(tmp_path, ["10_late.ipynb", "2_b.ipynb", "02_a.ipynb", "01_first.ipynb",
                                "notes.ipynb", "03_x.py", "04.ipynb"])
    (folder / "05_dir.ipynb").mkdir()  # a folder is not a notebook
    assert [p.name for p in find_notebooks(folder)] == ["01_first.ipynb", "02_a.ipynb", "2_b.ipynb", "10_late.ipynb"]
    assert find_notebooks(tmp_path / "notebooks") == find_notebooks(str(folder))


def test_find_notebooks_only_selects_numbers(tmp_path) -> None:
    folder = _folder(tmp_path, ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"])
    assert [p.name for p in find_notebooks(folder, only=["10", " 1 "])] == ["01_a.ipynb", "10_c.ipynb"]  # folder order
    assert [p.name for p in find_notebooks(folder, only=["002"])] == ["02_b.ipynb"]
    assert find_notebooks(folder, only=[]) == []
    with pytest.raises(ValueError, match=r"there is no notebook 07 in .*; available: 01, 02, 10"):
        find_notebooks(folder, only=["07"])
    with pytest.raises(ValueError, match=r"'x1' is not a notebook number \(like 01 or 4\)"):
        find_notebooks(folder, only=["x1"])


def test_find_notebooks_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        find_notebooks(tmp_path / "nowhere")
    empty = _folder(tmp_path, [])
    assert find_notebooks(empty) == []
    with pytest.raises(ValueError, match=r"available: \(none\)"):
        find_notebooks(empty, only=["1"])


def test_describe_error() -> None:
    class CellError(Exception):
        ename, evalue, exec_count = "ValueError", "the widget broke", 4

    assert _describe_error(CellError()) == "cell [4]: ValueError: the widget broke"
    no_count = CellError()
    no_count.exec_count = None
    assert _describe_error(no_count) == "ValueError: the widget broke"
    assert _describe_error(RuntimeError("boom")) == "RuntimeError: boom"


def test_notebook_run_ok_failed_and_index(tmp_path) -> None:
    done = NotebookOutcome("01_a.ipynb", "done", 1.25, tmp_path / "01_a.ipynb", tmp_path / "01_a.html")
    bad = NotebookOutcome("02_<b>.ipynb", "failed", 0.5, tmp_path / "02_b.ipynb", None, "ValueError: x < y")
    run = NotebookRun(out_dir=tmp_path, parameters={"profile": "smoke", "device": "cpu"})
    assert run.ok and run.failed == []  # nothing ran, nothing failed
    run.outcomes += [done, bad]
    assert not run.ok and run.failed == [bad]
    page = write_index(run).read_text()
    assert (tmp_path / "index.html").is_file()
    assert '<a href="01_a.html">01_a.ipynb</a>' in page and "1.2 s" in page
    assert "02_&lt;b&gt;.ipynb" in page and "ValueError: x &lt; y" in page and "class='failed'" in page
    assert "<code>profile = &#x27;smoke&#x27;</code>" in page


def test_kernel_manager_runs_this_interpreter(monkeypatch) -> None:
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    spec = _kernel_manager_class()().kernel_spec
    assert spec.argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]
    assert "--ext=snnlab.study.report_html" in spec.argv  # widgets record a static snapshot for the HTML
    assert spec.env == {"PLOTLY_RENDERER": "plotly_mimetype+notebook"}
    monkeypatch.setenv("PLOTLY_RENDERER", "png")
    assert _kernel_manager_class()().kernel_spec.env == {"PLOTLY_RENDERER": "png"}


def _write_nb(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("marker_variable_42 = 1"))
    nbformat.write(nb, path)


def test_export_html_writes_next_to_the_notebook(tmp_path) -> None:
    nb = tmp_path / "01_a.ipynb"
    _write_nb(nb)
    html = export_html(nb)
    assert html == tmp_path / "01_a.html" and "marker_variable_42" in html.read_text()


@pytest.mark.parametrize("keep_going", [False, True])
def test_run_notebooks_stops_at_a_failure_unless_keep_going(tmp_path, monkeypatch, keep_going: bool) -> None:
    calls: list[dict] = []

    def execute_notebook(source, target, *, parameters, cwd, **kwargs):
        calls.append({"source": Path(source).name, "parameters": parameters, "cwd": cwd})
        if "broken" in source:
            raise RuntimeError("it broke")
        _write_nb(Path(target))

    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(execute_notebook=execute_notebook))
    folder = _folder(tmp_path, ["01_ok.ipynb", "02_broken.ipynb", "03_after.ipynb"])
    lines: list[str] = []
    out = tmp_path / "out" / "run1"
    run = run_notebooks(find_notebooks(folder), out, {"profile": "smoke"}, cwd=folder, keep_going=keep_going,
                        log=lines.append)
    ran = ["01_ok.ipynb", "02_broken.ipynb"] + (["03_after.ipynb"] if keep_going else [])
    assert [c["source"] for c in calls] == ran
    assert all(c["parameters"] == {"profile": "smoke"} and c["cwd"] == str(folder) for c in calls)
    assert [o.status for o in run.outcomes] == ["done", "failed"] + (["done"] if keep_going else [])
    assert run.outcomes[0].html == out / "01_ok.html" and run.outcomes[0].html.is_file()
    assert run.outcomes[1].error == "RuntimeError: it broke" and run.outcomes[1].html is None
    assert not run.ok and run.index == out / "index.html" and run.index.is_file()
    assert len(lines) == len(ran) and "RuntimeError: it broke" in lines[1] and lines[0].lstrip().startswith("done")


def test_run_notebooks_fails_a_notebook_without_output(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(execute_notebook=lambda *a, **k: None))
    folder = _folder(tmp_path, ["01_silent.ipynb"])
    run = run_notebooks(find_notebooks(folder), tmp_path / "out", {}, cwd=folder, log=lambda line: None)
    assert run.outcomes[0].status == "failed" and "papermill wrote no output notebook" in run.outcomes[0].error


def _write_executed_nb(path: Path, statuses: list[str]) -> None:
    """A notebook as papermill leaves it: one code cell per status in its papermill cell metadata."""
    nb = nbformat.v4.new_notebook()
    for i, status in enumerate(statuses):
        cell = nbformat.v4.new_code_cell(f"cell_{i} = {i}")
        cell.metadata["papermill"] = {"status": status}
        nb.cells.append(cell)
    nbformat.write(nb, path)


@pytest.mark.parametrize("where", ["driver", "kernel"])
def test_ctrl_c_marks_the_notebook_interrupted_and_writes_what_ran(tmp_path, monkeypatch, where: str) -> None:
    """Ctrl-C in this process (KeyboardInterrupt) or in the kernel (a cell error named KeyboardInterrupt)."""
    calls: list[str] = []

    class KernelInterrupt(Exception):
        ename, evalue, exec_count = "KeyboardInterrupt", "", 2

    def execute_notebook(source, target, **kwargs):
        calls.append(Path(source).name)
        if "slow" in source:  # papermill has saved the running cell as "completed" before the interrupt surfaces
            _write_executed_nb(Path(target), ["completed", "completed", "pending"])
            raise KeyboardInterrupt if where == "driver" else KernelInterrupt()
        _write_nb(Path(target))

    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(execute_notebook=execute_notebook))
    folder = _folder(tmp_path, ["01_ok.ipynb", "02_slow.ipynb", "03_after.ipynb"])
    out = tmp_path / "out"
    run = run_notebooks(find_notebooks(folder), out, {}, cwd=folder, keep_going=True, log=lambda line: None)
    assert calls == ["01_ok.ipynb", "02_slow.ipynb"]  # Ctrl-C stops the run even with keep_going
    assert [o.status for o in run.outcomes] == ["done", "interrupted"] and run.interrupted and not run.ok
    executed = nbformat.read(out / "02_slow.ipynb", as_version=4)
    assert executed.metadata["snnlab"]["status"] == "interrupted"
    assert "snnlab-interrupted" in executed.cells[0].metadata["tags"]
    statuses = [c.metadata["papermill"]["status"] for c in executed.cells[1:]]
    assert statuses == ["completed", "interrupted", "pending"]  # the running cell is not "completed"
    assert "Interrupted" in (out / "02_slow.html").read_text() and (out / "01_ok.html").is_file()
    index = (out / "index.html").read_text()
    assert "class='interrupted'" in index and "02_slow.html" in index and "01_ok.html" in index
    assert "03_after" not in index
    assert sorted(p.name for p in out.iterdir()) == ["01_ok.html", "01_ok.ipynb", "02_slow.html", "02_slow.ipynb",
                                                     "index.html"]  # no partial or temporary files left
    assert run.figures == "figures: none written (interrupted)"


def test_executed_notebooks_are_written_atomically(tmp_path, monkeypatch) -> None:
    """A write that fails midway (a full disk) leaves the previous notebook intact and no temporary files."""
    import os

    import snnlab.study.notebooks as notebooks

    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(
        execute_notebook=lambda source, target, **kwargs: _write_nb(Path(target))))
    folder = _folder(tmp_path, ["01_a.ipynb"])
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "01_a.ipynb"
    previous.write_text("the previous run's notebook")

    failures = [OSError(28, "No space left on device")]
    real_fsync = os.fsync

    def full_disk_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(notebooks.os, "fsync", full_disk_once)  # after the data went into the temporary file
    run = run_notebooks(find_notebooks(folder), out, {}, cwd=folder, log=lambda line: None)
    outcome = run.outcomes[0]
    assert outcome.status == "failed" and "No space left on device" in outcome.error and "01_a.ipynb" in outcome.error
    assert previous.read_text() == "the previous run's notebook"
    assert sorted(p.name for p in out.iterdir()) == ["01_a.ipynb", "index.html"]  # no partial or temporary file

    monkeypatch.setattr(notebooks.os, "fsync", real_fsync)
    run = run_notebooks(find_notebooks(folder), out, {}, cwd=folder, log=lambda line: None)
    assert run.ok and "marker_variable_42" in previous.read_text()
    assert sorted(p.name for p in out.iterdir()) == ["01_a.html", "01_a.ipynb", "index.html"]


def test_write_atomic_replaces_whole_files(tmp_path) -> None:
    from snnlab.study.notebooks import write_atomic

    target = tmp_path / "page.html"
    assert write_atomic(target, "one") == target and target.read_text() == "one"
    write_atomic(target, "two")
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_kernel_death_logs_are_dropped_only_inside_the_block() -> None:
    import logging

    from snnlab.study.notebooks import _quiet_kernel_deaths

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    class DeadKernelError(RuntimeError):
        pass

    keep = Keep()
    for name in ("papermill", "asyncio"):
        logging.getLogger(name).addHandler(keep)
    try:
        dead = DeadKernelError("Kernel died")
        with _quiet_kernel_deaths():
            logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
            logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=(type(dead), dead, None))
            logging.getLogger("papermill").warning("Passed unknown parameter: x")
        logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
    finally:
        for name in ("papermill", "asyncio"):
            logging.getLogger(name).removeHandler(keep)
    assert keep.messages == ["Passed unknown parameter: x", "Kernel died while waiting for execute reply."]


def test_run_notebooks_says_why_there_are_no_figures(tmp_path, monkeypatch) -> None:
    import snnlab.study.report_html as report_html

    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(
        execute_notebook=lambda source, target, **kwargs: _write_nb(Path(target))))
    monkeypatch.setattr(report_html, "figure_export_unavailable", lambda: "no Chromium found (test)")
    folder = _folder(tmp_path, ["01_a.ipynb"])
    out = tmp_path / "out"
    run = run_notebooks(find_notebooks(folder), out, {}, cwd=folder, log=lambda line: None)
    assert run.figures == "figures: no PNG/SVG written: no Chromium found (test)"
    assert not (out / "figures").exists()
    run = run_notebooks(find_notebooks(folder), tmp_path / "out2", {}, cwd=folder, log=lambda line: None, figures=False)
    assert run.figures == ""


def test_a_real_run_shows_progress_and_writes_a_standalone_page(tmp_path, capsys) -> None:
    """A real kernel: the terminal bar names the notebook and the cell; the page has MathML and the widget snapshot."""
    from snnlab.study.report_html import WIDGET_NOTE, figure_export_unavailable

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("The square $x^2$."),
        nbformat.v4.new_code_cell("import plotly.graph_objects as go\ngo.Figure(go.Scatter(y=[1, 3, 2])).show()"),
        nbformat.v4.new_code_cell("import ipywidgets as w\n"
                                  "w.VBox([w.FloatSlider(value=0.3, description='p'), go.FigureWidget(go.Scatter(y=[2, 1]))])"),
    ]
    nbformat.write(nb, folder / "01_small.ipynb")
    out = tmp_path / "out"
    lines: list[str] = []
    run = run_notebooks(find_notebooks(folder), out, {}, cwd=folder, log=lines.append, progress=True)
    assert run.ok, run.outcomes
    bar = capsys.readouterr().err
    assert "01_small" in bar and "cell 3: import ipywidgets as w" in bar and "3/3 cells" in bar
    page = (out / "01_small.html").read_text()
    assert "<math" in page and "$x^2$" not in page
    assert WIDGET_NOTE in page and "<b>p</b>: <code>0.3</code>" in page and page.count("Plotly.newPlot") == 2
    assert not re.search(r"<(?:script|link)\b[^>]*(?:src|href)=\"https?://", page)
    if figure_export_unavailable() is None:
        assert sorted(p.name for p in (out / "figures" / "01_small").iterdir()) == ["1.png", "1.svg"]
        assert run.figures.startswith("figures: 2 file(s)")
    else:
        assert run.figures.startswith("figures: no PNG/SVG written")
