"""fit / evaluate: learning on real data, reproducibility, divergence handling, argument checks."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
import torch

from snnlab.data import load_dataset
from snnlab.models import MLP, DelayedSNN, PenaltySNN, SpikingMLP
from snnlab.train import History, evaluate, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train", device="cpu"), load_dataset("digits", "test", device="cpu")


@pytest.mark.parametrize("encoding, epochs", [("direct", 8), ("rate", 8)])
def test_spiking_mlp_learns_digits(digits, encoding, epochs):
    """Acceptance: SpikingMLP([64, 128, 10]), T=16 reaches >= 93% test accuracy on digits."""
    tr, te = digits
    h = fit(SpikingMLP([64, 128, 10], T=16, encoding=encoding, seed=0), tr, te, epochs=epochs, lr=2e-3,
            batch_size=64, seed=0, device="cpu", progress=False)
    frame = h.to_frame()
    assert list(frame.epoch) == list(range(1, epochs + 1))
    assert frame.test_acc.iloc[-1] >= 0.93
    assert frame.train_loss.iloc[-1] < frame.train_loss.iloc[0]
    assert 0.0 < frame.rate_hidden1.iloc[-1] < 1.0
    assert not h.diverged


def test_ann_baseline_through_the_same_fit(digits):
    tr, te = digits
    h = fit(MLP([64, 128, 10], seed=0), tr, te, epochs=8, lr=2e-3, batch_size=64, seed=0, device="cpu", progress=False)
    assert h.final["test_acc"] >= 0.9
    assert not any(c.startswith("rate_") for c in h.to_frame().columns)


@pytest.mark.parametrize(
    "make, epochs",
    [
        (lambda: PenaltySNN([64, 128, 10], T=16, seed=0), 8),
        (lambda: DelayedSNN([64, 128, 10], T=16, seed=0), 8),
    ],
    ids=["penalty_snn", "delayed_snn"],
)
def test_reference_networks_learn_digits(digits, make, epochs):
    """Acceptance: the write-up's and the paper's networks train well above chance (>= 80%)."""
    tr, te = digits
    h = fit(make(), tr, te, epochs=epochs, lr=5e-3, batch_size=32, seed=0, device="cpu", progress=False)
    assert h.final["test_acc"] >= 0.80


def test_same_seed_same_history(digits):
    tr, te = digits
    tr = dataclasses.replace(tr, x=tr.x[:300], y=tr.y[:300])

    def run(seed):
        model = SpikingMLP([64, 32, 10], T=6, encoding="rate", seed=1)
        return fit(model, tr, te, epochs=2, seed=seed, device="cpu", progress=False).to_frame().drop(columns="seconds")

    a, b, c = run(0), run(0), run(1)
    assert a.equals(b)
    assert not a.equals(c)


def test_evaluate_restores_mode_and_reports_rates(digits):
    _, te = digits
    model = SpikingMLP([64, 32, 10], T=4, seed=0).train()
    res = evaluate(model, te)
    assert model.training
    assert 0.0 <= res.accuracy <= 1.0 and res.loss > 0
    assert set(res.spike_rates) == {"hidden1"}


def test_divergence_keeps_finished_epochs(digits):
    tr, te = digits

    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            out = self.lin(x.reshape(len(x), -1))
            return out * float("nan") if self.training and self.calls > 30 else out

    with pytest.warns(RuntimeWarning, match="diverged"):
        h = fit(Exploding(), tr, te, epochs=3, batch_size=64, seed=0, device="cpu", progress=False)
    assert h.diverged and len(h.records) == 1
    assert h.final["diverged"] == 1.0


def test_history_frame_empty():
    assert History().to_frame().empty


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(epochs=0), ValueError, "epochs=0"),
        (dict(epochs=1.5), TypeError, "epochs"),
        (dict(epochs=1, lr=-1.0), ValueError, "lr="),
        (dict(epochs=1, batch_size=0), ValueError, "batch_size=0"),
        (dict(epochs=1, device="tpu"), ValueError, "tpu"),
        # found by tests/test_properties.py: a truthy stand-in used to switch the bar on, and a seed too
        # large for a generator failed with torch's "Overflow when unpacking long long"
        (dict(epochs=1, progress="no"), TypeError, r"progress must be True or False, got str \('no'\)"),
        (dict(epochs=1, progress=None), TypeError, "progress must be True or False"),
        (dict(epochs=1, seed=2**70), ValueError, "seed=1180591620717411303424 is not allowed; a seed must be"),
    ],
)
def test_fit_bad_arguments(digits, kwargs, exc, match):
    tr, te = digits
    kwargs = {"progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        fit(SpikingMLP([64, 16, 10], T=2), tr, te, **kwargs)


def test_fit_rejects_nan_inputs_and_wrong_types(digits):
    tr, te = digits
    x = tr.x.clone()
    x[3, 0, 2, 2] = float("nan")
    bad = dataclasses.replace(tr, x=x)
    with pytest.raises(ValueError, match="NaN"):
        fit(SpikingMLP([64, 16, 10], T=2), bad, te, epochs=1, progress=False)
    with pytest.raises(TypeError, match="SplitData"):
        fit(SpikingMLP([64, 16, 10], T=2), (tr.x, tr.y), te, epochs=1, progress=False)
    with pytest.raises(TypeError, match="nn.Module"):
        fit("model", tr, te, epochs=1, progress=False)


@pytest.mark.parametrize("label", [10, -1, 99])
def test_fit_and_evaluate_refuse_labels_outside_the_classes(digits, label):
    """Labels are checked once per data set (before the first step), naming the split and the labels."""
    tr, te = digits
    y = tr.y.clone()
    y[7] = label
    bad = dataclasses.replace(tr, y=y)
    steps = []
    match = rf"train\.y holds label\(s\) \[{label}\] outside the 10 classes of 'digits'.*allowed: 0 <= y < 10"
    with pytest.raises(ValueError, match=match):
        fit(SpikingMLP([64, 16, 10], T=2), bad, te, epochs=1, progress=False, on_step=steps.append)
    assert steps == []  # refused before training started
    with pytest.raises(ValueError, match=r"test\.y holds label"):
        fit(SpikingMLP([64, 16, 10], T=2), tr, dataclasses.replace(te, y=te.y.clone().fill_(label)), epochs=1,
            progress=False)
    with pytest.raises(ValueError, match=r"data\.y holds label"):
        evaluate(SpikingMLP([64, 16, 10], T=2), bad)


def test_a_model_with_fewer_outputs_than_classes_is_named(digits):
    tr, te = digits
    with pytest.raises(ValueError, match=r"output has shape \(\d+, 5\) but 'digits' has 10 classes"):
        fit(SpikingMLP([64, 16, 5], T=2), tr, te, epochs=1, progress=False)
    with pytest.raises(ValueError, match="at least 10 columns"):
        evaluate(MLP([64, 16, 5]), te)


def test_non_finite_data_is_named_with_where(digits):
    tr, te = digits
    x = te.x.clone()
    x[2, 0, 1, 1] = float("inf")
    with pytest.raises(ValueError, match=r"test\.x contains 1 non-finite value\(s\) \(0 NaN, 1 infinite; the first at index \(2, 0, 1, 1\)\)"):
        fit(SpikingMLP([64, 16, 10], T=2), tr, dataclasses.replace(te, x=x), epochs=1, progress=False)


@pytest.mark.realdata
def test_spiking_mlp_on_real_mnist_subset(shared_data):
    """The acceptance model (784-800-10, T=25, direct encoding) on a real MNIST subset, 1 epoch."""
    tr = load_dataset("mnist", "train", root=shared_data, subset=6000, device="cpu", seed=0)
    te = load_dataset("mnist", "test", root=shared_data, subset=2000, device="cpu", seed=0)
    h = fit(SpikingMLP([784, 800, 10], T=25, seed=0), tr, te, epochs=1, lr=1e-3, batch_size=128, seed=0,
            device="cpu", progress=False)
    assert h.final["test_acc"] >= 0.90


# --- fair tuning: validation, best-epoch selection, eval-mode training metrics ----------------------

@pytest.fixture(scope="module")
def small_split():
    """Digits: 300 training and 200 validation samples carved from the training split, 150 test samples."""
    from snnlab.data import random_subset, split_validation

    train, val = split_validation(load_dataset("digits", "train", device="cpu"), 0.2)
    return random_subset(train, 300), random_subset(val, 200), load_dataset("digits", "test", subset=150, device="cpu")


def _snapshots(model):
    """A callback storing the model's weights after every epoch (after fit's own bookkeeping)."""
    states = {}

    def callback(rec):
        states[rec.epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    return states, callback


def test_best_validation_epoch_is_selected_and_its_weights_restored(small_split):
    """A validation set with shifted labels: the better the network learns, the worse its validation
    accuracy, so the best validation epoch is an early one; fit restores exactly its weights and the
    result is that epoch's record (its test metrics are those of the restored weights)."""
    train, val, test = small_split
    shifted = dataclasses.replace(val, y=(val.y + 1) % 10)
    model = SpikingMLP([64, 32, 10], T=4, dropout="standard", p=0.3, seed=0)
    states, callback = _snapshots(model)
    h = fit(model, train, test, epochs=4, lr=5e-3, batch_size=50, seed=0, device="cpu", progress=False,
            val=shifted, select="best_val", callback=callback)
    frame = h.to_frame()
    best_row = max(h.records, key=lambda r: (r.val_acc, -r.val_loss, -r.epoch))
    assert h.best_epoch == best_row.epoch < 4 and h.select == "best_val" and h.selected_epoch == h.best_epoch
    for k, v in model.state_dict().items():
        assert torch.equal(v, states[h.best_epoch][k]), k
    final = h.final
    assert final["epoch"] == h.best_epoch and final["best_epoch"] == h.best_epoch and final["epochs_trained"] == 4
    assert final["test_acc"] == best_row.test_acc and final["val_acc"] == best_row.val_acc
    assert evaluate(model, test).accuracy == best_row.test_acc  # direct encoding: evaluation is deterministic
    assert frame["test_acc"].tolist() == [r.test_acc for r in h.records]  # the learning curve stays whole


