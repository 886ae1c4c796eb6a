"""The fused LIF as two Triton kernels (CUDA): forward over all T in one launch, backward in one more.

Each program owns ``BLOCK`` neurons (``B * N`` flattened) and runs the time loop with the
membrane in registers: forward reads ``x_t`` and writes the spikes and ``h_t`` (the trace, and
all that backward needs: spikes are recomputed from it); backward walks time in reverse with
``dL/dh_{t+1}`` in registers, writes ``dL/dx_t`` and accumulates the gradients of ``beta`` and
``threshold`` per neuron, reduced to one partial sum per program (summed in float64 by torch:
deterministic). ``beta`` and ``threshold`` are read from device memory (no host sync per call).
The equations are those of ``csrc/lif.c`` (see there); floating-point contraction is off, so
float32/float64 forward values are bit-identical to the PyTorch loop. float16/bfloat16 inputs are
computed in float32 (``h`` saved as float32: the spikes backward recomputes are the forward's).

Triton is imported only when a kernel is first built (this module is imported with the rest of
``snnlab.neurons`` on every machine); with ``TRITON_INTERPRET=1`` the kernels run on CPU tensors
through Triton's interpreter, which is how the tests check them without a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from typing import Any

import torch
from torch import Tensor

from snnlab.functional.surrogate import Surrogate

BLOCK = 256  # neurons per program: enough programs to fill a large GPU at B*N ~ 1e5, few registers each
NUM_WARPS = 4
_HALF = (torch.float16, torch.bfloat16)
tl: Any = None  # triton.language, bound by ``_kernels`` when the kernels are first built


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


# The kernels: plain functions here, jit-compiled by ``_kernels`` (``tl`` is bound then; annotations
# stay strings, which Triton reads as they are).


def _lif_fwd(x_ptr, s_ptr, h_ptr, beta_ptr, thr_ptr, m, sx,
             steps, F64: tl.constexpr, RESET_ZERO: tl.constexpr, KEEP_H: tl.constexpr,
             BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < m
    if F64:
        b = tl.load(beta_ptr).to(tl.float64)
        thr = tl.load(thr_ptr).to(tl.float64)
        v = tl.zeros([BLOCK], dtype=tl.float64)
    else:
        b = tl.load(beta_ptr).to(tl.float32)
        thr = tl.load(thr_ptr).to(tl.float32)
        v = tl.zeros([BLOCK], dtype=tl.float32)
    xp = x_ptr + offs
    sp = s_ptr + offs
    hp = h_ptr + offs
    for _ in range(steps):
        xt = tl.load(xp, mask=mask, other=0.0).to(v.dtype)
        h = b * v + xt
        spike = tl.where(h > thr, 1.0, 0.0).to(v.dtype)
        tl.store(sp, spike.to(s_ptr.dtype.element_ty), mask=mask)
        if KEEP_H:
            tl.store(hp, h.to(h_ptr.dtype.element_ty), mask=mask)
        if RESET_ZERO:
            v = h * (1.0 - spike)
        else:
            v = h - spike * thr
        xp += sx
        sp += m
        hp += m


def _lif_bwd(h_ptr, gs_ptr, gh_ptr, gx_ptr, beta_ptr, thr_ptr, k_ptr, pb_ptr, pt_ptr, m, sgs, sgh,
             last_h, last_gs, last_gh, steps,
             F64: tl.constexpr, RESET_ZERO: tl.constexpr, DETACH: tl.constexpr,
             ARCTAN: tl.constexpr, HAS_GS: tl.constexpr, HAS_GH: tl.constexpr,
             NEED_BETA: tl.constexpr, NEED_THR: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < m
    if F64:
        b = tl.load(beta_ptr).to(tl.float64)
        thr = tl.load(thr_ptr).to(tl.float64)
        carry = tl.zeros([BLOCK], dtype=tl.float64)
    else:
        b = tl.load(beta_ptr).to(tl.float32)
        thr = tl.load(thr_ptr).to(tl.float32)
        carry = tl.zeros([BLOCK], dtype=tl.float32)
    k1 = tl.load(k_ptr)  # the surrogate's constants, in the compute dtype (a float argument would be float32)
    k2 = tl.load(k_ptr + 1)
    acc_b = tl.zeros([BLOCK], dtype=carry.dtype)
    acc_t = tl.zeros([BLOCK], dtype=carry.dtype)
    hp = h_ptr + last_h + offs
    gxp = gx_ptr + last_h + offs
    gsp = gs_ptr + last_gs + offs
    ghp = gh_ptr + last_gh + offs
    for _ in range(steps):
        hv = tl.load(hp, mask=mask, other=0.0).to(carry.dtype)
        u = hv - thr
        if ARCTAN:
            y = k1 * u
            d = k2 / (1.0 + y * y)
        else:
            y = k1 * tl.abs(u) + 1.0
            d = 1.0 / (y * y)
        d = d.to(carry.dtype)
        spike = tl.where(hv > thr, 1.0, 0.0).to(carry.dtype)
        gv = b * carry
        if RESET_ZERO:
            if DETACH:
                dv_dh = 1.0 - spike
            else:
                dv_dh = (1.0 - spike) - hv * d
        else:
            if DETACH:
                dv_dh = 1.0
            else:
                dv_dh = 1.0 - thr * d
        g = gv * dv_dh
        if HAS_GS:
            gs = tl.load(gsp, mask=mask, other=0.0).to(carry.dtype)
            g = gs * d + g
        if HAS_GH:
            g = g + tl.load(ghp, mask=mask, other=0.0).to(carry.dtype)
        tl.store(gxp, g.to(gx_ptr.dtype.element_ty), mask=mask)
        if NEED_BETA:
            if RESET_ZERO:
                acc_b += carry * (hv * (1.0 - spike))
            else:
                acc_b += carry * (hv - spike * thr)
        if NEED_THR:
            if RESET_ZERO:
                if DETACH:
                    dv_dthr = 0.0
                else:
                    dv_dthr = hv * d
            else:
                if DETACH:
                    dv_dthr = -spike
                else:
                    dv_dthr = thr * d - spike
            acc_t += gv * dv_dthr
            if HAS_GS:
                acc_t -= gs * d
        carry = g.to(carry.dtype)
        hp -= m
        gxp -= m
        gsp -= sgs
        ghp -= sgh
    if NEED_BETA:
        tl.store(pb_ptr + pid, tl.sum(acc_b, axis=0))
    if NEED_THR:
        tl.store(pt_ptr + pid, tl.sum(acc_t, axis=0))


@functools.lru_cache(maxsize=2)
def _kernels(interpret: bool) -> tuple[Any, Any]:
    """The jit-compiled ``(forward, backward)`` (one pair per interpreter mode): imports Triton."""
    import triton
    import triton.language as tl

    globals()["tl"] = tl  # the kernels' ``tl`` (resolved from this module's globals when they are compiled)
    return triton.jit(_lif_fwd), triton.jit(_lif_bwd)


def _launch_options() -> dict[str, Any]:
    """Compile options: contraction off (forward bit-identical to the loop); the interpreter takes none."""
    return {} if interpreting() else {"num_warps": NUM_WARPS, "enable_fp_fusion": False}


def _on(device: torch.device) -> Any:
    """Launch on ``device``'s GPU (Triton launches on the current one); nothing to do on CPU."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _time_major(t: Tensor) -> tuple[Tensor, int]:
    from snnlab.neurons.lif_kernels import time_major

    return time_major(t)


