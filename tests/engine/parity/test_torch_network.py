"""A whole network built from a config, against PyTorch: forward, loss, every gradient, and the
parameters after three steps of each optimizer (float64, weight decay on dense weights only)."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.build import build_head, build_network, build_optimizer, output_info
from nncli.config.sections import Config
from nncli.engine.activations import Activation
from nncli.engine.base import Layer, Sequential
from nncli.engine.layers import BatchNorm, Dense, LayerNorm, Residual

torch = pytest.importorskip("torch")
F = torch.nn.functional

N_IN, N_CLASSES, BATCH = 6, 4, 32

LAYERS = [
    {"type": "dense", "units": 12, "activation": "relu"},
    {"type": "dense", "units": 12, "activation": {"name": "leaky_relu", "alpha": 0.2}},
    {"type": "batchnorm"},
    {"type": "dense", "units": 10, "activation": {"name": "elu", "alpha": 0.7}},
    {
        "type": "residual",
        "layers": [
            {"type": "dense", "units": 8, "activation": "gelu"},
            {"type": "layernorm"},
            {"type": "dense", "units": 8, "activation": {"name": "gelu", "approximate": "tanh"}},
        ],
    },
    {"type": "dense", "units": 8, "activation": "selu"},
    {"type": "activation", "name": "sigmoid"},
    {"type": "dense", "units": 8, "activation": "tanh"},
    {"type": "dense", "units": 8, "activation": "softplus"},
    {"type": "residual", "layers": [{"type": "dense", "units": 8, "activation": "silu"}]},
    {"type": "dense", "units": 8, "activation": "softmax"},
    {"type": "dense", "units": 8, "activation": "linear"},
]

OPTIMIZERS = [
    ({"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, "SGD"),
    ({"type": "adam", "lr": 0.01, "weight_decay": 0.01}, "Adam"),
    ({"type": "adamw", "lr": 0.01, "weight_decay": 0.05}, "AdamW"),
    ({"type": "rmsprop", "lr": 0.01, "momentum": 0.5, "weight_decay": 0.01}, "RMSprop"),
    ({"type": "adagrad", "lr": 0.1, "weight_decay": 0.01}, "Adagrad"),
]


def _torch_options(spec: dict) -> dict:
    options = {"lr": spec["lr"], "weight_decay": spec["weight_decay"]}
    if spec["type"] == "sgd":
        options.update(momentum=spec["momentum"], nesterov=spec["nesterov"])
    if spec["type"] == "rmsprop":
        options.update(momentum=spec["momentum"], alpha=0.99, eps=1e-8)
    return options


def _build(optimizer: dict) -> tuple:
    config = Config.model_validate(
        {
            "data": {"train": "unused.csv", "target": "y"},
            "model": {"layers": LAYERS},
            "loss": {"name": "cross_entropy", "label_smoothing": 0.1},
            "optimizer": optimizer,
            "training": {"dtype": "float64"},
        }
    )
    out = output_info(config, "classification", N_CLASSES, 1)
    rng = np.random.default_rng(3)
    network = build_network(config, N_IN, out, rng, rng, np.dtype(np.float64))
    return network, build_head(out, None), build_optimizer(config)


class TorchMirror:
    """The same network in torch, sharing initial values, walked like nncli's layer tree."""

    def __init__(self, network: Layer) -> None:
        self.tensors = {
            name: torch.tensor(value.copy(), requires_grad=name in _param_names(network))
            for name, value in network.state_arrays().items()
        }
        self.network = network

    def forward(self, x):
        return self._run(self.network, "", x)

    def _run(self, layer: Layer, prefix: str, x):
        t = self.tensors
        if isinstance(layer, Sequential):
            for name, child in layer.children:
                x = self._run(child, f"{prefix}{name}." if name else prefix, x)
            return x
        if isinstance(layer, Dense):
            return x @ t[prefix + "weight"] + t[prefix + "bias"]
        if isinstance(layer, BatchNorm):
            return F.batch_norm(
                x,
                t[prefix + "running_mean"],
                t[prefix + "running_var"],
                t[prefix + "gamma"],
                t[prefix + "beta"],
                training=True,
                momentum=0.1,
                eps=1e-5,
            )
        if isinstance(layer, LayerNorm):
            return F.layer_norm(x, (x.shape[1],), t[prefix + "gamma"], t[prefix + "beta"], 1e-5)
        if isinstance(layer, Residual):
            body = self._run(layer.children[0][1], prefix + "layers.", x)
            skip = x
            if len(layer.children) > 1:
                skip = self._run(layer.children[1][1], prefix + "projection.", x)
            return body + skip
        assert isinstance(layer, Activation)
        return _torch_activation(layer, x)

    def params(self) -> list:
        return [v for v in self.tensors.values() if v.requires_grad]


