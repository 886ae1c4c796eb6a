"""``snnlab/analysis/uncertainty.py``: calibration and likelihood against scikit-learn and hand counts,
AUROC against ``roc_auc_score``, and reproducible Monte-Carlo / per-time-step samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from snnlab.analysis import uncertainty as un
from snnlab.models.spiking import SpikingCNN, SpikingMLP

PROBS = np.array([
    [0.90, 0.05, 0.05],  # conf 0.90, predicts 0, label 0: right
    [0.60, 0.30, 0.10],  # conf 0.60, predicts 0, label 1: wrong
    [0.20, 0.70, 0.10],  # conf 0.70, predicts 1, label 1: right
    [0.30, 0.30, 0.40],  # conf 0.40, predicts 2, label 0: wrong
    [0.05, 0.15, 0.80],  # conf 0.80, predicts 2, label 2: right
])
LABELS = np.array([0, 1, 1, 0, 2])


def test_reliability_bins_and_ece_by_hand() -> None:
    bins = un.reliability_bins(PROBS, LABELS, n_bins=2)  # (0, 0.5] and (0.5, 1]
    assert bins["count"].tolist() == [1, 4]
    assert bins["confidence"].tolist() == pytest.approx([0.40, (0.9 + 0.6 + 0.7 + 0.8) / 4])
    assert bins["accuracy"].tolist() == pytest.approx([0.0, 0.75])
    assert bins[["lower", "upper"]].to_numpy().tolist() == [[0.0, 0.5], [0.5, 1.0]]
    # ECE = 1/5 * |0 - 0.4| + 4/5 * |0.75 - 0.75| = 0.08
    assert un.expected_calibration_error(PROBS, LABELS, n_bins=2) == pytest.approx(0.08)
    # 15 bins (the default): each confidence alone in its bin -> mean |correct - conf|
    ece = np.mean([abs(1 - 0.9), abs(0 - 0.6), abs(1 - 0.7), abs(0 - 0.4), abs(1 - 0.8)])
    assert un.expected_calibration_error(PROBS, LABELS) == pytest.approx(ece)
    full = un.reliability_bins(PROBS, LABELS)
    assert len(full) == 15 and full["count"].sum() == 5 and full["accuracy"].isna().sum() == 10


def test_bin_edges_belong_to_the_lower_bin() -> None:
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])  # conf exactly 0.5 -> bin (0, 0.5]; 1.0 -> the last bin
    bins = un.reliability_bins(probs, [0, 0], n_bins=2)
    assert bins["count"].tolist() == [1, 1]
    assert un.expected_calibration_error(probs, [0, 0], n_bins=2) == pytest.approx(0.25)  # (|1-0.5| + 0) / 2


def test_nll_and_brier_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, 200)
    assert un.negative_log_likelihood(probs, labels) == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2, 3]))
    assert un.negative_log_likelihood(torch.tensor(probs, dtype=torch.float32), torch.tensor(labels)) == pytest.approx(
        log_loss(labels, probs, labels=[0, 1, 2, 3]), rel=1e-5)
    # sklearn's binary Brier score is the mean (p1 - y)^2; the two-class sum form is twice that
    p2 = np.stack([1 - probs[:, 0], probs[:, 0]], 1)
    y2 = (labels == 0).astype(int)
    assert un.brier_score(p2, y2) == pytest.approx(2 * brier_score_loss(y2, p2[:, 1]))
    assert un.negative_log_likelihood([[1.0, 0.0]], [1]) == pytest.approx(-np.log(np.finfo(float).eps))


def test_entropy_and_mutual_information() -> None:
    ent = un.predictive_entropy(np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]]))
    assert ent.tolist() == pytest.approx([np.log(2), 0.0, -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))])
    agree = np.tile(np.array([[[0.2, 0.8]]]), (3, 1, 1))
    split = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident samples that disagree
    assert un.mutual_information(agree).tolist() == pytest.approx([0.0])
    assert un.mutual_information(split).tolist() == pytest.approx([np.log(2)])
    assert un.predictive_entropy(split).shape == (2, 1)


def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    s_in = np.round(rng.normal(0.0, 1.0, 300), 1)  # rounded: many ties
    s_out = np.round(rng.normal(0.7, 1.0, 200), 1)
    expected = roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[s_in, s_out])
    assert un.auroc(s_in, s_out) == pytest.approx(expected)
    assert un.auroc([0.0, 0.1], [0.5, 0.9]) == 1.0
    assert un.auroc([0.5, 0.9], [0.0, 0.1]) == 0.0
    assert un.auroc([0.3], [0.3]) == 0.5


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: un.expected_calibration_error(PROBS, LABELS, n_bins=0), ValueError, "n_bins"),
        (lambda: un.expected_calibration_error(PROBS[:, :2], LABELS), ValueError, "probs"),
        (lambda: un.expected_calibration_error(PROBS, LABELS[:3]), ValueError, "labels"),
        (lambda: un.expected_calibration_error(PROBS, LABELS + 3), ValueError, "labels"),
        (lambda: un.expected_calibration_error(PROBS, LABELS + 0.5), TypeError, "labels"),
        (lambda: un.negative_log_likelihood("probs", LABELS), TypeError, "probs"),
        (lambda: un.negative_log_likelihood(-PROBS, LABELS), ValueError, "probs"),
        (lambda: un.predictive_entropy(np.array([[np.nan, 1.0]])), ValueError, "probs"),
        (lambda: un.mutual_information(PROBS), ValueError, "samples"),
        (lambda: un.auroc([], [1.0]), ValueError, "scores_in"),
        (lambda: un.auroc([1.0], [[1.0]]), ValueError, "scores_out"),
        (lambda: un.auroc([1.0], ["a"]), TypeError, "scores_out"),
    ],
)
def test_metrics_refuse_bad_arguments(call, error, name) -> None:
    with pytest.raises(error, match=name):
        call()


def _mlp(method: str | None, p: float, **kw) -> SpikingMLP:
    return SpikingMLP([12, 16, 3], T=6, dropout=method, p=p, seed=0, **kw)


def test_mc_predict_is_reproducible_and_passes_differ() -> None:
    model = _mlp("standard", 0.4)
    x = torch.rand(10, 12)
    a = un.mc_predict(model, x, passes=4, seed=3, batch_size=4)
    b = un.mc_predict(model, x, passes=4, seed=3, batch_size=4)
    assert a.shape == (4, 10, 3) and a.dtype == torch.float32
    torch.testing.assert_close(a.sum(-1), torch.ones(4, 10))
    assert torch.equal(a, b)  # the same seed: the same samples
    assert not torch.equal(a[0], a[1])  # each pass draws new masks
    assert not torch.equal(a, un.mc_predict(model, x, passes=4, seed=4, batch_size=4))
    assert model.training is True and all(d.mc is False for d in model.dropouts)  # mode and flags restored
    model.eval()
    deterministic = torch.softmax(model(x), -1)
    assert not torch.allclose(a[0], deterministic)  # mc_mode really sampled in eval


def test_mc_predict_without_dropout_gives_identical_passes() -> None:
    model = _mlp("none", 0.0)
    x = torch.rand(7, 12)
    a = un.mc_predict(model, x, passes=3)
    assert torch.equal(a[0], a[1]) and torch.equal(a[1], a[2])
    model.eval()
    torch.testing.assert_close(a[0], torch.softmax(model(x), -1))


def test_mc_predict_refuses_bad_arguments() -> None:
    model = _mlp("standard", 0.2)
    with pytest.raises(ValueError, match="passes"):
        un.mc_predict(model, torch.rand(2, 12), passes=0)
    with pytest.raises(TypeError, match="model"):
        un.mc_predict(torch.nn.Linear(12, 3), torch.rand(2, 12), passes=2)
    with pytest.raises(TypeError, match="x"):
        un.mc_predict(model, np.zeros((2, 12)), passes=2)
    with pytest.raises(ValueError, match="batch_size"):
        un.mc_predict(model, torch.rand(2, 12), passes=2, batch_size=0)


def _centred(z: torch.Tensor) -> torch.Tensor:
    return z - z.mean(-1, keepdim=True)


def test_time_step_samples_average_to_the_pass_prediction() -> None:
    model = _mlp("none", 0.0)
    x = torch.rand(5, 12)
    samples = un.time_step_samples(model, x, batch_size=2)
    assert samples.shape == (6, 5, 3)
    model.eval()
    # per-step log-probabilities are the membrane up to a per-row constant; their time mean is the logits
    torch.testing.assert_close(_centred(samples.log().mean(0)), _centred(model(x)), atol=1e-4, rtol=1e-4)
    assert un.time_step_samples(model, x, burn_in=2).shape == (4, 5, 3)
    assert un.per_step_masks(model) is False


def test_time_step_samples_with_per_step_masks() -> None:
    model = _mlp("standard", 0.4)
    assert un.per_step_masks(model) is True
    assert un.per_step_masks(_mlp("temporal", 0.4)) is False  # one mask held over the window
    x = torch.rand(6, 12)
    a = un.time_step_samples(model, x, seed=1)
    torch.testing.assert_close(a, un.time_step_samples(model, x, seed=1), rtol=0, atol=0)
    assert not torch.equal(a, un.time_step_samples(model, x, seed=2))
    assert model.training is True


def test_time_step_samples_on_a_cnn_and_refusals() -> None:
    cnn = SpikingCNN((1, 8, 8), channels=(2,), hidden=4, n_classes=3, T=3, dropout="standard", p=0.2, seed=0)
    assert un.time_step_samples(cnn, torch.rand(2, 1, 8, 8)).shape == (3, 2, 3)
    with pytest.raises(ValueError, match="rate|count"):
        un.time_step_samples(_mlp("standard", 0.2, readout="rate"), torch.rand(2, 12))
    with pytest.raises(ValueError, match="burn_in"):
        un.time_step_samples(_mlp("standard", 0.2), torch.rand(2, 12), burn_in=6)
