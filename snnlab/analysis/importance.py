"""Neuron importance and the stability of importance rankings (the paper's Table 2, made quantitative).

Two importance scores for the neurons of a hidden layer:

* **weight magnitude**: the L2 norm of a hidden neuron's *outgoing* weights, i.e. column ``i`` of
  the following layer's weight ``[out, hidden]`` (for a convolution ``[oc, ic, kh, kw]``, the norm
  of everything reading input channel ``i``). A neuron whose outgoing weights are large can move
  the next layer's potential the most per spike. This is an *assumption* of this study: the paper
  ranks "by weight" without saying which weights (incoming or outgoing), which statistic, which
  layer or which dropout method and seed its Table 2 shows (``paper_table2``, ``check_id_list``).
* **ablation**: silence the neuron (zero its outgoing weights, which for a feed-forward network is
  the same as masking all its spikes) and measure how much accuracy drops (or loss rises) on a
  data set. This is what "important" should mean; the weight rank is a cheap proxy for it.

Rank comparisons: Kendall's tau-b (ties handled) over all neurons and the overlap of the top-k
sets, with the chance level of that overlap (k / n) to read it against. Rank stability is reported
with t confidence intervals over independent units (seeds; disjoint seed pairs across seeds:
``stability_intervals``), not only ± std.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps
from torch import Tensor, nn

from snnlab.analysis.statistics import summarize
from snnlab.validation import check_choice, check_float, check_int

if TYPE_CHECKING:  # snnlab.study is imported lazily at run time, inside train_models
    from snnlab.study import ResultsStore

ABLATION_METRICS = ("accuracy", "loss")


def _scores(name: str, scores: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """Scores as a 1-D float array of finite values."""
    if isinstance(scores, Tensor):
        arr = scores.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            arr = np.asarray(scores, dtype=float)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a 1-D tensor/array of numbers; {err}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor/array (one score per neuron), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite scores")
    return arr


def _check_k(k: int, n: int) -> int:
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"k={k} is larger than the number of neurons ({n}); allowed: 1 <= k <= {n}")
    return k


def outgoing_weight_norm(weight: Tensor, *, synapses_per_neuron: int = 1) -> Tensor:
    """Importance by weight magnitude: the L2 norm of each hidden neuron's outgoing weights.

    ``weight`` is the weight of the layer that *reads* the hidden layer: ``[out, hidden]`` for a
    linear layer (column norms), ``[oc, ic, kh, kw]`` for a convolution (one norm per input channel).
    With several delayed synapses per connection (``DelayedSNN``: ``[out, hidden * K]`` laid out as
    ``view(out, hidden, K)``) pass ``synapses_per_neuron=K``: the norm then covers all K synapses.
    Returns a float tensor ``[hidden]`` on the weight's device, without gradient.
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor [out, hidden] (or [oc, ic, kh, kw]), got {type(weight).__name__}")
    if weight.dim() not in (2, 4):
        raise ValueError(f"weight must be 2-D [out, hidden] or 4-D [oc, ic, kh, kw], got shape {tuple(weight.shape)}")
    k = check_int("synapses_per_neuron", synapses_per_neuron, minimum=1)
    w = weight.detach().float()
    if k > 1:
        if weight.dim() != 2 or weight.shape[1] % k:
            raise ValueError(f"synapses_per_neuron={k} needs a 2-D weight whose columns divide by {k}; got shape {tuple(weight.shape)}")
        w = w.reshape(w.shape[0], -1, k).permute(0, 2, 1)  # [out, K, hidden]
        return w.pow(2).sum(dim=(0, 1)).sqrt()
    dims = [d for d in range(w.dim()) if d != 1]
    return w.pow(2).sum(dim=dims).sqrt()


