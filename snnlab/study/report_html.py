"""HTML reports that stand alone: offline maths, no CDN scripts, a static stand-in for every widget.

``snnlab run`` exports each executed notebook with nbconvert. Its stock page loads MathJax,
require.js and the Jupyter widgets manager from CDNs, so offline the maths shows as raw LaTeX and
every widget cell is blank. Here:

- the LaTeX of markdown cells and markdown outputs is converted to MathML when the page is written
  (``latex2mathml``, pure Python; browsers render MathML natively), and the MathJax, require.js and
  widget-manager scripts are left out of the page (with ``latex2mathml`` missing, the stock MathJax
  page is kept: the maths then needs a network);
- plotly figures already carry plotly.js inline (``PLOTLY_RENDERER`` of the kernel); the per-figure
  MathJax CDN tag plotly adds is removed, and plotly.js is put in the page head when a figure would
  otherwise run before it;
- a widget output shows its static rendering: the ``text/html`` snapshot the kernel recorded when
  the widget was displayed (the IPython extension in this module, loaded into ``snnlab run``'s
  kernels: controls with their values and the figure at its default values), else the widget's
  state at the end of the run (progress bars), always with a note that the live version needs a
  kernel.

``export_figures`` writes every plotly figure of a notebook as PNG and SVG (kaleido + Chromium).
"""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_JSON = "application/vnd.plotly.v1+json"
WIDGET_NOTE = ("Interactive in JupyterLab: this is the figure at its default values; "
               "the live version needs a kernel.")
WIDGET_STATE_NOTE = "Interactive widget, shown as it was at the end of the run; the live version needs a kernel."
NOTE_STYLE = "font-size:0.85em;color:#555;border-left:3px solid #f0ad4e;padding:2px 8px;margin:4px 0"
TEMPLATE_NAME = "snnlab_offline.html.j2"
# The stock lab template less its CDN scripts: MathJax (the maths is MathML), require.js, the widget manager and
# mermaid (loaded only for mermaid diagrams, which then show as their source).
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_CDN_MATHJAX_TAG = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>", re.I)
_PLOTLY_INLINE = "window.Plotly = Plotly"  # the end of plotly.js's inline bundle
# Markdown code (left alone), then display and inline maths as MathJax reads it in notebooks.
_MATH = re.compile(
    r"(?P<code>```.*?```|~~~.*?~~~|`[^`\n]*`)"
    r"|\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<br>.+?)\\\]"
    r"|\\\((?P<pa>.+?)\\\)"
    r"|(?<![\\$\w])\$(?P<d>(?:\\.|[^\\$])+?)\$(?!\d)",
    re.S,
)


# ---------------------------------------------------------------- kernel side: widget snapshots


def load_ipython_extension(ipython: Any) -> None:
    """IPython extension (``--ext snnlab.study.report_html``): widgets also get a static ``text/html`` rendering.

    JupyterLab keeps showing the live widget (its view mimetype ranks first); the exported HTML
    shows the snapshot. Registered by name, so ipywidgets is not imported before a notebook does.
    """
    formatter = ipython.display_formatter.formatters["text/html"]
    formatter.for_type_by_name("ipywidgets.widgets.widget", "Widget", _widget_snapshot_or_none)


def _widget_snapshot_or_none(widget: Any) -> str | None:
    """The snapshot of a displayed widget; None (no ``text/html``) for tqdm's bars, which change after display."""
    if type(widget).__module__.startswith("tqdm"):
        return None
    try:
        return widget_snapshot_html(widget)
    except Exception:  # noqa: BLE001 - a snapshot must never break the cell that displays the widget
        return None


def widget_snapshot_html(widget: Any) -> str:
    """Static HTML of an ipywidgets tree: the note, each control with its value, plotly figures drawn as they are now.

    Boxes lay their children out in rows (HBox) or columns; a plotly ``FigureWidget`` becomes a plotly
    div (plotly.js itself comes from the page); HTML and Label widgets show their text.
    """
    return f'<div class="snnlab-widget-snapshot"><div class="snnlab-widget-note" style="{NOTE_STYLE}">' \
           f'{html.escape(WIDGET_NOTE)}</div>{_widget_html(widget)}</div>'


