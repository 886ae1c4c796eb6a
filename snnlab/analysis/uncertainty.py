"""Predictive uncertainty of spiking networks with dropout: calibration, likelihood, entropy, AUROC,
and the two ways of drawing predictive samples from a model.

Metrics take class probabilities ``probs[N, C]`` (NumPy arrays or tensors; rows on the simplex) and
integer ``labels[N]``. Samples come from ``mc_predict`` (N stochastic passes with dropout kept
sampling at inference: ``mc_mode``) or ``time_step_samples`` (the T time steps of one pass, read from
the readout's recorded membrane). Their predictive distribution is the mean over the sample axis
(``probs.mean(0)``); ``predictive_entropy`` and ``mutual_information`` summarise the spread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import Tensor

from snnlab.dropout import mc_mode
from snnlab.models.base import SpikingModel
from snnlab.validation import check_frame, check_int, check_seed

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


@contextmanager
def _inference(model: SpikingModel, seed: int | None) -> Iterator[None]:
    """Eval mode for the block, restored afterwards; with a ``seed``, the model's streams restarted from it
    (``model.reseed``) and every dropout slot sampling (``mc_mode``)."""
    was_training = model.training
    if seed is not None:
        model.reseed(seed)
    model.eval()
    try:
        if seed is None:
            yield
        else:
            with mc_mode(model):
                yield
    finally:
        model.train(was_training)


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
    with _inference(model, seed):
        out = [torch.cat([torch.softmax(model(c.to(device)).float(), -1).cpu() for c in chunks]) for _ in range(passes)]
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
    out = []
    with _inference(model, seed):
        for c in chunks:
            with model.record(kind="full") as rec:
                model(c.to(device))
            membrane = rec.membrane[model.readout.name]  # [T, B, C]
            out.append(torch.softmax(membrane[burn_in:].float(), -1).cpu())
    return torch.cat(out, dim=1)



# ---------------------------------------------------------------------------------------------- inputs and single passes
@torch.no_grad()
def deterministic_predict(model: SpikingModel, x: Tensor, *, batch_size: int = 256) -> Tensor:
    """Class probabilities ``[1, N, C]`` (float32, CPU) of one ordinary eval-mode pass (dropout off): the
    prediction MC dropout is compared with, shaped as one sample so every metric treats it alike."""
    model = _single_network(model)
    chunks = _batches(x, batch_size)
    device = _device(model)
    with _inference(model, None):
        out = torch.cat([torch.softmax(model(c.to(device)).float(), -1).cpu() for c in chunks])
    return out.unsqueeze(0)


def _image_batch(x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of images [N, C, H, W], got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] == 0 or not x.is_floating_point():
        raise ValueError(f"x must be a non-empty float batch of images [N, C, H, W], got shape {tuple(x.shape)} "
                         f"and dtype {x.dtype}")
    return x


def rotated(x: Tensor, quarter_turns: int = 1) -> Tensor:
    """The images of ``x[N, C, H, W]`` rotated by ``quarter_turns`` x 90 degrees counter-clockwise
    (``np.rot90`` on every image): a shifted set with the same pixel statistics. Square images only."""
    x = _image_batch(x)
    quarter_turns = check_int("quarter_turns", quarter_turns, minimum=1)
    if quarter_turns % 4 == 0:
        raise ValueError(f"quarter_turns={quarter_turns} is a full turn (the images unchanged); allowed: not a multiple of 4")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotated needs square images, got H x W = {x.shape[-2]} x {x.shape[-1]}")
    return torch.rot90(x, quarter_turns, dims=(-2, -1)).contiguous()


def noised(x: Tensor, sigma: float = 0.5, *, seed: int = 0) -> Tensor:
    """``x[N, C, H, W]`` (values in [0, 1]) plus seeded Gaussian noise of standard deviation ``sigma``,
    clipped back to [0, 1]: a shifted set the same shape as the test set."""
    x = _image_batch(x)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive, finite noise standard deviation, got {sigma!r}")
    seed = check_seed("seed", seed)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)
    return (x + float(sigma) * noise).clamp_(0.0, 1.0)



def sample_variants(model: SpikingModel, x: Tensor, *, passes: int, seed: int = 0,
                    batch_size: int = 256) -> dict[str, tuple[Tensor, float]]:
    """Predictive samples of ``model`` on ``x`` by each variant, with the seconds each took (wall clock):
    ``"single"`` (``deterministic_predict``), ``"mc"`` (``mc_predict`` with ``passes``; left out when no
    dropout slot of the model drops anything, since every pass would be the same) and ``"time_steps"``
    (``time_step_samples``). The variants of ``VARIANTS``, as notebook 06 compares them."""
    model = _single_network(model)
    passes = check_int("passes", passes, minimum=1)
    runs: dict[str, Any] = {"single": lambda: deterministic_predict(model, x, batch_size=batch_size)}
    if any(d.p > 0.0 for d in model.dropouts):
        runs["mc"] = lambda: mc_predict(model, x, passes=passes, seed=seed, batch_size=batch_size)
    runs["time_steps"] = lambda: time_step_samples(model, x, seed=seed, batch_size=batch_size)
    out = {}
    for name, run in runs.items():
        start = time.perf_counter()
        samples = run()
        out[name] = (samples, time.perf_counter() - start)
    return out


def shifted_sets(x: Tensor, *, dataset: str, profile: str, data_root: Any = None, seed: int = 0,
                 sigma: float = 0.5) -> tuple[dict[str, Tensor], str | None]:
    """The out-of-distribution sets notebook 06 compares the test inputs ``x[N, C, H, W]`` with, by name,
    and a note (None when there is nothing to say). ``paper`` on MNIST: Fashion-MNIST's test images
    (``N`` of them, seeded) when its files are under ``data_root``, else ``x`` noised (``noised``, with
    a note saying so). Every other case: ``x`` rotated by 90 degrees and ``x`` noised."""
    from snnlab.data import load_dataset
    from snnlab.study.profiles import dataset_present

    x = _image_batch(x)
    for name, value in (("dataset", dataset), ("profile", profile)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__} ({value!r})")
    noisy = f"noised (sigma {sigma:g})"
    if profile == "paper" and dataset == "mnist":
        if dataset_present("fashion-mnist", data_root):
            fashion = load_dataset("fashion-mnist", "test", root=data_root, subset=x.shape[0], device=x.device, seed=seed,
                                   download=False, progress=False)
            return {"Fashion-MNIST": fashion.x}, None
        return ({noisy: noised(x, sigma, seed=seed)},
                f"Fashion-MNIST is not under the data root {data_root}: the shifted set is noised MNIST instead")
    return {"rotated 90°": rotated(x), noisy: noised(x, sigma, seed=seed)}, None

# ---------------------------------------------------------------------------------------------- tables and sentences
VARIANTS = {"single": "single pass (dropout off)", "mc": "MC passes", "time_steps": "time steps of one pass"}
METRICS = ("accuracy", "nll", "ece", "brier", "entropy", "mutual_info")


def prediction_metrics(samples: Any, labels: Any, *, n_bins: int = ECE_BINS) -> dict[str, float]:
    """The metrics of the predictive mean of ``samples[S, N, C]`` against ``labels[N]``: accuracy, NLL
    (nats), ECE (``n_bins`` bins), Brier score, mean predictive entropy and mean mutual information
    (0 for a single sample). One row of ``uncertainty_table``."""
    s = check_probs(samples, name="samples", ndim=3)
    mean = s.mean(0)
    y = check_labels(labels, mean.shape[0], mean.shape[1])
    return {"accuracy": float((mean.argmax(1) == y).mean()), "nll": negative_log_likelihood(mean, y),
            "ece": expected_calibration_error(mean, y, n_bins), "brier": brier_score(mean, y),
            "entropy": float(predictive_entropy(mean).mean()), "mutual_info": float(mutual_information(s).mean())}


def entropy_auroc(samples_in: Any, samples_out: Any) -> float:
    """AUROC of telling ``samples_out[S, M, C]`` (shifted inputs) from ``samples_in[S, N, C]`` by the
    predictive entropy of their predictive means (0.5: chance, 1: every shifted input more uncertain)."""
    a = check_probs(samples_in, name="samples_in", ndim=3)
    b = check_probs(samples_out, name="samples_out", ndim=3)
    return auroc(predictive_entropy(a.mean(0)), predictive_entropy(b.mean(0)))


def mean_over_seeds(frame: pd.DataFrame, by: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """``values`` averaged over the rows of each ``by`` group (the seeds), groups in order of first
    appearance, with ``seeds`` (the rows averaged) and for each value its standard deviation
    ``<value>_std`` (NaN with one seed)."""
    by, values = list(by), list(values)
    check_frame("frame", frame, by + values)
    grouped = frame.groupby(by, sort=False)
    means = grouped[values].mean()
    stds = grouped[values].std(ddof=1).add_suffix("_std")
    out = means.join(stds).join(grouped.size().rename("seeds")).reset_index()
    return out


def uncertainty_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (label, variant): the ``prediction_metrics`` and the cost (``passes``, ``seconds``), averaged
    over the seeds of ``frame`` (one row per label, variant and seed, e.g. built in notebook 06).
    ``per_step_masks`` is carried through (it does not vary over seeds)."""
    check_frame("frame", frame, ["label", "variant", "per_step_masks", "samples", "passes", "seconds", *METRICS])
    bad = sorted(set(frame["variant"]) - set(VARIANTS))
    if bad:
        raise ValueError(f"frame['variant'] has {bad}; allowed: {sorted(VARIANTS)}")
    return mean_over_seeds(frame, ["label", "variant", "per_step_masks", "samples", "passes"], ["seconds", *METRICS])


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _count(hits: Sequence[str], n: int, noun: str) -> str:
    """``"2 of 4 <noun> (a, b)"``, or ``"none of the 4 <noun>"`` (never a bare "none": it is also a label)."""
    hits = list(hits)
    return f"{len(hits)} of {n} {noun} ({', '.join(hits)})" if hits else f"none of the {n} {noun}"


