"""A sweep's records: trials.csv (written atomically, read back to resume), ranking, best.yaml."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from nncli.config.load import dump_yaml
from nncli.errors import ConfigError
from nncli.store.run_folder import RunFolder
from nncli.sweep.config import Run, Sweep

RUNS = "runs"  # the run folders, inside the sweep's output folder
TABLE_ROWS = 20


def cell(value: Any, none: str = "") -> str:
    """A CSV cell: text as is, numbers as Python writes them, lists and mappings as JSON."""
    if value is None:
        return none
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


class Ledger:
    """One row per run (trial x seed); status pending | ok | failed | cancelled.

    Reading an existing trials.csv keeps the `ok` rows whose run folder holds the very config
    the sweep gives now, so re-running a sweep skips what is done and redoes the rest.
    """

    def __init__(self, out: Path, sweep: Sweep) -> None:
        self.out = out
        self.path = out / "trials.csv"
        self.sweep = sweep
        self.columns = [
            "trial",
            *sweep.parameters,
            "seed",
            sweep.metric,
            "best_epoch",
            "status",
            "seconds",
            "worker",
            "run_dir",
            "error",
        ]
        self.rows: dict[tuple[int, int], dict[str, str]] = {}
        for run in sweep.runs:
            row = {c: "" for c in self.columns}
            row.update({k: cell(v, "null") for k, v in run.params.items()})
            row.update(trial=str(run.trial), seed=str(run.seed), status="pending")
            row["run_dir"] = f"{RUNS}/{run.folder}"
            self.rows[(run.trial, run.seed)] = row
        self.skipped = self._read_finished() if self.path.exists() else 0

    def _read_finished(self) -> int:
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != self.columns:
                raise ConfigError(
                    f"{self.path}: written by a sweep with other parameters or metric "
                    f"(columns {reader.fieldnames}); use another --out for this sweep"
                )
            old = list(reader)
        runs = {(run.trial, run.seed): run for run in self.sweep.runs}
        skipped = 0
        for row in old:
            key = (int(row["trial"]), int(row["seed"]))
            if row["status"] != "ok" or key not in runs:
                continue
            saved = RunFolder(self.out / row["run_dir"]).config
            if not saved.is_file():
                continue  # the run folder is gone: run it again
            if saved.read_text(encoding="utf-8") != dump_yaml(runs[key].config):
                raise ConfigError(
                    f"{saved}: trial {key[0]} seed {key[1]} ran with another config than the "
                    "sweep file gives now; use another --out for the changed sweep"
                )
            self.rows[key] = {c: row[c] for c in self.columns}
            skipped += 1
        return skipped

    def todo(self) -> list[Run]:
        return [
            run for run in self.sweep.runs if self.rows[(run.trial, run.seed)]["status"] != "ok"
        ]

    def record(self, run: Run, result: dict[str, Any]) -> dict[str, str]:
        row = self.rows[(run.trial, run.seed)]
        metric = result.get("metric")
        row.update(
            {
                self.sweep.metric: "" if metric is None else f"{metric:.8g}",
                "best_epoch": cell(result.get("best_epoch")),
                "status": result["status"],
                "seconds": f"{result.get('seconds') or 0.0:.2f}",
                "worker": result.get("worker") or "",
                "error": " ".join(str(result.get("error") or "").split()),
            }
        )
        if not (self.out / f"{RUNS}/{run.folder}").is_dir():
            row["run_dir"] = ""  # failed before training started
        return row

    def cancel_pending(self) -> int:
        pending = [row for row in self.rows.values() if row["status"] == "pending"]
        for row in pending:
            row["status"] = "cancelled"
        return len(pending)

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.rows.values())

    def write(self) -> None:
        """Atomically, so an interrupted sweep leaves a whole trials.csv."""
        self.out.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[(run.trial, run.seed)] for run in self.sweep.runs)
        fd, tmp = tempfile.mkstemp(dir=self.out, prefix=".trials-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


@dataclass
class Ranked:
    """A trial's results over its seeds."""

    trial: int
    params: dict[str, Any]
    values: list[float]  # the metric of its finished seeds
    seeds: int
    best_epochs: list[str]
    best_run: Run | None  # its finished seed with the best metric

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def rank(sweep: Sweep, ledger: Ledger) -> list[Ranked]:
    """Best first by the mean over seeds; trials with a failed or missing seed come after."""
    sign = 1.0 if sweep.mode == "min" else -1.0
    trials: dict[int, Ranked] = {}
    best_value: dict[int, float] = {}
    for run in sweep.runs:
        row = ledger.rows[(run.trial, run.seed)]
        entry = trials.setdefault(run.trial, Ranked(run.trial, run.params, [], 0, [], None))
        entry.seeds += 1
        if row["status"] != "ok" or not row[sweep.metric]:
            continue
        value = float(row[sweep.metric])
        if math.isnan(value):
            continue
        entry.values.append(value)
        entry.best_epochs.append(row["best_epoch"])
        if run.trial not in best_value or sign * value < sign * best_value[run.trial]:
            best_value[run.trial], entry.best_run = value, run

    def key(entry: Ranked) -> tuple:
        complete = len(entry.values) == entry.seeds
        return (not entry.values, not complete, sign * entry.mean if entry.values else 0.0)

    return sorted(trials.values(), key=key)


