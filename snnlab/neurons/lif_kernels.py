"""Fused LIF kernels: the whole recurrence over T in one pass each way, in C on CPU and in Triton on CUDA.

Why: the LIF recurrence is elementwise per neuron and sequential in time, so PyTorch runs it as
several small kernels per step, each a pass over ``[B, N]`` with its own buffers (forward and
backward), and on GPU one launch per op per step. Here one call runs all T steps for a block of
neurons with the state in registers/L1: forward writes the spikes and the pre-reset membrane
``h`` (the trace, and all that backward needs: spikes are recomputed from it), backward runs the
reverse recurrence in one pass and returns the gradients of the input and, when they require
grad, of ``beta`` and ``threshold``.

* CPU: ``csrc/lif.c`` (OpenMP over chunks of neurons, float32/float64, an AVX2 build picked at
  load time on x86-64 Linux), compiled on first use by ``snnlab.native`` (about 3 s, once per
  machine). Forward values are bit-identical to the loop of ``snnlab.functional.lif_step`` (same
  operations in the same order, no contraction); gradients agree to rounding (one expression per
  element; the scalar gradients summed per neuron over time, then in double), and every result
  is the same for any thread count.
* CUDA: ``lif_triton`` (imported only when used), float32/float64, float16/bfloat16 inputs
  computed in float32.

``SNNLAB_LIF_KERNEL=torch`` turns both off (the plain-PyTorch paths run). ``kernel_status(device)``
says which kernel a device would use and why; ``lif_kernel`` runs it; ``reference_lif`` is the
loop of ``lif_step`` every kernel is tested against.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from snnlab import native
from snnlab.functional.lif import RESETS, LIFParams, LIFState, lif_initial_state, lif_step
from snnlab.functional.surrogate import SURROGATES, Surrogate
from snnlab.validation import check_choice, check_int

KERNEL_ENV = "SNNLAB_LIF_KERNEL"  # "auto" (default: the kernel where one applies) or "torch"
KERNEL_CHOICES = ("auto", "torch")
CFLAGS = ("-O3", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC")
SOURCE = "lif.c"
RESET_CODES = {name: i for i, name in enumerate(RESETS)}  # as numbered in csrc/lif.c
SURROGATE_CODES = {name: i for i, name in enumerate(SURROGATES)}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_CTYPE = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
TRITON_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class KernelStatus:
    """Which LIF kernel a device uses: ``backend`` "c", "triton" or "torch", and ``reason`` why."""

    backend: str
    reason: str


def kernel_choice() -> str:
    """The choice made through ``SNNLAB_LIF_KERNEL`` ("auto" unless set), validated."""
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if choice not in KERNEL_CHOICES:
        raise ValueError(f"{KERNEL_ENV}={choice!r} is not a LIF kernel choice; allowed: {', '.join(KERNEL_CHOICES)}")
    return choice


# ---------------------------------------------------------------- the C library


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the argument types of the library's functions."""
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
    for dtype, suffix in _SUFFIX.items():
        real = _CTYPE[dtype]
        fwd = getattr(lib, f"lif_forward_{suffix}")
        fwd.argtypes = [p, i64, p, p, i64, i64, real, real, i32, i32, p, p, p]
        fwd.restype = None
        bwd = getattr(lib, f"lif_backward_{suffix}")
        bwd.argtypes = [p, p, i64, p, i64, p, i64, i64, real, real, i32, i32, i32, real, i32, p, p, i32, i32, p]
        bwd.restype = i32
        tsum = getattr(lib, f"time_sum_{suffix}")
        tsum.argtypes = [p, i64, p, p, i64, i64, i32]
        tsum.restype = None
    lib.lif_chunk.argtypes = [i64]
    lib.lif_chunk.restype = i64
    lib.lif_advise_huge.argtypes = [p, i64]
    lib.lif_advise_huge.restype = None
    return lib


@functools.lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, str]:
    """The compiled library (built once per source and compiler, cached on disk), or None and the reason."""
    return native.load_library("snnlab.neurons", SOURCE, CFLAGS, _bind)


def _triton_reason() -> str | None:
    """None when the Triton kernel can run on CUDA here, else why not."""
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed"
    return None


