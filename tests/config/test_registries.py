"""The names a config accepts are exactly the names the engine can build, and the reverse."""

from __future__ import annotations

import typing

from nncli.config import base as S
from nncli.config import network as M
from nncli.config import sections as C
from nncli.engine.activations import ACTIVATIONS
from nncli.engine.head import LOSSES
from nncli.engine.initializers import INITIALIZERS
from nncli.engine.optimizers import OPTIMIZERS
from nncli.engine.schedules import SCHEDULES


def _tags(union: object, key: str) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {tag for m in members for tag in typing.get_args(m.model_fields[key].annotation)}


def test_activation_names_match_the_engine() -> None:
    assert set(S.ACTIVATION_NAMES) == set(ACTIVATIONS) == _tags(S.ActivationSpec, "name")
    layer_names = typing.get_args(M.ActivationLayer.model_fields["name"].annotation)
    assert set(layer_names) == set(ACTIVATIONS)


def test_initializer_names_match_the_engine() -> None:
    assert set(S.INIT_NAMES) == set(INITIALIZERS) == _tags(S.InitSpec, "name")


def test_loss_optimizer_and_schedule_names_match_the_engine() -> None:
    assert _tags(C.LossSpec, "name") == set(LOSSES)
    assert _tags(C.OptimizerSpec, "type") == set(OPTIMIZERS)
    assert _tags(C.ScheduleSpec, "type") == set(SCHEDULES)
