"""``snnlab/widgets.py``: the simulation behind the explorers, one-draw dropout, and explorers whose
controls update their live figures; every list of methods comes from the registry."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from snnlab.dropout import available, method_info, methods
from snnlab.plots.style import method_color
from snnlab.widgets import MaskStatsExplorer, NeuronExplorer, apply_dropout, simulate_population, spike_methods


def test_simulate_population_is_seeded_and_none_is_identity() -> None:
    a = simulate_population(method="none", seed=3, T=40, n_neurons=10)
    b = simulate_population(method="none", seed=3, T=40, n_neurons=10)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.outputs, a.spikes) and a.stats is None
    silent = simulate_population(method="none", amplitude=0.0, T=40, n_neurons=10)
    assert silent.spikes.sum() == 0
    with pytest.raises(ValueError, match="beta"):
        simulate_population(beta=1.5)


def test_apply_dropout_reports_stats_of_the_draw() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(20, 8, 50, generator=g) < 0.2).float()
    out, stats = apply_dropout("standard", 0.4, spikes, seed=1)
    assert stats is not None and stats.p == 0.4
    dropped = ((spikes != 0) & (out == 0)).sum() / (spikes != 0).sum()
    assert stats.spikes_removed == pytest.approx(float(dropped), abs=1e-6)
    out2, _ = apply_dropout("standard", 0.4, spikes, seed=1)
    assert torch.equal(out, out2)
    with pytest.raises(ValueError, match="method"):
        apply_dropout("nope", 0.1, spikes)


def test_neuron_explorer_sliders_update_the_live_figure() -> None:
    ex = NeuronExplorer(methods=("none",), method="none", T=50, n_neurons=12)
    assert isinstance(ex.figure, go.FigureWidget)
    before = np.asarray(ex.figure.data[0].y).copy()
    ex.amplitude.value = 0.5
    after = np.asarray(ex.figure.data[0].y)
    assert not np.allclose(before, after)  # the membrane trace moved with the input amplitude
    ex.threshold.value = 2.0
    assert list(ex.figure.data[1].y) == [2.0, 2.0]
    kept_before = len(ex.figure.data[3].x)
    ex.beta.value = 0.5
    assert len(ex.figure.data[3].x) != kept_before  # less integration, different spike count


def test_neuron_explorer_drop_rate_and_method() -> None:
    ex = NeuronExplorer(method="standard", p=0.0, T=50, n_neurons=12, amplitude=0.4)
    assert len(ex.figure.data[4].x) == 0  # p = 0 removes nothing
    ex.drop_rate.value = 0.5
    assert len(ex.figure.data[4].x) > 0
    ex.method.value = "alpha"
    assert ex.figure.data[3].marker.color == method_color("alpha")
    assert "alpha at p = 0.50" in ex.figure.layout.title.text
    assert set(ex.methods) == set(spike_methods())


def test_mask_stats_explorer_updates_bars_and_colour() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(16, 8, 40, generator=g) < 0.15).float()
    ex = MaskStatsExplorer(spikes, methods=("standard", "alpha"), p=0.1)
    y_low = np.asarray(ex.figure.data[0].y)
    ex.drop_rate.value = 0.6
    y_high = np.asarray(ex.figure.data[0].y)
    assert y_high[0] > y_low[0]  # more of the mask drops at the higher rate
    ex.method.value = "alpha"
    assert ex.figure.data[0].marker.color == method_color("alpha")
    assert np.asarray(ex.figure.data[1].x).min() < 0  # alpha hands on negative values
    with pytest.raises(ValueError, match="spikes"):
        MaskStatsExplorer(torch.zeros(4, 4))


def test_every_spike_method_runs_in_the_explorer_simulation() -> None:
    for method in spike_methods():
        r = simulate_population(method=method, p=0.3, T=30, n_neurons=10)
        assert r.outputs.shape == r.spikes.shape == (30, 10)
        assert (r.stats is None) == (method == "none")


# ------------------------------------------------------------------ lists and flags from the registry


def test_spike_methods_are_the_registry_spike_methods() -> None:
    assert spike_methods() == methods(acts_on="spikes")
    assert "dropconnect" not in spike_methods() and spike_methods()[0] == "none"
    assert spike_methods(["alpha", "dropconnect", "nope", "standard"]) == ("standard", "alpha")  # registry order
    with pytest.raises(TypeError, match="candidates must be a sequence of method names"):
        spike_methods("standard")


def test_classic_methods_name_is_read_from_the_registry() -> None:
    import snnlab.widgets as w

    assert w.CLASSIC_METHODS == methods(family="classic") == ("standard", "dropout2d", "feature_alpha", "alpha")
    with pytest.raises(AttributeError, match="no attribute 'SHAPED_METHODS'"):
        w.SHAPED_METHODS  # noqa: B018


def test_apply_dropout_hands_each_method_the_context_it_declares() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(10, 8, 30, generator=g) < 0.3).float()
    membrane = torch.randn(10, 8, 30, generator=g)
    weight = torch.randn(30, 5, generator=g)
    for method in spike_methods():
        info = method_info(method)
        if info.membrane is not None:
            with pytest.raises(ValueError, match="pass membrane="):
                apply_dropout(method, 0.3, spikes, weight=weight)
        if info.needs_weight:
            with pytest.raises(ValueError, match="pass weight="):
                apply_dropout(method, 0.3, spikes, membrane=membrane)
        out, stats = apply_dropout(method, 0.3, spikes, membrane=membrane, weight=weight)
        assert out.shape == spikes.shape and (stats is None) == (info.family == "baseline")
    with pytest.raises(ValueError, match="p="):
        apply_dropout("standard", 1.0, spikes)


def test_mask_stats_explorer_offers_every_method_usable_with_the_context() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(8, 4, 20, generator=g) < 0.2).float()
    spikes_only = MaskStatsExplorer(spikes)
    expected = tuple(m for m in spike_methods() if method_info(m).family != "baseline"
                     and method_info(m).membrane is None and not method_info(m).needs_weight)
    assert spikes_only.methods == expected and "temporal" in expected and "membrane" not in expected
    full = MaskStatsExplorer(spikes, membrane=torch.randn(8, 4, 20, generator=g), weight=torch.randn(20, 6, generator=g))
    assert full.methods == tuple(m for m in spike_methods() if method_info(m).family != "baseline")
    for method in full.methods:
        full.method.value = method
        assert full.figure.data[0].marker.color == method_color(method)
    with pytest.raises(ValueError, match="leaves no registered dropout method usable"):
        MaskStatsExplorer(spikes, methods=("membrane",))
    assert set(available()) >= set(full.methods)


# ------------------------------------------------------------------ what the browser is sent (colour bug of issue 15)


class FrontEnd:
    """What a figure's front-end model holds when the figure is shown after it was updated (inside a
    VBox, so plotly's ``_repr_mimebundle_`` never re-sends the figure): the data it was created with,
    then every update message applied as the front end applies it, a gap in a per-trace list
    (``Undefined``) or a ``None`` unsetting the property. That is how notebook 01's explorer lost its
    marker colours in JupyterLab. ``strided`` lists the properties sent as non-contiguous numpy
    arrays, which the kernel cannot send (``Buffer 0 is not contiguous``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import copy

        import plotly.basewidget as bw
        from plotly.basedatatypes import Undefined

        self.models: dict[int, list[dict]] = {}
        self.messages: list[dict] = []
        self.strided: list[str] = []
        original = bw.BaseFigureWidget._send_update_msg
        original_restyle = bw.BaseFigureWidget._send_restyle_msg
        front = self

        def apply(fig, restyle_data, trace_indexes) -> None:
            model = front.models.setdefault(id(fig), copy.deepcopy(fig._widget_data))
            indexes = fig._normalize_trace_indexes(trace_indexes)
            front.messages.append({"restyle": restyle_data, "traces": list(indexes)})
            for path, values in restyle_data.items():
                values = values if isinstance(values, list) else [values]
                for j, index in enumerate(indexes):
                    value = values[j % len(values)]
                    if isinstance(value, np.ndarray) and not value.flags.c_contiguous:
                        front.strided.append(f"trace {index} {path}")
                    *parents, leaf = path.split(".")
                    node = model[index]
                    for key in parents:
                        node = node.setdefault(key, {})
                    if value is Undefined or value is None:
                        node.pop(leaf, None)
                    else:
                        node[leaf] = value

        def send_update(fig, restyle_data, relayout_data, trace_indexes=None, source_view_id=None):
            apply(fig, restyle_data, trace_indexes)
            return original(fig, restyle_data=restyle_data, relayout_data=relayout_data, trace_indexes=trace_indexes,
                            source_view_id=source_view_id)

        def send_restyle(fig, restyle_data, trace_indexes=None, source_view_id=None):
            apply(fig, restyle_data, trace_indexes)
            return original_restyle(fig, restyle_data, trace_indexes=trace_indexes, source_view_id=source_view_id)

        monkeypatch.setattr(bw.BaseFigureWidget, "_send_update_msg", send_update)
        monkeypatch.setattr(bw.BaseFigureWidget, "_send_restyle_msg", send_restyle)

    def colours(self, fig: go.FigureWidget) -> list[tuple[object, object]]:
        """(marker colour, line colour) of each trace as the front end would draw it."""
        model = self.models.get(id(fig), fig._widget_data)
        return [((t.get("marker") or {}).get("color"), (t.get("line") or {}).get("color")) for t in model]


def python_colours(fig: go.Figure) -> list[tuple[object, object]]:
    """(marker colour, line colour) of each trace of the Python figure: the explorer's own colours."""
    return [(t.marker.color if hasattr(t, "marker") else None, t.line.color if hasattr(t, "line") else None)
            for t in fig.data]


def test_neuron_explorer_front_end_keeps_every_trace_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    from snnlab.plots.dropout import CREATED_COLOR, REMOVED_COLOR
    from snnlab.plots.neurons import SPIKE_COLOR, THRESHOLD_COLOR

    front = FrontEnd(monkeypatch)
    ex = NeuronExplorer(method="standard", T=40, n_neurons=10, amplitude=0.4)  # its first update: before display
    assert front.messages, "the constructor's first draw reaches the front end as an update"
    expected = [(None, "#ff7f0e"), (None, THRESHOLD_COLOR), (SPIKE_COLOR, None), (method_color("standard"), None),
                (REMOVED_COLOR, None), (CREATED_COLOR, None)]
    assert python_colours(ex.figure) == expected
    assert front.colours(ex.figure) == expected  # the bug: (None, None) for "spike" and "removed spike"
    for change in (lambda: setattr(ex.threshold, "value", 1.4), lambda: setattr(ex.drop_rate, "value", 0.6),
                   lambda: setattr(ex.method, "value", "alpha")):
        change()
        assert front.colours(ex.figure) == python_colours(ex.figure)
    assert front.colours(ex.figure)[3] == (method_color("alpha"), None)
    model = front.models[id(ex.figure)]
    assert list(model[1]["y"]) == [1.4, 1.4] and len(model[0]["x"]) == 40  # the data arrived too
    assert front.strided == []  # the membrane trace is a column of a [T, N] array: sent as a copy
    for message in front.messages:  # no per-trace gaps at all
        for values in message["restyle"].values():
            assert len(values) == len(message["traces"])


def test_mask_stats_explorer_front_end_keeps_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    front = FrontEnd(monkeypatch)
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(16, 8, 40, generator=g) < 0.15).float()
    ex = MaskStatsExplorer(spikes, methods=("standard", "alpha"), p=0.1)
    ex.drop_rate.value = 0.5
    ex.method.value = "alpha"
    assert front.colours(ex.figure) == python_colours(ex.figure) == [(method_color("alpha"), None)] * 2


