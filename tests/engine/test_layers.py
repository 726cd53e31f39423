"""Layers: finite-difference gradients in float64, batchnorm statistics, dropout, names, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine.activations import Linear, make_activation
from nncli.engine.base import Layer, Sequential
from nncli.engine.gradcheck import check_gradients
from nncli.engine.head import MSE, Head
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual

TOL = 1e-6


def _dense(rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float64) -> Dense:
    weight = rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)
    return Dense(weight.astype(dtype), rng.normal(scale=0.1, size=fan_out).astype(dtype))


def _randomize_affine(layer: BatchNorm | LayerNorm, rng: np.random.Generator) -> None:
    """Non-trivial gamma and beta, so their gradients and the x path are both exercised."""
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.params["gamma"].shape)
    layer.params["beta"][...] = rng.normal(size=layer.params["beta"].shape)


def _assert_gradients(
    network: Layer, x: np.ndarray, training: bool = True, seed: int = 0
) -> dict[str, float]:
    """FD check under a mean-squared-error head against random targets."""
    width = network.output_width(x.shape[1])
    targets = np.random.default_rng(seed).normal(size=(x.shape[0], width))
    errors = check_gradients(network, Head(Linear(), MSE()), x, targets, training=training)
    bad = {name: err for name, err in errors.items() if not err < TOL}
    assert not bad, bad
    return errors


def test_dense_gradients_and_interface() -> None:
    rng = np.random.default_rng(0)
    layer = _dense(rng, 4, 3)
    errors = _assert_gradients(Sequential([layer]), rng.normal(size=(5, 4)))
    assert set(errors) == {"0.weight", "0.bias", "input"}
    assert repr(layer) == "Dense(4 -> 3)" and layer.output_width(4) == 3
    assert [(p.name, p.decay) for p in layer.parameters()] == [("weight", True), ("bias", False)]


def test_dense_writes_gradients_into_the_same_arrays() -> None:
    """Optimizers hold Param.grad references across steps, so backward must not rebind them."""
    rng = np.random.default_rng(1)
    layer = _dense(rng, 3, 2)
    params = layer.parameters()
    for _ in range(2):
        x = rng.normal(size=(4, 3))
        g = rng.normal(size=(4, 2))
        layer.forward(x, training=True)
        layer.backward(g)
        np.testing.assert_allclose(params[0].grad, x.T @ g)
        np.testing.assert_allclose(params[1].grad, g.sum(axis=0))


ACTIVATION_CASES = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"alpha": 0.2}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("selu", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("softplus", {}),
    ("silu", {}),
    ("softmax", {}),
    ("linear", {}),
]


@pytest.mark.parametrize(("name", "options"), ACTIVATION_CASES, ids=lambda v: str(v))
def test_activation_gradients(name: str, options: dict) -> None:
    rng = np.random.default_rng(2)
    x = 2.0 * rng.normal(size=(6, 5))
    _assert_gradients(Sequential([make_activation(name, **options)]), x)


def test_softplus_gradient_across_the_threshold() -> None:
    x = np.array([[-30.0, -3.0, 0.5, 19.0, 21.0, 40.0]])
    _assert_gradients(Sequential([make_activation("softplus")]), x)


def test_dropout_gradients_with_frozen_mask() -> None:
    rng = np.random.default_rng(3)
    net = Sequential([_dense(rng, 4, 6), Dropout(0.5, np.random.default_rng(7)), _dense(rng, 6, 2)])
    _assert_gradients(net, rng.normal(size=(8, 4)))


def test_dropout_frozen_mask_values_and_inference_identity() -> None:
    layer = Dropout(0.25, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(3, 4))
    mask = np.array([[True, False, True, True]] * 3)
    layer.frozen_mask = mask
    np.testing.assert_array_equal(layer.forward(x, training=True), x * (mask / 0.75))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), mask / 0.75)
    assert layer.forward(x, training=False) is x
    g = np.ones_like(x)
    assert layer.backward(g) is g
    assert repr(layer) == "Dropout(rate=0.25)"


def test_dropout_statistics_and_reproducibility() -> None:
    x = np.ones((400, 500))
    a = Dropout(0.3, np.random.default_rng(5)).forward(x, training=True)
    b = Dropout(0.3, np.random.default_rng(5)).forward(x.astype(np.float32), training=True)
    assert (a == 0).mean() == pytest.approx(0.3, abs=0.005)
    assert a.mean() == pytest.approx(1.0, abs=0.01)
    assert b.dtype == np.float32
    np.testing.assert_array_equal(a == 0, b == 0)  # same units dropped in either dtype
    assert Dropout(0.0, np.random.default_rng(0)).forward(x, training=True) is x
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0, np.random.default_rng(0))


def test_batchnorm_training_gradients() -> None:
    rng = np.random.default_rng(4)
    bn = BatchNorm(5, dtype=np.float64)
    _randomize_affine(bn, rng)
    _assert_gradients(Sequential([bn]), 3.0 + 2.0 * rng.normal(size=(7, 5)))


def test_batchnorm_inference_gradients() -> None:
    rng = np.random.default_rng(5)
    bn = BatchNorm(4, dtype=np.float64)
    _randomize_affine(bn, rng)
    bn.buffers["running_mean"][...] = rng.normal(size=4)
    bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, size=4)
    _assert_gradients(Sequential([bn]), rng.normal(size=(6, 4)), training=False)


def test_batchnorm_running_statistics_follow_torch() -> None:
    rng = np.random.default_rng(6)
    bn = BatchNorm(3, momentum=0.1, eps=1e-5, dtype=np.float64)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.normal(loc=2.0, scale=3.0, size=(8, 3))
        y = bn.forward(x, training=True)
        np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-12)
        mean = 0.9 * mean + 0.1 * x.mean(axis=0)
        var = 0.9 * var + 0.1 * x.var(axis=0, ddof=1)  # unbiased into the running estimate
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-13)
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(bn.forward(x), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-13)  # unchanged
    with pytest.raises(ValueError, match="more than one sample"):
        bn.forward(x[:1], training=True)


def test_gradcheck_leaves_the_network_untouched() -> None:
    rng = np.random.default_rng(7)
    bn = BatchNorm(3, dtype=np.float32)
    drop = Dropout(0.5, np.random.default_rng(1))
    net = Sequential([_dense(rng, 2, 3, np.float32), bn, drop])
    before = {k: v.copy() for k, v in net.state_arrays().items()}
    rng_state = drop.rng.bit_generator.state
    _assert_gradients(net, rng.normal(size=(5, 2)))
    for key, value in net.state_arrays().items():
        np.testing.assert_array_equal(value, before[key])
        assert value.dtype == np.float32
    assert drop.rng.bit_generator.state == rng_state and drop.frozen_mask is None


def test_layernorm_gradients_and_values() -> None:
    rng = np.random.default_rng(8)
    ln = LayerNorm(6, dtype=np.float64)
    x = rng.normal(loc=1.0, scale=2.0, size=(4, 6))
    y = ln.forward(x)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0 / (1.0 + 1e-5 / x.var(axis=1)), rtol=1e-12)
    _randomize_affine(ln, rng)
    _assert_gradients(Sequential([ln]), x)
    assert repr(ln) == "LayerNorm(6)" and ln.parameters()[0].decay is False


def test_residual_identity_gradients() -> None:
    rng = np.random.default_rng(9)
    body = Sequential([_dense(rng, 4, 4), make_activation("tanh"), _dense(rng, 4, 4)])
    _assert_gradients(Residual(body), rng.normal(size=(5, 4)))


def test_residual_projection_gradients() -> None:
    rng = np.random.default_rng(10)
    body = Sequential([_dense(rng, 4, 6), make_activation("gelu"), _dense(rng, 6, 6)])
    block = Residual(body, _dense(rng, 4, 6))
    assert block.output_width(4) == 6
    _assert_gradients(block, rng.normal(size=(5, 4)))


def test_residual_identity_body_does_not_alias_the_incoming_gradient() -> None:
    block = Residual(Sequential([make_activation("linear")]))
    x = np.ones((2, 3))
    np.testing.assert_array_equal(block.forward(x), 2 * x)
    g = np.ones((2, 3))
    np.testing.assert_array_equal(block.backward(g), 2 * g)
    np.testing.assert_array_equal(g, 1.0)


def test_residual_width_mismatch_is_an_error() -> None:
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match="projection"):
        Residual(Sequential([_dense(rng, 1, 3)])).forward(np.ones((2, 1)))


def _deep_network(rng: np.random.Generator, dtype=np.float64) -> Sequential:
    inner = Residual(
        Sequential([_dense(rng, 6, 5, dtype), make_activation("silu"), _dense(rng, 5, 5, dtype)]),
        _dense(rng, 6, 5, dtype),
    )
    return Sequential(
        [
            _dense(rng, 4, 6, dtype),
            BatchNorm(6, dtype=dtype),
            make_activation("gelu"),
            Dropout(0.2, np.random.default_rng(3)),
            Residual(
                Sequential(
                    [
                        _dense(rng, 6, 6, dtype),
                        make_activation("elu"),
                        LayerNorm(6, dtype=dtype),
                        inner,
                        _dense(rng, 5, 6, dtype),
                    ]
                )
            ),
            make_activation("leaky_relu", alpha=0.1),
            LayerNorm(6, dtype=dtype),
            _dense(rng, 6, 3, dtype),
            make_activation("softplus"),
        ]
    )


def test_deep_stack_gradients() -> None:
    rng = np.random.default_rng(12)
    net = _deep_network(rng)
    for _, layer in net.layers():
        if isinstance(layer, BatchNorm | LayerNorm):
            _randomize_affine(layer, rng)
    errors = _assert_gradients(net, rng.normal(size=(9, 4)))
    assert "0.bias" in errors  # feeds batchnorm: true gradient 0, still passes


def test_nested_names_follow_the_spec() -> None:
    net = _deep_network(np.random.default_rng(13))
    names = [p.name for p in net.parameters()]
    assert names == [
        "0.weight",
        "0.bias",
        "1.gamma",
        "1.beta",
        "4.layers.0.weight",
        "4.layers.0.bias",
        "4.layers.2.gamma",
        "4.layers.2.beta",
        "4.layers.3.layers.0.weight",
        "4.layers.3.layers.0.bias",
        "4.layers.3.layers.2.weight",
        "4.layers.3.layers.2.bias",
        "4.layers.3.projection.weight",
        "4.layers.3.projection.bias",
        "4.layers.4.weight",
        "4.layers.4.bias",
        "6.gamma",
        "6.beta",
        "7.weight",
        "7.bias",
    ]
    decayed = [p.name for p in net.parameters() if p.decay]
    assert decayed == [n for n in names if n.endswith("weight")]
    state = list(net.state_arrays())
    bn_state = ["1.gamma", "1.beta", "1.running_mean", "1.running_var"]
    assert state[:6] == ["0.weight", "0.bias", *bn_state]
    assert set(state) - set(names) == {"1.running_mean", "1.running_var"}


def test_float32_stays_float32_everywhere() -> None:
    rng = np.random.default_rng(14)
    net = _deep_network(rng, np.float32)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    for training in (True, False):
        y = net.forward(x, training)
        assert y.dtype == np.float32
        assert net.backward(np.ones_like(y)).dtype == np.float32
    for name, value in net.state_arrays().items():
        assert value.dtype == np.float32, name
    for p in net.parameters():
        assert p.grad.dtype == np.float32, p.name


def test_reprs() -> None:
    rng = np.random.default_rng(15)
    block = Residual(Sequential([_dense(rng, 2, 3), make_activation("relu")]), _dense(rng, 2, 3))
    assert repr(block) == "Residual([Dense(2 -> 3), ReLU()], projection=Dense(2 -> 3))"
    assert repr(BatchNorm(3)) == "BatchNorm(3)"
