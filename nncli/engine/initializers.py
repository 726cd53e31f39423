"""Weight initializers for dense layers, with PyTorch's formulas for shape (fan_in, fan_out).

Every initializer has the signature `init(shape, rng, dtype, **options)`. Numbers are drawn
in float64 and then cast, so float32 and float64 runs start from the same weights. The
`*_normal` initializers are plain (not truncated) normals, as torch's `kaiming_normal_`,
`xavier_normal_` and `normal_`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

Shape = tuple[int, int]


def _normal(shape: Shape, rng: np.random.Generator, dtype: DTypeLike, std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(dtype)


def _uniform(shape: Shape, rng: np.random.Generator, dtype: DTypeLike, limit: float) -> np.ndarray:
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """Kaiming normal with the relu gain: std sqrt(2 / fan_in)."""
    return _normal(shape, rng, dtype, math.sqrt(2.0 / shape[0]))


def he_uniform(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """Kaiming uniform with the relu gain: bound sqrt(6 / fan_in)."""
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / shape[0]))


def xavier_normal(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """Glorot normal: std sqrt(2 / (fan_in + fan_out))."""
    return _normal(shape, rng, dtype, math.sqrt(2.0 / (shape[0] + shape[1])))


def xavier_uniform(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """Glorot uniform: bound sqrt(6 / (fan_in + fan_out))."""
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / (shape[0] + shape[1])))


def lecun_normal(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """LeCun normal (the selu companion): std sqrt(1 / fan_in)."""
    return _normal(shape, rng, dtype, math.sqrt(1.0 / shape[0]))


def lecun_uniform(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """LeCun uniform: bound sqrt(3 / fan_in)."""
    return _uniform(shape, rng, dtype, math.sqrt(3.0 / shape[0]))


def orthogonal(
    shape: Shape, rng: np.random.Generator, dtype: DTypeLike, *, gain: float = 1.0
) -> np.ndarray:
    """Orthonormal columns (or rows, if wider than tall) times gain, as torch's orthogonal_.

    QR of a Gaussian matrix with the signs of R's diagonal folded into Q, so the result is
    uniformly distributed over orthogonal matrices.
    """
    rows, cols = shape
    a = rng.standard_normal((rows, cols) if rows >= cols else (cols, rows))
    q, r = np.linalg.qr(a)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (q * gain).astype(dtype)


def normal(
    shape: Shape, rng: np.random.Generator, dtype: DTypeLike, *, std: float = 0.05
) -> np.ndarray:
    """Plain normal with mean 0 and the given std."""
    if std < 0:
        raise ValueError(f"normal init std must be >= 0, got {std}")
    return _normal(shape, rng, dtype, std)


def uniform(
    shape: Shape, rng: np.random.Generator, dtype: DTypeLike, *, limit: float = 0.05
) -> np.ndarray:
    """Uniform on [-limit, limit)."""
    if limit < 0:
        raise ValueError(f"uniform init limit must be >= 0, got {limit}")
    return _uniform(shape, rng, dtype, limit)


def zeros(shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
    """All zeros (draws nothing from rng)."""
    return np.zeros(shape, dtype=dtype)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "orthogonal": orthogonal,
    "normal": normal,
    "uniform": uniform,
    "zeros": zeros,
}


def initialize(
    name: str,
    shape: Shape,
    rng: np.random.Generator,
    dtype: DTypeLike = np.float32,
    **options: Any,
) -> np.ndarray:
    """Look up and call an initializer; unknown names or options raise ValueError."""
    try:
        init = INITIALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown initializer {name!r}; expected one of {', '.join(INITIALIZERS)}"
        ) from None
    allowed = [
        p.name
        for p in inspect.signature(init).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for key in options:
        if key not in allowed:
            hint = f"its options are {', '.join(allowed)}" if allowed else "it takes no options"
            raise ValueError(f"initializer {name!r} has no option {key!r}; {hint}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"initializers expect a 2-D (fan_in, fan_out) shape, got {shape}")
    return init(tuple(shape), rng, dtype, **options)
