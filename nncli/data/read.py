"""Reading a data file for a model: columns by name, turned into scaled inputs by a fitted
Preprocessor, targets encoded; every bad value named by file, line and column."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.data.columns import feature_spec
from nncli.data.encoders import NumericColumn, Seen
from nncli.data.features import Locate, column_numbers
from nncli.data.files import csv_error, read_numbers, stream_frames
from nncli.data.locate import FileRows, describe_value, no_column, row_location
from nncli.data.preprocess import Preprocessor
from nncli.data.values import BrokenText, check_column, is_text, missing_texts
from nncli.errors import DataError


@dataclass
class RawData:
    """A training file as read: the candidate feature columns (rows data.missing: drop left
    out), the target as text (one label column, for classes or task: auto; "" where missing)
    or as numbers (n, targets), and how to name the line of a row."""

    path: str
    frame: pa.Table
    features: list[str]
    labels: list[str] | None
    values: np.ndarray | None
    locate: FileRows = field(repr=False)


def read_raw(
    path: str | Path,
    targets: list[str],
    features: list[Any] | None,
    labels_as_text: bool,
    *,
    delimiter: str = ",",
    missing: str = "error",
    notes: list[str] | None = None,
    exclude: Sequence[str] = (),
) -> RawData:
    """Read a training file whole: targets and features by name (None: every other column
    but `exclude`); with missing="drop", a note about the rows left out."""
    frame = read_numbers(path, delimiter, [*targets, *_declared_texts(features)])
    shown = str(path)
    _require_rows(shown, frame)
    for t in targets:
        require_column(shown, frame, t, "target column", delimiter)
    names = _feature_names(shown, frame, features, targets, exclude, delimiter)
    used = [*names, *targets]
    if missing == "drop":
        frame = _drop_missing(shown, frame, used, delimiter, notes)

    locate = FileRows(shown, delimiter, missing, used)

    check_other_columns(frame, used)
    frame = frame.select(used)
    if labels_as_text:
        return RawData(shown, frame, names, label_texts(frame.column(targets[0])), None, locate)
    values = np.column_stack([target_numbers(frame, t, locate) for t in targets])
    return RawData(shown, frame, names, None, values, locate)


def read_features(
    path: str | Path,
    prep: Preprocessor,
    delimiter: str = ",",
    *,
    need_target: bool = False,
    missing: str = "error",
    notes: list[str] | None = None,
    seen: Seen | None = None,
    strict: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scaled features taken by name (any column order, extra columns ignored) and encoded
    targets when need_target; without it the target columns may be present or absent.

    Rows come back in file order, one per data row, so len(x) is the row count; with
    missing="drop" (labelled data only), rows with a missing value are left out and a line
    about them is appended to `notes`. Gaps and unseen levels are counted in `seen`.
    """
    try:
        return _read_features(path, prep, delimiter, need_target, missing, notes, seen, strict)
    except BrokenText as exc:
        raise csv_error(path, delimiter, exc) from None