def test_update_live_figure_sends_every_property_for_every_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    from snnlab.widgets import update_live_figure

    front = FrontEnd(monkeypatch)
    fig = go.FigureWidget(go.Figure([go.Scatter(x=[1, 2], y=[1, 2], mode="markers", marker=dict(color="black")),
                                     go.Scatter(x=[1, 2], y=[2, 3], mode="markers", marker=dict(color="red"))]))
    update_live_figure(fig, {0: {"x": [1, 2, 3], "y": [1, 2, 3]}, 1: {"x": [1, 2, 3], "y": [1, 2, 4], "marker.color": "blue"}},
                       layout={"title.text": "moved"})
    assert front.colours(fig) == python_colours(fig) == [("black", None), ("blue", None)]
    assert front.messages[-1]["restyle"]["marker.color"] == ["black", "blue"]
    assert list(fig.data[1].y) == [1, 2, 4] and fig.layout.title.text == "moved"
    with pytest.raises(ValueError, match="trace index 2"):
        update_live_figure(fig, {2: {"x": [1]}})
    with pytest.raises(TypeError, match="figure must be a plotly FigureWidget"):
        update_live_figure(go.Figure(), {})
    with pytest.raises(TypeError, match=r"traces\[0\] must be a mapping"):
        update_live_figure(fig, {0: ["x"]})


def test_batch_update_gaps_are_what_lost_the_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism the fix avoids, kept as a check of the front-end model above: a ``batch_update``
    that sets a marker colour on one trace only leaves a gap for the other, which the front end unsets."""
    front = FrontEnd(monkeypatch)
    fig = go.FigureWidget(go.Figure([go.Scatter(x=[1, 2], y=[1, 2], mode="markers", marker=dict(color="black")),
                                     go.Scatter(x=[1, 2], y=[2, 3], mode="markers", marker=dict(color="red"))]))
    with fig.batch_update():
        fig.data[0].x = [1, 2, 3]
        fig.data[1].x, fig.data[1].marker.color = [1, 2, 3], "blue"
    assert front.colours(fig) == [(None, None), ("blue", None)]