def _lower_first(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]


def _row(table: pd.DataFrame, label: str, variant: str) -> pd.Series | None:
    hit = table[(table["label"] == label) & (table["variant"] == variant)]
    return None if hit.empty else hit.iloc[0]


def uncertainty_sentences(table: pd.DataFrame, *, baseline: str = "none", n_test: int | None = None) -> list[str]:
    """Sentences computed from ``uncertainty_table``: the best-calibrated row, what MC averaging and
    the time-step variant change against each method's single pass (NLL and ECE, with the measured
    cost), which methods' time steps cannot differ by dropout, and the caveat of seeds and test size."""
    check_frame("table", table, ["label", "variant", "per_step_masks", "samples", "passes", "seconds", "seeds", *METRICS])
    if table.empty:
        raise ValueError("table is empty; build it with uncertainty_table from at least one row")
    out = []
    best = table.loc[table["ece"].idxmin()]
    worst = table.loc[table["ece"].idxmax()]
    out.append(f"Best calibrated: {best['label']} ({VARIANTS[best['variant']]}), ECE {_pct(best['ece'])} at accuracy "
               f"{_pct(best['accuracy'])}; the least calibrated: {worst['label']} ({VARIANTS[worst['variant']]}), "
               f"ECE {_pct(worst['ece'])}.")
    base = _row(table, baseline, "single")
    if base is not None:
        out.append(f"The base SNN ({baseline}, single pass): accuracy {_pct(base['accuracy'])}, NLL {base['nll']:.3f}, "
                   f"ECE {_pct(base['ece'])}.")
    for variant in ("mc", "time_steps"):
        rows = table[table["variant"] == variant]
        pairs = [(r, _row(table, r["label"], "single")) for _, r in rows.iterrows() if r["label"] != baseline]
        pairs = [(r, s) for r, s in pairs if s is not None]
        if not pairs:
            continue
        nll_better = [r["label"] for r, s in pairs if r["nll"] < s["nll"]]
        ece_better = [r["label"] for r, s in pairs if r["ece"] < s["ece"]]
        cost = np.mean([r["seconds"] / s["seconds"] for r, s in pairs if s["seconds"] > 0]) if any(
            s["seconds"] > 0 for _, s in pairs) else float("nan")
        what = (f"Averaging {int(pairs[0][0]['samples'])} MC passes" if variant == "mc"
                else f"Reading the {int(pairs[0][0]['samples'])} time steps of one pass as samples")
        out.append(f"{what} lowers the NLL below the single pass for {_count(nll_better, len(pairs), 'dropout methods')} "
                   f"and the ECE for {_count(ece_better, len(pairs), 'dropout methods')}; it took {cost:.1f}x the single "
                   f"pass's time here.")
    held = [r["label"] for _, r in table[(table["variant"] == "time_steps") & (~table["per_step_masks"].astype(bool))].iterrows()
            if r["label"] != baseline]
    if held:
        out.append(f"The masks of {', '.join(held)} are held over the time window, so their time-step "
                   f"samples differ only through the readout's integration, not through dropout.")
    seeds = int(table["seeds"].min())
    size = f" on {n_test} test inputs" if n_test is not None else ""
    out.append(f"All numbers are means over {seeds} seed(s){size}: point estimates, with no test of whether the "
               f"differences between methods exceed the spread between seeds.")
    return out