def _read_features(
    path: str | Path,
    prep: Preprocessor,
    delimiter: str,
    need_target: bool,
    missing: str,
    notes: list[str] | None,
    seen: Seen | None,
    strict: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    seen = seen if seen is not None else Seen()
    if not need_target:
        blocks = list(FeatureChunks(path, prep, delimiter, strict=strict, seen=seen))
        return np.concatenate(blocks), None
    # numbers cast as the file is read (no whole-file text), text columns kept as written
    texts = [
        *prep.targets,
        *(c.name for c in prep.columns.columns if not isinstance(c, NumericColumn)),
    ]
    frame = read_numbers(path, delimiter, texts)
    shown = str(path)
    _require_rows(shown, frame)
    for name in [*prep.features, *prep.targets]:
        what = "target column" if name in prep.targets else "column"
        require_column(shown, frame, name, what, delimiter)
    used = [*prep.features, *prep.targets]
    check_other_columns(frame, used)
    if missing == "drop":
        frame = _drop_missing(shown, frame, used, delimiter, notes)

    locate = FileRows(shown, delimiter, missing, used)

    where = _value_teller(shown, prep, 0, delimiter, missing, used)
    x_all = prep.transform_table(frame, seen, locate, strict, where)
    return x_all, encode_targets(frame, prep, locate)


class FeatureChunks(Iterator[np.ndarray]):
    """The scaled blocks of a file's rows, in order, a batch at a time (flat memory on files
    of any length); at(row) names the line of a row, `seen` counts gaps and unseen levels."""

    def __init__(
        self,
        path: str | Path,
        prep: Preprocessor,
        delimiter: str = ",",
        *,
        strict: bool = False,
        seen: Seen | None = None,
    ) -> None:
        self.path, self.prep, self.delimiter, self.strict = str(path), prep, delimiter, strict
        self.seen = seen if seen is not None else Seen()
        self._frames = stream_frames(path, delimiter)
        self._start = self._end = 0
        self._first = True

    def __next__(self) -> np.ndarray:
        try:
            return self._next_block()
        except BaseException:
            self._frames.close()  # the file and its reader closed now, not at exit
            raise

    def _next_block(self) -> np.ndarray:
        frame = next(self._frames)
        if self._first:
            _require_rows(self.path, frame)
            for name in self.prep.features:
                require_column(self.path, frame, name, "column", self.delimiter)
            self._first = False
        try:
            check_other_columns(frame, self.prep.features)
        except BrokenText as exc:
            raise csv_error(self.path, self.delimiter, exc) from None
        self._start, self._end = self._end, self._end + frame.num_rows
        start = self._start
        where = _value_teller(self.path, self.prep, start, self.delimiter)
        try:
            return self.prep.transform_table(
                frame,
                self.seen,
                FileRows(self.path, self.delimiter, start=start),
                self.strict,
                where,
            )
        except BrokenText as exc:
            raise csv_error(self.path, self.delimiter, exc) from None

    def at(self, row: int) -> str:
        """`path:line` of the row-th data row (from 0) of the file."""
        return row_location(self.path, row, self.delimiter)


def iter_features(
    path: str | Path, prep: Preprocessor, delimiter: str = ",", strict: bool = False
) -> FeatureChunks:
    """Scaled features of a file's rows (taken by name), in file order, one batch at a time:
    predicting a file of any length keeps memory flat. An error in a later batch is raised
    when that batch is reached."""
    return FeatureChunks(path, prep, delimiter, strict=strict)


def label_texts(column: pa.ChunkedArray) -> list[str]:
    """A label column as the file spells it, stripped; "" where a value is missing."""
    if not is_text(column):
        column = column.cast(pa.string())
    check_column(column, "a label")
    texts: list[str] = pc.utf8_trim_whitespace(column).fill_null("").to_pylist()
    return texts


def target_numbers(frame: pa.Table, name: str, locate: Locate) -> np.ndarray:
    """A regression target as float64; a missing, non-numeric or infinite value is an error."""
    values = column_numbers(name, frame.column(name), locate, strays=set())
    gaps = np.isnan(values)
    if gaps.any():
        raise DataError(f"{locate(int(np.argmax(gaps)))}: column {name!r}: missing value")
    return values


def encode_targets(frame: pa.Table, prep: Preprocessor, locate: Locate) -> np.ndarray:
    if prep.classes is None:
        y = np.column_stack([target_numbers(frame, t, locate) for t in prep.targets])
        return prep.encode_y(y, lambda row, j: f"{locate(row)}: column {prep.targets[j]!r}")
    labels = label_texts(frame.column(prep.targets[0]))
    idx, bad = prep.class_indices(labels)
    if bad is not None:
        if labels[bad] == "":
            raise DataError(f"{locate(bad)}: column {prep.targets[0]!r}: missing value")
        raise DataError(
            f"{locate(bad)}: label {labels[bad]!r} of {prep.targets[0]!r} was not in the "
            f"training data (classes: {', '.join(prep.classes or [])})"
        )
    return idx


def require_column(path: str, frame: pa.Table, name: str, what: str, delimiter: str) -> None:
    """A column the config or model names must be in the file."""
    if name not in frame.column_names:
        raise no_column(path, frame.column_names, name, what, delimiter)


def _declared_texts(features: list[Any] | None) -> list[str]:
    """Feature columns the config declares categorical or binary: their texts as written."""
    specs = map(feature_spec, features or [])
    return [s["name"] for s in specs if s.get("type") in ("categorical", "binary")]


def _require_rows(path: str, frame: pa.Table) -> None:
    if not frame.column_names:
        raise DataError(f"{path}: the file is empty")
    if frame.num_rows == 0:
        raise DataError(f"{path}: has a header but no data rows")


def _feature_names(
    path: str,
    frame: pa.Table,
    features: list[Any] | None,
    targets: list[str],
    exclude: Sequence[str],
    delimiter: str,
) -> list[str]:
    if features is None:
        names = [h for h in frame.column_names if h not in targets and h not in exclude]
        if not names:
            raise DataError(f"{path}: no feature columns besides the target {targets}")
        return names
    names = [f if isinstance(f, str) else getattr(f, "name", None) or f["name"] for f in features]
    for name in names:  # distinct, not empty and no target: the config checked that
        require_column(path, frame, name, "feature column", delimiter)
    return names


def check_other_columns(frame: pa.Table, used: Sequence[str]) -> None:
    """Columns no transform reads (ids, a target at predict time) may still hide a quote
    left open, whose line break swallowed a row: BrokenText then, as for a used column."""
    for name in frame.column_names:
        column = frame.column(name)
        if name not in used and pa.types.is_string(column.type):
            check_column(column, f"column {name!r}")


def missing_mask(frame: pa.Table, names: list[str]) -> np.ndarray:
    """Rows holding a missing value (null, or a missing marker in any case) in a column."""
    mask = np.zeros(frame.num_rows, dtype=bool)
    for name in names:
        column = frame.column(name)
        gap = pc.is_null(column)
        if pa.types.is_string(column.type):
            gap = pc.or_kleene(gap, missing_texts(column))
        mask |= np.asarray(gap.to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def _drop_missing(
    path: str, frame: pa.Table, names: list[str], delimiter: str, notes: list[str] | None
) -> pa.Table:
    """data.missing: drop: the rows without a gap in `names`, and a note naming the rows
    left out (an error if that is every row)."""
    gaps = missing_mask(frame, names)
    if not gaps.any():
        return frame
    if gaps.all():
        raise DataError(f"{path}: every data row has a missing value (data.missing: drop)")
    dropped = np.flatnonzero(gaps)
    lines = FileRows(path, delimiter).lines([int(r) for r in dropped[:5]])
    shown = ", ".join(lines) + (", ..." if len(dropped) > 5 else "")
    if notes is not None:
        notes.append(f"{path}: dropped {len(dropped)} row(s) with a missing value (line {shown})")
    return frame.filter(pa.array(~gaps))


def _value_teller(
    path: str,
    prep: Preprocessor,
    start: int,
    delimiter: str,
    missing: str = "error",
    names: Sequence[str] = (),
) -> Callable[[int, int], str]:
    """(row, input) -> `path:line: column 'x': '1e39'`, for a value too large once scaled."""
    columns = prep.columns.input_columns
    return lambda row, j: describe_value(path, start + row, columns[j], delimiter, missing, names)
