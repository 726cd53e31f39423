"""Gradient health: per-layer gradient norms, update-to-weight ratios, and their warnings."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from nncli.engine.base import Param

VANISH_FACTOR = 1e-3  # a layer's gradient this far below the largest layer's
EXPLODE_NORM = 1e3  # a layer's gradient norm above this is exploding


def layer_of(param_name: str) -> str:
    """`layers.3.layers.0.weight` -> `layers.3.layers.0`: the layer a parameter belongs to."""
    return param_name.rsplit(".", 1)[0]


class GradientMonitor:
    """Accumulates, over sampled batches of an epoch, each dense layer's gradient and update size.

    Only weights (decay params) are watched: they carry the signal that vanishing or exploding
    gradients show, and biases/normalization params would only add noise.
    """

    def __init__(self, params: list[Param], samples_per_epoch: int, n_batches: int) -> None:
        self.params = [p for p in params if p.decay]
        self.every = max(1, n_batches // max(samples_per_epoch, 1))
        # The weights before a sampled step, then the step itself: arrays kept for the whole
        # epoch, since a fresh copy of a wide net's weights costs more in page faults than
        # the arithmetic.
        self._before = [np.empty_like(p.value) for p in self.params]
        self._norm_before = [0.0] * len(self.params)
        self.reset()

    def reset(self) -> None:
        self.grad_sq: dict[str, float] = defaultdict(float)
        self.ratio_sum: dict[str, float] = defaultdict(float)
        self.count = 0

    def wants(self, batch_index: int) -> bool:
        return batch_index % self.every == 0

    def before_step(self) -> None:
        """Record gradient norms and the weights as they are before the optimizer's step."""
        for i, p in enumerate(self.params):
            self.grad_sq[layer_of(p.name)] += float(np.vdot(p.grad, p.grad))
            np.copyto(self._before[i], p.value)
            self._norm_before[i] = math.sqrt(float(np.vdot(p.value, p.value)))

    def after_step(self) -> None:
        for p, old, norm in zip(self.params, self._before, self._norm_before, strict=True):
            step = np.subtract(p.value, old, out=old)
            delta = math.sqrt(float(np.vdot(step, step)))
            self.ratio_sum[layer_of(p.name)] += delta / (norm + 1e-12)
        self.count += 1

    def epoch_rows(self, epoch: int) -> list[dict[str, float | int | str]]:
        """Mean gradient norm and update/weight ratio per layer over the sampled batches."""
        n = max(self.count, 1)
        return [
            {
                "epoch": epoch,
                "layer": layer,
                "grad_norm": math.sqrt(self.grad_sq[layer] / n),
                "update_ratio": self.ratio_sum[layer] / n,
            }
            for layer in dict.fromkeys(layer_of(p.name) for p in self.params)
        ]


def health_warnings(rows: list[dict]) -> list[tuple[str, str]]:
    """(kind, one-line message) for the layers whose gradients vanish or explode this epoch.

    Vanishing is relative: a layer whose gradient norm is VANISH_FACTOR below the largest
    layer's is barely learning while the others do.
    """
    norms = {row["layer"]: row["grad_norm"] for row in rows}
    finite = [v for v in norms.values() if math.isfinite(v)]
    top = max(finite, default=0.0)
    exploding = [k for k, v in norms.items() if not math.isfinite(v) or v > EXPLODE_NORM]
    vanishing = [k for k, v in norms.items() if k not in exploding and v < VANISH_FACTOR * top]
    found = []
    if exploding:
        found.append(
            (
                "exploding",
                f"exploding gradients in {_layers(exploding)} "
                f"(norm up to {max(norms[k] for k in exploding):.3g}); try training.grad_clip, "
                "a lower learning rate, batchnorm/layernorm, or He/Xavier init",
            )
        )
    if vanishing:
        low = min(norms[k] for k in vanishing)
        found.append(
            (
                "vanishing",
                f"vanishing gradients in {_layers(vanishing)} (norm down to {low:.3g}, largest "
                f"layer {top:.3g}); try relu/gelu instead of sigmoid/tanh, he_normal init, "
                "batchnorm/layernorm, or residual blocks",
            )
        )
    return found


def _layers(names: list[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{len(names)} layers ({names[0]}, {names[1]}, ..., {names[-1]})"