def _forward(x: Tensor, beta: Tensor, threshold: Tensor, reset: str, keep_h: bool) -> tuple[Tensor, Tensor | None]:
    """Launch the forward: spikes (x's dtype) and ``h`` (x's dtype, float32 for half inputs) when ``keep_h``."""
    fwd, _ = _kernels(interpreting())
    xs, sx = _time_major(x.detach())
    steps, m = x.shape[0], x[0].numel()
    s = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    h_dtype = torch.float32 if x.dtype in _HALF else x.dtype
    h = torch.empty(x.shape, dtype=h_dtype, device=x.device) if keep_h else None
    grid = (triton_cdiv(m, BLOCK),)
    with _on(x.device):
        fwd[grid](xs, s, h if h is not None else s, beta, threshold, m, sx, steps,
                  F64=x.dtype == torch.float64, RESET_ZERO=reset == "zero", KEEP_H=keep_h, BLOCK=BLOCK,
                  **_launch_options())
    return s, h


@functools.lru_cache(maxsize=64)
def _surrogate_constants(name: str, scale: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[k1, k2]`` of the surrogate derivative on ``device`` (cached: no host-to-device copy per call).

    fast_sigmoid: ``d = 1 / (k1 |u| + 1)^2`` with ``k1 = slope``; arctan: ``d = k2 / (1 + (k1 u)^2)`` with
    ``k1 = pi/2 * alpha``, ``k2 = alpha / 2``.
    """
    k = [0.5 * math.pi * scale, 0.5 * scale] if name == "arctan" else [scale, 0.0]
    return torch.tensor(k, dtype=dtype, device=device)


def triton_cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ints (the grid size)."""
    return -(-a // b)


class _TritonLIF(torch.autograd.Function):
    """``(spikes, h) = _TritonLIF.apply(x, beta, threshold, reset, surrogate, detach_reset)`` with the Triton kernels."""

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, threshold: Tensor, reset: str, surrogate: Surrogate, detach_reset: bool):  # type: ignore[override]
        s, h = _forward(x, beta.detach(), threshold.detach(), reset, keep_h=True)
        ctx.save_for_backward(h, beta.detach(), threshold.detach())
        ctx.reset, ctx.surrogate, ctx.detach_reset, ctx.x_dtype = reset, surrogate, detach_reset, x.dtype
        ctx.set_materialize_grads(False)
        return s, h

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_h: Tensor | None):  # type: ignore[override]
        h, beta, threshold = ctx.saved_tensors
        _, bwd = _kernels(interpreting())
        steps, m = h.shape[0], h[0].numel()
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        gs, sgs = _time_major(g_s) if g_s is not None else (h, 0)
        gh, sgh = _time_major(g_h) if g_h is not None else (h, 0)
        g_x = torch.empty(h.shape, dtype=ctx.x_dtype, device=h.device)
        nblocks = triton_cdiv(m, BLOCK)
        acc_dtype = torch.float64 if h.dtype == torch.float64 else torch.float32
        pb = torch.empty(nblocks if need_beta else 1, dtype=acc_dtype, device=h.device)
        pt = torch.empty(nblocks if need_thr else 1, dtype=acc_dtype, device=h.device)
        arctan = ctx.surrogate.name == "arctan"
        consts = _surrogate_constants(ctx.surrogate.name, float(ctx.surrogate.scale), acc_dtype, h.device)
        with _on(h.device):
            bwd[(nblocks,)](
                h, gs, gh, g_x, beta, threshold, consts, pb, pt, m, sgs, sgh,
                (steps - 1) * m, (steps - 1) * sgs, (steps - 1) * sgh, steps,
                F64=h.dtype == torch.float64, RESET_ZERO=ctx.reset == "zero", DETACH=bool(ctx.detach_reset),
                ARCTAN=arctan, HAS_GS=g_s is not None, HAS_GH=g_h is not None,
                NEED_BETA=bool(need_beta), NEED_THR=bool(need_thr), BLOCK=BLOCK, **_launch_options(),
            )
        g_beta = pb.sum(dtype=torch.float64).to(beta.dtype).reshape(beta.shape) if need_beta else None
        g_thr = pt.sum(dtype=torch.float64).to(threshold.dtype).reshape(threshold.shape) if need_thr else None
        return g_x, g_beta, g_thr, None, None, None