def rank_neurons(scores: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """Neuron IDs ordered from most to least important (ties: the lower ID first)."""
    s = _scores("scores", scores)
    return np.lexsort((np.arange(s.size), -s))


def top_k(scores: Tensor | np.ndarray | Sequence[float], k: int) -> np.ndarray:
    """The IDs of the ``k`` most important neurons, most important first."""
    s = _scores("scores", scores)
    return rank_neurons(s)[: _check_k(k, s.size)]


def top_k_overlap(a: Tensor | np.ndarray | Sequence[float], b: Tensor | np.ndarray | Sequence[float], k: int) -> float:
    """Fraction of the top-``k`` neurons of ``a`` that are also in the top-``k`` of ``b`` (1 = same set)."""
    sa, sb = _scores("a", a), _scores("b", b)
    if sa.size != sb.size:
        raise ValueError(f"a and b must score the same neurons; got {sa.size} and {sb.size} scores")
    k = _check_k(k, sa.size)
    return len(set(top_k(sa, k).tolist()) & set(top_k(sb, k).tolist())) / k


def chance_overlap(n: int, k: int) -> float:
    """Expected top-k overlap of two independent random rankings of ``n`` neurons: ``k / n``."""
    n = check_int("n", n, minimum=1)
    return _check_k(k, n) / n


def kendall_tau(a: Tensor | np.ndarray | Sequence[float], b: Tensor | np.ndarray | Sequence[float]) -> float:
    """Kendall's tau-b rank correlation of two score vectors over the same neurons (1 = same order,
    0 = unrelated, -1 = reversed). NaN when either vector is constant (no ranking to compare)."""
    sa, sb = _scores("a", a), _scores("b", b)
    if sa.size != sb.size:
        raise ValueError(f"a and b must score the same neurons; got {sa.size} and {sb.size} scores")
    if sa.size < 2 or np.all(sa == sa[0]) or np.all(sb == sb[0]):
        return float("nan")
    return float(sps.kendalltau(sa, sb, variant="b").statistic)


def kendall_p_value(a: Tensor | np.ndarray | Sequence[float], b: Tensor | np.ndarray | Sequence[float]) -> float:
    """Two-sided p-value of Kendall's tau-b test of no association between two score vectors
    (SciPy's; exact for small untied samples). NaN where ``kendall_tau`` is NaN."""
    sa, sb = _scores("a", a), _scores("b", b)
    if math.isnan(kendall_tau(sa, sb)):
        return float("nan")
    return float(sps.kendalltau(sa, sb, variant="b").pvalue)


def top_k_concentration(scores: Tensor | np.ndarray | Sequence[float], k: int) -> float:
    """Share of the total (non-negative) importance held by the top-``k`` neurons: how *much* the
    most important neurons matter, as opposed to *which* neurons they are."""
    s = _scores("scores", scores)
    if np.any(s < 0):
        raise ValueError("scores must be non-negative for a concentration (share of the total)")
    total = s.sum()
    if total == 0:
        return float("nan")
    return float(s[top_k(s, k)].sum() / total)


def top_ids_table(scores: Mapping[str, Tensor | np.ndarray | Sequence[float]], k: int = 10) -> pd.DataFrame:
    """Table 2 of the paper: one row per condition, columns 1..k holding the IDs of the top-k neurons."""
    _check_mapping(scores)
    rows = {name: top_k(s, k) for name, s in scores.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(range(1, k + 1)))


def top_k_membership(scores: Mapping[str, Tensor | np.ndarray | Sequence[float]], k: int) -> pd.DataFrame:
    """Which neurons are in whose top-k: rows = conditions, columns = the union of all top-k sets
    (ordered by how many conditions share them, then ID), values = rank in that condition's top-k
    (1 = most important) or 0 when the neuron is not in it."""
    _check_mapping(scores)
    tops = {name: top_k(s, k) for name, s in scores.items()}
    counts: dict[int, int] = {}
    for ids in tops.values():
        for i in ids.tolist():
            counts[i] = counts.get(i, 0) + 1
    columns = sorted(counts, key=lambda i: (-counts[i], i))
    data = np.zeros((len(tops), len(columns)), dtype=int)
    pos = {c: j for j, c in enumerate(columns)}
    for r, ids in enumerate(tops.values()):
        for rank, i in enumerate(ids.tolist(), start=1):
            data[r, pos[i]] = rank
    return pd.DataFrame(data, index=list(tops), columns=columns)


def _check_mapping(scores: Mapping) -> None:
    if not isinstance(scores, Mapping) or len(scores) == 0:
        raise TypeError(f"scores must be a non-empty mapping name -> score vector, got {type(scores).__name__}")
    sizes = {name: _scores(f"scores[{name!r}]", s).size for name, s in scores.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every score vector must cover the same neurons; sizes: {sizes}")


def rank_agreement(
    scores: Mapping[str, Tensor | np.ndarray | Sequence[float]],
    *,
    k: int,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Kendall's tau and top-k overlap for pairs of conditions (default: every unordered pair).

    Returns one row per pair: ``a``, ``b``, ``kendall_tau``, ``top_k_overlap``, ``k``, ``chance``.
    """
    _check_mapping(scores)
    names = list(scores)
    if pairs is None:
        pairs = list(itertools.combinations(names, 2))
    rows = []
    for a, b in pairs:
        for x in (a, b):
            if x not in scores:
                raise ValueError(f"pair member {x!r} is not a key of scores; keys: {', '.join(map(repr, names))}")
        n = _scores("scores", scores[a]).size
        rows.append({
            "a": a, "b": b,
            "kendall_tau": kendall_tau(scores[a], scores[b]),
            "top_k_overlap": top_k_overlap(scores[a], scores[b], k),
            "k": k, "chance": chance_overlap(n, k),
        })
    return pd.DataFrame(rows, columns=["a", "b", "kendall_tau", "top_k_overlap", "k", "chance"])


@torch.no_grad()
def _evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> tuple[float, float]:
    correct = 0.0
    loss = 0.0
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model(xb)
        correct += float((logits.argmax(dim=1) == yb).sum())
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    n = x.shape[0]
    return correct / n, loss / n


def ablation_importance(
    model: nn.Module,
    weight: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    neurons: Iterable[int] | None = None,
    metric: str = "accuracy",
    batch_size: int = 512,
    seed: int | None = 0,
) -> np.ndarray:
    """Importance by ablation: for each hidden neuron, zero its outgoing weights (column ``i`` of
    ``weight``, the parameter of the layer that reads the hidden layer) and measure the accuracy
    drop (``metric="accuracy"``) or the cross-entropy increase (``metric="loss"``) on ``x, y``.

    The model is evaluated in ``eval()`` mode (dropout off) and ``weight`` is restored exactly after
    each ablation, also if an error interrupts. Returns one value per entry of ``neurons``
    (default: every neuron, in ID order); positive = the network needs that neuron.
    With ``seed`` (default 0) a model that has ``reseed`` (every spiking model) is reseeded before
    each evaluation, so stochastic encodings feed every ablation the same input (a paired
    comparison); this restarts the model's encoding/dropout streams. ``seed=None`` leaves them.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(weight, Tensor) or weight.dim() not in (2, 4):
        raise TypeError("weight must be the 2-D [out, hidden] (or 4-D conv) weight tensor of the layer reading the hidden layer")
    if not any(weight is p for p in model.parameters()):
        raise ValueError("weight must be a parameter of model (the ablation edits it in place, then restores it)")
    check_choice("metric", metric, ABLATION_METRICS)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("x and y must be non-empty tensors with the same number of samples")
    n_hidden = weight.shape[1]
    ids = list(range(n_hidden)) if neurons is None else [int(i) for i in neurons]
    bad = [i for i in ids if not 0 <= i < n_hidden]
    if bad:
        raise ValueError(f"neurons must be IDs in [0, {n_hidden}); got {bad[:5]}")
    reseed = getattr(model, "reseed", None) if seed is not None else None

    def run() -> tuple[float, float]:
        if reseed is not None:
            reseed(check_int("seed", seed))
        return _evaluate(model, x, y, batch_size)

    was_training = model.training
    model.eval()
    out = np.empty(len(ids))
    try:
        base_acc, base_loss = run()
        for j, i in enumerate(ids):
            saved = weight.data[:, i].clone()
            weight.data[:, i] = 0
            try:
                acc, loss = run()
            finally:
                weight.data[:, i] = saved
            out[j] = base_acc - acc if metric == "accuracy" else loss - base_loss
    finally:
        model.train(was_training)
    return out


# ---------------------------------------------------------------------------- the paper's Table 2, as printed

# Table 2 of Lyu & Yin ("A Discussion of Migration of Common Neural Network Regularization Methods
# on SNNs"), row labels and IDs exactly as printed. The paper does not say which weights it sorts,
# with which statistic, for which layer, dropout method, rate or seed, nor the hidden layer's size.
_PAPER_TABLE2 = (
    ("Without dropout", (9, 8, 3, 2, 0, 1, 4, 5, 6, 7)),
    ("With dropout", (112, 127, 121, 122, 116, 118, 113, 9, 1, 5)),
)


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 as printed: one row per list ("Without dropout", "With dropout"),
    columns 1..10 = the printed positions (the paper: "the higher the weight, the higher the ranking")."""
    return pd.DataFrame([ids for _, ids in _PAPER_TABLE2], index=[name for name, _ in _PAPER_TABLE2],
                        columns=list(range(1, 11)))


def first_ids_probability(n: int, k: int) -> float:
    """Probability ``1 / C(n, k)`` that the top-``k`` of a ranking of ``n`` neurons is exactly the
    first ``k`` IDs ``0..k-1``, when every set of ``k`` neurons is equally likely to be on top (a
    ranking unrelated to the IDs)."""
    n = check_int("n", n, minimum=1)
    k = _check_k(k, n)
    return 1.0 / math.comb(n, k)


@dataclass(frozen=True)
class IdListCheck:
    """What a printed top-k list of neuron IDs says about itself (``check_id_list``).

    ``min_n``: the smallest layer consistent with the IDs (largest ID + 1); ``n``: the layer size
    the chance figures use; ``first_ids``: how many IDs are below ``k``; ``is_first_ids``: the list
    is a permutation of ``0..k-1``; ``ascending_tail``: length of the run of increasing IDs that
    ends the list; ``expected_first_ids``: ``k * k / n``, the mean of ``first_ids`` for a ranking
    unrelated to the IDs (hypergeometric); ``chance_first_ids``: ``first_ids_probability(n, k)``.
    """

    ids: tuple[int, ...]
    k: int
    min_n: int
    n: int
    first_ids: int
    is_first_ids: bool
    ascending_tail: int
    expected_first_ids: float
    chance_first_ids: float


def check_id_list(ids: Iterable[int], *, n: int | None = None) -> IdListCheck:
    """Check a top-k list of neuron IDs (e.g. a row of the paper's Table 2) against the first IDs.

    ``ids``: distinct non-negative integers, most important first; ``n``: the layer's size (None:
    the smallest consistent with the IDs, ``max(ids) + 1``; for a larger ``n`` the chance figures
    only get smaller).
    """
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"ids must be a sequence of neuron IDs (non-negative integers), got {type(ids).__name__}")
    given = list(ids)
    values = [int(i) for i in given if isinstance(i, (int, np.integer)) and not isinstance(i, bool)]
    if len(values) != len(given) or not values:
        raise TypeError(f"ids must be a non-empty sequence of integer neuron IDs, got {given!r}")
    if min(values) < 0 or len(set(values)) != len(values):
        raise ValueError(f"ids must be distinct non-negative neuron IDs, got {values}")
    k, min_n = len(values), max(values) + 1
    n = min_n if n is None else check_int("n", n, minimum=1)
    if n < min_n:
        raise ValueError(f"n={n} is smaller than the IDs allow (largest ID {min_n - 1}); allowed: n >= {min_n}")
    first = sum(i < k for i in values)
    tail = 1
    while tail < k and values[-tail - 1] < values[-tail]:
        tail += 1
    return IdListCheck(tuple(values), k, min_n, n, first, first == k, tail, k * k / n, first_ids_probability(n, k))


# ---------------------------------------------------------------------------- trained models and stability


@dataclass
class TrainedModel:
    """A model trained from a ``TrialSpec`` in this process (the results store keeps metrics, not
    weights): the model, its label, the outgoing weights of each hidden layer at initialisation,
    the per-epoch history and the test split it was evaluated on."""

    spec: Any
    label: str
    model: nn.Module
    init_outgoing: dict[str, Tensor]
    history: pd.DataFrame
    test: Any


def train_models(
    specs: Sequence[Any],
    *,
    data_root: str | None = None,
    progress: bool = False,
    store: ResultsStore | None = None,
) -> list[TrainedModel]:
    """Train every ``TrialSpec`` through ``snnlab.study.runner.train_trial`` (the same data subsets,
    seeding, model construction and training as ``run_trial``) and keep the models: the importance
    analysis needs weights. ``init_outgoing`` is copied right after the model is built.

    With ``store`` (a ``snnlab.study.ResultsStore``) each trial's result is also written there as
    it finishes, as ``run_trials`` would (replacing an earlier copy of the same spec).
    Test splits of identical (dataset, subset, device) are shared between the returned models.
    """
    from snnlab.analysis.statistics import condition_label
    from snnlab.study import ResultsStore, TrialSpec
    from snnlab.study.runner import train_trial

    specs = list(specs)
    for i, s in enumerate(specs):
        if not isinstance(s, TrialSpec):
            raise TypeError(f"specs[{i}] must be a TrialSpec, got {type(s).__name__}")
    if store is not None and not isinstance(store, ResultsStore):
        raise TypeError(f"store must be a ResultsStore or None, got {type(store).__name__}")
    tests: dict[tuple, Any] = {}  # one test split per (dataset, subset, device): the data are identical
    out = []
    for spec in specs:
        init: dict[str, Tensor] = {}

        def keep_init(model: nn.Module, init: dict[str, Tensor] = init) -> None:
            init.update({k: w.detach().clone() for k, w in model.outgoing_weights().items()})

        trial = train_trial(spec, data_root=data_root, progress=progress, on_model=keep_init)
        if store is not None:
            store.put(trial.result)
        test = tests.setdefault((spec.dataset, spec.test_subset, str(trial.test.x.device)), trial.test)
        label = condition_label(spec.method, spec.method_options, spec.model)
        out.append(TrainedModel(spec, label, trial.model.eval(), init, trial.result.history, test))
    return out


def weight_scores(model: nn.Module, layer: str = "hidden1") -> np.ndarray:
    """Outgoing-weight-norm importance of ``layer``'s neurons in a spiking model (``outgoing_synapses()``).

    Where a synapse has several delayed connections per pair of neurons (``DelayedSNN``: ``taps``)
    the connections of a neuron are pooled.
    """
    if not hasattr(model, "outgoing_synapses"):
        raise TypeError(f"model must be a spiking model with outgoing_synapses(), got {type(model).__name__}")
    synapses = model.outgoing_synapses()
    if layer not in synapses:
        raise ValueError(f"layer={layer!r} is not a hidden layer; allowed: {', '.join(map(repr, synapses))}")
    synapse = synapses[layer]
    return outgoing_weight_norm(synapse.weight, synapses_per_neuron=synapse.taps).cpu().numpy()


def rank_stability(
    scores: Mapping[tuple[str, int], Tensor | np.ndarray | Sequence[float]],
    init_scores: Mapping[int, Tensor | np.ndarray | Sequence[float]],
    *,
    k: int,
    baseline: str = "none",
) -> pd.DataFrame:
    """Every rank comparison of the neuron-importance study, one row per pair.

    ``scores``: (label, seed) -> trained scores; ``init_scores``: seed -> scores at initialisation
    (the same for every label of a seed: same seed, same init). Comparison kinds:
    ``"init vs trained"`` (each model against its own init), ``"between methods"`` (each label
    against ``baseline`` with the same seed and init), ``"across seeds"`` (same label, two seeds:
    different inits, so neuron IDs do not correspond and chance level is expected).
    Columns: ``comparison``, ``label``, ``seed_a``, ``seed_b``, ``kendall_tau``, ``top_k_overlap``, ``chance``.
    """
    if not isinstance(scores, Mapping) or not scores:
        raise TypeError("scores must be a non-empty mapping (label, seed) -> scores")
    rows = []
    n = None
    for (label, seed), s in scores.items():
        arr = _scores(f"scores[{(label, seed)!r}]", s)
        n = arr.size if n is None else n
        if arr.size != n:
            raise ValueError(f"scores[{(label, seed)!r}] has {arr.size} neurons, others {n}")
        if seed in init_scores:
            rows.append(("init vs trained", label, seed, seed, init_scores[seed], arr))
        if label != baseline and (baseline, seed) in scores:
            rows.append(("between methods", label, seed, seed, scores[(baseline, seed)], arr))
    labels = list(dict.fromkeys(lbl for lbl, _ in scores))
    for label in labels:
        seeds = [s for lbl, s in scores if lbl == label]
        for a, b in itertools.combinations(seeds, 2):
            rows.append(("across seeds", label, a, b, scores[(label, a)], scores[(label, b)]))
    k = _check_k(k, n)
    records = [{"comparison": c, "label": lbl, "seed_a": a, "seed_b": b, "kendall_tau": kendall_tau(x, y),
                "top_k_overlap": top_k_overlap(x, y, k), "chance": chance_overlap(n, k)}
               for c, lbl, a, b, x, y in rows]
    return pd.DataFrame(records, columns=["comparison", "label", "seed_a", "seed_b", "kendall_tau", "top_k_overlap", "chance"])


def importance_shift(
    scores: Mapping[tuple[str, int], Tensor | np.ndarray | Sequence[float]],
    *,
    k: int,
    baseline: str = "none",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Does a method change *which* neurons matter, or only *how much*? Per label, over seeds (each
    paired with ``baseline`` of the same seed): ``tau`` and ``overlap`` with the baseline's ranking
    (which), ``concentration`` (share of the total held by the top-k) and ``norm_ratio`` (total
    outgoing weight norm relative to the baseline) (how much). For each quantity ``<q>_mean``,
    ``<q>_std`` and the t interval of the mean over seeds ``<q>_ci_low``/``<q>_ci_high`` at
    ``confidence`` (NaN with one seed; the level is the ``confidence`` column); ``seeds`` counts
    the seeds of each label."""
    if not isinstance(scores, Mapping) or not any(lbl == baseline for lbl, _ in scores):
        raise ValueError(f"baseline={baseline!r} is not among the labels of scores")
    confidence = _check_confidence(confidence)
    rows = []
    for (label, seed), s in scores.items():
        if (baseline, seed) not in scores:
            continue
        base = _scores("baseline", scores[(baseline, seed)])
        arr = _scores("scores", s)
        rows.append({"label": label, "seed": seed, "tau": kendall_tau(base, arr), "overlap": top_k_overlap(base, arr, k),
                     "concentration": top_k_concentration(arr, k), "norm_ratio": float(arr.sum() / base.sum())})
    frame = pd.DataFrame(rows)
    out = []
    for label, group in frame.groupby("label", sort=False):
        row: dict[str, Any] = {"label": label, "seeds": len(group)}
        for q in _SHIFT_QUANTITIES:
            row.update(_interval(q, group[q], confidence))
        row["confidence"] = confidence
        out.append(row)
    return pd.DataFrame(out)


_SHIFT_QUANTITIES = ("tau", "overlap", "concentration", "norm_ratio")
_STABILITY_UNITS = {"init vs trained": "seed", "between methods": "seed", "across seeds": "seed pair"}


def _check_confidence(confidence: float) -> float:
    return check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def _interval(name: str, values: pd.Series | Sequence[float], confidence: float) -> dict[str, float]:
    """``<name>_mean/_std/_ci_low/_ci_high`` of the finite ``values`` (NaN where undefined)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return dict.fromkeys((f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"), float("nan"))
    s = summarize(x, confidence=confidence)
    return {f"{name}_mean": s.mean, f"{name}_std": s.std, f"{name}_ci_low": s.ci_low, f"{name}_ci_high": s.ci_high}


def disjoint_seed_pairs(seeds: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive pairs of the sorted distinct ``seeds``, each seed used once ((s0, s1), (s2, s3), ...;
    an odd one out is left over): comparisons across seeds that share no seed are independent."""
    ordered = sorted(set(int(s) for s in seeds))
    return [(ordered[i], ordered[i + 1]) for i in range(0, len(ordered) - 1, 2)]


def stability_intervals(agreement: pd.DataFrame, *, by: str = "comparison", confidence: float = 0.95) -> pd.DataFrame:
    """Rank stability with confidence intervals over independent units, from ``rank_stability``'s table.

    The unit of ``"init vs trained"`` and ``"between methods"`` is the seed (one initialisation, one
    data order); the unit of ``"across seeds"`` is a seed pair, and only *disjoint* pairs are used
    (``disjoint_seed_pairs``: pairs sharing a seed are not independent), so with three seeds the
    across-seed interval rests on one pair and is NaN. ``by="comparison"``: one row per comparison
    kind, each unit contributing the mean over its labels; ``by="label"``: one row per (kind, label).
    Columns: ``comparison`` (``label``), ``unit``, ``n`` (units), ``rows`` (pairs of the table used),
    ``tau_mean/_std/_ci_low/_ci_high``, ``overlap_mean/_std/_ci_low/_ci_high``, ``chance`` (the
    top-k overlap of unrelated rankings; their tau is 0), ``confidence``. A t interval of a bounded
    quantity (tau, an overlap) from few units can reach beyond its bounds; it is reported as computed.
    """
    needed = ["comparison", "label", "seed_a", "seed_b", "kendall_tau", "top_k_overlap", "chance"]
    if not isinstance(agreement, pd.DataFrame) or any(c not in agreement.columns for c in needed):
        raise ValueError(f"agreement must be the DataFrame of rank_stability with columns {needed}")
    by = check_choice("by", by, ("comparison", "label"))
    confidence = _check_confidence(confidence)
    frame = agreement.copy()
    across = frame["comparison"] == "across seeds"
    keep = set(disjoint_seed_pairs(frame.loc[across, ["seed_a", "seed_b"]].to_numpy().ravel()))
    pair = [tuple(sorted((int(a), int(b)))) for a, b in zip(frame["seed_a"], frame["seed_b"])]
    frame["unit"] = [p if c else p[0] for p, c in zip(pair, across)]
    frame = frame[~across | pd.Series([p in keep for p in pair], index=frame.index)]
    keys = ["comparison"] if by == "comparison" else ["comparison", "label"]
    rows = []
    for key, group in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        units = group.groupby("unit", sort=False)[["kendall_tau", "top_k_overlap"]].mean()
        row: dict[str, Any] = dict(zip(keys, key))
        row.update(unit=_STABILITY_UNITS.get(key[0], "seed"), n=len(units), rows=len(group))
        row.update(_interval("tau", units["kendall_tau"], confidence))
        row.update(_interval("overlap", units["top_k_overlap"], confidence))
        row.update(chance=float(group["chance"].iloc[0]), confidence=confidence)
        rows.append(row)
    tail = ["unit", "n", "rows", *(f"{q}_{s}" for q in ("tau", "overlap") for s in ("mean", "std", "ci_low", "ci_high")),
            "chance", "confidence"]
    return pd.DataFrame(rows, columns=[*keys, *tail])


def identical_conditions(scores: Mapping[tuple[str, int], Tensor | np.ndarray | Sequence[float]]) -> dict[str, str]:
    """Labels whose scores equal an earlier label's on every seed, bit for bit (e.g. ``dropout2d`` and
    ``standard`` on an MLP, where a channel is one neuron): label -> the first such earlier label.
    A duplicate is one experiment, not two; the conclusion reports it once."""
    if not isinstance(scores, Mapping) or not scores:
        raise TypeError("scores must be a non-empty mapping (label, seed) -> scores")
    by_label: dict[str, dict[int, np.ndarray]] = {}
    for (label, seed), s in scores.items():
        by_label.setdefault(label, {})[seed] = _scores(f"scores[{(label, seed)!r}]", s)
    labels = list(by_label)
    out: dict[str, str] = {}
    for j, label in enumerate(labels):
        for earlier in labels[:j]:
            a, b = by_label[label], by_label[earlier]
            if earlier not in out and set(a) == set(b) and all(np.array_equal(a[s], b[s]) for s in a):
                out[label] = earlier
                break
    return out
