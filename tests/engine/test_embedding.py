"""Embedding and InputBlock: shapes, gradients by finite differences, flat parameters."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine import (
    CrossEntropy,
    Dense,
    Embedding,
    Head,
    InputBlock,
    Sequential,
    Softmax,
    Tanh,
    check_gradients,
    flatten_parameters,
)


def _network(rng: np.random.Generator, dtype=np.float64) -> Sequential:
    """Inputs: [number, index of 5 levels, number, index of 3 levels] -> 2 + 3 + 2 -> 4 -> 3."""
    block = InputBlock(
        [1, 3],
        [
            Embedding(rng.standard_normal((5, 3)).astype(dtype)),
            Embedding(rng.standard_normal((3, 2)).astype(dtype)),
        ],
    )
    hidden = Dense(rng.standard_normal((7, 4)).astype(dtype) / 3, np.zeros(4, dtype))
    output = Dense(rng.standard_normal((4, 3)).astype(dtype) / 2, np.full(3, 0.1, dtype))
    return Sequential([block, Sequential([hidden, Tanh()]), output], ["embed", "layers", "output"])


def _inputs(rng: np.random.Generator, n: int = 12) -> np.ndarray:
    x = rng.standard_normal((n, 4))
    x[:, 1] = rng.integers(0, 5, n)
    x[:, 3] = rng.integers(0, 3, n)
    x[:3, 1] = 2  # repeated indices add up in the gradient
    return x


def test_forward_concatenates_passed_columns_then_each_embedding():
    rng = np.random.default_rng(0)
    net = _network(rng)
    block = net.children[0][1]
    x = _inputs(rng)
    out = block.forward(x)
    assert not block.params  # the block itself holds no params; its embeddings do
    first, second = (e.params["weight"] for e in block.embeddings)
    expected = np.concatenate(
        [x[:, [0, 2]], first[x[:, 1].astype(int)], second[x[:, 3].astype(int)]], axis=1
    )
    np.testing.assert_array_equal(out, expected)
    assert block.output_width(4) == out.shape[1] == 7
    assert sorted(net.state_arrays()) == [
        "embed.0.weight",
        "embed.1.weight",
        "layers.0.bias",
        "layers.0.weight",
        "output.bias",
        "output.weight",
    ]


def test_gradients_match_central_differences_in_float64():
    rng = np.random.default_rng(1)
    net = _network(rng)
    x = _inputs(rng)
    y = rng.integers(0, 3, len(x))
    errors = check_gradients(net, Head(Softmax(), CrossEntropy()), x, y)
    assert set(errors) >= {"embed.0.weight", "embed.1.weight", "input"}
    assert max(errors.values()) < 1e-6, errors


def test_input_gradient_is_zero_in_index_columns_and_passed_through_elsewhere():
    rng = np.random.default_rng(2)
    block = _network(rng).children[0][1]
    x = _inputs(rng)
    block.forward(x)
    upstream = rng.standard_normal((len(x), 7))
    grad = block.backward(upstream)
    np.testing.assert_array_equal(grad[:, [1, 3]], 0.0)
    np.testing.assert_array_equal(grad[:, [0, 2]], upstream[:, :2])


def test_repeated_indices_accumulate_and_unused_rows_get_zero():
    emb = Embedding(np.arange(8.0).reshape(4, 2))
    emb.forward(np.array([1, 1, 3]))
    emb.backward(np.array([[1.0, 2.0], [10.0, 20.0], [5.0, 5.0]]))
    np.testing.assert_array_equal(emb.grads["weight"], [[0, 0], [11, 22], [0, 0], [5, 5]])
    emb.forward(np.array([0]))  # a second backward overwrites, never adds to the last one
    emb.backward(np.array([[1.0, 1.0]]))
    np.testing.assert_array_equal(emb.grads["weight"], [[1, 1], [0, 0], [0, 0], [0, 0]])


def test_indices_out_of_range_or_not_integers_are_refused():
    emb = Embedding(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        emb.forward(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        emb.forward(np.array([-1]))
    with pytest.raises(ValueError, match="integer"):
        emb.forward(np.array([0.0]))


def test_float32_indices_are_exact_and_embeddings_join_the_flat_buffer_without_decay():
    rng = np.random.default_rng(3)
    net = _network(rng, np.float32)
    x = _inputs(rng).astype(np.float32)
    before = net.forward(x).copy()
    params = flatten_parameters(net)
    embedded = [p for p in params if p.name.startswith("embed.")]
    assert [p.name for p in embedded] == ["embed.0.weight", "embed.1.weight"]
    assert not any(p.decay for p in embedded)
    # decayed params (dense weights) come first in the flat buffer; embeddings after them
    assert params.n_decay == sum(p.value.size for p in params if p.decay)
    np.testing.assert_array_equal(net.forward(x), before)
    net.backward_params(np.ones((len(x), 3), np.float32))
    assert np.shares_memory(net.children[0][1].embeddings[0].grads["weight"], params.grads)
    assert params.grads[params.slices[[p.name for p in params].index("embed.0.weight")]].any()