def ood_sentences(table: pd.DataFrame, *, baseline: str = "none", chance_margin: float = 0.05) -> list[str]:
    """Sentences from an OOD table (columns ``shift``, ``label``, ``variant``, ``auroc``, means over seeds):
    per shifted set the best separation and the base SNN's single pass, how often MC beats the single
    pass, and whether any method is within ``chance_margin`` of chance (AUROC 0.5)."""
    check_frame("table", table, ["shift", "label", "variant", "auroc"])
    if table.empty:
        raise ValueError("table is empty; give at least one AUROC row")
    out = []
    for shift in dict.fromkeys(table["shift"]):
        t = table[table["shift"] == shift]
        best = t.loc[t["auroc"].idxmax()]
        line = (f"{shift}: the predictive entropy separates the shifted inputs best with {best['label']} "
                f"({VARIANTS[best['variant']]}), AUROC {best['auroc']:.3f} (0.5 is chance, 1 perfect)")
        base = _row(t, baseline, "single")
        if base is not None:
            line += f"; the base SNN's single pass: {base['auroc']:.3f}"
        mc = [(r, _row(t, r["label"], "single")) for _, r in t[t["variant"] == "mc"].iterrows()]
        mc = [(r, s) for r, s in mc if s is not None]
        if mc:
            up = [r["label"] for r, s in mc if r["auroc"] > s["auroc"]]
            line += f"; MC passes raise the AUROC over the single pass for {_count(up, len(mc), 'methods')}"
        near = t[(t["auroc"] - 0.5).abs() <= chance_margin]
        if len(near):
            line += f"; within {chance_margin:.2f} of chance: {len(near)} of {len(t)} rows"
        out.append(line + ".")
        below = _below_chance(t, chance_margin)
        if below:
            out.append(f"{shift}: {below}.")
    return out


