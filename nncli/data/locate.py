"""Naming a row of a data file for a message: its line, and the value as the file spells it,
read again with Python's csv module (only when something is wrong); and the message for a
column the file lacks."""

from __future__ import annotations

import csv
import difflib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nncli.data.csvtext import data_rows, fields
from nncli.data.files import file_format, open_csv_bytes
from nncli.data.values import MISSING
from nncli.errors import DataError


class FileRows:
    """Names the line of a row of a file (from 0, `start` rows into it; rows data.missing:
    drop left out do not count) and, for a message, the text a value has there."""

    def __init__(
        self,
        path: str,
        delimiter: str,
        missing: str = "error",
        names: Sequence[str] = (),
        start: int = 0,
        rows: np.ndarray | None = None,
    ) -> None:
        self.path, self.delimiter, self.missing, self.names = path, delimiter, missing, names
        self.start, self.rows = start, rows

    def shifted(self, start: int = 0, rows: np.ndarray | None = None) -> FileRows:
        """The same file seen from a block starting `start` rows in, or through `rows` (the
        row of the file each row of a selection is)."""
        return FileRows(self.path, self.delimiter, self.missing, self.names, start, rows)

    def _row(self, row: int) -> int:
        return self.start + (row if self.rows is None else int(self.rows[row]))

    def __call__(self, row: int) -> str:
        return row_location(self.path, self._row(row), self.delimiter, self.missing, self.names)

    def lines(self, rows: Sequence[int]) -> list[str]:
        """The line numbers of several rows (as text; "data row N" where none is found),
        in one reading of the file."""
        at = [self._row(r) for r in rows]
        found = _find_rows(self.path, at, self.delimiter, self.missing, self.names)
        return [str(found[r][0]) if r in found else f"data row {r + 1}" for r in at]

    def text(self, row: int, column: str) -> str | None:
        found = _find(self.path, self._row(row), self.delimiter, self.missing, self.names)
        return None if found is None else _value(found[1], found[2], column)


def row_location(
    path: str | Path,
    row: int,
    delimiter: str = ",",
    missing: str = "error",
    names: Sequence[str] = (),
) -> str:
    """`path:line` of the row-th data row (from 0) of a file as read with these settings."""
    found = _find(path, row, delimiter, missing, names)
    return f"{path}: data row {row + 1}" if found is None else f"{path}:{found[0]}"


def describe_value(
    path: str | Path,
    row: int,
    column: str,
    delimiter: str = ",",
    missing: str = "error",
    names: Sequence[str] = (),
) -> str:
    """`path:line: column 'x': '1e39'` for the row-th data row (from 0) of a file."""
    found = _find(path, row, delimiter, missing, names)
    value = None if found is None else _value(found[1], found[2], column)
    if found is None or value is None:
        return f"{path}: data row {row + 1}: column {column!r}"
    return f"{path}:{found[0]}: column {column!r}: {value!r}"


def no_column(path: str, header: Sequence[str], name: str, what: str, delimiter: str) -> DataError:
    """A column the config or model names is not in the file: the error lists the columns,
    suggests the nearest, and a delimiter when the header is one column."""
    msg = f"{path}: no {what} {name!r}"
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    if close:
        msg += f"; did you mean {close[0]!r}?"
    shown = ", ".join(repr(h) for h in header[:20])
    more = f" and {len(header) - 20} more" if len(header) > 20 else ""
    msg += f" (columns: {shown}{more})"
    if len(header) == 1:
        guess = next((d for d in ",;\t|" if d != delimiter and d in header[0]), None)
        if guess:
            msg += f"; the header has a single column: is the delimiter {guess!r}?"
    return DataError(msg)


def _find(
    path: str | Path, row: int, delimiter: str, missing: str, names: Sequence[str]
) -> tuple[int, list[str], list[str]] | None:
    """(line, header, fields) of the row-th data row (from 0; with missing="drop" the rows
    with a missing value in a column `names` do not count), the file read again with the csv
    module: only for a message (None for Parquet or Feather, or a file without that row)."""
    return _find_rows(path, [row], delimiter, missing, names).get(row)


def _find_rows(
    path: str | Path, wanted: Sequence[int], delimiter: str, missing: str, names: Sequence[str]
) -> dict[int, tuple[int, list[str], list[str]]]:
    """_find for several rows, in one reading of the file."""
    left, found = set(wanted), {}
    try:
        if file_format(path) != "csv" or not left:
            return {}
        with open_csv_bytes(path) as handle:
            header, rows = data_rows(handle, delimiter)
            drop = [header.index(n) for n in names] if missing == "drop" else []
            row = 0
            for line, record in rows:
                if drop:
                    values = fields(record, delimiter)
                    if any(values[c].strip().lower() in MISSING for c in drop):
                        continue
                if row in left:
                    found[row] = (line, header, fields(record, delimiter))
                    left.discard(row)
                    if not left:
                        break
                row += 1
    except (DataError, OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError, IndexError):
        pass  # a file that changed, or does not hold these columns: the rows found so far
    return found


def _value(header: list[str], values: list[str], column: str) -> str | None:
    """A row's value of a column, stripped, as written (None if the row lacks it)."""
    at = header.index(column) if column in header else len(values)
    return values[at].strip() if at < len(values) else None
