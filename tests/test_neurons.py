"""Neurons: surrogate gradients, LIF, the write-up's penalty neuron, the paper's SRM layer, the registry."""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.neurons import (
    LIF,
    NEURONS,
    LIFParams,
    PenaltyNeuron,
    PenaltyParams,
    SRMLayer,
    Surrogate,
    arctan,
    beta_from_tau,
    fast_sigmoid,
    lif_step,
    make_neuron,
    make_surrogate,
    penalty_step,
    srm_fire_step,
    srm_kernel,
    srm_kernel_matrix,
)


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


# --------------------------------------------------------------------------- surrogates


@pytest.mark.parametrize("slope", [1.0, 25.0])
def test_fast_sigmoid_forward_is_heaviside_and_gradient_matches_formula(slope: float) -> None:
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).requires_grad_()
    x_nz = x.detach().clone()
    y = fast_sigmoid(x, slope)
    assert torch.equal(y.detach(), (x_nz > 0).double())
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(g, 1.0 / (slope * x_nz.abs() + 1.0) ** 2)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_arctan_gradient_is_derivative_of_its_smooth_arctan(alpha: float) -> None:
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(arctan(x, alpha).sum(), x)
    # the smooth function whose derivative the surrogate uses: 1/pi * atan(pi/2 * alpha * x) + 1/2
    xs = x.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad((torch.atan(math.pi / 2 * alpha * xs) / math.pi + 0.5).sum(), xs)
    assert torch.allclose(g, ref)


def test_fast_sigmoid_gradient_is_derivative_of_its_smooth_sigmoid() -> None:
    slope = 5.0
    xs = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(fast_sigmoid(xs, slope).sum(), xs)
    # d/dx of x / (1 + slope*|x|) is 1 / (1 + slope*|x|)^2: check with gradcheck on the smooth function
    smooth = lambda z: z / (1.0 + slope * z.abs())  # noqa: E731
    assert torch.autograd.gradcheck(smooth, (xs.detach()[xs.detach() != 0].clone().requires_grad_(),))
    x2 = xs.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad(smooth(x2).sum(), x2)
    assert torch.allclose(g, ref)


def test_make_surrogate_validates() -> None:
    assert make_surrogate("arctan", alpha=3.0) == Surrogate("arctan", 3.0)
    assert make_surrogate() == Surrogate("fast_sigmoid", 25.0)
    with pytest.raises(ValueError, match="surrogate"):
        make_surrogate("sigmoid")
    with pytest.raises(ValueError, match="alpha"):
        make_surrogate("fast_sigmoid", alpha=2.0)
    with pytest.raises(ValueError, match="slope"):
        make_surrogate("fast_sigmoid", slope=-1.0)


# --------------------------------------------------------------------------- LIF


def _lif_loop(x: torch.Tensor, p: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.zeros_like(x[0])
    spikes, mem = [], []
    for t in range(x.shape[0]):
        s, h, v = lif_step(x[t], v, p)
        spikes.append(s)
        mem.append(h)
    return torch.stack(spikes), torch.stack(mem)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_module_equals_loop_of_lif_step(reset: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 3, 5, generator=g, dtype=torch.float64) * 1.5).requires_grad_()
    lif = LIF(0.8, threshold=1.0, reset=reset)
    s, m = lif.forward_trace(x)
    s_ref, m_ref = _lif_loop(x, lif.params())
    assert torch.equal(s, s_ref) and torch.allclose(m, m_ref)
    assert torch.equal(lif(x), s)
    w = torch.randn(12, 3, 5, generator=g, dtype=torch.float64)
    (g1,) = _grads((s * w).sum() + (m * w).sum(), [x])
    (g2,) = _grads((s_ref * w).sum() + (m_ref * w).sum(), [x])
    assert torch.allclose(g1, g2)
    assert s.sum() > 0 and (1 - s).sum() > 0  # both regimes present


