"""Initializers: shapes, dtypes, statistics on large draws, orthogonality, aliases, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nncli.engine.initializers import INITIALIZERS, initialize

NAMES = [
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "normal",
    "uniform",
    "zeros",
]
FAN_IN, FAN_OUT = 400, 600

# name -> (expected std, uniform bound or None), for shape (FAN_IN, FAN_OUT)
EXPECTED = {
    "he_normal": (math.sqrt(2 / FAN_IN), None),
    "he_uniform": (math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    "xavier_normal": (math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    "xavier_uniform": (math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "lecun_normal": (math.sqrt(1 / FAN_IN), None),
    "lecun_uniform": (math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    "normal": (0.05, None),
    "uniform": (0.05 / math.sqrt(3), 0.05),
}


def test_registry_names() -> None:
    assert sorted(INITIALIZERS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(name: str, dtype: type) -> None:
    w = initialize(name, (7, 3), np.random.default_rng(0), dtype)
    assert w.shape == (7, 3) and w.dtype == dtype
    assert INITIALIZERS[name]((3, 7), np.random.default_rng(0), dtype).shape == (3, 7)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_statistics(name: str) -> None:
    std, bound = EXPECTED[name]
    w = initialize(name, (FAN_IN, FAN_OUT), np.random.default_rng(1), np.float64)
    n = w.size
    # mean within 5 standard errors; std within 2% (240k samples give ~0.15% noise).
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert w.std() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.999 * bound


def test_normal_is_not_truncated() -> None:
    w = initialize("he_normal", (FAN_IN, FAN_OUT), np.random.default_rng(2), np.float64)
    assert np.abs(w).max() > 3 * math.sqrt(2 / FAN_IN)


def test_options() -> None:
    rng = np.random.default_rng(3)
    assert initialize("normal", (500, 400), rng, np.float64, std=0.2).std() == pytest.approx(
        0.2, rel=0.02
    )
    assert np.abs(initialize("uniform", (50, 40), rng, np.float64, limit=0.3)).max() <= 0.3
    w = initialize("orthogonal", (20, 5), rng, np.float64, gain=2.0)
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(5), atol=1e-12)


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (16, 16)])
def test_orthogonal(shape: tuple[int, int]) -> None:
    w = initialize("orthogonal", shape, np.random.default_rng(4), np.float64)
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_zeros_and_aliases() -> None:
    assert not initialize("zeros", (4, 5), np.random.default_rng(0)).any()
    assert INITIALIZERS["glorot_normal"] is INITIALIZERS["xavier_normal"]
    assert INITIALIZERS["glorot_uniform"] is INITIALIZERS["xavier_uniform"]


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_and_dtype_independent(name: str) -> None:
    a = initialize(name, (9, 4), np.random.default_rng(42), np.float64)
    b = initialize(name, (9, 4), np.random.default_rng(42), np.float64)
    c = initialize(name, (9, 4), np.random.default_rng(42), np.float32)
    np.testing.assert_array_equal(a, b)
    # float32 runs start from the float64 numbers, rounded.
    np.testing.assert_array_equal(c, a.astype(np.float32))


def test_errors_name_the_problem() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'he_norm'"):
        initialize("he_norm", (2, 2), rng)
    with pytest.raises(ValueError, match=r"'std'.*no options"):
        initialize("he_normal", (2, 2), rng, std=1.0)
    with pytest.raises(ValueError, match=r"'limit'.*std"):
        initialize("normal", (2, 2), rng, limit=1.0)
    with pytest.raises(ValueError, match="2-D"):
        initialize("zeros", (2,), rng)
    with pytest.raises(ValueError, match="std"):
        initialize("normal", (2, 2), rng, std=-1.0)
