"""The explorer widgets in a real browser (issue 15): JupyterLab on loopback, the notebooks opened in
headless Chromium through Playwright, a slider moved with the keyboard, and the plotly figure read
back from the page: its data must follow the slider and every trace must keep the explorer's colours.

Skips (with the reason) when the ``playwright`` package or a ``chromium`` binary is missing
(``$SNNLAB_CHROMIUM`` names another binary); never downloads a browser (``.ci/run`` installs Debian's ``chromium``). The notebooks are served from a
temporary copy, with temporary JupyterLab settings, workspaces, runtime and config folders, the
``smoke`` profile and a temporary results store, so nothing in the checkout or the home folder is
written. Screenshots of each explorer before and after the move go to ``$SNNLAB_TEST_ARTEFACTS/browser``
(else a temporary folder); the path is printed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SERVER_START_S = 120      # JupyterLab takes 20-40 s to come up on a busy 2-core machine
RUN_NOTEBOOK_S = 300      # the smoke profile runs a notebook in well under a minute
UPDATE_S = 60             # one slider move: a few hundred ms, generous for a loaded machine


def _chromium() -> str:
    """The system Chromium: ``$SNNLAB_CHROMIUM`` when set, else ``chromium`` on the PATH (Debian's
    package, ``/usr/bin/chromium``); skips when there is none."""
    wanted = os.environ.get("SNNLAB_CHROMIUM", "").strip()
    if wanted:
        if not (Path(wanted).is_file() and os.access(wanted, os.X_OK)):
            pytest.skip(f"SNNLAB_CHROMIUM={wanted!r} is not an executable file")
        return wanted
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("no chromium binary (install Debian's `chromium` package; .ci/run does)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token, the served copy of the notebooks and the artefacts folder."""

    url: str
    token: str
    root: Path
    artefacts: Path
    log: Path

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Stop every kernel the test started (the next notebook gets the CPU)."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a temporary copy of notebooks/, stopped by its own process id afterwards."""
    pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package (pip install -e '.[browser]')")
    pytest.importorskip("jupyterlab", reason="the browser test needs jupyterlab")
    _chromium()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    artefacts = Path(os.environ["SNNLAB_TEST_ARTEFACTS"]) / "browser" if os.environ.get("SNNLAB_TEST_ARTEFACTS") else tmp / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artefacts (screenshots, server log): {artefacts}")
    settings = tmp / "settings"
    # every cell stays in the page (no virtual scrolling), and no news or update checks (offline)
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
    _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        SNNLAB_PROFILE="smoke",
        SNNLAB_STORE=str(tmp / "store" / "results.sqlite"),
        SNNLAB_CACHE=str(tmp / "cache"),
        SNNLAB_DATA=str(tmp / "data"),   # the smoke profile's digits need no files; nothing lands in data/
        PYTHONUNBUFFERED="1",
    )
    token = secrets.token_hex(24)
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run the cells through JupyterLab's own commands
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = artefacts / "jupyterlab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token, root, artefacts, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode} before it served:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        try:
            if proc.poll() is None:
                server.shutdown_sessions()
        except (urllib.error.URLError, OSError):
            pass
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    """Headless system Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield b
        finally:
            b.close()


# ------------------------------------------------------------------ the page

# (marker colour, line colour, drawn marker colour, number of points, summary of x and y) of each
# trace, the layout's title and its shapes' y0: read from the plotly graph div of a cell.
SNAPSHOT_JS = """
(cell) => {
  const g = cell.querySelector('.js-plotly-plot');
  if (!g || !g.data || !g.layout) return null;
  const summary = (v) => {
    if (v === undefined || v === null) return null;
    const a = Array.from(v);
    const nums = a.filter((e) => typeof e === 'number');
    return {n: a.length, sum: nums.reduce((s, e) => s + e, 0), head: a.slice(0, 8)};
  };
  const colour = (o) => (o && o.color !== undefined && o.color !== null ? o.color : null);
  const title = g.layout.title;
  return {
    title: title && typeof title === 'object' ? (title.text ?? null) : (title ?? null),
    shapes: (g.layout.shapes || []).map((s) => s.y0),
    traces: g.data.map((t, i) => ({
      name: t.name ?? null,
      marker: colour(t.marker),
      line: colour(t.line),
      drawn: g._fullData && g._fullData[i] ? colour(g._fullData[i].marker) : null,
      x: summary(t.x),
      y: summary(t.y),
    })),
  };
}
"""

TAG_CELL_JS = """
([needle, tag]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel.content.widgets.find((c) => c.model.type === 'code' && c.model.sharedModel.getSource().includes(needle));
  if (!cell) return false;
  cell.node.setAttribute('data-snnlab-probe', tag);
  return true;
}
"""

KERNEL_READY_JS = """
() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
}
"""

RUN_ALL_JS = """
(limitMs) => Promise.race([
  window.jupyterapp.commands.execute('notebook:run-all-cells').then((ok) => (ok === false ? 'error' : 'done')),
  new Promise((resolve) => setTimeout(() => resolve('timeout'), limitMs)),
])
"""

ERRORS_JS = """
() => [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
  .map((e) => e.textContent.slice(-1500))
"""


@contextmanager
def notebook_run(lab: Lab, browser: Any, notebook: str) -> Iterator[Any]:
    """Open ``notebook`` in JupyterLab (a reset workspace), run all its cells and yield the page;
    the page is closed and the kernels shut down afterwards, whatever happened."""
    kernel = json.loads((lab.root / notebook).read_text())["metadata"].get("kernelspec", {}).get("name", "python3")
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel not in KernelSpecManager().find_kernel_specs():
        pytest.skip(f"{notebook} names the kernel {kernel!r}, which is not installed here "
                    f"(make setup installs it: python -m ipykernel install --sys-prefix --name {kernel})")
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.set_default_timeout(UPDATE_S * 1000)
        page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")
        page.wait_for_function(KERNEL_READY_JS, timeout=SERVER_START_S * 1000, polling=500)
        outcome = page.evaluate(RUN_ALL_JS, RUN_NOTEBOOK_S * 1000)
        errors = page.evaluate(ERRORS_JS)
        if outcome != "done" or errors:
            page.screenshot(path=str(lab.artefacts / f"{Path(notebook).stem}-failed.png"), full_page=True)
            pytest.fail(f"running {notebook} in JupyterLab: {outcome}; error outputs: {errors}\n{lab.log_tail()}")
        yield page
    finally:
        page.close()
        lab.shutdown_sessions()


def explorer_cell(page: Any, needle: str, tag: str) -> Any:
    """The code cell whose source contains ``needle``, once its live plotly figure is drawn."""
    if not page.evaluate(TAG_CELL_JS, [needle, tag]):
        pytest.fail(f"no code cell contains {needle!r}")
    cell = page.locator(f"[data-snnlab-probe={tag}]")
    cell.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=UPDATE_S * 1000)
    page.wait_for_function("(cell) => { const g = cell.querySelector('.js-plotly-plot'); return !!(g && g.data && g.data.length); }",
                           arg=cell.element_handle(), polling=200)
    return cell


def slider(cell: Any, label: str) -> Any:
    """The ipywidgets slider of ``cell`` whose description is ``label``."""
    found = cell.locator(".widget-slider").filter(has=cell.page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    if found.count() != 1:
        pytest.fail(f"expected one slider labelled {label!r}, found {found.count()}")
    return found


def snapshot(cell: Any) -> dict:
    return cell.evaluate(SNAPSHOT_JS)


def move_slider(cell: Any, label: str, presses: int, step: float, shown_value: Any) -> tuple[float, float, dict]:
    """Focus the handle of slider ``label``, press ArrowRight ``presses`` times (``step`` each), and
    wait until the figure shows the new value (``shown_value(snapshot)``, e.g. the threshold line's
    height, equals the slider's value). Returns the slider's values before and after, and the final snapshot."""
    page = cell.page
    readout = slider(cell, label).locator(".widget-readout")
    before = float(readout.inner_text())
    handle = slider(cell, label).locator(".noUi-handle")
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")
    target = before + presses * step
    deadline = time.monotonic() + UPDATE_S
    while True:
        after = float(readout.inner_text())
        snap = snapshot(cell)
        value = shown_value(snap)
        if abs(after - target) < 1e-6 and value is not None and abs(value - after) < 1e-6:
            return before, after, snap
        if time.monotonic() > deadline:
            pytest.fail(f"after {presses} x ArrowRight the {label!r} slider reads {after} (wanted {target:g}) and the "
                        f"figure shows {value}; last snapshot: {snap}")
        page.wait_for_timeout(200)


def selected(cell: Any, label: str = "method") -> str:
    """The option shown by the dropdown ``label`` of ``cell``."""
    box = cell.locator(".widget-dropdown").filter(has=cell.page.locator(".widget-label", has_text=label))
    return box.locator("select").evaluate("(s) => s.options[s.selectedIndex].textContent.trim()")


def assert_colours(snap: dict, expected: list[tuple[Any, Any]], what: str) -> None:
    """Every trace carries the explorer's (marker, line) colours, and the drawn markers of every
    trace with points are in that colour (not plotly's default colourway)."""
    shown = [(t["marker"], t["line"]) for t in snap["traces"]]
    assert shown == [tuple(e) for e in expected], f"{what}: trace colours {shown}, expected the explorer's {expected}"
    for t, (marker, _) in zip(snap["traces"], expected):
        if marker is not None and t["x"] and t["x"]["n"]:
            assert t["drawn"] == marker, f"{what}: trace {t['name']!r} is drawn in {t['drawn']}, not {marker}"


def data_of(snap: dict) -> list:
    return [(t["x"], t["y"]) for t in snap["traces"]]


def title_p(snap: dict) -> float | None:
    m = re.search(r"p = ([0-9.]+)", snap["title"] or "")
    return float(m.group(1)) if m else None


def shot(cell: Any, lab: Lab, name: str) -> None:
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(lab.artefacts / f"{name}.png"))


# ------------------------------------------------------------------ expected colours, from the explorers themselves


def _colours(fig: Any) -> list[tuple[Any, Any]]:
    return [(t.marker.color if hasattr(t, "marker") else None, t.line.color if hasattr(t, "line") else None) for t in fig.data]


def neuron_colours(method: str) -> list[tuple[Any, Any]]:
    from snnlab.widgets import NeuronExplorer

    return _colours(NeuronExplorer(methods=(method,), method=method, T=10, n_neurons=4).figure)


def mask_stats_colours(method: str) -> list[tuple[Any, Any]]:
    import torch

    from snnlab.widgets import MaskStatsExplorer

    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(6, 4, 12, generator=g) < 0.3).float()
    ex = MaskStatsExplorer(spikes, membrane=torch.rand(6, 4, 12, generator=g), weight=torch.rand(12, 5, generator=g),
                           methods=(method,), method=method)
    return _colours(ex.figure)


def probability_map_colours(method: str) -> list[tuple[Any, Any]]:
    import torch

    from snnlab.explorers import LayerBatch, ProbabilityMapExplorer

    g = torch.Generator().manual_seed(0)
    membrane = torch.rand(6, 8, 20, generator=g) * torch.linspace(0.2, 1.5, 20)
    batch = LayerBatch((membrane > 1.0).float(), membrane, torch.rand(20, 5, generator=g), torch.rand(3, 20, generator=g))
    return _colours(ProbabilityMapExplorer(batch, method=method).figure)


# ------------------------------------------------------------------ the tests


def check_drop_rate_widget(lab: Lab, page: Any, needle: str, tag: str, colours: Any) -> None:
    """Move the "drop rate p" slider of the explorer built by ``needle``: the figure follows (its title's
    p and its data change) and keeps the explorer's colours before and after."""
    cell = explorer_cell(page, needle, tag)
    first = snapshot(cell)
    method = selected(cell)
    assert_colours(first, colours(method), f"{tag} before the move")
    shot(cell, lab, f"{tag}-before")
    before, after, moved = move_slider(cell, "drop rate p", 3, 0.05, title_p)
    shot(cell, lab, f"{tag}-after")
    assert after == pytest.approx(before + 0.15)
    assert title_p(first) == pytest.approx(before) and title_p(moved) == pytest.approx(after)
    assert data_of(moved) != data_of(first), f"{tag}: the figure's data did not change with p"
    assert_colours(moved, colours(method), f"{tag} after the move")


def test_neuron_explorer_threshold_slider_in_notebook_01(lab: Lab, browser: Any) -> None:
    with notebook_run(lab, browser, "01_spike_dynamics.ipynb") as page:
        cell = explorer_cell(page, "NeuronExplorer(", "nb01-neuron-explorer")
        first = snapshot(cell)
        names = [t["name"] for t in first["traces"]]
        threshold_line = names.index("threshold")
        method = selected(cell)
        assert_colours(first, neuron_colours(method), "notebook 01 before the move")  # the bug: spike / removed spike
        shot(cell, lab, "nb01-neuron-explorer-before")

        def line_height(snap: dict) -> float | None:
            y = snap["traces"][threshold_line]["y"]
            return y["head"][0] if y and y["n"] else None

        before, after, moved = move_slider(cell, "threshold", 4, 0.05, line_height)
        shot(cell, lab, "nb01-neuron-explorer-after")
        assert after == pytest.approx(before + 0.2)
        assert line_height(first) == pytest.approx(before) and moved["traces"][threshold_line]["y"]["head"] == pytest.approx([after, after])
        spikes_before, spikes_after = (s["traces"][names.index("spike (neuron 0)")]["x"] for s in (first, moved))
        assert spikes_after != spikes_before or data_of(moved) != data_of(first)
        assert_colours(moved, neuron_colours(method), "notebook 01 after the move")


def test_mask_stats_explorer_drop_rate_in_notebook_02(lab: Lab, browser: Any) -> None:
    with notebook_run(lab, browser, "02_why_classic_dropout_fails.ipynb") as page:
        check_drop_rate_widget(lab, page, "MaskStatsExplorer(", "nb02-mask-stats-explorer", mask_stats_colours)


def test_drop_rate_explorers_in_notebook_03(lab: Lab, browser: Any) -> None:
    with notebook_run(lab, browser, "03_snn_aware_dropout.ipynb") as page:
        check_drop_rate_widget(lab, page, "ProbabilityMapExplorer(", "nb03-probability-map-explorer", probability_map_colours)
        check_drop_rate_widget(lab, page, "MaskStatsExplorer(", "nb03-mask-stats-explorer", mask_stats_colours)
