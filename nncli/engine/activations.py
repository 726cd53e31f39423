"""Activation layers: parameter-free elementwise maps (and softmax) with VJP backward passes."""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import numpy as np

from nncli.engine.base import Layer

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969), coefficients as in Netlib specfun CALERF. NumPy has no erf and scipy is not a
# dependency, so the exact GELU needs its own.
_A = (3.16112374387056560, 113.864154151050156, 377.485237685302021, 3209.37758913846947)
_A4 = 0.185777706184603153
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (
    0.564188496988670089,
    8.88314979438837594,
    66.1191906371416295,
    298.635138197400131,
    881.952221241769090,
    1712.04761263407058,
    2051.07837782607147,
    1230.33935479799725,
)
_C8 = 2.15311535474403846e-8
_D = (
    15.7449261107098347,
    117.693950891312499,
    537.181101862009858,
    1621.38957456669019,
    3290.79923573345963,
    4362.61909014324716,
    3439.36767414372164,
    1230.33935480374942,
)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766)
_P45 = (6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191)
_Q4 = 2.33520497626869185e-3
_ONE_OVER_SQRT_PI = 0.56418958354775628695
_ERF_SMALL = 0.46875  # below this, erf directly; above, erfc (no cancellation either way)
_ERFC_ZERO = 26.543  # erfc underflows to 0 in float64 beyond this


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| <= 0.46875."""
    ysq = x * x
    num = _A4 * ysq
    den = ysq
    for a, b in zip(_A[:3], _B[:3], strict=True):
        num = (num + a) * ysq
        den = (den + b) * ysq
    return x * (num + _A[3]) / (den + _B[3])


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875."""
    out = np.zeros_like(y)
    mid = y <= 4.0
    ym = y[mid]
    num = _C8 * ym
    den = ym
    for c, d in zip(_C[:7], _D[:7], strict=True):
        num = (num + c) * ym
        den = (den + d) * ym
    out[mid] = (num + _C[7]) / (den + _D[7])
    tail = ~mid & ~(y >= _ERFC_ZERO)  # NaN stays in here and propagates
    yt = y[tail]
    ysq = 1.0 / (yt * yt)
    num = _P45[1] * ysq
    den = ysq
    for p, q in zip(_P, _Q, strict=True):
        num = (num + p) * ysq
        den = (den + q) * ysq
    out[tail] = (_ONE_OVER_SQRT_PI - ysq * (num + _P45[0]) / (den + _Q4)) / yt
    # exp(-y^2) split as exp(-s^2) * exp(-(y-s)(y+s)) with s = y rounded down to 1/16 keeps
    # the full precision of y^2.
    live = mid | tail
    yl = y[live]
    s = np.trunc(yl * 16.0) / 16.0
    out[live] *= np.exp(-s * s) * np.exp(-(yl - s) * (yl + s))
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, vectorized, accurate to about 1e-16 relative in float64."""
    x = np.asarray(x)
    out = np.empty_like(x)
    small = np.abs(x) <= _ERF_SMALL
    out[small] = _erf_small(x[small])
    large = ~small
    xl = x[large]
    out[large] = np.copysign(1.0 - _erfc_large(np.abs(xl)), xl)
    return out


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function 1 - erf(x), without cancellation for large x."""
    x = np.asarray(x)
    out = np.empty_like(x)
    small = np.abs(x) <= _ERF_SMALL
    out[small] = 1.0 - _erf_small(x[small])
    large = ~small
    xl = x[large]
    r = _erfc_large(np.abs(xl))
    out[large] = np.where(xl < 0, 2.0 - r, r)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class Activation(Layer):
    """Parameter-free layer; `backward` is the vector-Jacobian product of the last forward."""

    name: ClassVar[str]

    def options(self) -> dict[str, Any]:
        """Constructor options, for the repr and for rebuilding."""
        return {}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({inner})"


class ReLU(Activation):
    """max(x, 0); gradient 0 at x = 0 (as torch)."""

    name = "relu"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._mask = np.greater(x, 0, out=self._out("mask", x.shape, np.dtype(bool), training))
        return np.maximum(x, 0, out=self._out("out", x.shape, x.dtype, training))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_in = self._out("grad_in", grad_out.shape, grad_out.dtype, True)
        return np.multiply(grad_out, self._mask, out=grad_in)


