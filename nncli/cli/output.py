"""What the commands print and write: consoles, notes, evaluate's tables and JSON, predict's CSV."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nncli.engine.metrics import UNDEFINED
from nncli.errors import DataError
from nncli.store.model import PREDICT_CHUNK, Model

if TYPE_CHECKING:
    from nncli.training.diagnose import GradcheckRow

err = Console(stderr=True, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def print_notes(notes: Iterable[str]) -> None:
    """Notes on stderr; their text (paths, column names) is not rich markup."""
    for note in notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


def show_evaluation(metrics: dict, classes: list[str] | None, title: str, as_json: bool) -> None:
    """One JSON object on stdout, or the metrics table (with the trivial baseline beside each
    metric) and, when the model has them, the confusion matrix and the per-target table.

    A metric undefined on these rows (UNDEFINED: roc_auc when they hold one class) is null in
    JSON and n/a in the table, with a note; any other non-finite metric is an overflow, an
    error. The JSON's `baseline` maps each metric to the baseline's (null where undefined)."""
    matrix = metrics.pop("confusion_matrix", None)
    baseline = _flat(metrics.pop("baseline", None) or {})
    flat = _flat(metrics)
    for name, value in flat.items():  # JSON has no nan or inf, and neither is a score
        if not math.isfinite(value) and not (name in UNDEFINED and math.isnan(value)):
            raise DataError(
                f"evaluate: the {name} is {value} (it overflows float64): the targets or the "
                "model's outputs are too large"
            )
    print_notes(
        f"{name} is undefined (n/a): these rows hold {UNDEFINED[name]}"
        for name, value in flat.items()
        if math.isnan(value)
    )
    if as_json:
        shown: dict[str, object] = {k: _number(v) for k, v in flat.items()}
        if baseline:
            shown["baseline"] = {k: _number(v) for k, v in baseline.items()}
        sys.stdout.write(json.dumps(shown, allow_nan=False) + "\n")
        return
    table = Table(title=title, caption=_baseline_caption(classes) if baseline else None)
    table.add_column("metric")
    table.add_column("value", justify="right")
    if baseline:
        table.add_column("baseline", justify="right")
    for name, value in metrics.items():
        if name == "per_target":
            continue
        cells = [value] + ([baseline.get(name, math.nan)] if baseline else [])
        table.add_row(name, *(_format(v) for v in cells))
    out.print(table)
    if matrix is not None:
        out.print(_confusion_table(matrix, classes or []))
    per_target = metrics.get("per_target")
    if per_target:
        out.print(_per_target_table(per_target))


def _flat(metrics: dict) -> dict[str, float]:
    """Metric name -> float, each target's metrics as `<metric>_<target>` (as predict's
    `prediction_<target>` columns)."""
    per_target: dict[str, dict[str, float]] = metrics.get("per_target", {})
    flat = {k: float(v) for k, v in metrics.items() if k != "per_target"}
    flat.update({f"{m}_{t}": v for t, row in per_target.items() for m, v in row.items()})
    return flat


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _format(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def _baseline_caption(classes: list[str] | None) -> str:
    if classes is not None:
        return "baseline: a constant guess of the class frequencies (so the majority class)"
    return "baseline: a constant guess of the mean (the training mean with scale_target on)"


def _confusion_table(matrix: np.ndarray, classes: list[str]) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("")
    for label in classes:  # labels are text, not markup
        table.add_column(escape(label), justify="right")
    for label, row in zip(classes, matrix, strict=True):
        table.add_row(escape(label), *(str(int(v)) for v in row))
    return table


def _per_target_table(per_target: dict[str, dict[str, float]]) -> Table:
    table = Table(title="per target (the table above averages over targets)")
    table.add_column("target")
    names = list(next(iter(per_target.values())))
    for name in names:
        table.add_column(name, justify="right")
    for target, row in per_target.items():
        table.add_row(escape(target), *(f"{row[name]:.4f}" for name in names))
    return table


def write_predictions(
    model: Model, chunks: Iterator[np.ndarray], proba: bool, output: Path | None
) -> None:
    """Predict as the input is read; stdout gets all rows or none, --output a whole file or
    nothing (written beside it, then renamed)."""
    header, rows = _streamed_rows(model, chunks, proba)
    if output is None:  # spooled (to disk past 8 MB): a bad row far down prints no rows at all
        with tempfile.SpooledTemporaryFile(8 << 20, "w+", newline="", encoding="utf-8") as spool:
            _write_csv(spool, header, rows)
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        if output.suffix.lower() in (".parquet", ".pq"):
            labels = {"prediction"} if model.task == "classification" else set()
            count = _write_parquet(tmp, header, rows, labels)
        else:
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                count = _write_csv(handle, header, rows)
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
    except BaseException:  # Ctrl-C or SIGTERM while writing: leave no half file behind
        tmp.unlink(missing_ok=True)
        raise
    err.print(f"wrote {count} predictions to {output}", highlight=False, markup=False)


def _streamed_rows(
    model: Model, chunks: Iterator[np.ndarray], proba: bool
) -> tuple[list[str], Iterator[list[list]]]:
    """Header and rows in lists of PREDICT_CHUNK, predicted as the input is read and the
    output written, so memory stays flat for any number of rows. The first chunk is read
    here: a file that does not fit fails before any output is opened."""
    at = getattr(chunks, "at", None)  # iter_features' chunks name the line of a row
    locate = at if callable(at) else (lambda row: f"input row {row + 1}")

    def pieces() -> Iterator[tuple[np.ndarray, Callable[[int], str]]]:
        start = 0
        for x in chunks:
            for i in range(0, len(x), PREDICT_CHUNK):
                yield x[i : i + PREDICT_CHUNK], _offset(locate, start + i)
            start += len(x)

    rest = pieces()
    header, first = _prediction_rows(model, *next(rest), proba)
    return header, chain([first], (_prediction_rows(model, *piece, proba)[1] for piece in rest))


def _offset(locate: Callable[[int], str], start: int) -> Callable[[int], str]:
    return lambda row: locate(start + row)


def _prediction_rows(
    model: Model, x: np.ndarray, at: Callable[[int], str], proba: bool
) -> tuple[list[str], list[list]]:
    """Header and rows for one piece; at(row) names a row whose outputs overflow."""
    values, probabilities = model.decode(model.outputs(x, at), at)
    if probabilities is not None:
        header = ["prediction"]
        columns: list = [values]
        if proba:
            header += [f"proba_{c}" for c in model.classes or []]
            columns += [probabilities[:, j] for j in range(probabilities.shape[1])]
    else:
        targets = model.prep.targets
        header = ["prediction"] if len(targets) == 1 else [f"prediction_{t}" for t in targets]
        columns = [values[:, j] for j in range(values.shape[1])]
    rows = [list(row) for row in zip(*columns, strict=True)]
    return header, [[_cell(v) for v in row] for row in rows]


def _cell(value: object) -> str:
    if isinstance(value, np.floating | float):
        return repr(float(value))
    return str(value)


def _write_csv(handle, header: list[str], chunks: Iterable[list[list]]) -> int:
    """Write the header and the rows; the number of rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for rows in chunks:
        writer.writerows(rows)
        count += len(rows)
    return count


