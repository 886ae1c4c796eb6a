"""Input encodings: turn a batch ``x[B, ...]`` of intensities into a time-major sequence ``[T, B, ...]``.

``rate``: Bernoulli spikes with probability ``gain * x`` at every step (Poisson-like).
``latency``: one spike per input, brighter inputs earlier (the paper's first-firing-time input).
``direct``: the analogue value at every step (an ``expand``, no copy: the first layer's GEMM can
be computed once). ``noisy_repeat``: the value at every step under an independent
Bernoulli(``keep``) mask per step (the write-up's "repeat with random noisy masks").

Every encoder checks its arguments' type, dtype and dimensions on every call (no cost on the
device). The *value* checks (finite, and in [0, 1] where the encoding needs it) read the data
back to the host, a device->host synchronisation on CUDA; they run by default and are skipped
with ``validate=False``, which the models use on every forward: data from
``snnlab.data.load_dataset`` is already finite and in [0, 1] (docs/design.md: no device->host
synchronisation inside the training step).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlab.validation import all_finite, check_choice, check_float, check_int

ENCODINGS = ("rate", "latency", "direct", "noisy_repeat")


def _check_x(x: Tensor, *, unit_interval: bool, scale: float = 1.0, validate: bool = True, what: str = "x") -> None:
    """x must be a floating tensor with a batch dimension (always checked: metadata only).

    With ``validate`` also its values (each a device->host sync): finite, and where the encoding
    needs probabilities/intensities (``unit_interval``), ``scale*x`` in [0, 1].
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape [B, ...], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1:
        raise ValueError(f"{what} must have a batch dimension [B, ...], got a 0-d tensor")
    if not validate or x.numel() == 0:
        return
    if not all_finite(x):
        raise ValueError(f"{what} contains non-finite values (nan/inf); encodings need finite inputs")
    if unit_interval:
        lo, hi = float(x.min()) * scale, float(x.max()) * scale
        if lo < 0.0 or hi > 1.0:
            factor = "" if scale == 1.0 else "gain*"
            raise ValueError(
                f"{factor}{what} must lie in [0, 1] for this encoding, got values in [{lo:.4g}, {hi:.4g}]"
                + ("" if scale == 1.0 else f" (gain={scale})")
                + "; rescale the data (it is not clamped)"
            )


def _check_validate(validate: bool) -> bool:
    """``validate`` must be a bool (not a truthy stand-in: a typo should not switch checks off)."""
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be a bool (True or False), got {type(validate).__name__} ({validate!r})")
    return validate