def _widget_html(widget: Any) -> str:
    import ipywidgets

    if _is_figure_widget(widget):
        import plotly.graph_objects as go
        import plotly.io as pio

        return pio.to_html(go.Figure(widget), include_plotlyjs=False, include_mathjax=False, full_html=False)
    if isinstance(widget, ipywidgets.Box):
        direction = "row" if isinstance(widget, ipywidgets.HBox) else "column"
        inner = "".join(_widget_html(child) for child in widget.children)
        return f'<div style="display:flex;flex-direction:{direction};gap:4px 24px;flex-wrap:wrap">{inner}</div>'
    if isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath)):
        return f"<div>{widget.value}</div>"
    if isinstance(widget, ipywidgets.Label):
        return f"<div>{html.escape(str(widget.value))}</div>"
    return _control_html(type(widget).__name__, getattr(widget, "description", ""), getattr(widget, "value", None),
                         getattr(widget, "min", None), getattr(widget, "max", None))


def _is_figure_widget(widget: Any) -> bool:
    try:
        from plotly.basewidget import BaseFigureWidget
    except ImportError:
        return False
    return isinstance(widget, BaseFigureWidget)


def _control_html(kind: str, description: str, value: Any, low: Any = None, high: Any = None) -> str:
    """One control as text: ``description: value`` (and the slider's range)."""
    if value is None:
        return ""
    label = html.escape(str(description or kind))
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    span = f" <small>({low:g}–{high:g})</small>" if isinstance(low, (int, float)) and isinstance(high, (int, float)) \
        and "Progress" not in kind else ""
    return f'<div class="snnlab-widget-control"><b>{label}</b>: <code>{html.escape(shown)}</code>{span}</div>'


# ---------------------------------------------------------------- export side


def _latex_converter() -> Any | None:
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return None
    return convert


def latex_to_mathml(latex: str, *, display: bool = False) -> str:
    """MathML for ``latex`` (inline, or a block for display maths); LaTeX it cannot read stays as code.

    Raises ImportError when latex2mathml is not installed.
    """
    convert = _latex_converter()
    if convert is None:
        raise ImportError("latex2mathml is not installed; pip install latex2mathml")
    try:
        return convert(latex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any LaTeX the converter does not know: shown verbatim, not lost
        return f'<code class="snnlab-latex">{html.escape(latex)}</code>'


def replace_math(markdown: str, found: dict[str, str]) -> str:
    """``markdown`` with each LaTeX span (``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``) replaced by a placeholder.

    ``found`` receives placeholder -> MathML; code spans and fenced blocks are left alone. The
    placeholders are plain words, so the markdown renderer passes them through untouched.
    """
    def swap(match: re.Match[str]) -> str:
        if match.group("code") is not None:
            return match.group(0)
        inline = match.group("d")
        if inline is not None and (inline != inline.strip() or "\n\n" in inline):
            return match.group(0)  # "$ 5 and $" is not maths
        display = match.group("dd") is not None or match.group("br") is not None
        latex = next(g for g in (match.group("dd"), match.group("br"), match.group("pa"), inline) if g is not None)
        key = f"SNNLABMATH{uuid.uuid4().hex}"
        found[key] = latex_to_mathml(latex, display=display)
        return key

    return _MATH.sub(swap, markdown)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _state_models(node: Any) -> dict[str, Any]:
    state = node.metadata.get("widgets", {}).get(WIDGET_STATE, {})
    return state.get("state", {}) if isinstance(state, Mapping) else {}


def state_widget_html(model_id: str, models: Mapping[str, Any], depth: int = 0) -> str:
    """Static HTML of a widget from the notebook's saved widget state (its values at the end of the run)."""
    model = models.get(model_id)
    if not isinstance(model, Mapping) or depth > 20:
        return ""
    name = str(model.get("model_name", ""))
    state = model.get("state", {}) or {}
    if "Box" in name:
        direction = "row" if name.startswith("HBox") else "column"
        inner = "".join(state_widget_html(str(c).removeprefix("IPY_MODEL_"), models, depth + 1)
                        for c in state.get("children", []))
        return f'<div style="display:flex;flex-direction:{direction};gap:4px 16px;align-items:center">{inner}</div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{state.get('value', '')}</span>"
    if name == "LabelModel":
        return f"<span>{html.escape(str(state.get('value', '')))}</span>"
    if "Progress" in name:
        value, high = state.get("value", 0), state.get("max", 100)
        label = html.escape(str(state.get("description", "")))
        return f'<span>{label} <progress value="{html.escape(str(value))}" max="{html.escape(str(high))}"></progress></span>'
    return _control_html(name.removesuffix("Model"), state.get("description", ""), state.get("value"),
                         state.get("min"), state.get("max"))


def _static_widget_output(output: Any, models: Mapping[str, Any]) -> None:
    """Replace a widget view in ``output`` by its snapshot, its saved state, or a note (in place)."""
    data = output["data"]
    view = data.pop(WIDGET_VIEW)
    if "text/html" in data:
        return
    model_id = view.get("model_id", "") if isinstance(view, Mapping) else ""
    body = state_widget_html(model_id, models)
    note = WIDGET_STATE_NOTE if body else "Interactive widget: it needs a kernel (open the notebook in JupyterLab)."
    data["text/html"] = f'<div class="snnlab-widget-note" style="{NOTE_STYLE}">{html.escape(note)}</div>{body}'


def _exporter(offline: bool) -> Any:
    from nbconvert import HTMLExporter

    if not offline:
        return HTMLExporter()
    import jinja2

    return HTMLExporter(template_file=TEMPLATE_NAME, extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: OFFLINE_TEMPLATE})])


