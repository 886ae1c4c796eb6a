"""``snnlab/analysis/mask_averaging.py``: the variance argument against Monte Carlo, the LIF measurement,
the training measurement at smoke size, the sentences and the argument checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from snnlab.analysis import mask_averaging as ma
from snnlab.dropout import method_info

SE_BOUND = 5.0  # a Monte Carlo estimate must lie within 5 standard errors of the closed form


# ----------------------------------------------------------------------------- the closed form by hand
def test_leak_weights_and_effective_steps_by_hand() -> None:
    np.testing.assert_allclose(ma.leak_weights(4, 0.5), [0.125, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(ma.leak_weights(3, 0.5, summary="mean"), [1.75 / 3, 1.5 / 3, 1.0 / 3])
    assert ma.effective_steps(7, 1.0) == pytest.approx(7.0)  # a perfect integrator sums every step
    assert ma.effective_steps(7, 0.0) == pytest.approx(1.0)  # a memoryless neuron sees the last step only
    assert ma.effective_steps(7, 0.0, summary="mean") == pytest.approx(7.0)  # ... but its time mean sees them all
    assert ma.effective_steps(2000, 0.9) == pytest.approx(1.9 / 0.1)  # (1 + beta) / (1 - beta) for a long window
    n = ma.effective_steps(25, 0.9)
    assert ma.effective_steps(25, 0.9, rate=0.2) == pytest.approx(0.8 + 0.2 * n)
    assert ma.effective_steps(25, 0.9, rate=0.0) == pytest.approx(1.0)  # nothing arrives: nothing to average


def test_relative_noise_and_equivalent_p_by_hand() -> None:
    p, T, beta = 0.3, 25, 0.9
    consistent = ma.relative_noise(p, T, beta, mask="consistent")
    per_step = ma.relative_noise(p, T, beta, mask="per_step")
    assert consistent == pytest.approx(math.sqrt(p / (1 - p)))
    assert per_step == pytest.approx(consistent / math.sqrt(ma.effective_steps(T, beta)))
    p_eq = ma.equivalent_consistent_p(p, T, beta)
    assert p_eq == pytest.approx(p / (p + (1 - p) * ma.effective_steps(T, beta)))
    assert ma.relative_noise(p_eq, T, beta, mask="consistent") == pytest.approx(per_step)  # same noise, by definition
    assert ma.equivalent_consistent_p(p, 1, beta) == pytest.approx(p)  # one step: nothing to average
    assert ma.relative_noise(0.0, T, beta, mask="per_step") == 0.0


def _mc_relative_variance(p: float, w: np.ndarray, mask: str, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Monte Carlo of ``Var V / (E V)^2`` for a constant input: the estimate and its standard error."""
    q = 1.0 - p
    shape = (samples, 1) if mask == "consistent" else (samples, len(w))
    m = (rng.random(shape) >= p) / q
    v = (m * w).sum(axis=1) if mask == "per_step" else m[:, 0] * w.sum()
    e2 = np.square(v / w.sum() - 1.0)  # E V = sum w exactly (inverted rescaling)
    return float(e2.mean()), float(e2.std(ddof=1) / math.sqrt(samples))


@pytest.mark.parametrize("mask", ma.MASK_KINDS)
@pytest.mark.parametrize(("T", "beta", "summary", "p"), [
    (1, 0.9, "final", 0.5), (10, 0.9, "final", 0.3), (40, 0.8, "final", 0.5), (30, 0.95, "mean", 0.2), (12, 0.0, "mean", 0.4),
])
def test_relative_noise_matches_monte_carlo(mask: str, T: int, beta: float, summary: str, p: float) -> None:
    rng = np.random.default_rng(1000 * T + int(100 * p))
    est, se = _mc_relative_variance(p, ma.leak_weights(T, beta, summary=summary), mask, 40_000, rng)
    predicted = ma.relative_noise(p, T, beta, mask=mask, summary=summary) ** 2
    assert abs(est - predicted) <= SE_BOUND * se + 1e-12, (est, predicted, se)


