"""Classic dropout migrated to SNNs as-is: ``standard``, ``dropout2d``, ``feature_alpha``, ``alpha``.

These are the methods the study expects to fail on spikes: a fresh mask at every time step
(independent masks average out over T, so the network barely notices them), rescaling that
turns binary spikes into 1/keep, and the alpha variants that push silent units and drops to
non-zero (even negative) values. They are implemented here, not through ``torch.nn.functional``,
because torch's (feature-)alpha dropout takes no generator: masks must come from the module's
own ``torch.Generator`` (docs/design.md, randomness). The semantics match torch's; the tests check it.
"""

from __future__ import annotations

import math

from torch import Tensor

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.masks import drop_affine
from snnlab.dropout.registry import register

# torch's alpha-dropout constant: -scale * alpha of SELU, the value SELU saturates to.
ALPHA_PRIME = -1.7580993408473766


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """Mask shape for per-channel masks, new at every step: ``[T, B, C, 1, ...]`` (``[T, B, N]`` for an MLP)."""
    return tuple(x.shape[:3]) + (1,) * (x.dim() - 3)


@register
class StandardDropout(SpikeDropout):
    """Bernoulli per element ``(t, sample, unit)``, a new mask at every time step (nn.Dropout applied per step).

    ``rescale="inverted"`` multiplies kept spikes by 1/keep (outputs {0, 1/keep});
    ``rescale="none"`` keeps them binary and the model scales by keep at inference.
    """

    key = "standard"
    label = "standard (per step)"
    family = "classic"
    conditions_on = "nothing (Bernoulli per element, new every step)"
    color = "#d62728"

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def _drop(self, ctx: LayerContext) -> Tensor:
        x = ctx.spikes
        scale = 1.0 / self.keep if self.rescale == "inverted" else 1.0
        out, mask = drop_affine(x, self._mask_shape(x), self.p, generator=self.generator_for(x.device), scale=scale)
        self._record(x, mask, scale=scale)
        return out


@register
class Dropout2d(StandardDropout):
    """Per channel, new at every step: ``[T, B, C, H, W]`` drops whole channels of a sample at step t.

    For an MLP's ``[T, B, N]`` a feature is a channel, so each feature of each sample is dropped
    independently at every step, which makes it the same distribution as ``standard`` (a feature
    vector has no spatial extent to share a mask over). It is kept as its own key because on
    convolutional layers the two differ.
    """

    key = "dropout2d"
    label = "Dropout2d (per step)"
    conditions_on = "nothing (per channel / feature, new every step)"
    color = "#ff7f0e"

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return _channel_shape(x)


class _AlphaFamily(SpikeDropout):
    """The alpha-dropout affine map with a keep mask of ``_mask_shape`` (formula: ``AlphaDropout``)."""

    supported_rescale = ("inverted",)
    family = "classic"

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def affine(self) -> tuple[float, float]:
        """The coefficients ``(a, b)`` of the affine correction at this module's p."""
        p = self.p
        a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * ALPHA_PRIME**2))
        return a, -a * ALPHA_PRIME * p

    def _drop(self, ctx: LayerContext) -> Tensor:
        x = ctx.spikes
        a, b = self.affine()
        # a*(x*m + a'*(1-m)) + b == a*m*(x - a') + (a*a' + b): one fused pass; gradient a*m (zero at drops)
        shift, bias = -ALPHA_PRIME, a * ALPHA_PRIME + b
        gen = self.generator_for(x.device)
        out, m = drop_affine(x, self._mask_shape(x), self.p, generator=gen, scale=a, shift=shift, bias=bias)
        self._record(x, m, scale=a, shift=shift, bias=bias)
        return out


@register
class FeatureAlphaDropout(_AlphaFamily):
    """torch's feature-alpha dropout at every step: the alpha-dropout affine map with a per-channel mask.

    ``[T, B, C, H, W]``: a dropped channel of a sample at step t is set to ``a a' + b`` everywhere.
    For an MLP's ``[T, B, N]`` each feature is a channel (as torch treats ``[B, N]``), so it has the
    distribution of ``alpha``; the keys differ on convolutional layers.
    """

    key = "feature_alpha"
    label = "feature-alpha (per step)"
    conditions_on = "nothing (per feature, alpha values, new every step)"
    color = "#8c564b"

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return _channel_shape(x)


@register
class AlphaDropout(_AlphaFamily):
    """torch's alpha dropout, per element and new at every step.

    With keep mask ``m`` (probability 1-p), ``a' = -1.7580993408473766``,
    ``a = ((1-p)(1 + p a'^2))^(-1/2)`` and ``b = -a a' p``::

        out = a * (x * m + a' * (1 - m)) + b

    This keeps mean 0 and variance 1 of SELU-normalised activations; on spikes it maps a silent
    unit to ``b`` (> 0), a spike to ``a + b`` and a drop to ``a a' + b`` (< 0). It has its own affine
    correction, so only ``rescale="inverted"`` (meaning: that correction) is accepted.
    """

    key = "alpha"
    label = "alpha (per step)"
    conditions_on = "nothing (per element, alpha values, new every step)"
    color = "#e377c2"

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)


__all__ = ["ALPHA_PRIME", "AlphaDropout", "Dropout2d", "FeatureAlphaDropout", "StandardDropout"]
