"""From a data config to arrays: reading the CSVs, task inference, the validation split."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.csvio import MISSING, Table, read_chunks
from nncli.data.preprocess import Preprocessor, Where, class_indices, is_number
from nncli.data.slabs import Slabs
from nncli.errors import DataError

MAX_AUTO_CLASSES = 20  # task: auto treats at most this many distinct integers as classes


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
    """Read train (and validation/test) CSVs; rng is used only for a held-out validation split.

    The training CSV is read chunk by chunk into float64 blocks, which are then scaled one by
    one into a single array of the training dtype, training rows first (the validation
    rows after them, both views of it): the file's text is never held whole, and the float64
    blocks shrink as that array grows.
    """
    v = cfg.validation
    held_out = isinstance(v, int | float) and not isinstance(v, bool)
    files = {"data.train": cfg.train, "data.validation": None if held_out else v}
    for key, path in {**files, "data.test": cfg.test}.items():
        if path is None or (path and Path(path).exists() and not Path(path).is_dir()):
            continue  # a file, or a pipe
        if not path:
            raise DataError(f"{key}: an empty path; give a CSV file")
        what = "is a directory, not a CSV file" if Path(path).is_dir() else "no such file"
        raise DataError(f"{key}: {path}: {what}")  # before reading anything, naming the key
    targets = [cfg.target] if isinstance(cfg.target, str) else list(cfg.target)
    one_label = len(targets) == 1 and cfg.task != "regression"
    notes: list[str] = []
    raw = read_raw(cfg.train, targets, cfg.features, one_label, cfg.delimiter, cfg.missing, notes)
    features, labels = raw.features, raw.labels
    if cfg.task == "auto" and labels is not None:
        gap = _gap_in_numbers(labels)
        if gap is not None:
            used = [*features, *targets]  # the columns data.missing: drop looks at
            where = describe_value(raw.path, gap, targets[0], cfg.delimiter, cfg.missing, used)
            missing = labels[gap].strip().lower() in MISSING  # else inf, 1e400, 1_000
            drop = ", leave it out with data.missing: drop" if missing else ""
            raise DataError(
                f"{where} is not a finite number, in a target whose other values are numbers: "
                f"fix the row{drop}, or set data.task"
            )
    task = _resolve_task(cfg.task, targets, labels)
    classes = None
    if labels is not None and task == "classification":
        classes = sort_classes(set(labels))
        if len(classes) < 2:
            raise DataError(f"{raw.path}: target {targets[0]!r} has a single class {classes}")
        y, _ = class_indices(classes, labels)  # every label is a class ("1.0" is "1")
    elif labels is not None:  # task auto found numbers only: a regression target
        y = np.asarray([float(v) for v in labels], dtype=np.float64).reshape(-1, 1)
    else:
        y = raw.values
    rows = order = None
    if held_out:
        strata = y if classes is not None else None
        rows, val_rows = split_indices(len(y), float(v), rng, strata, raw.path)
        order = np.concatenate([rows, val_rows])
    parts = raw.x.take()
    prep = Preprocessor.fit(
        features,
        targets,
        task,
        classes,
        parts,
        cfg.scale,
        y,
        cfg.scale_target,
        dtype,
        rows,
        raw.path,
    )
    names = [*features, *targets]

    def where(columns: list[str]) -> Where:
        return lambda row, j: describe_value(
            raw.path, row, columns[j], cfg.delimiter, cfg.missing, names
        )

    x = _assemble(parts, prep, order, where(features))
    if classes is None:
        y = prep.encode_y(y, where(targets))
    if order is not None:
        y = y[order]
    n_train = len(y) if rows is None else len(rows)
    train = Split(x[:n_train], y[:n_train])
    if held_out:
        val = Split(x[n_train:], y[n_train:])
    elif v:
        val = Split(*read_features(str(v), prep, cfg.delimiter, True, cfg.missing, notes))
    else:
        val = None
    test = (
        Split(*read_features(cfg.test, prep, cfg.delimiter, True, cfg.missing, notes))
        if cfg.test
        else None
    )
    return Dataset(train, val, test, prep, tuple(notes))


@dataclass
class RawData:
    """A training CSV as read: the features as float64 rows, the target as text (one label
    column, for classes or task: auto) or as numbers (n, targets)."""

    path: str
    features: list[str]
    x: Slabs
    labels: list[str] | None
    values: np.ndarray | None


def read_raw(
    path: str | Path,
    targets: list[str],
    features: list[str] | None,
    labels_as_text: bool,
    delimiter: str = ",",
    missing: str = "error",
    notes: list[str] | None = None,
) -> RawData:
    """Read a training CSV chunk by chunk: features by name (None: every other column),
    checked, as float64; with missing="drop", a note about the rows left out."""
    chunks = read_chunks(path, delimiter)
    first = next(chunks)
    for t in targets:
        first.index(t, "target column")
    features = _feature_names(first, features, targets)
    x = Slabs(len(features))
    labels: list[str] = []
    values: list[np.ndarray] = []
    dropped: list[int] = []
    for table in chain([first], chunks):
        if missing == "drop":
            table = _without_missing(table, [*features, *targets], dropped)
        if not len(table):
            continue
        x.append(table.values(features))  # cast to float64 on the copy
        if labels_as_text:
            labels += table.texts(targets[0])
        else:
            values.append(table.numbers(targets))
    _note_dropped(first.path, dropped, len(x), notes)
    if labels_as_text:
        return RawData(first.path, features, x, labels, None)
    return RawData(first.path, features, x, None, np.concatenate(values))


def read_features(
    path: str | Path,
    prep: Preprocessor,
    delimiter: str = ",",
    need_target: bool = False,
    missing: str = "error",
    notes: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scaled features taken by name (any column order, extra columns ignored) and encoded
    targets when need_target; without it the target columns may be present or absent.

    Rows come back in file order, one per non-blank data line, so len(x) is the row count;
    with missing="drop" (labelled data only), rows with a missing value are left out and
    a line about them is appended to `notes`.
    """
    x = Slabs(len(prep.features), prep.dtype)
    if not need_target:
        for block in iter_features(path, prep, delimiter):
            x.append(block)
        return x.array(), None
    chunks = read_chunks(path, delimiter)
    first = next(chunks)
    for name in [*prep.features, *prep.targets]:
        first.index(name, "target column" if name in prep.targets else "column")
    ys, dropped = [], []
    for table in chain([first], chunks):
        if missing == "drop":
            table = _without_missing(table, [*prep.features, *prep.targets], dropped)
        if len(table):
            x.append(_scaled_features(table, prep))
            ys.append(_encode_targets(table, prep))
    _note_dropped(first.path, dropped, len(x), notes)
    return x.array(), np.concatenate(ys)