def lif_triton(
    x: Tensor,
    beta: Tensor,
    threshold: Tensor,
    *,
    reset: str = "subtract",
    surrogate: Surrogate = Surrogate(),
    detach_reset: bool = False,
    keep_h: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """``(spikes, h)`` of the LIF over ``x[T, B, ...]`` with the Triton kernels (see ``lif_kernels.lif_kernel``).

    ``beta``/``threshold`` are scalar tensors (moved to x's device if needed). x must be on CUDA, or
    on CPU under ``TRITON_INTERPRET=1``; float32, float64, float16 or bfloat16.
    """
    if x.device.type != "cuda" and not interpreting():
        raise ValueError(f"lif_triton needs a CUDA tensor (or TRITON_INTERPRET=1 for CPU tensors), got device={x.device.type}")
    if x.dtype not in (torch.float32, torch.float64, *_HALF):
        raise ValueError(f"lif_triton takes float32, float64, float16 or bfloat16 inputs, got dtype={x.dtype}")
    beta = beta.to(x.device).reshape(())
    threshold = threshold.to(x.device).reshape(())
    grad = torch.is_grad_enabled() and (x.requires_grad or beta.requires_grad or threshold.requires_grad)
    if not grad:
        return _forward(x, beta, threshold, reset, keep_h)
    s, h = _TritonLIF.apply(x, beta, threshold, reset, surrogate, bool(detach_reset))
    return s, (h.to(x.dtype) if h.dtype != x.dtype else h)


__all__ = ["BLOCK", "interpreting", "lif_triton"]
