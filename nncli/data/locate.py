"""Naming a row of a data file for a message: its line, and the value as the file spells
it, read again with nncli's line reader (only when something is wrong)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.files import file_format
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

    def text(self, row: int, column: str) -> str | None:
        found = _locate(self.path, self._row(row), self.delimiter, self.missing, self.names)
        if found is None:
            return None
        table, index = found
        return table.fields(index)[table.index(column)].strip()


def _locate(
    path: str | Path, row: int, delimiter: str, missing: str, names: Sequence[str]
) -> tuple[Any, int] | None:
    """The chunk holding the row-th data row (from 0; rows data.missing: drop left out do
    not count) and the row's index there, read again with nncli's line reader: only for an
    error message (None for Parquet, Feather, gzip, or a file that no longer has the row)."""
    from nncli.data.csvio import read_chunks

    try:
        if file_format(path) != "csv" or _gzipped(path):
            return None
        seen = 0
        for table in read_chunks(path, delimiter):
            if missing == "drop":
                table = table.without_missing(list(names))[0]
            if row < seen + len(table):
                return table, row - seen
            seen += len(table)
    except DataError:
        return None
    return None


def row_location(
    path: str | Path,
    row: int,
    delimiter: str = ",",
    missing: str = "error",
    names: Sequence[str] = (),
) -> str:
    """`path:line` of the row-th data row (from 0) of a file as read with these settings."""
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
    """`path:line: column 'x': '1e39'` for the row-th data row (from 0) of a file."""
    found = _locate(path, row, delimiter, missing, names)
    if found is None:
        return f"{path}: data row {row + 1}: column {column!r}"
    table, index = found
    value = table.fields(index)[table.index(column)].strip()
    return f"{table.at(index)}: column {column!r}: {value!r}"


def _gzipped(path: str | Path) -> bool:
    with Path(path).open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