def _param_names(network: Layer) -> set[str]:
    return {p.name for p in network.parameters()}


def _torch_activation(layer: Activation, x):
    options = layer.options()
    return {
        "relu": lambda: F.relu(x),
        "leaky_relu": lambda: F.leaky_relu(x, options.get("alpha", 0.01)),
        "elu": lambda: F.elu(x, options.get("alpha", 1.0)),
        "gelu": lambda: F.gelu(x, approximate=options.get("approximate", "none")),
        "selu": lambda: F.selu(x),
        "sigmoid": lambda: torch.sigmoid(x),
        "tanh": lambda: torch.tanh(x),
        "softplus": lambda: F.softplus(x),
        "silu": lambda: F.silu(x),
        "softmax": lambda: F.softmax(x, dim=1),
        "linear": lambda: x,
    }[layer.name]()


def _batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(BATCH, N_IN)), rng.integers(0, N_CLASSES, size=BATCH)


def test_every_activation_is_in_the_parity_network() -> None:
    network, _, _ = _build(OPTIMIZERS[0][0])
    names = {layer.name for _, layer in network.layers() if isinstance(layer, Activation)}
    assert names >= {
        *("relu", "leaky_relu", "elu", "gelu", "selu", "sigmoid", "tanh"),
        *("softplus", "silu", "softmax", "linear"),
    }
    assert "layers.4.projection.weight" in network.state_arrays()


def test_forward_loss_and_every_gradient_match_torch() -> None:
    network, head, _ = _build(OPTIMIZERS[0][0])
    mirror = TorchMirror(network)
    x, y = _batch(0)
    loss, grad = head.loss_and_grad(network.forward(x, True), y)
    grad_x = network.backward(grad)
    tx = torch.tensor(x, requires_grad=True)
    logits = mirror.forward(tx)
    t_loss = F.cross_entropy(logits, torch.tensor(y), label_smoothing=0.1)
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-6, atol=1e-12)
    for p in network.parameters():
        np.testing.assert_allclose(
            p.grad, mirror.tensors[p.name].grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=p.name
        )
    for name, value in network.state_arrays().items():  # running statistics too
        np.testing.assert_allclose(value, mirror.tensors[name].detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize(("spec", "torch_name"), OPTIMIZERS, ids=[o[1] for o in OPTIMIZERS])
def test_three_optimizer_steps_match_torch(spec: dict, torch_name: str) -> None:
    network, head, optimizer = _build(spec)
    mirror = TorchMirror(network)
    params = network.parameters()
    decay = [mirror.tensors[p.name] for p in params if p.decay]
    no_decay = [mirror.tensors[p.name] for p in params if not p.decay]
    options = _torch_options(spec)
    wd = options.pop("weight_decay")
    t_opt = getattr(torch.optim, torch_name)(
        [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
        **options,
    )
    for step in range(3):
        x, y = _batch(step + 1)
        _, grad = head.loss_and_grad(network.forward(x, True), y)
        network.backward(grad)
        optimizer.step(params)
        t_opt.zero_grad()
        F.cross_entropy(
            mirror.forward(torch.tensor(x)), torch.tensor(y), label_smoothing=0.1
        ).backward()
        t_opt.step()
    for name, value in network.state_arrays().items():
        np.testing.assert_allclose(
            value, mirror.tensors[name].detach().numpy(), rtol=1e-6, atol=1e-12, err_msg=name
        )