def kernel_status(device: torch.device | str = "cpu") -> KernelStatus:
    """Which fused LIF kernel tensors on ``device`` use, and why (a library path, or the reason for "torch")."""
    dev = torch.device(device)
    if kernel_choice() == "torch":
        return KernelStatus("torch", f"{KERNEL_ENV}=torch")
    if dev.type == "cpu":
        lib, reason = _load()
        return KernelStatus("c" if lib is not None else "torch", reason)
    if dev.type == "cuda":
        why = _triton_reason()
        return KernelStatus("torch", why) if why else KernelStatus("triton", "Triton kernel (snnlab.neurons.lif_triton)")
    return KernelStatus("torch", f"no fused LIF kernel for device type {dev.type!r} (CPU: C, CUDA: Triton)")


def kernel_applies(x: Tensor) -> tuple[bool, str]:
    """Whether ``lif_kernel`` handles ``x`` (device, dtype, kernel available), and if not, why."""
    status = kernel_status(x.device)
    if status.backend == "torch":
        return False, status.reason
    allowed = tuple(_SUFFIX) if status.backend == "c" else TRITON_DTYPES
    if x.dtype not in allowed:
        names = ", ".join(str(d).replace("torch.", "") for d in allowed)
        return False, f"the {status.backend} LIF kernel takes {names} on {x.device.type}, got {str(x.dtype).replace('torch.', '')}"
    return True, status.reason


@functools.lru_cache(maxsize=None)
def warn_unavailable(reason: str) -> None:
    """Say once per reason and process (the cache remembers it) that a requested LIF kernel could not be used."""
    warnings.warn(f"snnlab: fused LIF kernel unavailable ({reason}); using the plain-PyTorch fused backend", stacklevel=3)


# ---------------------------------------------------------------- layouts shared by both kernels


def time_major(t: Tensor) -> tuple[Tensor, int]:
    """``t[T, ...]`` as a tensor whose every step is contiguous, and the step stride in elements.

    An expand view over time (direct encoding: stride 0) is kept as it is, stride 0; anything
    else not laid out as contiguous steps is copied once.
    """
    m = t[0].numel() if t.shape[0] else 0
    if t.shape[0] > 0 and t[0].is_contiguous() and (t.stride(0) == 0 or t.stride(0) == m or t.shape[0] == 1):
        return t, (0 if t.stride(0) == 0 and t.shape[0] > 1 else m)
    return t.contiguous(), m


