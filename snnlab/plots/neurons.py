"""Figures for single neurons and spike trains: traces, rasters, encodings, firing-rate histograms.

Every function takes plain arrays or tensors (time first), returns a ``go.Figure`` and never
shows it. Traces share their x axis (time in steps, or ms for Hodgkin-Huxley) so the input
current, the membrane potential and the spikes line up, one panel under the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from snnlab.plots.style import TEMPLATE, method_color, shrink_subplot_titles

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]

SPIKE_COLOR = "#222222"
THRESHOLD_COLOR = "#d62728"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#e377c2", "#bcbd22")


def as_array(name: str, x: ArrayLike, ndim: int | tuple[int, ...]) -> np.ndarray:
    """``x`` (tensor, array or sequence) as a float numpy array with ``ndim`` dims; errors name the argument."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().to("cpu", torch.float32).numpy()
    elif isinstance(x, (np.ndarray, list, tuple)):
        arr = np.asarray(x, dtype=np.float64)
    else:
        raise TypeError(f"{name} must be a torch.Tensor, numpy array or sequence of numbers, got {type(x).__name__}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}")
    return arr


def _same_length(names: Sequence[str], arrays: Sequence[np.ndarray]) -> int:
    lengths = {n: a.shape[0] for n, a in zip(names, arrays)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"time lengths differ: {lengths}; all traces must have the same number of steps")
    return next(iter(lengths.values()))


def _time_axis(n: int, time: ArrayLike | None) -> np.ndarray:
    if time is None:
        return np.arange(n)
    t = as_array("time", time, 1)
    if t.shape[0] != n:
        raise ValueError(f"time has {t.shape[0]} entries but the traces have {n} steps")
    return t