def _plotly_js_first(page: str) -> str:
    """Put plotly.js in the head when a figure on the page would be drawn before the inline copy loads."""
    first_plot = page.find("Plotly.newPlot")
    if first_plot < 0:
        return page
    inline = page.find(_PLOTLY_INLINE)
    if 0 <= inline < first_plot:
        return page
    from plotly.offline import get_plotlyjs

    script = f"<script>{get_plotlyjs()}</script>"
    head = page.find("</head>")
    return page[:head] + script + page[head:] if head >= 0 else script + page


def notebook_html(node: Any) -> str:
    """The standalone HTML page of an executed notebook (``node``: an nbformat v4 notebook, left unchanged)."""
    node = copy.deepcopy(node)
    models = _state_models(node)
    node.metadata.pop("widgets", None)
    offline = _latex_converter() is not None
    maths: dict[str, str] = {}
    for cell in node.cells:
        if cell.cell_type == "markdown" and offline:
            cell.source = replace_math(_text(cell.source), maths)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if WIDGET_VIEW in data:
                _static_widget_output(output, models)
            if "text/markdown" in data and offline:
                data["text/markdown"] = replace_math(_text(data["text/markdown"]), maths)
    page, _ = _exporter(offline).from_notebook_node(node)
    for key, mathml in maths.items():
        page = page.replace(key, mathml)
    page = _CDN_MATHJAX_TAG.sub("", page) if offline else page
    return _plotly_js_first(page)


# ---------------------------------------------------------------- static figures

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    """The Chromium kaleido would drive: ``$BROWSER_PATH`` when it is a file, else the first on PATH."""
    given = os.environ.get("BROWSER_PATH")
    if given and Path(given).is_file():
        return given
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def figure_export_unavailable() -> str | None:
    """Why static figures cannot be written here (None when kaleido and a Chromium are present)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "kaleido is not installed (pip install 'snnlab[figures]')"
    if find_browser() is None:
        return ("no Chromium found (install Debian's chromium, or point $BROWSER_PATH at a Chrome/Chromium "
                "binary)")
    return None


def notebook_figures(node: Any) -> list[dict[str, Any]]:
    """Every plotly figure (its JSON) in the outputs of ``node``, in order."""
    figures = []
    for cell in node.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get(PLOTLY_JSON)
            if isinstance(figure, Mapping):
                figures.append(dict(figure))
    return figures


def export_figures(node: Any, folder: str | Path, formats: tuple[str, ...] = ("png", "svg"), *,
                   scale: float = 2.0) -> list[Path]:
    """Write each plotly figure of ``node`` as ``folder/<n>.<format>`` (n from 1); returns the paths written.

    Needs kaleido and a Chromium (``figure_export_unavailable`` says why not); ``formats`` are
    kaleido's image formats; ``scale`` multiplies the figure's pixel size (2: sharp PNGs for slides).
    """
    allowed = ("png", "svg", "pdf", "jpeg", "webp")
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise ValueError(f"formats={formats!r}: each must be one of {allowed}")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"scale={scale!r} must be a positive number")
    figures = notebook_figures(node)
    if not figures:
        return []
    import plotly.graph_objects as go
    import plotly.io as pio

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    objects = [go.Figure(f) for f in figures]
    for fig in objects:  # the figure's own size (kaleido's default is 700 x 500 whatever the layout asks)
        fig.update_layout(width=fig.layout.width or 900, height=fig.layout.height or 500)
    paths = [out / f"{n}.{fmt}" for fmt in formats for n in range(1, len(figures) + 1)]
    figs = [fig for _fmt in formats for fig in objects]
    if hasattr(pio, "write_images"):  # plotly >= 6.1: one Chromium for the whole batch
        pio.write_images(figs, paths, scale=scale)
    else:  # pragma: no cover - older plotly
        for fig, path in zip(figs, paths):
            fig.write_image(path, scale=scale)
    return paths
