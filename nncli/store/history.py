"""Past runs: find run folders, read their summary and metrics, sort and tabulate them."""

from __future__ import annotations

import csv
import difflib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from nncli.engine.metrics import metric_mode
from nncli.errors import DataError
from nncli.store.run_folder import CHECKPOINTS, METRICS, SUMMARY, RunFolder

RUN_FILES = (SUMMARY, METRICS)  # a run has a record when it has one of these
SORT_KEYS = ("date", "name", "epochs")  # besides metrics.csv columns and test_<metric>


@dataclass
class RunInfo:
    """What `nncli runs` shows of one run folder; `history` holds metrics.csv by column."""

    folder: Path
    name: str
    date: datetime
    epochs: int
    stop_reason: str  # completed | early_stopping | interrupted | diverged | unfinished
    monitor: str | None
    best_epoch: int | None
    best_value: float | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float | None]] = field(default_factory=dict)

    def value(self, metric: str) -> float | None:
        """A metric of the run: test_<m> from the summary; a metrics.csv column at the best
        epoch (the weights checkpoints/best holds), or at the last epoch without one."""
        if metric.startswith("test_") and metric[5:] in self.test_metrics:
            return self.test_metrics[metric[5:]]
        column = self.history.get(metric)
        if not column:
            return None
        epochs = self.history.get("epoch") or []
        if self.best_epoch is not None and self.best_epoch in epochs:
            return column[epochs.index(self.best_epoch)]
        return column[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "date": self.date.isoformat(timespec="seconds"),
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "test_metrics": self.test_metrics,
        }


def is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in RUN_FILES)


def find_runs(root: Path) -> tuple[list[RunInfo], list[str]]:
    """Every run folder under root (root itself may be one), and a note per skipped folder."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (runs go to runs/ below where you train)")
    runs: list[RunInfo] = []
    notes: list[str] = []
    for folder, subfolders, _ in os.walk(root):
        path = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if is_run(path):
            subfolders[:] = []  # checkpoints/ and the like
            try:
                runs.append(read_run(path))
            except DataError as exc:
                notes.append(f"skipped {path}: {exc}")
        elif not subfolders:
            notes.append(f"skipped {path}: not a run (no summary.json or metrics.csv)")
    return runs, notes


def collect_runs(paths: list[Path]) -> list[RunInfo]:
    """Runs named on the command line: run folders, folders of runs, or a run's checkpoint."""
    runs: list[RunInfo] = []
    for path in paths:
        if path.is_file() and path.parent.name == CHECKPOINTS:
            path = path.parent.parent
        if path.is_dir() and is_run(path):
            runs.append(read_run(path))
            continue
        if not path.exists():
            raise DataError(f"{path}: no such run folder")
        found = find_runs(path)[0] if path.is_dir() else []
        if not found:
            raise DataError(f"{path}: not a run folder (no summary.json or metrics.csv)")
        runs.extend(sorted(found, key=lambda r: r.date))
    return runs


def read_run(folder: Path) -> RunInfo:
    """A run from its summary.json (written when training ends) and metrics.csv (per epoch)."""
    run = RunFolder(folder)
    summary = _read_summary(run.summary)
    history = read_metrics(run.metrics)
    epochs_logged = len(history.get("epoch", []))
    stamp = summary.get("finished")
    if stamp:
        date = datetime.fromisoformat(stamp)
    else:
        newest = max((folder / f).stat().st_mtime for f in RUN_FILES if (folder / f).is_file())
        date = datetime.fromtimestamp(newest)
    best_value = summary.get("best_value")
    return RunInfo(
        folder=folder,
        name=summary.get("name") or folder.parent.name,
        date=date,
        epochs=int(summary.get("epochs_run", epochs_logged)),
        stop_reason=summary.get("stop_reason") or "unfinished",
        monitor=summary.get("monitor"),
        best_epoch=summary.get("best_epoch"),
        best_value=None if best_value is None else float(best_value),
        test_metrics={k: float(v) for k, v in (summary.get("test_metrics") or {}).items()},
        history=history,
    )


def _read_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path.name} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path.name} is not a JSON object")
    return data


def read_metrics(path: Path) -> dict[str, list[float | None]]:
    """metrics.csv as columns of numbers (None for an empty cell); {} when there is none."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    try:
        columns = {
            name: [float(r[i]) if r[i] != "" else None for r in body]
            for i, name in enumerate(header)
        }
    except ValueError as exc:
        raise DataError(f"{path.name}: not a metrics log ({exc})") from None
    if "epoch" in columns:
        columns["epoch"] = [int(e) for e in columns["epoch"] if e is not None]
    return columns


def sort_runs(runs: list[RunInfo], key: str) -> list[RunInfo]:
    """Oldest first by date; by name; most epochs first; by a metric, best first (runs that
    lack it last). A metric is a metrics.csv column or test_<metric>."""
    if key == "date":
        return sorted(runs, key=lambda r: r.date)
    if key == "name":
        return sorted(runs, key=lambda r: (r.name, r.date))
    if key == "epochs":
        return sorted(runs, key=lambda r: -r.epochs)
    known = {c for r in runs for c in r.history} | {
        f"test_{m}" for r in runs for m in r.test_metrics
    }
    known -= {"epoch", "lr", "seconds"}
    if key not in known:
        options = [*SORT_KEYS, *sorted(known)]
        close = difflib.get_close_matches(key, options, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"--sort {key}: not a metric of these runs{hint}; try {', '.join(options)}")
    sign = 1.0 if metric_mode(key) == "min" else -1.0

    def order(run: RunInfo) -> tuple[bool, float]:
        value = run.value(key)
        if value is None or math.isnan(value):
            return True, 0.0
        return False, sign * value

    return sorted(runs, key=order)


def table_width(table: Table) -> int:
    """The width a table needs unwrapped, so a piped `nncli runs` is not cut to 80 columns."""
    console = Console(width=10_000)
    return Measurement.get(console, console.options, table).maximum


def runs_table(runs: list[RunInfo], sort: str, cwd: Path) -> Table:
    """The table `nncli runs` prints; a sort metric gets its own column."""
    table = Table(title=f"{len(runs)} run{'s' * (len(runs) != 1)}")
    extra = sort not in SORT_KEYS and any(run.monitor != sort for run in runs)
    for column in ("name", "date", "epochs", "stop", "best", "test"):
        table.add_column(column, justify="right" if column == "epochs" else "left")
    if extra:
        table.add_column(sort, justify="right")
    table.add_column("folder", overflow="fold")
    for run in runs:
        best = "-"
        if run.best_value is not None:
            best = f"{run.monitor} {run.best_value:.4g} @{run.best_epoch}"
        cells = [
            run.name,
            run.date.strftime("%Y-%m-%d %H:%M:%S"),
            str(run.epochs),
            run.stop_reason.replace("_", " "),
            best,
            _test_cell(run.test_metrics),
        ]
        if extra:
            value = run.value(sort)
            cells.append("-" if value is None else f"{value:.4g}")
        cells.append(_shown_path(run.folder, cwd))
        table.add_row(*cells)
    return table


def _test_cell(metrics: dict[str, float]) -> str:
    for name in ("accuracy", "r2", "loss"):
        if name in metrics:
            return f"{name} {metrics[name]:.4g}"
    return "-"


def _shown_path(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)
