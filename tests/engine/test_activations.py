"""Activations: values against scalar references, erf accuracy, stability, registry, repr."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nncli.engine.activations import ACTIVATIONS, erf, erfc, make_activation, sigmoid

NAMES = [
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "selu",
    "sigmoid",
    "tanh",
    "softplus",
    "silu",
    "softmax",
    "linear",
]
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _phi(v: float) -> float:
    return 0.5 * math.erfc(-v / math.sqrt(2.0))


def _gelu_tanh(v: float) -> float:
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v**3)))


def _softplus(v: float) -> float:
    return v if v > 20 else math.log1p(math.exp(v))


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


SCALAR_REFERENCES = {
    ("relu", ()): lambda v: max(v, 0.0),
    ("leaky_relu", ()): lambda v: v if v > 0 else 0.01 * v,
    ("leaky_relu", (("alpha", 0.2),)): lambda v: v if v > 0 else 0.2 * v,
    ("elu", ()): lambda v: v if v > 0 else math.expm1(v),
    ("elu", (("alpha", 0.5),)): lambda v: v if v > 0 else 0.5 * math.expm1(v),
    ("selu", ()): lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
    ("gelu", ()): lambda v: v * _phi(v),
    ("gelu", (("approximate", "tanh"),)): _gelu_tanh,
    ("sigmoid", ()): _sigmoid,
    ("tanh", ()): math.tanh,
    ("softplus", ()): _softplus,
    ("silu", ()): lambda v: v * _sigmoid(v),
    ("linear", ()): lambda v: v,
}


def test_registry_has_exactly_the_documented_names() -> None:
    assert sorted(ACTIVATIONS) == sorted(NAMES)


@pytest.mark.parametrize(
    ("key", "ref"), SCALAR_REFERENCES.items(), ids=[str(k) for k in SCALAR_REFERENCES]
)
def test_elementwise_values_match_scalar_reference(key, ref) -> None:
    name, options = key
    x = np.linspace(-25, 25, 401).reshape(-1, 1) @ np.ones((1, 2))
    y = make_activation(name, **dict(options)).forward(x)
    expected = np.vectorize(ref)(x)
    # 1 + tanh(...) cancels far left (torch computes it the same way), hence the atol.
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)


def test_softmax_rows_sum_to_one_and_match_reference() -> None:
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0], [-5.0, 0.0, 5.0]])
    y = make_activation("softmax").forward(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-15)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(y[1], [0.5, 0.5, 0.0], atol=1e-300)


def test_erf_matches_math_erf() -> None:
    x = np.concatenate([np.linspace(-8, 8, 20001), np.geomspace(1e-300, 30, 2000)])
    x = np.concatenate([x, -x, [0.46875, 4.0, 26.543, 27.0, 1e10]])
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


def test_erfc_matches_math_erfc_in_the_tails() -> None:
    x = np.linspace(-10, 26, 20001)
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc(x), expected, rtol=1e-14, atol=0)


def test_erf_special_values_and_dtype() -> None:
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan]))
    assert got[0] == 0.0 and got[2] == 1.0 and got[3] == -1.0 and np.isnan(got[4])
    assert erfc(np.array([np.inf]))[0] == 0.0 and erfc(np.array([-np.inf]))[0] == 2.0
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    assert erf(x32).dtype == np.float32
    expected = np.array([math.erf(v) for v in x32.astype(np.float64)])
    np.testing.assert_allclose(erf(x32), expected, rtol=1e-6, atol=1e-7)


def test_extreme_inputs_stay_finite_without_warnings() -> None:
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ["relu", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus", "silu"]:
            layer = make_activation(name)
            y = layer.forward(x)
            g = layer.backward(np.ones_like(y))
            assert np.all(np.isfinite(y)) and np.all(np.isfinite(g)), name
        softmax = make_activation("softmax")
        assert np.all(np.isfinite(softmax.backward(softmax.forward(x))))
    assert sigmoid(np.array([-1000.0]))[0] == 0.0 and sigmoid(np.array([1000.0]))[0] == 1.0


def test_softplus_threshold_semantics() -> None:
    layer = make_activation("softplus")
    x = np.array([[20.0, 20.5, 100.0, -800.0]])
    y = layer.forward(x)
    assert y[0, 1] == 20.5 and y[0, 2] == 100.0 and y[0, 3] == 0.0
    assert y[0, 0] == math.log1p(math.exp(20.0))
    g = layer.backward(np.ones_like(x))
    assert g[0, 1] == 1.0 and g[0, 0] == pytest.approx(_sigmoid(20.0))


def test_kink_conventions_follow_torch() -> None:
    zero = np.zeros((1, 1))
    for name, slope in [("relu", 0.0), ("leaky_relu", 0.01), ("elu", 1.0), ("selu", None)]:
        layer = make_activation(name)
        layer.forward(zero)
        expected = SELU_SCALE * SELU_ALPHA if slope is None else slope
        assert layer.backward(np.ones((1, 1)))[0, 0] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name: str) -> None:
    layer = make_activation(name)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_reprs() -> None:
    assert repr(make_activation("relu")) == "ReLU()"
    assert repr(make_activation("leaky_relu", alpha=0.2)) == "LeakyReLU(alpha=0.2)"
    assert repr(make_activation("gelu", approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(make_activation("gelu")) == "GELU(approximate='none')"
    assert repr(make_activation("elu")) == "ELU(alpha=1.0)"
    assert repr(make_activation("softmax")) == "Softmax()"


def test_make_activation_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="'alpha'"):
        make_activation("relu", alpha=0.1)
    with pytest.raises(ValueError, match=r"'slope'.*alpha"):
        make_activation("leaky_relu", slope=0.1)
    with pytest.raises(ValueError, match="'swish'"):
        make_activation("swish")
    with pytest.raises(ValueError, match="approximate"):
        make_activation("gelu", approximate="fast")
