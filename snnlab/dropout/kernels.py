"""Fused CPU kernel for per-element dropout: draw the mask and apply it in one pass each way.

Why: a mask that is new at every time step (the classic methods) covers the whole ``[T, B, N]``
spike tensor. In plain PyTorch on CPU that costs four passes over it per training step: random
bytes, the float mask, the masked product and the masked product of the backward (about 7 ms at
``[25, 128, 800]`` against a 43 ms step). The C kernel in ``csrc/keep_affine.c`` does the forward
in one pass (it draws, compares, and writes the output and a uint8 mask) and the backward in one.

Its random numbers come from a counter-based generator: element ``i`` reads 16 bits of
``splitmix64(seed + (i // 4 + 1) * 0x9E3779B97F4A7C15)`` (the finaliser of SplitMix64, the
generator behind Java's SplittableRandom), lane ``i % 4``. A mask therefore depends only on the
64-bit ``seed`` (drawn from the dropout module's ``torch.Generator``) and the element's index:
the same for any thread count, and reproduced bit for bit by ``reference_keep_affine``, the
plain-PyTorch twin the tests compare it with (masks, outputs, gradients). An element is dropped
when its lane is below ``round(drop * 65536)``: the rate is quantised to 1/65536, as in
``keep_mask``'s per-unit path.

The library is compiled with the system C compiler on first use (well under a second) into a
cache folder and loaded after torch, so its OpenMP loops run on torch's thread pool (one pool, no
two runtimes spinning against each other). On other devices, without a compiler (a warning says
so), or with ``SNNLAB_DROPOUT_KERNEL=torch``, the twin runs instead: the same masks and outputs
for the same seed, only slower on CPU (about 20 ms per ``[25, 128, 800]`` forward instead of 2).
``kernel_status()`` says which is in use and why.
"""

from __future__ import annotations

import ctypes
import functools
import os
import tempfile  # noqa: F401  (the build goes through snnlab.native; tests patch kernels.tempfile.tempdir)
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from snnlab import native

GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment (the golden ratio in 64 bits)
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
LANES = 4  # 16-bit lanes per 64-bit draw
KERNEL_ENV = "SNNLAB_DROPOUT_KERNEL"  # "c" (default: the fused kernel where it applies) or "torch"
KERNEL_CHOICES = ("c", "torch")
CFLAGS = ("-O3", "-ffp-contract=off", "-fopenmp", "-shared", "-fPIC")
SOURCE = "keep_affine.c"
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_CTYPE = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}


def lane_threshold(drop: float) -> int:
    """The 16-bit threshold: an element is dropped when its lane is below it (``P = threshold / 65536``)."""
    return min(int(round(float(drop) * 65536)), 65535)


# ---------------------------------------------------------------- plain-PyTorch reference


def _signed(v: int) -> int:
    """A 64-bit pattern as the int64 torch stores it."""
    v %= 1 << 64
    return v - (1 << 64) if v >= 1 << 63 else v


def _logical_shift(z: Tensor, s: int) -> Tensor:
    """``z >> s`` on int64 with zeros shifted in (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def reference_lanes(seed: int | Tensor, n: int, device: torch.device | str = "cpu") -> Tensor:
    """The kernel's 16-bit uniform lanes for elements ``0..n-1`` (int32), in plain PyTorch (the twin's draw).

    ``seed`` is an int, or a 0-d int64 tensor holding its 64-bit pattern (on CUDA the seed stays on
    the device, so drawing it needs no host sync).
    """
    words = (n + LANES - 1) // LANES
    z = torch.arange(1, words + 1, dtype=torch.int64, device=device) * _signed(GAMMA)
    z = z + (seed.to(device=z.device, dtype=torch.int64) if isinstance(seed, Tensor) else _signed(seed))
    z = (z ^ _logical_shift(z, 30)) * _signed(MIX1)
    z = (z ^ _logical_shift(z, 27)) * _signed(MIX2)
    z = z ^ _logical_shift(z, 31)
    lanes = torch.stack([_logical_shift(z, 16 * k) & 0xFFFF for k in range(LANES)], dim=1)
    return lanes.reshape(-1)[:n].to(torch.int32)


def reference_keep_affine(
    x: Tensor, drop: float, seed: int | Tensor, *, scale: float = 1.0, shift: float = 0.0, bias: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Plain-PyTorch twin of ``fused_keep_affine``: ``(out, mask)`` with the same mask, arithmetic and gradient."""
    keep = reference_lanes(seed, x.numel(), x.device).reshape(x.shape) >= lane_threshold(drop)
    out = ((x + shift) * scale) * keep.to(x.dtype) + bias
    return out, keep.to(torch.uint8)


# ---------------------------------------------------------------- loading the C library (built by snnlab.native)


@dataclass(frozen=True)
class KernelStatus:
    """Which dropout kernel is in use: ``backend`` "c" or "torch", ``reason`` why (path of the library, or the failure)."""

    backend: str
    reason: str


def kernel_choice() -> str:
    """The backend asked for through ``SNNLAB_DROPOUT_KERNEL`` ("c" unless set), validated."""
    choice = os.environ.get(KERNEL_ENV, "c").strip().lower() or "c"
    if choice not in KERNEL_CHOICES:
        raise ValueError(f"{KERNEL_ENV}={choice!r} is not a dropout kernel; allowed: {', '.join(KERNEL_CHOICES)}")
    return choice


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the argument types of the library's functions."""
    p, i64, u64, u32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint32
    for dtype, suffix in _SUFFIX.items():
        real = _CTYPE[dtype]
        fwd = getattr(lib, f"keep_affine_forward_{suffix}")
        fwd.argtypes = [p, p, p, i64, u64, u32, real, real, real]
        fwd.restype = None
        bwd = getattr(lib, f"keep_affine_backward_{suffix}")
        bwd.argtypes = [p, p, real, p, i64]
        bwd.restype = None
    return lib


