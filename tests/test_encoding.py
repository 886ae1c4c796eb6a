"""Encodings (rate, latency, direct, noisy_repeat): ``snnlab/encoding.py``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from snnlab.encoding import ENCODING_OPTIONS, ENCODINGS, check_encoding_options, direct, encode, latency, noisy_repeat, rate


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- rate


def test_rate_mean_matches_probability_within_4_se() -> None:
    T, B = 200, 50
    x = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9, 1.0]).repeat(B, 1)  # [B, 6]
    for gain in (1.0, 0.5):
        s = rate(x, T, gain=gain, generator=_gen(0))
        assert s.shape == (T, B, 6) and s.dtype == x.dtype
        assert set(s.unique().tolist()) <= {0.0, 1.0}
        p = x[0] * gain
        n = T * B
        mean = s.mean(dim=(0, 1))
        se = torch.sqrt(p * (1 - p) / n)
        assert ((mean - p).abs() <= 4 * se + 1e-12).all(), (mean, p)
    # the extremes are exact
    s = rate(x, T, generator=_gen(0))
    assert s[..., 0].sum() == 0 and s[..., 5].sum() == T * B


def test_rate_rejects_probabilities_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"gain\*x must lie in \[0, 1\]"):
        rate(torch.full((2, 3), 0.8), 5, gain=2.0)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        rate(torch.tensor([[-0.1, 0.5]]), 5)
    with pytest.raises(ValueError, match="non-finite"):
        rate(torch.tensor([[float("nan")]]), 5)


# --------------------------------------------------------------------------- latency


def test_latency_one_spike_per_bright_input_and_brighter_fires_earlier() -> None:
    T = 11
    x = torch.tensor([[1.0, 0.9, 0.5, 0.2, 0.011, 0.01, 0.0]])
    s = latency(x, T)
    assert s.shape == (T, 1, 7)
    counts = s.sum(0).flatten().tolist()
    assert counts == [1, 1, 1, 1, 1, 0, 0]  # threshold 0.01 is strict: x must exceed it
    times = s.argmax(0).flatten()[:5].tolist()
    assert times == [round((1 - v) * (T - 1)) for v in x.flatten()[:5].tolist()] == [0, 1, 5, 8, 10]
    # ordering on random data: brighter never later
    x = torch.rand(4, 50, generator=_gen(1))
    s = latency(x, 20)
    t = s.argmax(0).float()
    fired = x > 0.01
    assert torch.equal(s.sum(0), fired.float())
    xf, tf = x[fired], t[fired]
    order = torch.argsort(xf)
    assert (tf[order].diff() <= 0).all()


def test_latency_log_mapping() -> None:
    T, thr = 21, 0.01
    x = torch.tensor([[1.0, 0.1, 0.02, 0.005]])
    s = latency(x, T, threshold=thr, linear=False)
    assert s.sum(0).flatten().tolist() == [1, 1, 1, 0]
    times = s.argmax(0).flatten()[:3].tolist()
    assert times == [round((T - 1) * math.log(v) / math.log(thr)) for v in (1.0, 0.1, 0.02)] == [0, 10, 17]
    with pytest.raises(ValueError, match="linear=False"):
        latency(x, T, threshold=0.0, linear=False)


def test_latency_single_step_and_bad_threshold() -> None:
    assert latency(torch.tensor([[0.3, 0.0]]), 1).tolist() == [[[1.0, 0.0]]]
    with pytest.raises(ValueError, match="threshold"):
        latency(torch.rand(2, 3), 5, threshold=1.0)
    with pytest.raises(TypeError, match="linear"):
        latency(torch.rand(2, 3), 5, linear="yes")


# --------------------------------------------------------------------------- direct / noisy_repeat


def test_direct_is_an_expand_view() -> None:
    x = torch.randn(3, 4)  # direct has no [0, 1] requirement
    y = direct(x, 7)
    assert y.shape == (7, 3, 4) and y.stride()[0] == 0
    assert y.data_ptr() == x.data_ptr() and y._base is x
    assert torch.equal(y[6], x)


def test_noisy_repeat_keep_rate_within_4_se() -> None:
    T, B, F = 40, 25, 30
    x = torch.rand(B, F, generator=_gen(2)) * 0.9 + 0.1  # no zeros, so a zero means dropped
    for keep in (0.5, 0.8, 1.0):
        y = noisy_repeat(x, T, keep=keep, generator=_gen(3))
        assert y.shape == (T, B, F)
        kept = y != 0
        assert torch.equal(y[kept], x.expand(T, B, F)[kept])  # values kept unscaled
        n = T * B * F
        se = math.sqrt(keep * (1 - keep) / n)
        assert abs(kept.float().mean().item() - keep) <= 4 * se + 1e-12
    # masks differ between steps
    y = noisy_repeat(x, 2, keep=0.5, generator=_gen(3))
    assert not torch.equal(y[0] != 0, y[1] != 0)
    with pytest.raises(ValueError, match="keep"):
        noisy_repeat(x, 3, keep=0.0)


# --------------------------------------------------------------------------- encode / determinism / errors


@pytest.mark.parametrize("name", ENCODINGS)
def test_encode_dispatches_and_is_deterministic_under_a_generator(name: str) -> None:
    x = torch.rand(5, 1, 4, 4, generator=_gen(4))
    a = encode(x, name, 6, generator=_gen(9))
    b = encode(x, name, 6, generator=_gen(9))
    assert a.shape == (6, 5, 1, 4, 4) and torch.equal(a, b)
    if name in ("rate", "noisy_repeat"):
        c = encode(x, name, 6, generator=_gen(10))
        assert not torch.equal(a, c)


def test_encode_passes_options() -> None:
    x = torch.full((2, 3), 0.5)
    assert encode(x, "rate", 4, gain=0.0).sum() == 0
    assert torch.equal(encode(x, "latency", 5, threshold=0.6), torch.zeros(5, 2, 3))
    assert torch.equal(encode(x, "noisy_repeat", 4, keep=1.0), x.expand(4, 2, 3))


def test_encode_bad_arguments() -> None:
    x = torch.rand(2, 3)
    with pytest.raises(ValueError, match="encoding='poisson'"):
        encode(x, "poisson", 5)
    with pytest.raises(ValueError, match="unknown option.*keep.*'rate'"):
        encode(x, "rate", 5, keep=0.5)
    with pytest.raises(ValueError, match="unknown option.*allowed: none"):
        encode(x, "direct", 5, gain=1.0)
    with pytest.raises(ValueError, match="T=0"):
        encode(x, "rate", 0)
    with pytest.raises(TypeError, match="T must be an integer"):
        encode(x, "direct", 2.5)
    with pytest.raises(TypeError, match="generator"):
        encode(x, "rate", 3, generator=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        encode(np.zeros((2, 3)), "direct", 3)
    with pytest.raises(TypeError, match="floating-point"):
        encode(torch.zeros(2, 3, dtype=torch.long), "rate", 3)
    with pytest.raises(ValueError, match="non-finite"):
        encode(torch.tensor([[float("inf")]]), "direct", 3)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        encode(torch.tensor([[1.5]]), "latency", 3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_any_non_finite_value_is_found_whatever_the_others(bad: float) -> None:
    """The check sums first: a NaN/inf anywhere (also beside an opposite inf, or huge values) is still found."""
    big = torch.finfo(torch.float32).max
    for values in ([bad, 0.5], [0.5] * 7 + [bad], [big, big, bad], [float("inf"), -float("inf")]):
        with pytest.raises(ValueError, match="non-finite"):
            direct(torch.tensor([values]), 2)


def test_finite_values_whose_sum_overflows_are_accepted() -> None:
    big = torch.finfo(torch.float32).max
    x = torch.tensor([[big, big], [-big, -big]])
    assert not torch.isfinite(x.sum(1)).all()  # the fast path's sum overflows: the exact check decides
    assert torch.equal(direct(x, 3), x.expand(3, 2, 2))


# --------------------------------------------------------------------------- validate: value checks are opt-in


def _encoders(validate: bool) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One call per public encoder (and ``encode`` per encoding), each with ``validate``."""
    calls = {
        "rate": lambda x: rate(x, 4, validate=validate),
        "latency": lambda x: latency(x, 4, validate=validate),
        "latency_log": lambda x: latency(x, 4, linear=False, validate=validate),
        "direct": lambda x: direct(x, 4, validate=validate),
        "noisy_repeat": lambda x: noisy_repeat(x, 4, validate=validate),
    }
    calls.update({f"encode_{n}": (lambda x, n=n: encode(x, n, 4, validate=validate)) for n in ENCODINGS})
    return calls


