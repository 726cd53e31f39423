"""Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

import math

import numpy as np

from nncli.engine.base import Param


def clip_grad_norm(params: list[Param], max_norm: float) -> float:
    """Scale every grad in place by max_norm / (norm + 1e-6) when that factor is below 1.

    The norm is taken over all grads together, so clipping keeps the update's direction.
    Returns the norm before clipping. Unlike torch, a non-finite norm leaves the grads
    untouched (torch would turn them all into NaN); the caller sees the norm and decides.
    """
    if not max_norm >= 0.0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    total = 0.0
    for p in params:
        flat = p.grad.reshape(-1)
        total += float(np.dot(flat, flat))
    norm = math.sqrt(total)
    coef = max_norm / (norm + 1e-6)
    if math.isfinite(norm) and coef < 1.0:
        for p in params:
            p.grad *= coef
    return norm
