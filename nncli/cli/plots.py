"""Training curves: a PNG of one or several runs (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path

from nncli.errors import DataError, NncliError
from nncli.store.history import RunInfo

INSTALL_HINT = "nncli plot needs matplotlib: pip install 'nncli[plot]' (or pip install matplotlib)"


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
