"""From a data config to a Dataset: read the training file, decide the task and classes,
fit the preprocessing on the training rows, hold out a validation split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.labels import class_indices, gap_in_numbers, resolve_task, sort_classes
from nncli.data.preprocess import Preprocessor, Where
from nncli.data.read import RawData, describe_value, read_features, read_raw
from nncli.data.values import is_missing
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


def load_dataset(cfg: Any, rng: np.random.Generator, dtype: Any = np.float32) -> Dataset:
    """Read train (and validation/test) files; rng is used only for a held-out validation split.

    The training file is read chunk by chunk into float64 blocks, which are then scaled one by
    one into a single array of the training dtype, training rows first (the validation
    rows after them, both views of it): the file's text is never held whole, and the float64
    blocks shrink as that array grows.
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
    )
    task, classes, y = _targets(cfg, raw, targets)
    rows = order = None
    if held_out:
        strata = y if classes is not None else None
        rows, val_rows = split_indices(len(y), float(v), rng, strata, raw.path)
        order = np.concatenate([rows, val_rows])
    parts = raw.x.take()
    prep = Preprocessor.fit(
        raw.features,
        targets,
        task,
        classes,
        parts,
        scale=cfg.scale,
        y=y,
        scale_target=cfg.scale_target,
        dtype=dtype,
        rows=rows,
        source=raw.path,
    )
    used = [*raw.features, *targets]
    x = _assemble(parts, prep, order, _locator(cfg, raw.path, raw.features, used))
    if classes is None:
        y = prep.encode_y(y, _locator(cfg, raw.path, targets, used))
    if order is not None:
        y = y[order]
    n_train = len(y) if rows is None else len(rows)
    val = Split(x[n_train:], y[n_train:]) if held_out else _read_split(cfg, v, prep, notes)
    test = _read_split(cfg, cfg.test, prep, notes)
    return Dataset(Split(x[:n_train], y[:n_train]), val, test, prep, tuple(notes))


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


def _assemble(
    parts: list[np.ndarray], prep: Preprocessor, order: np.ndarray | None, place: Where
) -> np.ndarray:
    """Raw float64 row blocks -> one scaled array of the training dtype, row order[i] at
    position i. Each block is scaled in place a few MB at a time and dropped once copied, so
    the float64 rows shrink as the result grows. place(row, column) names a value too large
    for that dtype, by its row in the file."""
    n, width = sum(len(p) for p in parts), len(prep.features)
    out = np.empty((n, width), dtype=prep.dtype)
    where = None if order is None else np.argsort(order)  # the inverse permutation
    step = max(1, (2 << 20) // (8 * width))
    start = 0
    for i in range(len(parts)):
        part, parts[i] = parts[i], None  # type: ignore[call-overload]
        block = part[:0]
        for lo in range(0, len(part), step):
            block = prep.scale_x(part[lo : lo + step], _shifted(place, start))
            end = start + len(block)
            out[slice(start, end) if where is None else where[start:end]] = block
            start = end
        del part, block  # the last references: the slab goes back to the system
    return out


def _shifted(place: Where, start: int) -> Where:
    return lambda row, j: place(start + row, j)


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half up, not Python's banker's rounding
