"""The training fast paths compute what the plain code computes: kept buffers, flat params.

Every comparison runs in float64 against the plain computation (new arrays per call,
per-parameter optimizer updates, fancy-indexed batches) and must agree to 1e-12.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from rich.console import Console

from nncli.config.sections import Config
from nncli.data.dataset import Dataset, Split
from nncli.data.preprocess import Preprocessor
from nncli.engine.activations import ReLU, Softmax, Tanh
from nncli.engine.base import FlatParams, Layer, Param, Sequential, flatten_parameters
from nncli.engine.head import CrossEntropy, Head
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual
from nncli.engine.optimizers import OPTIMIZERS, Optimizer
from nncli.training.trainer import Trainer

EXACT = {"rtol": 1e-12, "atol": 1e-15}


def dense(rng: np.random.Generator, n_in: int, n_out: int) -> Dense:
    return Dense(rng.standard_normal((n_in, n_out)) * 0.5, rng.standard_normal(n_out) * 0.1)


def mlp(seed: int = 0) -> Sequential:
    """5 -> 8 -> 6 -> 3 with ReLU, nested as build.py nests a config's layers."""
    rng = np.random.default_rng(seed)
    hidden = Sequential(
        [
            Sequential([dense(rng, 5, 8), ReLU()], names=["", ""]),
            Sequential([dense(rng, 8, 6), ReLU()], names=["", ""]),
        ]
    )
    return Sequential([hidden, dense(rng, 6, 3)], names=["layers", "output"])


def train_pass(
    net: Sequential, x: np.ndarray, y: np.ndarray, params_only: bool = False
) -> dict[str, np.ndarray]:
    """Logits, input gradient and every parameter gradient of one training batch (copies);
    with `params_only`, through backward_params and without the input gradient."""
    head = Head(Softmax(), CrossEntropy())
    logits = net.forward(x, training=True)
    out = {"logits": logits.copy()}
    _, grad = head.loss_and_grad(logits, y)
    if params_only:
        net.backward_params(grad)
    else:
        out["input"] = net.backward(grad).copy()
    out |= {p.name: p.grad.copy() for p in net.parameters()}
    return out


def refuse(grad_out: np.ndarray) -> np.ndarray:
    raise AssertionError("an input gradient nobody reads was computed")


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], **EXACT, err_msg=name)


# --- kept buffers ------------------------------------------------------------------------


def test_kept_buffers_across_batch_sizes_equal_new_arrays() -> None:
    # Full batches, a smaller last one, then a larger one (the buffers regrow): every result
    # matches a network that allocates afresh.
    rng = np.random.default_rng(1)
    fast, plain = mlp(), mlp()
    fast.set_reuse(True)
    for n in (16, 16, 5, 16, 23, 1):
        x, y = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
        assert_same(train_pass(fast, x, y), train_pass(plain, x, y))


def test_kept_buffers_are_reused_not_reallocated() -> None:
    net = mlp()
    net.set_reuse(True)
    x = np.random.default_rng(2).standard_normal((16, 5))
    first = net.forward(x, training=True)
    second = net.forward(x[:7], training=True)
    assert np.shares_memory(first, second)  # the smaller batch writes into the same array


def test_inference_never_aliases_kept_buffers() -> None:
    # Predictions in chunks keep every chunk: an inference forward must return new arrays,
    # and must not overwrite what a training forward keeps for its backward.
    rng = np.random.default_rng(3)
    net = mlp()
    net.set_reuse(True)
    logits = net.forward(rng.standard_normal((12, 5)), training=True)
    kept = logits.copy()
    a = net.forward(rng.standard_normal((12, 5)), training=False)
    b = net.forward(rng.standard_normal((12, 5)), training=False)
    assert not np.shares_memory(a, b)
    assert not np.shares_memory(a, logits)
    np.testing.assert_array_equal(logits, kept)


def test_reuse_off_frees_the_buffers_and_returns_new_arrays() -> None:
    net = mlp()
    net.set_reuse(True)
    x = np.ones((4, 5))
    first = net.forward(x, training=True)
    net.set_reuse(False)
    assert not np.shares_memory(first, net.forward(x, training=True))
    assert all("_kept" not in vars(layer) for _, layer in net.layers())


