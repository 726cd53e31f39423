"""Training curves: a PNG of one or several runs (matplotlib, optional) and a terminal sparkline."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from nncli.errors import DataError, NncliError
from nncli.history import RunInfo

INSTALL_HINT = "nncli plot needs matplotlib: pip install 'nncli[plot]' (or pip install matplotlib)"
BLOCKS = "▁▂▃▄▅▆▇█"
ASCII = "_.-~=+*#"
CHART_WIDTH = 60


def default_metric(runs: list[RunInfo]) -> str | None:
    """The second panel's metric: validation accuracy, else R², else none."""
    for name in ("val_accuracy", "val_r2", "train_accuracy"):
        if any(run.history.get(name) for run in runs):
            return name
    return None


def plot_runs(runs: list[RunInfo], output: Path, metric: str | None = None) -> Path:
    """Loss curves (train solid, validation dashed) and one metric panel, one colour per run."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NncliError(INSTALL_HINT) from None
    columns = {c for run in runs for c in run.history} - {"epoch", "seconds"}
    if metric is not None and metric not in columns:
        known = ", ".join(sorted(columns)) or "none"
        raise DataError(f"--metric {metric}: no such column in these runs' metrics.csv ({known})")
    metric = metric or default_metric(runs)
    panels = [("loss", ["train_loss", "val_loss"])]
    if metric is not None:
        pair = _pair(metric, columns)
        panels.append((metric.removeprefix("val_") if len(pair) > 1 else metric, pair))
    figure = Figure(figsize=(6.0 * len(panels), 4.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    labels = _labels(runs)
    for ax, (title, names) in zip(axes, panels, strict=True):
        for i, run in enumerate(runs):
            color = f"C{i % 10}"
            epochs = run.history.get("epoch", [])
            for name in names:
                values = run.history.get(name) or []
                points = [(e, v) for e, v in zip(epochs, values, strict=False) if v is not None]
                if not points:
                    continue
                style = "--" if name.startswith("val_") else "-"
                label = f"{labels[i]} {name}" if len(runs) > 1 else name
                ax.plot(*zip(*points, strict=True), style, color=color, label=label)
            if run.best_epoch and title == "loss" and run.monitor in names:
                ax.axvline(run.best_epoch, color=color, alpha=0.3, linewidth=1)
        ax.set_title(title + (" (faint line: best epoch)" if title == "loss" else ""))
        ax.set_xlabel("epoch")
        if title == "loss" and _positive(runs, names):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(", ".join(labels) if len(runs) > 1 else f"{labels[0]} ({runs[0].folder})")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(output, dpi=100, format="png")
    except OSError as exc:
        raise DataError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
    return output


def _pair(metric: str, columns: set[str]) -> list[str]:
    """val_accuracy -> [train_accuracy, val_accuracy] when both are logged; else the metric."""
    base = metric.removeprefix("val_").removeprefix("train_")
    pair = [f"train_{base}", f"val_{base}"]
    return [c for c in pair if c in columns] if metric in pair else [metric]


def _positive(runs: list[RunInfo], names: list[str]) -> bool:
    values = [v for r in runs for n in names for v in r.history.get(n) or [] if v is not None]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def _labels(runs: list[RunInfo]) -> list[str]:
    """The run names, with the folder name added where names repeat."""
    names = [run.name for run in runs]
    return [
        run.name if names.count(run.name) == 1 else f"{run.name}/{run.folder.name}" for run in runs
    ]


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
    from nncli.history import read_metrics

    try:
        history = read_metrics(metrics_csv)
    except (DataError, OSError):
        return []
    return loss_chart(history, unicode=encoding.lower().replace("-", "").startswith("utf"))
