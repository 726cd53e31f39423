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
    """

    decay_keys: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.children: list[tuple[str, Layer]] = []

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_width(self, input_width: int) -> int:
        """Width of this layer's output for a given input width (shape-preserving by default)."""
        return input_width

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

    def output_width(self, input_width: int) -> int:
        for _, layer in self.children:
            input_width = layer.output_width(input_width)
        return input_width

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for _, layer in self.children)
        return f"Sequential({inner})"
