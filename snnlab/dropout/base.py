"""The dropout contract shared by every method (see docs/design.md, "Dropout: the contract").

Every method is a ``SpikeDropout``: an ``nn.Module`` called by its spiking block with one
``LayerContext`` (the layer's spikes ``[T, B, ...]``, the neuron-state summary the method asked
for, the weight of the synapse it sits behind and of the synapse after it). It returns the dropped
spikes and keeps its ``last_stats``; it applies its own inference scaling. A method never reaches
into a model, and a model never branches on a method: the block reads only what the method
declares it needs (``membrane``), and ``wrap_next`` lets a method wrap the following synapse
(DropConnect) once, when the model is built.

Each class carries its own description (registry key, label, family, what it conditions on,
whether its mask is time-consistent and causal, rescale modes, option presets, colour): the
registry (``snnlab.dropout.registry``) and every catalogue of the study read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from snnlab.dropout.masks import count_stats, mask_stats
from snnlab.dropout.stats import DropoutStats
from snnlab.generators import generator_on
from snnlab.validation import check_bool, check_choice, check_float, check_seed

RESCALES = ("inverted", "none")
FAMILIES = ("baseline", "classic", "snn_aware")
MEMBRANE_SUMMARIES = ("trace", "mean")


@dataclass(frozen=True)
class LayerContext:
    """What a spiking block hands its dropout method at every forward.

    ``spikes``: the layer's outputs ``[T, B, ...]``. ``membrane``: the neuron-state summary the
    method declared (``SpikeDropout.membrane``): the trace ``[T, B, ...]`` or the time mean
    ``[1, B, ...]`` (a neuron may hand the trace for a mean; consumers take the mean over time),
    None when nothing was asked. ``weight``: the weight of the synapse driving the layer (first
    dimension = the layer's neurons or channels). ``next_weight``: the weight of the synapse the
    layer drives (second dimension = its neurons), None at the top.
    """

    spikes: Tensor
    membrane: Tensor | None = None
    weight: Tensor | None = None
    next_weight: Tensor | None = None


class CountedWindow(NamedTuple):
    """How a forward on a time sum is summarised for ``last_stats``: the window's length and the kept spikes' scale."""

    steps: int
    scale: float


class SpikeDropout(nn.Module):
    """Base class of every dropout method.

    Subclasses implement ``_drop(ctx)`` (not ``_apply``: that name belongs to nn.Module) and set
    the class attributes that describe them (below); ``snnlab.dropout.registry.register`` adds
    them to the catalogue.
    """

    # ---- what the method is (read by the registry, plots, widgets, statistics and the CLI)
    key: ClassVar[str] = "base"
    label: ClassVar[str] = "base"  # display name
    family: ClassVar[str] = "baseline"  # one of FAMILIES
    conditions_on: ClassVar[str] = "nothing"  # what its mask depends on, in words
    time_consistent: ClassVar[bool] = False  # the same mask at every t for a sample (default options)
    causal: ClassVar[bool] = True  # the mask at step t uses only steps <= t of the same sample
    supported_rescale: ClassVar[tuple[str, ...]] = RESCALES
    extra_options: ClassVar[tuple[str, ...]] = ()  # method-specific keyword options
    label_options: ClassVar[tuple[str, ...]] = ()  # options whose value is part of a condition's label
    presets: ClassVar[tuple[dict[str, Any], ...]] = ({},)  # the option sets the study compares
    color: ClassVar[str] = "#7f7f7f"
    variant_colors: ClassVar[dict[str, str]] = {}  # label suffix (an option value) -> colour
    probability_map: ClassVar[bool] = False  # exposes per-neuron drop probabilities (last_probabilities)
    # ---- what the method needs from its block
    membrane: ClassVar[str | None] = None  # None, "trace" ([T, B, ...]) or "mean" (time mean, [1, B, ...])
    needs_weight: ClassVar[bool] = False  # reads ctx.weight
    acts_on: ClassVar[str] = "spikes"  # or "synapses" (it wraps the next synapse: wrap_next)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Keyword options ``make_dropout`` accepts for this method."""
        return ("rescale", "generator", "seed", "mc") + cls.extra_options

    def __init__(
        self,
        p: float = 0.0,
        *,
        rescale: str = "inverted",
        generator: torch.Generator | None = None,
        seed: int | None = None,
        mc: bool = False,
    ) -> None:
        super().__init__()
        self.p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
        check_choice("rescale", rescale, RESCALES)
        if rescale not in self.supported_rescale:
            raise ValueError(
                f"rescale={rescale!r} is not meaningful for the {self.key!r} method; "
                f"it supports: {', '.join(map(repr, self.supported_rescale))}"
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.rescale = rescale
        self.mc = check_bool("mc", mc)
        seed = check_seed("seed", seed, optional=True)  # an integer a generator takes: 1.7 is refused, not truncated
        self._generator = generator
        # Without an explicit seed, draw one from the global RNG so torch.manual_seed controls it.
        self._seed = seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self._last_stats: DropoutStats | None = None
        # Detached (x, mask, out) of the last sampling forward; reduced to DropoutStats on first access
        # of ``last_stats`` so that the training step does not pay for diagnostics nobody reads.
        self._stats_source: tuple[Tensor, Tensor, tuple[float, float, float] | CountedWindow] | None = None

    # ---------------------------------------------------------------- randomness
    def reseed(self, seed: int) -> None:
        """Restart this module's mask stream from ``seed`` (drops any caller-supplied generator)."""
        self._seed = check_seed("seed", seed)
        self._generator = None

    def generator_for(self, device: torch.device) -> torch.Generator:
        """The module's generator on ``device`` (created lazily from the seed)."""
        self._generator = generator_on(self._generator, device, self._seed)
        return self._generator

    # ---------------------------------------------------------------- state
    @property
    def sampling(self) -> bool:
        """True when masks are drawn: in training mode, or in eval with MC mode on."""
        return self.training or self.mc

    @property
    def keep(self) -> float:
        return 1.0 - self.p

    @property
    def inference_scale(self) -> float:
        """Factor applied to the output when not sampling (rescale="none"): the keep probability
        (for the probability-shaped methods the layer's mean keep; each neuron gets its own)."""
        if self.sampling or self.rescale != "none" or self.p == 0.0:
            return 1.0
        return self.keep

    @property
    def last_stats(self) -> DropoutStats | None:
        """Statistics of the last sampling forward (None before the first one); computed lazily, once."""
        if self._stats_source is not None:
            self._last_stats = self._compute_stats(*self._stats_source)
            self._stats_source = None
        return self._last_stats

    def clear_stats(self) -> None:
        """Forget the last statistics (``last_stats`` is None until the next sampling forward)."""
        self._stats_source = None
        self._last_stats = None

    def _record(self, x: Tensor, mask: Tensor, *, scale: float = 1.0, shift: float = 0.0, bias: float = 0.0) -> None:
        """Remember what this forward did for a later ``last_stats``: the output was ``scale*mask*(x+shift)+bias``.

        Only detached references to ``x`` and ``mask`` are kept (no copy); the output is rebuilt on
        demand rather than kept alive, so the diagnostics hold as little memory as possible.
        """
        self._stats_source = (x.detach(), mask.detach(), (float(scale), float(shift), float(bias)))
        self._last_stats = None

    def _record_counts(self, counts: Tensor, steps: int, mask: Tensor, *, scale: float = 1.0) -> None:
        """Remember a forward on a time sum (``drop_time_sum``): the layer's spike counts over ``steps``
        steps and the mask held over them (0 where dropped; a kept spike became ``scale * mask``), the mask
        kept as ``[1, B, ...]`` like the one ``forward`` records."""
        self._stats_source = (counts.detach(), mask.detach().unsqueeze(0), CountedWindow(int(steps), float(scale)))
        self._last_stats = None

    def _compute_stats(self, x: Tensor, mask: Tensor, affine: tuple[float, float, float] | CountedWindow) -> DropoutStats:
        """Reduce a recorded forward to ``DropoutStats``; ``mask`` is 0 exactly where a unit was dropped.
        A ``CountedWindow`` in place of the affine map: ``x`` holds spike counts (``_record_counts``)."""
        if isinstance(affine, CountedWindow):
            return count_stats(self.key, self.p, x, affine.steps, mask * affine.scale)
        scale, shift, bias = affine
        if not mask.is_floating_point():  # the fused kernel's uint8 mask
            mask = mask.to(x.dtype)
        with torch.no_grad():
            out = torch.addcmul(torch.full((), bias, dtype=x.dtype, device=x.device), x + shift, mask, value=scale)
        return mask_stats(self.key, self.p, x, mask, out)

    # ---------------------------------------------------------------- forward
    def _check_context(self, ctx: LayerContext) -> Tensor:
        if not isinstance(ctx, LayerContext):
            raise TypeError(
                f"a dropout method is called with a LayerContext(spikes, membrane=..., weight=...), got {type(ctx).__name__}"
            )
        x = ctx.spikes
        if not isinstance(x, Tensor):
            raise TypeError(f"spikes must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
        if x.dim() < 3:
            raise ValueError(f"spikes must be time-major [T, B, features...] (at least 3 dims), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"spikes must be a floating-point tensor (spikes as 0.0/1.0, e.g. float32), got dtype {x.dtype}")
        membrane = ctx.membrane
        if membrane is not None:
            if not isinstance(membrane, Tensor):
                raise TypeError(f"membrane must be a torch.Tensor [T, B, ...] or None, got {type(membrane).__name__}")
            if not membrane.is_floating_point():
                raise TypeError(f"membrane must be a floating-point tensor, got dtype {membrane.dtype}")
            mean_shape = (1,) + tuple(x.shape[1:])
            ok = membrane.shape == x.shape or (self.membrane == "mean" and tuple(membrane.shape) == mean_shape)
            if not ok:
                allowed = f" or its time mean {mean_shape}" if self.membrane == "mean" else ""
                raise ValueError(f"membrane must have the shape of spikes {tuple(x.shape)}{allowed}, got {tuple(membrane.shape)}")
        if self.membrane is not None and membrane is None:
            raise ValueError(f"the {self.key!r} method needs the layer's membrane (LayerContext.membrane, [T, B, ...])")
        if self.needs_weight and ctx.weight is None:
            raise ValueError(f"the {self.key!r} method needs the layer's weight (LayerContext.weight, one row per neuron)")
        return x

    def forward(self, ctx: LayerContext) -> Tensor:
        """The layer's spikes after dropout (while sampling), or scaled for inference (``rescale="none"``)."""
        x = self._check_context(ctx)
        if not self.sampling:
            return self._inference(ctx)
        if self.p == 0.0:
            return self._unchanged(x)
        return self._drop(ctx)

    def passes_through(self) -> bool:
        """True when this slot's forward is the identity right now: it returns the spikes unchanged and
        records nothing, so a model may skip materialising them (``SpikingModel`` then fuses a linear
        readout into the layer). Conservative: only the base class's unscaled inference."""
        return (not self.sampling and self.inference_scale == 1.0
                and type(self)._inference is SpikeDropout._inference)

    def drops_time_sum(self) -> bool:
        """True when this forward's mask would be one per (sample, unit), held over the window, and drawn
        from nothing the layer's spike counts and weights do not give: then dropping the spikes and
        summing them over time equals summing them and dropping the sum, and a model whose readout reads
        a time sum lets the layer's kernel sum the spikes without writing them (``drop_time_sum``).
        Only the methods that implement ``drop_time_sum`` say True, and only while sampling at p > 0."""
        return False

    def drop_time_sum(self, z: Tensor, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        """``z[B, ...]``, the layer's spikes summed over ``steps`` steps with a readout's time weights, after
        this method's mask (the one ``forward`` would draw, from the same generator); ``counts`` are the
        spike counts and ``weight`` the layer's incoming weight. Records the statistics as ``forward``
        does. Only where ``drops_time_sum()``."""
        raise NotImplementedError(f"the {self.key!r} method does not drop a time sum (drops_time_sum() is False)")

    def _inference(self, ctx: LayerContext) -> Tensor:
        """The output when not sampling: the spikes, times the keep probability for ``rescale="none"``."""
        scale = self.inference_scale
        return ctx.spikes * scale if scale != 1.0 else ctx.spikes

    def _unchanged(self, x: Tensor) -> Tensor:
        """A sampling forward at p=0: nothing dropped, reported as such."""
        self._record(x, x.new_ones((1,) * x.dim()))
        return x

    def _drop(self, ctx: LayerContext) -> Tensor:
        raise NotImplementedError

    def wrap_next(self, synapse: nn.Module) -> nn.Module:
        """The synapse after this layer as the model should call it: unchanged, except for methods
        that act on synapses (DropConnect returns a masking wrapper). Called once, at build time."""
        return synapse

    def extra_repr(self) -> str:
        return f"p={self.p}, rescale={self.rescale!r}, mc={self.mc}"
