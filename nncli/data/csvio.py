"""Reading CSV files into named columns, chunk by chunk, with one precise DataError per problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, repeat
from operator import contains
from pathlib import Path

import numpy as np

from nncli.data.csvlines import OPEN_QUOTE, QUOTE, OpenQuote, line_blocks, split_fields
from nncli.data.values import MISSING, parse_number
from nncli.errors import DataError

_CHUNK = 2048  # rows per numpy call when hunting for the line of a bad value
# Bytes of text per chunk: big enough that numpy's per-call cost vanishes, small enough that
# a chunk's lines and float64 numbers stay a few MB whatever the file's size.
CHUNK_BYTES = 1 << 20


@dataclass
class Hints:
    """What a file's earlier chunks showed, shared by its chunks: whether every number so far
    was an integer (numpy parses those as int64 in 30 % less time than as float64)."""

    integers: bool = True


@dataclass
class Table:
    """A CSV file's header and some of its non-blank data lines (a chunk, or all of them),
    parsed column by column on demand.

    Every row must have the header's field count; that is checked before any value is
    read. Numbers go through numpy.loadtxt (C speed); only when numpy fails do we parse the
    offending rows in Python to name the line, column and value.
    """

    path: str
    header: list[str]
    lines: list[str]  # as in the file, with their LF (numpy and the csv module skip it)
    line_nos: Sequence[int]  # 1-based line number in the file of each entry of `lines`
    delimiter: str
    positions: Mapping[str, int]  # column name -> index in header (shared by a file's chunks)
    widths_checked: bool = False
    hints: Hints = field(default_factory=Hints)  # shared by a file's chunks

    def __len__(self) -> int:
        return len(self.lines)

    def at(self, row: int) -> str:
        """`path:line` of a data row, for messages."""
        return f"{self.path}:{self.line_nos[row]}"

    def index(self, name: str, what: str = "column") -> int:
        """Position of a column by name; the error lists the columns and suggests the nearest."""
        if name in self.positions:
            return self.positions[name]
        raise no_column(self.path, self.header, name, what, self.delimiter)

    def numbers(self, names: list[str]) -> np.ndarray:
        """Columns as float64 (n, k); missing, non-numeric, nan and inf values are errors."""
        return self.values(names).astype(np.float64, copy=False)

    def values(self, names: list[str]) -> np.ndarray:
        """The numbers() of these columns, as int64 when every one is an integer (numpy parses
        those in 30 % less time; a copy into float64 casts them exactly, on the way), else as
        float64."""
        try:
            cols = list(map(self.positions.__getitem__, names))  # a chunk may ask for 784
        except KeyError:
            cols = [self.index(n) for n in names]
        try:
            x = self._parse(cols)
        except ValueError as e:
            self._find_bad_number(cols)
            raise DataError(f"{self.path}: {e}") from None  # numpy saw what Python did not
        if x.dtype != np.float64:
            return x  # integers are finite
        # Any nan or inf makes the sum non-finite (as may an overflow of finite values): one
        # fast pass in the usual case, the full search only then.
        finite = np.isfinite(x.sum())
        bad = np.argwhere(~np.isfinite(x)) if not finite else np.empty((0, 2), np.intp)
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
        self.check_widths()
        last = len(self.header) - 1 - col
        if last < col:
            values = [ln.rsplit(d, last + 1)[-last - 1].strip() for ln in self.lines]
        else:
            values = [ln.split(d, col + 1)[col].strip() for ln in self.lines]
        if any(map(contains, self.lines, repeat(QUOTE))):  # quotes may hide delimiters
            quoted = (row for row, ln in enumerate(self.lines) if QUOTE in ln)
            for row in quoted:
                values[row] = self.fields(row)[col].strip()
        if "" in values:
            row = values.index("")
            raise DataError(f"{self.at(row)}: column {name!r}: missing value")
        return values

    def without_missing(self, names: list[str]) -> tuple[Table, list[int]]:
        """This table without the rows holding a MISSING marker in one of the columns
        `names`, and the file line numbers of the rows it left out."""
        cols = [self.index(n) for n in names]
        self.check_widths()
        keep, dropped = [], []
        for row, line in enumerate(self.lines):
            fields = self.fields(row) if QUOTE in line else line.split(self.delimiter)
            if any(fields[c].strip().lower() in MISSING for c in cols):
                dropped.append(self.line_nos[row])
            else:
                keep.append(row)
        if not dropped:
            return self, []
        lines = [self.lines[r] for r in keep]
        line_nos = [self.line_nos[r] for r in keep]
        return replace(self, lines=lines, line_nos=line_nos), dropped

    def check_widths(self) -> None:
        """Raise a DataError at the first row whose field count is not the header's."""
        if self.widths_checked:
            return
        lines, d, width = self.lines, self.delimiter, len(self.header)
        # Counts at C speed (str.count over the lines); the per-line loop below runs only
        # when some count is off, or quotes may hide delimiters, to name the first bad row.
        quoted = any(map(contains, lines, repeat(QUOTE)))
        if quoted or list(map(str.count, lines, repeat(d))).count(width - 1) != len(lines):
            for row, line in enumerate(lines):
                n = len(self.fields(row)) if QUOTE in line else line.count(d) + 1
                if n != width:
                    raise DataError(
                        f"{self.at(row)}: the row has {n} field{'s' * (n != 1)}, "
                        f"the header has {width}"
                    )
        self.widths_checked = True

    def fields(self, row: int) -> list[str]:
        """All fields of one data row (slow path, for messages)."""
        try:
            return split_fields(self.lines[row], self.delimiter)
        except OpenQuote:
            raise DataError(f"{self.at(row)}: {OPEN_QUOTE}") from None

    def _parse(self, cols: list[int]) -> np.ndarray:
        if not cols:
            return np.zeros((len(self.lines), 0))
        if not self.widths_checked and 2 * len(cols) >= len(self.header):
            # Most columns wanted: parse them all, so that numpy checks every row's field
            # count on the way (as fast as loadtxt alone; ours plus `usecols` take 20 % more).
            # A text column fails at the first row, and then we take the careful path.
            try:
                x = self._integers_first(None)
            except ValueError:
                x = None
            if x is not None and x.shape[1] == len(self.header):
                self.widths_checked = True
                first = cols[0]
                if cols == list(range(first, first + len(cols))):  # a slice: no copy
                    return x[:, first : first + len(cols)]
                return np.take(x, cols, axis=1)
        self.check_widths()
        return self._integers_first(cols)

    def _integers_first(self, cols: list[int] | None) -> np.ndarray:
        """The columns as int64 while the file's numbers have all been integers, else float64.

        Each integer numpy parses as int64 is exactly the float64 it parses from the same text
        (both correctly rounded), except "-0", whose sign only a float keeps: a chunk that may
        hold one is parsed again as floats. The first chunk that is not all integers costs
        one failed try (at its first non-integer row); later chunks go straight to floats.
        """
        if self.hints.integers:
            try:
                x = self._loadtxt(cols, dtype=np.int64)
            except ValueError:
                x = None
            if x is not None and not self._minus_zero(x):
                return x
        x = self._loadtxt(cols)
        self.hints.integers = False
        return x

    def _minus_zero(self, x: np.ndarray) -> bool:
        """Whether these lines, parsed as the integers x, may hold a "-0" (cheapest test first:
        searching every line for "-0" takes ten times as long as for "-")."""
        lines = self.lines
        return (
            any(map(contains, lines, repeat("-")))
            and not x.all()
            and any(map(contains, lines, repeat("-0")))
        )

    def _loadtxt(
        self, cols: list[int] | None, rows: slice | None = None, dtype: type = np.float64
    ) -> np.ndarray:
        lines = self.lines if rows is None else self.lines[rows]
        x: np.ndarray = np.loadtxt(
            lines,
            dtype=dtype,
            delimiter=self.delimiter,
            usecols=cols,
            quotechar=QUOTE,
            comments=None,
            ndmin=2,
        )
        if len(x) != len(lines):  # numpy read an open quote on into the next line
            for row, line in enumerate(self.lines):
                if QUOTE in line:
                    self.fields(row)  # raises at the first quote left open
            raise DataError(f"{self.path}: {OPEN_QUOTE}")
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
                    if parse_number(value) is None:
                        raise DataError(
                            f"{self.at(row)}: column {self.header[c]!r}: {value!r} is not a number"
                        )


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