def test_every_layer_type_with_kept_buffers() -> None:
    # Residual (identity skip and projection), batchnorm, layernorm, dropout with a fixed
    # seed, tanh: the composition is unchanged by reuse, over uneven batch sizes.
    def net(seed: int) -> Sequential:
        rng = np.random.default_rng(seed)
        return Sequential(
            [
                Sequential([dense(rng, 5, 6), ReLU()], names=["", ""]),
                BatchNorm(6, dtype=np.float64),
                Residual(Sequential([Sequential([dense(rng, 6, 6), Tanh()], names=["", ""])])),
                Residual(Sequential([ReLU(), dense(rng, 6, 6)])),  # x feeds body and skip
                Dropout(0.25, np.random.default_rng(7)),
                Residual(Sequential([dense(rng, 6, 4), ReLU()]), projection=dense(rng, 6, 4)),
                LayerNorm(4, dtype=np.float64),
                dense(rng, 4, 3),
            ]
        )

    rng = np.random.default_rng(4)
    fast, plain = net(0), net(0)
    fast.set_reuse(True)
    for n in (8, 8, 3, 9):
        x, y = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
        assert_same(train_pass(fast, x, y), train_pass(plain, x, y))


def test_skipping_the_input_gradient_leaves_parameter_gradients_alone() -> None:
    rng = np.random.default_rng(5)
    fast, plain = mlp(), mlp()
    first = fast.children[0][1].children[0][1].children[0][1]
    assert isinstance(first, Dense)
    first.backward = refuse  # type: ignore[method-assign]
    x, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    skipped, full = train_pass(fast, x, y, params_only=True), train_pass(plain, x, y)
    assert "input" not in skipped
    full.pop("input")
    assert_same(skipped, full)


def test_backward_params_looks_past_empty_sequences() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)

    def nets(first: Callable[[], Layer]) -> tuple[Sequential, Sequential]:
        made = []
        for _ in range(2):
            r = np.random.default_rng(1)
            made.append(Sequential([first(), dense(r, 3, 2)]))
        return made[0], made[1]

    fast, plain = nets(lambda: Sequential([]))
    fast.children[1][1].backward = refuse  # type: ignore[method-assign]
    skipped, full = train_pass(fast, x, y, params_only=True), train_pass(plain, x, y)
    full.pop("input")
    assert_same(skipped, full)
    # A residual block's input feeds two paths; each gets the gradient, params only at the top.
    fast, plain = nets(lambda: Residual(Sequential([dense(np.random.default_rng(2), 3, 3)])))
    skipped, full = train_pass(fast, x, y, params_only=True), train_pass(plain, x, y)
    full.pop("input")
    assert_same(skipped, full)


# --- flat parameters and optimizers ------------------------------------------------------

OPTIMIZER_CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {}),
    ("adam", {"weight_decay": 0.1, "beta1": 0.8, "eps": 1e-6}),
    ("adamw", {"weight_decay": 0.1}),
    ("rmsprop", {"weight_decay": 0.05}),
    ("rmsprop", {"momentum": 0.5}),
    ("adagrad", {"weight_decay": 0.02}),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(OPTIMIZER_CASES)]


def test_flatten_keeps_values_and_lays_out_decayed_params_first() -> None:
    net = mlp()
    before = {k: v.copy() for k, v in net.state_arrays().items()}
    params = flatten_parameters(net)
    assert isinstance(params, FlatParams)
    assert [p.name for p in params] == [p.name for p in mlp().parameters()]
    assert_same(net.state_arrays(), before)
    for p, sl in zip(params, params.slices, strict=True):
        assert np.shares_memory(p.value, params.values) and np.shares_memory(p.grad, params.grads)
        np.testing.assert_array_equal(params.values[sl], p.value.reshape(-1))
        assert (sl.stop <= params.n_decay) == p.decay  # weights first, then biases
    # The layers use the views: a forward sees a change made through the flat buffer.
    x = np.ones((2, 5))
    y0 = net.forward(x).copy()
    params.values[:] = 0.0
    assert not np.allclose(net.forward(x), y0)
    np.testing.assert_array_equal(net.forward(x), 0.0)


def test_flatten_leaves_mixed_dtypes_alone() -> None:
    rng = np.random.default_rng(0)
    net = Sequential([dense(rng, 2, 2), BatchNorm(2, dtype=np.float32)])
    params = flatten_parameters(net)
    assert not isinstance(params, FlatParams)


def reference_grads(rng: np.random.Generator, params: list[Param], steps: int) -> list[dict]:
    return [{p.name: rng.standard_normal(p.value.shape) for p in params} for _ in range(steps)]


