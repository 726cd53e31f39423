"""Learning-rate schedules at known epochs, warmup, plateau logic and exact resume."""

from __future__ import annotations

import json
import math

import pytest

from nncli.engine.schedules import SCHEDULES


def lrs(name: str, epochs: int, base_lr: float = 1.0, **kwargs) -> list[float]:
    schedule = SCHEDULES[name](base_lr, epochs, **kwargs)
    return [schedule.lr_at(e) for e in range(1, epochs + 1)]


def test_registry_names() -> None:
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine", "plateau"}


def test_constant() -> None:
    assert lrs("constant", 4, 0.1) == [0.1] * 4


def test_step() -> None:
    # gamma^(k // 3) with k = epoch - 1: epochs 1-3 -> 1, 4-6 -> 0.5, 7 -> 0.25
    assert lrs("step", 7, step_size=3, gamma=0.5) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    # defaults: step_size 10, gamma 0.1
    assert lrs("step", 11, 0.5)[9:] == [0.5, pytest.approx(0.05)]


def test_exponential() -> None:
    assert lrs("exponential", 3, gamma=0.5) == [1.0, 0.5, 0.25]
    assert lrs("exponential", 2)[1] == pytest.approx(0.95)  # default gamma


def test_cosine_defaults_to_the_run_length() -> None:
    # t_max = 5: (1 + cos(pi k / 5)) / 2 for k = 0..4
    # k=1: (1 + 0.809017) / 2 = 0.904508;  k=2: (1 + 0.309017) / 2 = 0.654508
    got = lrs("cosine", 5)
    assert got[0] == 1.0
    assert got[1] == pytest.approx(0.9045084972, rel=1e-9)
    assert got[2] == pytest.approx(0.6545084972, rel=1e-9)
    assert got[4] == pytest.approx(0.0954915028, rel=1e-9)  # last epoch stays above min


def test_cosine_t_max_and_min_lr() -> None:
    # min 0.2 + 0.8 * (1 + cos(pi k / 4)) / 2: k=2 -> 0.2 + 0.4 = 0.6, k=4 -> 0.2
    got = lrs("cosine", 9, t_max=4, min_lr=0.2)
    assert got[2] == pytest.approx(0.6, rel=1e-12)
    assert got[4] == pytest.approx(0.2, rel=1e-12)
    assert got[8] == pytest.approx(1.0, rel=1e-12)  # past t_max it follows the cosine, as torch


def test_warmup_ramps_linearly_then_the_schedule_starts_at_k0() -> None:
    # W = 3: epochs 1..3 get base * e / 4 = 0.1, 0.2, 0.3; epoch 4 is k = 0 -> 0.4
    for name in SCHEDULES:
        got = lrs(name, 5, 0.4, warmup_epochs=3)
        assert got[:4] == pytest.approx([0.1, 0.2, 0.3, 0.4], rel=1e-12), name
    # step_size counts from the end of warmup: epochs 4, 5 at k = 0, 1; epoch 6 at k = 2
    assert lrs("step", 6, 0.4, warmup_epochs=3, step_size=2, gamma=0.5)[3:] == [0.4, 0.4, 0.2]


def test_cosine_t_max_default_excludes_warmup() -> None:
    # total 10, warmup 2 -> t_max 8; epoch 7 is k = 4, halfway down
    assert lrs("cosine", 10, warmup_epochs=2)[6] == pytest.approx(0.5, rel=1e-12)


def feed(schedule, values: list[float], start: int = 1) -> list[float]:
    """lr of each epoch, observing the metric at its end (the trainer's order)."""
    out = []
    for epoch, value in enumerate(values, start=start):
        out.append(schedule.lr_at(epoch))
        schedule.observe(epoch, value)
    return out


