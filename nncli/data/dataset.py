"""From a data config to a Dataset: read the training file, decide the task and classes,
fit the preprocessing on the training rows, hold out a validation split."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.columns import ColumnPlan, plan_columns
from nncli.data.encoders import Seen
from nncli.data.features import FeatureSet, check_values, transform_column
from nncli.data.files import csv_error
from nncli.data.labels import class_indices, gap_in_numbers, resolve_task, sort_classes
from nncli.data.locate import describe_value
from nncli.data.preprocess import Preprocessor, Where, apply_scaling, fit_scaling
from nncli.data.read import RawData, label_texts, read_features, read_raw
from nncli.data.values import BrokenText, is_missing
from nncli.errors import DataError


@dataclass(frozen=True)
class Split:
    """Model-ready arrays: x (n, f); y int64 class indices (n,) or regression targets (n, k)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Dataset:
    """Train, optional validation and test splits, and the preprocessor fit on train."""

    train: Split
    val: Split | None
    test: Split | None
    prep: Preprocessor
    notes: tuple[str, ...] = ()  # e.g. rows dropped for missing values (data.missing: drop)
    columns: tuple[ColumnPlan, ...] = ()  # each column's type and why, for the report


def load_dataset(cfg: Any, rng: np.random.Generator, dtype: Any = np.float32) -> Dataset:
    """Read train (and validation/test) files; rng is used only for a held-out validation split.
    (A value with a line break or NUL byte: the training file is read again to name its line.)
    """
    try:
        return _load(cfg, rng, dtype)
    except BrokenText as exc:
        raise csv_error(cfg.train, cfg.delimiter, exc) from None


def _load(cfg: Any, rng: np.random.Generator, dtype: Any) -> Dataset:
    """The Dataset of load_dataset.

    Column types are decided (or taken from the config) and the transforms fit on the
    training rows only; the inputs are made a block of rows at a time and scaled into one
    array of the training dtype, training rows first (the validation rows after them, both
    views of it), the float64 blocks dropped as that array grows.
    """
    v = cfg.validation
    held_out = isinstance(v, int | float) and not isinstance(v, bool)
    _check_paths({"data.train": cfg.train, "data.validation": None if held_out else v}, cfg.test)
    targets = [cfg.target] if isinstance(cfg.target, str) else list(cfg.target)
    notes: list[str] = []
    raw = read_raw(
        cfg.train,
        targets,
        cfg.features,
        labels_as_text=len(targets) == 1 and cfg.task != "regression",
        delimiter=cfg.delimiter,
        missing=cfg.missing,
        notes=notes,
        exclude=getattr(cfg, "exclude", ()),
    )
    strict = cfg.missing == "error"
    plans = plan_columns(raw.frame, targets, cfg.features, [], strict)
    plans = [_with_defaults(cfg, p) for p in plans]
    if not any(p.used for p in plans):
        raise DataError(f"{raw.path}: no usable feature column: {_why_not(plans)}")
    if strict:  # a bad value is named before the targets are (else when the column is fit)
        check_values(raw.frame, plans, raw.locate)
    notes += stray_notes(raw, plans)
    task, classes, y = _targets(cfg, raw, targets)
    rows = order = None
    if held_out:
        strata = y if classes is not None else None
        rows, val_rows = split_indices(len(y), float(v), rng, strata, raw.path)
        order = np.concatenate([rows, val_rows])
    used = [*raw.features, *targets]
    columns, x, x_stats = _column_inputs(plans, raw, rows, order, dtype, cfg, used)
    prep = Preprocessor.fit(
        raw.features if cfg.features is not None else columns.names,
        targets,
        task,
        classes,
        [],
        y=y,
        scale_target=cfg.scale_target,
        dtype=dtype,
        rows=rows,
        source=raw.path,
        columns=columns,
        x_stats=x_stats,
    )
    if classes is None:
        y = prep.encode_y(y, _locator(cfg, raw.path, targets, used))
    if order is not None:
        y = y[order]
    n_train = len(y) if rows is None else len(rows)
    val = Split(x[n_train:], y[n_train:]) if held_out else _read_split(cfg, v, prep, notes)
    test = _read_split(cfg, cfg.test, prep, notes)
    train = Split(x[:n_train], y[:n_train])
    return Dataset(train, val, test, prep, tuple(notes), tuple(plans))


def _with_defaults(cfg: Any, plan: ColumnPlan) -> ColumnPlan:
    """A column's options: the config's defaults for its type, then its own."""
    if plan.type == "numeric":
        numeric = getattr(cfg, "numeric", None)
        defaults = {
            "scale": getattr(numeric, "scale", None) or cfg.scale,
            # error and drop: the model never saw a gap, so one at predict time is an error
            "impute": getattr(numeric, "impute", "median") if cfg.missing == "impute" else "error",
            "fill_value": getattr(numeric, "fill_value", 0.0),
        }
    elif plan.type in ("categorical", "binary"):
        categorical = getattr(cfg, "categorical", None)
        defaults = {
            "min_frequency": getattr(categorical, "min_frequency", 1),
            "max_categories": getattr(categorical, "max_categories", 1000),
            "encoding": getattr(categorical, "encoding", "auto"),
        }
    else:
        return plan
    return replace(plan, options={**defaults, **plan.options})


