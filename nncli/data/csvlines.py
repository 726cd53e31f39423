"""A CSV file's text as lines: decoding, line ends and quotes, with the DataError that names
the byte or line where the text itself is broken (csvio reads the values)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import suppress
from functools import partial
from itertools import chain, repeat
from operator import contains
from pathlib import Path
from typing import NoReturn

from nncli.errors import DataError

QUOTE = '"'
# A quote opened and not closed on its line: numpy would read on into the next line (one row
# lost, every row after it shifted), so it is an error, not a guess.
OPEN_QUOTE = "a quoted field is not closed on its line (a field cannot span lines)"


def line_blocks(path: Path, shown: str, chunk_bytes: int) -> Iterator[tuple[int, list[str]]]:
    """(file line number of the first line, whole lines) per block of about chunk_bytes,
    decoded as UTF-8 (a leading BOM dropped); a line keeps its LF, a CRLF line loses both.

    Python's text reader splits the lines in C, in half the time of decoding blocks of bytes
    and splitting them here; a NUL byte or invalid UTF-8 is then named precisely by reading
    the file's bytes again.
    """
    if not path.exists():
        raise DataError(f"{shown}: no such file")
    if path.is_dir():
        raise DataError(f"{shown}: is a directory, not a CSV file")
    try:
        with path.open(encoding="utf-8", newline="\n") as handle:
            # Decode 64 KB at a time, not 8: a third less time. A private attribute of
            # CPython's reader: without it, reading is only slower.
            with suppress(AttributeError):
                handle._CHUNK_SIZE = 1 << 16  # type: ignore[attr-defined]
            line_no = 1
            while True:
                try:
                    lines = handle.readlines(chunk_bytes)
                except UnicodeDecodeError:
                    _bytes_error(path, shown, chunk_bytes)
                if not lines:
                    return
                if line_no == 1 and lines[0].startswith("\ufeff"):
                    lines[0] = lines[0][1:]
                if any(map(contains, lines, repeat("\0"))):
                    _bytes_error(path, shown, chunk_bytes)
                if any(map(contains, lines, repeat("\r"))):
                    lines = _without_cr(lines, shown, line_no)
                yield line_no, lines
                line_no += len(lines)
    except OSError as e:
        raise DataError(f"{shown}: cannot read the file ({e.strerror or e})") from None


def _bytes_error(path: Path, shown: str, chunk_bytes: int) -> NoReturn:
    """Raise the DataError that names a file's first NUL byte (by its offset) or invalid
    UTF-8 (by its line), read as bytes: only once the text reader has met one."""
    with path.open("rb") as handle:
        line_no, offset, carry = 1, 0, b""
        reads = iter(partial(handle.read, chunk_bytes), b"")
        for data in chain(reads, [b""]):  # b"": the end; the last line may lack its LF
            block = carry + data
            cut = block.rfind(b"\n") + 1 if data else len(block)
            block, carry = block[:cut], block[cut:]
            nul = block.find(b"\0")
            if nul >= 0:
                raise DataError(
                    f"{shown}: binary data (a NUL byte at offset {offset + nul}), "
                    "not a CSV text file"
                )
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as e:
                line = line_no + block.count(b"\n", 0, e.start)
                raise DataError(
                    f"{shown}:{line}: not UTF-8 text (byte 0x{block[e.start]:02x}); "
                    "save the file as UTF-8"
                ) from None
            line_no += block.count(b"\n")
            offset += len(block)
    raise DataError(f"{shown}: not UTF-8 text, or it changed while being read")


def _without_cr(lines: list[str], shown: str, line_no: int) -> list[str]:
    """Lines without their CRLF line ends; a CR anywhere else (old Mac line ends) is an error,
    not a guess."""
    lines = [ln.rstrip("\n").rstrip("\r") for ln in lines]
    bad = next((i for i, ln in enumerate(lines) if "\r" in ln), None)
    if bad is not None:
        raise DataError(
            f"{shown}:{line_no + bad}: a carriage return (\\r) inside a line; "
            "save the file with LF or CRLF line ends"
        )
    return lines


class OpenQuote(Exception):
    """A line with a quoted field left open (see OPEN_QUOTE)."""


def split_fields(line: str, delimiter: str) -> list[str]:
    """The fields of one line; OpenQuote when a quoted field is not closed on it."""
    if not line.endswith("\n"):
        line += "\n"  # the csv module keeps the LF in a field left open, and only there
    if len(line) > csv.field_size_limit():  # 128 KB by default; a field may fill its line
        csv.field_size_limit(len(line))
    fields = next(csv.reader([line], delimiter=delimiter, quotechar=QUOTE))
    if fields and fields[-1].endswith("\n"):
        raise OpenQuote
    return fields