class LeakyReLU(Activation):
    """x for x > 0, alpha * x otherwise."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, self.alpha * x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self._mask, grad_out, self.alpha * grad_out)


class ELU(Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name = "elu"
    _scale: ClassVar[float] = 1.0

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        # expm1 of min(x, 0): accurate near 0 and no overflow in the unused branch.
        neg = np.expm1(np.minimum(x, 0))
        neg *= self.alpha
        out = np.where(x > 0, x, neg)
        if self._scale != 1.0:
            out *= self._scale
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._x
        slope = np.exp(np.minimum(x, 0))
        slope *= self.alpha
        slope = np.where(x > 0, 1.0, slope)
        if self._scale != 1.0:
            slope *= self._scale
        return grad_out * slope


class SELU(ELU):
    """Self-normalizing ELU with torch's fixed alpha and scale."""

    name = "selu"
    _scale = 1.0507009873554804934193349852946

    def __init__(self) -> None:
        super().__init__(alpha=1.6732632423543772848170429916717)

    def options(self) -> dict[str, Any]:
        return {}


class GELU(Activation):
    """x * Phi(x); exact (erf) or the tanh approximation, as torch's `approximate`."""

    name = "gelu"
    _TANH_K = math.sqrt(2.0 / math.pi)
    _TANH_C = 0.044715

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def options(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        if self.approximate == "tanh":
            self._t = np.tanh(self._TANH_K * (x + self._TANH_C * x * x * x))
            return 0.5 * x * (1.0 + self._t)
        # Phi via erfc keeps relative accuracy in the far negative tail.
        self._cdf = 0.5 * erfc(x * -math.sqrt(0.5))
        return x * self._cdf

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._x
        if self.approximate == "tanh":
            t = self._t
            inner = self._TANH_K * (1.0 + 3.0 * self._TANH_C * x * x)
            slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner
        else:
            pdf = np.exp(-0.5 * x * x)
            pdf *= 1.0 / math.sqrt(2.0 * math.pi)
            slope = self._cdf + x * pdf
        return grad_out * slope


class Sigmoid(Activation):
    """Logistic function, stable for any input."""

    name = "sigmoid"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return grad_out * y * (1.0 - y)


class Tanh(Activation):
    """Hyperbolic tangent."""

    name = "tanh"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1.0 - self._y * self._y)


class Softplus(Activation):
    """log(1 + exp(x)), linear above 20 (torch's beta=1, threshold=20)."""

    name = "softplus"
    threshold: ClassVar[float] = 20.0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        soft = np.log1p(np.exp(np.minimum(x, self.threshold)))
        return np.where(x > self.threshold, x, soft)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._x
        return grad_out * np.where(x > self.threshold, 1.0, sigmoid(x))


class SiLU(Activation):
    """x * sigmoid(x) (a.k.a. swish)."""

    name = "silu"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        self._s = sigmoid(x)
        return x * self._s

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        s = self._s
        return grad_out * (s * (1.0 + self._x * (1.0 - s)))


class Softmax(Activation):
    """Softmax over the feature axis (axis 1), shifted by the row max for stability."""

    name = "softmax"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = x - x.max(axis=1, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=1, keepdims=True)
        self._y = y
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        # J^T g = y * (g - <g, y>) row by row: the full Jacobian is never built.
        return y * (grad_out - np.sum(grad_out * y, axis=1, keepdims=True))


class Linear(Activation):
    """Identity (the output activation of regression heads)."""

    name = "linear"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (ReLU, LeakyReLU, ELU, GELU, SELU, Sigmoid, Tanh, Softplus, SiLU, Softmax, Linear)
}


def make_activation(name: str, **options: Any) -> Activation:
    """Build an activation by registry name; unknown names or options raise ValueError."""
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}"
        ) from None
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in options:
        if key not in allowed:
            hint = f"its options are {', '.join(allowed)}" if allowed else "it takes no options"
            raise ValueError(f"activation {name!r} has no option {key!r}; {hint}")
    return cls(**options)
