"""Drawing and applying dropout masks, and the statistics of one draw.

``keep_mask`` draws a mask from a generator; ``apply_mask`` applies it in one fused pass each way;
``drop_affine`` does both for the per-step methods (through the counter-based C kernel or its
PyTorch twin, ``snnlab.dropout.kernels``); ``mask_stats`` reduces one forward to ``DropoutStats``, and
``count_stats`` does the same from spike counts where the spikes were never written.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlab.dropout.kernels import draw_seed, keep_affine, lane_threshold
from snnlab.dropout.stats import DropoutStats


U16_LEVELS = 65536  # per-unit probabilities: 16-bit uniform integers against a threshold (p quantised to 1/65536)
U8_LEVELS = 256  # one rate for the whole mask: 8-bit uniform integers against a dithered per-row threshold
_MIN_ROW_FOR_U8 = 16  # rows shorter than this (e.g. per-channel masks [T, B, C, 1, 1]) use the 16-bit path
_DITHER_VARIANCE_SHARE = 0.05  # the per-row dither may add at most 5% to the variance of a row's drop count


def _dither_ok(drop: float, row: int) -> bool:
    """Whether 8-bit lanes with a dithered per-row threshold fit ``drop`` on rows of length ``row``.

    A row's drop count has binomial variance ``row p (1-p)``; the dither adds ``row^2 f (1-f) / 256^2``
    (f = frac(256 p)). The 8-bit path is used only when that is at most 5% of the binomial part.
    """
    if row < _MIN_ROW_FOR_U8 or drop * U8_LEVELS >= 255:
        return False
    frac = drop * U8_LEVELS % 1.0
    return row * frac * (1.0 - frac) <= _DITHER_VARIANCE_SHARE * U8_LEVELS**2 * drop * (1.0 - drop)


def drop_threshold(drop: float | Tensor) -> int | Tensor:
    """The int16 threshold ``thr`` with ``P(r < thr) = round(drop * 65536) / 65536`` for r uniform on int16.

    Quantising ``drop`` to 1/65536 moves the realised rate by at most 7.7e-6, far below what any
    test or experiment can resolve (4 standard errors at 10^7 draws is 6e-4). ``drop`` values that
    round to 65536 (drop > 1 - 2^-17) are represented by 65535/65536.
    """
    if isinstance(drop, Tensor):
        k = torch.round(drop.to(torch.float64) * U16_LEVELS).to(torch.int32)
        return (k - 32768).clamp(max=32767).to(torch.int16)
    return lane_threshold(drop) - 32768  # the kernel's uint16 threshold, shifted to int16 lanes


def _uniform_lanes(n: int, dtype: torch.dtype, generator: torch.Generator) -> Tensor:
    """``n`` uniform integers of ``dtype`` (int16 or uint8) cut from full-range 64-bit generator draws."""
    per_word = 8 // torch.empty((), dtype=dtype).element_size()
    words = torch.empty(((n + per_word - 1) // per_word,), dtype=torch.int64, device=generator.device)
    words.random_(-(2**63), None, generator=generator)  # full 64-bit range: every lane uniform
    return words.view(dtype)[:n]


def keep_mask(
    shape: tuple[int, ...] | torch.Size,
    drop: float | Tensor,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    scale: float | Tensor | None = None,
) -> Tensor:
    """A fresh mask of ``shape`` on the generator's device: 0 with probability ``drop``, else ``scale`` (1 if None).

    ``drop`` is a float or a tensor broadcastable to ``shape`` (per-unit probabilities); every
    element is dropped with probability ``drop`` (to the precision below), independently.

    Why not ``torch.rand(...) < p`` or ``bernoulli_``: on CPU the generator is the bottleneck
    (CPU time at [25, 128, 800]: rand ~20 ms, bernoulli_ ~40 ms, one 64-bit draw per 4 int16 lanes
    ~3.7 ms, per 8 uint8 lanes ~1.8 ms), so uniform integers are cut from 64-bit draws and compared
    with a threshold straight into the float mask (one pass):

    - a float ``drop`` (one rate for the mask): uint8 lanes ``u`` and, per row (last dimension), a
      threshold ``k + 1`` with probability ``frac(256 drop)``, else ``k = floor(256 drop)``; an
      element is dropped when ``u < threshold``, i.e. with probability exactly ``drop``. Within one
      row the rate is 1/256 above or below ``drop`` (covariance of two drops of a row at most
      1/(4 * 65536) ~ 4e-6; rows are independent); used only where this adds at most 5% to the
      variance of a row's drop count (``_dither_ok``: e.g. rows of 800 at p >= 0.05);
    - otherwise (per-unit tensors, short or very long rows, rates the dither would distort):
      int16 lanes, ``drop`` quantised to 1/65536 (``drop_threshold``).

    Devices other than CPU/CUDA use ``torch.rand`` with the exact ``drop``.
    """
    shape = torch.Size(shape)
    device = generator.device
    mask = torch.empty(shape, dtype=dtype, device=device)
    n = mask.numel()
    if device.type not in ("cpu", "cuda"):
        u = torch.rand(shape, generator=generator, device=device)
        torch.ge(u, drop.to(device) if isinstance(drop, Tensor) else drop, out=mask)
    elif not isinstance(drop, Tensor) and len(shape) > 0 and _dither_ok(float(drop), shape[-1]):
        u = _uniform_lanes(n, torch.uint8, generator).view(shape)
        k, frac = divmod(float(drop) * U8_LEVELS, 1.0)
        if frac > 0.0:
            up = torch.rand(shape[:-1] + (1,), generator=generator, device=device) < frac
            thr = up.to(torch.uint8).add_(int(k))
        else:
            thr = int(k)
        torch.ge(u, thr, out=mask)
    else:
        r = _uniform_lanes(n, torch.int16, generator).view(shape)
        thr = drop_threshold(drop.to(device) if isinstance(drop, Tensor) else drop)
        torch.ge(r, thr, out=mask)
    if scale is not None and not (isinstance(scale, float) and scale == 1.0):
        mask.mul_(scale.to(device=device, dtype=dtype) if isinstance(scale, Tensor) else scale)
    return mask


class _MaskedAffine(torch.autograd.Function):
    """``out = scale * mask * (x + shift) + bias`` in one pass forward and one pass backward."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor, scale: float, shift: float, bias: float) -> Tensor:  # type: ignore[override]
        if scale != 1.0 and mask.numel() < x.numel():
            # A broadcast mask ([1, B, N] against [T, B, N]) is small: scale it once and multiply.
            # On CPU a three-operand addcmul with a broadcast operand runs about twice as slow as mul.
            mask, scale = mask * scale, 1.0
        ctx.save_for_backward(mask)
        ctx.scale = scale
        if shift == 0.0 and bias == 0.0 and scale == 1.0:
            return torch.mul(x, mask)  # plain product: a two-operand kernel, a little cheaper than addcmul
        bias_t = torch.full((), bias, dtype=x.dtype, device=x.device)
        if shift == 0.0:
            return torch.addcmul(bias_t, x, mask, value=scale)
        base = x + shift  # a temporary of x's shape: write the result into it rather than allocate again
        if base.shape != torch.broadcast_shapes(base.shape, mask.shape):
            return torch.addcmul(bias_t, base, mask, value=scale)
        return torch.addcmul(bias_t, base, mask, value=scale, out=base)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        if ctx.scale == 1.0:
            return torch.mul(grad, mask), None, None, None, None
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        return torch.addcmul(zero, grad, mask, value=ctx.scale), None, None, None, None


