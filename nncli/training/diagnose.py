"""`nncli gradcheck`: finite differences against backprop for the network a config builds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from nncli.config.load import load_config
from nncli.engine.gradcheck import check_gradients
from nncli.training.trainer import Trainer

TOLERANCE = 1e-6


@dataclass(frozen=True)
class GradcheckRow:
    name: str
    shape: tuple[int, ...]
    error: float


def gradcheck_config(
    config_path: str | Path,
    overrides: dict[str, Any] | None = None,
    rows: int = 16,
    max_elements: int | None = 2000,
) -> list[GradcheckRow]:
    """Build the configured network in float64 on the first `rows` training rows and compare
    every parameter's backprop gradient with central differences (in training mode: batch
    statistics for batchnorm, one frozen dropout mask)."""
    config = load_config(config_path, overrides)
    training = config.training.model_copy(update={"dtype": "float64"})
    trainer = Trainer(config.model_copy(update={"training": training}), Console(quiet=True))
    x, y = trainer.data.train.x[:rows], trainer.data.train.y[:rows]
    errors = check_gradients(
        trainer.network, trainer.head, x, y, max_elements=max_elements, seed=config.seed
    )
    shapes = {p.name: p.value.shape for p in trainer.params}
    shapes["input"] = x.shape
    return [GradcheckRow(name, shapes[name], err) for name, err in errors.items()]


def worst(rows: list[GradcheckRow]) -> float:
    return max((r.error for r in rows), default=0.0)


def error_is_ok(error: float, tolerance: float = TOLERANCE) -> bool:
    return bool(np.isfinite(error)) and error <= tolerance