def scalar(value: float | Tensor, like: Tensor) -> Tensor:
    """``value`` as a 0-dim tensor (a learnable parameter is passed through as it is)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"beta and threshold must be scalars (one value per layer), got shape {tuple(value.shape)}")
        return value
    return torch.tensor(float(value), dtype=like.dtype if like.dtype == torch.float64 else torch.float32)


# ---------------------------------------------------------------- the C kernel's autograd node

HUGE_BYTES = 8 << 20  # outputs from this size on ask for huge pages (see lif_advise_huge in csrc/lif.c)


def _empty(lib: ctypes.CDLL, shape: torch.Size, dtype: torch.dtype) -> Tensor:
    """A fresh CPU output buffer; a large one is advised to use huge pages before it is first written."""
    t = torch.empty(shape, dtype=dtype)
    if t.nbytes >= HUGE_BYTES:
        lib.lif_advise_huge(t.data_ptr(), t.nbytes)
    return t


def _c_forward(x: Tensor, b: float, thr: float, reset: str, keep_h: bool) -> tuple[Tensor, Tensor | None]:
    """Run the C forward: spikes, and ``h`` when ``keep_h``."""
    lib, _ = _load()
    xs, sx = time_major(x.detach())
    steps, m = x.shape[0], x[0].numel()
    s = _empty(lib, x.shape, x.dtype)
    h = _empty(lib, x.shape, x.dtype) if keep_h else None
    real = _CTYPE[x.dtype]
    getattr(lib, f"lif_forward_{_SUFFIX[x.dtype]}")(
        xs.data_ptr(), sx, s.data_ptr(), h.data_ptr() if h is not None else None, steps, m, real(b), real(thr),
        RESET_CODES[reset], torch.get_num_threads(), None, None, None,
    )
    return s, h


class _CLIF(torch.autograd.Function):
    """``(spikes, h) = _CLIF.apply(x, beta, threshold, reset, surrogate, detach_reset)`` on CPU, with the C kernel."""

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, threshold: Tensor, reset: str, surrogate: Surrogate, detach_reset: bool):  # type: ignore[override]
        b, thr = float(beta.detach()), float(threshold.detach())
        s, h = _c_forward(x, b, thr, reset, keep_h=True)
        ctx.save_for_backward(h)
        ctx.b, ctx.thr, ctx.reset, ctx.surrogate, ctx.detach_reset = b, thr, reset, surrogate, detach_reset
        ctx.beta_dtype, ctx.thr_dtype = beta.dtype, threshold.dtype
        ctx.set_materialize_grads(False)  # None for an unused output: no zero tensor to read
        return s, h

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_h: Tensor | None):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        g_x, g_beta, g_thr = _c_backward(ctx, h, h.shape[0], g_s, g_h, static=False, need=ctx.needs_input_grad[1:3])
        return g_x, g_beta, g_thr, None, None, None


class _CLIFStatic(torch.autograd.Function):
    """``(spikes, h) = _CLIFStatic.apply(x, steps, beta, threshold, reset, surrogate, detach_reset, keep_h)``:
    the same current ``x[B, ...]`` at each of ``steps`` steps (direct encoding), on CPU.

    Nothing ``[T, B, ...]`` is saved for backward: it recomputes ``h`` chunk by chunk in cache from
    ``x`` and returns the gradient of ``x`` summed over time, which the expand of the general path
    would otherwise sum from a ``[T, B, ...]`` gradient. ``h`` is written only when ``keep_h``
    (else an empty tensor).
    """

    @staticmethod
    def forward(ctx, x: Tensor, steps: int, beta: Tensor, threshold: Tensor, reset: str, surrogate: Surrogate,  # type: ignore[override]
                detach_reset: bool, keep_h: bool):
        b, thr = float(beta.detach()), float(threshold.detach())
        x = x.detach().contiguous()
        s, h = _c_forward(x.unsqueeze(0).expand(steps, *x.shape), b, thr, reset, keep_h=keep_h)
        ctx.save_for_backward(x)
        ctx.b, ctx.thr, ctx.reset, ctx.surrogate, ctx.detach_reset = b, thr, reset, surrogate, detach_reset
        ctx.beta_dtype, ctx.thr_dtype, ctx.steps = beta.dtype, threshold.dtype, steps
        ctx.set_materialize_grads(False)
        if h is None:
            h = x.new_empty(0)
            ctx.mark_non_differentiable(h)
        return s, h

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_h: Tensor | None):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if g_h is not None and g_h.numel() == 0:
            g_h = None
        g_x, g_beta, g_thr = _c_backward(ctx, x, ctx.steps, g_s, g_h, static=True, need=ctx.needs_input_grad[2:4])
        return g_x, None, g_beta, g_thr, None, None, None, None


class _CLIFSummed(torch.autograd.Function):
    """``z = _CLIFSummed.apply(x, weights, steps, beta, threshold, reset, surrogate, detach_reset)``: the
    spikes summed over time with the constant ``weights[T]``, ``z = sum_t weights[t] * s_t`` (``[B, ...]``),
    on CPU, without writing the spikes.

    ``steps`` None: ``x`` is the current ``[T, B, ...]`` (its trace ``h`` is kept for backward);
    an int: ``x[B, ...]`` is held for that many steps (nothing ``[T, ...]`` is kept: backward
    recomputes ``h`` in cache, as ``_CLIFStatic``). Backward reads the spikes' gradient as
    ``weights[t] * dL/dz``, one row expanded over time: no ``[T, B, ...]`` gradient either.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weights: Tensor, steps: int | None, beta: Tensor, threshold: Tensor, reset: str,  # type: ignore[override]
                surrogate: Surrogate, detach_reset: bool, counts: Tensor | None):
        lib, _ = _load()
        b, thr = float(beta.detach()), float(threshold.detach())
        x = x.detach()
        static = steps is not None
        if static:
            x = x.contiguous()
            xs, sx, T, m = x.unsqueeze(0).expand(steps, *x.shape), 0, steps, x.numel()
            out_shape = x.shape
        else:
            xs, sx = time_major(x)
            T, m, out_shape = x.shape[0], x[0].numel(), x.shape[1:]
        w = weights.detach().to(x.dtype).contiguous()
        need_grad = any(ctx.needs_input_grad[i] for i in (0, 3, 4))
        h = _empty(lib, (T, *out_shape), x.dtype) if need_grad and not static else None
        z = torch.empty(out_shape, dtype=x.dtype)
        real = _CTYPE[x.dtype]
        getattr(lib, f"lif_forward_{_SUFFIX[x.dtype]}")(
            xs.data_ptr(), sx, None, h.data_ptr() if h is not None else None, T, m, real(b), real(thr),
            RESET_CODES[reset], torch.get_num_threads(), w.data_ptr(), z.data_ptr(),
            counts.data_ptr() if counts is not None else None,
        )
        ctx.save_for_backward(x if static else h, w)
        ctx.b, ctx.thr, ctx.reset, ctx.surrogate, ctx.detach_reset = b, thr, reset, surrogate, detach_reset
        ctx.beta_dtype, ctx.thr_dtype, ctx.steps, ctx.static = beta.dtype, threshold.dtype, T, static
        return z

    @staticmethod
    def backward(ctx, g_z: Tensor):  # type: ignore[override]
        saved, w = ctx.saved_tensors
        g_x, g_beta, g_thr = _c_backward(ctx, saved, ctx.steps, g_z.contiguous(), None, static=ctx.static,
                                         need=ctx.needs_input_grad[3:5], gscale=w)
        return g_x, None, None, g_beta, g_thr, None, None, None, None