def spike_times(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time index, neuron index) of every non-zero entry of a ``[T, N]`` array."""
    t, n = np.nonzero(spikes)
    return t, n


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, height=height, legend=dict(orientation="h", y=-0.12))
    return fig


def ann_vs_snn_figure(
    current: ArrayLike,
    activation: ArrayLike,
    spikes: ArrayLike,
    *,
    title: str = "Same input: an ANN unit's activation vs a spiking neuron's spike train",
) -> go.Figure:
    """Three stacked panels: the input, the continuous activation of an ANN unit, the spikes of an LIF neuron."""
    cur, act, spk = as_array("current", current, 1), as_array("activation", activation, 1), as_array("spikes", spikes, 1)
    n = _same_length(["current", "activation", "spikes"], [cur, act, spk])
    t = np.arange(n)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("input", "ANN unit (ReLU): one real number per step", "LIF neuron: binary spikes"))
    shrink_subplot_titles(fig)
    fig.add_scatter(x=t, y=cur, name="input current", line=dict(color=_PALETTE[0]), row=1, col=1)
    fig.add_scatter(x=t, y=act, name="ReLU activation", line=dict(color=method_color("ann")), row=2, col=1)
    ts = t[spk > 0]
    fig.add_scatter(x=ts, y=np.ones_like(ts), mode="markers", name="spike", marker=dict(symbol="line-ns-open", size=16, color=SPIKE_COLOR), row=3, col=1)
    fig.update_yaxes(title_text="current (a.u.)", row=1, col=1)
    fig.update_yaxes(title_text="activation (a.u.)", row=2, col=1)
    fig.update_yaxes(title_text="spike", range=[0, 1.5], showticklabels=False, row=3, col=1)
    fig.update_xaxes(title_text="time (steps)", row=3, col=1)
    return _finish(fig, title, 520)


def lif_trace_figure(
    current: ArrayLike,
    membrane: ArrayLike,
    spikes: ArrayLike,
    *,
    threshold: float = 1.0,
    time: ArrayLike | None = None,
    time_unit: str = "steps",
    title: str = "LIF neuron: input current, membrane potential and spikes",
) -> go.Figure:
    """Current, membrane (with the threshold line) and spike panels on a shared time axis (one neuron)."""
    cur, mem, spk = as_array("current", current, 1), as_array("membrane", membrane, 1), as_array("spikes", spikes, 1)
    n = _same_length(["current", "membrane", "spikes"], [cur, mem, spk])
    t = _time_axis(n, time)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.3, 0.5, 0.2])
    fig.add_scatter(x=t, y=cur, name="input current", line=dict(color=_PALETTE[0], shape="hv"), row=1, col=1)
    fig.add_scatter(x=t, y=mem, name="membrane potential", line=dict(color=_PALETTE[1]), row=2, col=1)
    fig.add_scatter(x=[t[0], t[-1]], y=[threshold, threshold], name="threshold", mode="lines",
                    line=dict(color=THRESHOLD_COLOR, dash="dash"), row=2, col=1)
    ts = t[spk > 0]
    fig.add_scatter(x=ts, y=np.ones_like(ts, dtype=float), mode="markers", name="spike",
                    marker=dict(symbol="line-ns-open", size=18, color=SPIKE_COLOR), row=3, col=1)
    fig.update_yaxes(title_text="current (a.u.)", row=1, col=1)
    fig.update_yaxes(title_text="membrane (a.u.)", row=2, col=1)
    fig.update_yaxes(title_text="spikes", range=[0, 1.5], showticklabels=False, row=3, col=1)
    fig.update_xaxes(title_text=f"time ({time_unit})", row=3, col=1)
    return _finish(fig, f"{title} ({int(spk.sum())} spikes)", 560)


def lif_compare_figure(
    current: ArrayLike,
    runs: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    threshold: float = 1.0,
    title: str = "LIF neuron under different settings",
) -> go.Figure:
    """One input, several settings: membranes overlaid and one raster row per setting.

    ``runs`` maps a label (e.g. ``"beta=0.8"``) to ``(membrane, spikes)``, each ``[T]``.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty mapping label -> (membrane, spikes)")
    cur = as_array("current", current, 1)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.2, 0.5, 0.3])
    t = np.arange(cur.shape[0])
    fig.add_scatter(x=t, y=cur, name="input current", line=dict(color="#555555", shape="hv"), row=1, col=1)
    labels = list(runs)
    for i, label in enumerate(labels):
        mem = as_array(f"runs[{label!r}] membrane", runs[label][0], 1)
        spk = as_array(f"runs[{label!r}] spikes", runs[label][1], 1)
        _same_length(["current", f"{label} membrane", f"{label} spikes"], [cur, mem, spk])
        color = _PALETTE[i % len(_PALETTE)]
        fig.add_scatter(x=t, y=mem, name=f"{label} ({int(spk.sum())} spikes)", legendgroup=label,
                        line=dict(color=color), row=2, col=1)
        ts = t[spk > 0]
        fig.add_scatter(x=ts, y=np.full(ts.shape, i, dtype=float), mode="markers", legendgroup=label, showlegend=False,
                        marker=dict(symbol="line-ns-open", size=14, color=color), row=3, col=1)
    fig.add_scatter(x=[t[0], t[-1]], y=[threshold, threshold], mode="lines", name="threshold",
                    line=dict(color=THRESHOLD_COLOR, dash="dash"), row=2, col=1)
    fig.update_yaxes(title_text="current (a.u.)", row=1, col=1)
    fig.update_yaxes(title_text="membrane (a.u.)", row=2, col=1)
    fig.update_yaxes(title_text="setting", tickvals=list(range(len(labels))), ticktext=labels,
                     range=[-0.5, len(labels) - 0.5], row=3, col=1)
    fig.update_xaxes(title_text="time (steps)", row=3, col=1)
    return _finish(fig, title, 600)


