"""Reading a data file for a model: features by name, checked, scaled by a fitted
Preprocessor; targets encoded; every bad value named by file, line and column."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from nncli.data.csvio import Table, read_chunks
from nncli.data.preprocess import Preprocessor
from nncli.data.slabs import Slabs
from nncli.errors import DataError


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
    *,
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
    *,
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
    ys: list[np.ndarray] = []
    dropped: list[int] = []
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
    return prep.scale_x(table.numbers(names), lambda row, j: _value_at(table, row, names[j]))


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