def apply_mask(x: Tensor, mask: Tensor, scale: float = 1.0, *, shift: float = 0.0, bias: float = 0.0) -> Tensor:
    """``scale * mask * (x + shift) + bias`` with ``mask`` broadcast over ``x``; gradient ``scale * mask``.

    One fused pass each way instead of ``mask *= scale; x * mask`` (the multiply of a [T, B, N]
    tensor is as costly as drawing it): the dropout families call this with ``shift = bias = 0``
    (standard, temporal, shaped) or the alpha-dropout affine constants.
    """
    return _MaskedAffine.apply(x, mask, float(scale), float(shift), float(bias))


def drop_affine(
    x: Tensor,
    mask_shape: tuple[int, ...],
    drop: float,
    *,
    generator: torch.Generator,
    scale: float = 1.0,
    shift: float = 0.0,
    bias: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Draw a keep mask of ``mask_shape`` (broadcast over ``x``) and apply it: ``(out, mask)``.

    ``out = scale * mask * (x + shift) + bias``, gradient ``scale * mask``; ``mask`` is 0 where
    dropped. A mask of ``x``'s own shape (a new draw for every element, as the per-step methods
    need) comes from the counter-based lanes of ``snnlab.dropout.kernels`` with one seed drawn
    from ``generator``: the fused C kernel on CPU (one pass each way), its plain-PyTorch twin
    elsewhere or without a compiler, both giving the same uint8 mask and the same output. A
    broadcast mask (per channel, per sample) is small and goes through ``keep_mask`` and
    ``apply_mask``.
    """
    if tuple(mask_shape) == tuple(x.shape):
        return keep_affine(x, drop, draw_seed(generator), scale=scale, shift=shift, bias=bias)
    mask = keep_mask(mask_shape, drop, generator=generator, dtype=x.dtype)
    return apply_mask(x, mask, scale, shift=shift, bias=bias), mask


def _fraction(num: Tensor, den: Tensor) -> float:
    den_f = float(den)
    return float(num) / den_f if den_f > 0 else math.nan


def count_stats(method: str, p: float, counts: Tensor, steps: int, mask: Tensor) -> DropoutStats:
    """``DropoutStats`` of a forward whose 0/1 spikes were not written: ``counts[B, ...]`` their sums over
    ``steps`` steps, ``mask`` the mask held over the window (z's shape, 0 = dropped, else the kept spikes'
    output value). What ``mask_stats`` gives for those spikes and ``mask`` broadcast over time."""
    with torch.no_grad():
        mask = mask.to(counts.dtype).reshape(counts.shape)  # [1, B, ...] as recorded, or [B, ...]
        dropped = mask == 0
        n_dropped = dropped.sum() * steps
        silent = counts == 0
        kept_fired = ~dropped & ~silent
        zero_entries = n_dropped + ((steps - counts) * ~dropped).sum()  # dropped, or kept but not spiking
        lo = 0.0 if zero_entries > 0 else float(mask[kept_fired].min())  # mask values are >= 0
        hi = float(mask[kept_fired].max()) if kept_fired.any() else 0.0
        return DropoutStats(
            method=method,
            p=p,
            dropped_fraction=float(n_dropped) / (counts.numel() * steps),
            spikes_removed=_fraction((counts * dropped).sum(), counts.sum()),
            silent_fraction=_fraction((dropped & silent).sum() * steps, n_dropped),
            out_mean=float((counts * mask).sum() / (counts.numel() * steps)),
            out_min=lo,
            out_max=hi,
        )


def mask_stats(method: str, p: float, x: Tensor, mask: Tensor, out: Tensor) -> DropoutStats:
    """``DropoutStats`` of one forward: ``x`` the input ``[T, B, ...]``, ``mask`` broadcastable to it (0 = dropped).

    A unit is a (sample, neuron) pair; it is silent when its input is zero at every t. Fractions
    with an empty denominator (no spikes, nothing dropped) are NaN.
    """
    with torch.no_grad():
        dropped = (mask == 0).expand_as(x)
        active = x != 0
        n_dropped = dropped.sum()
        per_unit = dropped.sum(0)  # dropped entries over time, per (sample, neuron)
        silent = ~active.any(0)
        lo, hi = torch.aminmax(out)
        return DropoutStats(
            method=method,
            p=p,
            dropped_fraction=float(n_dropped) / x.numel(),
            spikes_removed=_fraction((dropped & active).sum(), active.sum()),
            silent_fraction=_fraction((per_unit * silent).sum(), n_dropped),
            out_mean=float(out.float().mean()),
            out_min=float(lo),
            out_max=float(hi),
        )
