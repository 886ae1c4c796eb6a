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

Window or causal scores (the option ``window``):

- ``window="full"`` (default): the scores of ``membrane`` and ``activity`` come from the whole
  time window and the whole batch (the mask at t=0 depends on later steps and on other samples):
  legitimate in training, but not causal, and their class says so (``causal = False``). One
  probability per neuron; the mask is held over the window (``per_step=True``: fresh at each step).
- ``window="causal"``: the score of neuron n for sample b at step t uses only that sample's steps
  ``<= t``: the running mean of its membrane potential over steps 0..t (``membrane``, which then
  asks its block for the trace), its running firing rate over steps 0..t (``activity``); at t=0 the
  score is step 0's value alone. Probabilities are per (t, sample, neuron), shaped row by row
  (min-max and water-filling over the neurons of each (t, sample)), so the layer's mean drop rate is
  p at every step of every sample. A mask held over the window would have to be drawn before the
  probabilities it realises are known, so a causal mask is drawn fresh at every step (``per_step``
  defaults to True there; ``per_step=False`` is refused).
- ``synaptic`` depends on the weights only: it is causal with ``window="full"`` already (its class
  says ``causal = True``), so ``window="causal"`` is refused for it (a second name for the same
  condition would split its results in two) with that reason.

The class attributes (read by the registry) describe the default options; an instance with
``window="causal"`` describes itself (``causal=True``, ``time_consistent=False``, its ``label``
ends in " (causal)", and ``membrane``'s summary is ``"trace"``: the block reads it from the
instance). The causal variants are presets of their own, so they are conditions of the study's grid
next to the window versions: ``membrane_protect_causal``, ``membrane_drop_causal``,
``activity_causal`` (``window`` is a naming option, ``label_options``).

With ``rescale="inverted"`` a kept neuron is scaled by ``1 / (1 - q_n)`` (its own keep
probability), so every neuron keeps its expected value. With ``rescale="none"`` spikes stay
binary in training, and at inference each neuron is scaled by its own keep probability
``1 - q_n``, computed from the same context as in training (a single scale ``1 - p`` would give
the next layer the wrong input: 1.22x the training input for ``membrane`` protect at p=0.5). With
``window="causal"`` the keep probability is per (t, sample, neuron) in both: a kept unit is
scaled by ``1 / (1 - q[t, b, n])`` (inverted), the inference output is ``x * (1 - q[t, b, n])``
(none).

