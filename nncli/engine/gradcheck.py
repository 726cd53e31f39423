"""Central finite-difference check of a network's backprop, in float64."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from nncli.engine.base import Layer
from nncli.engine.head import Head
from nncli.engine.layers import Dropout

_TINY = 1e-300


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = _TINY) -> float:
    """||a - b|| / max(||a|| + ||b||, floor), over the whole array.

    Norm-based rather than elementwise: an element whose true gradient is ~0 would otherwise
    report finite-difference noise as a large relative error.
    """
    diff = float(np.linalg.norm(analytic - numeric))
    scale = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return diff / max(scale, floor)


def check_gradients(
    network: Layer,
    head: Head,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    eps: float = 1e-6,
    training: bool = True,
    max_elements: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Relative error of every parameter's gradient and of the input gradient ("input").

    The error is `relative_error` with floor 1e-3 * max(|loss|, 1): finite differences carry
    rounding noise of about 1e-10 * |loss| per entry, and the floor keeps an array whose true
    gradient is zero (a bias feeding batchnorm) from reporting that noise as a relative error
    of 1. Correct backprop gives errors around 1e-9; anything above 1e-6 is suspect.

    Works on a float64 deep copy, so the given network (weights, running statistics, dropout
    generators) is left untouched. Dropout masks are drawn once and frozen; buffers such as
    batchnorm running statistics are restored after every probe. `max_elements` checks a
    random subset of each array's entries (chosen with `seed`) to bound the cost.
    """
    net = _float64_copy(network)
    head = copy.deepcopy(head)
    x = np.array(x, dtype=np.float64)
    targets = np.asarray(targets)
    if targets.dtype.kind == "f":
        targets = targets.astype(np.float64)
    buffers = [(v, v.copy()) for _, layer in net.layers() for v in layer.buffers.values()]

    def restore() -> None:
        for value, saved in buffers:
            value[...] = saved

    loss0, grad_logits = head.loss_and_grad(net.forward(x, training), targets)
    floor = 1e-3 * max(abs(loss0), 1.0)
    grad_x = net.backward(grad_logits)
    analytic = {p.name: p.grad.copy() for p in net.parameters()}
    analytic["input"] = grad_x.copy()
    restore()
    for _, layer in net.layers():
        if isinstance(layer, Dropout) and layer.frozen_mask is None:
            layer.frozen_mask = layer.mask

    def loss() -> float:
        value = head.loss(net.forward(x, training), targets)
        restore()
        return value

    arrays = {p.name: p.value for p in net.parameters()}
    arrays["input"] = x
    rng = np.random.default_rng(seed)
    errors = {}
    for name, value in arrays.items():
        indices = _entries(value.shape, max_elements, rng)
        numeric = _central_differences(loss, value, indices, eps)
        picked = np.array([analytic[name][index] for index in indices])
        errors[name] = relative_error(picked, numeric, floor)
    return errors


def _float64_copy(network: Layer) -> Layer:
    """A deep copy of `network` with every param, grad and buffer in float64."""
    net = copy.deepcopy(network)
    for _, layer in net.layers():
        for store in (layer.params, layer.grads, layer.buffers):
            for key, value in store.items():
                store[key] = value.astype(np.float64)
    return net


def _entries(
    shape: tuple[int, ...], max_elements: int | None, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """Every index of an array of `shape`, or `max_elements` of them drawn at random."""
    indices = list(np.ndindex(shape))
    if max_elements is not None and len(indices) > max_elements:
        picks = sorted(rng.choice(len(indices), max_elements, replace=False))
        indices = [indices[i] for i in picks]
    return indices


def _central_differences(
    loss: Callable[[], float], value: np.ndarray, indices: list[tuple[int, ...]], eps: float
) -> np.ndarray:
    """(loss(v + eps) - loss(v - eps)) / 2eps for each entry of `value` at `indices`,
    nudging the entry in place and putting it back."""
    numeric = np.empty(len(indices))
    for j, index in enumerate(indices):
        original = value[index]
        value[index] = original + eps
        plus = loss()
        value[index] = original - eps
        minus = loss()
        value[index] = original
        numeric[j] = (plus - minus) / (2.0 * eps)
    return numeric
