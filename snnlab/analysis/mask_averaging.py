"""Why per-step dropout masks do little in an SNN: the variance argument, measured (issue 12, item 4).

A membrane integrates its input over time. A mask drawn anew at every step (``standard``) is
averaged by that integration, so its noise in the membrane shrinks with the number of steps the
membrane effectively sums; a mask held over the window (a ``time_consistent`` method such as
``temporal``) multiplies the whole window's input by one factor and is not averaged at all. Three
views of the same effect, each a tidy ``pandas.DataFrame``:

- ``noise_table``: the variance argument in closed form (``relative_noise``, ``effective_steps``,
  ``equivalent_consistent_p``; derivation in ``relative_noise``);
- ``measure_lif_noise``: the registry's dropout modules in front of a real ``LIF`` layer (no
  training): the membrane noise, the firing-rate change and the spike-count variability across
  mask draws, next to the prediction;
- ``measure_training``: ``SpikingMLP`` trained with ``snnlab.train.fit`` with each mask kind on a
  small (T, p) grid: training loss and hidden firing.

``noise_sentences`` and ``training_sentences`` turn the measured frames into sentences whose
every number comes from the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from snnlab.data import DATASETS, load_dataset
from snnlab.device import resolve_device
from snnlab.dropout import LayerContext, available, make_dropout, method_info
from snnlab.models import SpikingMLP
from snnlab.neurons import LIF, LeakyIntegrator
from snnlab.train import fit
from snnlab.validation import check_choice, check_float, check_frame, check_int

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency
    tqdm = None

SUMMARIES = ("final", "mean")  # the membrane at the last step, or its time mean (what the readout's logits are)
MASK_KINDS = ("per_step", "consistent")
PER_STEP_METHOD = "standard"  # the classic dropout migrated as-is (docs/design.md)

NOISE_COLUMNS = (
    "T", "p", "method", "label", "time_consistent", "beta", "summary", "threshold", "draws", "n_neurons",
    "effective_steps", "predicted_noise", "predicted_equivalent_p", "membrane_noise", "membrane_noise_se",
    "equivalent_p", "rate_base", "rate", "rate_change", "count_cv",
)
TRAINING_COLUMNS = (
    "dataset", "T", "p", "method", "label", "time_consistent", "seed", "hidden", "epochs", "train_loss", "train_acc",
    "test_loss", "test_acc", "firing_rate", "diverged", "seconds", "effective_steps", "equivalent_p",
)


# ----------------------------------------------------------------------------- argument checks
def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sequence(name: str, values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence (list, tuple or array), got {type(values).__name__} ({values!r})")
    out = [_scalar(v) for v in values]
    if not out:
        raise ValueError(f"{name} is empty; give at least one value")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={out} holds a value twice; give each value once")
    return out


def check_T_values(name: str, values: Any) -> list[int]:
    """A non-empty grid of distinct time-step counts, each an integer >= 1."""
    return [check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(_sequence(name, values))]


def check_p_values(name: str, values: Any) -> list[float]:
    """A non-empty grid of distinct drop rates, each in [0, 1)."""
    return [check_float(f"{name}[{i}]", v, low=0.0, high=1.0, high_inclusive=False)
            for i, v in enumerate(_sequence(name, values))]


def _check_beta(beta: Any) -> float:
    return check_float("beta", _scalar(beta), low=0.0, high=1.0)


def _check_rate(rate: Any) -> float:
    return check_float("rate", _scalar(rate), low=0.0, high=1.0)


def _mask_kind(method: str) -> str:
    return "consistent" if method_info(method).time_consistent else "per_step"


def check_methods(methods: Sequence[str] | None) -> list[str]:
    """The dropout methods to compare (``None``: ``default_methods()``): registered keys that act on
    spikes and need nothing but them (no membrane, no weight), and support inverted rescaling."""
    if methods is None:
        return list(default_methods())
    keys = _sequence("methods", methods)
    for i, key in enumerate(keys):
        if not isinstance(key, str):
            raise TypeError(f"methods[{i}] must be a dropout method key (str), got {type(key).__name__} ({key!r})")
        info = method_info(key)  # ValueError listing the registry's keys
        if info.family == "baseline" or info.acts_on != "spikes" or info.membrane is not None or info.needs_weight \
                or "inverted" not in info.rescale:
            raise ValueError(
                f"methods[{i}]={key!r} cannot be compared here: the mask-averaging measurement needs a method that "
                f"drops spikes with inverted rescaling and reads nothing else (no membrane, no weight); e.g. "
                f"{', '.join(map(repr, default_methods()))}"
            )
    return keys


def default_methods() -> tuple[str, str]:
    """``(per-step method, time-consistent method)``: ``standard`` and the first registered method whose
    metadata says ``time_consistent`` and that needs only the spikes (``temporal`` in this registry)."""
    for key in available():
        info = method_info(key)
        if (info.time_consistent and info.family != "baseline" and info.acts_on == "spikes" and info.membrane is None
                and not info.needs_weight and not info.probability_map and "inverted" in info.rescale):
            return PER_STEP_METHOD, key
    raise ValueError("no registered dropout method is time-consistent and needs only the spikes; "
                     f"registered: {', '.join(available())}")


# ----------------------------------------------------------------------------- the variance argument
def leak_weights(T: int, beta: float, *, summary: str = "final") -> np.ndarray:
    """How much the input at each step ``s = 0..T-1`` counts in the membrane summary (no reset).

    ``final``: ``w_s = beta^(T-1-s)`` (the potential at the last step); ``mean``:
    ``w_s = (1/T) sum_{t=s}^{T-1} beta^(t-s)`` (the time-mean potential, the readout's logits).
    """
    T = check_int("T", T, minimum=1)
    beta = _check_beta(beta)
    check_choice("summary", summary, SUMMARIES)
    powers = beta ** np.arange(T, dtype=np.float64)  # 0.0 ** 0 == 1: beta = 0 is a memoryless neuron
    if summary == "final":
        return powers[::-1].copy()
    return np.cumsum(powers)[::-1] / T


def effective_steps(T: int, beta: float, *, summary: str = "final", rate: float = 1.0) -> float:
    """The number of independent mask draws a per-step mask is averaged over in the membrane summary.

    ``N = (sum w)^2 / sum w^2`` for an input present at every step (``rate=1``): T for a perfect
    integrator (``beta=1``), 1 for a memoryless neuron (``beta=0``), ``(1+beta)/(1-beta)`` for a long
    window at the last step. For inputs that are spike trains firing with probability ``rate`` per
    step, ``N_r = (1 - rate) + rate * N``: a per-step mask is averaged over the spikes that arrive,
    not over the steps (one spike in the window is dropped or kept whatever the mask). See
    ``relative_noise``.
    """
    w = leak_weights(T, beta, summary=summary)
    rate = _check_rate(rate)
    n = float(w.sum() ** 2 / np.square(w).sum())
    return (1.0 - rate) + rate * n


def relative_noise(p: float, T: int, beta: float, *, mask: str, summary: str = "final", rate: float = 1.0) -> float:
    """The standard deviation of the membrane summary over mask draws, relative to its mean.

    The derivation. Input ``x_s >= 0`` at steps ``s = 0..T-1``, keep mask ``m_s ~ Bernoulli(q)``,
    ``q = 1 - p``, inverted rescaling ``1/q``. Without a reset the membrane summary is linear,
    ``V = sum_s w_s x_s m_s / q`` (weights: ``leak_weights``), and ``E[m/q] = 1``, ``Var(m/q) = p/q``:

    - per-step (``m_s`` independent): ``Var V = (p/q) sum_s w_s^2 x_s^2``, so
      ``Var V / (E V)^2 = (p/q) / N`` with ``N = (sum w x)^2 / sum w^2 x^2``; for an input present at
      every step ``N = (sum w)^2 / sum w^2`` (``effective_steps``);
    - time-consistent (``m_s = m``): ``V = (m/q) sum_s w_s x_s``, so ``Var V / (E V)^2 = p/q``, whatever T.

    Hence per-step noise = time-consistent noise ``/ sqrt(N)``, and a per-step mask at ``p`` has the
    noise of a time-consistent mask at ``p'`` with ``p'/(1-p') = p/((1-p) N)``: ``p' = p / (p + (1-p) N)``
    (``equivalent_consistent_p``). With spike-train inputs (``x_s`` Bernoulli with probability
    ``rate``, summed over a fan-in of many of them) ``E sum w^2 x = rate sum w^2`` and
    ``E (sum w x)^2 = rate (1-rate) sum w^2 + rate^2 (sum w)^2``, so ``N_r = (1-rate) + rate N``.
    A fan-in of K independent inputs scales both variances by the same factor
    ``sum_k (W_k a_k)^2 / (sum_k W_k a_k)^2``; the values here are for one input (fan-in 1), the ratio
    and ``p'`` hold for any fan-in.
    """
    p = check_float("p", _scalar(p), low=0.0, high=1.0, high_inclusive=False)
    check_choice("mask", mask, MASK_KINDS)
    n = effective_steps(T, beta, summary=summary, rate=rate)
    variance = p / (1.0 - p)
    return math.sqrt(variance if mask == "consistent" else variance / n)


def consistent_p_for_noise(noise: float) -> float:
    """The drop rate of a time-consistent mask whose relative membrane noise is ``noise``:
    ``p/(1-p) = noise^2``, so ``p = noise^2 / (1 + noise^2)``."""
    noise = check_float("noise", _scalar(noise), low=0.0)
    return noise**2 / (1.0 + noise**2)


def equivalent_consistent_p(p: float, T: int, beta: float, *, summary: str = "final", rate: float = 1.0) -> float:
    """The time-consistent drop rate with the membrane noise of a per-step mask at ``p``:
    ``p / (p + (1-p) N)`` (see ``relative_noise``)."""
    return consistent_p_for_noise(relative_noise(p, T, beta, mask="per_step", summary=summary, rate=rate))


def noise_table(T_values: Sequence[int], p_values: Sequence[float], *, beta: float = 0.9, summary: str = "final",
                rate: float = 1.0) -> pd.DataFrame:
    """The variance argument on a grid: one row per (T, p, mask kind) with columns ``T``, ``p``, ``mask``
    (``per_step``/``consistent``), ``effective_steps`` (N), ``noise`` (relative std of the membrane
    summary) and ``equivalent_p`` (the time-consistent rate with that noise; ``p`` itself for ``consistent``)."""
    Ts = check_T_values("T_values", T_values)
    ps = check_p_values("p_values", p_values)
    rows = []
    for T in Ts:
        n = effective_steps(T, beta, summary=summary, rate=rate)
        for p in ps:
            for mask in MASK_KINDS:
                noise = relative_noise(p, T, beta, mask=mask, summary=summary, rate=rate)
                rows.append({"T": T, "p": p, "mask": mask, "effective_steps": n, "noise": noise,
                             "equivalent_p": consistent_p_for_noise(noise)})
    return pd.DataFrame(rows, columns=["T", "p", "mask", "effective_steps", "noise", "equivalent_p"])


# ----------------------------------------------------------------------------- measured on a LIF layer
def _cell_seeds(seed: int, n: int) -> list[int]:
    gen = torch.Generator().manual_seed(seed)
    return [int(v) for v in torch.randint(0, 2**62, (n,), generator=gen)]


@torch.no_grad()
def measure_lif_noise(
    T_values: Sequence[int] = (5, 10, 25, 50, 100),
    p_values: Sequence[float] = (0.1, 0.3, 0.5),
    *,
    methods: Sequence[str] | None = None,
    beta: float = 0.9,
    threshold: float = 1.0,
    currents: Sequence[float] | None = None,
    draws: int = 256,
    summary: str = "final",
    seed: int = 0,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """Drop a fixed input current with each method's module, feed it to a real ``LIF`` layer, and
    measure what the masks do, next to the variance argument (no training).

    Where the mask sits: on the LIF layer's *input*, which is where a model's dropout slot acts for
    the layer above it (a block drops its spikes before the next synapse). Neuron ``n`` receives a
    constant input ``currents[n]`` at every step (fan-in 1: the setting of ``relative_noise``, whose
    ratio and equivalent p hold for any fan-in); the ``[T, draws, neurons]`` input goes through
    ``make_dropout(method, p)`` in training mode as a ``LayerContext``, the batch axis holding
    ``draws`` independent mask draws of the same input.

    One row per (T, p, method); columns:
    ``T``, ``p``, ``method``, ``label`` (registry), ``time_consistent`` (registry), ``beta``, ``summary``,
    ``threshold``, ``draws``, ``n_neurons``;
    ``effective_steps``, ``predicted_noise``, ``predicted_equivalent_p``: the variance argument;
    ``membrane_noise``: measured relative std over draws of the membrane summary (``LeakyIntegrator``
    with the LIF's beta, i.e. the LIF's membrane without reset; ``summary`` = last step or time mean),
    pooled over neurons as ``sqrt(mean((V/V0 - 1)^2))`` with ``V0`` the undropped run;
    ``membrane_noise_se``: its standard error (delta method from the pooled second and fourth moments);
    ``equivalent_p``: the time-consistent rate with the measured noise (``consistent_p_for_noise``);
    ``rate_base`` / ``rate``: the LIF's firing probability per step and neuron without / with dropout
    (mean over draws); ``rate_change``: ``rate / rate_base - 1`` (NaN when the undropped layer is silent);
    ``count_cv``: the spike count's coefficient of variation over draws, averaged over the neurons that
    fire on average (NaN when none does).

    ``currents`` default: 16 levels from 0.15 to 0.6 times ``threshold``.
    """
    Ts = check_T_values("T_values", T_values)
    ps = check_p_values("p_values", p_values)
    keys = check_methods(methods)
    beta = _check_beta(beta)
    threshold = check_float("threshold", _scalar(threshold), low=0.0, low_inclusive=False)
    draws = check_int("draws", draws, minimum=2)
    check_choice("summary", summary, SUMMARIES)
    seed = check_int("seed", seed, minimum=0)
    if currents is None:
        levels = (np.linspace(0.15, 0.6, 16) * threshold).tolist()
    else:
        levels = [check_float(f"currents[{i}]", _scalar(v), low=0.0, low_inclusive=False)
                  for i, v in enumerate(_sequence_allow_repeats("currents", currents))]
    dev = resolve_device(device)
    lif = LIF(beta, threshold=threshold).to(dev)
    integrator = LeakyIntegrator(beta)  # on the CPU in float64 (MPS has none): exact zeros at p = 0
    seeds = iter(_cell_seeds(seed, len(Ts) * len(ps) * len(keys)))
    rows = []
    for T in Ts:
        x = torch.tensor(levels, dtype=torch.float32, device=dev).expand(T, draws, len(levels)).contiguous()
        v0 = _summary(integrator.run(_cpu64(x[:, :1]), trace=True).trace, summary)  # [1, N]
        base_spikes = lif.run(x[:, :1]).spikes
        rate_base = float(base_spikes.mean())
        for p in ps:
            for key in keys:
                info = method_info(key)
                drop = make_dropout(key, p, seed=next(seeds)).to(dev).train()
                dropped = drop(LayerContext(x))
                e = (_summary(integrator.run(_cpu64(dropped), trace=True).trace, summary) / v0 - 1.0).flatten()
                m2, m4 = float(e.square().mean()), float(e.pow(4).mean())
                noise = math.sqrt(m2)
                se = math.sqrt(max(m4 - m2 * m2, 0.0) / e.numel()) / (2.0 * noise) if noise > 0 else 0.0
                spikes = lif.run(dropped).spikes
                rate = float(spikes.mean())
                counts = spikes.sum(0).double()  # [draws, N]
                mean_count, std_count = counts.mean(0), counts.std(0)
                firing = mean_count > 0
                kind = _mask_kind(key)
                predicted = relative_noise(p, T, beta, mask=kind, summary=summary)
                rows.append({
                    "T": T, "p": p, "method": key, "label": info.label, "time_consistent": info.time_consistent,
                    "beta": beta, "summary": summary, "threshold": threshold, "draws": draws, "n_neurons": len(levels),
                    "effective_steps": effective_steps(T, beta, summary=summary), "predicted_noise": predicted,
                    "predicted_equivalent_p": consistent_p_for_noise(predicted), "membrane_noise": noise,
                    "membrane_noise_se": se, "equivalent_p": consistent_p_for_noise(noise), "rate_base": rate_base,
                    "rate": rate, "rate_change": rate / rate_base - 1.0 if rate_base > 0 else math.nan,
                    "count_cv": float((std_count[firing] / mean_count[firing]).mean()) if bool(firing.any()) else math.nan,
                })
    return pd.DataFrame(rows, columns=list(NOISE_COLUMNS))


def _sequence_allow_repeats(name: str, values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence (list, tuple or array), got {type(values).__name__} ({values!r})")
    if len(values) == 0:
        raise ValueError(f"{name} is empty; give at least one value")
    return list(values)


def _cpu64(x: torch.Tensor) -> torch.Tensor:
    return x.detach().to("cpu", torch.float64)


def _summary(trace: torch.Tensor, summary: str) -> torch.Tensor:
    return trace[-1] if summary == "final" else trace.mean(0)


# ----------------------------------------------------------------------------- measured in training
def measure_training(
    T_values: Sequence[int] = (4, 8, 16, 32),
    p_values: Sequence[float] = (0.1, 0.3, 0.5),
    *,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1),
    baseline: bool = True,
    dataset: str = "digits",
    hidden: int = 128,
    epochs: int = 8,
    train_subset: int | None = None,
    test_subset: int | None = None,
    lr: float = 2e-3,
    batch_size: int = 64,
    output_beta: float = 0.9,
    data_root: str | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> pd.DataFrame:
    """Train a one-hidden-layer ``SpikingMLP`` (LIF, direct encoding, dropout on the hidden spikes)
    with ``snnlab.train.fit`` for every (T, p, method, seed), plus a no-dropout run per (T, seed) when
    ``baseline``; the default grid takes about 30 s on two CPU cores (digits, 8 epochs).

    Runs of one seed share the initial weights and the batch order (paired). One row per run; columns:
    ``dataset``, ``T``, ``p``, ``method``, ``label`` and ``time_consistent`` (registry), ``seed``, ``hidden``,
    ``epochs``; the last epoch's ``train_loss``/``train_acc`` (train mode: dropout active, averaged over
    the epoch's batches), ``test_loss``/``test_acc`` (eval mode), ``firing_rate`` (the hidden layer's
    firing probability per step on the test set, eval mode), ``diverged``, ``seconds`` (training time);
    ``effective_steps``: how many independent draws the readout (a leaky integrator with
    ``output_beta`` whose time mean is the logits) averages a per-step mask over, at the measured
    firing rate (``effective_steps(T, output_beta, summary="mean", rate=firing_rate)``);
    ``equivalent_p``: the time-consistent rate with the same noise in the logits (``p`` for
    time-consistent methods, 0 for the baseline).
    """
    Ts = check_T_values("T_values", T_values)
    ps = check_p_values("p_values", p_values)
    keys = check_methods(methods)
    seed_list = [check_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(_sequence("seeds", seeds))]
    if not isinstance(baseline, bool):
        raise TypeError(f"baseline must be True or False, got {type(baseline).__name__} ({baseline!r})")
    check_choice("dataset", dataset, DATASETS)
    hidden = check_int("hidden", hidden, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    output_beta = _check_beta(output_beta)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {type(progress).__name__} ({progress!r})")
    dev = resolve_device(device)
    train = load_dataset(dataset, "train", root=data_root, subset=train_subset, device=dev, progress=progress)
    test = load_dataset(dataset, "test", root=data_root, subset=test_subset, device=dev, progress=progress)
    runs = [(T, 0.0, "none", s) for T in Ts for s in seed_list] if baseline else []
    runs += [(T, p, key, s) for T in Ts for p in ps for key in keys for s in seed_list]
    bar = tqdm(runs, desc="mask averaging: training", unit="run", leave=False) if progress and tqdm is not None else runs
    rows = []
    for T, p, key, s in bar:
        model = SpikingMLP((train.n_features, hidden, train.n_classes), T=T, dropout=key, p=p,
                           output_beta=output_beta, seed=s)
        history = fit(model, train, test, epochs=epochs, lr=lr, batch_size=batch_size, seed=s, device=dev,
                      progress=False)
        final = history.final
        info = method_info(key)
        rate = float(final.get("rate_hidden1", math.nan))
        if key == "none":
            n_eff, p_eq = math.nan, 0.0
        elif math.isnan(rate):
            n_eff, p_eq = math.nan, math.nan
        else:
            n_eff = effective_steps(T, output_beta, summary="mean", rate=rate)
            p_eq = p if info.time_consistent else equivalent_consistent_p(p, T, output_beta, summary="mean", rate=rate)
        rows.append({
            "dataset": dataset, "T": T, "p": p, "method": key, "label": info.label,
            "time_consistent": info.time_consistent, "seed": s, "hidden": hidden, "epochs": len(history.records),
            "train_loss": float(final.get("train_loss", math.nan)), "train_acc": float(final.get("train_acc", math.nan)),
            "test_loss": float(final.get("test_loss", math.nan)), "test_acc": float(final.get("test_acc", math.nan)),
            "firing_rate": rate, "diverged": bool(history.diverged),
            "seconds": float(final.get("total_seconds", 0.0)), "effective_steps": n_eff, "equivalent_p": p_eq,
        })
    return pd.DataFrame(rows, columns=list(TRAINING_COLUMNS))


# ----------------------------------------------------------------------------- sentences
def _pair(name: str, frame: pd.DataFrame) -> tuple[str, str]:
    """The first per-step and the first time-consistent method of ``frame`` (baselines skipped)."""
    rows = frame[frame["method"].map(lambda k: method_info(k).family != "baseline")]
    per_step = rows.loc[~rows["time_consistent"].astype(bool), "method"]
    consistent = rows.loc[rows["time_consistent"].astype(bool), "method"]
    if per_step.empty or consistent.empty:
        raise ValueError(f"{name} must hold a per-step and a time-consistent method to compare; "
                         f"it has {sorted(rows['method'].unique())}")
    return str(per_step.iloc[0]), str(consistent.iloc[0])


def _pick(name: str, frame: pd.DataFrame, column: str, value: Any, rows: pd.DataFrame) -> Any:
    """``value`` if ``rows[column]`` holds it, else (``None``) the largest value there."""
    present = sorted(rows[column].unique())
    if value is None:
        return present[-1]
    value = check_int(column, value, minimum=1) if column == "T" else check_float(column, _scalar(value))
    if not any(np.isclose(value, v) for v in present):
        raise ValueError(f"{column}={value!r} is not in {name}; it has {column} in {[_scalar(v) for v in present]}")
    return next(v for v in present if np.isclose(value, v))


def _cell(frame: pd.DataFrame, method: str, T: Any, p: Any, column: str) -> float:
    sub = frame[(frame["method"] == method) & (frame["T"] == T) & np.isclose(frame["p"], p)]
    return float(sub[column].mean()) if not sub.empty else math.nan


def noise_sentences(frame: pd.DataFrame, *, T: int | None = None, p: float | None = None) -> list[str]:
    """Sentences about a ``measure_lif_noise`` frame, every number read from it.

    ``T`` and ``p`` pick the cell the first and third sentences speak about (default: the largest of
    each); the second follows the per-step and time-consistent noise over every T of the frame at ``p``.
    """
    check_frame("frame", frame, ["T", "p", "method", "time_consistent", "membrane_noise", "predicted_noise",
                              "equivalent_p", "predicted_equivalent_p", "rate_change", "count_cv"])
    ps_key, tc_key = _pair("frame", frame)
    both = frame[frame["method"].isin([ps_key, tc_key])]
    T = _pick("frame", frame, "T", T, both)
    p = _pick("frame", frame, "p", p, both)
    ps_label, tc_label = method_info(ps_key).label, method_info(tc_key).label

    def val(key: str, t: Any, column: str) -> float:
        return _cell(both, key, t, p, column)

    ratio = val(ps_key, T, "membrane_noise") / val(tc_key, T, "membrane_noise")
    pred_ratio = val(ps_key, T, "predicted_noise") / val(tc_key, T, "predicted_noise")
    out = [
        f"At T={T} and p={p:g}, per-step masks ({ps_label}) leave the membrane noise at {ratio:.2f} of the "
        f"time-consistent mask's ({tc_label}); that is the noise of a time-consistent dropout at "
        f"p={val(ps_key, T, 'equivalent_p'):.2g} (the variance argument predicts {pred_ratio:.2f} and "
        f"p={val(ps_key, T, 'predicted_equivalent_p'):.2g})."
    ]
    Ts = sorted(both.loc[np.isclose(both["p"], p), "T"].unique())
    if len(Ts) > 1:
        lo, hi = Ts[0], Ts[-1]
        out.append(
            f"From T={lo} to T={hi} at p={p:g}, the per-step noise falls from {val(ps_key, lo, 'membrane_noise'):.3f} "
            f"to {val(ps_key, hi, 'membrane_noise'):.3f} (predicted {val(ps_key, lo, 'predicted_noise'):.3f} to "
            f"{val(ps_key, hi, 'predicted_noise'):.3f}), while the time-consistent noise is "
            f"{val(tc_key, lo, 'membrane_noise'):.3f} at T={lo} and {val(tc_key, hi, 'membrane_noise'):.3f} at T={hi} "
            f"(predicted {val(tc_key, hi, 'predicted_noise'):.3f} at every T)."
        )
    out.append(
        f"At T={T} and p={p:g}, per-step masks change the LIF layer's firing rate by "
        f"{val(ps_key, T, 'rate_change'):+.1%} and its spike count varies by {val(ps_key, T, 'count_cv'):.2f} "
        f"(coefficient of variation over mask draws); the time-consistent mask changes the rate by "
        f"{val(tc_key, T, 'rate_change'):+.1%} with a variation of {val(tc_key, T, 'count_cv'):.2f}."
    )
    return out


def training_sentences(frame: pd.DataFrame, *, T: int | None = None, p: float | None = None) -> list[str]:
    """Sentences about a ``measure_training`` frame (means over its seeds), every number read from it.

    ``T`` and ``p`` pick the cell (default: the largest of each among the dropout runs); the
    no-dropout runs of that T, when present, are the reference.
    """
    check_frame("frame", frame, ["T", "p", "method", "time_consistent", "seed", "train_loss", "firing_rate",
                              "effective_steps", "equivalent_p"])
    ps_key, tc_key = _pair("frame", frame)
    both = frame[frame["method"].isin([ps_key, tc_key])]
    T = _pick("frame", frame, "T", T, both)
    p = _pick("frame", frame, "p", p, both)
    base = frame[(frame["T"] == T) & frame["method"].map(lambda k: method_info(k).family == "baseline")]
    n_seeds = both.loc[(both["T"] == T) & np.isclose(both["p"], p), "seed"].nunique()
    loss_ps, loss_tc = _cell(both, ps_key, T, p, "train_loss"), _cell(both, tc_key, T, p, "train_loss")
    rate_ps, rate_tc = _cell(both, ps_key, T, p, "firing_rate"), _cell(both, tc_key, T, p, "firing_rate")
    seeds = f"mean over {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    out = []
    if base.empty:
        out.append(f"At T={T} and p={p:g}, the final training loss is {loss_ps:.3f} with per-step masks and "
                   f"{loss_tc:.3f} with the time-consistent mask ({seeds}).")
        out.append(f"Hidden firing after training: {rate_ps:.3f} with per-step masks, {rate_tc:.3f} with the "
                   f"time-consistent mask.")
    else:
        loss0, rate0 = float(base["train_loss"].mean()), float(base["firing_rate"].mean())
        out.append(f"At T={T} and p={p:g}, the final training loss is {loss0:.3f} without dropout, {loss_ps:.3f} with "
                   f"per-step masks ({loss_ps / loss0:.2f}×) and {loss_tc:.3f} with the time-consistent mask "
                   f"({loss_tc / loss0:.2f}×) ({seeds}).")
        out.append(f"Hidden firing after training: {rate0:.3f} without dropout, {rate_ps:.3f} with per-step masks "
                   f"({rate_ps / rate0 - 1.0:+.0%}) and {rate_tc:.3f} with the time-consistent mask "
                   f"({rate_tc / rate0 - 1.0:+.0%}).")
    out.append(f"At that firing rate the readout averages a per-step mask over "
               f"{_cell(both, ps_key, T, p, 'effective_steps'):.1f} effective draws, so per-step dropout at p={p:g} "
               f"puts the noise of a time-consistent dropout at p={_cell(both, ps_key, T, p, 'equivalent_p'):.2g} "
               f"into the logits.")
    return out


__all__ = [
    "MASK_KINDS", "NOISE_COLUMNS", "SUMMARIES", "TRAINING_COLUMNS", "check_T_values", "check_methods",
    "check_p_values", "consistent_p_for_noise", "default_methods", "effective_steps", "equivalent_consistent_p",
    "leak_weights", "measure_lif_noise", "measure_training", "noise_sentences", "noise_table", "relative_noise",
    "training_sentences",
]
