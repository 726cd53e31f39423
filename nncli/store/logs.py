"""What a run writes as it trains: metrics.csv and gradients.csv rows, summary.json, epoch lines."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from nncli.store.checkpoint import atomic_write


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write, so a reader never sees half a summary."""
    text = json.dumps(data, indent=2, default=float) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


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
        """Keep the rows of epochs up to `epoch` (the resumed checkpoint's); drop later ones
        and a row a kill cut short. Rewritten atomically: a second kill loses nothing."""
        with self.path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = list(csv.reader(handle))
        kept = [self.columns] + [
            r for r in rows[1:] if len(r) == len(self.columns) and _epoch(r[0]) <= epoch
        ]
        buffer = io.StringIO()
        csv.writer(buffer).writerows(kept)
        atomic_write(self.path, lambda handle: handle.write(buffer.getvalue().encode("utf-8")))

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([_cell(row.get(c)) for c in self.columns])


def _epoch(text: str) -> float:
    return int(text) if text.isdigit() else math.inf


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.8g}"  # nan: undefined, as a blank
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
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"  # a metric undefined on the validation rows (or an overflow)
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