@pytest.mark.parametrize("call", list(_encoders(False)))
def test_validate_false_never_reads_values(call: str) -> None:
    """A meta tensor has no data: any value check (isfinite/min/max -> host) would raise."""
    x = torch.empty(3, 5, device="meta")
    out = _encoders(False)[call](x)
    assert out.shape == (4, 3, 5) and out.device.type == "meta"
    with pytest.raises(RuntimeError, match="meta"):  # the default reads the values
        _encoders(True)[call](x)


def test_validate_false_skips_the_value_checks_only() -> None:
    inf = torch.tensor([[float("inf"), 0.5]])
    assert torch.equal(direct(inf, 3, validate=False), inf.expand(3, 1, 2))
    assert torch.equal(encode(inf, "direct", 3, validate=False), inf.expand(3, 1, 2))
    assert rate(torch.full((2, 3), 0.8), 5, gain=2.0, validate=False).eq(1.0).all()  # gain*x > 1: always fires
    assert encode(torch.tensor([[-0.1, 0.5]]), "rate", 5, validate=False).shape == (5, 1, 2)
    with pytest.raises(ValueError, match="non-finite"):
        direct(inf, 3)
    # the cheap checks (type, dtype, dims, the other arguments) still run
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        encode(np.zeros((2, 3)), "direct", 3, validate=False)
    with pytest.raises(TypeError, match="floating-point"):
        rate(torch.zeros(2, 3, dtype=torch.long), 3, validate=False)
    with pytest.raises(ValueError, match="batch dimension"):
        latency(torch.tensor(0.5), 3, validate=False)
    with pytest.raises(ValueError, match="T=0"):
        noisy_repeat(torch.rand(2, 3), 0, validate=False)
    for bad in ("no", 0, None):
        with pytest.raises(TypeError, match="validate must be a bool"):
            encode(torch.rand(2, 3), "direct", 3, validate=bad)
        with pytest.raises(TypeError, match="validate must be a bool"):
            rate(torch.rand(2, 3), 3, validate=bad)