@pytest.mark.parametrize(("name", "options"), OPTIMIZER_CASES, ids=CASE_IDS)
def test_flat_step_equals_per_parameter_step(name: str, options: dict) -> None:
    flat_net, plain_net = mlp(), mlp()
    flat = flatten_parameters(flat_net)
    plain = plain_net.parameters()
    opt_flat, opt_plain = OPTIMIZERS[name](0.05, **options), OPTIMIZERS[name](0.05, **options)
    for grads in reference_grads(np.random.default_rng(6), plain, 4):
        for p in flat:
            p.grad[...] = grads[p.name]
        for p in plain:
            p.grad[...] = grads[p.name]
        opt_flat.step(flat)
        opt_plain.step(plain)
    assert_same(flat_net.state_arrays(), plain_net.state_arrays())
    state_flat, scalars = opt_flat.state_dict()
    state_plain, _ = opt_plain.state_dict()
    assert scalars == {"t": 4}
    assert_same(state_flat, state_plain)
    assert all(
        v.shape == plain_net.state_arrays()[k.split("/")[1]].shape for k, v in state_flat.items()
    )


def test_flat_adam_matches_the_textbook_formula() -> None:
    # torch.optim.Adam's update written out, per element, in float64.
    net = mlp()
    params = flatten_parameters(net)
    start = params.values.copy()
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    opt = OPTIMIZERS["adam"](lr, weight_decay=wd)
    decay = np.zeros(len(start), bool)
    decay[: params.n_decay] = True
    value, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    rng = np.random.default_rng(8)
    for t in range(1, 5):
        g = rng.standard_normal(len(start))
        params.grads[:] = g
        opt.step(params)
        g = g + np.where(decay, wd * value, 0.0)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        value = value - lr * mhat / (np.sqrt(vhat) + eps)
    np.testing.assert_allclose(params.values, value, **EXACT)


@pytest.mark.parametrize(("name", "options"), OPTIMIZER_CASES, ids=CASE_IDS)
def test_flat_state_round_trips_through_state_dict(name: str, options: dict) -> None:
    # Save after two flat steps, load into a fresh optimizer (as --resume does), continue on
    # flat params and on plain ones: all three runs end equal.
    nets = [mlp(), mlp(), mlp()]
    flat = flatten_parameters(nets[0])
    grads = reference_grads(np.random.default_rng(9), flat, 4)

    def steps(opt, params, gs) -> None:
        for g in gs:
            for p in params:
                p.grad[...] = g[p.name]
            opt.step(params)

    straight = OPTIMIZERS[name](0.05, **options)
    steps(straight, flat, grads[:2])
    arrays, scalars = straight.state_dict()
    for net in nets[1:]:
        for k, v in nets[0].state_arrays().items():
            net.state_arrays()[k][...] = v
    resumed_flat = flatten_parameters(nets[1])
    resumed_plain = nets[2].parameters()
    for params in (resumed_flat, resumed_plain):
        opt = OPTIMIZERS[name](0.05, **options)
        opt.load_state_dict(arrays, scalars)
        steps(opt, params, grads[2:])
    steps(straight, flat, grads[2:])
    assert_same(nets[1].state_arrays(), nets[0].state_arrays())
    assert_same(nets[2].state_arrays(), nets[0].state_arrays())


def test_flat_step_after_load_state_dict_reads_the_loaded_state() -> None:
    # The flat path keeps its own arrays; loading new state must replace what it uses.
    net = mlp()
    params = flatten_parameters(net)
    opt = OPTIMIZERS["adam"](0.1)
    params.grads[:] = 1.0
    opt.step(params)
    zeros = {k: np.zeros_like(v) for k, v in opt.state_dict()[0].items()}
    opt.load_state_dict(zeros, {"t": 0})
    fresh_net = mlp()
    fresh = flatten_parameters(fresh_net)
    fresh.values[:] = params.values
    fresh_opt = OPTIMIZERS["adam"](0.1)
    params.grads[:] = fresh.grads[:] = 0.5
    opt.step(params)
    fresh_opt.step(fresh)
    np.testing.assert_array_equal(params.values, fresh.values)


# --- the trainer's epoch -----------------------------------------------------------------


def tiny_trainer(layers: list[dict], rows: int = 37, batch: int = 8) -> Trainer:
    config = Config.model_validate(
        {
            "seed": 4,
            "data": {"train": "unused.csv", "target": "y", "validation": None},
            "model": {"layers": layers},
            "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.01},
            "training": {"batch_size": batch, "dtype": "float64", "grad_clip": 1.0},
        }
    )
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((rows, 5)), rng.integers(0, 3, rows)
    prep = Preprocessor(
        [f"f{i}" for i in range(5)],
        ["y"],
        "classification",
        ["a", "b", "c"],
        np.zeros(5),
        np.ones(5),
        dtype=np.float64,
    )
    return Trainer(config, Console(file=io.StringIO()), data=Dataset(Split(x, y), None, None, prep))


