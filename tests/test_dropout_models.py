"""Every dropout method inside a SpikingMLP on the embedded digits data: training, modes, diagnostics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlab.analysis import dropout_stats_over
from snnlab.dropout import available, mc_mode
from snnlab.models import SpikingMLP

METHODS = available()
P = 0.3
SIZES = [64, 256, 10]
T = 8


@pytest.fixture(scope="module")
def digits():
    """(x [N, 64], y [N]) of the digits training split in [0, 1]."""
    try:
        from snnlab.data import load_dataset

        data = load_dataset("digits", "train", device="cpu")
        return data.x.reshape(len(data), -1), data.y
    except ImportError:  # snnlab.data not there: the same images straight from scikit-learn
        from sklearn.datasets import load_digits

        d = load_digits()
        return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.int64)


def build(method: str, **options) -> SpikingMLP:
    return SpikingMLP(SIZES, T=T, dropout=method, p=0.0 if method == "none" else P, dropout_options=options or None, seed=0)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_without_nan(method, digits):
    x, y = digits
    model = build(method)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    losses = []
    for step in range(4):
        xb, yb = x[step * 64:(step + 1) * 64], y[step * 64:(step + 1) * 64]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert model.linears[0].weight.grad.abs().sum() > 0  # the surrogate gradient reaches the first layer
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    stats = model.dropouts[0].last_stats
    if method == "none":
        assert stats is None
    else:
        assert stats.method == method and stats.p == P
        assert abs(stats.dropped_fraction - P) < 0.1  # one batch of 64 samples; exact rates: contract tests


@pytest.mark.parametrize("method", ["alpha", "feature_alpha"])
def test_alpha_variants_emit_negative_values(method, digits):
    x, _ = digits
    model = build(method).train()
    model(x[:64])
    s = model.dropouts[0].last_stats
    assert s.out_min < 0.0  # dropped units become a*a' + b < 0
    assert s.out_max > 1.0 or s.out_min < -0.5


def test_temporal_without_rescaling_keeps_spikes_binary(digits):
    x, _ = digits
    model = build("temporal", rescale="none").train()
    with model.record() as rec:
        model(x[:64])
    s = model.dropouts[0].last_stats
    assert (s.out_min, s.out_max) == (0.0, 1.0)
    assert set(torch.unique(rec.spikes["hidden1"]).tolist()) <= {0.0, 1.0}
    model.eval()
    assert model.dropouts[0].inference_scale == pytest.approx(1 - P)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_eval_is_deterministic_and_mc_mode_samples(method, digits):
    x, _ = digits
    model = build(method).eval()
    with torch.no_grad():
        a, b = model(x[:32]), model(x[:32])
        assert torch.equal(a, b)
        with mc_mode(model):
            c, d = model(x[:32]), model(x[:32])
    assert not torch.equal(c, d)
    assert not model.dropouts[0].mc


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_reseed_reproduces_training_forwards(method, digits):
    x, _ = digits
    model = build(method).train()
    model.reseed(3)
    with torch.no_grad():
        a = model(x[:32])
        b = model(x[:32])
        model.reseed(3)
        c = model(x[:32])
    assert torch.equal(a, c) and not torch.equal(a, b)


@pytest.mark.parametrize("method", ["membrane", "synaptic", "activity"])
@pytest.mark.parametrize("favor", ["protect", "drop"])
def test_shaped_methods_get_their_context_from_the_model(method, favor, digits):
    x, _ = digits
    model = build(method, favor=favor).train()
    with torch.no_grad():
        model(x[:64])
    q = model.dropouts[0].last_probabilities
    assert q.shape == (SIZES[1],)
    assert q.mean().item() == pytest.approx(P, abs=1e-5)
    assert q.min().item() >= 0.0 and q.max().item() <= 0.95 + 1e-6


def test_dropout_stats_over_aggregates_and_restores_modes(digits):
    x, y = digits
    model = build("standard").eval()
    frame = dropout_stats_over(model, x[:300], batch_size=128)
    assert not model.training and not model.dropouts[0].training
    assert list(frame["layer"]) == ["hidden1"] and frame.loc[0, "method"] == "standard"
    assert frame.loc[0, "n_batches"] == 3 and frame.loc[0, "n_samples"] == 300
    assert abs(frame.loc[0, "dropped_fraction"] - P) < 5 * math.sqrt(P * (1 - P) / (300 * T * SIZES[1]))
    assert 0.0 <= frame.loc[0, "silent_fraction"] <= 1.0
    assert frame.loc[0, "out_max"] == pytest.approx(1 / (1 - P))
    limited = dropout_stats_over(build("temporal").train(), x, batch_size=100, n_batches=2)
    assert limited.loc[0, "n_samples"] == 200
    none = dropout_stats_over(build("none"), x[:50])
    assert none.loc[0, "method"] == "none" and math.isnan(none.loc[0, "dropped_fraction"])
    with pytest.raises(TypeError, match="data must be a SplitData or a torch.Tensor"):
        dropout_stats_over(model, [[0.0]])
    with pytest.raises(ValueError, match="batch_size=0"):
        dropout_stats_over(model, x, batch_size=0)


def test_dropout_stats_over_accepts_split_data():
    data_mod = pytest.importorskip("snnlab.data")
    data = data_mod.load_dataset("digits", "test", device="cpu", subset=100)
    frame = dropout_stats_over(build("dropconnect"), data, batch_size=50)
    assert frame.loc[0, "n_samples"] == 100
    assert abs(frame.loc[0, "dropped_fraction"] - P) < 5 * math.sqrt(P * (1 - P) / (SIZES[1] * SIZES[2]))
    assert 0.0 <= frame.loc[0, "spikes_removed"] <= 1.0


def test_bench_dropout_table_structure():
    """The benchmark's frame and text (no timing assertions: only its shape and reference row)."""
    from snnlab.bench import BENCH_COLUMNS, bench_dropout, format_bench

    before = torch.get_num_threads()
    frame = bench_dropout(["temporal", "standard"], sizes=(64, 32, 10), T=3, batch_size=16, steps=2, warmup=1, threads=1)
    assert torch.get_num_threads() == before
    assert tuple(frame.columns) == BENCH_COLUMNS
    assert list(frame["method"]) == ["none", "temporal", "standard"]
    assert frame.loc[0, "ratio_to_none"] == 1.0 and (frame["ms_per_step"] > 0).all()
    text = format_bench(frame)
    assert "temporal" in text and "x none" in text
    with pytest.raises(ValueError, match="unknown dropout method"):
        bench_dropout(["gaussian"])
    with pytest.raises(ValueError, match="clock='process' measures CPU time"):
        bench_dropout(["standard"], device=torch.device("meta"), clock="process")


