"""What a run logs and says: its metric columns, header lines, batch bar, gradient warnings,
summary.json and closing lines."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nncli.data.columns import ColumnPlan
from nncli.data.dataset import Dataset, Split
from nncli.engine.metrics import SCORES, UNDEFINED, unknown_metric
from nncli.errors import ConfigError
from nncli.store.model import Model
from nncli.store.run_folder import RunFolder
from nncli.training.charts import loss_chart_file
from nncli.training.health import health_warnings
from nncli.training.state import RunState


def metric_columns(task: str, has_val: bool) -> list[str]:
    """The columns of metrics.csv after `epoch`: training, then validation, then lr and time."""
    classification = task == "classification"
    names = ["train_loss"] + (["train_accuracy"] if classification else [])
    if has_val:
        names += ["val_loss"] + [f"val_{m}" for m in SCORES[task]]
    return [*names, "lr", "seconds"]


def check_monitor(name: str, columns: list[str], key: str) -> None:
    """A monitored name must be a logged metric, checked before any work starts."""
    if name not in columns or name in ("lr", "seconds"):
        options = [c for c in columns if c not in ("lr", "seconds")]
        intro = f"{key}: '{name}' is not a logged metric"
        raise ConfigError(unknown_metric(name, options, intro, "logged"))


def display_columns(columns: list[str], monitor: str) -> list[str]:
    """The few columns the epoch lines show (metrics.csv has them all), the monitor always."""
    wanted = ["train_loss", "val_loss", "val_accuracy", "val_f1_macro", "val_rmse", "val_r2"]
    shown = [c for c in wanted if c in columns]
    if monitor not in shown:
        shown.append(monitor)
    return [*shown, "lr", "seconds"]


def print_header(
    console: Console,
    folder: RunFolder,
    description: str,
    notes: list[str],
    columns: tuple[ColumnPlan, ...] = (),
) -> None:
    """The run folder, what is trained on what, the columns' types when some are not plain
    numbers, and the notes (data, resume) under it."""
    console.print(f"[bold]nncli[/bold] run {escape(str(folder))}", highlight=False, soft_wrap=True)
    console.print(f"  {escape(description)}", highlight=False, soft_wrap=True)
    if any(p.type != "numeric" or p.missing or p.strays for p in columns):
        console.print(columns_table(columns))
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


def columns_table(plans: tuple[ColumnPlan, ...] | list[ColumnPlan]) -> Table:
    """Each column's type and why: what `init` and `train` show before any work."""
    table = Table(title="columns", title_justify="left", box=None, pad_edge=False)
    for name, justify in [("column", "left"), ("type", "left"), ("distinct", "right")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("missing", justify="right")
    table.add_column("why", overflow="fold")
    for p in plans:
        style = "dim" if not p.used else ""
        kind = p.type if p.used else "left out"
        table.add_row(
            escape(p.name), kind, str(p.distinct), f"{100 * p.missing:.1f}%", escape(p.reason),
            style=style,
        )  # fmt: skip
    return table


def describe_run(data: Dataset, model: Model) -> str:
    """`classification, 3 classes, 4 features; rows: train 120, val 30; 67 parameters; ...`"""
    prep = data.prep
    sizes = f"train {len(data.train.x)}"
    sizes += f", val {len(data.val.x)}" if data.val else ""
    sizes += f", test {len(data.test.x)}" if data.test else ""
    what = f"{len(prep.classes)} classes" if prep.classes else f"{len(prep.targets)} target(s)"
    return (
        f"{prep.task}, {what}, {_features(prep)}; rows: {sizes}; "
        f"{_parameters(model)} parameters; "
        f"{model.out.activation['name']} + {model.out.loss['name']}"
    )


def _parameters(model: Model) -> int:
    return int(sum(p.value.size for p in model.network.parameters()))


def summarize(
    folder: RunFolder,
    stop_reason: str,
    run: RunState,
    model: Model,
    test: Split | None,
    seconds: float,
) -> dict[str, Any]:
    """summary.json: how the run ended, its best epoch, and the final model's test metrics
    (not after a divergence)."""
    stopping = run.stopping
    summary: dict[str, Any] = {
        "name": model.config.name,
        "run_dir": str(folder),
        "stop_reason": stop_reason,
        "signal": run.signal,
        "epochs_run": run.epoch,
        "monitor": stopping.monitor,
        "mode": stopping.mode,
        "best_epoch": stopping.best_epoch or None,
        "best_value": stopping.best,
        "parameters": _parameters(model),
        "seconds": round(seconds, 3),
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    if run.resumes:
        summary["resumes"] = run.resumes
    if test is not None and stop_reason != "diverged":
        metrics = model.evaluate_arrays(test.x, test.y)  # under Trainer.run's errstate
        cm = metrics.pop("confusion_matrix", None)
        # A test row that overflows the network makes a metric nan: JSON null, not NaN (which
        # is not JSON); `nncli evaluate` then names the row.
        summary["test_metrics"] = {
            k: float(v) if math.isfinite(v) else None for k, v in metrics.items()
        }
        if cm is not None:
            summary["test_confusion_matrix"] = np.asarray(cm).tolist()
    return summary


def print_report(console: Console, folder: RunFolder, summary: dict[str, Any]) -> None:
    """The closing lines: why it stopped, the best epoch, test metrics, the loss chart."""
    reason = summary["stop_reason"].replace("_", " ")
    best = summary["best_epoch"]
    text = f"[bold]done[/bold] ({reason}) after {summary['epochs_run']} epochs"
    if best:
        text += f"; best epoch {best}: {summary['monitor']} = {summary['best_value']:.4f}"
    elif summary["epochs_run"]:
        text += f"; no best epoch: {summary['monitor']} had no value (n/a) in any epoch"
    if reason != "diverged":  # the error line says it all
        console.print(text, highlight=False, soft_wrap=True)
    if "test_metrics" in summary:
        metrics = summary["test_metrics"]
        shown = ", ".join(f"{k} n/a" if v is None else f"{k} {v:.4f}" for k, v in metrics.items())
        console.print(f"test: {escape(shown)}", highlight=False, soft_wrap=True)
        for name in (k for k, v in metrics.items() if v is None and k in UNDEFINED):
            console.print(
                f"[yellow]note:[/yellow] {name} is undefined (n/a): the test rows hold "
                f"{UNDEFINED[name]}",
                highlight=False,
                soft_wrap=True,
            )
        if any(v is None and k not in UNDEFINED for k, v in metrics.items()):
            console.print(
                "[yellow]warning:[/yellow] some test metrics are not finite (n/a): a test row "
                "overflows the network; `nncli evaluate` on the run names it",
                highlight=False,
                soft_wrap=True,
            )
    for line in loss_chart_file(folder.metrics, console.encoding):
        console.print(escape(line), highlight=False, soft_wrap=True)
    console.print(f"run folder: {escape(str(folder))}", highlight=False, soft_wrap=True)


def _features(prep: Any) -> str:
    """`12 features`, and the network's inputs when one-hot levels or gap flags add some."""
    text = f"{len(prep.features)} features"
    return text if prep.n_inputs == len(prep.features) else f"{text} ({prep.n_inputs} inputs)"


@contextmanager
def batch_progress(
    console: Console, label: str, n_batches: int
) -> Iterator[Callable[[int], None] | None]:
    """A live batch bar while a terminal watches (erased when the epoch's line prints), fed
    by the yielded tick(done); None when output goes to a file, so logs hold one line per
    epoch."""
    if not console.is_terminal or console.quiet:
        yield None
        return
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("train", total=n_batches)
    with progress:
        yield lambda done: progress.update(task, completed=done)


def print_gradients(
    console: Console, epoch: int, rows: list[dict[str, Any]], warned: set[str], verbose: bool
) -> None:
    """With --verbose, each layer's gradient norm; a health warning once per kind and run
    (`warned` holds the kinds already said)."""
    if verbose:
        norms = ", ".join(f"{r['layer']} {r['grad_norm']:.2e}" for r in rows)
        console.print(f"  gradient norms: {norms}", highlight=False, soft_wrap=True)
    for kind, message in health_warnings(rows):
        if kind not in warned:
            warned.add(kind)
            console.print(f"[yellow]warning:[/yellow] epoch {epoch}: {message}")


def print_undefined(
    console: Console, row: dict[str, float], said: set[str], watched: dict[str, str], why: str
) -> None:
    """One line the first time a logged metric has no finite value (n/a on the epoch lines,
    blank in metrics.csv), saying why: `why` for the metrics some rows leave undefined
    (UNDEFINED: ROC AUC of one class), else an overflow. A warning when early stopping or the
    plateau schedule watches it (`watched`: metric -> what its epochs without a value mean);
    `said` holds the metrics already named. Never a divergence: that is the losses' and the
    weights' to tell (BatchLoop.check_finite)."""
    for name, value in row.items():
        if name in said or math.isfinite(value):
            continue
        said.add(name)
        if name.removeprefix("val_") in UNDEFINED:
            text = f"{name} is undefined (n/a): {why}"
        else:
            text = f"{name} is {value} (n/a): it overflows float64 on the validation rows"
        kind = "[yellow]warning:[/yellow]" if name in watched else "[yellow]note:[/yellow]"
        if name in watched:
            text += f"; {watched[name]}"
        console.print(f"{kind} {escape(text)}", highlight=False, soft_wrap=True)
