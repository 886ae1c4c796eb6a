"""Predictive uncertainty of spiking networks with dropout: calibration, likelihood, entropy, AUROC,
and the two ways of drawing predictive samples from a model.

Metrics take class probabilities ``probs[N, C]`` (NumPy arrays or tensors; rows on the simplex) and
integer ``labels[N]``. Samples come from ``mc_predict`` (N stochastic passes with dropout kept
sampling at inference: ``mc_mode``) or ``time_step_samples`` (the T time steps of one pass, read from
the readout's recorded membrane). Their predictive distribution is the mean over the sample axis
(``probs.mean(0)``); ``predictive_entropy`` and ``mutual_information`` summarise the spread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import Tensor

from snnlab.dropout import mc_mode
from snnlab.models.base import SpikingModel
from snnlab.validation import check_int, check_seed

PROB_TOL = 1e-4  # how far a row of probabilities may sum from 1 (float32 softmax rounding)
ECE_BINS = 15


# ---------------------------------------------------------------------------------------------- checks
def _array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().double().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, list, tuple)):
        return np.asarray(value)
    raise TypeError(f"{name} must be a NumPy array, a torch.Tensor or a list, got {type(value).__name__}")


def check_probs(probs: Any, *, name: str = "probs", ndim: int | None = 2) -> np.ndarray:
    """``probs`` as a float64 array of probability rows (last axis: classes, each row on the simplex)."""
    p = _array(name, probs)
    if p.dtype.kind not in "fiu" or p.dtype.kind == "b":
        raise TypeError(f"{name} must hold real numbers (class probabilities), got dtype {p.dtype}")
    p = p.astype(np.float64)
    if ndim is not None and p.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dims ([N, C] for {ndim} == 2), got shape {p.shape}")
    if p.ndim < 1 or p.shape[-1] < 2 or p.size == 0:
        raise ValueError(f"{name} must have at least one row and at least 2 classes on its last axis, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} contains non-finite values; allowed: probabilities in [0, 1]")
    if p.min() < 0.0 or p.max() > 1.0 + PROB_TOL:
        raise ValueError(f"{name} has values in [{p.min():.4g}, {p.max():.4g}]; allowed: probabilities in [0, 1]")
    sums = p.sum(-1)
    worst = float(np.abs(sums - 1.0).max())
    if worst > PROB_TOL:
        raise ValueError(f"{name}: each row must sum to 1 (softmax outputs); the worst row sums to "
                         f"{float(sums.flat[np.abs(sums - 1.0).argmax()]):.6g} (tolerance {PROB_TOL})")
    return p


def check_labels(labels: Any, n: int, n_classes: int) -> np.ndarray:
    """``labels`` as an int64 array ``[n]`` with values in ``[0, n_classes)``."""
    y = _array("labels", labels)
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
            raise TypeError(f"labels must be integer class indices, got non-integer values of dtype {y.dtype}")
    elif y.dtype.kind not in "iu" or y.dtype.kind == "b":
        raise TypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) (one per row of probs), got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}) (the classes of probs), got values in [{y.min()}, {y.max()}]")
    return y


def _probs_and_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = check_probs(probs)
    return p, check_labels(labels, p.shape[0], p.shape[1])


# ---------------------------------------------------------------------------------------------- metrics
def reliability_bins(probs: Any, labels: Any, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Top-label reliability table: ``n_bins`` equal-width confidence bins ``(lower, upper]`` (the first
    also holds 0), each with its samples' mean confidence, accuracy and count (NaN for an empty bin).
    The table a reliability diagram draws and ``expected_calibration_error`` sums."""
    n_bins = check_int("n_bins", n_bins, minimum=1)
    p, y = _probs_and_labels(probs, labels)
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.ceil(np.minimum(conf, 1.0) * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:],
                         "confidence": mean_conf, "accuracy": acc, "count": count.astype(np.int64)})


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error (Guo et al. 2017): ``sum_b n_b/N * |acc_b - conf_b|`` over
    ``n_bins`` equal-width confidence bins (``reliability_bins``). 0 is perfectly calibrated."""
    bins = reliability_bins(probs, labels, n_bins)
    used = bins[bins["count"] > 0]
    n = used["count"].sum()
    return float((used["count"] * (used["accuracy"] - used["confidence"]).abs()).sum() / n)


def negative_log_likelihood(probs: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the true class (nats; sklearn's ``log_loss``): probabilities are
    clipped at float64's epsilon so a confident mistake costs a large finite amount, not infinity."""
    p, y = _probs_and_labels(probs, labels)
    eps = np.finfo(np.float64).eps
    return float(-np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0)).mean())