# ---------------------------------------------------------------- membrane time-mean path


@pytest.mark.parametrize("backend", ["loop", "fused"])
def test_lif_forward_mean_membrane_matches_trace(backend):
    """``LIF.forward_mean_membrane``: the spikes of ``forward`` and the time mean of ``forward_trace``'s membrane."""
    from snnlab.neurons import LIF

    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, 5, 12, generator=g) * 1.5
    lif = LIF(beta=0.8, backend=backend)
    spk_t, mem_t = lif.forward_trace(x)
    spk_m, mean_m = lif.forward_mean_membrane(x)
    assert torch.equal(spk_m, spk_t)
    assert mean_m.shape == (1, 5, 12)
    torch.testing.assert_close(mean_m, mem_t.mean(0, keepdim=True))
    assert not mean_m.requires_grad


def test_time_mean_membrane_accepted_only_where_declared():
    """A ``membrane_summary="time_mean"`` method takes ``[1, B, ...]`` with the same scores; others refuse it."""
    from snnlab.dropout import make_dropout

    g = torch.Generator().manual_seed(4)
    x = (torch.rand(T, 6, 40, generator=g) < 0.3).float()
    mem = torch.randn(T, 6, 40, generator=g)
    full, mean = make_dropout("membrane", P, seed=1), make_dropout("membrane", P, seed=1)
    out_full = full(x, membrane=mem)
    out_mean = mean(x, membrane=mem.mean(0, keepdim=True))
    torch.testing.assert_close(mean.last_probabilities, full.last_probabilities)
    assert torch.equal(out_mean == 0, out_full == 0)  # the same drops (same stream, same thresholds)
    torch.testing.assert_close(out_mean, out_full)  # rescale 1/(1-q) equal up to float rounding of the mean
    with pytest.raises(ValueError, match="membrane must have the shape of x"):
        full(x, membrane=mem.mean(0))  # [B, N]: neither the trace nor its time mean
    other = make_dropout("standard", P, seed=1)
    with pytest.raises(ValueError, match="membrane must have the shape of x"):
        other(x, membrane=mem.mean(0, keepdim=True))


def test_membrane_model_mean_path_matches_recorded_trace_path():
    """SpikingMLP hands ``membrane`` its time mean when not recording; same output and gradients as the trace."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(16, SIZES[0], generator=g)
    fast = SpikingMLP(SIZES, T=T, dropout="membrane", p=P, seed=2)
    slow = SpikingMLP(SIZES, T=T, dropout="membrane", p=P, seed=2)
    out_fast = fast(x)
    with slow.record():
        out_slow = slow(x)
    torch.testing.assert_close(out_fast, out_slow)
    out_fast.sum().backward()
    out_slow.sum().backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), slow.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=f"gradient of {name}")
