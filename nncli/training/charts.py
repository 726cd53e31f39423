"""The loss chart `train` prints at the end: one sparkline per loss, on a shared scale."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from nncli.errors import DataError
from nncli.store.history import read_metrics

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII = "_.-~=+*#"
CHART_WIDTH = 60


def sparkline(
    values: list[float], low: float, high: float, ramp: str = BLOCKS, log: bool = False
) -> str:
    """One character per value on a shared [low, high] scale (logarithmic: all must be > 0)."""
    if log:
        values, low, high = [math.log(v) for v in values], math.log(low), math.log(high)
    span = high - low
    top = len(ramp) - 1
    return "".join(
        ramp[0 if span <= 0 else min(top, max(0, round((v - low) / span * top)))] for v in values
    )


def _resample(values: list[float], width: int) -> list[float]:
    """At most `width` points: the mean of each of `width` equal slices."""
    if len(values) <= width:
        return values
    edges = [round(i * len(values) / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(edges)]


def loss_chart(history: dict[str, list], unicode: bool = True) -> list[str]:
    """Lines like `train_loss 1.46 ▇▅▃▂▁▁ 0.21`, train and validation on one scale."""
    series = {}
    for name in ("train_loss", "val_loss"):
        values = [v for v in history.get(name) or [] if v is not None and math.isfinite(v)]
        if len(values) >= 2:
            series[name] = values
    if not series:
        return []
    every = [v for values in series.values() for v in values]
    low, high = min(every), max(every)
    log = low > 0 and high / low > 10
    ramp = BLOCKS if unicode else ASCII
    width = max(len(n) for n in series)
    lines = []
    for name, values in series.items():
        line = sparkline(_resample(values, CHART_WIDTH), low, high, ramp, log)
        lines.append(f"{name:>{width}} {values[0]:>8.4g} {line} {values[-1]:.4g}")
    scale = "log scale" if log else "linear scale"
    epochs = history.get("epoch") or [1, len(next(iter(series.values())))]
    lines.append(f"{'':>{width}} {'':>8} epochs {epochs[0]}-{epochs[-1]}, {scale}")
    return lines


def loss_chart_file(metrics_csv: Path, encoding: str = "utf-8") -> list[str]:
    """The chart of a run's metrics.csv, as `train` prints it at the end; block characters
    on a UTF-8 terminal, ASCII elsewhere."""
    try:
        history = read_metrics(metrics_csv)
    except (DataError, OSError):
        return []
    return loss_chart(history, unicode=encoding.lower().replace("-", "").startswith("utf"))