def brier_score(probs: Any, labels: Any) -> float:
    """Multi-class Brier score: the mean over samples of ``sum_c (p_c - [c == label])^2`` (in [0, 2])."""
    p, y = _probs_and_labels(probs, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(((p - onehot) ** 2).sum(1).mean())


def predictive_entropy(probs: Any) -> np.ndarray:
    """Entropy (nats) of every probability row of ``probs[..., C]``: shape ``probs.shape[:-1]``.
    Pass the predictive mean (``samples.mean(0)``) for the total uncertainty of MC samples."""
    p = check_probs(probs, ndim=None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0.0, p * np.log(p), 0.0)
    return -terms.sum(-1)


def mutual_information(samples: Any) -> np.ndarray:
    """Epistemic part of the uncertainty of ``samples[S, N, C]`` (BALD): the entropy of the mean minus
    the mean entropy of the samples, per input ``[N]`` (0 when every sample agrees)."""
    s = check_probs(samples, name="samples", ndim=3)
    return np.maximum(predictive_entropy(s.mean(0)) - predictive_entropy(s).mean(0), 0.0)


def auroc(scores_in: Any, scores_out: Any) -> float:
    """Area under the ROC curve for telling shifted inputs (``scores_out``, positives) from in-distribution
    ones (``scores_in``) by a score where higher means "more out-of-distribution" (e.g. predictive
    entropy): the probability that a random shifted input scores above a random in-distribution one,
    ties counting one half (Mann-Whitney U; equal to ``sklearn.metrics.roc_auc_score``)."""
    a = _scores("scores_in", scores_in)
    b = _scores("scores_out", scores_out)
    ranks = rankdata(np.concatenate([a, b]))  # average ranks for ties
    u = ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2.0
    return float(u / (len(a) * len(b)))


def _scores(name: str, value: Any) -> np.ndarray:
    s = _array(name, value)
    if s.dtype.kind not in "fiu" or s.dtype.kind == "b":
        raise TypeError(f"{name} must hold real-valued scores, got dtype {s.dtype}")
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per input), got shape {s.shape}")
    s = s.astype(np.float64)
    if s.size == 0:
        raise ValueError(f"{name} is empty; AUROC needs at least one score on each side")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains non-finite scores; allowed: finite values only")
    return s


# ---------------------------------------------------------------------------------------------- sampling
def _single_network(model: Any) -> SpikingModel:
    if not isinstance(model, SpikingModel):
        raise TypeError(f"model must be a snnlab SpikingModel (SpikingMLP, SpikingCNN, ...), got {type(model).__name__}")
    if model.members is not None:
        raise ValueError(f"model is a population of {model.members} networks; pass one network (a member's model)")
    return model


def _batches(x: Any, batch_size: int) -> list[Tensor]:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor batch [N, ...], got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch [N, ...] with at least 2 dims, got shape {tuple(x.shape)}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    return list(torch.split(x, batch_size))


