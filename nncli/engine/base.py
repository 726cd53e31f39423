"""The Layer interface, trainable-parameter records, and the Sequential composite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Param:
    """One trainable array as optimizers see it; `decay` is True for dense weights only."""

    name: str
    value: np.ndarray
    grad: np.ndarray
    decay: bool


class Layer:
    """Base class: params/grads/buffers dicts plus forward and backward.

    Subclasses fill `params` (trainable), `grads` (same keys and shapes, overwritten by each
    backward) and `buffers` (saved but not trained). `decay_keys` names the params that
    weight decay applies to. Composites list their sub-layers in `children` as (name, layer);
    an empty name flattens the child's entries into the parent's prefix.

    `backward` always returns the gradient w.r.t. the input. A training loop, whose input is
    data, never reads that gradient: it calls `backward_params` instead, which fills `grads`
    only, so a layer may skip the input gradient's work (Dense skips a matmul).

    `reuse`, off by default so a layer used on its own behaves as plain NumPy code, is a
    switch for a training loop that owns the network (the Trainer sets it): training
    forwards and backwards write into arrays kept from the previous batch instead of new
    ones (see `_out`).
    """

    decay_keys: frozenset[str] = frozenset()
    reuse: bool = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.children: list[tuple[str, Layer]] = []

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Fill `grads` from the last forward's cache; the gradient w.r.t. the input."""
        raise NotImplementedError

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Fill `grads` as backward does, for a caller that never reads the input gradient
        (layers that can skip its work override this)."""
        self.backward(grad_out)

    def output_width(self, input_width: int) -> int:
        """Width of this layer's output for a given input width (shape-preserving by default)."""
        return input_width

    def _out(self, key: str, shape: tuple[int, ...], dtype: np.dtype, keep: bool) -> np.ndarray:
        """An uninitialized array to write a result into: new, or with `keep` and `reuse` on,
        the first rows of an array kept under `key` from the last batch (regrown when the
        batch is larger or the dtype changes). Callers pass keep=False for results someone
        may hold past the next call (inference), so those never alias.
        """
        if not (keep and self.reuse):
            return np.empty(shape, dtype)
        kept = self.__dict__.setdefault("_kept", {})
        buf = kept.get(key)
        if buf is None or buf.dtype != dtype or buf.shape[1:] != shape[1:] or len(buf) < shape[0]:
            buf = kept[key] = np.empty(shape, dtype)
        return buf[: shape[0]]

    def set_reuse(self, on: bool) -> None:
        """Switch buffer reuse for this layer and every layer below it (off frees the arrays)."""
        for _, layer in self._walk(""):
            layer.reuse = on
            if not on:
                layer.__dict__.pop("_kept", None)

    def _walk(self, prefix: str) -> Iterator[tuple[str, Layer]]:
        yield prefix, self
        for name, child in self.children:
            yield from child._walk(f"{prefix}{name}." if name else prefix)

    def parameters(self) -> list[Param]:
        """Every trainable array of this layer and its children, with dotted names."""
        return [
            Param(prefix + key, value, layer.grads[key], key in layer.decay_keys)
            for prefix, layer in self._walk("")
            for key, value in layer.params.items()
        ]

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by dotted name (the arrays themselves, not copies)."""
        out: dict[str, np.ndarray] = {}
        for prefix, layer in self._walk(""):
            for key, value in layer.params.items():
                out[prefix + key] = value
            for key, value in layer.buffers.items():
                out[prefix + key] = value
        return out

    def layers(self) -> Iterator[tuple[str, Layer]]:
        """Every layer in the tree with its name prefix (without the trailing dot)."""
        for prefix, layer in self._walk(""):
            yield prefix.rstrip("."), layer


class Sequential(Layer):
    """Layers applied in order; children named by `names` (default "0", "1", ...)."""

    def __init__(self, layers: list[Layer], names: list[str] | None = None) -> None:
        super().__init__()
        names = names if names is not None else [str(i) for i in range(len(layers))]
        self.children = list(zip(names, layers, strict=True))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for _, layer in self.children:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        for _, layer in reversed(self.children):
            grad_out = layer.backward(grad_out)
        return grad_out

    def backward_params(self, grad_out: np.ndarray) -> None:
        """Backward through every layer but the first, which only fills its grads: what it
        would pass back is the unread input gradient. Empty sequences before it are passed
        over (a network without hidden layers starts with one)."""
        children = self.children
        first = 0
        while first < len(children) and _is_empty(children[first][1]):
            first += 1
        for _, layer in reversed(children[first + 1 :]):
            grad_out = layer.backward(grad_out)
        if first < len(children):
            children[first][1].backward_params(grad_out)

    def output_width(self, input_width: int) -> int:
        for _, layer in self.children:
            input_width = layer.output_width(input_width)
        return input_width

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for _, layer in self.children)
        return f"Sequential({inner})"


def _is_empty(layer: Layer) -> bool:
    """An empty Sequential: the identity, with nothing to fill."""
    return isinstance(layer, Sequential) and not layer.children


class FlatParams(list[Param]):
    """A network's Params whose values and grads are views into one flat array each.

    Weight-decayed params are laid out first, so `values[:n_decay]` is every decayed value:
    an optimizer updates the whole network with a few ufunc calls on one or two segments
    instead of a dozen calls per parameter. `slices[i]` is where the i-th Param lives.
    """

    def __init__(
        self,
        params: list[Param],
        values: np.ndarray,
        grads: np.ndarray,
        n_decay: int,
        slices: list[slice],
    ) -> None:
        super().__init__(params)
        self.values = values
        self.grads = grads
        self.n_decay = n_decay
        self.slices = slices


def flatten_parameters(root: Layer) -> list[Param]:
    """Move every trainable array of `root` (and its grad) into one flat buffer, in place.

    Layers keep views, so forward/backward and state_dict see the same numbers as before;
    anything holding the old arrays must fetch them again. Mixed dtypes (or no params)
    leave the network as it is and return the plain parameter list.
    """
    params = root.parameters()
    dtypes = {p.value.dtype for p in params}
    if len(dtypes) != 1:
        return params
    dtype = dtypes.pop()
    order = [p for p in params if p.decay] + [p for p in params if not p.decay]
    total = sum(p.value.size for p in order)
    values, grads = np.empty(total, dtype), np.zeros(total, dtype)
    where: dict[str, slice] = {}
    start = 0
    for p in order:
        where[p.name] = slice(start, start + p.value.size)
        start += p.value.size
    for prefix, layer in root._walk(""):
        for key in list(layer.params):
            sl = where[prefix + key]
            shape = layer.params[key].shape
            values[sl] = layer.params[key].reshape(-1)
            grads[sl] = layer.grads[key].reshape(-1)
            layer.params[key] = values[sl].reshape(shape)
            layer.grads[key] = grads[sl].reshape(shape)
    fresh = root.parameters()
    n_decay = sum(p.value.size for p in fresh if p.decay)
    return FlatParams(fresh, values, grads, n_decay, [where[p.name] for p in fresh])
