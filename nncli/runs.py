"""The run folder: where it goes, metrics.csv and gradients.csv rows, summary.json, epoch lines."""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from nncli.errors import NncliError

RUNS_ROOT = Path("runs")


def safe_name(name: str) -> str:
    """A run name usable as one folder name: no separators, no leading dots."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return cleaned or "run"


def new_run_dir(name: str, run_dir: str | Path | None, root: Path = RUNS_ROOT) -> Path:
    """`runs/<name>/<stamp>/`, or the user's `--run-dir`, which must be new or empty."""
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise NncliError(
                f"--run-dir {path}: exists and is not an empty folder; refusing to overwrite it "
                "(use --resume to continue a run)"
            )
        path.mkdir(parents=True, exist_ok=True)
        return path
    base = root / safe_name(name)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        path = base / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise NncliError(f"{base}: could not create a new run folder")


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write, so a reader never sees half a summary."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=float)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CsvLog:
    """Append-only CSV with a fixed header; flushed per row so a crash loses at most one row."""

    def __init__(self, path: Path, columns: list[str], keep_until_epoch: int | None = None) -> None:
        self.path = path
        self.columns = columns
        if keep_until_epoch is not None and path.exists():
            self._truncate_after(keep_until_epoch)
        else:
            with path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(columns)

    def _truncate_after(self, epoch: int) -> None:
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= epoch]
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(kept)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([_cell(row.get(c)) for c in self.columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)


class EpochPrinter:
    """One line per epoch on stderr, aligned like a table; the same in a TTY and in a log file."""

    def __init__(self, console: Console, columns: list[str], total_epochs: int) -> None:
        self.console = console
        self.columns = columns
        self.width = len(str(total_epochs))
        self.total = total_epochs
        self.header_done = False

    def _widths(self) -> list[int]:
        return [max(len(c), 10) for c in self.columns]

    def row(self, values: dict[str, Any]) -> None:
        widths = self._widths()
        if not self.header_done:
            head = f"{'epoch':>{2 * self.width + 6}}  " + "  ".join(
                f"{c:>{w}}" for c, w in zip(self.columns, widths, strict=True)
            )
            self.console.print(f"[bold]{head}[/bold]", highlight=False, soft_wrap=True)
            self.header_done = True
        cells = []
        for column, w in zip(self.columns, widths, strict=True):
            cells.append(f"{_fmt(column, values.get(column)):>{w}}")
        mark = " [green]*[/green]" if values.get("_best") else ""
        epoch = f"{values['epoch']:>{self.width}}/{self.total}"
        line = f"{'epoch ' + epoch:>{2 * self.width + 6}}  " + "  ".join(cells) + mark
        self.console.print(line, highlight=False, soft_wrap=True)


def _fmt(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "lr":
        return f"{value:.2e}"
    if column == "seconds":
        return f"{value:.2f}s"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