def hh_lif_figure(
    time_ms: ArrayLike,
    current: ArrayLike,
    hh_voltage: ArrayLike,
    lif_membrane: ArrayLike,
    lif_spikes: ArrayLike,
    *,
    lif_threshold: float = 1.0,
    title: str = "Hodgkin-Huxley vs LIF for the same input current",
) -> go.Figure:
    """Current, the HH membrane voltage (mV) and the LIF membrane with its spikes, on one time axis in ms."""
    t = as_array("time_ms", time_ms, 1)
    cur, hh = as_array("current", current, 1), as_array("hh_voltage", hh_voltage, 1)
    mem, spk = as_array("lif_membrane", lif_membrane, 1), as_array("lif_spikes", lif_spikes, 1)
    _same_length(["time_ms", "current", "hh_voltage", "lif_membrane", "lif_spikes"], [t, cur, hh, mem, spk])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("input current", "Hodgkin-Huxley: ion channels make the spike shape",
                                        "LIF: integrate, compare with threshold, reset"))
    shrink_subplot_titles(fig)
    fig.add_scatter(x=t, y=cur, name="current", line=dict(color=_PALETTE[0]), row=1, col=1)
    fig.add_scatter(x=t, y=hh, name="HH membrane voltage", line=dict(color=_PALETTE[2]), row=2, col=1)
    fig.add_scatter(x=t, y=mem, name="LIF membrane", line=dict(color=_PALETTE[1]), row=3, col=1)
    fig.add_scatter(x=[t[0], t[-1]], y=[lif_threshold] * 2, mode="lines", name="LIF threshold",
                    line=dict(color=THRESHOLD_COLOR, dash="dash"), row=3, col=1)
    ts = t[spk > 0]
    fig.add_scatter(x=ts, y=np.full(ts.shape, lif_threshold * 1.15), mode="markers", name="LIF spike",
                    marker=dict(symbol="triangle-down", size=8, color=SPIKE_COLOR), row=3, col=1)
    fig.update_yaxes(title_text="current (µA/cm²)", row=1, col=1)
    fig.update_yaxes(title_text="voltage (mV)", row=2, col=1)
    fig.update_yaxes(title_text="membrane (a.u.)", row=3, col=1)
    fig.update_xaxes(title_text="time (ms)", row=3, col=1)
    return _finish(fig, title, 620)


def penalty_trace_figure(
    current: ArrayLike,
    inner: ArrayLike,
    outputs: ArrayLike,
    *,
    threshold: float,
    penalty_threshold: float,
    title: str = "The write-up's penalty neuron",
) -> go.Figure:
    """Input, inner excitation (threshold and the refractory dip) and the one-step delayed real outputs."""
    cur, inn, out = as_array("current", current, 1), as_array("inner", inner, 1), as_array("outputs", outputs, 1)
    n = _same_length(["current", "inner", "outputs"], [cur, inn, out])
    t = np.arange(n)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("input excitation", "inner excitation: decays, resets by output + penalty",
                                        "output relu(inner - threshold), returned one step late"))
    shrink_subplot_titles(fig)
    fig.add_scatter(x=t, y=cur, name="input", line=dict(color=_PALETTE[0], shape="hv"), row=1, col=1)
    fig.add_scatter(x=t, y=inn, name="inner excitation", line=dict(color=_PALETTE[1]), row=2, col=1)
    fig.add_scatter(x=[t[0], t[-1]], y=[threshold] * 2, mode="lines", name=f"threshold ({threshold:g})",
                    line=dict(color=THRESHOLD_COLOR, dash="dash"), row=2, col=1)
    fig.add_scatter(x=[t[0], t[-1]], y=[-penalty_threshold] * 2, mode="lines",
                    name=f"-penalty threshold ({-penalty_threshold:g})", line=dict(color="#7f7f7f", dash="dot"), row=2, col=1)
    fig.add_bar(x=t, y=out, name="delayed output", marker_color=SPIKE_COLOR, row=3, col=1)
    fig.update_yaxes(title_text="input (a.u.)", row=1, col=1)
    fig.update_yaxes(title_text="inner (a.u.)", row=2, col=1)
    fig.update_yaxes(title_text="output (a.u.)", row=3, col=1)
    fig.update_xaxes(title_text="time (steps)", row=3, col=1)
    return _finish(fig, title, 600)