@functools.lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, str]:
    """The compiled library (built once per source and compiler, cached on disk), or None and the reason."""
    return native.load_library("snnlab.dropout", SOURCE, CFLAGS, _bind)


def kernel_status() -> KernelStatus:
    """Which backend the fused per-element dropout uses in this process, and why."""
    if kernel_choice() == "torch":
        return KernelStatus("torch", f"{KERNEL_ENV}=torch")
    lib, reason = _load()
    return KernelStatus("c" if lib is not None else "torch", reason)


@functools.lru_cache(maxsize=1)
def _warn_fallback(reason: str) -> None:
    """Say once per process (the cache remembers it) that the C kernel could not be used, and why."""
    warnings.warn(
        f"snnlab: fused dropout kernel unavailable ({reason}); per-step masks use the plain-PyTorch twin "
        "(the same masks, several times slower on CPU)",
        stacklevel=3,
    )


def fused_applies(x: Tensor) -> bool:
    """Whether ``fused_keep_affine`` handles ``x``: a CPU float32/float64 tensor, with the library built."""
    if x.device.type != "cpu" or x.dtype not in _SUFFIX or kernel_choice() != "c":
        return False
    lib, reason = _load()
    if lib is None:
        _warn_fallback(reason)
    return lib is not None


# ---------------------------------------------------------------- the autograd function


class _FusedKeepAffine(torch.autograd.Function):
    """``out = ((x + shift) * scale) * keep + bias``, ``keep`` drawn in the kernel; gradient ``scale * keep``."""

    @staticmethod
    def forward(ctx, x: Tensor, thr: int, seed: int, scale: float, shift: float, bias: float):  # type: ignore[override]
        lib, _ = _load()
        xc = x.detach().contiguous()
        out = torch.empty_like(xc)
        mask = torch.empty(xc.shape, dtype=torch.uint8)
        real = _CTYPE[xc.dtype]
        getattr(lib, f"keep_affine_forward_{_SUFFIX[xc.dtype]}")(
            xc.data_ptr(), out.data_ptr(), mask.data_ptr(), xc.numel(), seed, thr, real(scale), real(shift), real(bias)
        )
        ctx.save_for_backward(mask)
        ctx.scale = scale
        ctx.mark_non_differentiable(mask)
        return out, mask

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_mask: Tensor | None):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        lib, _ = _load()
        g = grad.contiguous()
        out = torch.empty_like(g)
        getattr(lib, f"keep_affine_backward_{_SUFFIX[g.dtype]}")(
            g.data_ptr(), mask.data_ptr(), _CTYPE[g.dtype](ctx.scale), out.data_ptr(), g.numel()
        )
        return out, None, None, None, None, None


def fused_keep_affine(
    x: Tensor, drop: float, seed: int, *, scale: float = 1.0, shift: float = 0.0, bias: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Drop each element of ``x`` with probability ``drop`` and map the rest: ``(out, mask)``.

    ``out = ((x + shift) * scale) * keep + bias`` elementwise; ``mask`` is uint8 (1 = kept) of
    ``x``'s shape; the gradient to ``x`` is ``scale`` where kept and 0 where dropped. ``seed`` is
    any integer (taken modulo 2^64). Raises where ``fused_applies(x)`` is False.
    """
    if not fused_applies(x):
        status = kernel_status()
        raise ValueError(
            f"fused_keep_affine needs a CPU float32/float64 tensor and the C kernel; got device={x.device.type}, "
            f"dtype={x.dtype}, kernel={status.backend} ({status.reason})"
        )
    return _FusedKeepAffine.apply(x, lane_threshold(drop), int(seed) % (1 << 64), float(scale), float(shift), float(bias))


def keep_affine(
    x: Tensor, drop: float, seed: int | Tensor, *, scale: float = 1.0, shift: float = 0.0, bias: float = 0.0
) -> tuple[Tensor, Tensor]:
    """``fused_keep_affine`` where it applies, else its plain-PyTorch twin: the same ``(out, mask)`` either way."""
    if fused_applies(x):
        return _FusedKeepAffine.apply(x, lane_threshold(drop), int(seed) % (1 << 64), float(scale), float(shift), float(bias))
    return reference_keep_affine(x, drop, seed, scale=scale, shift=shift, bias=bias)


def draw_seed(generator: torch.Generator) -> int | Tensor:
    """One 64-bit kernel seed from a module's generator (advances it by one draw).

    On CPU an int (for the C kernel); elsewhere a 0-d int64 tensor left on the generator's device,
    so a training step never waits for the device to hand the seed over.
    """
    word = torch.empty((1,), dtype=torch.int64, device=generator.device).random_(-(2**63), None, generator=generator)
    if word.device.type == "cpu":
        return int(word.item()) % (1 << 64)
    return word[0]


__all__ = [
    "KERNEL_CHOICES",
    "KERNEL_ENV",
    "KernelStatus",
    "draw_seed",
    "fused_applies",
    "fused_keep_affine",
    "kernel_choice",
    "kernel_status",
    "keep_affine",
    "lane_threshold",
    "reference_keep_affine",
    "reference_lanes",
]