def _write_parquet(
    path: Path, header: list[str], chunks: Iterable[list[list]], labels: set[str]
) -> int:
    """The predictions as a Parquet file, one row group per chunk (memory stays flat); the
    `labels` columns stay text ("3" is a class), the others are float64."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count, writer = 0, None
    try:
        for rows in chunks:
            columns = [
                pa.array(list(col)) if name in labels else _typed(pa.array(list(col)))
                for name, col in zip(header, zip(*rows, strict=True), strict=True)
            ]
            table = pa.table(columns, names=header)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
            count += len(rows)
    finally:
        if writer is not None:
            writer.close()
    return count


def _typed(column: Any) -> Any:
    """Numbers as float64 (probabilities, regression values); labels stay text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.type == pa.string():
        try:
            return pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            return column
    return column


def gradcheck_table(rows: list[GradcheckRow], config: Path, batch_rows: int) -> Table:
    """One row per parameter array: shape, relative error, ok or FAIL."""
    from nncli.training.diagnose import error_is_ok  # diagnose imports the trainer: only when asked

    table = Table(title=f"gradient check of {escape(str(config))} (float64, {batch_rows} rows)")
    table.add_column("parameter")
    table.add_column("shape", justify="right")
    table.add_column("relative error", justify="right")
    table.add_column("")
    for row in rows:
        ok = error_is_ok(row.error)
        verdict = "[green]ok[/green]" if ok else "[bold red]FAIL[/bold red]"
        table.add_row(row.name, "x".join(map(str, row.shape)), f"{row.error:.2e}", verdict)
    return table