@pytest.mark.parametrize(("rate", "T", "beta", "summary"), [(0.1, 25, 0.9, "final"), (0.3, 16, 0.9, "mean"), (0.6, 8, 1.0, "final")])
def test_spike_train_inputs_average_over_spikes_not_steps(rate: float, T: int, beta: float, summary: str) -> None:
    """Over a fan-in of K Bernoulli spike trains the per-step / time-consistent variance ratio is 1/N_rate.

    Given the spike trains the mask variances are exact: per-step ``(p/q) sum_k sum_t w_t^2 s_kt``,
    time-consistent ``(p/q) sum_k (sum_t w_t s_kt)^2``; the Monte Carlo is over the K spike trains, and
    the tolerance comes from the delta method on the ratio of the two sums.
    """
    K = 50_000
    rng = np.random.default_rng(7)
    w = ma.leak_weights(T, beta, summary=summary)
    s = rng.random((K, T)) < rate
    a = (s * w**2).sum(axis=1)  # per input: the per-step mask's variance (times q/p)
    b = np.square((s * w).sum(axis=1))  # per input: the time-consistent mask's variance (times q/p)
    ratio = a.mean() / b.mean()
    se = np.std(a - ratio * b, ddof=1) / math.sqrt(K) / b.mean()
    assert abs(ratio - 1.0 / ma.effective_steps(T, beta, summary=summary, rate=rate)) <= SE_BOUND * se


def test_noise_table() -> None:
    table = ma.noise_table((1, 5, 50), (0.2, 0.5))
    assert list(table.columns) == ["T", "p", "mask", "effective_steps", "noise", "equivalent_p"]
    assert len(table) == 3 * 2 * 2
    per_step = table[(table["mask"] == "per_step") & (table["p"] == 0.5)].sort_values("T")
    consistent = table[(table["mask"] == "consistent") & (table["p"] == 0.5)]
    assert np.all(np.diff(per_step["noise"]) < 0)  # averaged over more steps
    np.testing.assert_allclose(consistent["noise"], 1.0)  # sqrt(p / (1 - p)) at every T
    np.testing.assert_allclose(consistent["equivalent_p"], 0.5)
    assert per_step["equivalent_p"].iloc[0] == pytest.approx(0.5) and per_step["equivalent_p"].iloc[-1] < 0.06


# ----------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"T_values": []}, ValueError, "T_values is empty"),
    ({"T_values": (4, 0)}, ValueError, r"T_values\[1\]=0"),
    ({"T_values": (4, 4)}, ValueError, "T_values.*twice"),
    ({"T_values": 4}, TypeError, "T_values must be a sequence"),
    ({"T_values": (2.5,)}, TypeError, r"T_values\[0\]"),
    ({"p_values": ()}, ValueError, "p_values is empty"),
    ({"p_values": (0.2, 1.0)}, ValueError, r"p_values\[1\]=1.0"),
    ({"p_values": (-0.1,)}, ValueError, r"p_values\[0\]"),
    ({"beta": 1.5}, ValueError, "beta"),
    ({"summary": "last"}, ValueError, "summary"),
])
def test_grids_are_validated(kwargs: dict, error: type, match: str) -> None:
    args = {"T_values": (2, 4), "p_values": (0.3,)} | kwargs
    with pytest.raises(error, match=match):
        ma.noise_table(args.pop("T_values"), args.pop("p_values"), **args)


def test_scalar_and_method_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="mask"):
        ma.relative_noise(0.3, 5, 0.9, mask="fresh")
    with pytest.raises(ValueError, match="rate"):
        ma.effective_steps(5, 0.9, rate=1.5)
    with pytest.raises(ValueError, match="T=0"):
        ma.leak_weights(0, 0.9)
    with pytest.raises(ValueError, match="p=1.0"):
        ma.relative_noise(1.0, 5, 0.9, mask="per_step")
    with pytest.raises(ValueError, match="not known"):
        ma.measure_lif_noise((2,), (0.3,), methods=["nope"], device="cpu")
    with pytest.raises(ValueError, match=r"methods\[1\]='membrane'"):
        ma.measure_lif_noise((2,), (0.3,), methods=["standard", "membrane"], device="cpu")
    with pytest.raises(ValueError, match="methods is empty"):
        ma.measure_lif_noise((2,), (0.3,), methods=[], device="cpu")
    with pytest.raises(ValueError, match="draws"):
        ma.measure_lif_noise((2,), (0.3,), draws=1, device="cpu")
    with pytest.raises(ValueError, match=r"currents\[1\]"):
        ma.measure_lif_noise((2,), (0.3,), currents=[0.2, -0.1], device="cpu")
    for kwargs, match in (({"T_values": ()}, "T_values is empty"), ({"p_values": (0.99, 1.2)}, r"p_values\[1\]"),
                          ({"seeds": ()}, "seeds is empty"), ({"epochs": 0}, "epochs"), ({"dataset": "svhn"}, "dataset")):
        with pytest.raises(ValueError, match=match):
            ma.measure_training(**kwargs, device="cpu", progress=False)