def _c_backward(ctx: Any, h: Tensor, steps: int, g_s: Tensor | None, g_h: Tensor | None, *, static: bool,
                need: tuple[bool, bool], gscale: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Run the C backward: ``(g_x, g_beta, g_thr)``. ``h`` is the saved trace ``[T, ...]``, or with
    ``static`` the static input ``[...]`` (``g_x`` is then its gradient, summed over time); ``need``
    says whether beta and threshold want gradients (None is returned for those that do not).
    ``gscale[T]`` (contiguous, ``h``'s dtype): the spikes' gradient at step t is ``gscale[t] * g_s[t]``
    (with ``g_s`` one row expanded over time: a time-weighted sum's gradient, never materialised)."""
    lib, _ = _load()
    m = h.numel() if static else h[0].numel()
    shape = (steps, *h.shape) if static else h.shape
    need_beta, need_thr = need
    zero_row = None
    if g_s is None or g_h is None:  # an absent gradient is read as a zero row with step stride 0
        zero_row = torch.zeros(m, dtype=h.dtype)
    gs, sgs = time_major(g_s.to(h.dtype).expand(shape)) if g_s is not None else (zero_row, 0)
    gh, sgh = time_major(g_h.to(h.dtype).expand(shape)) if g_h is not None else (zero_row, 0)
    g_x = _empty(lib, h.shape, h.dtype)
    chunks = max(1, -(-m // int(lib.lif_chunk(m))))
    partial = torch.empty(2 * chunks, dtype=torch.float64)
    sums = torch.zeros(2, dtype=torch.float64)
    real = _CTYPE[h.dtype]
    failed = getattr(lib, f"lif_backward_{_SUFFIX[h.dtype]}")(
        h.data_ptr(), gs.data_ptr(), sgs, gh.data_ptr(), sgh, g_x.data_ptr(), steps, m, real(ctx.b), real(ctx.thr),
        RESET_CODES[ctx.reset], int(ctx.detach_reset), SURROGATE_CODES[ctx.surrogate.name],
        real(ctx.surrogate.scale), int(need_beta or need_thr), partial.data_ptr(), sums.data_ptr(),
        torch.get_num_threads(), int(static), gscale.data_ptr() if gscale is not None else None,
    )
    if failed:
        raise MemoryError(f"the LIF kernel's backward could not allocate its scratch buffer ({steps} steps x {m} neurons)")
    g_beta = sums[0].to(ctx.beta_dtype) if need_beta else None
    g_thr = sums[1].to(ctx.thr_dtype) if need_thr else None
    return g_x, g_beta, g_thr


# ---------------------------------------------------------------- dispatch


def _check_call(x: Tensor, reset: str, surrogate: Surrogate) -> None:
    """The checks every kernel entry makes: the reset, the surrogate, and that a kernel takes ``x``."""
    check_choice("reset", reset, RESETS)
    if not isinstance(surrogate, Surrogate):
        raise TypeError(f"surrogate must be a snnlab Surrogate, got {type(surrogate).__name__} ({surrogate!r})")
    applies, reason = kernel_applies(x)
    if not applies:
        raise ValueError(f"no fused LIF kernel for x (device={x.device.type}, dtype={x.dtype}): {reason}")

def lif_kernel(
    x: Tensor,
    beta: float | Tensor,
    threshold: float | Tensor,
    *,
    reset: str = "subtract",
    surrogate: Surrogate = Surrogate(),
    detach_reset: bool = False,
    keep_h: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Run the LIF recurrence over ``x[T, B, ...]`` with the fused kernel of ``x``'s device: ``(spikes, h)``.

    ``h`` is the pre-reset membrane ``[T, B, ...]``; when no gradient is needed and ``keep_h`` is
    False it is not written and None is returned. ``beta``/``threshold`` are floats or scalar
    tensors (learnable ones get gradients). Raises ValueError where ``kernel_applies(x)`` is False.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be time-major [T, B, ...] with T >= 1, got shape {tuple(x.shape)}")
    _check_call(x, reset, surrogate)
    beta_t, thr_t = scalar(beta, x), scalar(threshold, x)
    if x.device.type == "cuda":
        from snnlab.neurons import lif_triton  # Triton only when it is used

        return lif_triton.lif_triton(x, beta_t, thr_t, reset=reset, surrogate=surrogate, detach_reset=detach_reset,
                                     keep_h=keep_h)
    grad = torch.is_grad_enabled() and (x.requires_grad or beta_t.requires_grad or thr_t.requires_grad)
    if not grad:
        return _c_forward(x, float(beta_t), float(thr_t), reset, keep_h)
    return _CLIF.apply(x, beta_t, thr_t, reset, surrogate, bool(detach_reset))



def lif_kernel_static(
    x: Tensor,
    steps: int,
    beta: float | Tensor,
    threshold: float | Tensor,
    *,
    reset: str = "subtract",
    surrogate: Surrogate = Surrogate(),
    detach_reset: bool = False,
    keep_h: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """``lif_kernel`` for a time-constant input: the current ``x[B, ...]`` at each of ``steps`` steps.

    The same values as ``lif_kernel(x.expand(steps, ...))``, for less memory traffic on CPU: the
    backward recomputes ``h`` in cache instead of saving it and gives ``x`` its gradient summed
    over time directly (the direct encoding's case). ``h`` is written only when ``keep_h`` (else
    None). On CUDA this is the expanded call (the Triton kernel reads a step stride of 0).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape [B, ...] (one step's current), got {type(x).__name__}")
    steps = check_int("steps", steps, minimum=1)
    if x.device.type != "cpu":
        spikes, h = lif_kernel(x.unsqueeze(0).expand(steps, *x.shape), beta, threshold, reset=reset,
                               surrogate=surrogate, detach_reset=detach_reset, keep_h=keep_h)
        return spikes, h
    _check_call(x, reset, surrogate)
    beta_t, thr_t = scalar(beta, x), scalar(threshold, x)
    grad = torch.is_grad_enabled() and (x.requires_grad or beta_t.requires_grad or thr_t.requires_grad)
    if not grad:
        return _c_forward(x.unsqueeze(0).expand(steps, *x.shape), float(beta_t), float(thr_t), reset, keep_h)
    spikes, h = _CLIFStatic.apply(x, steps, beta_t, thr_t, reset, surrogate, bool(detach_reset), bool(keep_h))
    return spikes, (h if keep_h else None)

def lif_kernel_summed(
    x: Tensor,
    weights: Tensor,
    beta: float | Tensor,
    threshold: float | Tensor,
    *,
    steps: int | None = None,
    reset: str = "subtract",
    surrogate: Surrogate = Surrogate(),
    detach_reset: bool = False,
    counts: Tensor | None = None,
) -> Tensor:
    """The LIF spikes summed over time with ``weights[T]``, ``z = sum_t weights[t] * s_t``, on the C kernel.

    What a linear readout's time mean needs of a layer (``mean_t W s_t = W z``): the spikes are
    never written, forward or backward. ``x`` is the current ``[T, B, ...]``, or with ``steps`` the
    time-constant current ``x[B, ...]`` held for ``steps`` steps (then ``weights`` has ``steps``
    entries). ``weights`` is a constant (no gradient); ``x``, ``beta`` and ``threshold`` get theirs.
    ``counts``: a contiguous tensor of z's shape and dtype, filled with the spike counts ``sum_t s_t``
    (no gradient). CPU tensors only (``kernel_applies``): a ValueError elsewhere.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor ([T, B, ...], or [B, ...] with steps), got {type(x).__name__}")
    if steps is not None:
        steps = check_int("steps", steps, minimum=1)
    elif x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be time-major [T, B, ...] with T >= 1 (or give steps), got shape {tuple(x.shape)}")
    T = steps if steps is not None else x.shape[0]
    if not isinstance(weights, Tensor) or tuple(weights.shape) != (T,):
        raise ValueError(f"weights must be a tensor of shape ({T},), one per step, got "
                         f"{tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__}")
    if weights.requires_grad:
        raise ValueError("weights must be a constant (requires_grad=False): the summed kernel gives them no gradient")
    if x.device.type != "cpu":
        raise ValueError(f"lif_kernel_summed runs on CPU tensors only, got x on {x.device.type}")
    _check_call(x, reset, surrogate)
    out_shape = tuple(x.shape) if steps is not None else tuple(x.shape[1:])
    if counts is not None and (not isinstance(counts, Tensor) or tuple(counts.shape) != out_shape
                               or counts.dtype != x.dtype or counts.device.type != "cpu"
                               or not counts.is_contiguous() or counts.requires_grad):
        got = (f"{tuple(counts.shape)} {counts.dtype} on {counts.device.type}" if isinstance(counts, Tensor)
               else type(counts).__name__)
        raise ValueError(f"counts must be a contiguous CPU tensor of shape {out_shape} and dtype {x.dtype} without "
                         f"gradient (z's), got {got}")
    beta_t, thr_t = scalar(beta, x), scalar(threshold, x)
    return _CLIFSummed.apply(x, weights, steps, beta_t, thr_t, reset, surrogate, bool(detach_reset), counts)


class _CTimeSum(torch.autograd.Function):
    """``z = _CTimeSum.apply(x, weights)``: ``sum_t weights[t] * x[t]`` over ``x[T, ...]`` on CPU, in the
    summed LIF kernel's order (so written spikes summed here equal the fused sum bit for bit)."""

    @staticmethod
    def forward(ctx, x: Tensor, weights: Tensor):  # type: ignore[override]
        lib, _ = _load()
        xs, sx = time_major(x.detach())
        w = weights.detach().to(x.dtype).contiguous()
        z = torch.empty(x.shape[1:], dtype=x.dtype)
        getattr(lib, f"time_sum_{_SUFFIX[x.dtype]}")(xs.data_ptr(), sx, w.data_ptr(), z.data_ptr(), x.shape[0],
                                                      x[0].numel(), torch.get_num_threads())
        ctx.save_for_backward(w)
        return z

    @staticmethod
    def backward(ctx, g_z: Tensor):  # type: ignore[override]
        (w,) = ctx.saved_tensors
        return w.view(-1, *([1] * g_z.dim())) * g_z.unsqueeze(0), None


def time_weighted_sum(x: Tensor, weights: Tensor) -> Tensor:
    """``sum_t weights[t] * x[t]`` over ``x[T, B, ...]``: ``[B, ...]``, differentiable in ``x``.

    A leaky-integrator readout's time mean is a linear function of this sum of its input spikes. On
    CPU (float32/float64, C library built) it adds in time order per element exactly as the summed
    LIF kernel does (``lif_kernel_summed``), so a model gives the same logits whether its last layer
    wrote its spikes (a recording, a dropout method) or summed them in the kernel; elsewhere
    ``tensordot``. ``weights`` (``[T]``) is a constant.
    """
    if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be a time-major tensor [T, B, ...] with T >= 1, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if not isinstance(weights, Tensor) or tuple(weights.shape) != (x.shape[0],):
        raise ValueError(f"weights must be a tensor of shape ({x.shape[0]},), one per step, got "
                         f"{tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__}")
    if x.device.type == "cpu" and x.dtype in _SUFFIX and kernel_status("cpu").backend == "c":
        return _CTimeSum.apply(x, weights)
    return torch.tensordot(weights.to(x.dtype), x, dims=1)


def reference_lif(x: Tensor, params: LIFParams) -> tuple[Tensor, Tensor]:
    """The reference every kernel is tested against: a loop of ``lif_step`` over ``x[T, ...]``, ``(spikes, h)``."""
    state: LIFState = lif_initial_state(x[0])
    spikes, hs = [], []
    for xt in x.unbind(0):
        s, state = lif_step(xt, state, params)
        spikes.append(s)
        hs.append(state.h)
    return torch.stack(spikes), torch.stack(hs)


__all__ = [
    "KERNEL_CHOICES",
    "KERNEL_ENV",
    "KernelStatus",
    "kernel_applies",
    "kernel_choice",
    "kernel_status",
    "lif_kernel",
    "lif_kernel_static",
    "lif_kernel_summed",
    "reference_lif",
    "time_weighted_sum",
    "time_major",
    "warn_unavailable",
]