def _check_generator(generator: torch.Generator | None) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def rate(
    x: Tensor, T: int, *, gain: float = 1.0, generator: torch.Generator | None = None, validate: bool = True
) -> Tensor:
    """Rate code: ``out[t] ~ Bernoulli(gain * x)`` independently per step; ``gain*x`` must lie in [0, 1].

    ``validate=False`` skips the value checks (finite, in [0, 1]; each a device->host sync): the
    caller guarantees them.
    """
    T = check_int("T", T, minimum=1)
    gain = check_float("gain", gain, low=0.0)
    _check_generator(generator)
    _check_x(x, unit_interval=True, scale=gain, validate=_check_validate(validate))
    u = torch.rand((T, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return (u < x * gain).to(x.dtype)


def latency(x: Tensor, T: int, *, threshold: float = 0.01, linear: bool = True, validate: bool = True) -> Tensor:
    """Latency code: one spike per input with ``x > threshold`` (none otherwise); brighter fires earlier.

    Linear (default): ``t = round((1 - x) * (T - 1))`` (x = 1 at step 0, x = 0 at the last step).
    ``linear=False``: logarithmic, RC-charging-like mapping ``t = round((T - 1) * ln(x) / ln(threshold))``,
    which spreads the bright end and compresses the dim end (needs ``threshold > 0``).
    ``validate=False`` skips the value checks (finite, in [0, 1]; each a device->host sync): the
    caller guarantees them (a value outside [0, 1] would give a spike time outside [0, T-1]: an index
    error).
    """
    T = check_int("T", T, minimum=1)
    threshold = check_float("threshold", threshold, low=0.0, high=1.0, high_inclusive=False)
    if not isinstance(linear, bool):
        raise TypeError(f"linear must be a bool, got {type(linear).__name__} ({linear!r})")
    if not linear and threshold == 0.0:
        raise ValueError("threshold=0.0 is not allowed with linear=False: the log mapping needs threshold in (0, 1)")
    _check_x(x, unit_interval=True, validate=_check_validate(validate))
    fire = x > threshold
    if linear:
        t = torch.round((1.0 - x) * (T - 1))
    else:
        safe = torch.where(fire, x, torch.ones_like(x))  # log of dim inputs is never used
        t = torch.round((T - 1) * torch.log(safe) / math.log(threshold))
    t = t.long()  # x in [0, 1] (checked, or promised with validate=False) keeps t in [0, T-1]
    out = torch.zeros((T, *x.shape), device=x.device, dtype=x.dtype)
    out.scatter_(0, t.unsqueeze(0), fire.to(x.dtype).unsqueeze(0))
    return out


def direct(x: Tensor, T: int, *, validate: bool = True) -> Tensor:
    """Direct (analogue) code: ``x`` at every step, as an ``expand`` view ``[T, B, ...]`` (no copy).

    ``validate=False`` skips the finiteness check (a device->host sync): the caller guarantees it.
    """
    T = check_int("T", T, minimum=1)
    _check_x(x, unit_interval=False, validate=_check_validate(validate))
    return x.unsqueeze(0).expand(T, *x.shape)


def noisy_repeat(
    x: Tensor, T: int, *, keep: float = 0.5, generator: torch.Generator | None = None, validate: bool = True
) -> Tensor:
    """Repeat ``x`` at every step times an independent Bernoulli(``keep``) mask per step and element (no rescaling).

    ``validate=False`` skips the finiteness check (a device->host sync): the caller guarantees it.
    """
    T = check_int("T", T, minimum=1)
    keep = check_float("keep", keep, low=0.0, high=1.0, low_inclusive=False)
    _check_generator(generator)
    _check_x(x, unit_interval=False, validate=_check_validate(validate))
    u = torch.rand((T, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return x.unsqueeze(0) * (u < keep).to(x.dtype)


ENCODING_OPTIONS: dict[str, tuple[str, ...]] = {
    "rate": ("gain",), "latency": ("threshold", "linear"), "direct": (), "noisy_repeat": ("keep",),
}  # the keyword options each encoding takes (``direct`` takes none)


def check_encoding_options(name: str, options: dict | None) -> dict:
    """The options of encoding ``name`` as a new dict, checked now rather than at the first forward.

    ``options`` must be None or a dict whose keys are options ``name`` takes (``ENCODING_OPTIONS``:
    ``direct`` takes none, so any option given for it is an error, not silently ignored) and whose
    values the encoder accepts (checked by encoding an empty batch with a private generator: the
    caller's random streams are left alone). Raises ValueError/TypeError naming option and value.
    """
    check_choice("encoding", name, ENCODINGS)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"encoding_options must be a dict of options or None, got {type(options).__name__} ({options!r})")
    unknown = sorted(map(str, set(options) - set(ENCODING_OPTIONS[name])))
    if unknown:
        allowed = ", ".join(map(repr, ENCODING_OPTIONS[name])) or "none (it takes no options)"
        raise ValueError(f"encoding_options has unknown option(s) {unknown} for encoding {name!r}; allowed: {allowed}")
    encode(torch.zeros(0), name, 1, generator=torch.Generator(), **options)  # the encoder's own value checks
    return dict(options)


def encode(
    x: Tensor,
    name: str,
    T: int,
    *,
    generator: torch.Generator | None = None,
    validate: bool = True,
    **options: float | bool,
) -> Tensor:
    """Encode ``x[B, ...]`` with the encoding ``name`` into ``[T, B, ...]``.

    ``generator`` drives the stochastic encodings (``rate``, ``noisy_repeat``) and is not
    used by the deterministic ones; ``options`` are the chosen encoding's keyword options.
    ``validate=False`` skips the value checks of ``x`` (finite, in [0, 1] where the encoding
    needs it), each a device->host sync: models pass it on every forward, since their data
    (``snnlab.data.load_dataset``) is already in [0, 1]. Type, dtype and shape are always checked.
    """
    check_choice("encoding", name, ENCODINGS)
    _check_generator(generator)
    _check_validate(validate)
    unknown = sorted(set(options) - set(ENCODING_OPTIONS[name]))
    if unknown:
        allowed = ", ".join(ENCODING_OPTIONS[name]) or "none"
        raise ValueError(f"unknown option(s) {unknown} for encoding {name!r}; allowed: {allowed}")
    if name == "rate":
        return rate(x, T, generator=generator, validate=validate, **options)
    if name == "latency":
        return latency(x, T, validate=validate, **options)
    if name == "direct":
        return direct(x, T, validate=validate)
    return noisy_repeat(x, T, generator=generator, validate=validate, **options)
