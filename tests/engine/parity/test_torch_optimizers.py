"""Optimizers, schedules and clipping against torch.optim in float64."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine.base import Param
from nncli.engine.clipping import clip_grad_norm
from nncli.engine.optimizers import OPTIMIZERS
from nncli.engine.schedules import SCHEDULES

torch = pytest.importorskip("torch")

STEPS = 3

# (our name, our options, torch class name, torch options); lr is given separately.
OPTIMIZER_CASES = [
    ("sgd", {}, "SGD", {}),
    ("sgd", {"momentum": 0.9}, "SGD", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.5, "weight_decay": 0.1}, "SGD", {"momentum": 0.5, "weight_decay": 0.1}),
    ("adam", {}, "Adam", {}),
    (
        "adam",
        {"beta1": 0.8, "beta2": 0.9, "eps": 1e-3, "weight_decay": 0.05},
        "Adam",
        {"betas": (0.8, 0.9), "eps": 1e-3, "weight_decay": 0.05},
    ),
    ("adamw", {"weight_decay": 0.1}, "AdamW", {"weight_decay": 0.1}),
    # Our adamw defaults weight_decay to 0.0 like every optimizer here (torch's is 0.01).
    (
        "adamw",
        {"beta1": 0.5, "eps": 1e-4},
        "AdamW",
        {"betas": (0.5, 0.999), "eps": 1e-4, "weight_decay": 0.0},
    ),
    ("rmsprop", {}, "RMSprop", {}),
    (
        "rmsprop",
        {"rho": 0.9, "eps": 1e-6, "momentum": 0.7, "weight_decay": 0.02},
        "RMSprop",
        {"alpha": 0.9, "eps": 1e-6, "momentum": 0.7, "weight_decay": 0.02},
    ),
    ("adagrad", {}, "Adagrad", {}),
    ("adagrad", {"eps": 1e-3, "weight_decay": 0.1}, "Adagrad", {"eps": 1e-3, "weight_decay": 0.1}),
]


def _case_id(case: tuple) -> str:
    return case[0] + "".join(f"-{k}" for k in case[1])


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_case_id)
def test_optimizer_matches_torch_over_three_steps(case: tuple) -> None:
    name, options, torch_name, torch_options = case
    lr = 0.05
    rng = np.random.default_rng(7)
    weight = rng.normal(size=(4, 3))
    bias = rng.normal(size=3)
    grads = [(rng.normal(size=(4, 3)), rng.normal(size=3)) for _ in range(STEPS)]

    params = [
        Param("layers.0.weight", weight.copy(), np.zeros_like(weight), decay=True),
        Param("layers.0.bias", bias.copy(), np.zeros_like(bias), decay=False),
    ]
    optimizer = OPTIMIZERS[name](lr, **options)

    tw = torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    # Decay on the weight only: the bias gets its own group with weight_decay 0.
    no_decay = {"weight_decay": 0.0} if "weight_decay" in torch_options else {}
    reference = getattr(torch.optim, torch_name)(
        [{"params": [tw]}, {"params": [tb], **no_decay}], lr=lr, **torch_options
    )

    for gw, gb in grads:
        params[0].grad[...] = gw
        params[1].grad[...] = gb
        optimizer.step(params)
        tw.grad = torch.tensor(gw)
        tb.grad = torch.tensor(gb)
        reference.step()

    np.testing.assert_allclose(params[0].value, tw.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(params[1].value, tb.detach().numpy(), rtol=1e-10, atol=1e-14)
    assert optimizer.t == STEPS
    if name in ("adam", "adamw"):  # the state is torch's without the (1 - beta) factors
        arrays = optimizer.state_dict()[0]
        beta1, beta2 = options.get("beta1", 0.9), options.get("beta2", 0.999)
        for param, tensor in zip(params, (tw, tb), strict=True):
            state = reference.state[tensor]
            m = (1.0 - beta1) * arrays[f"grad_sum/{param.name}"]
            v = (1.0 - beta2) * arrays[f"sq_grad_sum/{param.name}"]
            np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-10, atol=1e-14)


def test_clip_grad_norm_matches_torch() -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(5, 4)) * 3, rng.normal(size=4)]
    params = [Param(f"p{i}", np.zeros_like(a), a.copy(), decay=False) for i, a in enumerate(arrays)]
    tensors = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
    for t, a in zip(tensors, arrays, strict=True):
        t.grad = torch.tensor(a)

    norm = clip_grad_norm(params, 1.5)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, 1.5)

    assert norm == pytest.approx(float(torch_norm), rel=1e-12)
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


EPOCHS = 30

# (our name, our options, torch class name, torch options)
SCHEDULE_CASES = [
    ("constant", {}, "ConstantLR", {"factor": 1.0}),
    ("step", {}, "StepLR", {"step_size": 10}),
    ("step", {"step_size": 4, "gamma": 0.5}, "StepLR", {"step_size": 4, "gamma": 0.5}),
    ("exponential", {}, "ExponentialLR", {"gamma": 0.95}),
    ("exponential", {"gamma": 0.8}, "ExponentialLR", {"gamma": 0.8}),
    ("cosine", {}, "CosineAnnealingLR", {"T_max": EPOCHS}),
    ("cosine", {"t_max": 7, "min_lr": 0.01}, "CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
]


def _torch_lrs(torch_name: str, options: dict, epochs: int, metrics=None) -> list[float]:
    """lr torch uses in each of `epochs` epochs, stepping the scheduler after each."""
    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, torch_name)(optimizer, **options)
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
    return lrs


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=_case_id)
def test_schedule_matches_torch(case: tuple) -> None:
    name, options, torch_name, torch_options = case
    schedule = SCHEDULES[name](0.1, EPOCHS, **options)
    ours = [schedule.lr_at(epoch) for epoch in range(1, EPOCHS + 1)]
    np.testing.assert_allclose(ours, _torch_lrs(torch_name, torch_options, EPOCHS), rtol=1e-10)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "min_lr": 0.02},
        {"mode": "max", "patience": 2, "threshold": 0.01},
        {"patience": 0, "factor": 0.3},
    ],
    ids=str,
)
def test_plateau_matches_torch(options: dict) -> None:
    # A noisy, mostly improving then stalling metric (negated for "max").
    rng = np.random.default_rng(11)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 8), 0.5 + 0.02 * rng.random(EPOCHS - 8)])
    metrics[15] = 0.3  # one late improvement resets the count
    if options.get("mode") == "max":
        metrics = -metrics
    schedule = SCHEDULES["plateau"](0.1, EPOCHS, **options)
    ours = []
    for epoch in range(1, EPOCHS + 1):
        ours.append(schedule.lr_at(epoch))
        schedule.observe(epoch, float(metrics[epoch - 1]))

    expected = _torch_lrs("ReduceLROnPlateau", options, EPOCHS, list(metrics))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert len(set(expected)) > 1 or not options  # the case actually reduces