def _device(model: SpikingModel) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def mc_predict(model: SpikingModel, x: Tensor, *, passes: int, seed: int = 0, batch_size: int = 256) -> Tensor:
    """Class probabilities ``[passes, N, C]`` (float32, CPU) from ``passes`` stochastic forward passes of
    ``model`` over ``x[N, ...]`` in eval mode with every dropout slot sampling (``mc_mode``).

    The model's randomness streams (dropout masks and a stochastic input encoding) are restarted from
    ``seed`` first (``model.reseed``, as ``fit`` does), so the same seed, ``x`` and ``batch_size`` give the
    same samples; the streams then advance, so every pass draws new masks. The model's train/eval
    mode and MC flags are restored afterwards; its streams are left where the passes ended.
    """
    model = _single_network(model)
    passes = check_int("passes", passes, minimum=1)
    seed = check_seed("seed", seed)
    chunks = _batches(x, batch_size)
    device = _device(model)
    was_training = model.training
    model.reseed(seed)
    model.eval()
    try:
        with mc_mode(model):
            out = [torch.cat([torch.softmax(model(c.to(device)).float(), -1).cpu() for c in chunks]) for _ in range(passes)]
    finally:
        model.train(was_training)
    return torch.stack(out)


def per_step_masks(model: SpikingModel) -> bool:
    """Whether every dropout slot of ``model`` that drops anything draws a fresh mask at each time step
    (not ``time_consistent``): only then are the T steps of one pass samples of different masks.
    False when no slot drops (p = 0 or method ``none``)."""
    model = _single_network(model)
    active = [d for d in model.dropouts if d.p > 0.0]
    return bool(active) and all(not d.time_consistent for d in active)


@torch.no_grad()
def time_step_samples(model: SpikingModel, x: Tensor, *, seed: int = 0, batch_size: int = 256, burn_in: int = 0) -> Tensor:
    """The cheap variant of MC dropout: class probabilities ``[T - burn_in, N, C]`` from ONE pass, one
    sample per time step, with dropout sampling at inference (``mc_mode``; seeded as ``mc_predict``).

    Sample ``t`` is the softmax of the readout's membrane potential at step ``t`` (recorded with
    ``model.record()``); the model's logits are the time mean of that membrane (``readout`` logits
    ``"mean"`` or ``"trace_mean"``), so the mean of the per-step logits is the pass's own prediction.
    Caveats, inherent to what one pass holds: the steps are correlated (the readout integrates with
    leak ``output_beta``, a window of about ``1/(1-beta)`` steps), early steps carry less integrated
    input (``burn_in`` drops the first steps), and only methods that re-draw masks per step
    (``per_step_masks``) make the steps differ by dropout at all. A spike-count readout
    (``readout="rate"``) has no per-step logits: a ValueError.
    """
    model = _single_network(model)
    logits_kind = getattr(model.readout, "logits", None)
    if logits_kind not in ("mean", "trace_mean"):
        raise ValueError(f"time_step_samples needs a readout whose logits are the time mean of its membrane "
                         f"('mean' or 'trace_mean'); this model's readout gives {logits_kind!r} (spike counts have no "
                         f"per-step logits)")
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if burn_in >= model.T:
        raise ValueError(f"burn_in={burn_in} leaves no step of the model's T={model.T}; allowed: 0 <= burn_in < T")
    seed = check_seed("seed", seed)
    chunks = _batches(x, batch_size)
    device = _device(model)
    was_training = model.training
    model.reseed(seed)
    model.eval()
    out = []
    try:
        with mc_mode(model):
            for c in chunks:
                with model.record(kind="full") as rec:
                    model(c.to(device))
                membrane = rec.membrane[model.readout.name]  # [T, B, C]
                out.append(torch.softmax(membrane[burn_in:].float(), -1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out, dim=1)


__all__ = ["ECE_BINS", "auroc", "brier_score", "check_labels", "check_probs", "expected_calibration_error", "mc_predict",
           "mutual_information", "negative_log_likelihood", "per_step_masks", "predictive_entropy", "reliability_bins",
           "time_step_samples"]