def test_default_methods_come_from_the_registry() -> None:
    per_step, consistent = ma.default_methods()
    assert per_step == "standard" and not method_info(per_step).time_consistent
    assert method_info(consistent).time_consistent and method_info(consistent).acts_on == "spikes"


# ----------------------------------------------------------------------------- measured on a LIF layer
def test_lif_measurement_follows_the_variance_argument() -> None:
    frame = ma.measure_lif_noise((2, 32), (0.3,), draws=256, seed=3, device="cpu")
    assert list(frame.columns) == list(ma.NOISE_COLUMNS)
    assert len(frame) == 2 * 1 * 2
    assert set(frame["label"]) == {method_info(k).label for k in ma.default_methods()}
    tol = SE_BOUND * frame["membrane_noise_se"] + 1e-6
    assert np.all(np.abs(frame["membrane_noise"] - frame["predicted_noise"]) <= tol), frame
    ps = frame[~frame["time_consistent"]].set_index("T")
    tc = frame[frame["time_consistent"]].set_index("T")
    # per-step noise falls with T beyond sampling error; time-consistent noise does not move
    assert ps.loc[32, "membrane_noise"] + SE_BOUND * ps.loc[32, "membrane_noise_se"] \
        < ps.loc[2, "membrane_noise"] - SE_BOUND * ps.loc[2, "membrane_noise_se"]
    assert abs(tc.loc[32, "membrane_noise"] - tc.loc[2, "membrane_noise"]) \
        <= SE_BOUND * math.hypot(tc.loc[32, "membrane_noise_se"], tc.loc[2, "membrane_noise_se"])
    assert ps.loc[32, "equivalent_p"] < 0.1 < 0.25 < tc.loc[32, "equivalent_p"]
    # the spike count follows: a held mask makes it far more variable than a per-step one over a long window
    assert ps.loc[32, "count_cv"] < 0.5 * tc.loc[32, "count_cv"]
    assert np.all(frame["rate_base"] > 0) and frame["rate_change"].notna().all()
    again = ma.measure_lif_noise((2, 32), (0.3,), draws=256, seed=3, device="cpu")
    pd.testing.assert_frame_equal(frame, again)  # same seed, same numbers


def test_lif_measurement_time_mean_and_p0() -> None:
    frame = ma.measure_lif_noise((8,), (0.0, 0.5), summary="mean", draws=64, currents=[0.3, 0.5], device="cpu")
    zero = frame[frame["p"] == 0.0]
    np.testing.assert_allclose(zero["membrane_noise"], 0.0, atol=1e-12)  # float64 rounding of the time mean
    np.testing.assert_allclose(zero["rate_change"], 0.0)
    assert (frame["summary"] == "mean").all() and (frame["n_neurons"] == 2).all()
    assert frame.loc[frame["p"] == 0.5, "effective_steps"].iloc[0] == pytest.approx(ma.effective_steps(8, 0.9, summary="mean"))


# ----------------------------------------------------------------------------- measured in training
def test_training_measurement_at_smoke_size() -> None:
    frame = ma.measure_training((3,), (0.5,), seeds=(0,), hidden=16, epochs=1, train_subset=128, test_subset=64,
                                batch_size=64, device="cpu", progress=False)
    assert list(frame.columns) == list(ma.TRAINING_COLUMNS)
    assert list(frame["method"]) == ["none", *ma.default_methods()]
    assert np.isfinite(frame["train_loss"]).all() and (frame["epochs"] == 1).all()
    assert frame["firing_rate"].between(0.0, 1.0).all()
    by = frame.set_index("method")
    assert by.loc["none", "p"] == 0.0 and by.loc["none", "equivalent_p"] == 0.0
    consistent = ma.default_methods()[1]
    assert by.loc[consistent, "equivalent_p"] == pytest.approx(0.5)
    assert 0.0 < by.loc["standard", "equivalent_p"] < 0.5
    assert by.loc["standard", "effective_steps"] == pytest.approx(
        ma.effective_steps(3, 0.9, summary="mean", rate=by.loc["standard", "firing_rate"]))


