"""Property-based tests (Hypothesis) over the public API: every call either works as documented or
raises ValueError/TypeError naming the argument that was wrong.

Entry points: ``make_dropout`` and every registered method's forward, the registered neurons, the
encoders, ``build_model`` and the models' forward, ``TrialSpec``, ``load_dataset`` (the embedded
``digits`` data only), ``fit`` (a few samples, one epoch) and ``ResultsStore`` (in temporary folders).
Each strategy spoils at most one argument (``property_strategies.spoil``), so the test knows which
argument an error must name. Examples are derandomized: CI runs the same ones every time.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from property_strategies import (
    BAD_FLOATS,
    INF,
    NAN,
    NOT_A_NUMBER,
    PROPERTY_SETTINGS,
    UNKNOWN_NAMES,
    Draw,
    assert_names,
    finite,
    in_unit_interval,
    spoil,
    tensors,
)
from snnlab.data import SplitData, load_dataset
from snnlab.dropout import LayerContext, available, make_dropout, method_class
from snnlab.dropout.shaped import FAVORS
from snnlab.encoding import ENCODINGS, encode
from snnlab.models import MODEL_KINDS, build_model
from snnlab.neurons import make_neuron, neuron_keys
from snnlab.study.spec import TrialSpec
from snnlab.study.store import ResultsStore, TrialResult
from snnlab.train import fit

BAD_SEEDS = st.sampled_from([1.5, "3", True, NAN, [2], 2**70, -(2**64)])
BAD_BOOLS = st.sampled_from([1, 0, "yes", None, "False"])
BAD_UNIT_P = BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([-0.1, 1.0, 1.5, True])


def _raises(call) -> BaseException | None:
    """The exception ``call()`` raises (None when it returns); anything but ValueError/TypeError fails the test."""
    try:
        call()
    except (ValueError, TypeError) as err:
        return err
    return None


# ------------------------------------------------------------------------------------------ dropout

@st.composite
def dropout_calls(draw: st.DrawFn) -> Draw:
    """``make_dropout`` arguments (``name``, ``p`` and the method's options) with at most one spoiled."""
    key = draw(st.sampled_from(available()))
    cls = method_class(key)
    p = 0.0 if key == "none" else draw(st.just(0.0) | st.floats(0.0, 0.9))
    valid: dict[str, Any] = {"name": key, "p": p, "seed": draw(st.integers(0, 2**40)), "mc": draw(st.booleans())}
    valid["rescale"] = draw(st.sampled_from(cls.supported_rescale))
    bad: dict[str, st.SearchStrategy[Any]] = {
        "name": UNKNOWN_NAMES, "p": BAD_UNIT_P, "seed": BAD_SEEDS, "mc": BAD_BOOLS,
        "rescale": st.sampled_from(["x", None, 1, "Inverted"] + [r for r in ("inverted", "none") if r not in cls.supported_rescale]),
        "generator": st.sampled_from(["g", 1, torch.zeros(1)]), "bogus_option": st.integers(),
    }
    if key == "none":
        bad["p"] = bad["p"] | st.sampled_from([0.5, 1e-9])
    if "favor" in cls.extra_options:
        valid["favor"] = draw(st.sampled_from(FAVORS))
        valid["p_max"] = draw(st.floats(max(p, 0.01), 0.99))
        valid["window"] = "full" if cls.causal else draw(st.sampled_from(("full", "causal")))
        valid["per_step"] = draw(st.sampled_from((None, True) if valid["window"] == "causal" else (None, True, False)))
        bad.update(favor=st.sampled_from(["x", None, 1]), p_max=st.sampled_from([NAN, INF, 0.0, 1.0, 2.0, "x"]),
                   window=st.sampled_from(["x", None] + (["causal"] if cls.causal else [])),
                   per_step=st.sampled_from([1, "x"] + ([False] if valid["window"] == "causal" else [])))
    return draw(spoil(valid, bad))


@st.composite
def layer_contexts(draw: st.DrawFn, needs_membrane: str | None) -> tuple[Any, LayerContext | Any]:
    """A layer's spikes ``[T, B, ...]`` (small, sometimes empty, any dtype, sometimes of the wrong rank or
    not a tensor), with the membrane and weights a method may read."""
    T, B = draw(st.integers(1, 3)), draw(st.integers(0, 3))
    conv = draw(st.booleans())
    features = (draw(st.integers(0, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))) if conv else (draw(st.integers(0, 4)),)
    rank = draw(st.sampled_from(["ok"] * 8 + ["low", "list"]))
    shape = (T, B, *features) if rank == "ok" else (T, B)
    x = draw(tensors(shape, binary=draw(st.booleans())))
    if rank == "list":
        return "spikes", LayerContext(x.tolist())
    membrane = None
    if needs_membrane is not None and rank == "ok":
        m_shape = (1, *shape[1:]) if needs_membrane == "mean" and draw(st.booleans()) else shape
        membrane = draw(tensors(m_shape, dtype=draw(st.sampled_from((torch.float32, torch.float64))), low=-2.0, high=2.0))
    n = shape[2] if len(shape) > 2 else 1
    weight = torch.randn(n, 3)
    next_weight = torch.randn(2, n)
    return ("spikes" if rank != "ok" else None), LayerContext(x, membrane=membrane, weight=weight, next_weight=next_weight)


@PROPERTY_SETTINGS
@given(call=dropout_calls(), data=st.data())
def test_make_dropout_and_forward(call: Draw, data: st.DataObject) -> None:
    kwargs = dict(call.kwargs)
    name, p = kwargs.pop("name"), kwargs.pop("p")
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("d", make_dropout(name, p, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, call.bad, "dropout method" if call.bad == "name" else call.bad)
        return
    assert err is None, f"valid arguments refused: {err}"
    d = holder["d"]
    assert d.p == p and d.key == name
    d.train(data.draw(st.booleans()))
    spoiled, ctx = data.draw(layer_contexts(d.membrane))
    err = _raises(lambda: holder.__setitem__("out", d(ctx)))
    x = ctx.spikes
    if spoiled is not None or not x.is_floating_point():
        assert err is not None, f"spikes of shape {getattr(x, 'shape', None)} were accepted"
        assert_names(err, "spikes")
        return
    assert err is None, f"a valid layer context was refused: {err}"
    out = holder["out"]
    assert out.shape == x.shape and out.dtype == x.dtype
    membrane_finite = ctx.membrane is None or finite(ctx.membrane)
    if finite(x) and membrane_finite:
        assert finite(out), "finite spikes gave a non-finite output"
    if not d.sampling and d.rescale == "inverted" or d.sampling and d.p == 0.0:
        torch.testing.assert_close(out, x, rtol=0, atol=0, equal_nan=True)  # nothing dropped or rescaled
    if d.sampling and d.rescale == "none" and name in ("standard", "dropout2d", "temporal", "membrane", "synaptic", "activity"):
        kept = out == x
        # a non-finite "spike" times a 0 mask is NaN (IEEE), so only finite inputs are checked
        assert bool((kept | (out == 0) | ~torch.isfinite(x)).all()), "rescale='none' changed a kept spike"
    if name == "dropconnect" and x.dim() == 3:
        w = torch.randn(2, x.shape[2])
        assert d.mask_weight(w, x).shape == w.shape


# ------------------------------------------------------------------------------------------ neurons

NEURON_OPTIONS: dict[str, tuple[dict[str, Any], dict[str, st.SearchStrategy[Any]]]] = {
    "lif": ({"beta": 0.9, "threshold": 1.0, "reset": "subtract"},
            {"beta": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([-0.5, 1.5]),
             "threshold": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([0.0, -1.0]),
             "reset": st.sampled_from(["x", None, 1]), "backend": UNKNOWN_NAMES, "tau": st.sampled_from([0.0, -1.0, NAN, "x"])}),
    "first_spike": ({"threshold": 1.0}, {"threshold": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([0.0, -1.0]),
                                         "surrogate": st.sampled_from(["x", 1])}),
    "penalty": ({"decay": 0.9, "threshold": 2.0, "penalty_threshold": 2.5},
                {"decay": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([-0.1, 1.1]),
                 "threshold": BAD_FLOATS | NOT_A_NUMBER | st.just(-1.0),
                 "penalty_threshold": BAD_FLOATS | NOT_A_NUMBER | st.just(-1.0)}),
}


@st.composite
def neuron_calls(draw: st.DrawFn) -> Draw:
    key = draw(st.sampled_from(neuron_keys()))
    valid, bad = NEURON_OPTIONS.get(key, ({}, {}))
    if key == "lif":
        valid = {**valid, "beta": draw(st.floats(0.0, 1.0)), "threshold": draw(st.floats(0.05, 3.0)),
                 "reset": draw(st.sampled_from(("subtract", "zero")))}
    out = draw(spoil({"key": key, **valid}, {"key": UNKNOWN_NAMES, "bogus_option": st.integers(), **bad}))
    return out


@PROPERTY_SETTINGS
@given(call=neuron_calls(), data=st.data())
def test_neurons(call: Draw, data: st.DataObject) -> None:
    kwargs = dict(call.kwargs)
    key = kwargs.pop("key")
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("n", make_neuron(key, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, "neuron" if call.bad == "key" else call.bad)
        return
    assert err is None, f"valid options refused: {err}"
    neuron = holder["n"]
    shape = data.draw(st.sampled_from(["ok"] * 6 + ["no_steps", "low", "list"]))
    T, B, N = data.draw(st.integers(1, 4)), data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    dims = {"ok": (T, B, N), "no_steps": (0, B, N), "low": (T,), "list": (T, B, N)}[shape]
    x = data.draw(tensors(dims, low=-1.0, high=3.0))
    arg = x.tolist() if shape == "list" else x
    trace, mean = data.draw(st.booleans()), data.draw(st.booleans())
    err = _raises(lambda: holder.__setitem__("out", neuron.run(arg, trace=trace, mean=mean)))
    if shape != "ok" or not x.is_floating_point():
        assert err is not None, f"an input current {tuple(x.shape)} {x.dtype} ({shape}) was accepted"
        assert_names(err, "x")
        return
    assert err is None, f"a valid input current was refused: {err}"
    out = holder["out"]
    assert out.spikes.shape == x.shape and out.spikes.dtype == x.dtype
    assert (out.trace is not None) == trace and (out.mean is not None) == mean
    if trace:
        assert out.trace.shape == x.shape
    if mean:
        assert out.mean.shape[1:] == x.shape[1:] and out.mean.shape[0] in (1, T)
    if finite(x):
        assert finite(out.spikes)
        if key in ("lif", "first_spike"):
            assert bool(((out.spikes == 0) | (out.spikes == 1)).all()), "a spiking neuron emitted a non-binary value"
        if key == "first_spike":
            assert bool((out.spikes.sum(0) <= 1).all()), "a fire-once neuron fired twice"
    static_steps = data.draw(st.sampled_from([1, 2, 0, 1.5]))
    err = _raises(lambda: holder.__setitem__("static", neuron.run_static(x[0], static_steps)))
    if static_steps in (0, 1.5):
        assert err is not None and "steps" in str(err)
    else:
        assert err is None, f"run_static refused a valid current: {err}"
        assert holder["static"].spikes.shape == (static_steps, *x.shape[1:])


# ----------------------------------------------------------------------------------------- encoding

ENCODING_OPTIONS = {
    "rate": (lambda d: {"gain": d(st.floats(0.0, 1.0))}, {"gain": BAD_FLOATS | NOT_A_NUMBER | st.just(-1.0)}),
    "latency": (lambda d: {"threshold": d(st.floats(0.001, 0.5)), "linear": d(st.booleans())},
                {"threshold": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([-0.1, 1.0]), "linear": BAD_BOOLS}),
    "direct": (lambda d: {}, {}),
    "noisy_repeat": (lambda d: {"keep": d(st.floats(0.01, 1.0))}, {"keep": BAD_FLOATS | NOT_A_NUMBER | st.sampled_from([0.0, 1.5])}),
}


@st.composite
def encode_calls(draw: st.DrawFn) -> Draw:
    name = draw(st.sampled_from(ENCODINGS))
    options, bad = ENCODING_OPTIONS[name]
    valid = {"name": name, "T": draw(st.integers(1, 4)), "validate": True, **options(draw)}
    return draw(spoil(valid, {"name": UNKNOWN_NAMES, "T": st.sampled_from([0, -1, 1.5, "3", None, True]),
                              "validate": BAD_BOOLS, "generator": st.sampled_from(["g", 1]),
                              "bogus_option": st.integers(), **bad}))


@PROPERTY_SETTINGS
@given(call=encode_calls(), data=st.data())
def test_encoders(call: Draw, data: st.DataObject) -> None:
    kwargs = dict(call.kwargs)
    name, T = kwargs.pop("name"), kwargs.pop("T")
    shape = data.draw(st.sampled_from([(2, 3), (0, 3), (3,), (2, 0), (1, 2, 2), ()]))
    kind = data.draw(st.sampled_from(["unit", "unit", "unit", "wide"]))
    x = data.draw(tensors(shape, low=-0.5 if kind == "wide" else 0.0, high=1.5 if kind == "wide" else 1.0))
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("out", encode(x, name, T, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, "encoding" if call.bad == "name" else call.bad)
        return
    needs_unit = name in ("rate", "latency")
    scale = kwargs.get("gain", 1.0) if name == "rate" else 1.0
    x_bad = (not x.is_floating_point() or x.dim() == 0 or not finite(x)
             or needs_unit and not in_unit_interval(x, scale))
    if x_bad:
        assert err is not None, f"x {tuple(x.shape)} {x.dtype} was accepted by {name}"
        assert_names(err, "x")
        return
    assert err is None, f"a valid call was refused: {err}"
    out = holder["out"]
    assert out.shape == (T, *x.shape) and out.dtype == x.dtype and finite(out)
    if name in ("rate", "latency"):
        assert bool(((out == 0) | (out == 1)).all())
    if name == "latency":
        assert bool((out.sum(0) <= 1).all()), "a latency code fired an input twice"
    if name == "direct":
        assert all(torch.equal(step, x) for step in out)
    if name == "noisy_repeat":
        assert bool(((out == 0) | (out == x.unsqueeze(0))).all())


# ------------------------------------------------------------------------------------------- models

_MODEL_CACHE: dict[tuple[str, str], torch.nn.Module] = {}


def _model(kind: str, encoding: str) -> torch.nn.Module:
    """A tiny model of ``kind`` (built once per kind and encoding: building is deterministic)."""
    if (kind, encoding) not in _MODEL_CACHE:
        cnn = kind in ("cnn", "spiking_cnn")
        options = {"encoding": encoding} if kind in ("spiking_mlp", "spiking_cnn") else {}
        _MODEL_CACHE[kind, encoding] = build_model(kind, (2, 4, 3) if cnn else (6, 4, 3), T=2, seed=0,
                                                   input_shape=(1, 4, 4) if cnn else None, **options)
    return _MODEL_CACHE[kind, encoding]


@st.composite
def build_calls(draw: st.DrawFn) -> Draw:
    kind = draw(st.sampled_from(MODEL_KINDS))
    cnn = kind in ("cnn", "spiking_cnn")
    valid: dict[str, Any] = {"kind": kind, "sizes": (2, 3, 3) if cnn else (5, draw(st.integers(1, 4)), 3),
                             "T": draw(st.integers(1, 3)), "seed": draw(st.integers(0, 2**40))}
    if cnn:
        valid["input_shape"] = (1, 4, 4)
    if kind in ("spiking_mlp", "spiking_cnn"):
        valid["encoding"] = draw(st.sampled_from(ENCODINGS))
    bad = {"kind": UNKNOWN_NAMES, "sizes": st.sampled_from([(), (5,), (5, 0, 3), (5, 1.5, 3), "53", 5, None, (5, True, 3)]),
           "seed": BAD_SEEDS, "p": BAD_UNIT_P, "bogus_option": st.integers()}
    if kind not in ("mlp", "cnn"):  # the ANN baselines accept and ignore the spiking-only options
        bad["T"] = st.sampled_from([0, -1, 1.5, "2", None, True])
    if kind in ("spiking_mlp", "spiking_cnn"):
        bad["encoding"] = UNKNOWN_NAMES
    return draw(spoil(valid, bad))


@PROPERTY_SETTINGS
@given(call=build_calls())
def test_build_model(call: Draw) -> None:
    kwargs = dict(call.kwargs)
    kind, sizes = kwargs.pop("kind"), kwargs.pop("sizes")
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("m", build_model(kind, sizes, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, call.bad)
        return
    assert err is None, f"valid arguments refused: {err}"
    model = holder["m"]
    shape = (2, 1, 4, 4) if kind in ("cnn", "spiking_cnn") else (2, 5)
    logits = model(torch.rand(shape))
    assert logits.shape == (2, 3) and logits.dtype == torch.float32 and finite(logits)


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(MODEL_KINDS), encoding=st.sampled_from(ENCODINGS), data=st.data())
def test_model_forward(kind: str, encoding: str, data: st.DataObject) -> None:
    model = _model(kind, encoding)
    model.train(data.draw(st.booleans()))
    cnn = kind in ("cnn", "spiking_cnn")
    sample = (1, 4, 4) if cnn else (6,)
    B = data.draw(st.integers(0, 3))
    wrong = data.draw(st.sampled_from([None] * 6 + ["features", "rank", "list"]))
    shape = {None: (B, *sample), "features": (B, *((2, 4, 4) if cnn else (7,))), "rank": sample, "list": (B, *sample)}[wrong]
    kind_of_values = data.draw(st.sampled_from(["unit", "unit", "wide"]))
    x = data.draw(tensors(shape, low=-1.0 if kind_of_values == "wide" else 0.0, high=2.0 if kind_of_values == "wide" else 1.0))
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("out", model(x.tolist() if wrong == "list" else x)))
    model_encoding = getattr(model, "encoding", None)
    needs_unit = model_encoding in ("rate", "latency")
    if wrong is not None or B == 0 or not x.is_floating_point() or not finite(x) or needs_unit and not in_unit_interval(x):
        assert err is not None, f"x {tuple(x.shape)} {x.dtype} ({wrong}) was accepted by {kind}/{model_encoding}"
        assert_names(err, "x")
        return
    assert err is None, f"a valid batch was refused by {kind}/{model_encoding}: {err}"
    out = holder["out"]
    assert out.shape == (B, 3) and out.dtype == torch.float32 and finite(out)


# ---------------------------------------------------------------------------------------- TrialSpec

SPEC_BAD: dict[str, st.SearchStrategy[Any]] = {
    "dataset": UNKNOWN_NAMES, "model": UNKNOWN_NAMES, "method": UNKNOWN_NAMES, "neuron": st.sampled_from(["x", 1]),
    "encoding": st.sampled_from(["x", 1]), "rescale": st.sampled_from(["x", None]), "device": st.sampled_from(["x", None, "gpu"]),
    "select": st.sampled_from(["x", 1]),
    "train_subset": st.sampled_from([0, -1, 1.5, True, 10**9]), "test_subset": st.sampled_from([0, 1.5, 10**9]),
    "sizes": st.sampled_from([(), (0,), (1.5,), "12", 12, None, (True,)]), "T": st.sampled_from([0, -1, 1.5, NAN, None]),
    "p": BAD_UNIT_P, "seed": st.sampled_from([-1, 1.5, None, NAN, True]), "epochs": st.sampled_from([0, None, 2.0]),
    "lr": BAD_FLOATS | st.sampled_from([0.0, -1.0, None, "0.1"]), "batch_size": st.sampled_from([0, 1.5, None]),
    "weight_decay": BAD_FLOATS | st.sampled_from([-1.0, "0"]), "val_fraction": st.sampled_from([0.0, 1.0, NAN, "x", True]),
    "train_eval_size": st.sampled_from([0, 1.5, "x"]),
    "method_options": st.sampled_from([{"bogus": 1}, [1], "x", {1: 2}]),
    "neuron_options": st.sampled_from([{"beta": NAN}, {"beta": 2.0}, {"bogus": 1}, "x"]),
    "encoding_options": st.sampled_from([{"bogus": 1}, "x"]),
    "model_options": st.sampled_from([{"bogus": 1}, {"output_beta": NAN}, {"readout": "x"}, "x"]),
}
# A spoiled option dict may be named by the field or by the option inside it.
SPEC_NAMES = {"method_options": ("method_options", "bogus", "option"), "neuron_options": ("neuron_options", "beta", "bogus", "option"),
              "encoding_options": ("encoding_options", "bogus", "option"),
              "model_options": ("model_options", "bogus", "output_beta", "readout", "option"),
              "dataset": ("dataset",), "model": ("model",), "method": ("method",)}


@st.composite
def spec_calls(draw: st.DrawFn) -> Draw:
    method = draw(st.sampled_from(available()))
    cls = method_class(method)
    valid = {"dataset": "digits", "model": "spiking_mlp", "sizes": (draw(st.integers(1, 8)),), "T": draw(st.integers(1, 4)),
             "method": method, "p": 0.0 if method == "none" else draw(st.floats(0.0, 0.9)),
             "rescale": draw(st.sampled_from(cls.supported_rescale)), "seed": draw(st.integers(0, 10**6)), "epochs": 1,
             "train_subset": draw(st.none() | st.integers(1, 100)), "device": "cpu",
             "encoding": draw(st.sampled_from(ENCODINGS)), "val_fraction": draw(st.none() | st.floats(0.05, 0.5))}
    return draw(spoil(valid, SPEC_BAD))


@PROPERTY_SETTINGS
@given(call=spec_calls())
def test_trial_spec(call: Draw) -> None:
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("spec", TrialSpec(**call.kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, *SPEC_NAMES.get(call.bad, (call.bad,)))
        return
    assert err is None, f"a valid spec was refused: {err}"
    spec = holder["spec"]
    again = TrialSpec.from_json(spec.to_json())
    assert again == spec and again.key == spec.key
    assert spec.select == ("last" if spec.val_fraction is None else "best_val")


# ------------------------------------------------------------------------------------- load_dataset

DIGITS_SIZES = {"train": 1347, "test": 450}


@st.composite
def load_calls(draw: st.DrawFn) -> Draw:
    valid = {"name": "digits", "split": draw(st.sampled_from(("train", "test"))),
             "subset": draw(st.none() | st.integers(1, 449)), "seed": draw(st.integers(0, 2**31)), "device": "cpu",
             "download": draw(st.booleans()), "progress": draw(st.booleans()),
             "root": draw(st.sampled_from([None, "tmp"]))}
    bad = {"name": UNKNOWN_NAMES | st.just("Digits"), "split": st.sampled_from(["val", "", None, 1]),
           "subset": st.sampled_from([0, -1, 1.5, True, "5", 10**6]), "seed": st.sampled_from([-1, 1.5, None, True]),
           "device": st.sampled_from(["x", 1, "cuda:x"]), "download": BAD_BOOLS, "progress": BAD_BOOLS,
           "root": st.sampled_from([1, 2.5, ["a"]])}
    return draw(spoil(valid, bad))


@PROPERTY_SETTINGS
@given(call=load_calls())
def test_load_dataset(call: Draw, tmp_path_factory: pytest.TempPathFactory) -> None:
    kwargs = dict(call.kwargs)
    if kwargs.get("root") == "tmp":
        kwargs["root"] = tmp_path_factory.mktemp("root")
    name, split = kwargs.pop("name"), kwargs.pop("split")
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("d", load_dataset(name, split, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, call.bad)
        return
    assert err is None, f"valid arguments refused: {err}"
    d = holder["d"]
    n = kwargs["subset"] or DIGITS_SIZES[split]
    assert d.x.shape == (n, 1, 8, 8) and d.x.dtype == torch.float32 and d.y.shape == (n,) and d.y.dtype == torch.int64
    assert float(d.x.min()) >= 0.0 and float(d.x.max()) <= 1.0 and finite(d.x)
    assert int(d.y.min()) >= 0 and int(d.y.max()) < 10 and d.n_classes == 10


# ---------------------------------------------------------------------------------------------- fit

_DIGITS: dict[str, SplitData] = {}


def _digits(split: str) -> SplitData:
    if split not in _DIGITS:
        _DIGITS[split] = load_dataset("digits", split, subset=6 if split == "train" else 4, device="cpu")
    return _DIGITS[split]


@st.composite
def fit_calls(draw: st.DrawFn) -> Draw:
    valid = {"epochs": 1, "lr": draw(st.floats(1e-4, 0.1)), "batch_size": draw(st.integers(1, 8)),
             "seed": draw(st.integers(0, 2**40)), "weight_decay": draw(st.sampled_from([0.0, 1e-4])), "progress": False,
             "select": "last", "train_eval_size": draw(st.none() | st.integers(1, 10)),
             "callback": draw(st.sampled_from([None, print]))}
    bad = {"epochs": st.sampled_from([0, -1, 1.5, None, True]), "lr": BAD_FLOATS | st.sampled_from([0.0, -1.0, "0.1"]),
           "batch_size": st.sampled_from([0, 1.5, None]), "seed": BAD_SEEDS,
           "weight_decay": BAD_FLOATS | st.sampled_from([-1.0, None]), "progress": BAD_BOOLS,
           "select": st.sampled_from(["x", None, "best_val"]), "train_eval_size": st.sampled_from([0, 1.5, "x"]),
           "callback": st.sampled_from([1, "f"]), "on_step": st.sampled_from([1, "f"]), "device": st.sampled_from(["x", 3]),
           "train": st.sampled_from(["data", None]), "test": st.sampled_from(["data", None]), "model": st.sampled_from(["m", None]),
           "val": st.sampled_from(["v", 1])}
    return draw(spoil(valid, bad))


@PROPERTY_SETTINGS
@given(call=fit_calls())
def test_fit(call: Draw) -> None:
    kwargs = dict(call.kwargs)
    model = kwargs.pop("model") if "model" in kwargs else build_model("spiking_mlp", (64, 3, 10), T=2, seed=0)
    train, test = kwargs.pop("train", _digits("train")), kwargs.pop("test", _digits("test"))
    records: list[Any] = []
    if kwargs.get("callback") is print:
        kwargs["callback"] = records.append
    holder: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a divergence warning is part of the documented result
        err = _raises(lambda: holder.setdefault("h", fit(model, train, test, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, call.bad)
        return
    assert err is None, f"valid arguments refused: {err}"
    history = holder["h"]
    assert len(history.records) == (0 if history.diverged else 1)
    for rec in history.records:
        assert 0.0 <= rec.train_acc <= 1.0 and 0.0 <= rec.test_acc <= 1.0
        assert math.isfinite(rec.train_loss) and math.isfinite(rec.test_loss)
        if kwargs["train_eval_size"] is not None:
            assert 0.0 <= rec.train_acc_eval <= 1.0
    if call.kwargs["callback"] is print:
        assert records == history.records


# ------------------------------------------------------------------------------------- ResultsStore

_SPECS = [TrialSpec(epochs=e, seed=s, sizes=(4,), device="cpu") for e, s in itertools.product((1, 2), (0, 1))]


def _result(spec: TrialSpec, value: float) -> TrialResult:
    rows = [{"epoch": e, "train_loss": value, "train_acc": 0.5, "test_loss": value + 1.0, "test_acc": 0.25,
             "seconds": 0.1} for e in range(1, spec.epochs + 1)]
    return TrialResult(spec=spec, history=pd.DataFrame(rows), final=dict(rows[-1]), seconds=1.0, device="cpu")


FILTER_BAD = {"p": st.sampled_from([NAN, INF, "0.1"]), "seed": st.sampled_from([1.5, "1"]), "method": st.sampled_from([1, 2.5]),
              "sizes": st.sampled_from(["4", 4, (1.5,)]), "dataset": st.sampled_from([None]), "bogus_field": st.integers()}


@st.composite
def store_calls(draw: st.DrawFn) -> Draw:
    valid = {"path": "tmp", "timeout": draw(st.floats(0.0, 60.0)), "claim_timeout": draw(st.floats(0.1, 600.0))}
    bad = {"path": st.sampled_from([1, None, 2.5, ["a"]]), "timeout": BAD_FLOATS | st.sampled_from([-1.0, "1"]),
           "claim_timeout": BAD_FLOATS | st.sampled_from([0.0, -1.0, "1"])}
    return draw(spoil(valid, bad))


@PROPERTY_SETTINGS
@given(call=store_calls(), data=st.data())
def test_results_store(call: Draw, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    kwargs = dict(call.kwargs)
    folder = tmp_path_factory.mktemp("store")
    if kwargs["path"] == "tmp":
        kwargs["path"] = folder / data.draw(st.sampled_from(["r.sqlite", "sub/r.sqlite"]))
    path = kwargs.pop("path")
    holder: dict[str, Any] = {}
    err = _raises(lambda: holder.setdefault("s", ResultsStore(path, **kwargs)))
    if call.bad is not None:
        assert err is not None, f"{call.bad}={call.kwargs[call.bad]!r} was accepted"
        assert_names(err, call.bad)
        assert not any(folder.iterdir()), "a refused store wrote files"
        return
    assert err is None, f"valid arguments refused: {err}"
    store = holder["s"]
    chosen = data.draw(st.lists(st.sampled_from(_SPECS), unique=True, max_size=3))
    values = {spec.key: data.draw(st.floats(0.0, 10.0)) for spec in chosen}
    for spec in chosen:
        assert store.put(_result(spec, values[spec.key])) is True
        assert store.put(_result(spec, 99.0)) is False  # a finished trial is never overwritten
    assert len(store) == len(chosen) and store.keys() == set(values)
    for spec in chosen:
        got = store.get(spec)
        assert got.spec == spec and got.final["train_loss"] == values[spec.key] and len(got.history) == spec.epochs
    frame = store.frame()
    assert len(frame) == len(chosen)
    field = data.draw(st.sampled_from(sorted(FILTER_BAD)))
    bad_value = data.draw(FILTER_BAD[field])
    err = _raises(lambda: store.frame(**{field: bad_value}))
    assert err is not None, f"filter {field}={bad_value!r} was accepted"
    assert_names(err, field)
    reopened = ResultsStore(path)  # opening an existing store again changes nothing
    assert reopened.keys() == set(values)


@pytest.mark.parametrize("method", ["get", "has", "delete"])  # a TypeError naming spec, not an AttributeError
def test_store_methods_refuse_a_spec_that_is_not_a_trial_spec(method: str, tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(TypeError, match="spec"):
        getattr(store, method)("not a spec")
