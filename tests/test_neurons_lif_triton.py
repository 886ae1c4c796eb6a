"""The Triton LIF kernels (snnlab/neurons/lif_triton.py) against a loop of ``lif_step``.

Without a GPU they run in Triton's CPU interpreter (``TRITON_INTERPRET=1``, set here for this
module only), which executes the same kernel code with NumPy: slow, so the sizes are tiny, with
``BLOCK`` lowered so that several programs and a masked tail are exercised. With a GPU the same
tests run on CUDA. Spikes and ``h`` must equal the reference bit for bit (float32/float64: the
same operations in the same order, contraction off); gradients agree to rounding (one fused
expression per element and per-program partial sums instead of autograd's ops): float32 to 1e-5
relative to the largest value (epsilon 1.2e-7, chains of at most 9 steps), float64 to 1e-10.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
import torch

from snnlab.functional.lif import LIFParams
from snnlab.functional.surrogate import Surrogate
from snnlab.neurons.lif_kernels import reference_lif

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

SHAPES = [(1, 1, 3), (9, 2, 21)]  # T=1; a 42-neuron layer over three programs of 16 with a masked tail
SURROGATES = [Surrogate("fast_sigmoid", 5.0), Surrogate("arctan", 2.0)]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module", autouse=True)
def triton_mode() -> Iterator[object]:
    """Interpreter mode on CPU (skip cleanly if Triton cannot run it here), small blocks; restored after."""
    from snnlab.neurons import lif_triton

    patch = pytest.MonkeyPatch()
    if DEVICE == "cpu":
        patch.setenv("TRITON_INTERPRET", "1")
    patch.setattr(lif_triton, "BLOCK", 16)
    try:
        lif_triton.lif_triton(torch.ones(2, 1, 3, device=DEVICE), torch.tensor(0.9), torch.tensor(1.0))
    except Exception as exc:  # an interpreter that does not work with this torch/numpy
        patch.undo()
        pytest.skip(f"Triton cannot run the kernels here ({DEVICE}): {type(exc).__name__}: {exc}")
    yield lif_triton
    patch.undo()


def _run_both(lif_triton, x, w_s, w_h, reset, surrogate, detach, *, loss="both", param_dtype=None):
    results = []
    for impl in ("triton", "reference"):
        xi = x.clone().requires_grad_()
        b = torch.tensor(0.85, dtype=param_dtype or x.dtype, device=x.device, requires_grad=True)
        t = torch.tensor(0.9, dtype=param_dtype or x.dtype, device=x.device, requires_grad=True)
        if impl == "triton":
            s, h = lif_triton.lif_triton(xi, b, t, reset=reset, surrogate=surrogate, detach_reset=detach)
        else:
            s, h = reference_lif(xi, LIFParams(b, t, reset, surrogate, detach))
        total = {"both": (s * w_s).sum() + (h * w_h).sum(), "spikes": (s * w_s).sum()}[loss]
        results.append((s, h, list(torch.autograd.grad(total, [xi, b, t]))))
    return results


def _inputs(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype) * 1.5 - 0.2
    w = [torch.randn(shape, generator=g, dtype=dtype) for _ in range(2)]
    return x.to(DEVICE), w[0].to(DEVICE), w[1].to(DEVICE)


def _check_grads(got, want, tol):
    for a, b in zip(got, want):
        scale = max(float(b.abs().max()), 1.0)
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: s.name)
def test_triton_matches_the_reference(triton_mode, dtype, reset, detach, surrogate):
    for shape in SHAPES:
        x, w_s, w_h = _inputs(shape, dtype)
        (s, h, g), (s_ref, h_ref, g_ref) = _run_both(triton_mode, x, w_s, w_h, reset, surrogate, detach)
        assert s.dtype == dtype and torch.equal(s, s_ref) and torch.equal(h, h_ref), shape
        _check_grads(g, g_ref, 1e-10 if dtype == torch.float64 else 1e-5)
    assert s_ref.sum() > 0 and (1 - s_ref).sum() > 0


def test_triton_spike_only_loss_and_expanded_input(triton_mode):
    x, w_s, w_h = _inputs((6, 3, 7), torch.float32, seed=1)
    (_, _, g), (_, _, g_ref) = _run_both(triton_mode, x, w_s, w_h, "subtract", SURROGATES[0], False, loss="spikes")
    _check_grads(g, g_ref, 1e-5)
    base = torch.rand(2, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(DEVICE).requires_grad_()
    beta, thr = torch.tensor(0.9, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    outs = []
    for fn in (lambda x: triton_mode.lif_triton(x, beta, thr)[0], lambda x: reference_lif(x, LIFParams(beta, thr))[0]):
        out = fn(base.unsqueeze(0).expand(5, 2, 9))
        outs.append((out, torch.autograd.grad(out.sum(), base)[0]))
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-10, atol=1e-10)


def test_triton_half_inputs_are_computed_in_float32(triton_mode):
    """float16 in, float16 spikes out; the same spikes as the float32 reference on the same values."""
    x, w_s, _ = _inputs((5, 2, 9), torch.float32, seed=3)
    x16 = x.to(torch.float16)
    w_s = w_s.to(torch.float16).float()  # the upstream gradient reaches the kernel as float16: the same values
    (s, h, g), (s_ref, h_ref, g_ref) = _run_both(triton_mode, x16.float(), w_s, w_s * 0, "subtract", SURROGATES[1],
                                                 False, loss="spikes")
    xi = x16.clone().requires_grad_()
    b = torch.tensor(0.85, device=DEVICE, requires_grad=True)
    t = torch.tensor(0.9, device=DEVICE, requires_grad=True)
    s16, h16 = triton_mode.lif_triton(xi, b, t, surrogate=SURROGATES[1])
    assert s16.dtype == torch.float16 and h16.dtype == torch.float16
    assert torch.equal(s16.float(), s_ref) and torch.equal(h16, h_ref.to(torch.float16))
    g16 = torch.autograd.grad((s16.float() * w_s).sum(), [xi, b, t])
    assert g16[0].dtype == torch.float16
    torch.testing.assert_close(g16[0].float(), g_ref[0], rtol=2e-3, atol=2e-3 * float(g_ref[0].abs().max()))
    _check_grads(list(g16[1:]), g_ref[1:], 1e-5)


def test_triton_without_gradients_and_refusals(triton_mode, monkeypatch):
    x, _, _ = _inputs((4, 2, 5), torch.float32, seed=4)
    beta, thr = torch.tensor(0.9), torch.tensor(0.8)
    with torch.no_grad():
        s, h = triton_mode.lif_triton(x, beta, thr, keep_h=False)
    assert h is None and torch.equal(s, reference_lif(x, LIFParams(beta, thr))[0])
    with pytest.raises(ValueError, match="dtype=torch.int64"):
        triton_mode.lif_triton(torch.ones(2, 3, dtype=torch.int64, device=DEVICE), beta, thr)
    if DEVICE == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        with pytest.raises(ValueError, match="needs a CUDA tensor"):
            triton_mode.lif_triton(x, beta, thr)