def test_lif_subtract_and_zero_reset_by_hand() -> None:
    x = torch.tensor([[1.5], [0.0], [0.0]])
    s, m = LIF(1.0, threshold=1.0, reset="subtract").forward_trace(x.unsqueeze(-1))
    assert s.flatten().tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(m.flatten(), torch.tensor([1.5, 0.5, 0.5]))
    s, m = LIF(1.0, threshold=1.0, reset="zero").forward_trace(x.unsqueeze(-1))
    assert s.flatten().tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(m.flatten(), torch.tensor([1.5, 0.0, 0.0]))
    # constant drive 0.6 with beta 1: subtract fires at t=1 (1.2), carries 0.2; zero reset carries 0
    x = torch.full((4, 1, 1), 0.6)
    s_sub, m_sub = LIF(1.0, reset="subtract").forward_trace(x)
    s_zero, m_zero = LIF(1.0, reset="zero").forward_trace(x)
    assert s_sub.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.allclose(m_sub.flatten(), torch.tensor([0.6, 1.2, 0.8, 1.4]))
    assert s_zero.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.allclose(m_zero.flatten(), torch.tensor([0.6, 1.2, 0.6, 1.2]))


def test_tau_sets_beta() -> None:
    assert math.isclose(beta_from_tau(5.0), math.exp(-0.2))
    assert math.isclose(float(LIF(tau=10.0).beta), math.exp(-0.1), rel_tol=1e-6)
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=0.0)


def test_learnable_beta_and_threshold_get_gradients() -> None:
    lif = LIF(0.7, threshold=0.8, learn_beta=True, learn_threshold=True)
    assert {n for n, _ in lif.named_parameters()} == {"beta", "threshold"}
    x = torch.rand(10, 4, 6, generator=torch.Generator().manual_seed(1))
    s, m = lif.forward_trace(x)
    (s.sum() + m.sum()).backward()
    assert lif.beta.grad is not None and lif.beta.grad.abs() > 0
    assert lif.threshold.grad is not None and lif.threshold.grad.abs() > 0
    assert "beta" in LIF().state_dict() and not list(LIF().parameters())


