"""snnlab.study.report_html: standalone HTML (MathML maths, no CDN script, static widgets) and static figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from snnlab.study import report_html
from snnlab.study.report_html import (
    PLOTLY_JSON,
    WIDGET_NOTE,
    WIDGET_STATE,
    WIDGET_STATE_NOTE,
    WIDGET_VIEW,
    export_figures,
    figure_export_unavailable,
    latex_to_mathml,
    notebook_figures,
    notebook_html,
    replace_math,
    state_widget_html,
    widget_snapshot_html,
)

EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def test_replace_math_finds_latex_and_leaves_code_and_money_alone() -> None:
    found: dict[str, str] = {}
    text = ("Step $h_t = \\beta\\,v_{t-1}$, display $$\\frac{a}{b}$$, \\(x^2\\) and \\[y\\]; "
            "code `$x$` stays, so do $5 and $6, and \\$ escaped.\n```\n$not = maths$\n```")
    out = replace_math(text, found)
    assert len(found) == 4
    assert "`$x$`" in out and "$5 and $6" in out and "$not = maths$" in out and "\\$ escaped" in out
    assert "\\beta" not in out and "frac" not in out
    mathml = list(found.values())
    assert all(m.startswith("<math") for m in mathml)
    assert 'display="inline"' in mathml[0] and "&#x003B2;" in mathml[0]  # beta
    assert 'display="block"' in mathml[1] and "<mfrac>" in mathml[1]
    assert 'display="block"' in mathml[3]
    assert replace_math("no maths here", {}) == "no maths here"


def test_latex_to_mathml_keeps_unreadable_latex_as_code(monkeypatch) -> None:
    def broken(latex: str, display: str) -> str:
        raise ValueError("unknown command")

    monkeypatch.setattr(report_html, "_latex_converter", lambda: broken)
    assert latex_to_mathml("\\weird<x>") == '<code class="snnlab-latex">\\weird&lt;x&gt;</code>'
    monkeypatch.setattr(report_html, "_latex_converter", lambda: None)
    with pytest.raises(ImportError, match="latex2mathml"):
        latex_to_mathml("x")


def _figure():
    import plotly.graph_objects as go

    return go.Figure(go.Scatter(x=[0, 1, 2], y=[3, 1, 2], name="marker_trace_77", marker=dict(color="#d62728")))


def _explorer():
    import ipywidgets as widgets
    import plotly.graph_objects as go

    slider = widgets.FloatSlider(value=0.3, min=0.0, max=0.9, description="drop rate p")
    return widgets.VBox([widgets.HBox([slider, widgets.Dropdown(options=["a", "b"], value="b", description="method")]),
                         widgets.HTML("<i>stats_line_55</i>"), go.FigureWidget(_figure())])


def test_widget_snapshot_shows_the_note_the_controls_and_the_figure() -> None:
    page = widget_snapshot_html(_explorer())
    assert WIDGET_NOTE in page
    assert "<b>drop rate p</b>: <code>0.3</code> <small>(0–0.9)</small>" in page
    assert "<b>method</b>: <code>b</code>" in page and "<i>stats_line_55</i>" in page
    assert "Plotly.newPlot" in page and "marker_trace_77" in page and "#d62728" in page
    assert "window.Plotly = Plotly" not in page  # plotly.js comes from the page


def test_ipython_extension_adds_the_snapshot_beside_the_live_widget() -> None:
    import types

    from IPython.core.formatters import DisplayFormatter

    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())  # no real shell: it would write ~/.ipython
    report_html.load_ipython_extension(shell)
    bundle, _ = shell.display_formatter.format(_explorer())
    assert WIDGET_VIEW in bundle  # JupyterLab still gets the live widget
    assert WIDGET_NOTE in bundle["text/html"] and "marker_trace_77" in bundle["text/html"]

    tqdm_like = type("TqdmHBox", (), {"__module__": "tqdm.notebook"})()
    assert report_html._widget_snapshot_or_none(tqdm_like) is None  # its display-time state would be stale


def _tqdm_state() -> dict:
    return {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]}},
        "left": {"model_name": "HTMLModel", "state": {"value": "trials: 100%"}},
        "bar": {"model_name": "FloatProgressModel", "state": {"value": 12, "max": 12}},
        "right": {"model_name": "HTMLModel", "state": {"value": " 12/12 [00:30&lt;00:00, 2.5s/trial]"}},
    }


def _report_notebook() -> nbformat.NotebookNode:
    """A notebook as ``snnlab run`` leaves it: maths, a plotly figure with inline plotly.js, widgets."""
    import plotly.io as pio

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("The square $x^2$ and $$\\sigma(a) = \\frac{a}{\\tau}$$."))
    widget = nbformat.v4.new_code_cell("explorer.ui")
    widget.outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "ui"},
        "text/plain": "VBox(...)", "text/html": widget_snapshot_html(_explorer())})]
    figure = nbformat.v4.new_code_cell("fig.show()")
    fig = _figure()
    figure.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": pio.to_html(fig, include_plotlyjs=True, include_mathjax="cdn", full_html=False),
        PLOTLY_JSON: fig.to_plotly_json()})]
    bar = nbformat.v4.new_code_cell("run_trials(...)")
    bar.outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "box"}, "text/plain": "0/12"})]
    unknown = nbformat.v4.new_code_cell("other")
    unknown.outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "gone"}, "text/plain": "x"})]
    nb.cells += [widget, figure, bar, unknown]
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": _tqdm_state()}}
    return nb


def test_notebook_html_stands_alone() -> None:
    nb = _report_notebook()
    page = notebook_html(nb)
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)  # no CDN script, style or image
    assert "ajax/libs/mathjax" not in page and "require.min.js" not in page and "html-manager" not in page
    assert "$x^2$" not in page and page.count("<math") == 2 and "<msup><mi>x</mi><mn>2</mn></msup>" in page
    assert "SNNLABMATH" not in page
    assert page.count(WIDGET_NOTE) == 1 and "drop rate p" in page
    assert WIDGET_STATE_NOTE in page and re.search(r'<progress (max="12" value="12"|value="12" max="12")>', page)
    assert "it needs a kernel" in page  # a widget with neither snapshot nor state
    assert WIDGET_VIEW not in page and "IPY_MODEL" not in page
    # plotly.js is in the page before the first figure (the widget snapshot comes first here)
    assert 0 <= page.find("window.Plotly = Plotly") < page.find("Plotly.newPlot")
    assert "widgets" in nb.metadata and WIDGET_VIEW in nb.cells[1].outputs[0].data  # the input is not changed


def test_notebook_html_without_latex2mathml_keeps_mathjax(monkeypatch) -> None:
    monkeypatch.setattr(report_html, "_latex_converter", lambda: None)
    page = notebook_html(_report_notebook())
    assert "$x^2$" in page and "ajax/libs/mathjax" in page  # online pages still render the maths


def test_state_widget_html_handles_missing_and_cyclic_models() -> None:
    assert state_widget_html("nope", {}) == ""
    cyclic = {"a": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_a"]}}}
    assert state_widget_html("a", cyclic).count("<div") > 1  # bounded depth, no RecursionError
    slider = {"s": {"model_name": "FloatSliderModel", "state": {"description": "p", "value": 0.25, "min": 0, "max": 1}}}
    assert "<b>p</b>: <code>0.25</code>" in state_widget_html("s", slider)


def _chromium() -> str | None:
    return report_html.find_browser()


@pytest.mark.skipif(_chromium() is None or shutil.which("unshare") is None, reason="needs Chromium and unshare")
def test_page_renders_offline_in_headless_chromium(tmp_path) -> None:
    """Networking off (a new network namespace): the DOM has the drawn figures and the MathML."""
    page = tmp_path / "report.html"
    page.write_text(notebook_html(_report_notebook()))
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here")
    done = subprocess.run(["unshare", "-n", _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=8000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert done.returncode == 0 and "<math" in dom
    assert dom.count('class="plot-container') == 2  # the figure and the widget's snapshot, both drawn


def test_figure_export_says_why_not(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", None)
    assert "kaleido is not installed" in figure_export_unavailable()
    monkeypatch.setitem(sys.modules, "kaleido", type(sys)("kaleido"))
    monkeypatch.setattr(report_html, "find_browser", lambda: None)
    assert "no Chromium found" in figure_export_unavailable()


def test_find_browser_honours_browser_path(tmp_path, monkeypatch) -> None:
    browser = tmp_path / "my-chrome"
    browser.write_text("")
    monkeypatch.setenv("BROWSER_PATH", str(browser))
    assert report_html.find_browser() == str(browser)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert report_html.find_browser() is None


def test_export_figures_rejects_bad_formats(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"formats=\('gif',\)"):
        export_figures(_report_notebook(), tmp_path, formats=("gif",))
    with pytest.raises(ValueError, match="formats=()"):
        export_figures(_report_notebook(), tmp_path, formats=())
    with pytest.raises(ValueError, match="scale=0 must be a positive number"):
        export_figures(_report_notebook(), tmp_path, scale=0)
    assert export_figures(nbformat.v4.new_notebook(), tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


@pytest.mark.skipif(figure_export_unavailable() is not None, reason=str(figure_export_unavailable()))
def test_export_figures_writes_png_and_svg(tmp_path) -> None:
    nb = _report_notebook()
    assert len(notebook_figures(nb)) == 1
    paths = export_figures(nb, tmp_path / "figs")
    assert paths == [tmp_path / "figs" / "1.png", tmp_path / "figs" / "1.svg"]
    png = paths[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 2 * 700  # scale 2 of plotly's default 700 px width
    assert "<svg" in paths[1].read_text()[:500] and "rgb(214, 39, 40)" in paths[1].read_text()
