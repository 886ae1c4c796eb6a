"""The fused C LIF kernel and its dispatch (snnlab/neurons/lif_kernels.py) against a loop of ``lif_step``.

Forward values (spikes, ``h``) must equal the loop bit for bit (same operations, same order, no
contraction). Gradients agree to rounding: the kernel sums the reverse recurrence in another order
than autograd (one fused expression per element instead of several ops, the scalar gradients
accumulated per neuron and then in double), so float64 is checked to 1e-10 and float32 to 1e-5
relative to the largest value (float32's epsilon is 1.2e-7; the longest chains here are 40 steps
and sums over ~10^5 terms, which stay well inside 1e-5). Every result must be the same for any
thread count, and a kernel that cannot run falls back with one warning naming why.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch

from snnlab.functional.lif import LIFParams
from snnlab.functional.surrogate import Surrogate
from snnlab.neurons import LIF, lif_kernels
from snnlab.neurons.lif_kernels import KERNEL_ENV, kernel_applies, kernel_status, lif_kernel, reference_lif

SHAPES = [(1, 1, 1), (1, 4, 3), (7, 3, 301), (40, 2, 2100)]  # T=1, odd sizes, one and many chunks
SURROGATES = [Surrogate("fast_sigmoid", 5.0), Surrogate("arctan", 2.0)]


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Build the library into a temporary cache (never the user's), once for this module."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SNNLAB_CACHE", str(tmp_path_factory.getbasetemp() / "snnlab-cache"))  # one build per session
    patch.delenv(KERNEL_ENV, raising=False)
    lif_kernels._load.cache_clear()
    yield
    lif_kernels._load.cache_clear()
    patch.undo()


@pytest.fixture
def needs_c() -> None:
    status = kernel_status("cpu")
    if status.backend != "c":
        pytest.skip(f"the C LIF kernel is not available here: {status.reason}")


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype) * 1.5 - 0.2  # many spikes and many silent steps
    return x, torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)


def _check_grads(got: list[torch.Tensor], want: list[torch.Tensor], dtype: torch.dtype) -> None:
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for a, b in zip(got, want):
        scale = max(float(b.abs().max()), 1.0)
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * scale)


def _run_both(x, w_s, w_h, beta, thr, reset, surrogate, detach, *, loss="both"):
    """Spikes, h and gradients (x, beta, threshold) of the kernel and of the reference for one loss."""
    results = []
    for impl in ("kernel", "reference"):
        xi = x.clone().requires_grad_()
        b = torch.tensor(beta, dtype=x.dtype, requires_grad=True)
        t = torch.tensor(thr, dtype=x.dtype, requires_grad=True)
        if impl == "kernel":
            s, h = lif_kernel(xi, b, t, reset=reset, surrogate=surrogate, detach_reset=detach)
        else:
            s, h = reference_lif(xi, LIFParams(b, t, reset, surrogate, detach))
        total = {"both": (s * w_s).sum() + (h * w_h).sum(), "spikes": (s * w_s).sum(), "trace": (h * w_h).sum()}[loss]
        results.append((s, h, list(torch.autograd.grad(total, [xi, b, t]))))
    return results


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: s.name)
def test_c_kernel_matches_the_reference(needs_c, dtype, reset, detach, surrogate):
    for shape in SHAPES:
        x, w_s, w_h = _inputs(shape, dtype)
        (s, h, g), (s_ref, h_ref, g_ref) = _run_both(x, w_s, w_h, 0.85, 0.9, reset, surrogate, detach)
        assert s.dtype == dtype and torch.equal(s, s_ref), shape
        assert torch.equal(h, h_ref), shape
        _check_grads(g, g_ref, dtype)
    assert s_ref.sum() > 0 and (1 - s_ref).sum() > 0  # both branches of the spike were exercised


@pytest.mark.parametrize("loss", ["spikes", "trace"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_c_kernel_with_one_output_unused(needs_c, loss, reset):
    """An output that gets no gradient (spikes only, trace only) is read as zeros, not materialised."""
    x, w_s, w_h = _inputs((9, 5, 130), torch.float64, seed=1)
    (s, h, g), (_, _, g_ref) = _run_both(x, w_s, w_h, 0.9, 1.0, reset, SURROGATES[1], False, loss=loss)
    _check_grads(g, g_ref, torch.float64)


def test_c_kernel_takes_expanded_and_strided_inputs(needs_c):
    """Direct encoding (an expand view over time) is read with stride 0; other layouts are copied once."""
    base = torch.rand(4, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64).requires_grad_()
    grads = []
    for fn in (lambda x: lif_kernel(x, 0.9, 0.5)[0], lambda x: reference_lif(x, LIFParams(0.9, 0.5))[0]):
        out = fn(base.unsqueeze(0).expand(12, 4, 50))
        grads.append((out, torch.autograd.grad((out * torch.arange(12.0, dtype=out.dtype)[:, None, None]).sum(), base)[0]))
    assert torch.equal(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-10, atol=1e-10)
    y = torch.rand(4, 6, 5, dtype=torch.float64).transpose(0, 1)  # [T=6, B=4, N=5], not contiguous
    assert torch.equal(lif_kernel(y, 0.8, 0.3)[1], reference_lif(y, LIFParams(0.8, 0.3))[1])


def test_c_kernel_is_independent_of_the_thread_count(needs_c):
    x, w_s, w_h = _inputs((25, 16, 900), torch.float32, seed=3)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            (s, h, g), _ = _run_both(x, w_s, w_h, 0.9, 0.7, "subtract", SURROGATES[0], False)
            results.append((s, h, g))
    finally:
        torch.set_num_threads(before)
    for s, h, g in results[1:]:
        assert torch.equal(s, results[0][0]) and torch.equal(h, results[0][1])
        assert all(torch.equal(a, b) for a, b in zip(g, results[0][2]))


def test_c_kernel_without_gradients_skips_the_trace(needs_c):
    x, _, _ = _inputs((6, 3, 70), torch.float32, seed=4)
    with torch.no_grad():
        s, h = lif_kernel(x.requires_grad_(), 0.9, 0.8, keep_h=False)
    assert h is None and not s.requires_grad
    assert torch.equal(s, reference_lif(x.detach(), LIFParams(0.9, 0.8))[0])


@pytest.mark.parametrize("backend", ["kernel", "auto"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_kernel_backend_equals_the_loop(needs_c, backend, reset):
    """``LIF(backend="kernel"/"auto")``: the loop's spikes and trace bit for bit, its mean and gradients to rounding."""
    x, w_s, w_h = _inputs((14, 3, 6), torch.float64, seed=5)
    x.requires_grad_()
    results = []
    for name in ("loop", backend):
        lif = LIF(0.85, threshold=0.9, reset=reset, surrogate="arctan", learn_beta=True, learn_threshold=True,
                  backend=name).double()
        out = lif.run(x, trace=True, mean=True)
        assert torch.equal(lif(x), out.spikes)
        grads = torch.autograd.grad((out.spikes * w_s).sum() + (out.trace * w_h).sum(), [x, lif.beta, lif.threshold])
        results.append((out, grads))
    (ref, g_ref), (got, g) = results
    assert torch.equal(got.spikes, ref.spikes) and torch.equal(got.trace, ref.trace)
    assert got.mean.shape == (1, 3, 6)
    torch.testing.assert_close(got.mean, ref.mean)
    _check_grads(list(g), list(g_ref), torch.float64)


