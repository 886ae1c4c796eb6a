"""Probability-shaped SNN-aware dropout: ``membrane``, ``synaptic``, ``activity``.

Each method scores every neuron of the layer from something only an SNN layer has (its membrane
potential relative to the threshold, the magnitude of its incoming synapses, its spike activity),
turns the scores into per-neuron drop probabilities with ``shape_probabilities`` and draws a mask
per (sample, neuron) that is held over the whole time window (``per_step=True`` draws a fresh
one at every step instead).

How scores become probabilities (no gradient flows through any of this):

1. min-max normalise the scores over the layer's neurons to ``z`` in [0, 1] (equal scores: the
   uniform rate p for everyone);
2. weight ``w = 1 - z`` for ``favor="protect"`` (the strongest neuron is never dropped) or
   ``w = z`` for ``favor="drop"`` (the weakest is never dropped);
3. probabilities ``q = c * w``, clipped to ``[0, p_max]`` and renormalised so that
   ``mean(q) = p`` exactly. Clipping and rescaling are iterated (water-filling): neurons whose
   ``c * w`` exceeds ``p_max`` are fixed at ``p_max`` and ``c`` is recomputed for the others until
   none exceeds it; the clipped set only grows, so this ends in at most N rounds (a handful in
   practice; the code finds the final set at once from sorted suffix sums). When fewer than ``N p / p_max`` neurons have ``w > 0`` the mean p cannot be reached
   with those alone: they all get ``p_max`` and the remaining rate is shared equally by the
   others (the limit of adding a vanishing uniform floor to ``w``).

The scores of ``membrane`` and ``activity`` come from the whole time window and the whole batch
(the mask at t=0 depends on later steps and on other samples): legitimate in training, but not
causal, and their class says so (``causal = False``).

With ``rescale="inverted"`` a kept neuron is scaled by ``1 / (1 - q_n)`` (its own keep
probability), so every neuron keeps its expected value. With ``rescale="none"`` spikes stay
binary in training, and at inference each neuron is scaled by its own keep probability
``1 - q_n``, computed from the same context as in training (a single scale ``1 - p`` would give
the next layer the wrong input: 1.22x the training input for ``membrane`` protect at p=0.5).

``last_probabilities`` holds the last ``q`` (shape ``x.shape[2:]``, one per neuron) for the
probability-map plots.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.masks import apply_mask, keep_mask
from snnlab.dropout.registry import register
from snnlab.validation import check_choice, check_float

FAVORS = ("protect", "drop")


def water_fill(weights: Tensor, mean: float, cap: float, *, validate: bool = True) -> Tensor:
    """Probabilities proportional to non-negative ``weights``, capped at ``cap``, with exact mean ``mean``.

    See the module docstring for the algorithm and the unreachable case. Requires ``0 <= mean <= cap``.
    The clipped set (the top j* weights) is found at once from sorted suffix sums rather than by
    rounds, so nothing waits for the device; ``validate=False`` also skips the value checks (the
    shaped methods pass scores they made themselves).
    """
    w = weights.detach().flatten().to(torch.float64)
    if validate and (bool((w < 0).any()) or not bool(torch.isfinite(w).all())):
        raise ValueError("weights for water_fill must be finite and non-negative")
    n = w.numel()
    target = mean * n
    pos = w > 0
    n_pos = pos.sum().to(torch.float64)  # float64: an int tensor times a float would be float32
    # Reachable case. With the j largest weights at the cap, the others get c_j * w where
    # c_j = (target - j*cap) / (sum of the rest); the solution is the j whose c_j puts the largest
    # free weight under the cap and the smallest clipped one over it.
    ws = torch.sort(w, descending=True).values
    rest_sum = ws.flip(0).cumsum(0).flip(0)
    j = torch.arange(n, dtype=w.dtype, device=w.device)
    c_j = (target - j * cap) / rest_sum
    above = torch.cat([ws.new_full((1,), float("inf")), ws[:-1]])
    ok = (rest_sum > 0) & (c_j * ws <= cap * (1.0 + 1e-12)) & (c_j * above >= cap * (1.0 - 1e-12))
    first_ok = torch.argmax(ok.to(torch.uint8)).view(1)  # gather, not c_j[index]: indexing would sync
    clipped = c_j.gather(0, first_ok) * w > cap * (1.0 + 1e-12)
    # c recomputed from that set exactly as a round of the iterative algorithm would.
    c = (target - clipped.sum().to(torch.float64) * cap) / w.masked_fill(clipped, 0.0).sum()
    q = torch.where(clipped, torch.full_like(w, cap), c * w).clamp(max=cap)
    # Unreachable with the positive weights alone (or all weights zero): they all get the cap and
    # the remaining rate is shared equally by the others.
    share = (target - n_pos * cap) / (n - n_pos).clamp(min=1.0)
    q = torch.where(n_pos * cap <= target, torch.where(pos, torch.full_like(w, cap), share.expand_as(w)), q)
    return q.view(weights.shape).to(weights.dtype if weights.is_floating_point() else torch.float32)


def shape_probabilities(scores: Tensor, p: float, *, favor: str = "protect", p_max: float = 0.95,
                        validate: bool = True) -> Tensor:
    """Per-neuron drop probabilities from ``scores`` (higher = stronger neuron): in ``[0, p_max]``, mean ``p``.

    ``favor="protect"`` gives the strongest the lowest probability, ``"drop"`` the highest; equal
    scores give everyone ``p``. ``validate=False`` skips the finiteness check (a host sync).
    """
    check_choice("favor", favor, FAVORS)
    p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    p_max = check_float("p_max", p_max, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if p > p_max:
        raise ValueError(f"p={p} is larger than p_max={p_max}; the mean drop rate cannot exceed the cap")
    if not isinstance(scores, Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    with torch.no_grad():
        s = scores.detach().to(torch.float64)
        if validate and not bool(torch.isfinite(s).all()):
            raise ValueError("scores contain NaN or infinite values; cannot shape drop probabilities")
        lo, hi = s.min(), s.max()
        spread = hi - lo
        z = (s - lo) / torch.where(spread > 0, spread, torch.ones_like(spread))
        w = 1.0 - z if favor == "protect" else z
        q = water_fill(w, p, p_max, validate=False)
        return torch.where(spread > 0, q, torch.full_like(q, p)).to(torch.float32)


class ShapedDropout(SpikeDropout):
    """Common machinery of the probability-shaped methods; subclasses define ``scores``."""

    family = "snn_aware"
    time_consistent = True  # per_step=True draws a fresh mask at every step instead
    probability_map = True
    extra_options = ("favor", "p_max", "per_step")
    label_options = ("favor",)
    presets = ({"favor": "protect"}, {"favor": "drop"})
    score_label: str = "score"  # axis label of what ``scores`` measures

    def __init__(
        self, p: float = 0.0, *, favor: str = "protect", p_max: float = 0.95, per_step: bool = False, **options
    ) -> None:
        super().__init__(p, **options)
        self.favor = check_choice("favor", favor, FAVORS)
        self.p_max = check_float("p_max", p_max, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        if self.p > self.p_max:
            raise ValueError(f"p={self.p} is larger than p_max={self.p_max}; the mean drop rate cannot exceed the cap")
        if not isinstance(per_step, bool):
            raise TypeError(f"per_step must be a bool, got {type(per_step).__name__} ({per_step!r})")
        self.per_step = per_step
        self._last_probabilities: Tensor | None = None

    @property
    def last_probabilities(self) -> Tensor | None:
        """Drop probability per neuron (shape ``x.shape[2:]``) of the last sampling forward; None before."""
        return self._last_probabilities

    def scores(self, ctx: LayerContext) -> Tensor:
        """Strength of each neuron (what the method conditions on), broadcastable to ``spikes.shape[2:]``."""
        raise NotImplementedError

    def _inference(self, ctx: LayerContext) -> Tensor:
        """``rescale="none"``: each neuron scaled by its own keep probability; otherwise the spikes."""
        if self.rescale != "none" or self.p == 0.0:
            return ctx.spikes
        with torch.no_grad():
            q = shape_probabilities(self.scores(ctx), self.p, favor=self.favor, p_max=self.p_max, validate=False)
            keep = (1.0 - q.to(ctx.spikes.device)).to(ctx.spikes.dtype)
        return ctx.spikes * keep

    def _drop(self, ctx: LayerContext) -> Tensor:
        x = ctx.spikes
        with torch.no_grad():
            q = shape_probabilities(self.scores(ctx), self.p, favor=self.favor, p_max=self.p_max, validate=False)
            q = q.to(x.device)
            self._last_probabilities = q.expand(x.shape[2:]).clone()
            scale = (1.0 / (1.0 - q)).to(x.dtype) if self.rescale == "inverted" else None
        shape = tuple(x.shape) if self.per_step else (1,) + tuple(x.shape[1:])
        mask = keep_mask(shape, q, generator=self.generator_for(x.device), dtype=x.dtype, scale=scale)
        out = apply_mask(x, mask)  # mask holds 1/(1 - q_n) for kept units when inverted
        self._record(x, mask)
        return out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, favor={self.favor!r}, p_max={self.p_max}, per_step={self.per_step}"


@register
class MembraneDropout(ShapedDropout):
    """Drop probability per neuron from its membrane potential relative to the threshold.

    Score: the mean over time and batch of the membrane potential the layer hands over (the
    pre-reset potential). The scores are min-max normalised, so dividing by the threshold would
    change nothing: the threshold is not an option. Only the time mean is used
    (``membrane = "mean"``): the context may hold the full ``[T, B, ...]`` trace or its mean over
    T, ``[1, B, ...]``.
    Rationale for the two directions:

    - ``favor="protect"`` (default): neurons that sit near or above threshold are the ones that
      fire and carry the sample's code; sub-threshold neurons are cheap to drop. This is the
      minimum-damage choice, in the spirit of LTMD's protection of active neurons.
    - ``favor="drop"``: the motivation notebook shows most of a classic mask lands on silent
      neurons, where it does nothing in the forward pass. Concentrating the drops on strongly
      driven neurons makes the mask bite and discourages reliance on a few dominant neurons
      (the co-adaptation argument behind dropout).
    """

    key = "membrane"
    label = "membrane-shaped"
    conditions_on = "mean membrane potential (window and batch)"
    causal = False
    membrane = "mean"
    color = "#2ca02c"
    variant_colors = {"protect": "#2ca02c", "drop": "#98df8a"}
    score_label = "mean membrane potential"

    def scores(self, ctx: LayerContext) -> Tensor:
        return ctx.membrane.detach().mean((0, 1))


@register
class SynapticDropout(ShapedDropout):
    """Drop probability per neuron from the L2 norm of its incoming weights (its row of ``weight``).

    ``weight`` is the weight of the layer that produced ``x`` (``[N, in]``, or ``[C, in, kh, kw]``
    for a convolution, where a channel's probability applies to all its positions).

    - ``favor="protect"`` (default): large incoming weights mark the features the layer has
      learned to rely on; keep them, drop the weakly driven (an importance/pruning view).
    - ``favor="drop"``: regularise exactly those dominant units, so the next layer cannot
      co-adapt to a few strong feature detectors.
    """

    key = "synaptic"
    label = "synapse-shaped"
    conditions_on = "L2 norm of the neuron's incoming weights"
    needs_weight = True
    color = "#9467bd"
    variant_colors = {"protect": "#9467bd", "drop": "#c5b0d5"}
    score_label = "incoming weight L2 norm"

    def scores(self, ctx: LayerContext) -> Tensor:
        x, weight = ctx.spikes, ctx.weight
        if not isinstance(weight, Tensor) or weight.dim() < 2 or weight.shape[0] != x.shape[2]:
            shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(
                f"weight must have one row per neuron of x (shape [{x.shape[2]}, ...] for x of shape "
                f"{tuple(x.shape)}), got {shape}"
            )
        norms = weight.detach().flatten(1).norm(dim=1)
        return norms.view((-1,) + (1,) * (x.dim() - 3))


@register
class ActivityDropout(ShapedDropout):
    """Drop probability from spike activity in this forward (LTMD-style "moderate dropout").

    Score: spikes per step of each neuron, averaged over the batch (its firing rate in this
    forward), min-max normalised over the layer. ``favor="protect"`` (default) protects the most
    active neurons, as LTMD does (they carry the information; silent ones are dropped at no cost
    to the forward pass); ``favor="drop"`` is the opposite hypothesis, thinning the busiest.
    """

    key = "activity"
    label = "activity-shaped"
    conditions_on = "the neuron's firing rate in this forward (window and batch)"
    causal = False
    presets = ({},)  # the default favor="protect" (LTMD: protect the most active)
    color = "#17becf"
    score_label = "firing rate (spikes / step)"

    def scores(self, ctx: LayerContext) -> Tensor:
        return ctx.spikes.detach().float().mean((0, 1))


__all__ = [
    "FAVORS",
    "ActivityDropout",
    "MembraneDropout",
    "ShapedDropout",
    "SynapticDropout",
    "shape_probabilities",
    "water_fill",
]