class FeatureChunks(Iterator[np.ndarray]):
    """iter_features' iterator: the scaled blocks, and at(row) naming the line of a row."""

    def __init__(self, path: str | Path, prep: Preprocessor, delimiter: str = ",") -> None:
        self.path, self.prep, self.delimiter = path, prep, delimiter
        self._tables = read_chunks(path, delimiter)
        self._table: Table | None = None  # the last chunk read, its first row's number
        self._start = self._end = 0

    def __next__(self) -> np.ndarray:
        table = next(self._tables)
        self._table, self._start, self._end = table, self._end, self._end + len(table)
        return _scaled_features(table, self.prep)

    def at(self, row: int) -> str:
        """`path:line` of the row-th data row (from 0) of the file."""
        if self._table is not None and self._start <= row < self._end:
            return self._table.at(row - self._start)
        return row_location(self.path, row, self.delimiter)


def iter_features(path: str | Path, prep: Preprocessor, delimiter: str = ",") -> FeatureChunks:
    """Scaled features of a CSV's rows (taken by name), in file order, one chunk of about
    csvio.CHUNK_BYTES of text at a time: predicting a file of any length keeps memory flat.
    An error in a later chunk is raised when that chunk is reached."""
    return FeatureChunks(path, prep, delimiter)


def _scaled_features(table: Table, prep: Preprocessor) -> np.ndarray:
    """A chunk's features scaled into the model dtype; one too large there names its line."""
    names = prep.features
    return prep._scale_x(table.numbers(names), lambda row, j: _value_at(table, row, names[j]))


def _value_at(table: Table, row: int, column: str) -> str:
    """`path:line: column 'x': '1e39'`: a value of a table, as the file has it."""
    value = table.fields(row)[table.index(column)].strip()
    return f"{table.at(row)}: column {column!r}: {value!r}"


def _locate(
    path: str | Path, row: int, delimiter: str, missing: str, names: Sequence[str]
) -> tuple[Table, int] | None:
    """The chunk holding the row-th data row (from 0; rows data.missing: drop left out do
    not count) and the row's index there, read again from the file: only for an error
    message about a value found bad after reading (None if the file no longer has it)."""
    seen = 0
    for table in read_chunks(path, delimiter):
        if missing == "drop":
            table = table.without_missing(list(names))[0]
        if row < seen + len(table):
            return table, row - seen
        seen += len(table)
    return None


def row_location(
    path: str | Path,
    row: int,
    delimiter: str = ",",
    missing: str = "error",
    names: Sequence[str] = (),
) -> str:
    """`path:line` of the row-th data row (from 0) of a CSV as read with these settings."""
    found = _locate(path, row, delimiter, missing, names)
    return f"{path}: data row {row + 1}" if found is None else found[0].at(found[1])