def test_env_torch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(KERNEL_ENV, "torch")
    assert kernel_status("cpu") == lif_kernels.KernelStatus("torch", f"{KERNEL_ENV}=torch")
    x = torch.rand(5, 2, 7, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deliberate choice: no warning
        out = LIF(backend="kernel").double()(x)
    assert torch.equal(out, LIF(backend="loop").double()(x))
    monkeypatch.setenv(KERNEL_ENV, "cuda-please")
    with pytest.raises(ValueError, match=r"SNNLAB_LIF_KERNEL='cuda-please'.*allowed: auto, torch"):
        LIF(backend="auto")(x)


def test_build_failure_warns_once_and_falls_back(monkeypatch, tmp_path):
    """No working compiler: "kernel" warns once naming why and runs the plain fused path; "auto" is silent."""
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("SNNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    lif_kernels._load.cache_clear()
    lif_kernels.warn_unavailable.cache_clear()
    try:
        status = kernel_status("cpu")
        assert status.backend == "torch" and "false failed" in status.reason
        x = torch.rand(4, 3, 5)
        with pytest.warns(UserWarning, match="fused LIF kernel unavailable.*false failed"):
            out = LIF(backend="kernel")(x)
        assert torch.equal(out, LIF(backend="loop")(x))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            LIF(backend="kernel")(x)  # said once per process, not at every call
            LIF(backend="auto")(x)
    finally:
        lif_kernels._load.cache_clear()
        lif_kernels.warn_unavailable.cache_clear()


def test_what_the_kernel_does_not_cover(needs_c):
    half = torch.rand(3, 2, 4, dtype=torch.float16)
    applies, reason = kernel_applies(half)
    assert not applies and "float16" in reason and "float32, float64" in reason
    with pytest.raises(ValueError, match="dtype=torch.float16"):
        lif_kernel(half, 0.9, 1.0)
    assert kernel_status("meta").backend == "torch" and "'meta'" in kernel_status("meta").reason
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        lif_kernel([1.0, 2.0], 0.9, 1.0)
    with pytest.raises(ValueError, match=r"x must be time-major.*shape \(5,\)"):
        lif_kernel(torch.ones(5), 0.9, 1.0)
    with pytest.raises(ValueError, match="reset='none'"):
        lif_kernel(torch.ones(2, 3), 0.9, 1.0, reset="none")
    with pytest.raises(TypeError, match="surrogate must be a snnlab Surrogate"):
        lif_kernel(torch.ones(2, 3), 0.9, 1.0, surrogate="arctan")
    with pytest.raises(ValueError, match="beta and threshold must be scalars"):
        lif_kernel(torch.ones(2, 3), torch.ones(3), 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("keep_h", [False, True])
def test_static_kernel_matches_the_expanded_kernel(needs_c, dtype, reset, detach, keep_h):
    """A time-constant input: the same spikes and h as the expanded call, bit for bit, and the same
    gradients (x's summed over time) to rounding, without saving anything [T, B, ...]."""
    surrogate = SURROGATES[0] if reset == "subtract" else SURROGATES[1]
    for steps, shape in [(1, (4, 3)), (9, (3, 301)), (30, (2, 2100))]:
        x, _, _ = _inputs(shape, dtype)
        g = torch.Generator().manual_seed(2)
        w_s = torch.randn(steps, *shape, generator=g, dtype=dtype)
        w_h = torch.randn(steps, *shape, generator=g, dtype=dtype)
        results = []
        for static in (True, False):
            xi = x.clone().requires_grad_()
            b = torch.tensor(0.85, dtype=dtype, requires_grad=True)
            t = torch.tensor(0.9, dtype=dtype, requires_grad=True)
            if static:
                s, h = lif_kernels.lif_kernel_static(xi, steps, b, t, reset=reset, surrogate=surrogate,
                                                     detach_reset=detach, keep_h=keep_h)
            else:
                s, h = lif_kernel(xi.unsqueeze(0).expand(steps, *shape), b, t, reset=reset, surrogate=surrogate,
                                  detach_reset=detach)
            total = (s * w_s).sum() + ((h * w_h).sum() if keep_h else 0.0)
            results.append((s, h, list(torch.autograd.grad(total, [xi, b, t]))))
        (s, h, grads), (s_ref, h_ref, grads_ref) = results
        assert torch.equal(s, s_ref), (steps, shape)
        assert (h is None) != keep_h
        if keep_h:
            assert torch.equal(h, h_ref)
        _check_grads(grads, grads_ref, dtype)


def test_static_kernel_rejects_bad_steps(needs_c):
    with pytest.raises(ValueError, match="steps"):
        lif_kernels.lif_kernel_static(torch.rand(2, 3), 0, 0.9, 1.0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        lif_kernels.lif_kernel_static([1.0], 3, 0.9, 1.0)


@pytest.mark.parametrize("backend", ["loop", "fused", "kernel", "auto"])
def test_lif_run_static_equals_run_on_the_expanded_input(backend):
    """``LIF.run_static`` (the direct encoding's path) gives what ``run`` gives on the expand view."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(6, 50, generator=g, dtype=torch.float64) * 1.5 - 0.2
    n = LIF(beta=0.8, backend=backend, learn_threshold=True).double()
    outs = []
    for static in (True, False):
        xi = x.clone().requires_grad_()
        out = n.run_static(xi, 12, mean=True) if static else n.run(xi.unsqueeze(0).expand(12, *x.shape), mean=True)
        loss = out.spikes.sum() + out.mean.sum()
        outs.append((out.spikes, out.mean, torch.autograd.grad(loss, [xi, n.threshold])))
    (s, m, gr), (s_ref, m_ref, gr_ref) = outs
    assert torch.equal(s, s_ref) and torch.equal(m, m_ref)
    _check_grads(list(gr), list(gr_ref), torch.float64)


# ---------------------------------------------------------------- the time-weighted spike sum


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("static", [False, True], ids=["sequence", "static"])
def test_summed_kernel_matches_the_weighted_sum_of_the_reference(needs_c, dtype, reset, detach, static):
    """``z = sum_t w_t s_t`` without writing the spikes: the reference's spikes summed with the same
    weights (to rounding: the kernel adds in time order per neuron), and the gradients of x, beta and
    threshold (x's summed over time when static) to rounding."""
    surrogate = SURROGATES[0] if reset == "subtract" else SURROGATES[1]
    for steps, shape in [(1, (4, 3)), (9, (3, 301)), (30, (2, 2100))]:
        x, _, _ = _inputs((steps, *shape) if not static else shape, dtype)
        g = torch.Generator().manual_seed(5)
        w = torch.rand(steps, generator=g, dtype=dtype) + 0.1
        g_z = torch.randn(shape, generator=g, dtype=dtype)
        results = []
        for impl in ("summed", "reference"):
            xi = x.clone().requires_grad_()
            b = torch.tensor(0.85, dtype=dtype, requires_grad=True)
            t = torch.tensor(0.9, dtype=dtype, requires_grad=True)
            if impl == "summed":
                z = lif_kernels.lif_kernel_summed(xi, w, b, t, steps=steps if static else None, reset=reset,
                                                  surrogate=surrogate, detach_reset=detach)
            else:
                seq = xi.unsqueeze(0).expand(steps, *shape) if static else xi
                s, _ = reference_lif(seq, LIFParams(b, t, reset, surrogate, detach))
                z = torch.tensordot(w, s, dims=1)
            results.append((z, list(torch.autograd.grad((z * g_z).sum(), [xi, b, t]))))
        (z, grads), (z_ref, grads_ref) = results
        assert z.shape == shape
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(z, z_ref, rtol=tol, atol=tol * float(w.sum()))
        _check_grads(grads, grads_ref, dtype)


def test_summed_kernel_is_independent_of_the_thread_count(needs_c):
    x, _, _ = _inputs((20, 8, 3000), torch.float32)
    w = torch.linspace(0.1, 1.0, 20)
    before = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            xi = x.clone().requires_grad_()
            z = lif_kernels.lif_kernel_summed(xi, w, 0.9, 1.0)
            (g,) = torch.autograd.grad(z.sum(), [xi])
            outs.append((z, g))
    finally:
        torch.set_num_threads(before)
    for z, g in outs[1:]:
        assert torch.equal(z, outs[0][0]) and torch.equal(g, outs[0][1])


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_summed_kernel_counts_the_spikes_it_does_not_write(needs_c, static, dtype):
    """``counts`` receives sum_t s_t of the same spikes the sum is over, and changes nothing else."""
    shape, steps = (3, 301), 9
    x, _, _ = _inputs(shape if static else (steps, *shape), dtype)
    w = torch.rand(steps, generator=torch.Generator().manual_seed(1), dtype=dtype) + 0.1
    counts = torch.full(shape, -1.0, dtype=dtype)
    z = lif_kernels.lif_kernel_summed(x, w, 0.9, 1.0, steps=steps if static else None, counts=counts)
    seq = x.unsqueeze(0).expand(steps, *shape) if static else x
    spikes, _ = lif_kernels.lif_kernel(seq, 0.9, 1.0)
    assert torch.equal(counts, spikes.sum(0)) and counts.max() > 1
    assert torch.equal(z, lif_kernels.lif_kernel_summed(x, w, 0.9, 1.0, steps=steps if static else None))
    for bad in (torch.empty(3, 300, dtype=dtype), torch.empty(shape, dtype=torch.float16), torch.empty(301, 3, dtype=dtype).t()):
        with pytest.raises(ValueError, match="counts must be a contiguous CPU tensor of shape"):
            lif_kernels.lif_kernel_summed(x, w, 0.9, 1.0, steps=steps if static else None, counts=bad)


def test_summed_kernel_rejects_what_it_cannot_do(needs_c):
    x = torch.rand(5, 2, 3)
    with pytest.raises(ValueError, match=r"weights must be a tensor of shape \(5,\)"):
        lif_kernels.lif_kernel_summed(x, torch.ones(4), 0.9, 1.0)
    with pytest.raises(ValueError, match=r"weights must be a tensor of shape \(7,\)"):
        lif_kernels.lif_kernel_summed(x[0], torch.ones(5), 0.9, 1.0, steps=7)
    with pytest.raises(ValueError, match="weights must be a constant"):
        lif_kernels.lif_kernel_summed(x, torch.ones(5, requires_grad=True), 0.9, 1.0)
    with pytest.raises(ValueError, match="steps"):
        lif_kernels.lif_kernel_summed(x[0], torch.ones(5), 0.9, 1.0, steps=0)
    with pytest.raises(ValueError, match="CPU tensors only"):
        lif_kernels.lif_kernel_summed(x.to("meta"), torch.ones(5), 0.9, 1.0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        lif_kernels.lif_kernel_summed([1.0], torch.ones(1), 0.9, 1.0)
    with pytest.raises(ValueError, match="no fused LIF kernel"):
        lif_kernels.lif_kernel_summed(x.half(), torch.ones(5), 0.9, 1.0)


@pytest.mark.parametrize("backend", ["loop", "fused", "kernel", "auto"])
@pytest.mark.parametrize("static", [False, True], ids=["sequence", "static"])
def test_lif_run_summed_equals_the_weighted_sum_of_run(backend, static):
    """``LIF.run_summed`` on every backend: the kernel where ``sums_in_kernel`` says so, else the spikes of
    ``run`` summed with ``tensordot``; both the same to rounding, learnable threshold included."""
    g = torch.Generator().manual_seed(7)
    steps = 12
    x = torch.rand(*((6, 50) if static else (steps, 6, 50)), generator=g, dtype=torch.float64) * 1.5 - 0.2
    w = torch.rand(steps, generator=g, dtype=torch.float64)
    n = LIF(beta=0.8, backend=backend, learn_threshold=True).double()
    assert n.sums_in_kernel(x) == (backend in ("kernel", "auto") and kernel_status("cpu").backend == "c")
    outs = []
    for summed in (True, False):
        xi = x.clone().requires_grad_()
        if summed:
            z = n.run_summed(xi, w, steps=steps if static else None)
        else:
            out = n.run_static(xi, steps) if static else n.run(xi)
            z = torch.tensordot(w, out.spikes, dims=1)
        outs.append((z, torch.autograd.grad((z * z).sum(), [xi, n.threshold])))
    (z, gr), (z_ref, gr_ref) = outs
    torch.testing.assert_close(z, z_ref, rtol=1e-12, atol=1e-12)
    _check_grads(list(gr), list(gr_ref), torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("static", [False, True], ids=["sequence", "static"])
def test_time_weighted_sum_of_written_spikes_equals_the_fused_sum(needs_c, dtype, static):
    """Summing spikes the kernel wrote (``time_weighted_sum``) and summing them inside the kernel
    (``lif_kernel_summed``) give the same z bit for bit, and the same gradients bit for bit: a model's
    logits and training do not depend on whether its last layer's spikes were written."""
    steps, shape = 25, (4, 700)
    x, _, _ = _inputs(shape if static else (steps, *shape), dtype)
    w = torch.rand(steps, generator=torch.Generator().manual_seed(1), dtype=dtype)
    g_z = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    results = []
    for fused in (True, False):
        xi = x.clone().requires_grad_()
        if fused:
            z = lif_kernels.lif_kernel_summed(xi, w, 0.9, 1.0, steps=steps if static else None)
        elif static:
            z = lif_kernels.time_weighted_sum(lif_kernels.lif_kernel_static(xi, steps, 0.9, 1.0)[0], w)
        else:
            z = lif_kernels.time_weighted_sum(lif_kernel(xi, 0.9, 1.0)[0], w)
        results.append((z, torch.autograd.grad((z * g_z).sum(), [xi])[0]))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("kernel", ["c", "torch"])
def test_time_weighted_sum_is_the_weighted_sum_over_time(kernel, monkeypatch):
    """On any values (not only spikes), with the C library or with ``SNNLAB_LIF_KERNEL=torch`` (tensordot):
    the weighted sum over the first dim, and its gradient ``weights[t] * g``."""
    if kernel == "c" and kernel_status("cpu").backend != "c":
        pytest.skip("the C LIF kernel is not available here")
    if kernel == "torch":
        monkeypatch.setenv(KERNEL_ENV, "torch")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(7, 3, 5, 11, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(7, generator=g, dtype=torch.float64)
    z = lif_kernels.time_weighted_sum(x, w)
    torch.testing.assert_close(z, (w.view(7, 1, 1, 1) * x).sum(0), rtol=1e-13, atol=1e-13)
    (gx,) = torch.autograd.grad(z.sum(), [x])
    torch.testing.assert_close(gx, w.view(7, 1, 1, 1).expand_as(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"weights must be a tensor of shape \(7,\)"):
        lif_kernels.time_weighted_sum(x, w[:3])
    with pytest.raises(ValueError, match="x must be a time-major tensor"):
        lif_kernels.time_weighted_sum(torch.tensor(1.0), w)
