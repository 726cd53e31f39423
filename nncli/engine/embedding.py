"""Learned embeddings for categorical inputs: Embedding (a lookup table) and InputBlock, the
first layer of a network whose input matrix holds some columns as level indices."""

from __future__ import annotations

import numpy as np

from nncli.engine.base import Layer


class Embedding(Layer):
    """A trainable table: level index i -> row i of weight (levels, dim), as torch.nn.Embedding.

    Input: integer indices (n,); output (n, dim). No weight decay (`decay_keys` is empty), as
    torch users set for embeddings: a rare level's row would shrink towards zero between the
    few batches that train it.
    """

    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        if weight.ndim != 2 or min(weight.shape) < 1:
            raise ValueError(f"Embedding needs a weight of shape (levels, dim), got {weight.shape}")
        self.params = {"weight": weight}
        self.grads = {"weight": np.zeros_like(weight)}
        self._indices: np.ndarray  # the last forward's input

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        indices = np.asarray(x)
        if indices.dtype.kind not in "iu":
            raise ValueError(f"Embedding takes integer indices, got {indices.dtype}")
        levels = self.params["weight"].shape[0]
        if len(indices) and (indices.min() < 0 or indices.max() >= levels):
            raise ValueError(f"Embedding indices must be in [0, {levels}), got {indices.min()}..")
        self._indices = indices
        return self.params["weight"][indices]

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dW[i] = sum of grad_out over the rows whose index is i (np.add.at adds repeats);
        indices have no gradient: zeros of their shape."""
        self.backward_params(grad_out)
        return np.zeros(self._indices.shape, grad_out.dtype)

    def backward_params(self, grad_out: np.ndarray) -> None:
        grad = self.grads["weight"]
        grad[...] = 0.0
        np.add.at(grad, self._indices, grad_out)

    def output_width(self, input_width: int) -> int:
        return self.params["weight"].shape[1]

    def __repr__(self) -> str:
        levels, dim = self.params["weight"].shape
        return f"Embedding({levels} -> {dim})"


class InputBlock(Layer):
    """x (n, f) whose columns at `positions` hold level indices as floats (exact in float32
    below 2**24) -> [the other columns, in order | each embedding of its column], so
    output_width = f - len(positions) + sum of the dims.

    Indices are rounded, not truncated: a finite-difference nudge of an index column then
    changes nothing, matching its gradient, which is zero (an index is no quantity). State
    names: `<i>.weight` for the i-th embedding.
    """

    def __init__(self, positions: list[int], embeddings: list[Embedding]) -> None:
        super().__init__()
        if len(positions) != len(embeddings) or not positions:
            raise ValueError("InputBlock needs one embedding per index column (at least one)")
        if len(set(positions)) != len(positions) or min(positions) < 0:
            raise ValueError(f"InputBlock positions must be distinct and >= 0, got {positions}")
        self.positions = list(positions)
        self.embeddings = list(embeddings)
        self.children = [(str(i), e) for i, e in enumerate(self.embeddings)]
        self._rest: np.ndarray  # the pass-through columns of the last forward's input
        self._width = 0

    def _passed(self, width: int) -> np.ndarray:
        if max(self.positions) >= width:
            raise ValueError(f"InputBlock: index column {max(self.positions)} >= width {width}")
        return np.setdiff1d(np.arange(width), self.positions)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._width = x.shape[1]
        self._rest = self._passed(x.shape[1])
        parts = [x[:, self._rest]]
        for position, embedding in zip(self.positions, self.embeddings, strict=True):
            indices = np.rint(x[:, position]).astype(np.intp)
            parts.append(embedding.forward(indices, training))
        return np.concatenate(parts, axis=1, dtype=np.result_type(*parts))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Fill every embedding's grad; the input gradient: grad_out's pass-through part in
        the pass-through columns, zeros in the index columns."""
        self.backward_params(grad_out)
        grad_in = np.zeros((len(grad_out), self._width), grad_out.dtype)
        grad_in[:, self._rest] = grad_out[:, : len(self._rest)]
        return grad_in

    def backward_params(self, grad_out: np.ndarray) -> None:
        start = len(self._rest)
        for embedding in self.embeddings:
            dim = embedding.params["weight"].shape[1]
            embedding.backward_params(grad_out[:, start : start + dim])
            start += dim

    def output_width(self, input_width: int) -> int:
        dims = sum(e.params["weight"].shape[1] for e in self.embeddings)
        return input_width - len(self.positions) + dims

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{p}: {e!r}" for p, e in zip(self.positions, self.embeddings, strict=True)
        )
        return f"InputBlock({inner})"