def write_best(out: Path, sweep: Sweep, best: Ranked) -> Path:
    """best.yaml: the resolved config of the best trial (its best seed), ready for `train`."""
    assert best.best_run is not None
    shown = ", ".join(f"{k}={cell(v, 'null')}" for k, v in best.params.items())
    header = (
        f"# best trial {best.trial} of sweep {sweep.name}: {sweep.metric} {best.mean:.6g} "
        f"(mean over {len(best.values)} of {best.seeds} seeds, {sweep.mode} is better)\n"
        f"# parameters: {shown}\n"
    )
    path = out / "best.yaml"
    tmp = path.with_name(".best.yaml.tmp")
    tmp.write_text(header + dump_yaml(best.best_run.config), encoding="utf-8")
    tmp.replace(path)
    return path


def ranking_table(sweep: Sweep, ranked: list[Ranked], ledger: Ledger) -> Table:
    arrow = "lower" if sweep.mode == "min" else "higher"
    table = Table(title=f"sweep {sweep.name}: {sweep.metric}, mean over seeds ({arrow} is better)")
    table.add_column("rank", justify="right", overflow="fold")
    table.add_column("trial", justify="right")
    for name in sweep.parameters:
        table.add_column(name, justify="right", overflow="fold")
    table.add_column(sweep.metric, justify="right", overflow="fold", min_width=9)
    if len(sweep.seeds) > 1:
        table.add_column("± std", justify="right")
    table.add_column("seeds ok", justify="right")
    table.add_column("best epoch", justify="right")
    for place, entry in enumerate(ranked[:TABLE_ROWS], start=1):
        cells = [str(place) if entry.values else "-", str(entry.trial)]
        cells += [cell(entry.params[name], "null") for name in sweep.parameters]
        cells.append(f"{entry.mean:.4f}" if entry.values else _status_of(entry, ledger))
        if len(sweep.seeds) > 1:
            cells.append(f"{entry.std:.4f}" if len(entry.values) > 1 else "-")
        cells += [f"{len(entry.values)}/{entry.seeds}", " ".join(entry.best_epochs) or "-"]
        table.add_row(*cells)
    if len(ranked) > TABLE_ROWS:
        table.caption = f"top {TABLE_ROWS} of {len(ranked)} trials; all of them in trials.csv"
    return table


def _status_of(entry: Ranked, ledger: Ledger) -> str:
    statuses = {row["status"] for (trial, _), row in ledger.rows.items() if trial == entry.trial}
    return "/".join(sorted(statuses))