def describe_value(
    path: str | Path,
    row: int,
    column: str,
    delimiter: str = ",",
    missing: str = "error",
    names: Sequence[str] = (),
) -> str:
    """`path:line: column 'x': '1e39'` for the row-th data row (from 0) of a CSV."""
    found = _locate(path, row, delimiter, missing, names)
    if found is None:
        return f"{path}: data row {row + 1}: column {column!r}"
    return _value_at(*found, column)


def infer_task(values: Sequence[str]) -> str:
    """task: auto. Any non-numeric value -> classification. All integers with at most 20
    distinct values and at most one distinct value per two rows (or only two values,
    e.g. 0/1) -> classification. Anything else -> regression.
    """
    if not all(is_number(v) for v in values):
        return "classification"
    numbers = {float(v) for v in values}
    if not all(n.is_integer() for n in numbers):
        return "regression"
    k = len(numbers)
    few = k <= 2 or (k <= MAX_AUTO_CLASSES and 2 * k <= len(values))
    return "classification" if few else "regression"


def sort_classes(labels: set[str] | Sequence[str]) -> list[str]:
    """Sorted unique labels: numerically when all are numbers ("2" < "10"), one class per
    number ("1" and "1.0" are the class "1", as a test file's "1.0" is), else as text."""
    unique = set(labels)
    if all(is_number(c) for c in unique):
        by_value: dict[float, str] = {}
        for c in sorted(unique, key=lambda c: (float(c), c)):
            by_value.setdefault(float(c), c)
        return list(by_value.values())
    return sorted(unique)


def _gap_in_numbers(labels: Sequence[str]) -> int | None:
    """The first label that is missing ("NA", "") or not finite ("inf", "1e400") in a column
    whose other labels are all numbers: task auto would take every value for a class."""
    first, numbers = None, 0
    for k, label in enumerate(labels):
        if is_number(label):
            numbers += 1
        elif label.strip().lower() in MISSING or _parses_as_float(label):
            first = k if first is None else first
        else:
            return None  # a text label: classification
    return first if numbers else None


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def _without_missing(table: Table, names: list[str], dropped: list[int]) -> Table:
    kept, lines = table.without_missing(names)
    dropped += lines
    return kept


def _note_dropped(path: str, dropped: list[int], kept: int, notes: list[str] | None) -> None:
    """data.missing: drop: a note naming the rows left out; an error if that is every row."""
    if not dropped:
        return
    if not kept:
        raise DataError(f"{path}: every data row has a missing value (data.missing: drop)")
    shown = ", ".join(str(n) for n in dropped[:5]) + (", ..." if len(dropped) > 5 else "")
    if notes is not None:
        notes.append(f"{path}: dropped {len(dropped)} row(s) with a missing value (line {shown})")


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
        for lo in range(0, len(part), step):
            block = prep._scale_x(part[lo : lo + step], _shifted(place, start))
            end = start + len(block)
            out[slice(start, end) if where is None else where[start:end]] = block
            start = end
        part = block = None  # the last reference: the slab goes back to the system
    return out


def _shifted(place: Where, start: int) -> Where:
    return lambda row, j: place(start + row, j)


def _encode_targets(table: Table, prep: Preprocessor) -> np.ndarray:
    if prep.classes is None:
        names = prep.targets
        return prep.encode_y(table.numbers(names), lambda row, j: _value_at(table, row, names[j]))
    labels = table.texts(prep.targets[0])
    idx, bad = prep.class_indices(labels)
    if bad is not None:
        raise DataError(
            f"{table.at(bad)}: label {labels[bad]!r} of {prep.targets[0]!r} was not in the "
            f"training data (classes: {', '.join(prep.classes)})"
        )
    return idx


def _feature_names(table: Table, features: list[str] | None, targets: list[str]) -> list[str]:
    if features is None:
        names = [h for h in table.header if h not in targets]
        if not names:
            raise DataError(f"{table.path}: no feature columns besides the target {targets}")
        return names
    for f in features:  # distinct, not empty and no target: the config checked that
        table.index(f, "feature column")
    return list(features)


def _resolve_task(task: str, targets: list[str], labels: list[str] | None) -> str:
    if len(targets) > 1:
        if task == "classification":
            raise DataError(
                f"several targets {targets} need task regression; classification takes one"
            )
        return "regression"
    if task == "auto":
        return infer_task(labels or [])
    if task not in ("classification", "regression"):
        raise DataError(f"unknown task {task!r}: expected auto, classification or regression")
    return task


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half up, not Python's banker's rounding
