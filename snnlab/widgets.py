"""ipywidgets explorers: sliders and a dropdown driving live plotly ``FigureWidget``s.

Moving a control recomputes (a few milliseconds on CPU) and updates the figure's traces in
place, so nothing has to be re-run. Each explorer keeps its controls as attributes
(``explorer.threshold.value = 1.5`` in a test or a script does what dragging the slider does)
and shows itself as ``explorer.ui``. The computations are plain functions
(``simulate_population``, ``apply_dropout``) so they are tested without a browser; every update
goes through ``update_live_figure`` so that the figure keeps its colours whenever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from snnlab.dropout import DropoutStats, LayerContext, available, make_dropout, method_info
from snnlab.dropout import methods as registry_methods
from snnlab.neurons import LIF
from snnlab.plots.dropout import CREATED_COLOR, REMOVED_COLOR, mask_snapshot_figure
from snnlab.plots.neurons import SPIKE_COLOR, THRESHOLD_COLOR, spike_times
from snnlab.plots.style import TEMPLATE, method_color
from snnlab.validation import check_choice, check_float, check_int


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "CLASSIC_METHODS":  # kept for old imports: the registry's classic family, read at access time
        return registry_methods(family="classic")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def update_live_figure(
    figure: go.FigureWidget,
    traces: Mapping[int, Mapping[str, Any]],
    *,
    layout: Mapping[str, Any] | None = None,
) -> None:
    """Write new trace properties (``{trace index: {property path: value}}``, e.g. ``{3: {"x": t,
    "marker.color": c}}``) and layout properties (``{"title.text": ...}``) into a live figure as one update.

    Why not ``figure.batch_update()``: plotly sends a batched update as one list per property with a
    gap for every trace that does not set that property, and the widget's front-end model turns the
    gaps into "unset". A figure updated before it is displayed (each explorer draws its first state in
    its constructor and is shown later inside a VBox) then comes up with those traces in plotly's
    default colours. Here every property is sent for every trace in the update, a trace that does
    not change it repeating its current value, so nothing is left to a gap.
    """
    if not isinstance(figure, go.FigureWidget):
        raise TypeError(f"figure must be a plotly FigureWidget, got {type(figure).__name__}")
    if not isinstance(traces, Mapping):
        raise TypeError(f"traces must be a mapping trace index -> {{property path: value}}, got {type(traces).__name__}")
    if layout is not None and not isinstance(layout, Mapping):
        raise TypeError(f"layout must be a mapping property path -> value or None, got {type(layout).__name__}")
    n = len(figure.data)
    for index, props in traces.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"traces has trace index {index!r}; allowed: integers 0..{n - 1} (the figure has {n} traces)")
        if not isinstance(props, Mapping):
            raise TypeError(f"traces[{index}] must be a mapping property path -> value, got {type(props).__name__}")
    indexes = sorted(traces)
    keys = sorted({key for props in traces.values() for key in props})
    validated = {}
    for i in indexes:  # through the trace type's own validators, as an attribute assignment would be
        probe = type(figure.data[i])()
        for key, value in traces[i].items():
            probe[key] = value  # e.g. a strided numpy view becomes a contiguous copy the kernel can send
            validated[i, key] = probe[key]
    restyle = {key: [validated[i, key] if (i, key) in validated else figure.data[i][key] for i in indexes] for key in keys}
    figure.plotly_update(restyle_data=restyle, relayout_data=dict(layout or {}), trace_indexes=indexes)


def spike_methods(candidates: Sequence[str] | None = None) -> tuple[str, ...]:
    """Registered dropout methods that act on spikes (not on synapses), in registry order.

    ``candidates`` restricts the answer to those names (unknown or synapse-acting ones are left out).
    """
    if isinstance(candidates, str):
        raise TypeError(f"candidates must be a sequence of method names, got the string {candidates!r}")
    names = registry_methods(acts_on="spikes")
    if candidates is not None:
        wanted = set(candidates)
        names = tuple(n for n in names if n in wanted)
    return names


def apply_dropout(
    method: str,
    p: float,
    spikes: Tensor,
    *,
    membrane: Tensor | None = None,
    weight: Tensor | None = None,
    seed: int = 0,
) -> tuple[Tensor, DropoutStats | None]:
    """One training-mode draw of ``method`` at rate ``p`` on ``spikes[T, B, N]``: ``(output, last_stats)``.

    The method gets a ``LayerContext`` with the membrane (trace ``[T, B, N]``) and the weight
    driving the layer (``[N, in]``) only if it declares it needs them (``method_info``). The baseline
    (``none``) is the identity and ignores ``p`` (its stats are None). The module is seeded with
    ``seed`` so the same arguments give the same mask.
    """
    check_choice("method", method, available())
    check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    info = method_info(method)
    if info.membrane is not None and membrane is None:
        raise ValueError(f"method {method!r} shapes its mask from the membrane potential; pass membrane=")
    if info.needs_weight and weight is None:
        raise ValueError(f"method {method!r} shapes its mask from the synaptic weight; pass weight=")
    drop = make_dropout(method, 0.0 if info.family == "baseline" else p, seed=seed)
    drop.train()
    ctx = LayerContext(spikes, membrane=membrane if info.membrane is not None else None,
                       weight=weight if info.needs_weight else None)
    with torch.no_grad():
        out = drop(ctx)
    return out, drop.last_stats


@dataclass(frozen=True)
class PopulationRun:
    """What ``simulate_population`` computed: all ``[T, N]`` (one sample) except ``weight`` ``[N, K]``."""

    current: Tensor
    membrane: Tensor
    spikes: Tensor
    outputs: Tensor
    weight: Tensor
    stats: DropoutStats | None


def simulate_population(
    *,
    threshold: float = 1.0,
    beta: float = 0.9,
    amplitude: float = 0.2,
    p: float = 0.3,
    method: str = "standard",
    T: int = 100,
    n_neurons: int = 40,
    n_inputs: int = 20,
    input_rate: float = 0.2,
    seed: int = 0,
) -> PopulationRun:
    """A population of LIF neurons driven by ``n_inputs`` Poisson inputs, then one dropout draw on its spikes.

    The input spikes and the weight ``[N, K]`` are fixed by ``seed`` (the same network for every slider
    position); a neuron's mean input current is ``amplitude`` times
    a random gain in [0, 2] (some neurons barely fire, as in a trained layer). Dropout acts on the spikes as in a
    model's dropout slot (membrane and weight passed as context).
    """
    check_float("threshold", threshold, low=0.0, low_inclusive=False)
    check_float("beta", beta, low=0.0, high=1.0)
    check_float("amplitude", amplitude, low=0.0)
    check_float("input_rate", input_rate, low=0.0, high=1.0, low_inclusive=False)
    T = check_int("T", T, minimum=1)
    n_neurons = check_int("n_neurons", n_neurons, minimum=1)
    n_inputs = check_int("n_inputs", n_inputs, minimum=1)
    g = torch.Generator().manual_seed(int(seed))
    inputs = (torch.rand(T, 1, n_inputs, generator=g) < input_rate).float()
    gain = 2.0 * torch.rand(n_neurons, 1, generator=g)  # heterogeneous: some neurons barely fire
    weight = gain * torch.rand(n_neurons, n_inputs, generator=g) * (2.0 / (n_inputs * input_rate))
    current = amplitude * inputs @ weight.T  # [T, 1, N]
    with torch.no_grad():
        spikes, membrane, _ = LIF(beta, threshold=threshold).run(current, trace=True)
    outputs, stats = apply_dropout(method, p, spikes, membrane=membrane, weight=weight, seed=seed)
    return PopulationRun(current[:, 0], membrane[:, 0], spikes[:, 0], outputs[:, 0], weight, stats)


def _stats_text(stats: DropoutStats | None) -> str:
    if stats is None:
        return "no dropout"
    return (f"dropped {stats.dropped_fraction:.0%} of mask entries, {stats.spikes_removed:.0%} of spikes; "
            f"{stats.silent_fraction:.0%} of drops on silent neurons; outputs in [{stats.out_min:.2f}, {stats.out_max:.2f}]")


class NeuronExplorer:
    """Sliders for threshold, decay (beta), input amplitude and drop rate, plus a method dropdown.

    The live figure has the membrane trace of neuron 0 (with threshold and its spikes) above a raster of
    the population after dropout: kept spikes in the method colour, removed spikes as magenta crosses, non-zero
    outputs without a spike (alpha variants) as grey dots.
    """

    def __init__(
        self,
        *,
        methods: Sequence[str] | None = None,
        method: str = "standard",
        threshold: float = 1.0,
        beta: float = 0.9,
        amplitude: float = 0.2,
        p: float = 0.3,
        T: int = 100,
        n_neurons: int = 40,
        seed: int = 0,
    ) -> None:
        self.methods = spike_methods(methods)
        if not self.methods:
            raise ValueError(f"methods={methods!r} leaves no registered spike-acting dropout method; available: {available()}")
        check_choice("method", method, self.methods)
        self.T, self.n_neurons, self.seed = check_int("T", T, minimum=1), check_int("n_neurons", n_neurons, minimum=1), int(seed)
        style = {"description_width": "110px"}
        self.threshold = widgets.FloatSlider(value=threshold, min=0.1, max=3.0, step=0.05, description="threshold", style=style)
        self.beta = widgets.FloatSlider(value=beta, min=0.0, max=1.0, step=0.01, description="decay β", style=style)
        self.amplitude = widgets.FloatSlider(value=amplitude, min=0.0, max=1.0, step=0.01, description="input amplitude", style=style)
        self.drop_rate = widgets.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="drop rate p", style=style)
        self.method = widgets.Dropdown(options=list(self.methods), value=method, description="method", style=style)
        self.figure = self._empty_figure()
        self.summary = widgets.HTML()
        for control in (self.threshold, self.beta, self.amplitude, self.drop_rate, self.method):
            control.observe(self._on_change, names="value")
        self.ui = widgets.VBox([
            widgets.HBox([widgets.VBox([self.threshold, self.beta, self.amplitude]), widgets.VBox([self.drop_rate, self.method])]),
            self.summary,
            self.figure,
        ])
        self.update()

    def _empty_figure(self) -> go.FigureWidget:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.4, 0.6],
                            subplot_titles=("membrane potential of neuron 0", "population raster after dropout"))
        fig.add_scatter(x=[], y=[], name="membrane (neuron 0)", line=dict(color="#ff7f0e"), row=1, col=1)
        fig.add_scatter(x=[], y=[], mode="lines", name="threshold", line=dict(color=THRESHOLD_COLOR, dash="dash"), row=1, col=1)
        fig.add_scatter(x=[], y=[], mode="markers", name="spike (neuron 0)",
                        marker=dict(symbol="triangle-down", size=8, color=SPIKE_COLOR), row=1, col=1)
        fig.add_scatter(x=[], y=[], mode="markers", name="kept spike", marker=dict(symbol="line-ns-open", size=6), row=2, col=1)
        fig.add_scatter(x=[], y=[], mode="markers", name="removed spike",
                        marker=dict(symbol="x-thin-open", size=6, color=REMOVED_COLOR), row=2, col=1)
        fig.add_scatter(x=[], y=[], mode="markers", name="non-zero output without a spike",
                        marker=dict(symbol="circle", size=3, color=CREATED_COLOR), row=2, col=1)
        fig.update_yaxes(title_text="membrane (a.u.)", row=1, col=1)
        fig.update_yaxes(title_text="neuron", range=[-0.5, self.n_neurons - 0.5], row=2, col=1)
        fig.update_xaxes(title_text="time (steps)", range=[-0.5, self.T - 0.5], row=2, col=1)
        fig.update_layout(template=TEMPLATE, height=560, legend=dict(orientation="h", y=-0.15))
        return go.FigureWidget(fig)

    def _on_change(self, change: dict) -> None:
        self.update()

    def run(self) -> PopulationRun:
        """Simulate with the controls' current values."""
        return simulate_population(threshold=self.threshold.value, beta=self.beta.value, amplitude=self.amplitude.value,
                                   p=self.drop_rate.value, method=self.method.value, T=self.T,
                                   n_neurons=self.n_neurons, seed=self.seed)

    def update(self) -> PopulationRun:
        """Recompute and write the new traces into the live figure; returns the run shown."""
        r = self.run()
        t = np.arange(self.T)
        mem = r.membrane[:, 0].numpy()
        spk = r.spikes.numpy() != 0
        out = r.outputs.numpy()
        kept, removed, created = spike_times(spk & (out != 0)), spike_times(spk & (out == 0)), spike_times(~spk & (out != 0))
        color = method_color(self.method.value)
        s0 = t[spk[:, 0]]
        update_live_figure(self.figure, {
            0: {"x": t, "y": mem},
            1: {"x": [0, self.T - 1], "y": [self.threshold.value] * 2},
            2: {"x": s0, "y": np.full(s0.shape, max(float(mem.max()), self.threshold.value) * 1.1)},
            3: {"x": kept[0], "y": kept[1], "marker.color": color},
            4: {"x": removed[0], "y": removed[1]},
            5: {"x": created[0], "y": created[1]},
        }, layout={"title.text": f"{self.method.value} at p = {self.drop_rate.value:.2f}: "
                                 f"{int(spk.sum())} spikes, {len(removed[0])} removed"})
        self.summary.value = f"<i>{_stats_text(r.stats)}</i>"
        return r