# ----------------------------------------------------------------------------- sentences
def _noise_frame(ps_noise: float = 0.2) -> pd.DataFrame:
    per_step, consistent = ma.default_methods()
    rows = []
    for T, ps_value in ((5, 0.45), (25, ps_noise)):
        for key, noise, pred in ((per_step, ps_value, ps_value + 0.01), (consistent, 1.0, 1.0)):
            rows.append({"T": T, "p": 0.5, "method": key, "time_consistent": key == consistent, "membrane_noise": noise,
                         "predicted_noise": pred, "equivalent_p": ma.consistent_p_for_noise(noise),
                         "predicted_equivalent_p": ma.consistent_p_for_noise(pred), "rate_change": 0.02 if key == per_step else 0.09,
                         "count_cv": 0.25 if key == per_step else 1.0})
    return pd.DataFrame(rows)


def test_noise_sentences_are_computed_from_the_numbers() -> None:
    s = ma.noise_sentences(_noise_frame())
    assert s[0].startswith("At T=25 and p=0.5, per-step masks")
    assert "membrane noise at 0.20 of the time-consistent mask's" in s[0]
    assert "time-consistent dropout at p=0.038" in s[0]  # 0.2^2 / (1 + 0.2^2)
    assert "falls from 0.450 to 0.200" in s[1]
    assert "+2.0%" in s[2] and "+9.0%" in s[2]
    changed = ma.noise_sentences(_noise_frame(ps_noise=0.3))
    assert "0.30 of the time-consistent" in changed[0] and "p=0.083" in changed[0] and changed != s
    assert ma.noise_sentences(_noise_frame(), T=5)[0].startswith("At T=5 and p=0.5")
    with pytest.raises(ValueError, match="T=7"):
        ma.noise_sentences(_noise_frame(), T=7)
    with pytest.raises(ValueError, match="time-consistent"):
        ma.noise_sentences(_noise_frame().query("method == 'standard'"))
    with pytest.raises(ValueError, match="membrane_noise"):
        ma.noise_sentences(_noise_frame().drop(columns="membrane_noise"))


def _training_frame(tc_loss: float = 0.3) -> pd.DataFrame:
    per_step, consistent = ma.default_methods()
    rows = []
    for seed in (0, 1):
        rows.append({"T": 8, "p": 0.0, "method": "none", "time_consistent": False, "seed": seed, "train_loss": 0.1,
                     "firing_rate": 0.3, "effective_steps": math.nan, "equivalent_p": 0.0})
        rows.append({"T": 8, "p": 0.5, "method": per_step, "time_consistent": False, "seed": seed, "train_loss": 0.12,
                     "firing_rate": 0.27, "effective_steps": 2.5, "equivalent_p": 0.29})
        rows.append({"T": 8, "p": 0.5, "method": consistent, "time_consistent": True, "seed": seed,
                     "train_loss": tc_loss + 0.01 * seed, "firing_rate": 0.15, "effective_steps": 2.0, "equivalent_p": 0.5})
    return pd.DataFrame(rows)


def test_training_sentences_are_computed_from_the_numbers() -> None:
    s = ma.training_sentences(_training_frame())
    assert "0.100 without dropout, 0.120 with per-step masks (1.20×) and 0.305 with the time-consistent mask (3.05×)" in s[0]
    assert "mean over 2 seeds" in s[0]
    assert "0.300 without dropout, 0.270 with per-step masks (-10%) and 0.150" in s[1] and "(-50%)" in s[1]
    assert "2.5 effective draws" in s[2] and "p=0.29" in s[2]
    changed = ma.training_sentences(_training_frame(tc_loss=0.5))
    assert "0.505 with the time-consistent mask (5.05×)" in changed[0]
    no_base = ma.training_sentences(_training_frame().query("method != 'none'"))
    assert "without dropout" not in " ".join(no_base)
