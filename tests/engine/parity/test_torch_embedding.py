"""Embedding against torch.nn.Embedding in float64: forward and weight gradient."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine import Embedding, InputBlock

torch = pytest.importorskip("torch")


def _torch_embedding(weight: np.ndarray):
    module = torch.nn.Embedding(*weight.shape, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(weight))
    return module


@pytest.mark.parametrize("levels,dim,n", [(1, 1, 3), (4, 3, 10), (50, 7, 200)])
def test_embedding_matches_torch_with_repeated_indices(levels, dim, n):
    rng = np.random.default_rng(levels)
    weight = rng.standard_normal((levels, dim))
    indices = rng.integers(0, levels, n)
    indices[: n // 2] = indices[0]  # half the rows share one level
    upstream = rng.standard_normal((n, dim))
    ours = Embedding(weight.copy())
    theirs = _torch_embedding(weight)
    out_t = theirs(torch.tensor(indices))
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ours.forward(indices), out_t.detach().numpy())
    ours.backward(upstream)
    np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-12)


def test_input_block_matches_torch_concatenation_of_columns_and_embeddings():
    rng = np.random.default_rng(7)
    n = 30
    x = rng.standard_normal((n, 3))
    x[:, 0] = rng.integers(0, 6, n)
    w = rng.standard_normal((6, 4))
    block = InputBlock([0], [Embedding(w.copy())])
    emb = _torch_embedding(w)
    xt = torch.tensor(x[:, 1:], requires_grad=True)
    out_t = torch.cat([xt, emb(torch.tensor(x[:, 0].astype(np.int64)))], dim=1)
    upstream = rng.standard_normal((n, 6))
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(block.forward(x), out_t.detach().numpy())
    grad = block.backward(upstream)
    np.testing.assert_allclose(block.embeddings[0].grads["weight"], emb.weight.grad.numpy())
    np.testing.assert_array_equal(grad[:, 1:], xt.grad.numpy())
    np.testing.assert_array_equal(grad[:, 0], 0.0)
