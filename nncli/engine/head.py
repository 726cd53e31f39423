"""Losses and the Head that pairs the output activation with its loss (fused where stable).

Conventions (PyTorch's): every loss is a mean, and the 1/n lives here only, so layers never
divide by the batch size. Classification targets are int class indices of shape (n,), for
cross_entropy (softmax over C logits) and binary_cross_entropy (one sigmoid unit, index 1 the
positive class). Regression targets are floats of the outputs' shape (n, k).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from nncli.engine.activations import Activation, Sigmoid, Softmax, sigmoid


class Loss:
    """A mean loss over the batch and its gradient, in one of two kinds.

    Most losses compare the output activation's outputs with the targets: they implement
    `value_and_grad`, differentiating w.r.t. the outputs. A loss that names an `activation`
    is fused with it: it implements `from_logits`, taking the logits before that activation,
    so it never forms log(p) (the Head checks the pairing and picks the path).
    """

    name: ClassVar[str]
    activation: ClassVar[type[Activation] | None] = None

    def value_and_grad(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss and its gradient w.r.t. `outputs` (losses without an `activation`)."""
        raise NotImplementedError(f"{self.name} is computed from logits")

    def from_logits(
        self, logits: np.ndarray, targets: np.ndarray, grad: bool = True
    ) -> tuple[float, np.ndarray | None]:
        """Mean loss and, with `grad` (else None), its gradient w.r.t. the logits (losses
        with an `activation`)."""
        raise NotImplementedError(f"{self.name} is computed from the outputs")

    def options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({inner})"