``last_probabilities`` holds the last ``q`` (shape ``x.shape[2:]``, one per neuron; with
``window="causal"`` its mean over steps and samples, still of mean p) for the probability-map
plots; ``last_step_probabilities`` the probability of every (t, sample, neuron) (``x.shape``; a
broadcast view for ``window="full"``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.masks import apply_mask, keep_mask
from snnlab.dropout.registry import register
from snnlab.validation import check_choice, check_float, check_int

FAVORS = ("protect", "drop")
WINDOWS = ("full", "causal")  # what a score is computed over: the whole window and batch, or steps <= t of one sample


def _rows(shape: torch.Size, batch_dims: int) -> tuple[int, int]:
    """``(rows, n)``: a tensor of ``shape`` as independent rows (its first ``batch_dims`` dims) of ``n`` units."""
    batch_dims = check_int("batch_dims", batch_dims, minimum=0)
    if batch_dims > len(shape):
        raise ValueError(f"batch_dims={batch_dims} is larger than the number of dimensions ({len(shape)}) of a tensor "
                         f"of shape {tuple(shape)}; allowed: 0..{len(shape)}")
    return math.prod(shape[:batch_dims]), math.prod(shape[batch_dims:])


def water_fill(weights: Tensor, mean: float, cap: float, *, validate: bool = True, batch_dims: int = 0) -> Tensor:
    """Probabilities proportional to non-negative ``weights``, capped at ``cap``, with exact mean ``mean``.

    See the module docstring for the algorithm and the unreachable case. Requires ``0 <= mean <= cap``.
    The clipped set (the top j* weights) is found at once from sorted suffix sums rather than by
    rounds, so nothing waits for the device; ``validate=False`` also skips the value checks (the
    shaped methods pass scores they made themselves). ``batch_dims``: the leading dimensions that
    index independent rows (e.g. 2 for ``[T, B, ...]``: one water-filling per step and sample,
    all at once, sorted along the row); 0 (default) fills the whole tensor as one row.
    """
    rows, n = _rows(weights.shape, batch_dims)
    out_dtype = weights.dtype if weights.is_floating_point() else torch.float32
    if n == 0 or rows == 0:  # no units (a layer of zero neurons, an empty batch): nothing to fill
        return torch.zeros(weights.shape, dtype=out_dtype, device=weights.device)
    w = weights.detach().to(torch.float64).reshape(rows, n)
    if validate and (bool((w < 0).any()) or not bool(torch.isfinite(w).all())):
        raise ValueError("weights for water_fill must be finite and non-negative")
    target = mean * n
    hi, lo = cap * (1.0 + 1e-12), cap * (1.0 - 1e-12)
    pos = w > 0
    n_pos = pos.sum(-1, keepdim=True, dtype=torch.float64)  # float64: an int tensor times a float would be float32
    # Reachable case. With the j largest weights at the cap, the others get c_j * w where
    # c_j = (target - j*cap) / (sum of the rest); the solution is the j whose c_j puts the largest
    # free weight under the cap and the smallest clipped one over it. Worked in ascending order
    # (index k = n - 1 - j), where the sum of the rest is a plain cumulative sum.
    asc = torch.sort(w, dim=-1).values
    rest_sum = asc.cumsum(-1)
    j = torch.arange(n - 1, -1, -1, dtype=w.dtype, device=w.device)
    c_j = (target - j * cap) / rest_sum
    ok = (rest_sum > 0) & (c_j * asc <= hi)
    # the smallest clipped weight (the next larger one) over the cap; j = 0 has none above it
    ok[:, :-1] &= c_j[:, :-1] * asc[:, 1:] >= lo
    ok[:, -1:] &= c_j[:, -1:] > 0
    first_ok = torch.argmax(ok.view(torch.uint8).flip(-1), dim=-1, keepdim=True)  # the smallest j that works
    # gather, not c_j[index]: indexing would sync
    clipped = c_j.gather(-1, (n - 1) - first_ok) * w > hi
    # c recomputed from that set exactly as a round of the iterative algorithm would.
    n_clipped = clipped.sum(-1, keepdim=True, dtype=torch.float64)
    c = (target - n_clipped * cap) / w.masked_fill(clipped, 0.0).sum(-1, keepdim=True)
    q = torch.where(clipped, cap, c * w).clamp_(max=cap)
    # Unreachable with the positive weights alone (or all weights zero): they all get the cap and
    # the remaining rate is shared equally by the others.
    share = (target - n_pos * cap) / (n - n_pos).clamp(min=1.0)
    q = torch.where(n_pos * cap <= target, torch.where(pos, cap, share), q)
    return q.view(weights.shape).to(out_dtype)


def shape_probabilities(scores: Tensor, p: float, *, favor: str = "protect", p_max: float = 0.95,
                        validate: bool = True, batch_dims: int = 0) -> Tensor:
    """Per-neuron drop probabilities from ``scores`` (higher = stronger neuron): in ``[0, p_max]``, mean ``p``.

    ``favor="protect"`` gives the strongest the lowest probability, ``"drop"`` the highest; equal
    scores give everyone ``p``. ``validate=False`` skips the finiteness check (a host sync).
    ``batch_dims``: the leading dimensions that index independent rows (2 for causal scores
    ``[T, B, ...]``: min-max and mean ``p`` over the neurons of each (t, sample)); 0 (default): the
    whole tensor is one layer.
    """
    check_choice("favor", favor, FAVORS)
    p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    p_max = check_float("p_max", p_max, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if p > p_max:
        raise ValueError(f"p={p} is larger than p_max={p_max}; the mean drop rate cannot exceed the cap")
    if not isinstance(scores, Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    rows, n = _rows(scores.shape, batch_dims)
    if n == 0 or rows == 0:  # a layer of zero neurons (or no rows): no probabilities to shape
        return torch.zeros(scores.shape, dtype=torch.float32, device=scores.device)
    with torch.no_grad():
        s = scores.detach().to(torch.float64).reshape(rows, n)
        if validate and not bool(torch.isfinite(s).all()):
            raise ValueError("scores contain NaN or infinite values; cannot shape drop probabilities")
        lo, hi = s.amin(-1, keepdim=True), s.amax(-1, keepdim=True)
        spread = hi - lo
        z = (s - lo) / torch.where(spread > 0, spread, torch.ones_like(spread))
        w = 1.0 - z if favor == "protect" else z
        q = water_fill(w, p, p_max, validate=False, batch_dims=1)
        return torch.where(spread > 0, q, p).to(torch.float32).view(scores.shape)


class ShapedDropout(SpikeDropout):
    """Common machinery of the probability-shaped methods; subclasses define ``scores`` (the window
    score of each neuron) and, where they have a causal variant, ``causal_scores``.

    ``window``: ``"full"`` (scores from the whole window and batch) or ``"causal"`` (scores of step
    t from steps <= t of the same sample; see the module docstring). ``per_step``: None (default)
    holds the mask over the window for ``"full"`` and draws it at every step for ``"causal"``.
    """

    family = "snn_aware"
    time_consistent = True  # window="full" (default): per_step=True draws a fresh mask at every step instead
    probability_map = True
    extra_options = ("favor", "p_max", "per_step", "window")
    label_options = ("favor", "window")
    presets = ({"favor": "protect"}, {"favor": "drop"})
    score_label: str = "score"  # axis label of what ``scores`` measures

    def __init__(
        self,
        p: float = 0.0,
        *,
        favor: str = "protect",
        p_max: float = 0.95,
        per_step: bool | None = None,
        window: str = "full",
        **options,
    ) -> None:
        super().__init__(p, **options)
        self.favor = check_choice("favor", favor, FAVORS)
        self.p_max = check_float("p_max", p_max, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        if self.p > self.p_max:
            raise ValueError(f"p={self.p} is larger than p_max={self.p_max}; the mean drop rate cannot exceed the cap")
        self.window = check_choice("window", window, WINDOWS)
        if self.window == "causal" and type(self).causal:
            raise ValueError(
                f"window='causal' is not an option of the {self.key!r} method: it conditions on "
                f"{self.conditions_on}, so it is causal with window='full' already; allowed: 'full'"
            )
        if per_step is not None and not isinstance(per_step, bool):
            raise TypeError(f"per_step must be a bool or None, got {type(per_step).__name__} ({per_step!r})")
        if per_step is False and self.window == "causal":
            raise ValueError(
                "per_step=False is not possible with window='causal': causal probabilities change with t, so the "
                "mask is drawn at every step; allowed: per_step=None (the default) or True"
            )
        self.per_step = self.window == "causal" if per_step is None else per_step
        # What this instance is, where its options change what the class says (the class describes
        # the defaults, window="full"); the block reads ``membrane`` from the instance.
        self.time_consistent = not self.per_step
        if self.window == "causal":
            self.causal = True
            self.label = f"{type(self).label} (causal)"
            if type(self).membrane is not None:
                self.membrane = "trace"  # the running mean up to t needs every step
        self._last_probabilities: Tensor | None = None
        self._last_step_probabilities: Tensor | None = None

    @property
    def last_probabilities(self) -> Tensor | None:
        """Drop probability per neuron (shape ``x.shape[2:]``) of the last sampling forward; None before.
        With ``window="causal"``: the mean over steps and samples of ``last_step_probabilities``."""
        return self._last_probabilities

    @property
    def last_step_probabilities(self) -> Tensor | None:
        """Drop probability of every (t, sample, neuron) (shape ``x.shape``) of the last sampling
        forward (a broadcast view of the per-neuron ones for ``window="full"``); None before."""
        return self._last_step_probabilities

    def scores(self, ctx: LayerContext) -> Tensor:
        """Strength of each neuron (what the method conditions on), broadcastable to ``spikes.shape[2:]``."""
        raise NotImplementedError

    def causal_scores(self, ctx: LayerContext) -> Tensor:
        """Strength of each neuron at every step and sample from that sample's steps <= t
        (``spikes.shape``); the score at t=0 is step 0's alone. Used with ``window="causal"``."""
        raise NotImplementedError(f"the {self.key!r} method has no causal scores")

    def _probabilities(self, ctx: LayerContext) -> Tensor:
        """The drop probabilities of this context: per neuron (``window="full"``, broadcastable to
        ``spikes.shape[2:]``) or per (t, sample, neuron) (``"causal"``, ``spikes.shape``, mean p per row)."""
        if self.window == "causal":
            return shape_probabilities(self.causal_scores(ctx), self.p, favor=self.favor, p_max=self.p_max,
                                       validate=False, batch_dims=2)
        return shape_probabilities(self.scores(ctx), self.p, favor=self.favor, p_max=self.p_max, validate=False)

    def _inference(self, ctx: LayerContext) -> Tensor:
        """``rescale="none"``: each neuron scaled by its own keep probability (per step and sample
        for ``window="causal"``); otherwise the spikes."""
        if self.rescale != "none" or self.p == 0.0:
            return ctx.spikes
        with torch.no_grad():
            q = self._probabilities(ctx)
            keep = (1.0 - q.to(ctx.spikes.device)).to(ctx.spikes.dtype)
        return ctx.spikes * keep

    def _drop(self, ctx: LayerContext) -> Tensor:
        x = ctx.spikes
        with torch.no_grad():
            q = self._probabilities(ctx).to(x.device)
            if self.window == "causal":
                self._last_probabilities = q.mean((0, 1))
                self._last_step_probabilities = q
            else:
                self._last_probabilities = q.expand(x.shape[2:]).clone()
                self._last_step_probabilities = q.expand(x.shape)
            scale = (1.0 / (1.0 - q)).to(x.dtype) if self.rescale == "inverted" else None
        shape = tuple(x.shape) if self.per_step else (1,) + tuple(x.shape[1:])
        mask = keep_mask(shape, q, generator=self.generator_for(x.device), dtype=x.dtype, scale=scale)
        out = apply_mask(x, mask)  # mask holds 1/(1 - q) for kept units when inverted
        self._record(x, mask)
        return out

    def time_sum_scores(self, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        """``scores`` from the layer's spike counts ``[B, ...]`` over ``steps`` steps and its weight, for a
        layer whose spikes are not written. Methods whose scores need more (the membrane) do not override it."""
        raise NotImplementedError(f"the {self.key!r} method's scores need more than spike counts and weights")

    def drops_time_sum(self) -> bool:
        return (self.sampling and self.p > 0.0 and not self.per_step and self.window == "full"
                and self.membrane is None and type(self).time_sum_scores is not ShapedDropout.time_sum_scores)

    def drop_time_sum(self, z: Tensor, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        if not self.drops_time_sum():
            raise ValueError(f"this {self.key!r} dropout cannot drop a time sum now (drops_time_sum() is False: "
                             "not sampling, p=0, a per-step or causal mask, or scores from the membrane)")
        with torch.no_grad():
            scores = self.time_sum_scores(counts, steps, weight)
            q = shape_probabilities(scores, self.p, favor=self.favor, p_max=self.p_max, validate=False).to(z.device)
            self._last_probabilities = q.expand(z.shape[1:]).clone()
            self._last_step_probabilities = q.expand((steps,) + tuple(z.shape))
            scale = (1.0 / (1.0 - q)).to(z.dtype) if self.rescale == "inverted" else None
        mask = keep_mask((1,) + tuple(z.shape), q, generator=self.generator_for(z.device), dtype=z.dtype, scale=scale)[0]
        self._record_counts(counts, steps, mask)
        return apply_mask(z, mask)  # mask holds 1/(1 - q) for kept units when inverted

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, favor={self.favor!r}, p_max={self.p_max}, per_step={self.per_step}, "
                f"window={self.window!r}")


def _running_mean(x: Tensor) -> Tensor:
    """Mean over steps 0..t of ``x[T, ...]`` at every step t (float64, no gradient): step 0 is ``x[0]``."""
    x = x.detach().to(torch.float64)
    steps = torch.arange(1, x.shape[0] + 1, dtype=torch.float64, device=x.device)
    return x.cumsum(0) / steps.view((-1,) + (1,) * (x.dim() - 1))


@register
class MembraneDropout(ShapedDropout):
    """Drop probability per neuron from its membrane potential relative to the threshold.

    Score: the mean over time and batch of the membrane potential the layer hands over (the
    pre-reset potential). The scores are min-max normalised, so dividing by the threshold would
    change nothing: the threshold is not an option. Only the time mean is used
    (``membrane = "mean"``): the context may hold the full ``[T, B, ...]`` trace or its mean over
    T, ``[1, B, ...]``. With ``window="causal"`` the score of step t is the running mean of the
    sample's membrane over steps 0..t (the method then needs the trace).
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
    conditions_on = (
        "mean membrane potential (window and batch; window='causal': its running mean up to t, per sample)"
    )
    causal = False  # window="full" (default); an instance with window="causal" says True
    membrane = "mean"  # window="full"; an instance with window="causal" asks for the "trace"
    presets = ({"favor": "protect"}, {"favor": "drop"},
               {"favor": "protect", "window": "causal"}, {"favor": "drop", "window": "causal"})
    color = "#2ca02c"
    variant_colors = {"protect": "#2ca02c", "drop": "#98df8a", "protect_causal": "#1a661a", "drop_causal": "#5cb85c"}
    score_label = "mean membrane potential"

    def scores(self, ctx: LayerContext) -> Tensor:
        return ctx.membrane.detach().mean((0, 1))

    def causal_scores(self, ctx: LayerContext) -> Tensor:
        """The running mean of each neuron's membrane potential over steps 0..t of its sample."""
        return _running_mean(ctx.membrane)


def _row_norms(weight: Tensor | None, x: Tensor, *, batch_dims: int) -> Tensor:
    """L2 norm of each neuron's incoming weights (its row of ``weight``), shaped to broadcast over the
    unit dims of ``x`` (``x.shape[batch_dims:]``: spikes [T, B, ...] with 2, counts [B, ...] with 1)."""
    units = x.shape[batch_dims]
    if not isinstance(weight, Tensor) or weight.dim() < 2 or weight.shape[0] != units:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(
            f"weight must have one row per neuron of x (shape [{units}, ...] for x of shape "
            f"{tuple(x.shape)}), got {shape}"
        )
    rows = weight.detach().flatten(1)
    norms = (rows if rows.is_floating_point() else rows.float()).norm(dim=1)  # an integer weight has a norm too
    return norms.view((-1,) + (1,) * (x.dim() - batch_dims - 1))


@register
class SynapticDropout(ShapedDropout):
    """Drop probability per neuron from the L2 norm of its incoming weights (its row of ``weight``).

    ``weight`` is the weight of the layer that produced ``x`` (``[N, in]``, or ``[C, in, kh, kw]``
    for a convolution, where a channel's probability applies to all its positions). The scores depend
    on the weights only, never on the spikes of any step or sample: the method is causal with
    ``window="full"``, and ``window="causal"`` is refused (it would name the same condition twice).

    - ``favor="protect"`` (default): large incoming weights mark the features the layer has
      learned to rely on; keep them, drop the weakly driven (an importance/pruning view).
    - ``favor="drop"``: regularise exactly those dominant units, so the next layer cannot
      co-adapt to a few strong feature detectors.
    """

    key = "synaptic"
    label = "synapse-shaped"
    conditions_on = "L2 norm of the neuron's incoming weights"
    needs_weight = True
    label_options = ("favor",)  # window="causal" is refused: the weights-only scores are causal already
    color = "#9467bd"
    variant_colors = {"protect": "#9467bd", "drop": "#c5b0d5"}
    score_label = "incoming weight L2 norm"

    def scores(self, ctx: LayerContext) -> Tensor:
        return _row_norms(ctx.weight, ctx.spikes, batch_dims=2)

    def time_sum_scores(self, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        return _row_norms(weight, counts, batch_dims=1)


@register
class ActivityDropout(ShapedDropout):
    """Drop probability from spike activity in this forward (LTMD-style "moderate dropout").

    Score: spikes per step of each neuron, averaged over the batch (its firing rate in this
    forward), min-max normalised over the layer. ``favor="protect"`` (default) protects the most
    active neurons, as LTMD does (they carry the information; silent ones are dropped at no cost
    to the forward pass); ``favor="drop"`` is the opposite hypothesis, thinning the busiest. With
    ``window="causal"`` the score of step t is the sample's own running rate over steps 0..t (at
    t=0: whether the neuron fired at step 0).
    """

    key = "activity"
    label = "activity-shaped"
    conditions_on = (
        "the neuron's firing rate in this forward (window and batch; window='causal': its running rate "
        "up to t, per sample)"
    )
    causal = False  # window="full" (default); an instance with window="causal" says True
    presets = ({}, {"window": "causal"})  # the default favor="protect" (LTMD: protect the most active)
    color = "#17becf"
    variant_colors = {"causal": "#0e7c86"}
    score_label = "firing rate (spikes / step)"

    def scores(self, ctx: LayerContext) -> Tensor:
        return ctx.spikes.detach().float().mean((0, 1))

    def time_sum_scores(self, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        # The same value as scores' mean over [T, B, ...] of 0/1 spikes: both sums are exact integers,
        # divided once by T * B.
        return counts.detach().float().sum(0) / (steps * counts.shape[0])

    def causal_scores(self, ctx: LayerContext) -> Tensor:
        """Each neuron's running firing rate: its spikes over steps 0..t of its sample, divided by t + 1."""
        return _running_mean(ctx.spikes)


__all__ = [
    "FAVORS",
    "WINDOWS",
    "ActivityDropout",
    "MembraneDropout",
    "ShapedDropout",
    "SynapticDropout",
    "shape_probabilities",
    "water_fill",
]