def stray_notes(raw: RawData, plans: list[ColumnPlan]) -> list[str]:
    """Texts in a column of numbers, read as missing: named with their lines, never silent."""
    notes = []
    for plan in plans:
        if not plan.strays or plan.options.get("impute") == "error":
            continue
        texts = label_texts(raw.frame.column(plan.name))
        rows = [k for k, text in enumerate(texts) if text in plan.strays]
        lines = ", ".join(raw.locate.lines(rows[:3]))
        more = ", ..." if len(rows) > 3 else ""
        values = ", ".join(repr(s) for s in plan.strays)
        notes.append(
            f"{raw.path}: column {plan.name!r} holds numbers and {len(rows)} text value(s) "
            f"({values}; line {lines}{more}), read as missing values"
        )
    return notes


def _why_not(plans: list[ColumnPlan]) -> str:
    return "; ".join(f"{p.name!r}: {p.reason}" for p in plans[:5]) or "none"


def _check_paths(files: dict[str, Any], test: Any) -> None:
    """A data path that is missing, empty or a folder is named by its key before anything
    is read."""
    for key, path in {**files, "data.test": test}.items():
        if path is None or (path and Path(path).exists() and not Path(path).is_dir()):
            continue  # a file, or a pipe
        if not path:
            raise DataError(f"{key}: an empty path; give a CSV file")
        what = "is a directory, not a CSV file" if Path(path).is_dir() else "no such file"
        raise DataError(f"{key}: {path}: {what}")


def _targets(cfg: Any, raw: RawData, targets: list[str]) -> tuple[str, list[str] | None, Any]:
    """The task, the classes (classification) and y: class indices, or float64 values."""
    labels = raw.labels
    if cfg.task == "auto" and labels is not None:
        gap = gap_in_numbers(labels)
        if gap is not None:
            used = [*raw.features, *targets]  # the columns data.missing: drop looks at
            where = describe_value(raw.path, gap, targets[0], cfg.delimiter, cfg.missing, used)
            drop = ", leave it out with data.missing: drop" if is_missing(labels[gap]) else ""
            raise DataError(
                f"{where} is not a finite number, in a target whose other values are numbers: "
                f"fix the row{drop}, or set data.task"
            )
    task = resolve_task(cfg.task, targets, labels)
    if labels is None:
        return task, None, raw.values
    if task != "classification":  # task auto found numbers only: a regression target
        return task, None, np.asarray([float(v) for v in labels], dtype=np.float64).reshape(-1, 1)
    if "" in labels:
        raise DataError(f"{raw.locate(labels.index(''))}: column {targets[0]!r}: missing value")
    classes = sort_classes(set(labels))
    if len(classes) < 2:
        raise DataError(f"{raw.path}: target {targets[0]!r} has a single class {classes}")
    y, _ = class_indices(classes, labels)  # every label is a class ("1.0" is "1")
    return task, classes, y


def _locator(cfg: Any, path: str, columns: list[str], used: list[str]) -> Where:
    """Names the file, line and value of (row, column) of the training file, for an error;
    `used` are the columns data.missing: drop looked at."""
    return lambda row, j: describe_value(path, row, columns[j], cfg.delimiter, cfg.missing, used)


def _read_split(cfg: Any, path: Any, prep: Preprocessor, notes: list[str]) -> Split | None:
    """A validation or test file, read with the training preprocessing (None: no such split)."""
    if not path or not isinstance(path, str | Path):
        return None
    x, y = read_features(
        str(path), prep, cfg.delimiter, need_target=True, missing=cfg.missing, notes=notes
    )
    assert y is not None  # need_target: the targets are read and encoded
    return Split(x, y)


def split_indices(
    n: int,
    fraction: float,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
    path: str = "the training data",
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation row indices: fraction * rows (rounded half up) held out;
    with strata, that many of each class, always leaving a class at least one row in train.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}")
    if strata is None:
        n_val = min(_round(n * fraction), n - 1)
        val = rng.permutation(n)[:n_val]
    else:
        parts = []
        for c in np.unique(strata):
            members = np.flatnonzero(strata == c)
            k = min(_round(len(members) * fraction), len(members) - 1)
            parts.append(rng.permutation(members)[:k])
        val = np.concatenate(parts)
    if len(val) == 0:
        raise DataError(
            f"{path}: too few rows ({n}) to hold out a validation fraction of {fraction}; "
            "use more rows, a larger fraction, a validation CSV or validation: null"
        )
    mask = np.zeros(n, dtype=bool)
    mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _column_inputs(
    plans: list[ColumnPlan],
    raw: RawData,
    rows: np.ndarray | None,
    order: np.ndarray | None,
    dtype: Any,
    cfg: Any,
    used: list[str],
) -> tuple[FeatureSet, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The column transforms fit on the training rows, and the scaled inputs of every row in
    one array of the training dtype (row order[i] at position i), made a column at a time:
    a column's float64 inputs are scaled in place and copied in, so no float64 copy of the
    whole data ever exists. Also returns the inputs' (offset, scale) statistics."""
    columns = FeatureSet.fit(raw.frame, plans, raw.locate, rows)
    out = np.empty((raw.frame.num_rows, len(columns.inputs)), dtype=dtype)
    offsets, spreads = [], []
    start, seen = 0, Seen()  # gaps in training rows are what the imputation was fit on
    scales = columns.scales
    for column in columns.columns:
        block = transform_column(column, raw.frame, seen, raw.locate)
        part = slice(start, start + block.shape[1])
        place = _locator(cfg, raw.path, [column.name] * block.shape[1], used)
        offset, spread = fit_scaling(block, scales[part], rows, raw.path, column.inputs)
        scaled = apply_scaling(block, offset, spread, dtype, place, column.inputs)
        out[:, part] = scaled if order is None else scaled[order]
        offsets.append(offset)
        spreads.append(spread)
        start = part.stop
    return columns, out, (np.concatenate(offsets), np.concatenate(spreads))


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half up, not Python's banker's rounding
