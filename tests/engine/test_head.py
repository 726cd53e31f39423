"""The Head and losses: values, finite-difference gradients, stability, target conventions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nncli.engine.activations import make_activation
from nncli.engine.base import Sequential
from nncli.engine.gradcheck import check_gradients
from nncli.engine.head import LOSSES, Head, make_loss
from nncli.engine.layers import Dense

N = 7


def _numeric_grad(head: Head, logits: np.ndarray, targets: np.ndarray, eps: float = 1e-6):
    grad = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[index] = eps
        grad[index] = (head.loss(logits + step, targets) - head.loss(logits - step, targets)) / (
            2 * eps
        )
    return grad


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def _targets(kind: str, rng: np.random.Generator, width: int) -> np.ndarray:
    if kind == "classes":
        return rng.integers(0, width, N)
    if kind == "binary":
        return np.array([0, 1, 1, 0, 1, 0, 0])
    if kind == "soft":
        return rng.uniform(size=(N, 1))
    return rng.normal(size=(N, width))


CASES = [
    # (activation, loss, loss options, output width, target kind)
    ("softmax", "cross_entropy", {}, 4, "classes"),
    ("softmax", "cross_entropy", {"label_smoothing": 0.2}, 4, "classes"),
    ("softmax", "cross_entropy", {"weight": [0.5, 2.0, 1.0, 3.0]}, 4, "classes"),
    (
        "softmax",
        "cross_entropy",
        {"label_smoothing": 0.1, "weight": [0.5, 2.0, 1.0, 3.0]},
        4,
        "classes",
    ),
    ("sigmoid", "binary_cross_entropy", {}, 1, "binary"),
    ("sigmoid", "binary_cross_entropy", {"weight": [0.3, 2.0]}, 1, "binary"),
    ("sigmoid", "binary_cross_entropy", {"weight": [0.3, 2.0]}, 1, "soft"),
    ("linear", "mse", {}, 3, "values"),
    ("linear", "mae", {}, 3, "values"),
    ("linear", "huber", {}, 3, "values"),
    ("linear", "huber", {"delta": 0.3}, 3, "values"),
    ("sigmoid", "mse", {}, 2, "values"),
    ("tanh", "huber", {}, 2, "values"),
    ("softmax", "mse", {}, 3, "classes"),
    ("sigmoid", "mae", {}, 1, "binary"),
]


@pytest.mark.parametrize(("act", "loss", "options", "width", "kind"), CASES, ids=str)
def test_gradient_w_r_t_logits(act, loss, options, width, kind) -> None:
    rng = np.random.default_rng(0)
    head = Head(make_activation(act), make_loss(loss, **options))
    logits = 2.0 * rng.normal(size=(N, width))
    targets = _targets(kind, rng, width)
    value, grad = head.loss_and_grad(logits, targets)
    assert value == head.loss(logits, targets) and isinstance(value, float)
    assert _rel(grad, _numeric_grad(head, logits, targets)) < 1e-7


@pytest.mark.parametrize(("act", "loss", "options", "width", "kind"), CASES[:7], ids=str)
def test_gradients_through_a_dense_layer(act, loss, options, width, kind) -> None:
    rng = np.random.default_rng(1)
    net = Sequential([Dense(rng.normal(size=(3, width)), rng.normal(size=width))])
    head = Head(make_activation(act), make_loss(loss, **options))
    errors = check_gradients(net, head, rng.normal(size=(N, 3)), _targets(kind, rng, width))
    assert max(errors.values()) < 1e-6, errors


def test_cross_entropy_values_follow_torch_semantics() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    targets = np.array([0, 2])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    w = np.array([0.5, 2.0, 4.0])
    eps = 0.3
    nll = -logp[[0, 1], targets]
    smooth = -(logp * w).sum(axis=1)
    expected = ((1 - eps) * (w[targets] * nll).sum() + eps / 3 * smooth.sum()) / w[targets].sum()
    head = Head(
        make_activation("softmax"), make_loss("cross_entropy", label_smoothing=eps, weight=w)
    )
    assert head.loss(logits, targets) == pytest.approx(expected, rel=1e-14)
    plain = Head(make_activation("softmax"), make_loss("cross_entropy"))
    assert plain.loss(logits, targets) == pytest.approx(nll.mean(), rel=1e-14)
    _, grad = plain.loss_and_grad(logits, targets)
    np.testing.assert_allclose(grad, (np.exp(logp) - np.eye(3)[targets]) / 2, rtol=1e-14)


def test_binary_cross_entropy_values() -> None:
    z = np.array([[0.3], [-1.2], [2.0]])
    y = np.array([1, 0, 1])
    p = 1 / (1 + np.exp(-z[:, 0]))
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    head = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy"))
    assert head.loss(z, y) == pytest.approx(per.mean(), rel=1e-14)
    weighted = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy", weight=[1, 3]))
    s = np.where(y == 1, 3.0, 1.0)
    assert weighted.loss(z, y) == pytest.approx((s * per).sum() / s.sum(), rel=1e-14)
    assert head.outputs(z).shape == (3, 1)
    np.testing.assert_allclose(head.outputs(z)[:, 0], p, rtol=1e-15)


def test_regression_values() -> None:
    y = np.array([[0.0, 1.0], [2.0, -3.0]])
    t = np.array([[0.5, 1.0], [0.0, 0.0]])
    linear = make_activation("linear")
    assert Head(linear, make_loss("mse")).loss(y, t) == pytest.approx((0.25 + 4 + 9) / 4)
    assert Head(linear, make_loss("mae")).loss(y, t) == pytest.approx((0.5 + 2 + 3) / 4)
    huber = (0.5 * 0.25 + (2 - 0.5) + (3 - 0.5)) / 4
    assert Head(linear, make_loss("huber")).loss(y, t) == pytest.approx(huber)
    assert Head(linear, make_loss("huber", delta=2.0)).loss(y, t) == pytest.approx(
        (0.5 * 0.25 + 0.5 * 4 + 2 * (3 - 1)) / 4
    )


def test_one_dimensional_regression_targets_for_one_output() -> None:
    head = Head(make_activation("linear"), make_loss("mse"))
    y = np.array([[1.0], [2.0], [3.0]])
    assert head.loss(y, np.array([1.0, 2.0, 5.0])) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="do not match"):
        head.loss(np.ones((3, 2)), np.ones(3))


@pytest.mark.parametrize(("act", "loss", "options", "width", "kind"), CASES[:7], ids=str)
def test_extreme_logits_are_stable(act, loss, options, width, kind) -> None:
    rng = np.random.default_rng(2)
    head = Head(make_activation(act), make_loss(loss, **options))
    logits = np.where(rng.uniform(size=(N, width)) < 0.5, -1000.0, 1000.0)
    targets = _targets(kind, rng, width)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = head.loss_and_grad(logits, targets)
        probs = head.outputs(logits)
    assert math.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(probs))


def test_extreme_logit_values_are_exact() -> None:
    ce = Head(make_activation("softmax"), make_loss("cross_entropy"))
    logits = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    assert ce.loss(logits, np.array([0, 0])) == 0.0
    assert ce.loss(logits, np.array([1, 1])) == 2000.0
    bce = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy"))
    assert bce.loss(np.array([[-1000.0]]), np.array([1])) == 1000.0
    _, grad = bce.loss_and_grad(np.array([[-1000.0], [1000.0]]), np.array([1, 1]))
    np.testing.assert_array_equal(grad, [[-0.5], [0.0]])


@pytest.mark.parametrize(("act", "loss", "options", "width", "kind"), CASES, ids=str)
def test_float32_logits_give_float32_gradients(act, loss, options, width, kind) -> None:
    rng = np.random.default_rng(3)
    head = Head(make_activation(act), make_loss(loss, **options))
    logits = rng.normal(size=(N, width)).astype(np.float32)
    value, grad = head.loss_and_grad(logits, _targets(kind, rng, width))
    assert grad.dtype == np.float32 and isinstance(value, float)


def test_pairing_and_target_errors() -> None:
    with pytest.raises(ValueError, match="softmax"):
        Head(make_activation("sigmoid"), make_loss("cross_entropy"))
    with pytest.raises(ValueError, match="sigmoid"):
        Head(make_activation("softmax"), make_loss("binary_cross_entropy"))
    ce = Head(make_activation("softmax"), make_loss("cross_entropy"))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ce.loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integer"):
        ce.loss(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="3 classes"):
        Head(make_activation("softmax"), make_loss("cross_entropy", weight=[1, 2])).loss(
            np.zeros((2, 3)), np.array([0, 1])
        )
    bce = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy"))
    with pytest.raises(ValueError, match="one output unit"):
        bce.loss(np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        bce.loss(np.zeros((2, 1)), np.array([0, 2]))


def test_registry_factory_and_repr() -> None:
    assert sorted(LOSSES) == sorted(
        ["cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"]
    )
    with pytest.raises(ValueError, match="'delta'"):
        make_loss("mse", delta=1.0)
    with pytest.raises(ValueError, match="'l2'"):
        make_loss("l2")
    head = Head(make_activation("softmax"), make_loss("cross_entropy", label_smoothing=0.1))
    assert repr(head) == "Head(Softmax(), CrossEntropy(label_smoothing=0.1, weight=None))"
    assert repr(make_loss("huber")) == "Huber(delta=1.0)"