def test_plateau_reduces_after_patience() -> None:
    # epoch 1 sets best = 1.0; epochs 2, 3 are bad (1, 2 <= patience);
    # epoch 4 is the third bad one (> patience 2) -> lr 0.5 from epoch 5, counter reset
    schedule = SCHEDULES["plateau"](1.0, 10, patience=2, factor=0.5)
    assert feed(schedule, [1.0, 1.0, 1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert schedule.num_bad_epochs == 1


def test_plateau_threshold_is_relative() -> None:
    # need value < best * (1 - 1e-4) = 0.9999: 0.99995 does not count, 0.9998 does
    schedule = SCHEDULES["plateau"](1.0, 10, patience=1)
    feed(schedule, [1.0, 0.99995])
    assert schedule.num_bad_epochs == 1
    feed(schedule, [0.9998], start=3)
    assert schedule.num_bad_epochs == 0
    assert schedule.best == 0.9998


def test_plateau_max_mode_and_min_lr() -> None:
    schedule = SCHEDULES["plateau"](1.0, 10, mode="max", patience=0, factor=0.1, min_lr=0.05)
    # 0.5 improves on -inf; 0.4 is bad (> patience 0) -> 0.1; 0.45 bad -> max(0.01, 0.05)
    assert feed(schedule, [0.5, 0.4, 0.45, 0.6]) == [1.0, 1.0, pytest.approx(0.1), 0.05]


def test_plateau_ignores_metrics_during_warmup() -> None:
    schedule = SCHEDULES["plateau"](1.0, 10, warmup_epochs=2, patience=0)
    got = feed(schedule, [5.0, 6.0, 1.0, 1.0, 1.0])
    assert got == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0, 1.0, pytest.approx(0.1)]


def test_plateau_state_round_trips_through_json() -> None:
    metrics = [1.0, 0.9, 0.95, 0.93, 0.91, 0.99, 0.8, 0.85, 0.86, 0.87, 0.88]
    whole = SCHEDULES["plateau"](0.1, 11, patience=1, factor=0.5)
    expected = feed(whole, metrics)

    first = SCHEDULES["plateau"](0.1, 11, patience=1, factor=0.5)
    before = feed(first, metrics[:5])
    state = json.loads(json.dumps(first.state_dict()))
    second = SCHEDULES["plateau"](0.1, 11, patience=1, factor=0.5)
    second.load_state_dict(state)
    assert before + feed(second, metrics[5:], start=6) == expected


def test_fresh_plateau_state_is_json() -> None:
    state = SCHEDULES["plateau"](0.1, 5).state_dict()
    assert json.loads(json.dumps(state, allow_nan=False)) == state


@pytest.mark.parametrize("name", ["constant", "step", "exponential", "cosine"])
def test_closed_form_schedules_have_empty_state(name: str) -> None:
    schedule = SCHEDULES[name](0.1, 5)
    schedule.observe(1, 3.0)  # a no-op
    assert schedule.state_dict() == {}
    schedule.load_state_dict({})
    with pytest.raises(ValueError, match="'best'"):
        schedule.load_state_dict({"best": 1.0})


def test_plateau_load_state_dict_names_problems() -> None:
    schedule = SCHEDULES["plateau"](0.1, 5)
    with pytest.raises(ValueError, match="'num_bad_epochs'"):
        schedule.load_state_dict({"lr": 0.1, "best": None})
    with pytest.raises(ValueError, match="'extra'"):
        schedule.load_state_dict({"lr": 0.1, "best": None, "num_bad_epochs": 0, "extra": 1})


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_errors(name: str) -> None:
    with pytest.raises(TypeError, match="gama"):
        SCHEDULES[name](0.1, 5, gama=0.5)
    with pytest.raises(ValueError, match="1-based"):
        SCHEDULES[name](0.1, 5).lr_at(0)
    with pytest.raises(ValueError, match="warmup_epochs"):
        SCHEDULES[name](0.1, 5, warmup_epochs=-1)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("step", {"step_size": 0}, "step_size"),
        ("exponential", {"gamma": 0.0}, "gamma"),
        ("cosine", {"t_max": 0}, "t_max"),
        ("plateau", {"mode": "mean"}, "mode"),
        ("plateau", {"factor": 1.0}, "factor"),
        ("plateau", {"patience": -1}, "patience"),
    ],
)
def test_bad_option_values_are_named(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SCHEDULES[name](0.1, 5, **options)


def test_cosine_survives_runs_shorter_than_warmup() -> None:
    assert math.isfinite(SCHEDULES["cosine"](0.1, 2, warmup_epochs=5).lr_at(6))