def raster_grid_figure(
    rasters: Mapping[str, ArrayLike],
    *,
    title: str = "Spike rasters",
    y_label: str = "neuron",
    colors: Mapping[str, str] | None = None,
    height: int = 420,
) -> go.Figure:
    """Side-by-side rasters, one panel per entry of ``rasters`` (label -> ``[T, N]`` spikes or values).

    Non-zero entries are drawn as ticks; the panel title carries the spike count and the firing fraction.
    """
    if not isinstance(rasters, Mapping) or not rasters:
        raise ValueError("rasters must be a non-empty mapping label -> [T, N] array")
    arrays = {k: as_array(f"rasters[{k!r}]", v, 2) for k, v in rasters.items()}
    # two short lines per title: the panels sit close together
    titles = [f"{k}<br>{int((a != 0).sum())} spikes ({(a != 0).mean():.1%} of cells)" for k, a in arrays.items()]
    fig = make_subplots(rows=1, cols=len(arrays), shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=titles)
    shrink_subplot_titles(fig)
    for i, (label, a) in enumerate(arrays.items(), start=1):
        t, n = spike_times(a)
        color = (colors or {}).get(label, SPIKE_COLOR)
        fig.add_scatter(x=t, y=n, mode="markers", name=label, marker=dict(symbol="line-ns-open", size=5, color=color),
                        row=1, col=i)
        fig.update_xaxes(title_text="time (steps)", range=[-0.5, a.shape[0] - 0.5], row=1, col=i)
    fig.update_yaxes(title_text=y_label, row=1, col=1)
    fig.update_layout(showlegend=False)
    return _finish(fig, title, height)


def image_figure(image: ArrayLike, *, title: str = "Input image") -> go.Figure:
    """A grey-scale image ``[H, W]`` (values in [0, 1]) as a heatmap with row 0 at the top."""
    img = as_array("image", image, 2)
    fig = go.Figure(go.Heatmap(z=img, colorscale="Greys", zmin=0, zmax=1, colorbar=dict(title="intensity")))
    fig.update_yaxes(autorange="reversed", title_text="row (pixel)", scaleanchor="x")
    fig.update_xaxes(title_text="column (pixel)")
    return _finish(fig, title, 360)


def kernel_figure(
    time: ArrayLike,
    kernels: Mapping[str, ArrayLike],
    *,
    title: str = "Spike response kernels",
    y_label: str = "postsynaptic potential (a.u.)",
) -> go.Figure:
    """Kernels (label -> values over ``time``) overlaid, e.g. the SRM kernel sigma(t - d) for several delays d."""
    t = as_array("time", time, 1)
    if not isinstance(kernels, Mapping) or not kernels:
        raise ValueError("kernels must be a non-empty mapping label -> values")
    fig = go.Figure()
    for i, (label, k) in enumerate(kernels.items()):
        arr = as_array(f"kernels[{label!r}]", k, 1)
        _same_length(["time", label], [t, arr])
        fig.add_scatter(x=t, y=arr, name=label, line=dict(color=_PALETTE[i % len(_PALETTE)]))
    fig.update_xaxes(title_text="time since the presynaptic spike (steps)")
    fig.update_yaxes(title_text=y_label)
    return _finish(fig, title, 400)


def rate_histogram_figure(
    rates: Mapping[str, ArrayLike],
    *,
    title: str = "Firing rate per neuron",
    nbins: int = 30,
) -> go.Figure:
    """Overlaid histograms of per-neuron firing rates (spikes per step), one per layer; legend has the silent share."""
    if not isinstance(rates, Mapping) or not rates:
        raise ValueError("rates must be a non-empty mapping layer -> per-neuron rates")
    fig = go.Figure()
    for i, (label, r) in enumerate(rates.items()):
        arr = as_array(f"rates[{label!r}]", r, 1)
        fig.add_histogram(x=arr, name=f"{label} (mean {arr.mean():.3f}, {np.mean(arr == 0):.0%} silent)",
                          nbinsx=nbins, opacity=0.65, marker_color=_PALETTE[i % len(_PALETTE)],
                          xbins=dict(start=0.0, end=1.0, size=1.0 / nbins))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text="firing rate (spikes per step)", range=[0, 1])
    fig.update_yaxes(title_text="neurons (count)")
    return _finish(fig, title, 420)
