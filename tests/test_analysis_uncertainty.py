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


# ---------------------------------------------------------------------------------------------- notebook 06 helpers
def test_deterministic_predict_is_the_eval_pass_and_sample_variants_cover_the_variants() -> None:
    model = _mlp("standard", 0.4)
    x = torch.rand(9, 12)
    single = un.deterministic_predict(model, x, batch_size=4)
    assert single.shape == (1, 9, 3) and model.training is True
    model.eval()
    torch.testing.assert_close(single[0], torch.softmax(model(x), -1))
    runs = un.sample_variants(model, x, passes=5, seed=2)
    assert list(runs) == ["single", "mc", "time_steps"] == list(un.VARIANTS)
    assert runs["mc"][0].shape == (5, 9, 3) and runs["time_steps"][0].shape == (6, 9, 3)
    assert torch.equal(runs["mc"][0], un.mc_predict(model, x, passes=5, seed=2))
    assert all(seconds >= 0 for _, seconds in runs.values())
    assert list(un.sample_variants(_mlp("none", 0.0), x, passes=5)) == ["single", "time_steps"]  # MC would repeat one pass
    with pytest.raises(ValueError, match="passes"):
        un.sample_variants(model, x, passes=0)


def test_shifted_sets() -> None:
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3) / 17
    r = un.rotated(x)
    assert np.array_equal(r.numpy(), np.rot90(x.numpy(), 1, axes=(-2, -1)))
    assert torch.equal(un.rotated(un.rotated(x, 2), 2), x)
    n = un.noised(x, 0.3, seed=1)
    assert n.shape == x.shape and n.min() >= 0 and n.max() <= 1 and not torch.equal(n, x)
    assert torch.equal(n, un.noised(x, 0.3, seed=1))
    with pytest.raises(ValueError, match="quarter_turns"):
        un.rotated(x, 4)
    with pytest.raises(ValueError, match="square"):
        un.rotated(torch.rand(1, 1, 2, 3))
    with pytest.raises(ValueError, match="sigma"):
        un.noised(x, 0.0)
    with pytest.raises(ValueError, match="x must"):
        un.noised(torch.rand(3, 4), 0.1)
    with pytest.raises(TypeError, match="x must"):
        un.rotated(x.numpy())


def test_prediction_metrics_and_entropy_auroc() -> None:
    samples = np.stack([PROBS, PROBS[[0, 2, 1, 3, 4]]])
    mean = samples.mean(0)
    m = un.prediction_metrics(samples, LABELS)
    assert m["accuracy"] == pytest.approx((mean.argmax(1) == LABELS).mean())
    assert m["nll"] == pytest.approx(log_loss(LABELS, mean, labels=[0, 1, 2]))
    assert m["ece"] == pytest.approx(un.expected_calibration_error(mean, LABELS))
    assert m["entropy"] == pytest.approx(un.predictive_entropy(mean).mean())
    assert m["mutual_info"] > 0 and un.prediction_metrics(PROBS[None], LABELS)["mutual_info"] == pytest.approx(0)
    sharp = np.tile([[0.98, 0.01, 0.01]], (4, 1))[None]
    flat = np.full((1, 3, 3), 1 / 3)
    assert un.entropy_auroc(sharp, flat) == 1.0 and un.entropy_auroc(flat, sharp) == 0.0
    with pytest.raises(ValueError, match="samples"):
        un.prediction_metrics(PROBS, LABELS)


def _frame() -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for seed, shift in ((0, 0.0), (1, 0.02)):
        for label, variant, nll, ece, secs in (("none", "single", 0.30, 0.05, 1.0), ("none", "time_steps", 0.35, 0.06, 1.0),
                                               ("standard", "single", 0.40, 0.08, 1.0), ("standard", "mc", 0.32, 0.03, 8.0),
                                               ("standard", "time_steps", 0.45, 0.09, 1.0),
                                               ("temporal", "single", 0.38, 0.07, 1.0), ("temporal", "mc", 0.39, 0.02, 8.0),
                                               ("temporal", "time_steps", 0.37, 0.10, 1.0)):
            rows.append({"label": label, "seed": seed, "variant": variant, "per_step_masks": label == "standard",
                         "samples": 8 if variant == "mc" else 4 if variant == "time_steps" else 1,
                         "passes": 8 if variant == "mc" else 1, "seconds": secs, "accuracy": 0.9 + shift,
                         "nll": nll + shift, "ece": ece + shift, "brier": 0.1, "entropy": 0.2, "mutual_info": 0.0})
    return pd.DataFrame(rows)