def _below_chance(t: pd.DataFrame, margin: float) -> str:
    """A clause when rows of one shift lie below chance by more than ``margin`` (empty otherwise)."""
    below = t[t["auroc"] < 0.5 - margin]
    if below.empty:
        return ""
    who = "every row" if len(below) == len(t) else f"{len(below)} of {len(t)} rows"
    return (f"{who} below {0.5 - margin:.2f}: the shifted inputs get lower predictive entropy than the test inputs "
            f"(predicted more confidently), so entropy does not flag this shift")


def conclusion_sentences(uncertainty: pd.DataFrame, ood: pd.DataFrame, energy_table: pd.DataFrame, *,
                         layer_macs: float, baseline: str = "none") -> list[str]:
    """The notebook's conclusion, every clause computed: calibration (best row, MC's effect), OOD (best
    AUROC per shift) and energy (the Pareto front of ``energy_table`` and the operations against the
    ANN's ``layer_macs`` for the same layers)."""
    from snnlab.analysis.energy import pareto_front

    unc = uncertainty_sentences(uncertainty, baseline=baseline)
    out = [f"Calibration: {_lower_first(unc[0])}"]
    mc = [s for s in unc if s.startswith("Averaging")]
    if mc:
        out.append(f"MC dropout: {_lower_first(mc[0])}")
    for shift in dict.fromkeys(ood["shift"]):
        t = ood[ood["shift"] == shift]
        best = t.loc[t["auroc"].idxmax()]
        below = _below_chance(t, 0.05)
        out.append(f"Out of distribution ({shift}): best AUROC {best['auroc']:.3f}, {best['label']} "
                   f"({VARIANTS[best['variant']]})" + (f"; {below}" if below else "") + ".")
    check_frame("energy_table", energy_table, ["label", "synops", "test_acc"])
    front = pareto_front(energy_table)
    if not front.empty:
        members = ", ".join(f"{r['label']} ({r['synops']:.3g} SOPs, {_pct(r['test_acc'])})" for _, r in front.iterrows())
        ratio = energy_table["synops"] / float(layer_macs)
        out.append(f"Energy: the accuracy/operations front is {members}; the SNNs perform {ratio.min():.2f}x to "
                   f"{ratio.max():.2f}x the equivalent ANN's multiply-accumulates in the same layers, as accumulates.")
    return out


__all__ = ["auroc", "brier_score", "check_labels", "check_probs", "conclusion_sentences",
           "deterministic_predict", "ECE_BINS", "entropy_auroc", "expected_calibration_error",
           "mc_predict", "mean_over_seeds", "METRICS", "mutual_information", "negative_log_likelihood",
           "noised", "ood_sentences", "per_step_masks", "prediction_metrics", "predictive_entropy",
           "reliability_bins", "rotated", "sample_variants", "shifted_sets", "time_step_samples",
           "uncertainty_sentences", "uncertainty_table", "VARIANTS"]