def test_select_last_keeps_the_last_weights_and_reports_the_best_epoch(small_split):
    train, val, test = small_split
    shifted = dataclasses.replace(val, y=(val.y + 1) % 10)
    model = SpikingMLP([64, 32, 10], T=4, seed=0)
    states, callback = _snapshots(model)
    h = fit(model, train, test, epochs=3, lr=5e-3, batch_size=50, seed=0, device="cpu", progress=False,
            val=shifted, callback=callback)
    assert h.select == "last" and h.best_epoch is not None and h.final["epoch"] == 3
    assert h.final["best_epoch"] == h.best_epoch
    assert all(torch.equal(v, states[3][k]) for k, v in model.state_dict().items())


def test_eval_mode_training_metrics_and_validation_leave_training_unchanged(small_split):
    """With a direct input the extra evaluations draw nothing: the training run is the one without
    them. The eval-mode training accuracy is the one of evaluate() on the fixed probe subset."""
    from snnlab.data import random_subset
    from snnlab.train import TRAIN_EVAL_SEED, train_probe

    train, val, test = small_split

    def run(**kwargs):
        model = SpikingMLP([64, 32, 10], T=4, dropout="standard", p=0.5, seed=1)
        return model, fit(model, train, test, epochs=2, lr=5e-3, batch_size=50, seed=1, device="cpu", progress=False,
                          **kwargs)

    _, plain = run()
    model, tuned = run(val=val, train_eval_size=120)
    a, b = plain.to_frame().drop(columns="seconds"), tuned.to_frame().drop(columns="seconds")
    assert list(a.columns) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "rate_hidden1"]
    assert list(b.columns) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "train_loss_eval",
                               "train_acc_eval", "val_loss", "val_acc", "rate_hidden1"]
    pd.testing.assert_frame_equal(a, b[a.columns])
    probe = random_subset(train, 120, seed=TRAIN_EVAL_SEED)
    ev = evaluate(model, probe)
    last = tuned.records[-1]
    assert (last.train_acc_eval, last.train_loss_eval) == (ev.accuracy, pytest.approx(ev.loss, rel=1e-12))
    assert tuned.final["gap_eval"] == pytest.approx(last.train_acc_eval - last.test_acc)
    assert "best_epoch" not in plain.final and "gap_eval" not in plain.final
    assert train_probe(train, 10_000) is train  # a probe size beyond the training set: all of it
    assert train_probe(train, None) is None


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(select="best_val"), ValueError, "select='best_val' needs validation data"),
        (dict(select="best_test"), ValueError, "select='best_test'"),
        (dict(train_eval_size=0), ValueError, "train_eval_size=0"),
        (dict(val="val"), TypeError, "val must be a snnlab.data.SplitData"),
    ],
)
def test_fit_rejects_bad_tuning_arguments(small_split, kwargs, exc, match):
    train, _, test = small_split
    with pytest.raises(exc, match=re.escape(match)):
        fit(SpikingMLP([64, 16, 10], T=2), train, test, epochs=1, progress=False, device="cpu", **kwargs)
