"""A CSV's text read again with Python's csv module, only when something is wrong: its rows
with their line numbers, counted as pyarrow counts them (files.read_frame), and the first
line pyarrow could not read, with what is wrong there."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import chain
from typing import IO

from nncli.errors import DataError

QUOTE = '"'
OPEN_QUOTE = "a quoted field is not closed on its line (a field cannot span lines)"
# A line as read (one without a quote: split it with fields()), or the fields of a record the
# csv module read.
Record = str | list[str]


def data_rows(handle: IO[bytes], delimiter: str) -> tuple[list[str], Iterator[tuple[int, Record]]]:
    """The header of a CSV (plain bytes, or gzip's) and (line number, record) of each data
    row, as pyarrow reads them: the header is the first line that is not empty; a line of
    blanks is no row when the header has several columns (files.py skips it), a value when it
    has one. A record whose quoted field holds a line break is one row, at its first line."""
    rows = _records(_text(handle), delimiter)
    first = next(rows, None)
    header = [] if first is None else fields(first[1], delimiter)
    several = len(header) > 1
    kept = (r for r in rows if not (several and _blank_line(r[1], delimiter, len(header))))
    return header, kept


def _blank_line(record: Record, delimiter: str, width: int) -> bool:
    """A line of blanks pyarrow skips (files._skip_blanks): not a row of `width` empty fields,
    as a TSV's tab-only line is."""
    return isinstance(record, str) and record.isspace() and record.count(delimiter) + 1 != width


def fields(record: Record, delimiter: str) -> list[str]:
    return record if isinstance(record, list) else record.rstrip("\r\n").split(delimiter)


def first_problem(shown: str, handle: IO[bytes], delimiter: str) -> DataError | None:
    """Why pyarrow could not read a CSV, at the first line in the way: a NUL byte (by its
    offset: binary data), bytes that are not UTF-8, a carriage return inside a line, a quote
    left open at a line's end, a row whose field count is not the header's; no header, or no
    data row. None if it is none of those."""
    problem = _bytes_problem(shown, handle)
    if problem is not None:
        return problem
    handle.seek(0)
    width, rows = 0, 0  # the header's field count (0: no header yet), the data rows seen
    for no, line in enumerate(_text(handle), start=1):
        if not line.strip("\r\n"):
            continue  # an empty line: pyarrow skips it
        if line.endswith("\r"):  # the text reader ends a line at a lone CR, as pyarrow does
            return DataError(
                f"{shown}:{no}: a carriage return (\\r) inside a line; "
                "save the file with LF or CRLF line ends"
            )
        row = None
        if QUOTE in line:
            row = next(_reader([line.rstrip("\r\n") + "\n"], delimiter))
            if row and row[-1].endswith("\n"):  # the csv module keeps the LF of an open field
                return DataError(f"{shown}:{no}: {OPEN_QUOTE}")
        n = line.count(delimiter) + 1 if row is None else len(row)
        if not width:
            width = n
            problem = header_problem(shown, no, fields(line, delimiter) if row is None else row)
            if problem is not None:
                return problem
        elif width > 1 and _blank_line(line, delimiter, width):
            continue  # a line of blanks: files.py skips it
        elif n != width:
            return DataError(
                f"{shown}:{no}: the row has {n} field{'s' * (n != 1)}, the header has {width}"
            )
        else:
            rows += 1
    if not width:
        return DataError(f"{shown}: the file is empty")
    return None if rows else DataError(f"{shown}: has a header but no data rows")


def header_problem(shown: str, line: int, names: list[str]) -> DataError | None:
    """A header's first column without a name, or named as an earlier one."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name.strip():
            return DataError(f"{shown}:{line}: column {i} of the header has no name")
        if name in seen:
            return DataError(
                f"{shown}:{line}: duplicate column name {name!r} (columns {seen[name]} and {i})"
            )
        seen[name] = i
    return None


def _records(text: IO[str], delimiter: str) -> Iterator[tuple[int, Record]]:
    """(line number, record) of each record that is not an empty line: a line with a quote is
    read by the csv module, on into the next lines while a quoted field is open."""
    numbered = enumerate(text, start=1)
    rest = (line for _, line in numbered)  # what the csv module reads past a record's 1st line
    for no, line in numbered:
        if QUOTE in line:
            yield no, next(_reader(chain([line], rest), delimiter))
        elif line.strip("\r\n"):
            yield no, line


def _reader(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """The csv module's reader, with pyarrow's quoting, for fields as long as pyarrow reads
    (the module refuses fields over 128 KB by default)."""
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)
    return csv.reader(lines, delimiter=delimiter, quotechar=QUOTE)


def _text(handle: IO[bytes]) -> IO[str]:
    """A CSV's lines as text: a UTF-8 BOM dropped, each line with its end ("\\n", "\\r\\n" or
    a lone "\\r", each a line end to pyarrow)."""
    return io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")


def _bytes_problem(shown: str, handle: IO[bytes]) -> DataError | None:
    """The first NUL byte of a file (by its offset) or bytes that are not UTF-8 (by their
    line), read a MB at a time cut at line ends."""
    line, offset, carry = 1, 0, b""
    reads = iter(partial(handle.read, 1 << 20), b"")
    for data in chain(reads, [b""]):  # b"": the end; the last line may lack its LF
        block = carry + data
        cut = block.rfind(b"\n") + 1 if data else len(block)
        block, carry = block[:cut], block[cut:]
        nul = block.find(b"\0")
        if nul >= 0:
            return DataError(
                f"{shown}: binary data (a NUL byte at offset {offset + nul}), not a CSV text file"
            )
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as e:
            at = line + block.count(b"\n", 0, e.start)
            return DataError(
                f"{shown}:{at}: not UTF-8 text (byte 0x{block[e.start]:02x}); "
                "save the file as UTF-8"
            )
        line += block.count(b"\n")
        offset += len(block)
    return None
