"""Layers, activations and losses against PyTorch in float64: outputs, losses and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine.activations import make_activation
from nncli.engine.base import Layer, Sequential
from nncli.engine.head import Head, make_loss
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-6, 1e-10


def _close(ours: np.ndarray, theirs, rtol: float = RTOL) -> None:
    expected = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=ATOL)


def _t(a: np.ndarray, grad: bool = False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _dense_pair(rng: np.random.Generator, fan_in: int, fan_out: int):
    """Our Dense and a torch Linear holding the same numbers (torch stores W transposed)."""
    w = rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)
    b = rng.normal(scale=0.1, size=fan_out)
    linear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(_t(w.T))
        linear.bias.copy_(_t(b))
    return Dense(w.copy(), b.copy()), linear


def _compare_backward(ours: Layer, module, x: np.ndarray, upstream: np.ndarray, names: dict):
    """Same forward and, for one upstream gradient, same parameter and input gradients.

    `names` maps our parameter names to torch parameter names; torch Linear weights are
    transposed.
    """
    xt = _t(x, grad=True)
    out_t = module(xt)
    out_t.backward(_t(upstream))
    out = ours.forward(x, training=module.training)
    _close(out, out_t)
    _close(ours.backward(upstream), xt.grad)
    theirs = dict(module.named_parameters())
    params = ours.parameters()
    assert sorted(p.name for p in params) == sorted(names)
    for p in params:
        grad = theirs[names[p.name]].grad.numpy()
        _close(p.grad, grad.T if p.value.ndim == 2 else grad)


ACTIVATIONS = [
    ("relu", {}, F.relu),
    ("leaky_relu", {}, lambda x: F.leaky_relu(x, 0.01)),
    ("leaky_relu", {"alpha": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    ("elu", {}, F.elu),
    ("elu", {"alpha": 0.7}, lambda x: F.elu(x, alpha=0.7)),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("selu", {}, F.selu),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("softplus", {}, F.softplus),
    ("silu", {}, F.silu),
    ("softmax", {}, lambda x: F.softmax(x, dim=1)),
    ("linear", {}, lambda x: x),
]


@pytest.mark.parametrize(
    ("name", "options", "fn"), ACTIVATIONS, ids=[f"{n}-{o}" for n, o, _ in ACTIVATIONS]
)
def test_activation(name: str, options: dict, fn) -> None:
    rng = np.random.default_rng(0)
    # A spread of values, exact zeros (kink conventions) and the softplus threshold region.
    x = np.concatenate(
        [np.linspace(-30, 30, 61), [0.0, 19.5, 20.0, 20.5, -0.0], 3 * rng.normal(size=14)]
    ).reshape(8, 10)
    upstream = rng.normal(size=x.shape)
    layer = make_activation(name, **options)
    xt = _t(x, grad=True)
    out_t = fn(xt)
    out_t.backward(_t(upstream))
    _close(layer.forward(x), out_t)
    _close(layer.backward(upstream), xt.grad)


def test_batchnorm_training_running_stats_and_inference() -> None:
    rng = np.random.default_rng(1)
    ours = BatchNorm(5, momentum=0.1, eps=1e-5, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, momentum=0.1, eps=1e-5, dtype=torch.float64)
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.normal(size=5)
    ours.params["gamma"][...] = gamma
    ours.params["beta"][...] = beta
    with torch.no_grad():
        theirs.weight.copy_(_t(gamma))
        theirs.bias.copy_(_t(beta))
    names = {"gamma": "weight", "beta": "bias"}
    theirs.train()
    for _ in range(3):
        x = rng.normal(loc=1.5, scale=2.0, size=(6, 5))
        theirs.zero_grad()
        _compare_backward(ours, theirs, x, rng.normal(size=x.shape), names)
    _close(ours.buffers["running_mean"], theirs.running_mean)
    _close(ours.buffers["running_var"], theirs.running_var)
    theirs.eval()
    theirs.zero_grad()
    x = rng.normal(size=(4, 5))
    _compare_backward(ours, theirs, x, rng.normal(size=x.shape), names)


def test_layernorm() -> None:
    rng = np.random.default_rng(2)
    ours = LayerNorm(6, eps=1e-5, dtype=np.float64)
    theirs = torch.nn.LayerNorm(6, eps=1e-5, dtype=torch.float64)
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.normal(size=6)
    ours.params["gamma"][...] = gamma
    ours.params["beta"][...] = beta
    with torch.no_grad():
        theirs.weight.copy_(_t(gamma))
        theirs.bias.copy_(_t(beta))
    x = rng.normal(loc=-1.0, scale=3.0, size=(5, 6))
    _compare_backward(
        ours, theirs, x, rng.normal(size=x.shape), {"gamma": "weight", "beta": "bias"}
    )


def test_dropout_with_torchs_mask() -> None:
    # torch draws the mask; ours is frozen to the same units (x holds no exact zeros), so
    # the 1/(1 - rate) scaling and the masked gradient are what is compared.
    rng = np.random.default_rng(8)
    x, upstream = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    xt = _t(x, grad=True)
    torch.manual_seed(0)
    out_t = F.dropout(xt, p=0.3, training=True)
    out_t.backward(_t(upstream))
    ours = Dropout(0.3, np.random.default_rng(0))
    ours.frozen_mask = out_t.detach().numpy() != 0
    assert 0 < ours.frozen_mask.sum() < x.size
    _close(ours.forward(x, training=True), out_t)
    _close(ours.backward(upstream), xt.grad)
    _close(ours.forward(x, training=False), F.dropout(_t(x), p=0.3, training=False))


class _TorchResidual(torch.nn.Module):
    def __init__(self, body, projection) -> None:
        super().__init__()
        self.body, self.projection = body, projection

    def forward(self, x):
        return self.body(x) + (x if self.projection is None else self.projection(x))


@pytest.mark.parametrize("projected", [True, False])
def test_residual_block(projected: bool) -> None:
    rng = np.random.default_rng(3)
    width = 6 if projected else 4
    d1, t1 = _dense_pair(rng, 4, width)
    d2, t2 = _dense_pair(rng, width, width)
    proj, tproj = _dense_pair(rng, 4, width) if projected else (None, None)
    ours = Residual(Sequential([d1, make_activation("gelu"), d2]), proj)
    theirs = _TorchResidual(torch.nn.Sequential(t1, torch.nn.GELU(), t2), tproj)
    names = {f"layers.{i}.{k}": f"body.{i}.{k}" for i in (0, 2) for k in ("weight", "bias")}
    if projected:
        names |= {f"projection.{k}": f"projection.{k}" for k in ("weight", "bias")}
    x = rng.normal(size=(5, 4))
    _compare_backward(ours, theirs, x, rng.normal(size=(5, width)), names)


def _loss_case(head: Head, torch_loss, logits: np.ndarray, targets: np.ndarray) -> None:
    zt = _t(logits, grad=True)
    loss_t = torch_loss(zt)
    loss_t.backward()
    value, grad = head.loss_and_grad(logits, targets)
    assert value == pytest.approx(loss_t.item(), rel=1e-12)
    _close(grad, zt.grad)


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(smoothing: float, weighted: bool) -> None:
    rng = np.random.default_rng(4)
    logits = 3.0 * rng.normal(size=(9, 4))
    targets = rng.integers(0, 4, 9)
    weight = [0.5, 2.0, 1.0, 3.0] if weighted else None
    head = Head(
        make_activation("softmax"),
        make_loss("cross_entropy", label_smoothing=smoothing, weight=weight),
    )
    wt = None if weight is None else _t(np.array(weight))

    def torch_loss(z):
        return F.cross_entropy(z, torch.tensor(targets), weight=wt, label_smoothing=smoothing)

    _loss_case(head, torch_loss, logits, targets)
    _close(head.outputs(logits), F.softmax(_t(logits), dim=1))


@pytest.mark.parametrize("weight", [None, [0.4, 2.5]])
def test_binary_cross_entropy_with_logits(weight) -> None:
    rng = np.random.default_rng(5)
    logits = 4.0 * rng.normal(size=(10, 1))
    targets = rng.integers(0, 2, 10)
    head = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy", weight=weight))
    y = _t(targets[:, None].astype(np.float64))

    def torch_loss(z):
        if weight is None:
            return F.binary_cross_entropy_with_logits(z, y)
        # Per-sample weight w[y_i] and a weighted mean (the cross_entropy semantics).
        s = _t(np.array(weight)[targets][:, None])
        return F.binary_cross_entropy_with_logits(z, y, weight=s, reduction="sum") / s.sum()

    _loss_case(head, torch_loss, logits, targets)
    _close(head.outputs(logits), torch.sigmoid(_t(logits)))


@pytest.mark.parametrize(
    ("name", "options", "fn"),
    [
        ("mse", {}, F.mse_loss),
        ("mae", {}, F.l1_loss),
        ("huber", {}, F.huber_loss),
        ("huber", {"delta": 0.4}, lambda a, b: F.huber_loss(a, b, delta=0.4)),
    ],
    ids=["mse", "mae", "huber", "huber-delta0.4"],
)
def test_regression_losses(name: str, options: dict, fn) -> None:
    rng = np.random.default_rng(6)
    outputs = rng.normal(size=(8, 3))
    targets = rng.normal(size=(8, 3))
    head = Head(make_activation("linear"), make_loss(name, **options))
    _loss_case(head, lambda z: fn(z, _t(targets)), outputs, targets)


def test_binary_cross_entropy_with_soft_targets() -> None:
    rng = np.random.default_rng(9)
    logits, targets = 4.0 * rng.normal(size=(10, 1)), rng.uniform(size=10)
    head = Head(make_activation("sigmoid"), make_loss("binary_cross_entropy"))
    y = _t(targets[:, None])
    _loss_case(head, lambda z: F.binary_cross_entropy_with_logits(z, y), logits, targets)


def _one_hot(targets: np.ndarray, width: int):
    return _t(np.eye(width)[targets])


@pytest.mark.parametrize(
    ("act", "loss", "targets", "fn"),
    [
        ("sigmoid", "mse", "values", lambda z, t: F.mse_loss(torch.sigmoid(z), t)),
        ("tanh", "huber", "values", lambda z, t: F.huber_loss(torch.tanh(z), t)),
        ("softmax", "mse", "classes", lambda z, t: F.mse_loss(F.softmax(z, dim=1), t)),
        ("softmax", "mae", "classes", lambda z, t: F.l1_loss(F.softmax(z, dim=1), t)),
    ],
    ids=["sigmoid-mse", "tanh-huber", "softmax-mse", "softmax-mae"],
)
def test_unfused_heads(act: str, loss: str, targets: str, fn) -> None:
    # activation.forward -> loss -> activation.backward, against torch's autograd through both.
    rng = np.random.default_rng(10)
    logits = 2.0 * rng.normal(size=(8, 3))
    if targets == "classes":
        ours_t = rng.integers(0, 3, 8)
        theirs_t = _one_hot(ours_t, 3)
    else:
        ours_t = rng.normal(size=(8, 3))
        theirs_t = _t(ours_t)
    head = Head(make_activation(act), make_loss(loss))
    _loss_case(head, lambda z: fn(z, theirs_t), logits, ours_t)


def test_whole_network_with_cross_entropy() -> None:
    rng = np.random.default_rng(7)
    d0, t0 = _dense_pair(rng, 4, 6)
    d1, t1 = _dense_pair(rng, 6, 6)
    d2, t2 = _dense_pair(rng, 6, 3)
    ours = Sequential(
        [
            d0,
            BatchNorm(6, dtype=np.float64),
            make_activation("relu"),
            Residual(Sequential([d1])),
            d2,
        ]
    )
    tbn = torch.nn.BatchNorm1d(6, dtype=torch.float64)
    theirs = torch.nn.Sequential(t0, tbn, torch.nn.ReLU(), _TorchResidual(t1, None), t2)
    x = rng.normal(size=(10, 4))
    targets = rng.integers(0, 3, 10)
    head = Head(make_activation("softmax"), make_loss("cross_entropy", label_smoothing=0.1))
    value, grad = head.loss_and_grad(ours.forward(x, training=True), targets)
    grad_x = ours.backward(grad)
    xt = _t(x, grad=True)
    loss_t = F.cross_entropy(theirs(xt), torch.tensor(targets), label_smoothing=0.1)
    loss_t.backward()
    assert value == pytest.approx(loss_t.item(), rel=1e-12)
    _close(grad_x, xt.grad)
    names = {
        "0.weight": "0.weight",
        "0.bias": "0.bias",
        "1.gamma": "1.weight",
        "1.beta": "1.bias",
        "3.layers.0.weight": "3.body.weight",
        "3.layers.0.bias": "3.body.bias",
        "4.weight": "4.weight",
        "4.bias": "4.bias",
    }
    theirs_params = dict(theirs.named_parameters())
    for p in ours.parameters():
        grad_t = theirs_params[names[p.name]].grad.numpy()
        _close(p.grad, grad_t.T if p.value.ndim == 2 else grad_t)
    _close(ours.state_arrays()["1.running_var"], tbn.running_var)
