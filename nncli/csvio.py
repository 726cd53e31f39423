"""Reading CSV files into named columns, fast, with one precise DataError per problem."""

from __future__ import annotations

import csv
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path

import numpy as np

from nncli.errors import DataError

_QUOTE = '"'
_CHUNK = 2048  # rows per numpy call when hunting for the line of a bad value
# What `data.missing: drop` takes for a missing value (any case): an empty field and the
# markers pandas writes and reads by default. Anything else that is not a number is an error.
MISSING = frozenset({"", "na", "n/a", "nan", "null"})


@dataclass(frozen=True)
class Table:
    """A CSV file's header and its non-blank data lines, parsed column by column on demand.

    Numbers go through numpy.loadtxt (C speed), straight from the file when its rows are
    exactly our rows; only when numpy fails do we parse the offending chunk in Python to
    name the line, column and value.
    """

    path: str
    header: list[str]
    lines: list[str]
    line_nos: Sequence[int]  # 1-based line number in the file of each entry of `lines`
    delimiter: str
    skiprows: int | None = None  # lines before the data when numpy may read the file itself

    def __len__(self) -> int:
        return len(self.lines)

    def at(self, row: int) -> str:
        """`path:line` of a data row, for messages."""
        return f"{self.path}:{self.line_nos[row]}"

    def index(self, name: str, what: str = "column") -> int:
        """Position of a column by name; the error lists the columns and suggests the nearest."""
        try:
            return self.header.index(name)
        except ValueError:
            pass
        msg = f"{self.path}: no {what} {name!r}"
        close = difflib.get_close_matches(name, self.header, n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        shown = ", ".join(repr(h) for h in self.header[:20])
        more = f" and {len(self.header) - 20} more" if len(self.header) > 20 else ""
        msg += f" (columns: {shown}{more})"
        if len(self.header) == 1:
            guess = next((d for d in ",;\t|" if d != self.delimiter and d in self.header[0]), None)
            if guess:
                msg += f"; the header has a single column: is the delimiter {guess!r}?"
        raise DataError(msg)

    def numbers(self, names: list[str]) -> np.ndarray:
        """Columns as float64 (n, k); missing, non-numeric, nan and inf values are errors."""
        cols = [self.index(n) for n in names]
        try:
            x = self._loadtxt(cols)
        except ValueError as e:
            self._find_bad_number(cols)
            raise DataError(f"{self.path}: {e}") from None  # numpy saw what Python did not
        bad = np.argwhere(~np.isfinite(x))
        if len(bad):
            row, j = (int(v) for v in bad[0])
            value = self.fields(row)[cols[j]].strip()
            raise DataError(
                f"{self.at(row)}: column {names[j]!r}: {value!r} is not a finite number"
            )
        return x

    def texts(self, name: str) -> list[str]:
        """One column as stripped strings; an empty value is an error."""
        col, d = self.index(name), self.delimiter
        last = len(self.header) - 1 - col
        values = []
        for row, line in enumerate(self.lines):
            if _QUOTE in line:
                v = self.fields(row)[col]
            elif last < col:
                v = line.rsplit(d, last + 1)[-last - 1]
            else:
                v = line.split(d, col + 1)[col]
            v = v.strip()
            if not v:
                raise DataError(f"{self.at(row)}: column {name!r}: missing value")
            values.append(v)
        return values

    def without_missing(self, names: list[str]) -> tuple[Table, list[int]]:
        """This table without the rows holding a MISSING marker in one of the columns
        `names`, and the file line numbers of the rows it left out."""
        cols = [self.index(n) for n in names]
        keep, dropped = [], []
        for row, line in enumerate(self.lines):
            fields = self.fields(row) if _QUOTE in line else line.split(self.delimiter)
            if any(fields[c].strip().lower() in MISSING for c in cols):
                dropped.append(self.line_nos[row])
            else:
                keep.append(row)
        if not dropped:
            return self, []
        lines = [self.lines[r] for r in keep]
        line_nos = [self.line_nos[r] for r in keep]
        return replace(self, lines=lines, line_nos=line_nos, skiprows=None), dropped

    def fields(self, row: int) -> list[str]:
        """All fields of one data row (slow path, for messages)."""
        return _split(self.lines[row], self.delimiter)

    def _loadtxt(self, cols: list[int], rows: slice | None = None) -> np.ndarray:
        direct = rows is None and self.skiprows is not None
        source = self.path if direct else self.lines[rows or slice(None)]
        if not cols:
            return np.zeros((len(self.lines), 0))
        x = np.loadtxt(
            source,
            dtype=np.float64,
            delimiter=self.delimiter,
            usecols=cols,
            skiprows=self.skiprows if direct else 0,
            quotechar=_QUOTE,
            comments=None,
            ndmin=2,
            encoding="utf-8-sig",
        )
        if direct and len(x) != len(self.lines):  # a line ending numpy splits differently
            return self._loadtxt(cols, slice(None))
        return x

    def _find_bad_number(self, cols: list[int]) -> None:
        """Raise a DataError at the first value numpy would not parse (if we can pin it down)."""
        for start in range(0, len(self.lines), _CHUNK):
            try:
                self._loadtxt(cols, slice(start, start + _CHUNK))
                continue
            except ValueError:
                pass
            for row in range(start, min(start + _CHUNK, len(self.lines))):
                fields = self.fields(row)
                for c in cols:
                    value = fields[c].strip()
                    if not value:
                        raise DataError(f"{self.at(row)}: column {self.header[c]!r}: missing value")
                    if not _is_number(value):
                        raise DataError(
                            f"{self.at(row)}: column {self.header[c]!r}: {value!r} is not a number"
                        )


def _is_number(text: str) -> bool:
    """What numpy.loadtxt parses: Python's float() without its digit separators (1_000)."""
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


def read_table(path: str | Path, delimiter: str = ",") -> Table:
    """Read a CSV file with a header row; every data row must have the header's field count."""
    shown = str(path)
    if len(delimiter) != 1:
        raise DataError(f"{shown}: the delimiter must be one character, got {delimiter!r}")
    text = _read_text(Path(path), shown)
    quoted = _QUOTE in text
    raw = text.split("\n")
    if "\r" in text:
        raw = [ln.rstrip("\r") for ln in raw]
    del text  # the lines hold it now; one copy of a big file is enough
    header_no = next((i + 1 for i, ln in enumerate(raw) if ln.strip()), 0)
    if not header_no:
        raise DataError(f"{shown}: the file is empty")
    header = [h.strip() for h in _split(raw[header_no - 1], delimiter)]
    _check_header(shown, header_no, header)
    body = raw[header_no:]
    # numpy reading the file itself skips empty lines but not whitespace-only ones
    direct = not any(map(str.isspace, body))
    end = len(body)
    while end and not body[end - 1].strip():
        end -= 1
    line_nos: Sequence[int]
    if direct and "" not in body[:end]:  # no blank line inside: every line is a data row
        lines, line_nos = body[:end], range(header_no + 1, header_no + 1 + end)
    else:
        data = [(header_no + 1 + i, ln) for i, ln in enumerate(body[:end]) if ln.strip()]
        lines, line_nos = [ln for _, ln in data], [i for i, _ in data]
    if not lines:
        raise DataError(f"{shown}: has a header but no data rows")
    width = len(header)
    # Field counts at C speed (str.count over the lines); the per-line loop below runs only
    # when some count is off, or quotes may hide delimiters, to name the first bad row.
    seps = [] if quoted else list(map(str.count, lines, repeat(delimiter)))
    if quoted or seps.count(width - 1) != len(seps):
        for row, line in enumerate(lines):
            n = len(_split(line, delimiter)) if _QUOTE in line else line.count(delimiter) + 1
            if n != width:
                raise DataError(
                    f"{shown}:{line_nos[row]}: the row has {n} field{'s' * (n != 1)}, "
                    f"the header has {width}"
                )
    return Table(shown, header, lines, line_nos, delimiter, header_no if direct else None)


def _read_text(path: Path, shown: str) -> str:
    if not path.exists():
        raise DataError(f"{shown}: no such file")
    if path.is_dir():
        raise DataError(f"{shown}: is a directory, not a CSV file")
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise DataError(f"{shown}: cannot read the file ({e.strerror or e})") from None
    nul = blob.find(b"\0")
    if nul >= 0:
        raise DataError(f"{shown}: binary data (a NUL byte at offset {nul}), not a CSV text file")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = blob.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{shown}:{line}: not UTF-8 text (byte 0x{blob[e.start]:02x}); save the file as UTF-8"
        ) from None


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, quotechar=_QUOTE))


def _check_header(path: str, line_no: int, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{path}:{line_no}: column {i} of the header has no name")
        if name in seen:
            raise DataError(
                f"{path}:{line_no}: duplicate column name {name!r} (columns {seen[name]} and {i})"
            )
        seen[name] = i