def test_uncertainty_table_averages_seeds_and_sentences_follow_the_numbers() -> None:
    table = un.uncertainty_table(_frame())
    assert len(table) == 8 and set(table["seeds"]) == {2}
    assert list(table["label"].iloc[:2]) == ["none", "none"]  # order of first appearance
    row = table[(table["label"] == "standard") & (table["variant"] == "mc")].iloc[0]
    assert row["nll"] == pytest.approx(0.33) and row["nll_std"] == pytest.approx(np.std([0.32, 0.34], ddof=1))
    text = un.uncertainty_sentences(table, n_test=100)
    assert text[0].startswith("Best calibrated: temporal (MC passes), ECE 3.0%")
    assert "least calibrated: temporal (time steps of one pass), ECE 11.0%" in text[0]
    assert "none, single pass): accuracy 91.0%, NLL 0.310, ECE 6.0%" in text[1]
    mc = next(s for s in text if s.startswith("Averaging 8 MC passes"))
    assert "NLL below the single pass for 1 of 2 dropout methods (standard)" in mc
    assert "ECE for 2 of 2 dropout methods (standard, temporal)" in mc and "8.0x" in mc
    steps = next(s for s in text if s.startswith("Reading the 4 time steps"))
    assert "NLL below the single pass for 1 of 2 dropout methods (temporal)" in steps
    assert "ECE for none of the 2 dropout methods" in steps
    assert any(s.startswith("The masks of temporal are held") for s in text)
    assert "2 seed(s) on 100 test inputs" in text[-1]
    with pytest.raises(ValueError, match="variant"):
        un.uncertainty_table(_frame().assign(variant="ensemble"))
    with pytest.raises(ValueError, match="lacks"):
        un.uncertainty_table(_frame().drop(columns="ece"))


def test_ood_sentences_and_conclusion() -> None:
    import pandas as pd

    ood = pd.DataFrame({"shift": ["rotated"] * 5, "label": ["none", "standard", "standard", "temporal", "temporal"],
                        "variant": ["single", "single", "mc", "single", "mc"], "auroc": [0.7, 0.6, 0.8, 0.52, 0.51]})
    (line,) = un.ood_sentences(ood)
    assert "best with standard (MC passes), AUROC 0.800" in line and "base SNN's single pass: 0.700" in line
    assert "for 1 of 2 methods (standard)" in line and "within 0.05 of chance: 2 of 5 rows" in line
    energy = pd.DataFrame({"label": ["none", "standard"], "synops": [100.0, 80.0], "test_acc": [0.9, 0.92]})
    lines = un.conclusion_sentences(un.uncertainty_table(_frame()), ood, energy, layer_macs=200)
    assert lines[0].startswith("Calibration: best calibrated: temporal")
    assert lines[1].startswith("MC dropout: averaging 8 MC passes")
    assert lines[2] == "Out of distribution (rotated): best AUROC 0.800, standard (MC passes)."
    assert "front is standard (80 SOPs, 92.0%)" in lines[3] and "0.40x to 0.50x" in lines[3]
    with pytest.raises(ValueError, match="auroc"):
        un.ood_sentences(ood.drop(columns="auroc"))
    flipped = ood.assign(auroc=[0.2, 0.3, 0.1, 0.52, 0.4])
    first, second = un.ood_sentences(flipped)
    assert "best with temporal (single pass (dropout off)), AUROC 0.520" in first
    assert second == ("rotated: 4 of 5 rows below 0.45: the shifted inputs get lower predictive entropy than the test "
                      "inputs (predicted more confidently), so entropy does not flag this shift.")
    assert len(un.ood_sentences(flipped.assign(auroc=0.1))) == 2
    assert "every row below 0.45" in un.ood_sentences(flipped.assign(auroc=0.1))[1]
    again = un.conclusion_sentences(un.uncertainty_table(_frame()), flipped, energy, layer_macs=200)
    assert again[2].startswith("Out of distribution (rotated): best AUROC 0.520, temporal (single pass (dropout off)); "
                               "4 of 5 rows below 0.45")


def _write_idx(path, array: np.ndarray) -> None:
    import gzip
    import struct

    header = struct.pack(">I", (0x08 << 8) | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def test_shifted_sets_by_profile_and_data(tmp_path) -> None:
    x = torch.rand(6, 1, 28, 28)
    quick, note = un.shifted_sets(x, dataset="digits", profile="quick", seed=1)
    assert note is None and list(quick) == ["rotated 90°", "noised (sigma 0.5)"]
    assert torch.equal(quick["rotated 90°"], un.rotated(x)) and torch.equal(quick["noised (sigma 0.5)"], un.noised(x, 0.5, seed=1))
    sets, note = un.shifted_sets(x, dataset="mnist", profile="paper", data_root=tmp_path, sigma=0.3)
    assert list(sets) == ["noised (sigma 0.3)"] and "Fashion-MNIST is not under" in note and str(tmp_path) in note
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("t10k", 10)):
        _write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    sets, note = un.shifted_sets(x, dataset="mnist", profile="paper", data_root=tmp_path)
    assert note is None and list(sets) == ["Fashion-MNIST"] and sets["Fashion-MNIST"].shape == (6, 1, 28, 28)
    assert 0 <= float(sets["Fashion-MNIST"].min()) and float(sets["Fashion-MNIST"].max()) <= 1
    with pytest.raises(TypeError, match="profile"):
        un.shifted_sets(x, dataset="digits", profile=None)
