"""EarlyStopping on literal sequences: modes, min_delta, patience, its checkpoint state."""

from __future__ import annotations

import math

import pytest

from nncli.training import EarlyStopping


def feed(stopping: EarlyStopping, values: list[float]) -> list[bool]:
    """update() for epochs 1, 2, ...; whether each improved."""
    return [stopping.update(epoch, v) for epoch, v in enumerate(values, start=1)]


def test_min_mode_tracks_the_lowest_value_and_the_epochs_since():
    stopping = EarlyStopping("val_loss", "min")
    assert feed(stopping, [1.0, 0.5, 0.7, 0.4, 0.4]) == [True, True, False, True, False]
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.4, 4, 1)


def test_max_mode_tracks_the_highest_value():
    stopping = EarlyStopping("val_accuracy", "max")
    assert feed(stopping, [0.5, 0.9, 0.8, 0.95]) == [True, True, False, True]
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.95, 4, 0)


def test_the_first_value_always_improves():
    for mode in ("min", "max"):
        stopping = EarlyStopping("m", mode)
        assert stopping.best is None and stopping.best_epoch == 0
        assert stopping.update(1, 123.0) and stopping.best == 123.0


@pytest.mark.parametrize(
    ("mode", "values", "improved"),
    [
        ("min", [1.0, 0.95, 0.89], [True, False, True]),  # needs to drop below 1.0 - 0.1
        ("max", [1.0, 1.05, 1.11], [True, False, True]),  # needs to rise above 1.0 + 0.1
    ],
)
def test_min_delta_is_the_smallest_change_that_counts(mode, values, improved):
    stopping = EarlyStopping("m", mode, min_delta=0.1)
    assert feed(stopping, values) == improved
    assert stopping.best == values[-1] and stopping.best_epoch == 3


def test_a_change_of_exactly_min_delta_is_no_improvement():
    stopping = EarlyStopping("m", "min", min_delta=0.25)
    assert feed(stopping, [1.0, 0.75]) == [True, False]


def test_patience_counts_epochs_without_improvement():
    stopping = EarlyStopping("val_loss", "min", patience=2)
    feed(stopping, [1.0, 1.1])
    assert not stopping.should_stop and stopping.wait == 1
    stopping.update(3, 0.9)  # an improvement resets the wait
    assert not stopping.should_stop and stopping.wait == 0
    stopping.update(4, 0.9)
    assert not stopping.should_stop
    stopping.update(5, 0.95)
    assert stopping.should_stop and stopping.wait == 2 and stopping.best_epoch == 3


def test_without_patience_it_never_stops():
    stopping = EarlyStopping("train_loss", "min")
    feed(stopping, [1.0] + [2.0] * 500)
    assert stopping.wait == 500 and not stopping.should_stop and stopping.best_epoch == 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping("val_loss", "auto")  # the caller resolves auto from the metric's name
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping("val_loss", "min", patience=0)


def test_state_round_trip_continues_exactly():
    values = [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77]
    whole = EarlyStopping("val_loss", "min", patience=3)
    whole_improved = feed(whole, values)
    first = EarlyStopping("val_loss", "min", patience=3)
    feed(first, values[:3])
    state = first.state_dict()
    # The checkpoint keeps these keys (training_state.stop) since before EarlyStopping existed.
    assert state == {
        "monitor": "val_loss",
        "mode": "min",
        "best_value": 0.8,
        "best_epoch": 2,
        "wait": 1,
    }
    resumed = EarlyStopping("val_loss", "min", patience=3)
    resumed.load_state_dict(state)
    later = [resumed.update(epoch, v) for epoch, v in enumerate(values[3:], start=4)]
    assert whole_improved[3:] == later
    assert resumed.state_dict() == whole.state_dict()
    assert resumed.should_stop == whole.should_stop


def test_a_state_before_any_epoch_round_trips():
    stopping = EarlyStopping("val_loss", "min", patience=2)
    resumed = EarlyStopping("val_loss", "min", patience=2)
    resumed.load_state_dict(stopping.state_dict())
    assert resumed.best is None and resumed.best_epoch == 0 and resumed.wait == 0


def test_loading_takes_the_saved_monitor_and_mode_for_the_caller_to_compare():
    stopping = EarlyStopping("val_loss", "min")
    stopping.load_state_dict(
        {"monitor": "val_accuracy", "mode": "max", "best_value": 0.9, "best_epoch": 3, "wait": 0}
    )
    assert (stopping.monitor, stopping.mode, stopping.best) == ("val_accuracy", "max", 0.9)


GOOD = {"monitor": "val_loss", "mode": "min", "best_value": 0.5, "best_epoch": 3, "wait": 1}


@pytest.mark.parametrize(
    "damage",
    [
        {"best_value": math.inf},
        {"best_value": math.nan},
        {"best_value": "0.5"},
        {"best_value": True},
        {"best_epoch": -1},
        {"best_epoch": 2.0},
        {"best_epoch": 10**9},
        {"wait": None},
        {"wait": False},
        {"mode": "auto"},
        {"mode": None},
        {"monitor": 3},
    ],
    ids=repr,
)
def test_a_damaged_state_is_refused_and_changes_nothing(damage):
    stopping = EarlyStopping("val_loss", "min", patience=5)
    feed(stopping, [1.0, 0.9])
    before = stopping.state_dict()
    with pytest.raises((ValueError, TypeError)):
        stopping.load_state_dict({**GOOD, **damage})
    assert stopping.state_dict() == before


NO_WAIT = {k: v for k, v in GOOD.items() if k != "wait"}


@pytest.mark.parametrize("state", [None, [], "stop", NO_WAIT], ids=repr)
def test_a_state_that_is_no_state_is_refused(state):
    with pytest.raises((ValueError, TypeError)):
        EarlyStopping("val_loss", "min").load_state_dict(state)