@pytest.mark.parametrize("name", ENCODINGS)
def test_validate_false_gives_bit_identical_outputs(name: str) -> None:
    x = torch.rand(5, 1, 4, 4, generator=_gen(4))
    a = encode(x, name, 6, generator=_gen(9))
    b = encode(x, name, 6, generator=_gen(9), validate=False)
    assert torch.equal(a, b) and a.dtype == b.dtype and a.stride() == b.stride()


# --------------------------------------------------------------------------- options checked up front


def test_encoding_options_lists_what_each_encoding_takes() -> None:
    assert set(ENCODING_OPTIONS) == set(ENCODINGS)
    assert ENCODING_OPTIONS["direct"] == ()
    x = torch.full((2, 3), 0.5)
    for name, options in ENCODING_OPTIONS.items():  # every listed option is one the encoder takes
        for option in options:
            value = {"gain": 1.0, "threshold": 0.1, "linear": True, "keep": 0.5}[option]
            assert encode(x, name, 3, generator=_gen(0), **{option: value}).shape == (3, 2, 3)


def test_check_encoding_options_accepts_and_copies() -> None:
    given = {"gain": 0.5}
    assert check_encoding_options("rate", given) == given and check_encoding_options("rate", given) is not given
    assert check_encoding_options("direct", None) == {} and check_encoding_options("direct", {}) == {}
    state = torch.get_rng_state()
    check_encoding_options("noisy_repeat", {"keep": 0.3})
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone


@pytest.mark.parametrize(
    "name, options, exc, match",
    [
        ("direct", {"gain": 2.0}, ValueError, r"unknown option\(s\) \['gain'\] for encoding 'direct'; allowed: none"),
        ("rate", {"keep": 0.5}, ValueError, r"\['keep'\] for encoding 'rate'; allowed: 'gain'"),
        ("rate", {"gain": -1.0}, ValueError, "gain=-1.0"),
        ("rate", {"gain": "2"}, TypeError, "gain must be a real number"),
        ("latency", {"threshold": 1.5}, ValueError, "threshold=1.5"),
        ("latency", {"linear": "yes"}, TypeError, "linear must be a bool"),
        ("noisy_repeat", {"keep": 0.0}, ValueError, "keep=0.0"),
        ("noisy_repeat", {"keep": float("nan")}, ValueError, "keep=nan"),
        ("rate", [("gain", 1.0)], TypeError, "encoding_options must be a dict"),
        ("morse", None, ValueError, "encoding='morse'"),
    ],
)
def test_check_encoding_options_refuses(name, options, exc, match) -> None:
    with pytest.raises(exc, match=match):
        check_encoding_options(name, options)
