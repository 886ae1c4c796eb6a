"""snnlab.analysis.dropout_stats: every dropout slot's statistics aggregated over a data set."""

from __future__ import annotations

import math

import pytest

from snnlab.analysis import dropout_stats_over
from snnlab.models import SpikingMLP

P = 0.3
SIZES = [64, 256, 10]
T = 8

@pytest.fixture(scope="module")
def digits():
    """(x [N, 64], y [N]) of the digits training split in [0, 1]."""
    from snnlab.data import load_dataset

    data = load_dataset("digits", "train", device="cpu")
    return data.x.reshape(len(data), -1), data.y


def build(method: str, **options) -> SpikingMLP:
    return SpikingMLP(SIZES, T=T, dropout=method, p=0.0 if method == "none" else P, dropout_options=options or None, seed=0)


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


def test_dropout_stats_over_bad_arguments(digits):
    x, _ = digits
    model = build("standard")
    with pytest.raises(TypeError, match="data must be a SplitData or a torch.Tensor"):
        dropout_stats_over(model, [[0.0]])
    with pytest.raises(ValueError, match="batch_size=0"):
        dropout_stats_over(model, x, batch_size=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        dropout_stats_over("model", x)


def test_dropout_stats_over_names_every_layer(digits):
    x, _ = digits
    model = SpikingMLP([64, 32, 16, 10], T=4, dropout=["temporal", "dropconnect"], p=P, seed=0)
    frame = dropout_stats_over(model, x[:64], batch_size=32)
    assert list(frame["layer"]) == ["hidden1", "hidden2"]
    assert list(frame["method"]) == ["temporal", "dropconnect"]


def test_dropout_stats_over_accepts_split_data():
    from snnlab.data import load_dataset

    data = load_dataset("digits", "test", device="cpu", subset=100)
    frame = dropout_stats_over(build("dropconnect"), data, batch_size=50)
    assert frame.loc[0, "n_samples"] == 100
    assert abs(frame.loc[0, "dropped_fraction"] - P) < 5 * math.sqrt(P * (1 - P) / (SIZES[1] * SIZES[2]))
    assert 0.0 <= frame.loc[0, "spikes_removed"] <= 1.0
