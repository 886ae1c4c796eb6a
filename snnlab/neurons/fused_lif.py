"""The fused CPU/GPU-agnostic LIF backend: the whole sequence as one autograd node.

Forward keeps only the pre-reset membrane ``h[T, ...]`` (spikes are ``h > threshold``); backward
runs the recurrence in reverse. Same values and gradients as a loop of
``snnlab.functional.lif_step`` (the tests check it) with fewer kernels and less saved memory.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlab.functional.surrogate import Surrogate, heaviside


class FusedLIF(torch.autograd.Function):
    """``(spikes, h) = FusedLIF.apply(x, beta, threshold, reset, surrogate, detach_reset)``.

    Everything elementwise is done on whole ``[T, ...]`` tensors; the time loops keep only the
    recurrence (backward: one fused multiply-add per step).
    """

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, threshold: Tensor, reset: str, surrogate: Surrogate, detach_reset: bool):  # type: ignore[override]
        b, thr = float(beta.detach()), float(threshold.detach())  # one host read per call, not per step
        h_all = torch.empty(x.shape, dtype=x.dtype, device=x.device)  # x may be an expand view
        v = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
        s_all = torch.empty_like(h_all)
        subtract = reset == "subtract"
        for xt, ht, st in zip(x.unbind(0), h_all.unbind(0), s_all.unbind(0)):
            torch.add(xt, v, alpha=b, out=ht)
            torch.gt(ht, thr, out=st)  # float out: much cheaper than a bool intermediate on CPU
            v = torch.sub(ht, st, alpha=thr) if subtract else ht - ht * st
        ctx.save_for_backward(h_all, beta, threshold)
        ctx.reset, ctx.surrogate, ctx.detach_reset = reset, surrogate, detach_reset
        return s_all, h_all

    @staticmethod
    def backward(ctx, g_s: Tensor, g_h: Tensor):  # type: ignore[override]
        h_all, beta, threshold = ctx.saved_tensors
        b, thr = float(beta.detach()), float(threshold.detach())
        subtract = ctx.reset == "subtract"
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        # Large fresh buffers cost as much as the arithmetic on CPU: work in place where possible.
        d = ctx.surrogate.derivative(h_all - thr, inplace=True)
        s = heaviside(h_all, thr) if (need_beta or need_thr or not subtract) else None
        # v_t = h_t - r_t*thr (subtract) or h_t*(1 - r_t) (zero) with r_t = s_t (no gradient if detached).
        # dL/dh_t = g_h_t + g_s_t*d_t + g_v_t*c_t, with g_v_t = beta * dL/dh_{t+1} and
        # c_t = dv_t/dh_t including the path through the spike; c is scaled by beta below.
        g_x = torch.addcmul(g_h, g_s, d)
        if subtract:
            c = None if ctx.detach_reset else torch.mul(d, -thr * b).add_(b)
        else:
            c = torch.mul(s, -b).add_(b)  # beta * (1 - s)
            if not ctx.detach_reset:
                c.addcmul_(h_all, d, value=-b)
        gxs = g_x.unbind(0)
        cs = c.unbind(0) if c is not None else None
        for t in range(len(gxs) - 2, -1, -1):  # reverse over unbound views; the last step has no future
            if cs is None:
                gxs[t].add_(gxs[t + 1], alpha=b)
            else:
                gxs[t].addcmul_(cs[t], gxs[t + 1])
        g_beta = g_thr = None
        if need_beta:
            v_prev = h_all[:-1] - s[:-1] * thr if subtract else h_all[:-1] * (1.0 - s[:-1])
            g_beta = (g_x[1:] * v_prev).sum().to(beta.dtype)
        if need_thr:
            g_v = torch.zeros_like(g_x)
            g_v[:-1] = g_x[1:] * b
            g_s_tot = g_s if ctx.detach_reset else g_s - g_v * (thr if subtract else h_all)
            g_thr = -(g_s_tot * d).sum()
            if subtract:
                g_thr = g_thr - (g_v * s).sum()
            g_thr = g_thr.to(threshold.dtype)
        return g_x, g_beta, g_thr, None, None, None