class MaskStatsExplorer:
    """Drop-rate slider and method dropdown over recorded spikes ``[T, B, N]``: mask statistics and output values.

    Each change draws one mask (seeded) on the given spikes, as the model's dropout slot would in training,
    and updates the bars (dropped entries, removed spikes, drops on silent units) and the histogram of the
    values handed to the next layer. ``methods`` (default: every registered spike-acting method) is
    narrowed to those usable with the context given (a method that needs the membrane or the weight
    is offered only when it is passed).
    """

    def __init__(
        self,
        spikes: Tensor,
        *,
        membrane: Tensor | None = None,
        weight: Tensor | None = None,
        methods: Sequence[str] | None = None,
        method: str | None = None,
        p: float = 0.3,
        seed: int = 0,
    ) -> None:
        if not isinstance(spikes, Tensor) or spikes.dim() < 3:
            raise ValueError(f"spikes must be a [T, B, N] tensor, got {getattr(spikes, 'shape', type(spikes).__name__)}")
        self.spikes, self.membrane, self.weight, self.seed = spikes.detach(), membrane, weight, int(seed)
        usable = [m for m in spike_methods(methods) if method_info(m).family != "baseline"]
        if membrane is None:
            usable = [m for m in usable if method_info(m).membrane is None]
        if weight is None:
            usable = [m for m in usable if not method_info(m).needs_weight]
        if not usable:
            raise ValueError(f"methods={methods!r} leaves no registered dropout method usable here; available: {available()}")
        self.methods = tuple(usable)
        method = self.methods[0] if method is None else check_choice("method", method, self.methods)
        check_float("p", p, low=0.05, high=0.9)
        style = {"description_width": "90px"}
        self.drop_rate = widgets.FloatSlider(value=p, min=0.05, max=0.9, step=0.05, description="drop rate p", style=style)
        self.method = widgets.Dropdown(options=list(self.methods), value=method, description="method", style=style)
        out, stats = self._draw()
        self.figure = go.FigureWidget(mask_snapshot_figure(asdict(stats), out, method=method, p=p))
        self.drop_rate.observe(self._on_change, names="value")
        self.method.observe(self._on_change, names="value")
        self.ui = widgets.VBox([widgets.HBox([self.drop_rate, self.method]), self.figure])

    def _draw(self) -> tuple[Tensor, DropoutStats]:
        out, stats = apply_dropout(self.method.value, self.drop_rate.value, self.spikes, membrane=self.membrane,
                                   weight=self.weight, seed=self.seed)
        if stats is None:
            raise RuntimeError(f"dropout method {self.method.value!r} did not report last_stats after a training forward")
        return out, stats

    def _on_change(self, change: dict) -> None:
        self.update()

    def update(self) -> DropoutStats:
        """Draw a new mask with the current controls and update the figure in place; returns its statistics."""
        out, stats = self._draw()
        fresh = mask_snapshot_figure(asdict(stats), out, method=self.method.value, p=self.drop_rate.value)
        traces = {}
        for i, new in enumerate(fresh.data[:len(self.figure.data)]):
            traces[i] = {"x": new.x, "y": new.y, "marker.color": new.marker.color}
            if getattr(new, "text", None) is not None:
                traces[i]["text"] = new.text
        update_live_figure(self.figure, traces, layout={"title.text": fresh.layout.title.text})
        return stats
