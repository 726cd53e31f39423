"""Optimizers and gradient clipping on literal arrays, with the arithmetic worked in comments."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nncli.engine.base import Param
from nncli.engine.clipping import clip_grad_norm
from nncli.engine.optimizer_state import Slot
from nncli.engine.optimizers import OPTIMIZERS, Optimizer


def make_param(value, grad=None, name: str = "w", decay: bool = True, dtype=np.float64) -> Param:
    value = np.array(value, dtype=dtype)
    grad = np.zeros_like(value) if grad is None else np.array(grad, dtype=dtype)
    return Param(name, value, grad, decay)


def run(optimizer: Optimizer, param: Param, grads: list) -> np.ndarray:
    """Step once per gradient and return the value."""
    for g in grads:
        param.grad[...] = g
        optimizer.step([param])
    return param.value


def test_registry_names() -> None:
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}


# --- hand-worked steps -------------------------------------------------------------------


def test_sgd_single_step() -> None:
    # w - lr*g = [1 - 0.1*0.5, -2 - 0.1*0.25] = [0.95, -2.025]
    p = make_param([1.0, -2.0])
    out = run(OPTIMIZERS["sgd"](0.1), p, [[0.5, 0.25]])
    np.testing.assert_allclose(out, [0.95, -2.025], rtol=1e-15)


def test_sgd_momentum_two_steps() -> None:
    # step 1: buf = g1 = [1, -2];               w = [1, 2] - 0.1*buf = [0.9, 2.2]
    # step 2: buf = 0.9*[1, -2] + [0.5, 0.5] = [1.4, -1.3];  w = [0.9 - 0.14, 2.2 + 0.13]
    p = make_param([1.0, 2.0])
    out = run(OPTIMIZERS["sgd"](0.1, momentum=0.9), p, [[1.0, -2.0], [0.5, 0.5]])
    np.testing.assert_allclose(out, [0.76, 2.33], rtol=1e-14)


def test_sgd_nesterov_two_steps() -> None:
    # step 1: buf = [1, -2]; step = g + 0.9*buf = [1.9, -3.8]; w = [1 - 0.19, 2 + 0.38]
    # step 2: buf = [1.4, -1.3]; step = [0.5 + 1.26, 0.5 - 1.17] = [1.76, -0.67]
    #         w = [0.81 - 0.176, 2.38 + 0.067] = [0.634, 2.447]
    p = make_param([1.0, 2.0])
    opt = OPTIMIZERS["sgd"](0.1, momentum=0.9, nesterov=True)
    out = run(opt, p, [[1.0, -2.0], [0.5, 0.5]])
    np.testing.assert_allclose(out, [0.634, 2.447], rtol=1e-14)


def test_sgd_weight_decay_on_weights_only() -> None:
    # weight: g = 1 + 0.1*2 = 1.2, w = 2 - 0.1*1.2 = 1.88;  bias: b = 2 - 0.1*1 = 1.9
    w = make_param([2.0], [1.0], "w", decay=True)
    b = make_param([2.0], [1.0], "b", decay=False)
    OPTIMIZERS["sgd"](0.1, weight_decay=0.1).step([w, b])
    np.testing.assert_allclose(w.value, [1.88], rtol=1e-15)
    np.testing.assert_allclose(b.value, [1.9], rtol=1e-15)


def test_adam_bias_correction_makes_first_steps_lr_sized() -> None:
    # Constant g: step 1 m = 0.1g, v = 0.001g^2 -> m/(1-0.9) = g, v/(1-0.999) = g^2;
    # step 2 m = 0.19g, v = 0.001999g^2 -> divided by 0.19 and 0.001999: again g and g^2.
    # So each step moves lr * g/(|g| + eps) = lr * sign(g) (up to eps), whatever |g| is.
    # Without the correction step 1 would move only 0.1/sqrt(0.001) = 0.316 * lr.
    p = make_param([1.0, 1.0])
    opt = OPTIMIZERS["adam"](0.1)
    run(opt, p, [[2.0, -0.5]])
    np.testing.assert_allclose(p.value, [0.9, 1.1], rtol=1e-8)
    run(opt, p, [[2.0, -0.5]])
    np.testing.assert_allclose(p.value, [0.8, 1.2], rtol=1e-8)


def test_adam_two_steps_with_momentum_carryover() -> None:
    # beta1 = beta2 = 0.5, eps = 0, lr = 0.3.
    # step 1, g = 1: m = 0.5, v = 0.5; mhat = 0.5/0.5 = 1, vhat = 1 -> w = 1 - 0.3 = 0.7
    # step 2, g = -1: m = 0.25 - 0.5 = -0.25, v = 0.25 + 0.5 = 0.75
    #   mhat = -0.25/0.75 = -1/3, vhat = 0.75/0.75 = 1 -> w = 0.7 + 0.3/3 = 0.8
    p = make_param([1.0])
    opt = OPTIMIZERS["adam"](0.3, beta1=0.5, beta2=0.5, eps=0.0)
    run(opt, p, [[1.0]])
    np.testing.assert_allclose(p.value, [0.7], rtol=1e-15)
    run(opt, p, [[-1.0]])
    np.testing.assert_allclose(p.value, [0.8], rtol=1e-14)


def test_adam_eps_is_added_outside_the_square_root() -> None:
    # g = 1e-6, eps = 1e-6: mhat = 1e-6, sqrt(vhat) = 1e-6 -> step = lr * 1e-6 / 2e-6 = lr/2
    # (eps inside the root would give lr * 1e-6/sqrt(1e-12 + 1e-6), about lr/1000).
    p = make_param([0.0])
    run(OPTIMIZERS["adam"](0.1, eps=1e-6), p, [[1e-6]])
    np.testing.assert_allclose(p.value, [-0.05], rtol=1e-9)


def test_adam_l2_versus_adamw_decoupled_decay() -> None:
    # lr = 0.1, wd = 0.5, w = 2, g = 1, eps = 0.
    # adam:  g' = 1 + 0.5*2 = 2; first step moves lr * g'/|g'| = 0.1  -> 1.9
    # adamw: w *= 1 - 0.1*0.5 -> 1.9; then Adam on g = 1 moves 0.1    -> 1.8
    adam = make_param([2.0], [1.0])
    OPTIMIZERS["adam"](0.1, weight_decay=0.5, eps=0.0).step([adam])
    np.testing.assert_allclose(adam.value, [1.9], rtol=1e-15)
    adamw = make_param([2.0], [1.0])
    OPTIMIZERS["adamw"](0.1, weight_decay=0.5, eps=0.0).step([adamw])
    np.testing.assert_allclose(adamw.value, [1.8], rtol=1e-15)
    # The decoupled shrink scales with lr and does not pass through the moments: with a
    # zero gradient adamw still shrinks w by lr*wd, adam's normalized step is a full lr.
    zero = make_param([2.0], [0.0])
    OPTIMIZERS["adamw"](0.1, weight_decay=0.5).step([zero])
    np.testing.assert_allclose(zero.value, [1.9], rtol=1e-15)


def test_rmsprop_single_step() -> None:
    # sq = 0.01 * 2^2 = 0.04; step = 0.01 * 2 / (sqrt(0.04) + 1e-8) = 0.1 (1 - 5e-8)
    p = make_param([1.0])
    run(OPTIMIZERS["rmsprop"](0.01), p, [[2.0]])
    np.testing.assert_allclose(p.value, [0.9 + 0.1 * 5e-8], rtol=1e-12)


def test_rmsprop_momentum_two_steps() -> None:
    # rho = 0.5, momentum = 0.5, lr = 0.1, eps = 0, g = 2 twice.
    # step 1: sq = 0.5*4 = 2; g/sqrt(sq) = sqrt(2); buf = sqrt(2)         -> w = 1 - 0.1 sqrt(2)
    # step 2: sq = 1 + 2 = 3; g/sqrt(sq) = 2/sqrt(3); buf = sqrt(2)/2 + 2/sqrt(3)
    p = make_param([1.0])
    opt = OPTIMIZERS["rmsprop"](0.1, rho=0.5, momentum=0.5, eps=0.0)
    run(opt, p, [[2.0], [2.0]])
    buf2 = np.sqrt(2) / 2 + 2 / np.sqrt(3)
    np.testing.assert_allclose(p.value, [1 - 0.1 * np.sqrt(2) - 0.1 * buf2], rtol=1e-14)


def test_adagrad_two_steps() -> None:
    # step 1: g = [3, -4]; sum = [9, 16]; step = 0.1 * [3/3, -4/4]   -> [0.9, 1.1]
    # step 2: g = [4, 0];  sum = [25, 16]; step = 0.1 * [4/5, 0]     -> [0.82, 1.1]
    p = make_param([1.0, 1.0])
    out = run(OPTIMIZERS["adagrad"](0.1), p, [[3.0, -4.0], [4.0, 0.0]])
    np.testing.assert_allclose(out, [0.82, 1.1], rtol=1e-9)


def test_a_new_optimizer_is_its_slots_and_its_update() -> None:
    # The recipe Optimizer's docstring gives: sign descent with momentum, vel = b*vel + g and
    # w -= lr * sign(vel), is a slot declaration and four lines of update.
    # step 1: vel = [2, -3]           -> w = [1 - 0.1, -1 + 0.1] = [0.9, -0.9]
    # step 2: vel = [1 - 1, -1.5 + 1] -> w = [0.9 - 0, -0.9 + 0.1] = [0.9, -0.8]
    class SignMomentum(Optimizer):
        def slots(self) -> dict[str, Slot]:
            return {"velocity": Slot(shrinks_by=0.5)}

        def update(self, value, g, state, tmp) -> None:
            velocity = state["velocity"]
            velocity *= 0.5
            velocity += g
            value -= self.lr * np.sign(velocity, out=tmp)

    p = make_param([1.0, -1.0])
    opt = SignMomentum(0.1)
    run(opt, p, [[2.0, -3.0], [-1.0, 1.0]])
    np.testing.assert_allclose(p.value, [0.9, -0.8], rtol=1e-15)
    arrays, scalars = opt.state_dict()
    assert scalars == {"t": 2}
    np.testing.assert_array_equal(arrays["velocity/w"], [0.0, -0.5])


# --- properties every optimizer shares ---------------------------------------------------

CONFIGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"weight_decay": 0.1}),
    ("adamw", {"weight_decay": 0.1}),
    ("rmsprop", {"momentum": 0.5, "weight_decay": 0.1}),
    ("adagrad", {"weight_decay": 0.1}),
]
IDS = [f"{name}-{'-'.join(opts)}" for name, opts in CONFIGS]
GRADS = [np.array([[0.5, -1.0], [2.0, 0.25]]) * k for k in (1.0, -0.5, 2.0, 0.3)]


def fresh_params(dtype=np.float64) -> list[Param]:
    return [
        make_param([[1.0, -2.0], [0.5, 3.0]], name="layers.0.weight", dtype=dtype),
        make_param([[1.0, -2.0], [0.5, 3.0]], name="layers.0.bias", decay=False, dtype=dtype),
    ]


def step_all(optimizer: Optimizer, params: list[Param], grads: list[np.ndarray]) -> None:
    for g in grads:
        for p in params:
            p.grad[...] = g
        optimizer.step(params)


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_weight_decay_skips_params_without_decay(name: str, options: dict) -> None:
    with_decay = fresh_params()
    step_all(OPTIMIZERS[name](0.1, **options), with_decay, GRADS)
    without = fresh_params()
    step_all(OPTIMIZERS[name](0.1, **{**options, "weight_decay": 0.0}), without, GRADS)
    np.testing.assert_array_equal(with_decay[1].value, without[1].value)  # the bias
    if options.get("weight_decay"):
        assert not np.allclose(with_decay[0].value, without[0].value)  # the weight


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_identically(name: str, options: dict) -> None:
    first = OPTIMIZERS[name](0.1, **options)
    params = fresh_params()
    step_all(first, params, GRADS[:2])
    arrays, scalars = first.state_dict()
    assert scalars == {"t": 2}
    for key in arrays:
        kind, _, pname = key.partition("/")
        assert kind in first.state_kinds()
        assert pname in {"layers.0.weight", "layers.0.bias"}

    second = OPTIMIZERS[name](0.1, **options)
    resumed = [make_param(p.value.copy(), name=p.name, decay=p.decay) for p in params]
    second.load_state_dict(dict(reversed(arrays.items())), dict(scalars), params=resumed)
    step_all(first, params, GRADS[2:])
    step_all(second, resumed, GRADS[2:])
    for a, b in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(a.value, b.value)
    # state_dict hands out copies: continuing to train did not change the saved arrays.
    assert all(not np.shares_memory(v, first.state_dict()[0][k]) for k, v in arrays.items())


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_float32_stays_float32_and_updates_in_place(name: str, options: dict) -> None:
    optimizer = OPTIMIZERS[name](0.1, **options)
    params = fresh_params(np.float32)
    originals = [p.value for p in params]
    step_all(optimizer, params, GRADS)
    for p, original in zip(params, originals, strict=True):
        assert p.value is original
        assert p.value.dtype == np.float32
    arrays, _ = optimizer.state_dict()
    assert all(v.dtype == np.float32 for v in arrays.values())
    # And it tracks the float64 run to float32 precision.
    reference = fresh_params()
    step_all(OPTIMIZERS[name](0.1, **options), reference, GRADS)
    for p, r in zip(params, reference, strict=True):
        np.testing.assert_allclose(p.value, r.value, rtol=1e-5, atol=1e-6)


def test_state_is_keyed_by_name_not_order() -> None:
    opt_a, opt_b = OPTIMIZERS["adam"](0.1), OPTIMIZERS["adam"](0.1)
    a, b = fresh_params(), fresh_params()
    for g in GRADS:
        for p in a + b:
            p.grad[...] = g * (2.0 if p.decay else 1.0)
        opt_a.step(a)
        opt_b.step(b[::-1])
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    assert set(opt_a.state_dict()[0]) == {
        "grad_sum/layers.0.weight",
        "sq_grad_sum/layers.0.weight",
        "grad_sum/layers.0.bias",
        "sq_grad_sum/layers.0.bias",
    }


def test_plain_sgd_has_no_arrays() -> None:
    opt = OPTIMIZERS["sgd"](0.1)
    step_all(opt, fresh_params(), GRADS[:1])
    assert opt.state_dict() == ({}, {"t": 1})


def test_lr_is_a_plain_attribute_read_each_step() -> None:
    opt = OPTIMIZERS["sgd"](0.1)
    p = make_param([1.0])
    run(opt, p, [[1.0]])
    opt.lr = 0.5
    run(opt, p, [[1.0]])
    np.testing.assert_allclose(p.value, [1.0 - 0.1 - 0.5], rtol=1e-15)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_unknown_option_is_named(name: str) -> None:
    with pytest.raises(TypeError, match="betaa"):
        OPTIMIZERS[name](0.1, betaa=0.9)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("sgd", {"momentum": -0.1}, "momentum"),
        ("sgd", {"nesterov": True}, "nesterov"),
        ("adam", {"beta1": 1.0}, "beta1"),
        ("adamw", {"beta2": -0.5}, "beta2"),
        ("rmsprop", {"rho": 1.5}, "rho"),
        ("adagrad", {"eps": -1.0}, "eps"),
        ("adam", {"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_option_values_are_named(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OPTIMIZERS[name](0.1, **options)
    with pytest.raises(ValueError, match="lr"):
        OPTIMIZERS[name](-0.1)


def trained_adam() -> tuple[Optimizer, list[Param]]:
    opt = OPTIMIZERS["adam"](0.1)
    params = fresh_params()
    step_all(opt, params, GRADS[:2])
    return opt, params


def test_load_state_dict_errors_name_the_entry() -> None:
    opt, params = trained_adam()
    arrays, scalars = opt.state_dict()
    fresh = OPTIMIZERS["adam"](0.1)
    with pytest.raises(ValueError, match="'t'"):
        fresh.load_state_dict(arrays, {})
    with pytest.raises(ValueError, match=re.escape("'momentum/layers.0.weight'")):
        fresh.load_state_dict(
            {**arrays, "momentum/layers.0.weight": arrays["grad_sum/layers.0.bias"]}, scalars
        )
    missing = {k: v for k, v in arrays.items() if k != "sq_grad_sum/layers.0.bias"}
    with pytest.raises(ValueError, match=re.escape("'sq_grad_sum/layers.0.bias'")):
        fresh.load_state_dict(missing, scalars, params=params)
    bad = {**arrays, "grad_sum/layers.0.weight": np.zeros((3, 3))}
    with pytest.raises(ValueError, match=r"'grad_sum/layers.0.weight'.*\(3, 3\)"):
        fresh.load_state_dict(bad, scalars, params=params)
    with pytest.raises(ValueError, match=re.escape("'grad_sum/layers.9.weight'")):
        fresh.load_state_dict(
            {**arrays, "grad_sum/layers.9.weight": np.zeros(2)}, scalars, params=params
        )


def test_problems_found_on_the_first_resumed_step_without_params() -> None:
    opt, params = trained_adam()
    arrays, scalars = opt.state_dict()
    fresh = OPTIMIZERS["adam"](0.1)
    fresh.load_state_dict(
        {k: v for k, v in arrays.items() if k != "sq_grad_sum/layers.0.bias"}, scalars
    )
    before = [p.value.copy() for p in params]
    with pytest.raises(ValueError, match=re.escape("'sq_grad_sum/layers.0.bias'")):
        fresh.step(params)
    # Checked before touching anything: no half-applied step.
    assert fresh.t == 2
    for p, value in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.value, value)
    fresh.load_state_dict({**arrays, "grad_sum/layers.0.weight": np.zeros((3, 3))}, scalars)
    with pytest.raises(ValueError, match=re.escape("'grad_sum/layers.0.weight'")):
        fresh.step(params)


# --- clipping ----------------------------------------------------------------------------


def grads_param(*grads: list) -> list[Param]:
    return [make_param(np.zeros(len(g)), g, name=f"p{i}") for i, g in enumerate(grads)]


def test_clip_grad_norm_below_max_leaves_grads() -> None:
    # global norm = sqrt(3^2 + 0^2 + 4^2) = 5 across both params
    params = grads_param([3.0, 0.0], [4.0])
    assert clip_grad_norm(params, 10.0) == pytest.approx(5.0, rel=1e-15)
    np.testing.assert_array_equal(params[0].grad, [3.0, 0.0])
    np.testing.assert_array_equal(params[1].grad, [4.0])


def test_clip_grad_norm_scales_in_place_by_max_over_norm() -> None:
    # scale = 1 / (5 + 1e-6) -> grads [0.6, 0], [0.8] (a hair less), norm returned unclipped
    params = grads_param([3.0, 0.0], [4.0])
    grad0 = params[0].grad
    assert clip_grad_norm(params, 1.0) == pytest.approx(5.0, rel=1e-15)
    assert params[0].grad is grad0
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad, [3 * scale, 0.0], rtol=1e-15)
    np.testing.assert_allclose(params[1].grad, [4 * scale], rtol=1e-15)
    assert np.sqrt(np.sum(params[0].grad ** 2) + np.sum(params[1].grad ** 2)) < 1.0


def test_clip_grad_norm_float32_and_edge_cases() -> None:
    p = make_param([0.0, 0.0], [30.0, 40.0], dtype=np.float32)
    assert clip_grad_norm([p], 5.0) == pytest.approx(50.0, rel=1e-6)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm([], 1.0) == 0.0
    nan = grads_param([np.nan, 1.0])
    assert np.isnan(clip_grad_norm(nan, 1.0))
    np.testing.assert_array_equal(nan[0].grad, [np.nan, 1.0])  # left for the caller to judge
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(nan, -1.0)


def test_adam_resumes_from_the_m_and_v_arrays_older_checkpoints_hold() -> None:
    # Older checkpoints kept torch's exp_avg (m) and exp_avg_sq (v); nncli now keeps them
    # without their (1 - beta) factors. Either form continues the same run.
    opt = OPTIMIZERS["adam"](0.1, beta1=0.8, beta2=0.9)
    params = fresh_params()
    step_all(opt, params, GRADS[:2])
    arrays, scalars = opt.state_dict()
    legacy = {}
    for key, value in arrays.items():
        kind, _, name = key.partition("/")
        old, beta = {"grad_sum": ("m", 0.8), "sq_grad_sum": ("v", 0.9)}[kind]
        legacy[f"{old}/{name}"] = value * (1.0 - beta)
    resumed = [make_param(p.value.copy(), name=p.name, decay=p.decay) for p in params]
    second = OPTIMIZERS["adam"](0.1, beta1=0.8, beta2=0.9)
    second.load_state_dict(legacy, dict(scalars), params=resumed)
    step_all(opt, params, GRADS[2:])
    step_all(second, resumed, GRADS[2:])
    for a, b in zip(params, resumed, strict=True):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-13)
