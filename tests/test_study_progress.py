"""snnlab.study.progress: the terminal bar of ``snnlab run`` (cells, the kernel's tqdm bars) and its papermill engine."""

from __future__ import annotations

import io

from snnlab.study.progress import ENGINE_NAME, NotebookProgress, register_engine, tqdm_widget_texts


def _bar(prefix: str, left: str, value: int, total: int, right: str) -> dict:
    """A tqdm notebook bar as a client's widget state: an HBox of HTML, progress, HTML."""
    return {
        prefix: {"_model_name": "HBoxModel", "children": [f"IPY_MODEL_{prefix}l", f"IPY_MODEL_{prefix}p", f"IPY_MODEL_{prefix}r"]},
        f"{prefix}l": {"_model_name": "HTMLModel", "value": left},
        f"{prefix}p": {"_model_name": "FloatProgressModel", "value": value, "max": total},
        f"{prefix}r": {"_model_name": "HTMLModel", "value": right},
    }


def test_tqdm_widget_texts_reads_notebook_bars_only() -> None:
    state = {
        **_bar("a", "trials: 25%", 3, 12, "3/12 [00:10&lt;00:30,  3.3s/trial]"),
        "box": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_s1", "IPY_MODEL_s2"]},  # an explorer's row
        "s1": {"_model_name": "FloatSliderModel", "value": 0.3},
        "other": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_al", "IPY_MODEL_s1", "IPY_MODEL_ar"]},
    }
    assert tqdm_widget_texts(state) == {"a": "trials: 25% 3/12 [00:10<00:30, 3.3s/trial]"}
    assert tqdm_widget_texts({}) == {}
    assert tqdm_widget_texts({"x": None, "y": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_x"] * 3}}) == {}


def test_notebook_progress_shows_cells_and_the_running_cells_bar() -> None:
    out = io.StringIO()
    progress = NotebookProgress("04_training", file=out, enabled=True)
    progress.start(3)
    progress.cell(0, "# a comment\n\nstore = open_store()\n")
    assert "04_training" in out.getvalue() and "0/3 cells" in out.getvalue()
    assert "cell 1: store = open_store()" in out.getvalue()
    old = _bar("old", "loading", 1, 1, "1/1")
    progress.kernel_bars(old)
    progress.cell_done()
    progress.cell(1, "report = run_trials(specs, store, progress=True)")
    progress.kernel_bars(old)  # a finished bar of an earlier cell is not this cell's progress
    assert not out.getvalue().rstrip().endswith("1/1")
    progress.kernel_bars({**old, **_bar("new", "trials: 50%", 6, 12, "6/12 [01:00&lt;01:00, 10s/trial]")})
    last = out.getvalue().split("\r")[-1]
    assert "1/3 cells [00:00], trials: 50% 6/12 [01:00<01:00, 10s/trial] | cell 2:" in last  # 100 columns
    progress.cell_done()
    assert "2/3 cells" in out.getvalue()
    progress.close()
    assert progress.bar is None
    progress.close()  # closing twice is harmless


def test_notebook_progress_is_silent_when_disabled() -> None:
    out = io.StringIO()
    progress = NotebookProgress("01_x", file=out, enabled=False)
    progress.start(2)
    progress.cell(0, "x = 1")
    progress.kernel_bars(_bar("a", "trials", 1, 2, "1/2"))
    progress.cell_done()
    progress.close()
    assert out.getvalue() == ""
    auto = NotebookProgress("01_x", file=io.StringIO())  # enabled=None: only on a terminal; StringIO is none
    auto.start(1)
    auto.cell(0, "x")
    auto.close()
    assert auto.file.getvalue() == ""


def test_register_engine_adds_the_snnlab_engine() -> None:
    from papermill.engines import papermill_engines

    assert register_engine() == ENGINE_NAME
    engine = papermill_engines.get_engine(ENGINE_NAME)
    assert hasattr(engine, "execute_managed_notebook")