class MSE(Loss):
    """mean((y - t)^2) over every element."""

    name = "mse"

    def value_and_grad(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        diff = outputs - targets
        loss = float(np.vdot(diff, diff)) / diff.size
        diff *= 2.0 / diff.size
        return loss, diff


class MAE(Loss):
    """mean(|y - t|) over every element (torch's L1Loss; gradient 0 where y == t)."""

    name = "mae"

    def value_and_grad(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        diff = outputs - targets
        loss = float(np.abs(diff).sum()) / diff.size
        grad = np.sign(diff)
        grad *= 1.0 / diff.size
        return loss, grad


class Huber(Loss):
    """Quadratic within `delta` of the target, linear beyond (torch's HuberLoss)."""

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        if delta <= 0:
            raise ValueError(f"huber delta must be > 0, got {delta}")
        self.delta = float(delta)

    def options(self) -> dict[str, Any]:
        return {"delta": self.delta}

    def value_and_grad(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.delta
        diff = outputs - targets
        a = np.abs(diff)
        per = np.where(a < d, 0.5 * diff * diff, d * (a - 0.5 * d))
        grad = np.clip(diff, -d, d)
        grad *= 1.0 / diff.size
        return float(per.sum()) / diff.size, grad


class CrossEntropy(Loss):
    """Softmax cross-entropy from logits, as torch.nn.CrossEntropyLoss.

    With class weights w the mean is weighted: sum_i w[y_i] * l_i / sum_i w[y_i], and label
    smoothing eps mixes in eps/C of the (weighted) uniform target, normalized the same way.
    """

    name = "cross_entropy"
    activation: ClassVar[type[Activation]] = Softmax

    def __init__(self, label_smoothing: float = 0.0, weight: Sequence[float] | None = None):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)

    def options(self) -> dict[str, Any]:
        weight = None if self.weight is None else self.weight.tolist()
        return {"label_smoothing": self.label_smoothing, "weight": weight}

    def from_logits(
        self, logits: np.ndarray, targets: np.ndarray, grad: bool = True
    ) -> tuple[float, np.ndarray | None]:
        """Loss by log-sum-exp and its gradient w.r.t. the logits."""
        n, c = logits.shape
        _check_classes(targets, n, c)
        rows = np.arange(n)
        eps = self.label_smoothing
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sumexp = exp.sum(axis=1, keepdims=True)
        logp = shifted - np.log(sumexp)
        if self.weight is None:
            total = float(n)
            nll = -float(logp[rows, targets].sum())
            smooth = -float(logp.sum()) if eps else 0.0
        else:
            w = _class_weights(self.weight, c, logits.dtype)
            w_y = w[targets]
            total = float(w_y.sum())
            nll = -float(np.dot(w_y, logp[rows, targets]))
            smooth = -float((logp @ w).sum()) if eps else 0.0
        loss = ((1.0 - eps) * nll + eps / c * smooth) / total
        if not grad:
            return loss, None
        p = exp
        p /= sumexp
        # d/dz of -log p_k is p - e_k; the target mixes e_y with weight (1-eps) and every
        # e_k with eps/C (times the class weights, when given).
        if self.weight is None:
            p[rows, targets] -= 1.0 - eps
            if eps:
                p -= eps / c
        else:
            p *= ((1.0 - eps) * w_y + eps / c * float(w.sum()))[:, None]
            p[rows, targets] -= (1.0 - eps) * w_y
            if eps:
                p -= (eps / c) * w
        p *= 1.0 / total
        return loss, p


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy from the logits of one output unit, as BCEWithLogitsLoss.

    Optional class weights [w0, w1] weight each sample by its class; the mean is then
    weighted, sum_i w[y_i] * l_i / sum_i w[y_i] (the same semantics as cross_entropy).
    """

    name = "binary_cross_entropy"
    activation: ClassVar[type[Activation]] = Sigmoid

    def __init__(self, weight: Sequence[float] | None = None) -> None:
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)
        if self.weight is not None and self.weight.shape != (2,):
            raise ValueError("binary_cross_entropy weight must be [w0, w1]")

    def options(self) -> dict[str, Any]:
        return {"weight": None if self.weight is None else self.weight.tolist()}

    def from_logits(
        self, logits: np.ndarray, targets: np.ndarray, grad: bool = True
    ) -> tuple[float, np.ndarray | None]:
        """max(z, 0) - z*y + log1p(exp(-|z|)): never overflows, never takes log(0)."""
        n = logits.shape[0]
        if logits.shape[1:] != (1,):
            raise ValueError(f"binary_cross_entropy needs one output unit, got {logits.shape}")
        y = _binary_targets(targets, n, logits.dtype)
        per = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
        if self.weight is None:
            total = float(n)
            loss = float(per.sum()) / total
        else:
            w0, w1 = (float(v) for v in self.weight)
            s = w0 + (w1 - w0) * y  # w[y_i], also right for soft targets in [0, 1]
            total = float(s.sum())
            loss = float(np.vdot(s, per)) / total
        if not grad:
            return loss, None
        g = sigmoid(logits)
        g -= y
        if self.weight is not None:
            g *= s
        g *= 1.0 / total
        return loss, g


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (CrossEntropy, BinaryCrossEntropy, MSE, MAE, Huber)
}


def make_loss(name: str, **options: Any) -> Loss:
    """Build a loss by registry name; unknown names or options raise ValueError."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
    allowed = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    for key in options:
        if key not in allowed:
            hint = f"its options are {', '.join(allowed)}" if allowed else "it takes no options"
            raise ValueError(f"loss {name!r} has no option {key!r}; {hint}")
    return cls(**options)


class Head:
    """The output activation and the loss, from logits: fused and stable where possible.

    softmax + cross_entropy and sigmoid + binary_cross_entropy never form log(p); any other
    pair runs activation.forward -> loss -> activation.backward.
    """

    def __init__(self, activation: Activation, loss: Loss) -> None:
        required = loss.activation
        if required is not None and not isinstance(activation, required):
            raise ValueError(
                f"loss {loss.name!r} needs the {required.name!r} output activation, "
                f"got {activation!r}"
            )
        self.activation = activation
        self.loss_fn = loss
        self._fused = required is not None

    def loss_and_grad(self, logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss and its gradient w.r.t. the logits (already divided by n)."""
        if self._fused:
            loss, grad = self.loss_fn.from_logits(logits, targets)
            assert grad is not None  # None only when asked for no gradient
            return loss, grad
        outputs = self.activation.forward(logits, training=False)
        loss, grad = self.loss_fn.value_and_grad(outputs, _dense_targets(targets, outputs))
        return loss, self.activation.backward(grad)

    def loss(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """Mean loss only (validation and evaluation)."""
        if self._fused:
            return self.loss_fn.from_logits(logits, targets, grad=False)[0]
        outputs = self.activation.forward(logits, training=False)
        return self.loss_fn.value_and_grad(outputs, _dense_targets(targets, outputs))[0]

    def outputs(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities (softmax: (n, C); sigmoid: p of class 1, (n, 1)) or values (n, k)."""
        return self.activation.forward(logits, training=False)

    def __repr__(self) -> str:
        return f"Head({self.activation!r}, {self.loss_fn!r})"


def _check_classes(targets: np.ndarray, n: int, c: int) -> None:
    if targets.shape != (n,) or targets.dtype.kind not in "iu":
        raise ValueError(
            f"class targets must be integer indices of shape ({n},), "
            f"got {targets.dtype} {targets.shape}"
        )
    if n and (targets.min() < 0 or targets.max() >= c):
        raise ValueError(f"class targets must be in [0, {c}), got {targets.min()}..{targets.max()}")


def _class_weights(weight: np.ndarray, c: int, dtype: np.dtype) -> np.ndarray:
    if weight.shape != (c,):
        raise ValueError(f"class weights have {weight.shape[0]} entries for {c} classes")
    return weight.astype(dtype, copy=False)


def _binary_targets(targets: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    """Int indices (n,) in {0, 1}, or float probabilities (n,) or (n, 1) -> floats (n, 1)."""
    if targets.dtype.kind in "iu":
        _check_classes(targets, n, 2)
    elif targets.shape not in ((n,), (n, 1)):
        raise ValueError(f"binary targets must have shape ({n},), got {targets.shape}")
    return targets.reshape(n, 1).astype(dtype, copy=False)


def _dense_targets(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Targets as floats of the outputs' shape and dtype (class indices become one-hot)."""
    n, k = outputs.shape
    if targets.dtype.kind in "iu" and targets.ndim == 1 and k > 1:
        _check_classes(targets, n, k)
        dense = np.zeros_like(outputs)
        dense[np.arange(n), targets] = 1.0
        return dense
    if targets.ndim == 1 and k == 1:
        targets = targets.reshape(n, 1)
    if targets.shape != outputs.shape:
        raise ValueError(f"targets of shape {targets.shape} do not match outputs {outputs.shape}")
    return targets.astype(outputs.dtype, copy=False)