def test_lif_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="hard")
    with pytest.raises(ValueError, match="beta"):
        LIF(1.5)
    with pytest.raises(ValueError, match="threshold"):
        LIF(threshold=0.0)
    with pytest.raises(ValueError, match="x must be time-major"):
        LIF()(torch.zeros(3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        LIF()([1.0, 2.0])


# --------------------------------------------------------------------------- penalty neuron


def test_penalty_step_by_hand() -> None:
    p = PenaltyParams(decay=0.5, threshold=2.0, penalty_threshold=2.5)
    zero = torch.zeros(1)
    inner, outer = penalty_step(torch.tensor([3.0]), zero, zero, p)
    # inner 3 -> outer relu(3 - 2) = 1 -> fired: inner = 3 - (2.5 + 1) = -0.5
    assert outer.item() == pytest.approx(1.0) and inner.item() == pytest.approx(-0.5)
    inner, outer = penalty_step(torch.tensor([1.0]), inner, outer, p)
    # inner = 1 + (-0.5)*0.5 = 0.75, below threshold: no output, no penalty
    assert outer.item() == 0.0 and inner.item() == pytest.approx(0.75)


def test_penalty_neuron_is_one_step_delayed_loop_of_penalty_step() -> None:
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(15, 4, 7, generator=g, dtype=torch.float64) * 3).requires_grad_()
    neuron = PenaltyNeuron(decay=0.9, threshold=2.0, penalty_threshold=2.5)
    out, inner = neuron.forward_trace(x)
    assert torch.equal(neuron(x), out)
    # reference: the write-up's stateful loop, returning the previous state at each step
    p = neuron.params()
    prev_inner = torch.zeros(4, 7, dtype=torch.float64)
    prev_outer = torch.zeros(4, 7, dtype=torch.float64)
    ref_out, ref_inner = [], []
    for t in range(x.shape[0]):
        new_inner, new_outer = penalty_step(x[t], prev_inner, prev_outer, p)
        ref_inner.append(prev_inner)
        ref_out.append(prev_outer)
        prev_inner, prev_outer = new_inner, new_outer
    ref_out, ref_inner = torch.stack(ref_out), torch.stack(ref_inner)
    assert torch.allclose(out, ref_out) and torch.allclose(inner, ref_inner)
    assert torch.count_nonzero(out[0]) == 0 and torch.count_nonzero(inner[0]) == 0
    assert (out >= 0).all() and (out > 0).any()
    w = torch.randn(15, 4, 7, generator=g, dtype=torch.float64)
    (g1,) = _grads((out * w).sum() + (inner * w).sum(), [x])
    (g2,) = _grads((ref_out * w).sum() + (ref_inner * w).sum(), [x])
    assert torch.allclose(g1, g2)
    # the last input step is outside the delayed window: it gets no gradient
    assert torch.count_nonzero(g1[-1]) == 0 and g1[:-1].abs().sum() > 0


def test_penalty_neuron_refractory_after_firing() -> None:
    # constant drive 1.5/step, decay 1. Undelayed: inner 1.5; 3.0 fires (outer 1) -> 3 - 3.5 = -0.5;
    # 1.0; 2.5 fires (outer 0.5) -> 2.5 - 3 = -0.5; 1.0. Returned one step late, zeros first.
    x = torch.full((6, 1, 1), 1.5)
    out, inner = PenaltyNeuron(decay=1.0, threshold=2.0, penalty_threshold=2.5).forward_trace(x)
    assert torch.allclose(out.flatten(), torch.tensor([0.0, 0.0, 1.0, 0.0, 0.5, 0.0]))
    assert torch.allclose(inner.flatten(), torch.tensor([0.0, 1.5, -0.5, 1.0, -0.5, 1.0]))
    # without the penalty the neuron only loses its output (3 -> 2) and fires again at every step
    out0, inner0 = PenaltyNeuron(decay=1.0, threshold=2.0, penalty_threshold=0.0).forward_trace(x)
    assert torch.allclose(out0.flatten(), torch.tensor([0.0, 0.0, 1.0, 1.5, 1.5, 1.5]))
    assert torch.allclose(inner0.flatten(), torch.tensor([0.0, 1.5, 2.0, 2.0, 2.0, 2.0]))


def test_penalty_neuron_bad_arguments() -> None:
    with pytest.raises(ValueError, match="decay"):
        PenaltyNeuron(decay=1.2)
    with pytest.raises(ValueError, match="penalty_threshold"):
        PenaltyNeuron(penalty_threshold=-1.0)
    with pytest.raises(TypeError, match="threshold"):
        PenaltyNeuron(threshold="2")


# --------------------------------------------------------------------------- SRM layer


def test_srm_kernel_peak_and_support() -> None:
    for tau in (1.0, 2.0, 3.5):
        a = torch.linspace(-3, 20, 2301, dtype=torch.float64)
        k = srm_kernel(a, tau)
        assert k[a <= 0].abs().max() == 0
        assert srm_kernel(torch.tensor(tau, dtype=torch.float64), tau).item() == pytest.approx(1.0)
        assert a[k.argmax()].item() == pytest.approx(tau, abs=0.01)
        assert k.max().item() <= 1.0 + 1e-12


def test_srm_kernel_matrix_is_shifted_causal_kernel() -> None:
    m = srm_kernel_matrix(6, (0, 2), 2.0, dtype=torch.float64).view(2, 6, 6)
    for k, d in enumerate((0, 2)):
        for t in range(6):
            for tp in range(6):
                assert m[k, t, tp].item() == pytest.approx(srm_kernel(torch.tensor(float(t - tp - d)), 2.0).item())


def _srm_reference(layer: SRMLayer, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (1) by explicit sums, then the first-spike rule with srm_fire_step in a loop."""
    T, B, n_in = s.shape
    w = layer.weight.view(layer.out_features, n_in, len(layer.delays))
    vs = []
    for t in range(T):
        v_t = torch.zeros(B, layer.out_features, dtype=s.dtype)
        for tp in range(T):
            for k, d in enumerate(layer.delays):
                sig = srm_kernel(torch.tensor(float(t - tp - d), dtype=s.dtype), layer.tau)
                v_t = v_t + sig * (s[tp] @ w[:, :, k].t())
        vs.append(v_t)
    v = torch.stack(vs)
    fired = torch.zeros_like(v[0])
    out = []
    for t in range(T):
        spike, fired = srm_fire_step(v[t], fired, layer.threshold, layer.surrogate)
        out.append(spike)
    return torch.stack(out), v


def test_srm_layer_equals_explicit_sum_and_step_loop() -> None:
    g = torch.Generator().manual_seed(3)
    T, B, n_in, n_out = 10, 3, 6, 5
    layer = SRMLayer(n_in, n_out, delays=(0, 1, 3), tau=2.0, threshold=1.0, generator=g).double()
    assert layer.weight.shape == (n_out, n_in * 3)
    s = (torch.rand(T, B, n_in, generator=g) < 0.3).double()  # several spikes per input allowed
    with torch.no_grad():
        layer.weight.mul_(2.0)
    spikes, v = layer.forward_trace(s)
    ref_spikes, ref_v = _srm_reference(layer, s)
    assert torch.allclose(v, ref_v) and torch.equal(spikes, ref_spikes)
    assert torch.equal(layer(s), spikes) and torch.allclose(layer.potential(s), v)
    assert spikes.sum() > 0 and (spikes.sum(0) == 0).any()
    wts = torch.randn(T, B, n_out, generator=g, dtype=torch.float64)
    g1 = _grads((spikes * wts).sum() + 0.1 * (v * wts).sum(), [layer.weight])[0]
    g2 = _grads((ref_spikes * wts).sum() + 0.1 * (ref_v * wts).sum(), [layer.weight])[0]
    assert torch.allclose(g1, g2) and g1.abs().sum() > 0


def test_srm_first_spike_only() -> None:
    layer = SRMLayer(1, 1, delays=(0,), tau=2.0, threshold=1.0)
    with torch.no_grad():
        layer.weight.fill_(1.5)
    s = torch.zeros(12, 1, 1)
    s[0] = 1.0
    s[6] = 1.0  # a second input spike re-crosses the threshold: still no second output spike
    out, v = layer.forward_trace(s)
    above = (v > 1.0).flatten()
    assert above.sum() > 2 and out.sum() == 1
    assert out.flatten().argmax() == above.int().argmax()  # the first crossing
    # after the spike the membrane is not reset
    assert torch.allclose(v.flatten()[:6], 1.5 * srm_kernel(torch.arange(6.0), 2.0))
    # no input, no spikes; a batch of inputs gives at most one spike per neuron
    big = SRMLayer(20, 30, threshold=0.5, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(15, 8, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    assert big(x).sum(0).max() <= 1 and big(x).sum() > 0
    assert big(torch.zeros(15, 8, 20)).sum() == 0


def test_srm_delays_shift_the_response_exactly() -> None:
    s = torch.zeros(16, 1, 1)
    s[2] = 1.0
    base = None
    for d in (0, 1, 4):
        layer = SRMLayer(1, 1, delays=(d,), tau=2.0)
        with torch.no_grad():
            layer.weight.fill_(1.0)
        v = layer.potential(s).flatten()
        if base is None:
            base = v
            assert v.argmax().item() == 2 + 2  # spike at 2, kernel peak at a = tau = 2
            assert v.max().item() == pytest.approx(1.0)
        else:
            assert torch.count_nonzero(v[: 3 + d]) == 0
            assert torch.allclose(v[d:], base[: 16 - d])


def test_srm_init_lets_part_of_the_layer_fire() -> None:
    g = torch.Generator().manual_seed(0)
    T, B, n_in = 25, 32, 200
    x = torch.rand(B, n_in, generator=g) * (torch.rand(B, n_in, generator=g) < 0.25)
    t = ((1 - x) * (T - 1)).round().long()
    s = torch.zeros(T, B, n_in).scatter_(0, t.unsqueeze(0), (x > 0.01).float().unsqueeze(0))
    frac = SRMLayer(n_in, 300, generator=g)(s).sum(0).mean().item()
    assert 0.1 < frac < 0.9


def test_srm_bad_arguments() -> None:
    with pytest.raises(ValueError, match="repeated"):
        SRMLayer(3, 2, delays=(1, 1))
    with pytest.raises(ValueError, match="delays entry"):
        SRMLayer(3, 2, delays=(0, -1))
    with pytest.raises(TypeError, match="delays"):
        SRMLayer(3, 2, delays=())
    with pytest.raises(ValueError, match="tau"):
        SRMLayer(3, 2, tau=0.0)
    with pytest.raises(ValueError, match="in_features=3"):
        SRMLayer(3, 2)(torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match="time-major"):
        SRMLayer(3, 2)(torch.zeros(5, 3))


# --------------------------------------------------------------------------- registry


def test_make_neuron() -> None:
    assert NEURONS == ("lif", "penalty")
    lif = make_neuron("lif", beta=0.5, reset="zero")
    assert isinstance(lif, LIF) and lif.reset == "zero" and float(lif.beta) == 0.5
    pen = make_neuron("penalty", decay=0.8)
    assert isinstance(pen, PenaltyNeuron) and pen.decay == 0.8
    with pytest.raises(ValueError, match="neuron='izhikevich'"):
        make_neuron("izhikevich")
    with pytest.raises(ValueError, match="unknown option.*penalty_threshold"):
        make_neuron("lif", penalty_threshold=1.0)


# --------------------------------------------------------------------------- fused LIF backend


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
def test_fused_lif_equals_loop(reset: str, detach_reset: bool, surrogate: str) -> None:
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(14, 3, 6, generator=g, dtype=torch.float64) * 1.4 - 0.1).requires_grad_()
    w_s = torch.randn(14, 3, 6, generator=g, dtype=torch.float64)
    w_m = torch.randn(14, 3, 6, generator=g, dtype=torch.float64)
    results = []
    for backend in ("loop", "fused"):
        lif = LIF(
            0.85, threshold=0.9, reset=reset, surrogate=surrogate, detach_reset=detach_reset,
            learn_beta=True, learn_threshold=True, backend=backend,
        ).double()
        s, m = lif.forward_trace(x)
        assert torch.equal(lif(x), s)
        grads = _grads((s * w_s).sum() + (m * w_m).sum(), [x, lif.beta, lif.threshold])
        results.append((s, m, grads))
    (s0, m0, g0), (s1, m1, g1) = results
    assert torch.equal(s0, s1) and torch.allclose(m0, m1)
    assert s0.sum() > 0 and (1 - s0).sum() > 0
    for a, b in zip(g0, g1):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10), (a, b)


def test_fused_lif_takes_expanded_input_and_spike_only_loss() -> None:
    base = torch.rand(4, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64).requires_grad_()
    grads = []
    for backend in ("loop", "fused"):
        out = LIF(0.9, backend=backend)(base.unsqueeze(0).expand(10, 4, 5))
        grads.append(torch.autograd.grad(out.sum(), base)[0])
    assert torch.allclose(grads[0], grads[1])
    with pytest.raises(ValueError, match="backend"):
        LIF(backend="cuda")


@pytest.mark.parametrize("surrogate", [Surrogate("fast_sigmoid", 7.0), Surrogate("arctan", 1.5)])
def test_surrogate_derivative_matches_its_backward(surrogate: Surrogate) -> None:
    x = torch.linspace(-2, 2, 33, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(surrogate(x).sum(), x)
    xd = x.detach().clone()
    assert torch.allclose(surrogate.derivative(xd), g) and torch.equal(xd, x.detach())
    assert torch.allclose(surrogate.derivative(xd, inplace=True), g) and torch.allclose(xd, g)
