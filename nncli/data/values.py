"""What a value in a data file means: missing, a number, or text. The one rule every reader,
label and task decision in nncli uses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.errors import DataError

# What `data.missing: drop` takes for a missing value (any case): an empty field and the
# markers pandas writes and reads by default. Anything else that is not a number is an error.
MISSING = frozenset({"", "na", "n/a", "nan", "null"})


class BrokenText(DataError):
    """A value holding a line break or a NUL byte: a quote left open, or binary data. The
    reader that met it reads the file again with Python's csv module to name the line."""


def check_texts(values: list[str | None]) -> None:
    """Raise BrokenText if a text holds a line break or a NUL byte."""
    if any(v is not None and ("\n" in v or "\r" in v or "\0" in v) for v in values):
        raise BrokenText("a value holds a line break or a NUL byte")


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING


def parse_number(text: str) -> float | None:
    """The number a field holds as numpy.loadtxt reads it, or None: Python's float() without
    its digit separators (1_000) and non-ASCII digits (float() reads the Arabic-Indic '٣' as
    3). Non-finite spellings (inf, 1e400) are numbers here; is_number asks for finite ones."""
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def is_number(text: Any) -> bool:
    """A finite number: labels that all are sort and match as numbers ("2" < "10", "1.0" is
    the class "1")."""
    value = parse_number(text if isinstance(text, str) else str(text))
    return value is not None and math.isfinite(value)


def looks_like_number(text: str) -> bool:
    """Python's float() reads it (inf, 1e400, 1_000): meant as a number even where nncli does
    not take it as one, so a target column of numbers holding it is an error, not a class."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_text(label: Any) -> str:
    """A label as text: numpy/int values as their digits, integral floats (3.0) as '3'."""
    if isinstance(label, float | np.floating) and float(label).is_integer():
        return str(int(label))
    return str(label).strip()


def is_text(column: pa.ChunkedArray | pa.Array) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def check_column(column: pa.ChunkedArray | pa.Array, what: str) -> None:
    """check_texts for a text column, in C++: BrokenText naming `what`."""
    if pc.any(pc.match_substring_regex(column, "[\\r\\n\\x00]")).as_py():
        raise BrokenText(f"{what} holds a line break or a NUL byte")


_MARKERS = pa.array(sorted(MISSING), pa.string())


def missing_texts(column: pa.ChunkedArray | pa.Array) -> Any:
    """is_missing for a text column, in C++: true where the stripped text, in any case, is
    a missing marker (null where the value is null)."""
    return pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(column)), value_set=_MARKERS)