LAYERS = [
    {"type": "dense", "units": 8},
    {"type": "batchnorm"},
    {"type": "dropout", "rate": 0.2},
    {"type": "residual", "layers": [{"type": "dense", "units": 8, "activation": "tanh"}]},
    {"type": "dense", "units": 6},
    {"type": "layernorm"},
]


def plain_epoch(trainer: Trainer) -> None:
    """The epoch as plain NumPy code: fancy-indexed batches, new arrays, per-param updates."""
    from nncli.engine.clipping import clip_grad_norm

    x, y = trainer.data.train.x, trainer.data.train.y
    params = trainer.network.parameters()  # a plain list: the per-parameter path
    order = trainer.rngs["shuffle"].permutation(len(x))
    bs = trainer.config.training.batch_size
    for lo in range(0, len(x), bs):
        idx = order[lo : lo + bs]
        _, grad = trainer.head.loss_and_grad(trainer.network.forward(x[idx], True), y[idx])
        trainer.network.backward(grad)
        clip_grad_norm(params, trainer.config.training.grad_clip)
        trainer.optimizer.step(params)


def test_trainer_epochs_equal_the_plain_loop() -> None:
    fast, plain = tiny_trainer(LAYERS), tiny_trainer(LAYERS)  # 37 rows: a last batch of 5
    for epoch in (1, 2):
        row, _ = fast._train_epoch(epoch)
        assert row is not None
        plain_epoch(plain)
    assert_same(fast.network.state_arrays(), plain.network.state_arrays())
    assert_same(fast.optimizer.state_dict()[0], plain.optimizer.state_dict()[0])


def test_trainer_hands_back_a_plain_network_between_epochs() -> None:
    # gradcheck and users of the returned model need the input gradient and new arrays.
    trainer = tiny_trainer([{"type": "dense", "units": 4}])
    trainer._train_epoch(1)
    net = trainer.network
    assert all(not layer.reuse for _, layer in net.layers())
    x = trainer.data.train.x[:3]
    logits = net.forward(x, training=True)
    grad_in = net.backward(np.ones_like(logits))
    assert grad_in.shape == x.shape
    assert not np.shares_memory(logits, net.forward(x, training=True))


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_moments_are_zeroed_before_turning_subnormal(name: str) -> None:
    # Element 0's gradient stops after one step: its moment shrinks by 0.9 a step and would
    # reach subnormal floats (slow arithmetic) after ~800 steps. It becomes 0 instead, and
    # the weights still follow the exact float64 computation to float32 precision.
    options = {"momentum": 0.9} if name == "sgd" else {}
    kind = "momentum" if name == "sgd" else "grad_sum"
    tiny = np.finfo(np.float32).tiny
    p32 = Param("w", np.ones(2, np.float32), np.zeros(2, np.float32), True)
    p64 = Param("w", np.ones(2), np.zeros(2), True)
    opt32, opt64 = OPTIMIZERS[name](0.01, **options), OPTIMIZERS[name](0.01, **options)
    for t in range(1200):
        for p in (p32, p64):
            p.grad[...] = [1e-3 if t == 0 else 0.0, 1e-3]
        opt32.step([p32])
        opt64.step([p64])
        moment = opt32.state_dict()[0][f"{kind}/w"]
        assert not np.any((moment != 0) & (np.abs(moment) < tiny)), t
    assert opt32.state_dict()[0][f"{kind}/w"][0] == 0.0
    assert opt64.state_dict()[0][f"{kind}/w"][0] > 0.0  # float64 is nowhere near subnormal
    np.testing.assert_allclose(p32.value[0], p64.value[0], rtol=1e-6)  # the zeroed one
    np.testing.assert_allclose(p32.value, p64.value, rtol=1e-4)  # 1200 float32 steps


def test_moments_are_left_alone_without_eps() -> None:
    # With eps = 0 a zeroed second moment could divide by zero: Adam then keeps its state.
    def flushed(optimizer: Optimizer) -> dict[str, float]:
        slots = optimizer.slots().items()
        return {name: slot.shrinks_by for name, slot in slots if slot.shrinks_by is not None}

    assert flushed(OPTIMIZERS["adam"](0.01, eps=0.0)) == {}
    assert flushed(OPTIMIZERS["rmsprop"](0.01, eps=0.0)) == {}
    assert flushed(OPTIMIZERS["adam"](0.01)) == {"grad_sum": 0.9, "sq_grad_sum": 0.999}