def read_table(path: str | Path, delimiter: str = ",") -> Table:
    """The whole CSV file as one Table (for small files; big ones go through read_chunks)."""
    tables = list(read_chunks(path, delimiter))
    lines = list(chain.from_iterable(t.lines for t in tables))
    line_nos = list(chain.from_iterable(t.line_nos for t in tables))
    table = replace(tables[0], lines=lines, line_nos=line_nos)
    table.check_widths()
    return table


def read_chunks(path: str | Path, delimiter: str = ",") -> Iterator[Table]:
    """The data rows of a CSV file with a header row, as Tables of about CHUNK_BYTES of text,
    read as they are needed: memory stays flat however long the file.

    Every data row must have the header's field count (checked when a chunk's values are
    first read); blank lines are skipped, line numbers stay those of the file. A file with no
    data row raises once its end is reached.
    """
    shown = str(path)
    if len(delimiter) != 1:
        raise DataError(f"{shown}: the delimiter must be one character, got {delimiter!r}")
    header: list[str] | None = None
    rows = 0
    for first_no, lines in line_blocks(Path(path), shown, CHUNK_BYTES):
        if header is None:
            skip = next((i for i, ln in enumerate(lines) if ln.strip()), None)
            if skip is None:
                continue
            try:
                header = [h.strip() for h in split_fields(lines[skip], delimiter)]
            except OpenQuote:
                raise DataError(f"{shown}:{first_no + skip}: {OPEN_QUOTE}") from None
            _check_header(shown, first_no + skip, header)
            positions = {name: i for i, name in enumerate(header)}
            hints = Hints()
            first_no, lines = first_no + skip + 1, lines[skip + 1 :]
        table = _table(shown, header, positions, hints, delimiter, first_no, lines)
        if table is not None:
            rows += len(table.lines)
            yield table
    if header is None:
        raise DataError(f"{shown}: the file is empty")
    if not rows:
        raise DataError(f"{shown}: has a header but no data rows")


def _table(
    shown: str,
    header: list[str],
    positions: Mapping[str, int],
    hints: Hints,
    delimiter: str,
    first_no: int,
    lines: list[str],
) -> Table | None:
    """The non-blank lines of a block as a Table (None if there are none)."""
    line_nos: Sequence[int] = range(first_no, first_no + len(lines))
    if "" in lines or any(map(str.isspace, lines)):
        data = [(no, ln) for no, ln in zip(line_nos, lines, strict=True) if ln.strip()]
        lines, line_nos = [ln for _, ln in data], [no for no, _ in data]
    if not lines:
        return None
    return Table(shown, header, lines, line_nos, delimiter, positions, hints=hints)


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
